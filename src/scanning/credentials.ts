import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import type { Config } from '../config/index.ts';
import type { ScannableImage } from './images.ts';
import type { RegistryCredentials } from './job-manifest.ts';
import type { Workload } from './workload-resolver.ts';

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

/** Reads the pull Secrets an image of a workload may need. */
export class PullSecrets {
  private readonly core: CoreV1Api;

  constructor(
    kc: KubeConfig,
    private readonly config: Config,
  ) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /**
   * Registry credentials for scanning an image of a workload: the pod's imagePullSecrets and, when
   * allowed, its ServiceAccount's, plus the configured per-namespace scan secrets.
   */
  async forImage(
    workload: Workload,
    registry: string,
    image: ScannableImage,
  ): Promise<RegistryCredentials | undefined> {
    const ns = workload.namespace;
    const names = new Set<string>(image.pullSecrets);
    if (this.config.operator.accessGlobalSecretsAndServiceAccount) {
      const sa = await this.core
        .readNamespacedServiceAccount({ name: image.serviceAccount, namespace: ns })
        .catch(() => undefined);
      for (const ref of sa?.imagePullSecrets ?? []) if (ref.name) names.add(ref.name);
    }
    for (const name of this.config.operator.privateRegistryScanSecretsNames[ns] ?? []) names.add(name);
    if (names.size === 0) return undefined;
    const secrets: V1Secret[] = [];
    for (const name of names) {
      const secret = await this.core.readNamespacedSecret({ name, namespace: ns }).catch(() => undefined);
      if (secret) secrets.push(secret);
    }
    return credentialsFor(credentialsFromSecrets(secrets), registry);
  }
}
