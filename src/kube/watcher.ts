import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { backoffDelay, defaultBackoff, type BackoffOptions } from './backoff.ts';
import { apiErrorMessage, apiErrorStatus, isGone } from './errors.ts';
import { KnownObjects, tombstone, type WatchEventType } from './known-objects.ts';
import { streamLines } from './lines.ts';
import { kubeRequestJson, openKubeRequest, type Query } from './request.ts';

export type RestartReason = 'closed' | 'gone' | 'error' | 'stalled';

export interface WatchHandlers<T extends KubernetesObject> {
  /**
   * Called in order, one at a time (awaited). After a relist, objects deleted while the watch was
   * down arrive as DELETED with only namespace and name set.
   */
  onEvent(type: WatchEventType, obj: T): void | Promise<void>;
  /** A watch or list ended and is being restarted, and why. */
  onRestart?(reason: RestartReason, error?: unknown): void;
  /**
   * When set, called for every listed object instead of `onEvent`, with the event it means to
   * someone who saw the previous list (undefined: unchanged). Lets a shared informer hand a late
   * subscriber everything while the others get only what changed.
   */
  onListItem?(change: WatchEventType | undefined, obj: T): void | Promise<void>;
  /**
   * A list's first page has arrived and is about to be delivered; `metadataOnly` says what its
   * objects are (every page of one list is asked for the same way).
   */
  onListStart?(metadataOnly: boolean): void;
  /** A full list (the deletions it found included) has been delivered. */
  onListed?(): void;
}

export interface WatcherOptions {
  /** Collection path, e.g. /api/v1/pods or /apis/aquasecurity.github.io/v1alpha1/vulnerabilityreports */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Receive only metadata (PartialObjectMetadata): for callers that need labels, annotations and
   * owners of objects that can be huge, such as reports.
   */
  metadataOnly?: boolean;
  /** Objects per list page; keep it small for big objects such as reports. */
  pageSize?: number;
  /** Server-side watch timeout; the watch is re-opened from the last resourceVersion after it. */
  watchTimeoutSeconds?: number;
  /** No line at all (not even a bookmark) for this long means the connection is dead. */
  stallTimeoutMs?: number;
  backoff?: BackoffOptions;
  log: Logger;
}

/**
 * List, then watch from the list's resourceVersion, forever: restarts with backoff on errors,
 * relists on 410 Gone, re-opens a watch the server closed, and aborts a watch that went silent.
 * Keeps only keys and resourceVersions (KnownObjects), never whole objects.
 */
export class ResourceWatcher<T extends KubernetesObject> {
  private readonly known = new KnownObjects();
  private readonly options: Required<
    Omit<WatcherOptions, 'labelSelector' | 'fieldSelector' | 'metadataOnly'>
  > &
    Pick<WatcherOptions, 'labelSelector' | 'fieldSelector' | 'metadataOnly'>;
  private abort = new AbortController();
  private running: Promise<void> | undefined;
  private syncedOnce = false;
  private syncWaiters: (() => void)[] = [];
  private resourceVersion: string | undefined;
  private relistRequested = false;
  private connection: AbortController | undefined;

  constructor(
    private readonly kc: KubeConfig,
    options: WatcherOptions,
    private readonly handlers: WatchHandlers<T>,
  ) {
    this.options = {
      pageSize: 250,
      watchTimeoutSeconds: 300 + Math.floor(Math.random() * 300),
      stallTimeoutMs: 0,
      backoff: defaultBackoff,
      ...options,
    };
    if (!this.options.stallTimeoutMs)
      this.options.stallTimeoutMs = this.options.watchTimeoutSeconds * 1000 + 60_000;
  }

  /** True once the first full list has been delivered. */
  get synced(): boolean {
    return this.syncedOnce;
  }

  get objectCount(): number {
    return this.known.size;
  }

  start(): void {
    this.running ??= this.loop();
  }

  waitForSync(): Promise<void> {
    if (this.syncedOnce) return Promise.resolve();
    return new Promise((resolve) => this.syncWaiters.push(resolve));
  }

  /** Lists again soon (the open watch is closed first); requests before the list starts coalesce. */
  relist(): void {
    this.relistRequested = true;
    this.connection?.abort();
  }

  /**
   * Whole objects instead of metadata from the next list or watch on (a list under way stays as it
   * began). True when that changes what is asked for: what was received so far was metadata.
   */
  useFullObjects(): boolean {
    const was = this.metadataOnly;
    this.options.metadataOnly = false;
    return was;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running?.catch(() => {});
    this.running = undefined;
  }

  private get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  private async loop(): Promise<void> {
    let attempt = 0;
    let needList = true;
    while (!this.stopped) {
      try {
        if (needList) {
          await this.list();
          needList = false;
        }
        const startedAt = Date.now();
        const reason = await this.watchOnce();
        if (this.stopped) return;
        if (this.relistRequested) {
          this.relistRequested = false;
          needList = true;
          continue;
        }
        // A watch that ran for a while was healthy; start backing off from scratch next time.
        if (Date.now() - startedAt > 30_000) attempt = 0;
        if (reason === 'gone') needList = true;
        this.handlers.onRestart?.(reason);
        if (reason === 'stalled')
          this.options.log.warn({ path: this.options.path }, 'watch stalled; reconnecting');
        // A watch that the server ends at once (or that expired/stalled) must not turn into a busy loop.
        if (reason !== 'closed' || Date.now() - startedAt < 1_000) {
          await this.pause(backoffDelay(attempt++, this.options.backoff));
        }
      } catch (err) {
        if (this.stopped) return;
        const gone = isGone(err);
        needList = needList || gone;
        this.handlers.onRestart?.(gone ? 'gone' : 'error', err);
        const delay = backoffDelay(attempt++, this.options.backoff);
        this.options.log.warn(
          {
            path: this.options.path,
            status: apiErrorStatus(err),
            err: apiErrorMessage(err),
            retryInMs: delay,
          },
          gone ? 'resourceVersion expired; relisting' : 'watch failed; retrying',
        );
        await this.pause(delay);
      }
    }
  }

  private async pause(ms: number): Promise<void> {
    await sleep(ms, undefined, { signal: this.abort.signal }).catch(() => {});
  }

  /** For metadata only, as client-go's metadata informer asks: the list and the watch each name their type. */
  private accept(request: 'list' | 'watch'): string | undefined {
    if (!this.metadataOnly) return undefined;
    const as = request === 'list' ? 'PartialObjectMetadataList' : 'PartialObjectMetadata';
    return `application/json;as=${as};g=meta.k8s.io;v=v1,application/json`;
  }

  private get metadataOnly(): boolean {
    return this.options.metadataOnly === true;
  }

  private baseQuery(): Query {
    return { labelSelector: this.options.labelSelector, fieldSelector: this.options.fieldSelector };
  }

  /**
   * Lists page by page, emitting only what changed since we last knew, then the deletions. The
   * next page is requested before this one is handled, so the API server produces it while we
   * handle this one (at most two pages in memory).
   */
  private async list(): Promise<void> {
    const relist = this.known.beginRelist();
    const metadataOnly = this.metadataOnly;
    const accept = this.accept('list');
    let first = true;
    let resourceVersion: string | undefined;
    type Page = { metadata?: { resourceVersion?: string; continue?: string }; items?: T[] };
    const fetchPage = (continueToken: string | undefined): Promise<Page> =>
      kubeRequestJson<Page>(this.kc, {
        path: this.options.path,
        query: { ...this.baseQuery(), limit: this.options.pageSize, continue: continueToken },
        accept,
        signal: this.abort.signal,
      });
    let next: Promise<Page> | undefined = fetchPage(undefined);
    try {
      while (next && !this.stopped) {
        const page: Page = await next;
        // Said once the first page is in: whoever subscribed before that is part of this list.
        if (first) this.handlers.onListStart?.(metadataOnly);
        first = false;
        resourceVersion = page.metadata?.resourceVersion;
        const continueToken: string | undefined = page.metadata?.continue || undefined;
        next = continueToken ? fetchPage(continueToken) : undefined;
        for (const item of page.items ?? []) {
          const type = relist.classify(item);
          if (this.handlers.onListItem) await this.handlers.onListItem(type, item);
          else if (type) await this.handlers.onEvent(type, item);
        }
      }
    } finally {
      // A handler that threw leaves the prefetched page unread; its failure is not news.
      next?.catch(() => {});
    }
    // Stopped mid-list: what was not listed was not deleted.
    if (this.stopped) return;
    for (const key of relist.finish()) await this.handlers.onEvent('DELETED', tombstone(key) as T);
    this.resourceVersion = resourceVersion;
    this.handlers.onListed?.();
    if (!this.syncedOnce) {
      this.syncedOnce = true;
      for (const resolve of this.syncWaiters.splice(0)) resolve();
    }
  }

  /** One watch connection; resolves with why it ended. Events are handled strictly in order. */
  private async watchOnce(): Promise<RestartReason> {
    const connection = new AbortController();
    this.connection = connection;
    // A relist asked for before this connection existed must still happen; and a watcher stopped
    // meanwhile (its abort event already fired) must not open one.
    if (this.relistRequested || this.stopped) return 'closed';
    const onStop = () => connection.abort();
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    let stalled = false;
    let stallTimer: NodeJS.Timeout | undefined;
    const armStallTimer = () => {
      clearTimeout(stallTimer);
      stallTimer = setTimeout(() => {
        stalled = true;
        connection.abort();
      }, this.options.stallTimeoutMs);
      stallTimer.unref();
    };
    try {
      armStallTimer();
      const res = await openKubeRequest(this.kc, {
        path: this.options.path,
        query: {
          ...this.baseQuery(),
          watch: true,
          allowWatchBookmarks: true,
          resourceVersion: this.resourceVersion,
          timeoutSeconds: this.options.watchTimeoutSeconds,
        },
        accept: this.accept('watch'),
        signal: connection.signal,
      });
      for await (const line of streamLines(res)) {
        armStallTimer();
        if (!line) continue;
        const event = JSON.parse(line) as { type: string; object: T & { code?: number } };
        const rv = event.object.metadata?.resourceVersion;
        if (event.type === 'BOOKMARK') {
          if (rv) this.resourceVersion = rv;
          continue;
        }
        if (event.type === 'ERROR') {
          // The API server reports an expired resourceVersion in-stream as a Status with code 410.
          if (isGone(event.object)) return 'gone';
          throw Object.assign(new Error(apiErrorMessage(event.object)), { code: event.object.code });
        }
        const type = event.type as WatchEventType;
        if (this.known.apply(type, event.object)) await this.handlers.onEvent(type, event.object);
        if (rv) this.resourceVersion = rv;
      }
      return 'closed';
    } catch (err) {
      if (stalled) return 'stalled';
      if (this.stopped || this.relistRequested) return 'closed';
      throw err;
    } finally {
      clearTimeout(stallTimer);
      this.abort.signal.removeEventListener('abort', onStop);
      connection.abort();
      this.connection = undefined;
    }
  }
}
