import { execFileSync } from 'node:child_process';

/**
 * Writes a throw-away self-signed ECDSA certificate and its key with openssl (Node cannot make
 * one itself). Go clients match IP SANs only, never the CN, so callers name their addresses there.
 */
export function writeSelfSignedCertificate(options: {
  certFile: string;
  keyFile: string;
  commonName: string;
  /** e.g. `IP:198.51.100.1` or `IP:127.0.0.1,DNS:localhost` */
  subjectAltName: string;
  days: number;
}): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      String(options.days),
      '-subj',
      `/CN=${options.commonName}`,
      '-addext',
      `subjectAltName=${options.subjectAltName}`,
      '-keyout',
      options.keyFile,
      '-out',
      options.certFile,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
}
