import { CoreV1Api, type KubeConfig, type V1ObjectReference } from '@kubernetes/client-node';

/**
 * Kubernetes Events on workloads, so `kubectl describe` shows why a scan failed. Repeats of the same
 * reason on the same object bump the count of one Event instead of piling up new ones.
 */
export class WorkloadEvents {
  private readonly core: CoreV1Api;
  private readonly recent = new Map<string, { name: string; count: number }>();

  constructor(kc: KubeConfig) {
    this.core = kc.makeApiClient(CoreV1Api);
  }

  async warn(involved: V1ObjectReference, reason: string, message: string): Promise<void> {
    const namespace = involved.namespace ?? 'default';
    const key = `${namespace}/${involved.kind}/${involved.name}/${reason}`;
    const now = new Date();
    const previous = this.recent.get(key);
    if (previous) {
      previous.count += 1;
      try {
        await this.core.patchNamespacedEvent({
          name: previous.name,
          namespace,
          body: [
            { op: 'replace', path: '/count', value: previous.count },
            { op: 'replace', path: '/lastTimestamp', value: now.toISOString() },
            { op: 'replace', path: '/message', value: message },
          ],
        });
        return;
      } catch {
        this.recent.delete(key);
      }
    }
    const name = `${involved.name}.${now.getTime().toString(16)}`;
    await this.core.createNamespacedEvent({
      namespace,
      body: {
        metadata: { name, namespace },
        involvedObject: involved,
        reason,
        message,
        type: 'Warning',
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
        source: { component: 'trivy-lookout' },
        reportingComponent: 'trivy-lookout',
        reportingInstance: process.env.HOSTNAME ?? 'trivy-lookout',
      },
    });
    this.recent.set(key, { name, count: 1 });
    if (this.recent.size > 10_000) this.recent.clear();
  }
}
