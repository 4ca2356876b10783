import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { BackoffOptions } from './backoff.ts';
import type { WatchEventType } from './known-objects.ts';
import { ResourceWatcher, type RestartReason } from './watcher.ts';

/** What to watch: a collection path and an optional selection. One informer exists per distinct one. */
export interface InformerSource {
  /** Collection path, e.g. /api/v1/pods or /apis/batch/v1/namespaces/ops/jobs */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
}

export type InformerHandler<T extends KubernetesObject> = (
  type: WatchEventType,
  obj: T,
) => void | Promise<void>;

export interface SubscribeOptions {
  /**
   * Metadata (PartialObjectMetadata) is enough for this subscriber. An informer stays on metadata
   * only while every subscriber says so; a subscriber that needs whole objects switches it.
   */
  metadataOnly?: boolean;
  /** Objects per list page; the smallest asked for wins. */
  pageSize?: number;
}

/** One subscriber's view of a shared informer. */
export interface Subscription {
  /** True once this subscriber has received a full list. */
  readonly synced: boolean;
  waitForSync(): Promise<void>;
  /** Stops delivery to this subscriber; the watch ends with its last subscriber. */
  unsubscribe(): Promise<void>;
}

export interface InformersOptions {
  kc: KubeConfig;
  log: Logger;
  /** Told of every restart of a watch, by the informer's name. */
  onRestart?: (watch: string, reason: RestartReason) => void;
  /** For tests: shorter watch timeouts and backoff. */
  watchTimeoutSeconds?: number;
  backoff?: BackoffOptions;
}

/** What an informer currently knows of the API server's watches, for the health metrics. */
export interface InformerStatus {
  name: string;
  path: string;
  subscribers: number;
  objects: number;
  metadataOnly: boolean;
}

type Phase = 'waiting' | 'listing' | 'live';

interface Subscriber {
  readonly name: string;
  readonly handler: InformerHandler<KubernetesObject>;
  /** Wants whole objects: never joins a list of metadata. */
  readonly needsFull: boolean;
  phase: Phase;
  waiters: (() => void)[];
}

function sourceKey(source: InformerSource): string {
  return `${source.path}?l=${source.labelSelector ?? ''}&f=${source.fieldSelector ?? ''}`;
}

/** A readable name for logs and metrics: the resource plural, with its namespace and selection. */
function informerName(source: InformerSource): string {
  const parts = source.path.split('/');
  const plural = parts.at(-1) ?? source.path;
  const at = parts.indexOf('namespaces');
  const namespace = at >= 0 && at + 2 < parts.length ? parts[at + 1] : undefined;
  const selection = [source.labelSelector, source.fieldSelector].filter(Boolean).join(',');
  return `${plural}${namespace ? `@${namespace}` : ''}${selection ? `{${selection}}` : ''}`;
}

/**
 * One list+watch per resource (and selection) in the process, shared by every controller that
 * needs it, as client-go's shared informers are. Events go to each subscriber in order, one at a
 * time; a subscriber's failure is logged and never stops the others. A subscriber that joins a
 * running informer gets a full list of its own: the informer lists again, hands it everything and
 * the others only what changed, then all continue on the one watch.
 */
export class Informers {
  private readonly informers = new Map<string, SharedInformer>();

  constructor(private readonly o: InformersOptions) {}

  subscribe<T extends KubernetesObject>(
    subscriber: string,
    source: InformerSource,
    handler: InformerHandler<T>,
    options: SubscribeOptions = {},
  ): Subscription {
    const key = sourceKey(source);
    let informer = this.informers.get(key);
    if (!informer) {
      informer = new SharedInformer(this.o, source, () => this.informers.delete(key));
      this.informers.set(key, informer);
    }
    return informer.add(subscriber, handler as InformerHandler<KubernetesObject>, options);
  }

  /** The subscriptions of one component, ended together when it stops. */
  group(subscriber: string): SubscriptionGroup {
    return new SubscriptionGroup(this, subscriber);
  }

  /** Every running informer, for the health metrics and tests. */
  status(): InformerStatus[] {
    return [...this.informers.values()].map((informer) => informer.status());
  }

  /** Stops every informer (the process is shutting down). */
  async stop(): Promise<void> {
    await Promise.all([...this.informers.values()].map((informer) => informer.stop()));
  }
}

/** What a stopped group hands out: nothing is delivered, and nobody waits for it. */
const closedSubscription: Subscription = {
  synced: false,
  waitForSync: () => Promise.resolve(),
  unsubscribe: () => Promise.resolve(),
};

export class SubscriptionGroup {
  private readonly subscriptions: Subscription[] = [];
  private closed = false;

  constructor(
    private readonly informers: Informers,
    private readonly subscriber: string,
  ) {}

  watch<T extends KubernetesObject>(
    source: InformerSource,
    handler: InformerHandler<T>,
    options: SubscribeOptions = {},
  ): Subscription {
    // A component stopped while it was starting must not open watches afterwards.
    if (this.closed) return closedSubscription;
    const subscription = this.informers.subscribe(this.subscriber, source, handler, options);
    this.subscriptions.push(subscription);
    return subscription;
  }

  async stop(): Promise<void> {
    this.closed = true;
    await Promise.all(this.subscriptions.splice(0).map((s) => s.unsubscribe()));
  }
}

class SharedInformer {
  private readonly name: string;
  private readonly subscribers: Subscriber[] = [];
  private watcher: ResourceWatcher<KubernetesObject> | undefined;
  private metadataOnly = true;
  private pageSize = 250;
  /** Whether a list has begun: until then a new subscriber is simply part of the first one. */
  private listed = false;

  constructor(
    private readonly o: InformersOptions,
    private readonly source: InformerSource,
    private readonly onEmpty: () => void,
  ) {
    this.name = informerName(source);
  }

  status(): InformerStatus {
    return {
      name: this.name,
      path: this.source.path,
      subscribers: this.subscribers.length,
      objects: this.watcher?.objectCount ?? 0,
      metadataOnly: this.metadataOnly,
    };
  }

  add(name: string, handler: InformerHandler<KubernetesObject>, options: SubscribeOptions): Subscription {
    const needsFull = !options.metadataOnly;
    const subscriber: Subscriber = { name, handler, needsFull, phase: 'waiting', waiters: [] };
    if (options.pageSize) this.pageSize = Math.min(this.pageSize, options.pageSize);
    this.subscribers.push(subscriber);
    if (!this.watcher) {
      this.metadataOnly = !needsFull;
      this.watcher = this.createWatcher();
      this.watcher.start();
    } else {
      const upgrade = needsFull && this.metadataOnly;
      let listedMetadata = false;
      if (upgrade) {
        this.metadataOnly = false;
        listedMetadata = this.watcher.useFullObjects();
      }
      // Before the first list began, a new subscriber is simply part of it; unless that list
      // brings metadata and it wants whole objects: then it waits for the next one.
      if (this.listed || listedMetadata) {
        this.o.log.debug({ watch: this.name, subscriber: name, upgrade }, 'late subscriber; relisting');
        this.watcher.relist();
      }
    }
    return {
      get synced() {
        return subscriber.phase === 'live';
      },
      // A subscription already ended never syncs: whoever asks is let go at once.
      waitForSync: () =>
        subscriber.phase === 'live' || !this.subscribers.includes(subscriber)
          ? Promise.resolve()
          : new Promise<void>((resolve) => subscriber.waiters.push(resolve)),
      unsubscribe: () => this.remove(subscriber),
    };
  }

  async stop(): Promise<void> {
    // Whoever waits for a sync that will never come is let go.
    for (const s of this.subscribers.splice(0)) for (const resolve of s.waiters.splice(0)) resolve();
    await this.watcher?.stop();
    this.watcher = undefined;
  }

  private async remove(subscriber: Subscriber): Promise<void> {
    const at = this.subscribers.indexOf(subscriber);
    if (at < 0) return;
    this.subscribers.splice(at, 1);
    // Whoever waits for a sync that will never come is let go.
    for (const resolve of subscriber.waiters.splice(0)) resolve();
    if (this.subscribers.length > 0) return;
    this.onEmpty();
    await this.stop();
  }

  private createWatcher(): ResourceWatcher<KubernetesObject> {
    return new ResourceWatcher<KubernetesObject>(
      this.o.kc,
      {
        ...this.source,
        metadataOnly: this.metadataOnly,
        pageSize: this.pageSize,
        ...(this.o.watchTimeoutSeconds ? { watchTimeoutSeconds: this.o.watchTimeoutSeconds } : {}),
        ...(this.o.backoff ? { backoff: this.o.backoff } : {}),
        log: this.o.log.child({ watch: this.name }),
      },
      {
        onEvent: (type, obj) => this.deliver(type, obj),
        onListStart: (metadataOnly) => {
          this.listed = true;
          for (const s of this.subscribers)
            if (s.phase === 'waiting' && !(metadataOnly && s.needsFull)) s.phase = 'listing';
        },
        onListItem: async (change, obj) => {
          for (const s of [...this.subscribers]) {
            const type = s.phase === 'listing' ? 'ADDED' : s.phase === 'live' ? change : undefined;
            if (type) await this.handle(s, type, obj);
          }
        },
        onListed: () => {
          for (const s of this.subscribers) {
            if (s.phase !== 'listing') continue;
            s.phase = 'live';
            for (const resolve of s.waiters.splice(0)) resolve();
          }
        },
        onRestart: (reason) => this.o.onRestart?.(this.name, reason),
      },
    );
  }

  /** Watch events and a relist's deletions go to subscribers that have their list. */
  private async deliver(type: WatchEventType, obj: KubernetesObject): Promise<void> {
    for (const s of [...this.subscribers]) if (s.phase === 'live') await this.handle(s, type, obj);
  }

  private async handle(s: Subscriber, type: WatchEventType, obj: KubernetesObject): Promise<void> {
    try {
      await s.handler(type, obj);
    } catch (err) {
      this.o.log.error(
        {
          err,
          watch: this.name,
          subscriber: s.name,
          object: obj.metadata?.name,
          namespace: obj.metadata?.namespace,
        },
        'event handling failed',
      );
    }
  }
}
