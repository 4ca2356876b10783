/**
 * Decides, from watch events, which reports changed in content and so deserve a notification.
 * Only a fingerprint per report is kept, never the report.
 */
import { createHash } from 'node:crypto';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { WatchEventType } from '../kube/index.ts';

/**
 * How a kind's content changes are seen:
 * - `generation`: the API server bumps `metadata.generation` of a custom resource on every change
 *   outside `metadata`, so a metadata-only watch is enough (reports can be megabytes; the watch
 *   then carries a few hundred bytes per event).
 * - `content`: kinds with a status subresource (ClusterComplianceReport) keep their results in
 *   `.status`, whose changes leave the generation alone; the whole object is watched and hashed.
 */
export type ChangeDetection = 'generation' | 'content';

/** A value that changes exactly when the report's content (anything outside metadata) does. */
export function contentFingerprint(obj: KubernetesObject, detection: ChangeDetection): string {
  // The uid tells a report deleted and re-created while the watch was down from an unchanged one.
  const uid = obj.metadata?.uid ?? '';
  if (detection === 'generation') return `${uid}:${obj.metadata?.generation ?? ''}`;
  const content: Record<string, unknown> = { ...(obj as Record<string, unknown>) };
  delete content.metadata;
  delete content.apiVersion;
  delete content.kind;
  return `${uid}:${createHash('sha256').update(JSON.stringify(content)).digest('base64url')}`;
}

export type Change = 'update' | 'delete';

/** Fingerprints of the reports seen so far, keyed by the caller's report key. */
export class ReportChanges {
  private readonly fingerprints = new Map<string, string>();

  get size(): number {
    return this.fingerprints.size;
  }

  /**
   * Records an event and says what to notify. `baseline` events (the first full list) are only
   * recorded: what exists when the broadcaster starts is not news.
   */
  observe(type: WatchEventType, key: string, fingerprint: string, baseline: boolean): Change | undefined {
    if (type === 'DELETED') {
      const known = this.fingerprints.delete(key);
      return baseline || !known ? undefined : 'delete';
    }
    const previous = this.fingerprints.get(key);
    this.fingerprints.set(key, fingerprint);
    if (baseline || previous === fingerprint) return undefined;
    return 'update';
  }
}
