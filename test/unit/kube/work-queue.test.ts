import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { Controller, WorkQueue, type RuntimeObserver } from '../../../src/kube/index.ts';

interface PodKey {
  namespace: string;
  name: string;
}
const identity = (k: PodKey) => `${k.namespace}/${k.name}`;
const silent = pino({ level: 'silent' });

describe('WorkQueue', () => {
  it('queues a key once however often it is added, and hands it to one worker at a time', async () => {
    const queue = new WorkQueue<PodKey>({ identity, backoff: { initialMs: 10, maxMs: 100 } });
    queue.add({ namespace: 'a', name: 'web' });
    queue.add({ namespace: 'a', name: 'web' });
    queue.add({ namespace: 'a', name: 'db' });
    assert.equal(queue.depth, 2);
    const first = await queue.get();
    assert.deepEqual(first, { namespace: 'a', name: 'web' });
    // Added again while processed: not handed out twice at once, but processed again after done.
    queue.add({ namespace: 'a', name: 'web' });
    assert.deepEqual(await queue.get(), { namespace: 'a', name: 'db' });
    assert.equal(queue.depth, 0);
    queue.done(first as PodKey);
    assert.equal(queue.depth, 1);
    assert.deepEqual(await queue.get(), { namespace: 'a', name: 'web' });
  });

  it('the latest key object wins for an identity (reconciles read the newest)', async () => {
    const queue = new WorkQueue<{ id: string; v: number }>({
      identity: (k) => k.id,
      backoff: { initialMs: 10, maxMs: 100 },
    });
    queue.add({ id: 'x', v: 1 });
    queue.add({ id: 'x', v: 2 });
    assert.deepEqual(await queue.get(), { id: 'x', v: 2 });
  });

  it('backs off a failing key exponentially with jitter, and starts over once it is forgotten', () => {
    const queue = new WorkQueue<PodKey>({
      identity,
      backoff: { initialMs: 1_000, maxMs: 8_000 },
      random: () => 1,
    });
    const key = { namespace: 'a', name: 'web' };
    const delays = [1, 2, 3, 4, 5].map(() => queue.addRateLimited(key));
    assert.deepEqual(delays, [1_000, 2_000, 4_000, 8_000, 8_000]);
    assert.equal(queue.failuresOf(key), 5);
    queue.forget(key);
    assert.equal(queue.addRateLimited(key), 1_000);
    // Full jitter: never below half the first delay, never above the ceiling.
    const low = new WorkQueue<PodKey>({
      identity,
      backoff: { initialMs: 1_000, maxMs: 8_000 },
      random: () => 0,
    });
    assert.equal(low.addRateLimited(key), 500);
    queue.shutDown();
    low.shutDown();
  });

  it('a delayed key arrives after its delay; an earlier add of the same key wins', async () => {
    const queue = new WorkQueue<PodKey>({ identity, backoff: { initialMs: 10, maxMs: 100 } });
    queue.addAfter({ namespace: 'a', name: 'web' }, 5_000);
    queue.addAfter({ namespace: 'a', name: 'web' }, 20);
    assert.equal(queue.depth, 0);
    await sleep(60);
    assert.equal(queue.depth, 1);
    queue.shutDown();
  });

  it('shutting down releases waiting workers and idle waiters', async () => {
    const queue = new WorkQueue<PodKey>({ identity, backoff: { initialMs: 10, maxMs: 100 } });
    const waiting = queue.get();
    queue.shutDown();
    assert.equal(await waiting, undefined);
    await queue.idle();
  });
});

describe('Controller', () => {
  function observer(): { runtime: RuntimeObserver; outcomes: string[]; retries: () => number } {
    const outcomes: string[] = [];
    let retries = 0;
    return {
      outcomes,
      retries: () => retries,
      runtime: {
        controller: () => ({
          added: () => {},
          waited: () => {},
          worked: () => {},
          retried: () => retries++,
          reconciled: (outcome) => outcomes.push(outcome),
        }),
      },
    };
  }

  it('retries a failing reconcile with backoff until it succeeds, counting each retry', async () => {
    const seen = observer();
    let calls = 0;
    const controller = new Controller<PodKey>({
      name: 'test',
      keyOf: identity,
      backoff: { initialMs: 10, maxMs: 40 },
      log: silent,
      observer: seen.runtime,
      reconcile: async () => {
        calls++;
        if (calls < 4) throw Object.assign(new Error('admission webhook denied the request'), { code: 403 });
      },
    });
    controller.start();
    controller.enqueue({ namespace: 'a', name: 'web' });
    for (let i = 0; i < 100 && calls < 4; i++) await sleep(10);
    await controller.idle();
    await controller.stop();
    assert.equal(calls, 4);
    assert.deepEqual(seen.outcomes, ['error', 'error', 'error', 'success']);
    assert.equal(seen.retries(), 3);
  });

  it('requeues after the delay a reconcile asks for, and resyncs every key periodically', async () => {
    const seen = observer();
    const counts = new Map<string, number>();
    const controller = new Controller<PodKey>({
      name: 'test',
      keyOf: identity,
      log: silent,
      observer: seen.runtime,
      resync: {
        everyMs: 30,
        keys: () => [
          { namespace: 'a', name: 'web' },
          { namespace: 'a', name: 'db' },
        ],
      },
      reconcile: async (key) => {
        const id = identity(key);
        counts.set(id, (counts.get(id) ?? 0) + 1);
        return id === 'a/once' && counts.get(id) === 1 ? { requeueAfterMs: 10 } : undefined;
      },
    });
    controller.start();
    controller.enqueue({ namespace: 'a', name: 'once' });
    await sleep(100);
    await controller.stop();
    assert.equal(counts.get('a/once'), 2);
    assert.ok((counts.get('a/web') ?? 0) >= 2, `resynced ${counts.get('a/web')} times`);
    assert.ok((counts.get('a/db') ?? 0) >= 2);
    assert.ok(seen.outcomes.includes('requeue_after'));
  });

  it('processes one key at a time however many workers there are', async () => {
    let running = 0;
    let overlap = false;
    const controller = new Controller<PodKey>({
      name: 'test',
      keyOf: identity,
      log: silent,
      workers: 4,
      reconcile: async () => {
        running++;
        if (running > 1) overlap = true;
        await sleep(5);
        running--;
      },
    });
    controller.start();
    for (let i = 0; i < 20; i++) {
      controller.enqueue({ namespace: 'a', name: 'web' });
      await sleep(1);
    }
    await controller.idle();
    await controller.stop();
    assert.equal(overlap, false);
  });

  it('stop() aborts the signal a running reconcile was given and waits for it', async () => {
    let aborted = false;
    const controller = new Controller<PodKey>({
      name: 'test',
      keyOf: identity,
      log: silent,
      reconcile: (_key, signal) =>
        new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => {
            aborted = true;
            resolve();
          }),
        ),
    });
    controller.start();
    controller.enqueue({ namespace: 'a', name: 'web' });
    await sleep(10);
    await controller.stop();
    assert.equal(aborted, true);
  });

  it('in batch mode, takes keys of one group together and retries only the keys a batch failed', async () => {
    const batches: string[][] = [];
    let failOnce = true;
    const controller = new Controller<PodKey>({
      name: 'test',
      keyOf: identity,
      log: silent,
      backoff: { initialMs: 10, maxMs: 20 },
      batch: {
        max: 10,
        delayMs: 20,
        // The namespace stands for the kind: a Trivy run audits one kind at a time.
        groupOf: (key) => key.namespace,
        reconcile: async (keys) => {
          batches.push(keys.map(identity));
          const bad = keys.filter((k) => k.name === 'bad');
          if (bad.length > 0 && failOnce) {
            failOnce = false;
            return { failed: bad };
          }
        },
      },
    });
    controller.start();
    for (const key of ['Role/a', 'Pod/x', 'Role/b', 'Pod/bad', 'Role/c'])
      controller.enqueue({ namespace: key.split('/')[0] as string, name: key.split('/')[1] as string });
    for (let i = 0; i < 50 && batches.length < 3; i++) await sleep(10);
    await controller.stop();
    assert.deepEqual(batches, [['Role/a', 'Role/b', 'Role/c'], ['Pod/x', 'Pod/bad'], ['Pod/bad']]);
  });
});
