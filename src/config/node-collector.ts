/**
 * Parsers of the node collector's volume settings, in the shape of Trivy-Operator's
 * `nodeCollector.volumes` / `nodeCollector.volumeMounts` (a YAML list, or its JSON in the env).
 * Only hostPath volumes are accepted: the collector reads the host, and nothing else belongs there.
 */
import { DNS_LABEL } from './formats.ts';
import { fail, isBlank, ok, parser, quote, type Parser } from './parsers.ts';

export interface HostPathVolume {
  readonly name: string;
  readonly hostPath: { readonly path: string; readonly type?: string };
}

export interface HostVolumeMount {
  readonly name: string;
  readonly mountPath: string;
  /** Always mounted read-only whatever this says: the collector never writes to the host. */
  readonly readOnly?: boolean;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function listOfObjects(raw: unknown): unknown[] | undefined {
  if (isBlank(raw)) return [];
  let value = raw;
  if (typeof value === 'string') {
    try {
      value = JSON.parse(value);
    } catch {
      return undefined;
    }
  }
  return Array.isArray(value) ? value : undefined;
}

const ABSOLUTE_PATH = /^\/[^\0]*$/;

// Values take a YAML list of objects (the env form is its JSON); the parser checks the fields.
const OBJECTS_SCHEMA = {
  anyOf: [{ type: 'array', items: { type: 'object' } }, { type: 'string' }, { type: 'null' }],
};

export const hostPathVolumes: Parser<readonly HostPathVolume[]> = parser(OBJECTS_SCHEMA, (raw) => {
  const expected =
    'a list of hostPath volumes like [{"name":"etc-kubernetes","hostPath":{"path":"/etc/kubernetes"}}]';
  const items = listOfObjects(raw);
  if (items === undefined) return fail(`is not ${expected}`);
  const volumes: HostPathVolume[] = [];
  for (const item of items) {
    if (!isObject(item) || typeof item.name !== 'string' || !DNS_LABEL.test(item.name))
      return fail(`has an entry without a valid name; expected ${expected}`);
    const hostPath = item.hostPath;
    if (!isObject(hostPath) || typeof hostPath.path !== 'string' || !ABSOLUTE_PATH.test(hostPath.path))
      return fail(`has ${quote(item.name)} without an absolute hostPath.path; expected ${expected}`);
    if (volumes.some((v) => v.name === item.name)) return fail(`names volume ${quote(item.name)} twice`);
    volumes.push({
      name: item.name,
      hostPath: {
        path: hostPath.path,
        ...(typeof hostPath.type === 'string' ? { type: hostPath.type } : {}),
      },
    });
  }
  return ok(volumes);
});

export const hostVolumeMounts: Parser<readonly HostVolumeMount[]> = parser(OBJECTS_SCHEMA, (raw) => {
  const expected =
    'a list of volume mounts like [{"name":"etc-kubernetes","mountPath":"/etc/kubernetes","readOnly":true}]';
  const items = listOfObjects(raw);
  if (items === undefined) return fail(`is not ${expected}`);
  const mounts: HostVolumeMount[] = [];
  for (const item of items) {
    if (!isObject(item) || typeof item.name !== 'string' || item.name === '')
      return fail(`has an entry without a name; expected ${expected}`);
    if (typeof item.mountPath !== 'string' || !ABSOLUTE_PATH.test(item.mountPath))
      return fail(`has ${quote(item.name)} without an absolute mountPath; expected ${expected}`);
    mounts.push({ name: item.name, mountPath: item.mountPath, readOnly: true });
  }
  return ok(mounts);
});

/** The mounts that name no volume: a start-up error, since the Job would be rejected. */
export function unmatchedMounts(
  volumeNames: readonly string[],
  mounts: readonly { readonly name: string }[],
): string[] {
  const names = new Set(volumeNames);
  return mounts.filter((m) => !names.has(m.name)).map((m) => m.name);
}

/** Trivy-Operator's default host paths: what the CIS node checks read. */
export const DEFAULT_NODE_COLLECTOR_PATHS = [
  ['var-lib-etcd', '/var/lib/etcd'],
  ['var-lib-kubelet', '/var/lib/kubelet'],
  ['var-lib-kube-scheduler', '/var/lib/kube-scheduler'],
  ['var-lib-kube-controller-manager', '/var/lib/kube-controller-manager'],
  ['etc-systemd', '/etc/systemd'],
  ['lib-systemd', '/lib/systemd'],
  ['etc-kubernetes', '/etc/kubernetes'],
  ['etc-cni-netd', '/etc/cni/net.d'],
] as const;
