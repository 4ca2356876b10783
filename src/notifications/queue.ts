/**
 * The notifications waiting to be sent: bounded, oldest dropped first, one waiting update per
 * report (the report is read when it is sent, so a second one would send the same thing), and
 * never two notifications of one report handed out at once (they would race and arrive out of
 * order).
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import type { ReportRef, WebhookVerb } from './payload.ts';

export interface Notification {
  /** Identifies the report (see refKey). */
  readonly key: string;
  readonly ref: ReportRef;
  readonly verb: WebhookVerb;
  /** For deletions only: what is sent, since the report can no longer be read. */
  readonly deleted?: KubernetesObject;
  /** For new findings only: the body, decided when the findings were stamped. */
  readonly body?: string;
}

export interface PushResult {
  /** False when an update of the same report was already waiting (nothing was added). */
  readonly added: boolean;
  /** The oldest notification, removed to make room. */
  readonly dropped?: Notification;
}

export class NotificationQueue {
  private items: Notification[] = [];
  /** The waiting update of each report, if any. */
  private readonly waitingUpdates = new Map<string, Notification>();

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('queue capacity must be ≥ 1');
  }

  get size(): number {
    return this.items.length;
  }

  push(notification: Notification): PushResult {
    const { key } = notification;
    if (notification.verb === 'update') {
      if (this.waitingUpdates.has(key)) return { added: false };
    } else if (notification.verb === 'delete') {
      // The report is gone: a waiting update could only find nothing to send.
      const stale = this.waitingUpdates.get(key);
      if (stale) this.remove(stale);
    }
    let dropped: Notification | undefined;
    if (this.items.length >= this.capacity) {
      dropped = this.items.shift();
      if (dropped) this.forget(dropped);
    }
    this.items.push(notification);
    if (notification.verb === 'update') this.waitingUpdates.set(key, notification);
    return dropped ? { added: true, dropped } : { added: true };
  }

  /** The oldest notification whose report is not busy (being sent), removed from the queue. */
  take(busy: (key: string) => boolean): Notification | undefined {
    const index = this.items.findIndex((item) => !busy(item.key));
    if (index < 0) return undefined;
    const [item] = this.items.splice(index, 1);
    if (item) this.forget(item);
    return item;
  }

  /** Empties the queue, returning what was waiting. */
  clear(): Notification[] {
    const items = this.items;
    this.items = [];
    this.waitingUpdates.clear();
    return items;
  }

  private remove(item: Notification): void {
    const index = this.items.indexOf(item);
    if (index >= 0) this.items.splice(index, 1);
    this.forget(item);
  }

  private forget(item: Notification): void {
    if (this.waitingUpdates.get(item.key) === item) this.waitingUpdates.delete(item.key);
  }
}
