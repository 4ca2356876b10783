/**
 * The workload kinds the operator deals with, their API versions, and the identity of one workload
 * (`WorkloadRef`). Objects are plain JSON as the API server sends them.
 */
import type {
  V1CronJob,
  V1DaemonSet,
  V1Deployment,
  V1Job,
  V1ObjectMeta,
  V1Pod,
  V1ReplicaSet,
  V1ReplicationController,
  V1StatefulSet,
} from '@kubernetes/client-node';

/** Kinds whose containers are scanned and which own reports. */
export const SCANNABLE_KINDS = [
  'Pod',
  'ReplicaSet',
  'ReplicationController',
  'StatefulSet',
  'DaemonSet',
  'CronJob',
  'Job',
] as const;
export type ScannableKind = (typeof SCANNABLE_KINDS)[number];

/** Every workload kind we read: the scannable ones plus Deployment (covered through its ReplicaSet). */
export type WorkloadObjectKind = ScannableKind | 'Deployment';

/** `apiVersion` of each workload kind (the versions served by every supported Kubernetes release). */
export const WORKLOAD_API_VERSION = {
  Pod: 'v1',
  ReplicaSet: 'apps/v1',
  ReplicationController: 'v1',
  StatefulSet: 'apps/v1',
  DaemonSet: 'apps/v1',
  CronJob: 'batch/v1',
  Job: 'batch/v1',
  Deployment: 'apps/v1',
} as const satisfies Record<WorkloadObjectKind, string>;

/**
 * A workload object with its `kind` set. Objects in a list response carry no `kind`; give them one
 * with {@link asWorkload}.
 */
export type WorkloadObject =
  | (V1Pod & { kind: 'Pod' })
  | (V1ReplicaSet & { kind: 'ReplicaSet' })
  | (V1ReplicationController & { kind: 'ReplicationController' })
  | (V1StatefulSet & { kind: 'StatefulSet' })
  | (V1DaemonSet & { kind: 'DaemonSet' })
  | (V1CronJob & { kind: 'CronJob' })
  | (V1Job & { kind: 'Job' })
  | (V1Deployment & { kind: 'Deployment' });

type ObjectOfKind<K extends WorkloadObjectKind> = Extract<WorkloadObject, { kind: K }>;
type UntypedObjectOfKind<K extends WorkloadObjectKind> = Omit<ObjectOfKind<K>, 'kind'> & { kind?: string };

/** The identity of a workload: enough to name its reports and to own them. */
export interface WorkloadRef {
  readonly kind: ScannableKind;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  readonly apiVersion: string;
}

export function isScannableKind(kind: string | undefined): kind is ScannableKind {
  return (SCANNABLE_KINDS as readonly string[]).includes(kind ?? '');
}

export function isWorkloadObjectKind(kind: string | undefined): kind is WorkloadObjectKind {
  return kind === 'Deployment' || isScannableKind(kind);
}

/**
 * The object typed as a workload of `kind`, with `kind` and `apiVersion` filled in when missing (a
 * shallow copy then; the object itself is never changed).
 */
export function asWorkload<K extends WorkloadObjectKind>(
  kind: K,
  object: UntypedObjectOfKind<K>,
): ObjectOfKind<K> {
  if (object.kind === kind && object.apiVersion) return object as ObjectOfKind<K>;
  return { ...object, kind, apiVersion: object.apiVersion ?? WORKLOAD_API_VERSION[kind] } as ObjectOfKind<K>;
}

function metadataOf(object: { metadata?: V1ObjectMeta }): V1ObjectMeta {
  return object.metadata ?? {};
}

/** The identity of a scannable workload object (Deployments have none: their ReplicaSet is scanned). */
export function workloadRef(object: WorkloadObject): WorkloadRef {
  if (object.kind === 'Deployment') {
    throw new TypeError('a Deployment is not scanned itself; use the ref of its active ReplicaSet');
  }
  const metadata = metadataOf(object);
  return {
    kind: object.kind,
    namespace: metadata.namespace ?? '',
    name: metadata.name ?? '',
    uid: metadata.uid ?? '',
    apiVersion: object.apiVersion ?? WORKLOAD_API_VERSION[object.kind],
  };
}

/** `Kind/namespace/name`, for logs and map keys. */
export function workloadKey(ref: Pick<WorkloadRef, 'kind' | 'namespace' | 'name'>): string {
  return `${ref.kind}/${ref.namespace}/${ref.name}`;
}
