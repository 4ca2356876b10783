import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeSelfSignedCertificate } from '../cert.ts';

/**
 * A throw-away self-signed serving certificate for 127.0.0.1. The API server does not verify the
 * kubelet's certificate (no --kubelet-certificate-authority), so any certificate will do.
 */
export function selfSignedCert(dir: string): { cert: string; key: string } {
  const certFile = path.join(dir, 'kubelet.crt');
  const keyFile = path.join(dir, 'kubelet.key');
  try {
    writeSelfSignedCertificate({
      certFile,
      keyFile,
      commonName: 'harness-kubelet',
      subjectAltName: 'IP:127.0.0.1,DNS:localhost',
      days: 2,
    });
  } catch (err) {
    throw new Error(
      `harness kubelet: could not create a serving certificate with openssl (pass options.servingCert instead): ${String(err)}`,
    );
  }
  return { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') };
}
