import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api, type V1ConfigMap } from '@kubernetes/client-node';
import { ResourceWatcher, type RestartReason, type WatchEventType } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import { startControlPlane, type ControlPlane } from '../../harness/control-plane.ts';

/** Waits until `predicate` holds, polling; fails with `what` after the timeout. */
async function eventually(what: string, predicate: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

// This file runs its own API server because it restarts it.
describe('ResourceWatcher against a real API server', () => {
  let cp: ControlPlane;
  let core: CoreV1Api;
  const namespace = 'watch-test';

  before(async () => {
    cp = await startControlPlane({ controllerManager: false, scheduler: false });
    core = cp.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: namespace } } });
  });
  after(async () => cp?.stop());

  const configMap = (name: string, value = 'v1'): V1ConfigMap => ({
    metadata: { name, namespace },
    data: { value },
  });

  it('lists in pages, follows changes, and survives an API server restart and a silent connection', async () => {
    for (const name of ['cm-1', 'cm-2', 'cm-3'])
      await core.createNamespacedConfigMap({ namespace, body: configMap(name) });

    const events: string[] = [];
    const restarts: RestartReason[] = [];
    const watcher = new ResourceWatcher<V1ConfigMap>(
      cp.kubeConfig(),
      {
        path: `/api/v1/namespaces/${namespace}/configmaps`,
        pageSize: 2, // three objects: the list must follow the continue token
        watchTimeoutSeconds: 600,
        stallTimeoutMs: 3_000, // a quiet watch looks stalled: exercises the reconnect path for real
        backoff: { initialMs: 100, maxMs: 1_000 },
        log: createLogger('silent'),
      },
      {
        onEvent: (type: WatchEventType, cm) => {
          events.push(`${type} ${cm.metadata?.name}${cm.data ? `=${cm.data.value}` : ''}`);
        },
        onRestart: (reason) => restarts.push(reason),
      },
    );
    watcher.start();
    await watcher.waitForSync();
    assert.deepEqual(events.sort(), ['ADDED cm-1=v1', 'ADDED cm-2=v1', 'ADDED cm-3=v1']);
    events.length = 0;

    await core.createNamespacedConfigMap({ namespace, body: configMap('cm-4') });
    await core.replaceNamespacedConfigMap({ name: 'cm-1', namespace, body: configMap('cm-1', 'v2') });
    await core.deleteNamespacedConfigMap({ name: 'cm-2', namespace });
    await eventually('three live events', () => events.length >= 3);
    assert.deepEqual(events, ['ADDED cm-4=v1', 'MODIFIED cm-1=v2', 'DELETED cm-2=v1']);
    events.length = 0;

    // Nothing happens for longer than the stall timeout: the watcher must notice and reconnect.
    await eventually('a stalled-watch restart', () => restarts.includes('stalled'), 10_000);

    await cp.restartApiServer();
    await core.createNamespacedConfigMap({ namespace, body: configMap('cm-5') });
    await eventually('the event after the restart', () => events.includes('ADDED cm-5=v1'), 30_000);
    // Reconnecting from the last resourceVersion must not replay what was already delivered.
    assert.deepEqual(events, ['ADDED cm-5=v1']);
    assert.equal(watcher.objectCount, 4);
    await watcher.stop();
  });
});
