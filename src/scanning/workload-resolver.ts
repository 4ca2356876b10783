import type { KubeConfig, V1Job, V1Pod } from '@kubernetes/client-node';
import type { WorkloadKind } from '../config/index.ts';
import { isNotFound, kubeRequestJson } from '../kube/index.ts';
import {
  asWorkload,
  controllerOf,
  isTargetKind,
  reportOwner,
  workloadKey,
  type WorkloadObject,
  type WorkloadRef,
} from '../workloads/index.ts';

/** The object a report is filed under: the pod's controlling workload, as Trivy-Operator does. */
export type Workload = WorkloadRef;
export { workloadKey };

/**
 * Resolves a pod to the workload it is reported under, by the workloads module's rules
 * ({@link reportOwner}). The one thing a pod does not say itself is whether its Job belongs to a
 * CronJob, so a Job's owner is looked up once and remembered (ownership of a Job never changes);
 * only its ownerReferences are kept.
 */
export class WorkloadResolver {
  private readonly jobs = new Map<string, WorkloadObject | null>();

  /** `signal` ends a lookup under way: its owner stops, and must not wait for the API server. */
  constructor(
    private readonly kc: KubeConfig,
    private readonly targets: readonly WorkloadKind[],
    private readonly signal?: AbortSignal,
  ) {}

  /** undefined = not reported (kind not targeted, or its Job is already gone). */
  async resolve(pod: V1Pod): Promise<Workload | undefined> {
    const meta = pod.metadata;
    if (!meta?.name || !meta.namespace || !meta.uid) return undefined;
    const controller = controllerOf(pod);
    let job: WorkloadObject | undefined;
    if (controller?.kind === 'Job') {
      const found = await this.jobOf(meta.namespace, controller.name);
      // The Job is gone: its pods are leftovers about to be collected, not a workload to report.
      if (!found) return undefined;
      job = found;
    }
    const owner = reportOwner(asWorkload('Pod', pod), () => job);
    return owner && isTargetKind(owner.kind, this.targets) ? owner : undefined;
  }

  /** Forget a Job's owner once its pods are gone. */
  forgetJob(namespace: string, name: string): void {
    this.jobs.delete(`${namespace}/${name}`);
  }

  /** The Job (identity and owners only), null when it no longer exists. */
  private async jobOf(namespace: string, name: string): Promise<WorkloadObject | null> {
    const key = `${namespace}/${name}`;
    const cached = this.jobs.get(key);
    if (cached !== undefined) return cached;
    try {
      const job = await kubeRequestJson<V1Job>(this.kc, {
        path: `/apis/batch/v1/namespaces/${encodeURIComponent(namespace)}/jobs/${encodeURIComponent(name)}`,
        ...(this.signal ? { signal: this.signal } : {}),
      });
      const meta = job.metadata ?? {};
      const slim = asWorkload('Job', {
        metadata: {
          name: meta.name,
          namespace: meta.namespace,
          uid: meta.uid,
          ownerReferences: meta.ownerReferences,
        },
      });
      this.jobs.set(key, slim);
      return slim;
    } catch (err) {
      // Not remembered: a Job that is not there now may be created under this name later.
      if (isNotFound(err)) return null;
      throw err;
    }
  }
}
