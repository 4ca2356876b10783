import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { kubeRequestJson, LeaderElection } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { waitUntil } from '../../harness/waiting.ts';

interface LeaseSpec {
  holderIdentity?: string;
  renewTime?: string;
}

describe('LeaderElection on a real Lease', () => {
  let cluster: TestCluster;
  let namespace: string;
  const electors: LeaderElection[] = [];

  before(async () => {
    cluster = await useTestCluster();
    namespace = await cluster.createNamespace('lease');
  });
  after(async () => {
    for (const elector of electors) await elector.stop();
    await cluster?.release();
  });

  const lease = async (name: string) =>
    (
      await kubeRequestJson<{ spec: LeaseSpec }>(cluster.kubeConfig(), {
        path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${name}`,
      })
    ).spec;

  function elector(
    name: string,
    identity: string,
    callbacks: { start: () => Promise<void>; stop: () => Promise<void> },
  ): LeaderElection {
    const e = new LeaderElection({
      kc: cluster.kubeConfig(),
      namespace,
      name,
      identity,
      log: createLogger('silent'),
      // Short, so that a lapse would show within seconds; the ratios are client-go's defaults.
      leaseDurationMs: 3_000,
      renewIntervalMs: 1_000,
      retryIntervalMs: 400,
      onStartedLeading: callbacks.start,
      onStoppedLeading: callbacks.stop,
    });
    electors.push(e);
    return e;
  }

  it('keeps renewing while a slow start runs, so a second replica never leads meanwhile', async () => {
    // In: replica a's start takes 3 lease durations (caches syncing on a big cluster); b waits.
    // Out: the lease stays a's and keeps being renewed; b's start is never called.
    const calls: string[] = [];
    let startDone = false;
    const a = elector('slow-start', 'a', {
      start: async () => {
        calls.push('a start');
        await sleep(9_000);
        startDone = true;
        calls.push('a started');
      },
      stop: async () => {
        calls.push('a stop');
      },
    });
    a.start();
    await waitUntil('a to hold the lease', async () => (await lease('slow-start')).holderIdentity === 'a');
    const b = elector('slow-start', 'b', {
      start: async () => {
        calls.push('b start');
      },
      stop: async () => {
        calls.push('b stop');
      },
    });
    b.start();
    const renewals = new Set<string>();
    while (!startDone) {
      const spec = await lease('slow-start');
      assert.equal(spec.holderIdentity, 'a', `the lease changed hands during a's start: ${calls.join(', ')}`);
      if (spec.renewTime) renewals.add(spec.renewTime);
      await sleep(250);
    }
    assert.ok(renewals.size >= 5, `the lease was renewed during the start (${renewals.size} renewals seen)`);
    assert.equal(a.isLeader, true);
    assert.equal(b.isLeader, false);
    assert.deepEqual(calls, ['a start', 'a started']);
  });

  it('on stop during a slow start, stops only after the start finished, then releases the lease', async () => {
    // In: stop() while the start callback is still running.
    // Out: stop callback after the start completed (it undoes what the start built), lease released.
    const calls: string[] = [];
    const c = elector('stop-during-start', 'c', {
      start: async () => {
        calls.push('start');
        await sleep(2_000);
        calls.push('started');
      },
      stop: async () => {
        calls.push('stop');
      },
    });
    c.start();
    await waitUntil('the start to begin', () => calls.includes('start'), 30_000, 50);
    await c.stop();
    assert.deepEqual(calls, ['start', 'started', 'stop']);
    assert.equal(c.isLeader, false);
    assert.equal((await lease('stop-during-start')).holderIdentity, '');
  });
});
