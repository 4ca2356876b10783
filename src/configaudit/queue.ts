/**
 * Objects waiting to be audited, grouped by kind. A batch holds one kind only: Trivy decides
 * whether a check applies by looking at all inputs of a run, so mixing kinds would report, say,
 * ClusterRole checks as passed on a Deployment. Kinds take turns by the age of their oldest entry.
 */
export interface AuditBatch {
  readonly kind: string;
  /** `namespace/name` (or `name` for cluster-scoped kinds), oldest first. */
  readonly keys: string[];
}

export class AuditQueue {
  /** kind → key → sequence number when queued (insertion order = age). */
  private readonly pending = new Map<string, Map<string, number>>();
  private sequence = 0;
  private count = 0;

  get size(): number {
    return this.count;
  }

  /** Queues an object; one already waiting keeps its place. */
  add(kind: string, key: string): void {
    let keys = this.pending.get(kind);
    if (!keys) {
      keys = new Map();
      this.pending.set(kind, keys);
    }
    if (keys.has(key)) return;
    keys.set(key, this.sequence++);
    this.count += 1;
  }

  remove(kind: string, key: string): void {
    const keys = this.pending.get(kind);
    if (keys?.delete(key)) {
      this.count -= 1;
      if (keys.size === 0) this.pending.delete(kind);
    }
  }

  has(kind: string, key: string): boolean {
    return this.pending.get(kind)?.has(key) ?? false;
  }

  /** Takes up to `max` objects of the kind whose oldest entry waited longest. */
  take(max: number): AuditBatch | undefined {
    let chosen: string | undefined;
    let oldest = Infinity;
    for (const [kind, keys] of this.pending) {
      const first = keys.values().next().value;
      if (first !== undefined && first < oldest) {
        oldest = first;
        chosen = kind;
      }
    }
    if (chosen === undefined) return undefined;
    const keys = this.pending.get(chosen) ?? new Map<string, number>();
    const taken: string[] = [];
    for (const key of keys.keys()) {
      if (taken.length >= max) break;
      taken.push(key);
    }
    for (const key of taken) this.remove(chosen, key);
    return { kind: chosen, keys: taken };
  }
}
