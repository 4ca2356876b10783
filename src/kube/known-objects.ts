import type { KubernetesObject } from '@kubernetes/client-node';

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export function objectKey(obj: KubernetesObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name ?? ''}` : (obj.metadata?.name ?? '');
}

/**
 * What a watcher remembers: the key and resourceVersion of every object it has reported, nothing
 * more. Enough to tell, after a relist, which objects changed and which were deleted while the
 * watch was down, without caching whole objects.
 */
export class KnownObjects {
  private readonly versions = new Map<string, string>();

  get size(): number {
    return this.versions.size;
  }

  /** Records a watch event; returns false for a stale or repeated one that needs no handling. */
  apply(type: WatchEventType, obj: KubernetesObject): boolean {
    const key = objectKey(obj);
    if (type === 'DELETED') return this.versions.delete(key);
    const rv = obj.metadata?.resourceVersion ?? '';
    if (this.versions.get(key) === rv) return false;
    this.versions.set(key, rv);
    return true;
  }

  /**
   * Starts a relist: returns a tracker that classifies each listed object, then reports the keys
   * that were not listed (deleted during the gap).
   */
  beginRelist(): Relist {
    const seen = new Set<string>();
    return {
      classify: (obj) => {
        const key = objectKey(obj);
        seen.add(key);
        const previous = this.versions.get(key);
        const rv = obj.metadata?.resourceVersion ?? '';
        this.versions.set(key, rv);
        if (previous === undefined) return 'ADDED';
        return previous === rv ? undefined : 'MODIFIED';
      },
      finish: () => {
        const gone: string[] = [];
        for (const key of this.versions.keys()) if (!seen.has(key)) gone.push(key);
        for (const key of gone) this.versions.delete(key);
        return gone;
      },
    };
  }
}

export interface Relist {
  /** The event to emit for a listed object, or undefined when it is unchanged since we last saw it. */
  classify(obj: KubernetesObject): WatchEventType | undefined;
  /** Keys that disappeared; call once, after the last page. */
  finish(): string[];
}

/** A minimal stand-in object for a key that was deleted while we were not watching. */
export function tombstone(key: string): KubernetesObject {
  const slash = key.indexOf('/');
  return slash < 0
    ? { metadata: { name: key } }
    : { metadata: { namespace: key.slice(0, slash), name: key.slice(slash + 1) } };
}
