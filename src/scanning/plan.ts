/**
 * Which images need a scan, decided on plain data with an injectable clock. One entry per unique
 * image (by digest where known): however many workload containers run it, it is scanned once per
 * TTL. Failures back off exponentially. Holds keys and timestamps only, never scan results.
 */

import { backoffDelay } from '../kube/index.ts';

export type ImageState = 'idle' | 'queued' | 'running';

/** One container of one workload: what consumes a scan, and what a report describes. */
export interface ContainerRef {
  /** The workload's key (`workloadKey`). */
  readonly workload: string;
  readonly container: string;
}

/** A {@link ContainerRef}'s identity in maps; never parsed back. */
export type ContainerId = string & { readonly __containerId: true };

export function containerId(ref: ContainerRef): ContainerId {
  return `${ref.workload}|${ref.container}` as ContainerId;
}

export interface ImageEntry {
  readonly key: string;
  /** The reference Trivy is given (repo@digest when known, else the spec's image). */
  ref: string;
  state: ImageState;
  /** Every workload container running this image. */
  readonly consumers: Map<ContainerId, ContainerRef>;
  lastSuccessAt: number | undefined;
  failures: number;
  nextAttemptAt: number;
  lastFailure: string | undefined;
}

export interface PlanOptions {
  /** Reports older than this are re-scanned; null = never. */
  ttlMs: number | null;
  /** Delay before the first retry; doubles per consecutive failure. */
  retryDelayMs: number;
  /** Upper bound of the retry delay. */
  maxRetryDelayMs: number;
  /** Called when an image is dropped because nothing runs it any more. */
  onForget?: (key: string) => void;
  /** The jitter's source; tests pin it. */
  random?: () => number;
}

export class ScanPlan {
  private readonly images = new Map<string, ImageEntry>();
  private readonly consumerImage = new Map<ContainerId, string>();

  constructor(
    private readonly options: PlanOptions,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.images.size;
  }

  get(key: string): ImageEntry | undefined {
    return this.images.get(key);
  }

  /**
   * Records that a container runs an image. Returns the image key it ran before when that changed
   * (its old report is stale), or undefined.
   */
  setConsumer(
    consumer: ContainerRef,
    key: string,
    ref: string,
    options: { notBefore?: number } = {},
  ): { previousKey: string | undefined } {
    const id = containerId(consumer);
    const previousKey = this.consumerImage.get(id);
    if (previousKey === key) return { previousKey: undefined };
    if (previousKey !== undefined) this.detach(id, previousKey);
    this.consumerImage.set(id, key);
    let entry = this.images.get(key);
    if (!entry) {
      entry = {
        key,
        ref,
        state: 'idle',
        consumers: new Map(),
        lastSuccessAt: undefined,
        failures: 0,
        nextAttemptAt: options.notBefore ?? 0,
        lastFailure: undefined,
      };
      this.images.set(key, entry);
    }
    entry.consumers.set(id, consumer);
    return { previousKey };
  }

  /** A container (or its workload) went away. Images nobody runs are forgotten unless mid-scan. */
  removeConsumer(consumer: ContainerRef): void {
    const id = containerId(consumer);
    const key = this.consumerImage.get(id);
    if (key === undefined) return;
    this.consumerImage.delete(id);
    this.detach(id, key);
  }

  imageOf(consumer: ContainerRef): string | undefined {
    return this.consumerImage.get(containerId(consumer));
  }

  /** A scan result (from a report written earlier, or a finished Job) is known for this image. */
  recordSuccess(key: string, at: number = this.now()): void {
    const entry = this.images.get(key);
    if (!entry) return;
    entry.lastSuccessAt = Math.max(entry.lastSuccessAt ?? 0, at);
    entry.failures = 0;
    entry.lastFailure = undefined;
    entry.nextAttemptAt = 0;
    entry.state = 'idle';
    this.forgetIfUnused(entry);
  }

  /** A scan failed: back off before the next attempt. Returns the delay chosen. */
  recordFailure(key: string, reason: string): number {
    const entry = this.images.get(key);
    if (!entry) return 0;
    entry.failures += 1;
    entry.lastFailure = reason;
    // Jittered, so images that failed together (a registry outage) do not all retry together.
    const delay = backoffDelay(
      entry.failures - 1,
      { initialMs: this.options.retryDelayMs, maxMs: this.options.maxRetryDelayMs },
      this.options.random,
    );
    entry.nextAttemptAt = this.now() + delay;
    entry.state = 'idle';
    this.forgetIfUnused(entry);
    return delay;
  }

  markRunning(key: string): void {
    const entry = this.images.get(key);
    if (entry) entry.state = 'running';
  }

  /** A scan that was under way ended without a result (its Job is gone): due again when stale. */
  release(key: string): void {
    const entry = this.images.get(key);
    if (!entry || entry.state !== 'running') return;
    entry.state = 'idle';
    this.forgetIfUnused(entry);
  }

  /** Forces a re-scan at the next opportunity (a report was deleted by a user, for instance). */
  invalidate(key: string): void {
    const entry = this.images.get(key);
    if (!entry) return;
    entry.lastSuccessAt = undefined;
    entry.nextAttemptAt = 0;
  }

  /** Whether the last successful scan is older than the TTL (or there is none). */
  isStale(entry: ImageEntry): boolean {
    if (entry.lastSuccessAt === undefined) return true;
    if (this.options.ttlMs === null) return false;
    return this.now() - entry.lastSuccessAt >= this.options.ttlMs;
  }

  /**
   * Images to start scanning now, oldest need first, at most `slots`: idle, consumed, stale, and
   * past any failure backoff. Marks them queued so a second call does not return them again.
   */
  takeDue(slots: number): ImageEntry[] {
    if (slots <= 0) return [];
    const now = this.now();
    const due = [...this.images.values()]
      .filter((e) => e.state === 'idle' && e.consumers.size > 0 && e.nextAttemptAt <= now && this.isStale(e))
      .sort((a, b) => (a.lastSuccessAt ?? 0) - (b.lastSuccessAt ?? 0) || a.key.localeCompare(b.key))
      .slice(0, slots);
    for (const entry of due) entry.state = 'queued';
    return due;
  }

  /** Images waiting for a slot (idle, stale, consumed, not backing off): the scan queue length. */
  waitingCount(): number {
    const now = this.now();
    let n = 0;
    for (const e of this.images.values()) {
      if (e.state === 'idle' && e.consumers.size > 0 && e.nextAttemptAt <= now && this.isStale(e)) n++;
    }
    return n;
  }

  /** When the earliest backoff ends, so the caller can wake up then. */
  nextWakeAt(): number | undefined {
    let next: number | undefined;
    for (const e of this.images.values()) {
      if (e.state === 'idle' && e.consumers.size > 0 && e.nextAttemptAt > this.now()) {
        next = next === undefined ? e.nextAttemptAt : Math.min(next, e.nextAttemptAt);
      }
    }
    return next;
  }

  private detach(consumer: ContainerId, key: string): void {
    const entry = this.images.get(key);
    if (!entry) return;
    entry.consumers.delete(consumer);
    this.forgetIfUnused(entry);
  }

  /** An image nobody runs is dropped once no scan of it is under way. */
  private forgetIfUnused(entry: ImageEntry): void {
    if (entry.consumers.size === 0 && entry.state === 'idle') {
      this.images.delete(entry.key);
      this.options.onForget?.(entry.key);
    }
  }
}
