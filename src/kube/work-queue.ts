import { backoffDelay, type BackoffOptions } from './backoff.ts';

/** What a queue tells the health metrics: counted as it happens, sampled on scrape. */
export interface WorkQueueSink {
  added(): void;
  /** A key waited this long between being added and being taken. */
  waited(seconds: number): void;
  /** A key was processed in this long. */
  worked(seconds: number): void;
  retried(): void;
}

/** What a queue holds right now, read at scrape time. */
export interface WorkQueueProbe {
  depth(): number;
  /** Seconds of work in progress, summed over the keys being processed, and the longest one. */
  unfinished(): { totalSeconds: number; longestSeconds: number };
}

export interface WorkQueueOptions<K> {
  /** A key's identity: two keys with the same identity are the same work. */
  identity(key: K): string;
  /** Per-key retry delays after failures: exponential with jitter. */
  backoff: BackoffOptions;
  sink?: WorkQueueSink;
  now?: () => number;
  random?: () => number;
}

/**
 * A de-duplicating, rate-limited work queue, as client-go's: a key is queued at most once, is
 * processed by one worker at a time, and a key added while it is processed is processed again
 * afterwards (the latest state wins, nothing is lost). Failed keys come back after a per-key
 * exponential backoff with jitter until they succeed and are forgotten.
 */
export class WorkQueue<K> {
  private readonly ready: string[] = [];
  private readonly keys = new Map<string, K>();
  /** Queued (or to be queued once processing ends), with when it was added. */
  private readonly dirty = new Map<string, number>();
  private readonly processing = new Map<string, number>();
  private readonly delayed = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  private readonly failures = new Map<string, number>();
  private readonly idleWaiters: (() => void)[] = [];
  private readonly readyWaiters: (() => void)[] = [];
  private head = 0;
  private closed = false;
  private readonly now: () => number;

  constructor(private readonly o: WorkQueueOptions<K>) {
    this.now = o.now ?? Date.now;
  }

  get depth(): number {
    return this.ready.length - this.head;
  }

  get shuttingDown(): boolean {
    return this.closed;
  }

  readonly probe: WorkQueueProbe = {
    depth: () => this.depth,
    unfinished: () => {
      const now = this.now();
      let totalSeconds = 0;
      let longestSeconds = 0;
      for (const started of this.processing.values()) {
        const seconds = (now - started) / 1000;
        totalSeconds += seconds;
        longestSeconds = Math.max(longestSeconds, seconds);
      }
      return { totalSeconds, longestSeconds };
    },
  };

  add(key: K): void {
    if (this.closed) return;
    const id = this.o.identity(key);
    this.keys.set(id, key);
    if (this.dirty.has(id)) return;
    this.dirty.set(id, this.now());
    this.o.sink?.added();
    if (this.processing.has(id)) return;
    this.push(id);
  }

  /** Adds the key after a delay; a key already waiting keeps the earlier time. */
  addAfter(key: K, delayMs: number): void {
    if (this.closed) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const id = this.o.identity(key);
    const at = this.now() + delayMs;
    const waiting = this.delayed.get(id);
    if (waiting && waiting.at <= at) return;
    if (waiting) clearTimeout(waiting.timer);
    this.keys.set(id, key);
    const timer = setTimeout(() => {
      this.delayed.delete(id);
      const current = this.keys.get(id);
      if (current !== undefined) this.add(current);
    }, delayMs);
    timer.unref();
    this.delayed.set(id, { at, timer });
  }

  /** Adds the key after its backoff, which grows with each failure until `forget`. Returns the delay. */
  addRateLimited(key: K): number {
    const id = this.o.identity(key);
    const failures = this.failures.get(id) ?? 0;
    this.failures.set(id, failures + 1);
    this.o.sink?.retried();
    const delay = backoffDelay(failures, this.o.backoff, this.o.random);
    this.addAfter(key, delay);
    return delay;
  }

  /** How many times the key failed in a row. */
  failuresOf(key: K): number {
    return this.failures.get(this.o.identity(key)) ?? 0;
  }

  /** The key succeeded: its next failure starts the backoff from the beginning. */
  forget(key: K): void {
    this.failures.delete(this.o.identity(key));
  }

  /** The next key to process (marked as being processed), or undefined once the queue is shut down. */
  async get(): Promise<K | undefined> {
    while (await this.waitForReady()) {
      // Another worker woken by the same add may have taken it first.
      const id = this.take();
      if (id !== undefined) return this.keys.get(id);
    }
    return undefined;
  }

  /**
   * Resolves true once a key is ready to take (at once if one is), false once the queue is shut
   * down. For workers that take batches with {@link takeBatch}.
   */
  async waitForReady(): Promise<boolean> {
    while (!this.closed && this.depth === 0) {
      await new Promise<void>((resolve) => this.readyWaiters.push(resolve));
    }
    return !this.closed;
  }

  /**
   * Takes the oldest ready key and up to `max - 1` more ready keys of its group, oldest first,
   * all marked as being processed. Empty when nothing is ready.
   */
  takeBatch(max: number, groupOf: (key: K) => string): K[] {
    const first = this.take();
    if (first === undefined) return [];
    const firstKey = this.keys.get(first) as K;
    const group = groupOf(firstKey);
    const batch = [firstKey];
    const rest: string[] = [];
    for (let i = this.head; i < this.ready.length; i++) {
      const id = this.ready[i] as string;
      const key = this.keys.get(id) as K;
      if (batch.length < max && groupOf(key) === group) {
        this.begin(id);
        batch.push(key);
      } else rest.push(id);
    }
    this.ready.length = 0;
    this.ready.push(...rest);
    this.head = 0;
    return batch;
  }

  /** Processing of the key ended; if it was added meanwhile, it is queued again. */
  done(key: K): void {
    const id = this.o.identity(key);
    const started = this.processing.get(id);
    if (started !== undefined) this.o.sink?.worked((this.now() - started) / 1000);
    this.processing.delete(id);
    if (this.dirty.has(id)) this.push(id);
    else if (!this.delayed.has(id)) this.keys.delete(id);
    if (this.isIdle()) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  /** Resolves once nothing is queued or being processed (keys waiting for a retry do not count). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private isIdle(): boolean {
    return this.closed || (this.dirty.size === 0 && this.processing.size === 0);
  }

  /** Stops handing out keys; workers waiting for one receive undefined (or false). */
  shutDown(): void {
    this.closed = true;
    for (const { timer } of this.delayed.values()) clearTimeout(timer);
    this.delayed.clear();
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    for (const resolve of this.readyWaiters.splice(0)) resolve();
  }

  private push(id: string): void {
    this.ready.push(id);
    for (const resolve of this.readyWaiters.splice(0)) resolve();
  }

  private take(): string | undefined {
    if (this.head >= this.ready.length) return undefined;
    const id = this.ready[this.head++] as string;
    // Drop the taken prefix now and then instead of shifting on every take.
    if (this.head > 1024 && this.head * 2 > this.ready.length) {
      this.ready.splice(0, this.head);
      this.head = 0;
    }
    this.begin(id);
    return id;
  }

  private begin(id: string): void {
    const addedAt = this.dirty.get(id) ?? this.now();
    this.dirty.delete(id);
    const now = this.now();
    this.processing.set(id, now);
    this.o.sink?.waited((now - addedAt) / 1000);
  }
}
