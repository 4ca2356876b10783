/**
 * Who owns a report, and which objects are not scanned themselves, following Trivy-Operator: a Pod
 * run by a built-in controller is reported under that controller, a Job run by a CronJob under the
 * CronJob, and a Deployment through its active ReplicaSet.
 */
import type { V1Deployment, V1ObjectMeta, V1OwnerReference, V1ReplicaSet } from '@kubernetes/client-node';
import type { WorkloadKind } from '../config/index.ts';
import { MANAGED_BY_TRIVY_OPERATOR, ReportLabel } from '../crds/index.ts';
import { isScannableKind, workloadRef, type WorkloadObject, type WorkloadRef } from './kinds.ts';

/** `app.kubernetes.io/managed-by` of the objects this operator creates itself (scan Jobs, Secrets). */
export const LOOKOUT_MANAGED_BY = 'trivy-lookout';

/** Objects labelled managed-by one of these are ours (or Trivy-Operator's) and never scanned. */
export const SCANNER_MANAGED_BY_VALUES: readonly string[] = [MANAGED_BY_TRIVY_OPERATOR, LOOKOUT_MANAGED_BY];

/** Annotation holding a ReplicaSet's revision (and its Deployment's current one). */
export const DEPLOYMENT_REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';

/** OpenShift marks the deployer Pods of DeploymentConfigs with this annotation; they are not workloads. */
const DEPLOYER_POD_ANNOTATION = 'openshift.io/deployment-config.name';

/** Controllers whose Pods are reported under the controller rather than the Pod. */
const POD_CONTROLLER_KINDS: readonly string[] = [
  'ReplicaSet',
  'ReplicationController',
  'StatefulSet',
  'DaemonSet',
  'Job',
];

/** The ownerReference with `controller: true`, if any. */
export function controllerOf(object: { metadata?: V1ObjectMeta }): V1OwnerReference | undefined {
  return object.metadata?.ownerReferences?.find((owner) => owner.controller === true);
}

function refFromOwner(owner: V1OwnerReference, namespace: string): WorkloadRef | undefined {
  if (!isScannableKind(owner.kind)) return undefined;
  return { kind: owner.kind, namespace, name: owner.name, uid: owner.uid, apiVersion: owner.apiVersion };
}

/** Looks up a workload by its ref (e.g. in an informer cache); undefined when unknown. */
export type WorkloadLookup = (ref: WorkloadRef) => WorkloadObject | undefined;

/**
 * The workload whose reports cover `object`: the object itself, or the controller it is reported
 * under. A Pod run by a Job resolves to the Job, and on to its CronJob when `lookup` finds the Job.
 * Undefined for a Deployment (see {@link activeReplicaSetOf}).
 */
export function reportOwner(object: WorkloadObject, lookup?: WorkloadLookup): WorkloadRef | undefined {
  if (object.kind === 'Deployment') return undefined;
  const controller = controllerOf(object);
  const namespace = object.metadata?.namespace ?? '';
  if (object.kind === 'Pod' && controller && POD_CONTROLLER_KINDS.includes(controller.kind)) {
    const owner = refFromOwner(controller, namespace);
    if (owner?.kind !== 'Job' || !lookup) return owner;
    const job = lookup(owner);
    return job ? (reportOwner(job, lookup) ?? owner) : owner;
  }
  if (object.kind === 'Job' && controller?.kind === 'CronJob') return refFromOwner(controller, namespace);
  return workloadRef(object);
}

/** True when `replicaSet` is the current revision of `deployment` (Trivy-Operator's test). */
export function isActiveReplicaSet(replicaSet: V1ReplicaSet, deployment: V1Deployment): boolean {
  const revision = (meta: V1ObjectMeta | undefined): string | undefined =>
    meta?.annotations?.[DEPLOYMENT_REVISION_ANNOTATION];
  return revision(replicaSet.metadata) === revision(deployment.metadata);
}

function isControlledBy(object: { metadata?: V1ObjectMeta }, owner: { metadata?: V1ObjectMeta }): boolean {
  const controller = controllerOf(object);
  if (!controller) return false;
  const uid = owner.metadata?.uid;
  return uid ? controller.uid === uid : controller.name === owner.metadata?.name;
}

/**
 * The ReplicaSet that is `deployment`'s current revision, among `replicaSets` (any, e.g. all of the
 * namespace): controlled by the Deployment and with its revision annotation.
 */
export function activeReplicaSetOf<R extends V1ReplicaSet>(
  deployment: V1Deployment,
  replicaSets: Iterable<R>,
): R | undefined {
  for (const replicaSet of replicaSets) {
    if (
      replicaSet.metadata?.namespace === deployment.metadata?.namespace &&
      isControlledBy(replicaSet, deployment) &&
      isActiveReplicaSet(replicaSet, deployment)
    ) {
      return replicaSet;
    }
  }
  return undefined;
}

/** Why an object is not scanned itself. */
export const SkipReason = {
  /** Its kind is not in `targetWorkloads`. */
  notTargeted: 'NotTargeted',
  /** Created by this operator or by Trivy-Operator (scan Jobs and their Pods). */
  managedByScanner: 'ManagedByScanner',
  /** It carries a label listed in `skipResourceByLabels`. */
  skipLabel: 'SkipLabel',
  /** It is being deleted. */
  beingDeleted: 'BeingDeleted',
  /** A Deployment: its active ReplicaSet is scanned instead. */
  deployment: 'Deployment',
  /** A Pod run by a built-in controller: the controller is scanned. */
  controlledPod: 'ControlledPod',
  /** An OpenShift DeploymentConfig deployer Pod. */
  deployerPod: 'DeployerPod',
  /** A Job run by a CronJob: the CronJob is scanned. */
  cronJobJob: 'CronJobJob',
  /** A ReplicaSet, ReplicationController or StatefulSet without Pods. */
  noPods: 'NoPods',
  /** A ReplicaSet that is not its Deployment's current revision. */
  inactiveRevision: 'InactiveRevision',
} as const;
export type SkipReason = (typeof SkipReason)[keyof typeof SkipReason];

export interface SkipOptions {
  /** Kinds to scan (Trivy-Operator's `targetWorkloads`, compared case-insensitively); absent = all. */
  readonly targetWorkloads?: readonly WorkloadKind[];
  /** Label keys that exclude an object whatever their value (Trivy-Operator's `skipResourceByLabels`). */
  readonly skipResourceByLabels?: readonly string[];
  /**
   * For a ReplicaSet controlled by a Deployment: that Deployment, when known. A ReplicaSet of an older
   * revision is then skipped; without it, the revision is not checked.
   */
  readonly deployment?: V1Deployment;
}

/** True when `kind` is listed in `targetWorkloads` (case-insensitive, as Trivy-Operator compares). */
export function isTargetKind(kind: string, targetWorkloads: readonly string[]): boolean {
  const lower = kind.toLowerCase();
  return targetWorkloads.some((target) => target.toLowerCase() === lower);
}

/** The objects whose kind is listed in `targetWorkloads`. */
export function targetWorkloads<T extends { kind: string }>(
  objects: Iterable<T>,
  targetKinds: readonly string[],
): T[] {
  return [...objects].filter((object) => isTargetKind(object.kind, targetKinds));
}

/** No Pods running for it: going by `status.replicas`, which its controller keeps current. */
function hasNoPods(object: { status?: { replicas?: number } }): boolean {
  return !((object.status?.replicas ?? 0) > 0);
}

/**
 * Trivy-Operator's skipResourceByLabels (pkg/operator/workload/helper.go, SkipProcessing): any of
 * the label keys, whatever its value.
 */
export function hasSkipLabel(
  labels: Readonly<Record<string, string>> | undefined,
  skipResourceByLabels: readonly string[],
): boolean {
  return labels !== undefined && skipResourceByLabels.some((key) => key in labels);
}

/**
 * Why `object` is not scanned itself, or undefined when it is. A skipped object may still be covered
 * through its owner (see {@link reportOwner}).
 */
export function skipReason(object: WorkloadObject, options: SkipOptions = {}): SkipReason | undefined {
  const metadata = object.metadata ?? {};
  const labels = metadata.labels ?? {};
  if (object.kind === 'Deployment') return SkipReason.deployment;
  if (options.targetWorkloads && !isTargetKind(object.kind, options.targetWorkloads)) {
    return SkipReason.notTargeted;
  }
  const managedBy = labels[ReportLabel.managedBy];
  if (managedBy !== undefined && SCANNER_MANAGED_BY_VALUES.includes(managedBy)) {
    return SkipReason.managedByScanner;
  }
  if (hasSkipLabel(labels, options.skipResourceByLabels ?? [])) return SkipReason.skipLabel;
  if (metadata.deletionTimestamp) return SkipReason.beingDeleted;

  const controller = controllerOf(object);
  switch (object.kind) {
    case 'Pod':
      if (controller && POD_CONTROLLER_KINDS.includes(controller.kind)) return SkipReason.controlledPod;
      if (metadata.annotations?.[DEPLOYER_POD_ANNOTATION] !== undefined) return SkipReason.deployerPod;
      return undefined;
    case 'Job':
      return controller?.kind === 'CronJob' ? SkipReason.cronJobJob : undefined;
    case 'ReplicaSet':
      if (hasNoPods(object)) return SkipReason.noPods;
      if (
        options.deployment &&
        controller?.kind === 'Deployment' &&
        isControlledBy(object, options.deployment) &&
        !isActiveReplicaSet(object, options.deployment)
      ) {
        return SkipReason.inactiveRevision;
      }
      return undefined;
    case 'ReplicationController':
    case 'StatefulSet':
      return hasNoPods(object) ? SkipReason.noPods : undefined;
    default:
      return undefined;
  }
}
