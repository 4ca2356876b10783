/**
 * Short, label-value-safe hashes: of names (identical to Trivy-Operator's, so hashed report names and
 * name-hash labels match the reports it wrote) and of specs (our own, from canonical JSON).
 */
import { podSpecOf } from './containers.ts';
import { isWorkloadObjectKind, type WorkloadObject } from './kinds.ts';

/** Kubernetes' `rand.SafeEncodeString` alphabet: no vowels, no confusable digits, so no words. */
const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

function fnv1a32(text: string): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash >>> 0;
}

/** FNV-1a (32 bit) of the text, in decimal, each digit mapped through the safe alphabet (≤ 10 chars). */
function safeHash(text: string): string {
  return [...String(fnv1a32(text))].map((digit) => SAFE_ALPHABET[digit.charCodeAt(0) % 27]).join('');
}

/**
 * Trivy-Operator's `ComputeHash` of a string (it hashes Go's debug printing of the value, which for a
 * string is `(string)` followed by the text). Used for hashed report names and `name-hash` labels.
 */
export function nameHash(name: string): string {
  return safeHash(`(string)${name}`);
}

/**
 * JSON with object keys sorted at every level and `undefined`/`null` members left out, so equal
 * content gives equal text whatever the key order or the client that built the object.
 */
export function canonicalJson(value: unknown): string {
  const text = JSON.stringify(value, (_key, member: unknown) => {
    if (member === null || typeof member !== 'object' || Array.isArray(member)) return member;
    // Dates and other objects with toJSON have already been converted before the replacer runs.
    const sorted: Record<string, unknown> = {};
    for (const key of Object.keys(member).sort()) {
      const child = (member as Record<string, unknown>)[key];
      if (child !== undefined && child !== null) sorted[key] = child;
    }
    return sorted;
  }) as string | undefined;
  return text ?? 'null';
}

/** Hash of the canonical JSON of a value; stable across processes and versions of this code. */
export function contentHash(value: unknown): string {
  return safeHash(canonicalJson(value));
}

/**
 * The `resource-spec-hash` of an object: of its pod spec for a workload (minus `nodeName`, which the
 * scheduler fills in and which changes nothing we check), of the whole object otherwise (minus
 * `status` and the metadata the API server changes on every write). A report whose label differs from
 * its workload's current hash is stale.
 */
export function resourceSpecHash(object: WorkloadObject | { kind?: string; [key: string]: unknown }): string {
  if (isWorkloadObjectKind(object.kind)) {
    const spec = podSpecOf(object as WorkloadObject);
    const { nodeName: _nodeName, ...rest } = spec ?? { containers: [] };
    return contentHash(rest);
  }
  const { status: _status, metadata, ...rest } = object as Record<string, unknown>;
  const {
    resourceVersion: _resourceVersion,
    managedFields: _managedFields,
    generation: _generation,
    ...stableMetadata
  } = (metadata ?? {}) as Record<string, unknown>;
  return contentHash({ ...rest, metadata: stableMetadata });
}
