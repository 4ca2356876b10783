/**
 * The annotation that remembers, on each VulnerabilityReport, when its tracked findings were first
 * seen. It lives on the report because the report is what replicas already watch (every replica
 * derives the same new-finding series from it), it survives restarts and leader changes, it goes
 * away with the report, and it is bounded by the report's own findings. Format, readable with
 * `kubectl get vuln -o yaml`:
 *
 *   trivy-lookout.dev/first-seen: '{"2026-12-03T04:00:00Z":["CVE-2021-44228 org.apache.logging.log4j:log4j-core"],
 *                                  "2026-11-20T10:00:00Z baseline":["TEST-2026-0003 liblz4-1"]}'
 *
 * A key is an RFC 3339 time (seconds), optionally followed by ` baseline` for findings that were
 * already present when tracking began (never announced as new); each entry is `<ID> <package>`.
 */

import { createHash } from 'node:crypto';
import { rfc3339Seconds } from '../reports/index.ts';

export const FIRST_SEEN_ANNOTATION = 'trivy-lookout.dev/first-seen';

/** A short digest of an annotation value: what memory keeps instead of the value itself. */
export function annotationDigest(value: string | undefined): string | undefined {
  return value === undefined ? undefined : createHash('sha1').update(value).digest('base64url');
}

/**
 * Most bytes the annotation may take. The API server allows 256 KiB for all of an object's
 * annotations together; this leaves room for the others. Past it, entries are left out
 * lowest severity first (they stay known in memory, but a restart would see them as new).
 */
export const FIRST_SEEN_MAX_BYTES = 128 * 1024;

/** `<vulnerability ID> <package>`: the identity of a finding within an image repository. */
export type FindingKey = string & { readonly __findingKey: true };

export function findingKey(vulnerabilityId: string, pkg: string): FindingKey {
  return `${vulnerabilityId} ${pkg}` as FindingKey;
}

export interface Stamp {
  /** Unix seconds. */
  readonly at: number;
  readonly baseline: boolean;
}

/** Reads the annotation; anything unreadable is ignored entry by entry (it is rewritten anyway). */
export function parseFirstSeen(value: string | undefined): Map<FindingKey, Stamp> {
  const out = new Map<FindingKey, Stamp>();
  if (!value) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    return out;
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return out;
  for (const [key, entries] of Object.entries(parsed as Record<string, unknown>)) {
    const [time = '', flag] = key.split(' ');
    const ms = Date.parse(time);
    if (!Number.isFinite(ms) || (flag !== undefined && flag !== 'baseline') || !Array.isArray(entries))
      continue;
    const stamp: Stamp = { at: Math.floor(ms / 1000), baseline: flag === 'baseline' };
    for (const entry of entries) {
      if (typeof entry !== 'string' || !entry.includes(' ')) continue;
      const previous = out.get(entry as FindingKey);
      if (!previous || stamp.at < previous.at) out.set(entry as FindingKey, stamp);
    }
  }
  return out;
}

/**
 * Writes the annotation, deterministically (same stamps → same text, so an unchanged value is
 * never rewritten). `order` lists the keys most worth keeping first; past FIRST_SEEN_MAX_BYTES the
 * rest are left out and counted in `omitted`.
 */
export function formatFirstSeen(
  stamps: ReadonlyMap<FindingKey, Stamp>,
  order: readonly FindingKey[],
): { value: string; omitted: number } {
  const groups = new Map<string, FindingKey[]>();
  let bytes = 2;
  let omitted = 0;
  for (const key of order) {
    const stamp = stamps.get(key);
    if (!stamp) continue;
    const group = `${rfc3339Seconds(new Date(stamp.at * 1000))}${stamp.baseline ? ' baseline' : ''}`;
    const cost = Buffer.byteLength(JSON.stringify(key)) + 1 + (groups.has(group) ? 0 : group.length + 6);
    if (bytes + cost > FIRST_SEEN_MAX_BYTES) {
      omitted++;
      continue;
    }
    bytes += cost;
    const list = groups.get(group);
    if (list) list.push(key);
    else groups.set(group, [key]);
  }
  const sorted = [...groups.keys()].sort();
  const body = Object.fromEntries(sorted.map((group) => [group, [...(groups.get(group) ?? [])].sort()]));
  return { value: JSON.stringify(body), omitted };
}
