import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type {
  KubeConfig,
  V1ConfigMap,
  V1Container,
  V1KeyToPath,
  V1Pod,
  V1Secret,
  V1Volume,
} from '@kubernetes/client-node';
import { KubeHttpError, kubeRequestJson } from '../../../src/kube/index.ts';
import type { RunSpec } from './types.ts';

/**
 * A container cannot start yet because something it needs is missing (a Secret, a ConfigMap key):
 * the real kubelet keeps it waiting with this reason and retries, so does the harness.
 */
export class ContainerConfigError extends Error {
  constructor(
    readonly reason: 'CreateContainerConfigError' | 'ContainerCreating',
    message: string,
  ) {
    super(message);
    this.name = 'ContainerConfigError';
  }
}

/** Reads ConfigMaps and Secrets once per pod start; `undefined` when absent. */
export class ObjectReader {
  private readonly cache = new Map<string, Promise<unknown>>();

  constructor(
    private readonly kc: KubeConfig,
    private readonly namespace: string,
  ) {}

  configMap(name: string | undefined): Promise<V1ConfigMap | undefined> {
    if (!name) return Promise.resolve(undefined);
    return this.get<V1ConfigMap>(`/api/v1/namespaces/${this.namespace}/configmaps/${name}`);
  }

  secret(name: string | undefined): Promise<V1Secret | undefined> {
    if (!name) return Promise.resolve(undefined);
    return this.get<V1Secret>(`/api/v1/namespaces/${this.namespace}/secrets/${name}`);
  }

  private get<T>(apiPath: string): Promise<T | undefined> {
    let pending = this.cache.get(apiPath) as Promise<T | undefined> | undefined;
    if (!pending) {
      pending = kubeRequestJson<T>(this.kc, { path: apiPath }).catch((err: unknown) => {
        if (err instanceof KubeHttpError && err.code === 404) return undefined;
        throw err;
      });
      this.cache.set(apiPath, pending);
    }
    return pending;
  }
}

/** Kubernetes' `$(VAR)` expansion: defined names are replaced, `$$` is a literal `$`, the rest stays. */
export function expandVars(text: string, vars: Record<string, string>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch !== '$' || i + 1 >= text.length) {
      out += ch;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i++;
    } else if (next === '(') {
      const close = text.indexOf(')', i + 2);
      if (close < 0) {
        out += text.slice(i);
        break;
      }
      const name = text.slice(i + 2, close);
      const value = Object.hasOwn(vars, name) ? vars[name] : undefined;
      out += value ?? `$(${name})`;
      i = close;
    } else {
      out += ch;
    }
  }
  return out;
}

function secretValue(secret: V1Secret, key: string): string | undefined {
  if (secret.data?.[key] !== undefined) return Buffer.from(secret.data[key], 'base64').toString('utf8');
  return secret.stringData?.[key];
}

function fieldValue(pod: V1Pod, fieldPath: string, hostIP: string): string {
  const labelOrAnnotation = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (labelOrAnnotation) {
    const map = labelOrAnnotation[1] === 'labels' ? pod.metadata?.labels : pod.metadata?.annotations;
    return map?.[labelOrAnnotation[2] ?? ''] ?? '';
  }
  switch (fieldPath) {
    case 'metadata.name':
      return pod.metadata?.name ?? '';
    case 'metadata.namespace':
      return pod.metadata?.namespace ?? '';
    case 'metadata.uid':
      return pod.metadata?.uid ?? '';
    case 'spec.nodeName':
      return pod.spec?.nodeName ?? '';
    case 'spec.serviceAccountName':
      return pod.spec?.serviceAccountName ?? 'default';
    case 'status.hostIP':
    case 'status.hostIPs':
    case 'status.podIP':
    case 'status.podIPs':
      return hostIP;
    default:
      return '';
  }
}

/** A quantity in base units (cores, bytes), enough for resourceFieldRef. */
export function parseQuantity(quantity: string): number {
  const match = /^([0-9.]+)([a-zA-Z]*)$/.exec(quantity.trim());
  if (!match) return 0;
  const value = Number(match[1]);
  const factors: Record<string, number> = {
    '': 1,
    m: 1e-3,
    k: 1e3,
    M: 1e6,
    G: 1e9,
    T: 1e12,
    Ki: 1024,
    Mi: 1024 ** 2,
    Gi: 1024 ** 3,
    Ti: 1024 ** 4,
  };
  return value * (factors[match[2] ?? ''] ?? 1);
}

function resourceValue(
  container: V1Container,
  resource: string,
  divisor: string | undefined,
  allocatable: Record<string, string>,
): string {
  const [kind, name] = resource.split('.') as [string, string];
  const set = kind === 'limits' ? container.resources?.limits : container.resources?.requests;
  // Without a limit the real kubelet reports the node's allocatable amount.
  const raw = set?.[name] ?? (kind === 'limits' ? allocatable[name] : '0') ?? '0';
  const value = parseQuantity(String(raw)) / parseQuantity(divisor ?? '1');
  return String(Math.ceil(value));
}

/**
 * The container's environment as Kubernetes builds it: envFrom first, then env in order, each
 * value expanding `$(VAR)` from what came before. Missing objects or keys that are not optional
 * throw ContainerConfigError, as the real kubelet reports CreateContainerConfigError.
 */
export async function containerEnv(
  reader: ObjectReader,
  pod: V1Pod,
  container: V1Container,
  hostIP: string,
  allocatable: Record<string, string>,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {};
  for (const source of container.envFrom ?? []) {
    const prefix = source.prefix ?? '';
    if (source.configMapRef) {
      const cm = await reader.configMap(source.configMapRef.name);
      if (!cm) {
        if (source.configMapRef.optional) continue;
        throw new ContainerConfigError(
          'CreateContainerConfigError',
          `configmap "${source.configMapRef.name}" not found`,
        );
      }
      for (const [key, value] of Object.entries(cm.data ?? {})) env[prefix + key] = value;
    }
    if (source.secretRef) {
      const secret = await reader.secret(source.secretRef.name);
      if (!secret) {
        if (source.secretRef.optional) continue;
        throw new ContainerConfigError(
          'CreateContainerConfigError',
          `secret "${source.secretRef.name}" not found`,
        );
      }
      for (const key of Object.keys(secret.data ?? {})) env[prefix + key] = secretValue(secret, key) ?? '';
    }
  }
  for (const variable of container.env ?? []) {
    const from = variable.valueFrom;
    if (!from) {
      env[variable.name] = expandVars(variable.value ?? '', env);
      continue;
    }
    if (from.configMapKeyRef) {
      const ref = from.configMapKeyRef;
      const value = (await reader.configMap(ref.name))?.data?.[ref.key];
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          'CreateContainerConfigError',
          `couldn't find key ${ref.key} in ConfigMap ${pod.metadata?.namespace}/${ref.name}`,
        );
      }
      env[variable.name] = value;
    } else if (from.secretKeyRef) {
      const ref = from.secretKeyRef;
      const secret = await reader.secret(ref.name);
      const value = secret ? secretValue(secret, ref.key) : undefined;
      if (value === undefined) {
        if (ref.optional) continue;
        throw new ContainerConfigError(
          'CreateContainerConfigError',
          secret
            ? `couldn't find key ${ref.key} in Secret ${pod.metadata?.namespace}/${ref.name}`
            : `secret "${ref.name}" not found`,
        );
      }
      env[variable.name] = value;
    } else if (from.fieldRef) {
      env[variable.name] = fieldValue(pod, from.fieldRef.fieldPath, hostIP);
    } else if (from.resourceFieldRef) {
      const ref = from.resourceFieldRef;
      const target = ref.containerName
        ? (pod.spec?.containers.find((c) => c.name === ref.containerName) ?? container)
        : container;
      env[variable.name] = resourceValue(target, ref.resource, ref.divisor, allocatable);
    }
  }
  return env;
}

function writeItems(
  dir: string,
  data: Record<string, string | Buffer>,
  items: V1KeyToPath[] | undefined,
  what: string,
  optional: boolean | undefined,
): void {
  mkdirSync(dir, { recursive: true });
  const entries = items?.length
    ? items.map((item) => [item.key, item.path] as const)
    : Object.keys(data).map((k) => [k, k] as const);
  for (const [key, file] of entries) {
    const value = data[key];
    if (value === undefined) {
      if (optional) continue;
      throw new ContainerConfigError(
        'ContainerCreating',
        `MountVolume.SetUp failed: ${what} has no key "${key}"`,
      );
    }
    const target = path.join(dir, file);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, value);
  }
}

function secretData(secret: V1Secret): Record<string, Buffer> {
  const data: Record<string, Buffer> = {};
  for (const [key, value] of Object.entries(secret.data ?? {})) data[key] = Buffer.from(value, 'base64');
  return data;
}

async function materialiseVolume(
  reader: ObjectReader,
  pod: V1Pod,
  volume: V1Volume,
  dir: string,
): Promise<string> {
  if (volume.hostPath) return volume.hostPath.path;
  mkdirSync(dir, { recursive: true });
  if (volume.configMap) {
    const name = volume.configMap.name ?? '';
    const cm = await reader.configMap(name);
    if (!cm) {
      if (volume.configMap.optional) return dir;
      throw new ContainerConfigError(
        'ContainerCreating',
        `MountVolume.SetUp failed for volume "${volume.name}": configmap "${name}" not found`,
      );
    }
    const data: Record<string, string | Buffer> = { ...(cm.data ?? {}) };
    for (const [key, value] of Object.entries(cm.binaryData ?? {})) data[key] = Buffer.from(value, 'base64');
    writeItems(dir, data, volume.configMap.items, `configmap "${name}"`, volume.configMap.optional);
  } else if (volume.secret) {
    const name = volume.secret.secretName ?? '';
    const secret = await reader.secret(name);
    if (!secret) {
      if (volume.secret.optional) return dir;
      throw new ContainerConfigError(
        'ContainerCreating',
        `MountVolume.SetUp failed for volume "${volume.name}": secret "${name}" not found`,
      );
    }
    writeItems(dir, secretData(secret), volume.secret.items, `secret "${name}"`, volume.secret.optional);
  } else if (volume.projected) {
    for (const source of volume.projected.sources ?? []) {
      if (source.configMap) {
        const cm = await reader.configMap(source.configMap.name);
        if (cm)
          writeItems(
            dir,
            { ...(cm.data ?? {}) },
            source.configMap.items,
            'configmap',
            source.configMap.optional,
          );
        else if (!source.configMap.optional)
          throw new ContainerConfigError(
            'ContainerCreating',
            `configmap "${source.configMap.name}" not found`,
          );
      } else if (source.secret) {
        const secret = await reader.secret(source.secret.name);
        if (secret)
          writeItems(dir, secretData(secret), source.secret.items, 'secret', source.secret.optional);
        else if (!source.secret.optional)
          throw new ContainerConfigError('ContainerCreating', `secret "${source.secret.name}" not found`);
      } else if (source.serviceAccountToken) {
        // Scan containers never call the API; a placeholder keeps programs that read the file happy.
        writeFileSync(path.join(dir, source.serviceAccountToken.path), 'harness-kubelet-placeholder-token');
      } else if (source.downwardAPI) {
        for (const item of source.downwardAPI.items ?? []) {
          if (item.fieldRef)
            writeFileSync(path.join(dir, item.path), fieldValue(pod, item.fieldRef.fieldPath, '127.0.0.1'));
        }
      }
    }
  } else if (volume.downwardAPI) {
    for (const item of volume.downwardAPI.items ?? []) {
      if (item.fieldRef)
        writeFileSync(path.join(dir, item.path), fieldValue(pod, item.fieldRef.fieldPath, '127.0.0.1'));
    }
  }
  // emptyDir, and every other kind (PVCs, CSI …): an empty per-pod directory.
  return dir;
}

/** Host directories standing in for the pod's volumes, by volume name. */
export async function podVolumes(
  reader: ObjectReader,
  pod: V1Pod,
  podDir: string,
  hostRoot?: string,
): Promise<Map<string, string>> {
  const volumes = new Map<string, string>();
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.hostPath && hostRoot !== undefined) {
      // The fake node's file, never this machine's.
      volumes.set(volume.name, path.join(hostRoot, volume.hostPath.path));
      continue;
    }
    volumes.set(
      volume.name,
      await materialiseVolume(reader, pod, volume, path.join(podDir, 'volumes', volume.name)),
    );
  }
  return volumes;
}

/** Container path → host path, for every mount of the container. */
export type PathMap = Map<string, string>;

export function containerPathMap(
  container: V1Container,
  volumes: Map<string, string>,
  terminationLogFile: string,
): PathMap {
  const map: PathMap = new Map();
  for (const mount of container.volumeMounts ?? []) {
    const hostDir = volumes.get(mount.name);
    if (!hostDir) continue;
    const host = mount.subPath ? path.join(hostDir, mount.subPath) : hostDir;
    if (mount.subPath) mkdirSync(host, { recursive: true });
    const mountPath = mount.mountPath.length > 1 ? mount.mountPath.replace(/\/+$/, '') : mount.mountPath;
    if (mountPath !== '/') map.set(mountPath, host);
  }
  map.set(container.terminationMessagePath ?? '/dev/termination-log', terminationLogFile);
  return map;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * Rewrites container paths to host paths wherever they appear as a path (at a boundary, so `/tmp`
 * does not match `/tmpfoo` or `/var/tmp`), in one pass with the longest mount first, so `/tmp/scan`
 * wins over `/tmp` and host paths that themselves start with `/tmp` are not rewritten again.
 */
export function rewritePaths(text: string, map: PathMap): string {
  if (map.size === 0) return text;
  const keys = [...map.keys()].sort((a, b) => b.length - a.length).map(escapeRegExp);
  const pattern = new RegExp(`(^|[^A-Za-z0-9._~/-])(${keys.join('|')})(?=$|/|[^A-Za-z0-9._~-])`, 'g');
  return text.replace(
    pattern,
    (_match, before: string, containerPath: string) => `${before}${map.get(containerPath)}`,
  );
}

/**
 * The argv to execute: `command` + `args` as Kubernetes combines them (`args` alone follow the
 * image's entrypoint, which only the RunSpec knows), `$(VAR)` expanded, container paths rewritten.
 */
export function containerArgv(
  container: V1Container,
  env: Record<string, string>,
  runSpec: RunSpec,
  paths: PathMap,
): string[] {
  const command = container.command?.length ? container.command : runSpec.entrypoint?.(container);
  if (!command?.length) {
    throw new ContainerConfigError(
      'CreateContainerConfigError',
      `harness kubelet: container "${container.name}" has no command and the entrypoint of image "${container.image}" is unknown (give RunSpec.entrypoint)`,
    );
  }
  return [...command, ...(container.args ?? [])].map((arg) => rewritePaths(expandVars(arg, env), paths));
}
