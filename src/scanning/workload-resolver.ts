import { BatchV1Api, type KubeConfig, type V1Pod } from '@kubernetes/client-node';
import type { WorkloadKind } from '../config/index.ts';
import { isNotFound } from '../kube/index.ts';
import {
  controllerOf,
  isScannableKind,
  isTargetKind,
  workloadKey,
  type WorkloadRef,
} from '../workloads/index.ts';

/** The object a report is filed under: the pod's controlling workload, as Trivy-Operator does. */
export type Workload = WorkloadRef;
export { workloadKey };

/**
 * Resolves a pod to the workload it is reported under: the pod itself, its ReplicaSet,
 * ReplicationController, StatefulSet, DaemonSet or Job, and a Job's CronJob. A Job's owner is
 * looked up once and remembered (ownership of a Job never changes).
 */
export class WorkloadResolver {
  private readonly batch: BatchV1Api;
  private readonly jobOwners = new Map<string, Workload | null>();

  constructor(
    kc: KubeConfig,
    private readonly targets: readonly WorkloadKind[],
  ) {
    this.batch = kc.makeApiClient(BatchV1Api);
  }

  /** undefined = not reported (kind not targeted, or owned by something we do not scan). */
  async resolve(pod: V1Pod): Promise<Workload | undefined> {
    const meta = pod.metadata;
    if (!meta?.name || !meta.namespace || !meta.uid) return undefined;
    const owner = controllerOf(pod);
    if (!owner) {
      return isTargetKind('Pod', this.targets)
        ? { apiVersion: 'v1', kind: 'Pod', namespace: meta.namespace, name: meta.name, uid: meta.uid }
        : undefined;
    }
    if (!isScannableKind(owner.kind)) return undefined;
    let workload: Workload = {
      apiVersion: owner.apiVersion,
      kind: owner.kind,
      namespace: meta.namespace,
      name: owner.name,
      uid: owner.uid,
    };
    if (owner.kind === 'Job') {
      const cronJob = await this.cronJobOf(meta.namespace, owner.name);
      if (cronJob === undefined) return undefined;
      if (cronJob) workload = cronJob;
    }
    return isTargetKind(workload.kind, this.targets) ? workload : undefined;
  }

  /** Forget a Job's owner once its pods are gone. */
  forgetJob(namespace: string, name: string): void {
    this.jobOwners.delete(`${namespace}/${name}`);
  }

  /** The CronJob owning a Job, null when none, undefined when the Job no longer exists. */
  private async cronJobOf(namespace: string, jobName: string): Promise<Workload | null | undefined> {
    const key = `${namespace}/${jobName}`;
    if (this.jobOwners.has(key)) return this.jobOwners.get(key);
    try {
      const job = await this.batch.readNamespacedJob({ name: jobName, namespace });
      const owner = controllerOf(job);
      const result: Workload | null =
        owner?.kind === 'CronJob'
          ? { apiVersion: owner.apiVersion, kind: 'CronJob', namespace, name: owner.name, uid: owner.uid }
          : null;
      this.jobOwners.set(key, result);
      return result;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}
