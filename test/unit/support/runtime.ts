/** What the controller unit tests share besides the fake API server: counting, waiting, timers, Jobs. */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Job, V1Pod } from '@kubernetes/client-node';
import type { ReconcileOutcome, RuntimeObserver } from '../../../src/kube/index.ts';
import type { FakeApiServer } from './fake-api.ts';

/** A runtime observer that counts, per controller, what controller-runtime's metrics count. */
export class CountingRuntime implements RuntimeObserver {
  readonly counts = new Map<string, Record<ReconcileOutcome | 'retried', number>>();

  controller(name: string) {
    const counts = { success: 0, error: 0, requeue_after: 0, retried: 0 };
    this.counts.set(name, counts);
    return {
      added: () => {},
      waited: () => {},
      worked: () => {},
      retried: () => void counts.retried++,
      reconciled: (outcome: ReconcileOutcome) => void counts[outcome]++,
    };
  }

  of(name: string): Record<ReconcileOutcome | 'retried', number> {
    const counts = this.counts.get(name);
    assert.ok(counts, `a controller named ${name}`);
    return counts;
  }
}

/** Polls `ready` every 5 ms; throws naming `what` after `timeoutMs`. */
export async function until(what: string, ready: () => boolean, timeoutMs = 5_000): Promise<void> {
  for (const end = Date.now() + timeoutMs; !ready(); await sleep(5))
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
}

/** Timers that keep the process alive (unref'd ones do not count). */
export const liveTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

/**
 * Plays the Job controller and the kubelet for a Job in the fake: a pod of the Job's template that
 * ran on `nodeName` and exited 0, with `log` as its container's log, and the Job marked Complete.
 */
export function completeJob(
  api: FakeApiServer,
  o: { namespace: string; job: string; container: string; image: string; log: string; nodeName?: string },
): void {
  const jobPath = `/apis/batch/v1/namespaces/${o.namespace}/jobs/${o.job}`;
  const job = api.get<V1Job>(jobPath);
  assert.ok(job, `Job ${o.job} exists`);
  const pod = `${o.job}-q8x2d`;
  const podPath = `/api/v1/namespaces/${o.namespace}/pods/${pod}`;
  const finishedAt = new Date();
  const template = job.spec?.template;
  api.logs.set(podPath, o.log);
  api.put<V1Pod>(podPath, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: pod,
      labels: { ...template?.metadata?.labels, 'batch.kubernetes.io/job-name': o.job },
      annotations: { ...template?.metadata?.annotations },
      ownerReferences: [
        { apiVersion: 'batch/v1', kind: 'Job', name: o.job, uid: job.metadata?.uid ?? '', controller: true },
      ],
    },
    spec: { ...(template?.spec ?? { containers: [] }), ...(o.nodeName ? { nodeName: o.nodeName } : {}) },
    status: {
      phase: 'Succeeded',
      containerStatuses: [
        {
          name: o.container,
          image: o.image,
          imageID: '',
          ready: false,
          restartCount: 0,
          state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt } },
        },
      ],
    },
  });
  api.put<V1Job>(jobPath, {
    ...job,
    status: {
      startTime: job.metadata?.creationTimestamp,
      completionTime: finishedAt,
      succeeded: 1,
      conditions: [{ type: 'Complete', status: 'True', lastTransitionTime: finishedAt }],
    },
  });
}
