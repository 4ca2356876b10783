import { BatchV1Api, CoreV1Api, type KubeConfig, type V1Job, type V1Secret } from '@kubernetes/client-node';
import { apiErrorStatus, isConflict, isNotFound, kubeError } from './errors.ts';

/** A Job to create, with the Secret it needs (credentials), owned by it once created. */
export interface JobManifests {
  job: V1Job;
  secret: V1Secret | undefined;
}

/** How a Job's pod's deciding container ended, with its log. */
export interface JobPodResult {
  log: string;
  container: string;
  /** The kubelet's terminated reason: Completed, Error, OOMKilled, … */
  reason: string | undefined;
}

/** The API calls around the operator's Jobs (scans, node collectors). Thin on purpose: every decision is made elsewhere. */
export class JobClient {
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
  ) {
    this.batch = kc.makeApiClient(BatchV1Api);
    this.core = kc.makeApiClient(CoreV1Api);
  }

  /**
   * Creates the Job, and its Secret owned by it so both go together. An existing Job of the same
   * name (another replica, or ours before a restart) is adopted: returns 'exists'.
   */
  async create(manifests: JobManifests): Promise<'created' | 'exists'> {
    const { job, secret } = manifests;
    if (secret) {
      try {
        await this.core.createNamespacedSecret({ namespace: this.namespace, body: secret });
      } catch (err) {
        if (!isConflict(err)) throw kubeError(err, 'create Job Secret', { name: secret.metadata?.name });
        await this.core.replaceNamespacedSecret({
          name: secret.metadata?.name ?? '',
          namespace: this.namespace,
          body: secret,
        });
      }
    }
    let created: V1Job;
    try {
      created = await this.batch.createNamespacedJob({ namespace: this.namespace, body: job });
    } catch (err) {
      if (isConflict(err)) return 'exists';
      throw kubeError(err, 'create Job', { name: job.metadata?.name });
    }
    if (secret && created.metadata?.uid) {
      // Owned by the Job: deleted with it, and never left behind by a crash between the two calls
      // for longer than it takes the next Job of that image to replace it.
      await this.core
        .patchNamespacedSecret({
          name: secret.metadata?.name ?? '',
          namespace: this.namespace,
          body: [
            {
              op: 'add',
              path: '/metadata/ownerReferences',
              value: [
                {
                  apiVersion: 'batch/v1',
                  kind: 'Job',
                  name: created.metadata.name,
                  uid: created.metadata.uid,
                  controller: true,
                },
              ],
            },
          ],
        })
        .catch(() => undefined);
    }
    return 'created';
  }

  /**
   * The result of the Job's pod: the log of the container that failed (an init container that
   * downloads the DB fails before the main container starts), else of the main container, with
   * how that container ended. Undefined when the pod is gone (deadline, deletion).
   */
  async readResult(jobName: string, mainContainer: string): Promise<JobPodResult | undefined> {
    const pods = await this.core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: `batch.kubernetes.io/job-name=${jobName}`,
    });
    const pod =
      pods.items.find((p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') ??
      pods.items[0];
    if (!pod?.metadata?.name) return undefined;
    const statuses = [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
    const failed = statuses.find((c) => {
      const end = c.state?.terminated ?? c.lastState?.terminated;
      return end !== undefined && (end.exitCode !== 0 || end.reason === 'OOMKilled');
    });
    const status = failed ?? statuses.find((c) => c.name === mainContainer);
    const container = status?.name ?? mainContainer;
    const terminated = status?.state?.terminated ?? status?.lastState?.terminated;
    try {
      const log = await this.core.readNamespacedPodLog({
        name: pod.metadata.name,
        namespace: this.namespace,
        container,
      });
      return {
        log: typeof log === 'string' ? log : String(log),
        container,
        reason: terminated?.reason,
      };
    } catch (err) {
      // A container that never started has no log; its end (e.g. OOMKilled at start) still tells.
      if (isNotFound(err) || (terminated && apiErrorStatus(err) === 400))
        return terminated ? { log: '', container, reason: terminated.reason } : undefined;
      throw kubeError(err, 'read Job pod log', { pod: pod.metadata.name });
    }
  }

  async delete(jobName: string): Promise<void> {
    try {
      await this.batch.deleteNamespacedJob({
        name: jobName,
        namespace: this.namespace,
        propagationPolicy: 'Background',
      });
    } catch (err) {
      if (!isNotFound(err)) throw kubeError(err, 'delete Job', { name: jobName });
    }
  }
}
