import type { V1Secret } from '@kubernetes/client-node';
import type { RegistryCredentials } from './job-manifest.ts';

interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
}

/**
 * Registry → credentials from image pull Secrets (kubernetes.io/dockerconfigjson or the older
 * dockercfg). Unreadable Secrets are skipped: a bad pull secret must not stop the scan of an image
 * that may not need it.
 */
export function credentialsFromSecrets(secrets: readonly V1Secret[]): Map<string, RegistryCredentials> {
  const result = new Map<string, RegistryCredentials>();
  for (const secret of secrets) {
    const entries = dockerAuthEntries(secret);
    for (const [server, entry] of Object.entries(entries)) {
      const creds = toCredentials(entry);
      const host = normaliseServer(server);
      if (creds && host && !result.has(host)) result.set(host, creds);
    }
  }
  return result;
}

/** The credentials for a registry host, honouring `*.example.com` style wildcard entries. */
export function credentialsFor(
  all: ReadonlyMap<string, RegistryCredentials>,
  registryHost: string,
): RegistryCredentials | undefined {
  const exact = all.get(registryHost) ?? all.get(registryHost.replace(/:\d+$/, ''));
  if (exact) return exact;
  // Docker Hub is written many ways in config files.
  if (registryHost === 'index.docker.io') {
    const hub = all.get('docker.io') ?? all.get('registry-1.docker.io');
    if (hub) return hub;
  }
  for (const [pattern, creds] of all) {
    if (!pattern.includes('*')) continue;
    const regex = new RegExp(`^${pattern.split('*').map(escapeRegExp).join('[^.]+')}$`);
    if (regex.test(registryHost) || regex.test(registryHost.replace(/:\d+$/, ''))) return creds;
  }
  return undefined;
}

function dockerAuthEntries(secret: V1Secret): Record<string, DockerAuthEntry> {
  const data = secret.data ?? {};
  try {
    if (data['.dockerconfigjson']) {
      const parsed = JSON.parse(Buffer.from(data['.dockerconfigjson'], 'base64').toString('utf8')) as {
        auths?: Record<string, DockerAuthEntry>;
      };
      return parsed.auths ?? {};
    }
    if (data['.dockercfg']) {
      return JSON.parse(Buffer.from(data['.dockercfg'], 'base64').toString('utf8')) as Record<
        string,
        DockerAuthEntry
      >;
    }
  } catch {
    return {};
  }
  return {};
}

function toCredentials(entry: DockerAuthEntry): RegistryCredentials | undefined {
  if (entry.username && entry.password) return { username: entry.username, password: entry.password };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return undefined;
}

/** "https://index.docker.io/v1/" → "index.docker.io"; "ghcr.io" stays. */
function normaliseServer(server: string): string {
  return server.replace(/^https?:\/\//, '').replace(/\/.*$/, '');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
