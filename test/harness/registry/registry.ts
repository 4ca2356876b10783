import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { writeSelfSignedCertificate } from '../cert.ts';
import { freePort } from '../ports.ts';
import { ProcessGroup } from '../processes.ts';
import { toolPath } from '../tools.ts';
import type { RegistryEndpoint } from './client.ts';

/**
 * - `http`: plain HTTP, anonymous.
 * - `tls`: HTTPS with a self-signed certificate for the registry's IP, anonymous.
 * - `auth`: plain HTTP with Basic authentication (htpasswd). distribution only *recommends* TLS
 *   for htpasswd (registry/auth/htpasswd says "MUST be used under TLS" in a comment; nothing
 *   checks it), and containerd sends the credentials over HTTP when its hosts.toml says http.
 */
export type RegistryFlavour = 'http' | 'tls' | 'auth';
export const REGISTRY_FLAVOURS: readonly RegistryFlavour[] = ['http', 'tls', 'auth'];

export interface RegistryOptions {
  flavour: RegistryFlavour;
  /** The address to listen on: the node's bridge IP, so pods reach it and it is not loopback. */
  host: string;
  /** Storage, config, certificate, logs; a temporary folder (removed on stop) when omitted. */
  dir?: string;
  log?: (line: string) => void;
}

export interface Registry extends RegistryEndpoint {
  readonly flavour: RegistryFlavour;
  readonly scheme: 'http' | 'https';
  readonly dir: string;
  /** The self-signed certificate as a file (TLS flavour): what containerd's hosts.toml names. */
  readonly caFile?: string;
  /** The registry's process id, for measurements. */
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

const REALM = 'trivy-lookout-registry';

/**
 * Starts Debian's docker-registry (distribution 2.8) on a free port of `host`, with deletion
 * enabled (images deleted from a registry are a test scenario). Returns once /v2/ answers.
 */
export async function startRegistry(options: RegistryOptions): Promise<Registry> {
  const log = options.log ?? (() => {});
  const ownsDir = options.dir === undefined;
  const dir = path.resolve(options.dir ?? mkdtempSync(path.join(os.tmpdir(), `trivy-lookout-registry-`)));
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(path.join(dir, 'data'), { recursive: true });
  const scheme = options.flavour === 'tls' ? 'https' : 'http';

  let caPem: string | undefined;
  let caFile: string | undefined;
  const certFile = path.join(dir, 'cert.pem');
  const keyFile = path.join(dir, 'key.pem');
  if (options.flavour === 'tls') {
    // For the registry's IP: Go clients (containerd, Trivy) only match IP SANs, never the CN.
    writeSelfSignedCertificate({
      certFile,
      keyFile,
      commonName: options.host,
      subjectAltName: `IP:${options.host}`,
      days: 30,
    });
    caFile = certFile;
    caPem = readFileSync(certFile, 'utf8');
  }
  let credentials: { username: string; password: string } | undefined;
  const htpasswd = path.join(dir, 'htpasswd');
  if (options.flavour === 'auth') {
    credentials = { username: 'trivy-lookout', password: randomBytes(16).toString('hex') };
    writeFileSync(htpasswd, `${credentials.username}:${bcrypt(credentials.password)}\n`, { mode: 0o600 });
  }

  // The port is chosen on loopback and then bound on `host`; a collision in between is retried.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const hostPort = `${options.host}:${port}`;
    const configFile = path.join(dir, 'config.yml');
    writeFileSync(
      configFile,
      registryConfig({
        addr: hostPort,
        dataDir: path.join(dir, 'data'),
        ...(options.flavour === 'tls' ? { tls: { certFile, keyFile } } : {}),
        ...(options.flavour === 'auth' ? { htpasswd } : {}),
      }),
    );
    const group = new ProcessGroup(dir);
    const onExit = () => group.killNow();
    process.once('exit', onExit);
    const proc = group.start(`docker-registry`, toolPath('docker-registry'), ['serve', configFile]);
    const url = `${scheme}://${hostPort}`;
    const ready = await waitForV2(url, caPem, () => proc.hasExited());
    if (!ready) {
      await group.stop(2_000);
      process.removeListener('exit', onExit);
      const tail = ProcessGroup.tail(proc);
      if (attempt < 3 && /address already in use/.test(tail)) continue;
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
      throw new Error(`docker-registry (${options.flavour}) did not start on ${hostPort}:\n${tail}`);
    }
    log(`registry (${options.flavour}) at ${url}`);
    return {
      flavour: options.flavour,
      scheme,
      host: hostPort,
      url,
      dir,
      pid: proc.child.pid,
      ...(credentials ? { credentials } : {}),
      ...(caPem ? { caPem, caFile } : {}),
      async stop() {
        await group.stop(5_000);
        process.removeListener('exit', onExit);
        if (ownsDir) rmSync(dir, { recursive: true, force: true });
      },
    };
  }
}

/** /v2/ answers 200, or 401 when authentication is on: either way the registry serves. */
async function waitForV2(url: string, caPem: string | undefined, exited: () => boolean): Promise<boolean> {
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    if (exited()) return false;
    const status = await new Promise<number>((resolve) => {
      const req = (url.startsWith('https:') ? https : http).get(
        `${url}/v2/`,
        { timeout: 2_000, ...(caPem ? { ca: caPem } : {}) },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('timeout', () => req.destroy());
      req.on('error', () => resolve(0));
    });
    if (status === 200 || status === 401) return true;
    await sleep(50);
  }
  return false;
}

function registryConfig(c: {
  addr: string;
  dataDir: string;
  tls?: { certFile: string; keyFile: string };
  htpasswd?: string;
}): string {
  const q = (s: string) => JSON.stringify(s);
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  formatter: text',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${q(c.dataDir)}`,
    '  delete:',
    '    enabled: true',
    // No in-memory blob descriptor cache: it would keep answering for deleted content.
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: ${q(c.addr)}`,
    // A fixed secret: without one the registry makes up a random one and warns about it.
    `  secret: ${q(randomBytes(16).toString('hex'))}`,
    ...(c.tls ? ['  tls:', `    certificate: ${q(c.tls.certFile)}`, `    key: ${q(c.tls.keyFile)}`] : []),
    ...(c.htpasswd ? ['auth:', '  htpasswd:', `    realm: ${REALM}`, `    path: ${q(c.htpasswd)}`] : []),
    'health:',
    '  storagedriver:',
    '    enabled: false',
    '',
  ].join('\n');
}

/**
 * A bcrypt hash, the only htpasswd format distribution accepts, from the C library's crypt(3)
 * (libxcrypt) through Perl: Node has no bcrypt, and Debian has no htpasswd without Apache.
 * Cost 5: the registry checks it on every request.
 */
function bcrypt(password: string): string {
  const alphabet = './ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789';
  // 22 characters of salt; the last one carries only 2 bits, '.' keeps it canonical.
  const salt = [...randomBytes(21)].map((b) => alphabet[b % 64]).join('') + '.';
  const hash = execFileSync('perl', ['-e', 'print crypt($ARGV[0], $ARGV[1])', password, `$2b$05$${salt}`], {
    encoding: 'utf8',
  });
  if (!hash.startsWith('$2b$05$')) throw new Error(`crypt(3) here has no bcrypt (got "${hash}")`);
  return hash;
}
