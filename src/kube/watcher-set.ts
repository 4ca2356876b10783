import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { WatchEventType } from './known-objects.ts';
import { ResourceWatcher, type RestartReason, type WatcherOptions } from './watcher.ts';

export type WatchEventHandler<T extends KubernetesObject> = (
  type: WatchEventType,
  obj: T,
) => void | Promise<void>;

/** One watch of a {@link WatcherSet}: where to watch and what to do with each event. */
export interface GuardedWatchSpec<T extends KubernetesObject> extends Pick<
  WatcherOptions,
  'path' | 'labelSelector' | 'fieldSelector' | 'metadataOnly' | 'pageSize'
> {
  onEvent: WatchEventHandler<T>;
}

export interface WatcherSetOptions {
  kc: KubeConfig;
  log: Logger;
  /** Told of every restart of a watch, by the watch's name. */
  onRestart?: (watch: string, reason: RestartReason) => void;
}

/**
 * Wraps an event handler so that a failure is logged and swallowed: one bad object must never
 * stop the watch of all the others.
 */
export function guardEvents<T extends KubernetesObject>(
  watch: string,
  log: Logger,
  onEvent: WatchEventHandler<T>,
): (type: WatchEventType, obj: T) => Promise<void> {
  return async (type, obj) => {
    try {
      await onEvent(type, obj);
    } catch (err) {
      log.error(
        { err, watch, object: obj.metadata?.name, namespace: obj.metadata?.namespace },
        'event handling failed',
      );
    }
  };
}

/** The named watches of one controller: each started at once, guarded, and all stopped together. */
export class WatcherSet {
  private readonly watchers: { stop(): Promise<void> }[] = [];

  constructor(private readonly o: WatcherSetOptions) {}

  /** Creates and starts a watch; its log lines carry `watch: name`. */
  watch<T extends KubernetesObject>(name: string, spec: GuardedWatchSpec<T>): ResourceWatcher<T> {
    const { onEvent, ...where } = spec;
    const watcher = new ResourceWatcher<T>(
      this.o.kc,
      { ...where, log: this.o.log.child({ watch: name }) },
      {
        onEvent: guardEvents(name, this.o.log, onEvent),
        onRestart: (reason) => this.o.onRestart?.(name, reason),
      },
    );
    this.watchers.push(watcher);
    watcher.start();
    return watcher;
  }

  async stop(): Promise<void> {
    await Promise.all(this.watchers.map((watcher) => watcher.stop()));
  }
}
