import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { BackoffOptions } from './backoff.ts';
import { apiErrorMessage, apiErrorStatus } from './errors.ts';
import { WorkQueue, type WorkQueueProbe, type WorkQueueSink } from './work-queue.ts';

/** What a reconcile asks for: nothing (done), or to look again after a while. Throwing means retry. */
export type ReconcileResult = void | { requeueAfterMs: number };

export type ReconcileOutcome = 'success' | 'error' | 'requeue_after';

/** Where a controller's queue and reconciles are counted (the health metrics implement it). */
export interface RuntimeObserver {
  /** Called once per controller, with its name: returns the sink for its queue's events. */
  controller(
    name: string,
    probe: WorkQueueProbe,
  ): WorkQueueSink & { reconciled(outcome: ReconcileOutcome, seconds: number): void };
}

export interface ControllerOptions<K> {
  /** Names the queue in metrics and logs: `scan`, `config-audit`, … */
  name: string;
  /** A key's identity (its string form, used for de-duplication and logs). */
  keyOf(key: K): string;
  /**
   * Brings one key's actual state to the desired state, reading the current state from caches.
   * Called for one key by one worker at a time. Throw to retry the key with backoff.
   */
  reconcile?(key: K, signal: AbortSignal): Promise<ReconcileResult>;
  /** Instead of `reconcile`: keys taken in batches, for work that is cheaper done together. */
  batch?: BatchReconcile<K>;
  /** Keys processed at once. Default 1. */
  workers?: number;
  /** Retry delays of a failing key. Default 1 s doubling to 5 min, with jitter. */
  backoff?: BackoffOptions;
  /** Every key re-enqueued periodically: what was missed or changed behind our back is put right. */
  resync?: { everyMs: number; keys(): Iterable<K> };
  log: Logger;
  observer?: RuntimeObserver;
}

export interface BatchReconcile<K> {
  /** Keys per batch at most; a backlog is split evenly over the workers below that. */
  max: number;
  /** How long the first ready key waits for others to join its batch. */
  delayMs: number;
  /** Only keys of one group go into a batch. */
  groupOf(key: K): string;
  /** Reconciles the keys together. Throw to retry all of them; return the ones to retry alone. */
  reconcile(keys: K[], signal: AbortSignal): Promise<{ failed: K[] } | void>;
}

/** How long `stop` waits for running reconciles. */
const STOP_WAIT_MS = 10_000;

const defaultReconcileBackoff: BackoffOptions = { initialMs: 1_000, maxMs: 300_000 };

/**
 * Reconcile by key, as controller-runtime does: event handlers only enqueue keys, workers take
 * them from a rate-limited queue and call `reconcile`. A failed reconcile is retried with backoff
 * instead of being dropped, and a periodic resync re-derives every key from scratch.
 */
export class Controller<K> {
  private readonly queue: WorkQueue<K>;
  private readonly abort = new AbortController();
  private readonly sink: ReturnType<RuntimeObserver['controller']> | undefined;
  private workers: Promise<void>[] = [];
  private resyncTimer: NodeJS.Timeout | undefined;
  /** Workers busy with a batch. */
  private busy = 0;

  constructor(private readonly o: ControllerOptions<K>) {
    // The queue reports through the sink, and the sink reads the queue: tie them through `this`.
    const sink: WorkQueueSink = {
      added: () => this.sink?.added(),
      waited: (seconds) => this.sink?.waited(seconds),
      worked: (seconds) => this.sink?.worked(seconds),
      retried: () => this.sink?.retried(),
    };
    this.queue = new WorkQueue<K>({
      identity: o.keyOf,
      backoff: o.backoff ?? defaultReconcileBackoff,
      sink,
    });
    this.sink = o.observer?.controller(o.name, this.queue.probe);
  }

  /** Keys waiting to be processed. */
  get depth(): number {
    return this.queue.depth;
  }

  enqueue(key: K): void {
    this.queue.add(key);
  }

  enqueueAfter(key: K, delayMs: number): void {
    this.queue.addAfter(key, delayMs);
  }

  /** Resolves once every queued key has been processed (keys waiting for a retry do not count). */
  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Starts the workers (and the resync). Keys enqueued before are processed now. */
  start(): void {
    if (this.workers.length > 0 || this.abort.signal.aborted) return;
    const count = Math.max(1, this.o.workers ?? 1);
    for (let i = 0; i < count; i++)
      this.workers.push(this.o.batch ? this.workBatches(this.o.batch, count) : this.work());
    const resync = this.o.resync;
    if (resync) {
      this.resyncTimer = setInterval(() => {
        for (const key of resync.keys()) this.queue.add(key);
      }, resync.everyMs);
      this.resyncTimer.unref();
    }
  }

  /**
   * Stops taking keys, signals the running reconciles to give up, and waits for them, at most
   * `STOP_WAIT_MS`: a reconcile held by an API server that does not answer must not hold the pod
   * past its termination grace period.
   */
  async stop(): Promise<void> {
    clearInterval(this.resyncTimer);
    this.queue.shutDown();
    this.abort.abort();
    let timer: NodeJS.Timeout | undefined;
    const finished = await Promise.race([
      Promise.all(this.workers).then(() => true),
      new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), STOP_WAIT_MS))),
    ]);
    clearTimeout(timer);
    if (!finished)
      this.o.log.warn(
        { controller: this.o.name, waitedMs: STOP_WAIT_MS },
        'stopped with a reconcile still running',
      );
    this.workers = [];
  }

  private async workBatches(batch: BatchReconcile<K>, workers: number): Promise<void> {
    while (await this.queue.waitForReady()) {
      // A lone key waits a moment for others: one Trivy run for many objects, not one each.
      if (this.queue.depth < batch.max)
        await sleep(batch.delayMs, undefined, { signal: this.abort.signal }).catch(() => {});
      // Split over the workers free to take it, as the others are busy with batches of their own.
      const free = Math.max(1, workers - this.busy);
      const size = Math.max(1, Math.min(batch.max, Math.ceil(this.queue.depth / free)));
      const keys = this.queue.takeBatch(size, batch.groupOf);
      if (keys.length === 0) continue;
      this.busy += 1;
      const started = performance.now();
      let failed: K[] = [];
      try {
        failed = (await batch.reconcile(keys, this.abort.signal))?.failed ?? [];
      } catch (err) {
        failed = keys;
        this.o.log.warn(
          {
            controller: this.o.name,
            keys: keys.length,
            first: this.o.keyOf(keys[0] as K),
            err: apiErrorMessage(err),
          },
          'batch reconcile failed; will retry',
        );
      }
      this.busy -= 1;
      const seconds = (performance.now() - started) / 1000 / keys.length;
      const retry = new Set(failed.map(this.o.keyOf));
      for (const key of keys) {
        const failedKey = retry.has(this.o.keyOf(key));
        if (!failedKey) this.queue.forget(key);
        else if (!this.queue.shuttingDown) this.queue.addRateLimited(key);
        this.queue.done(key);
        this.sink?.reconciled(failedKey ? 'error' : 'success', seconds);
      }
    }
  }

  private async work(): Promise<void> {
    const reconcile = this.o.reconcile;
    if (!reconcile) throw new Error(`controller ${this.o.name} has neither reconcile nor batch`);
    for (;;) {
      const key = await this.queue.get();
      if (key === undefined) return;
      const started = performance.now();
      let outcome: ReconcileOutcome = 'success';
      try {
        const result = await reconcile(key, this.abort.signal);
        this.queue.forget(key);
        if (result && result.requeueAfterMs >= 0) {
          outcome = 'requeue_after';
          this.queue.addAfter(key, result.requeueAfterMs);
        }
      } catch (err) {
        outcome = 'error';
        if (!this.queue.shuttingDown) {
          const delay = this.queue.addRateLimited(key);
          this.o.log.warn(
            {
              controller: this.o.name,
              key: this.o.keyOf(key),
              err: apiErrorMessage(err),
              status: apiErrorStatus(err),
              attempt: this.queue.failuresOf(key),
              retryInMs: delay,
            },
            'reconcile failed; will retry',
          );
        }
      } finally {
        this.queue.done(key);
        this.sink?.reconciled(outcome, (performance.now() - started) / 1000);
      }
    }
  }
}
