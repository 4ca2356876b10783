import { BatchV1Api, CoreV1Api, type KubeConfig, type V1Job } from '@kubernetes/client-node';
import { isConflict, isNotFound, kubeError } from '../kube/index.ts';
import type { ScanJobManifests } from './job-manifest.ts';

/** The API calls around one scan Job. Thin on purpose: every decision is made elsewhere. */
export class ScanJobs {
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
  async create(manifests: ScanJobManifests): Promise<'created' | 'exists'> {
    const { job, secret } = manifests;
    if (secret) {
      try {
        await this.core.createNamespacedSecret({ namespace: this.namespace, body: secret });
      } catch (err) {
        if (!isConflict(err)) throw kubeError(err, 'create scan Secret', { name: secret.metadata?.name });
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
      throw kubeError(err, 'create scan Job', { name: job.metadata?.name });
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

  /** The scan container's log and exit code, or undefined when the pod is gone (deadline, deletion). */
  async readResult(
    jobName: string,
    container = 'scan',
  ): Promise<{ log: string; exitCode: number | undefined } | undefined> {
    const pods = await this.core.listNamespacedPod({
      namespace: this.namespace,
      labelSelector: `batch.kubernetes.io/job-name=${jobName}`,
    });
    const pod =
      pods.items.find((p) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') ??
      pods.items[0];
    if (!pod?.metadata?.name) return undefined;
    const status = pod.status?.containerStatuses?.find((c) => c.name === container);
    const exitCode = status?.state?.terminated?.exitCode;
    try {
      const log = await this.core.readNamespacedPodLog({
        name: pod.metadata.name,
        namespace: this.namespace,
        container,
      });
      return { log: typeof log === 'string' ? log : String(log), exitCode };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw kubeError(err, 'read scan pod log', { pod: pod.metadata.name });
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
      if (!isNotFound(err)) throw kubeError(err, 'delete scan Job', { name: jobName });
    }
  }
}
