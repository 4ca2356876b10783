/**
 * Deciding first-seen stamps, on plain data. A finding's first-seen belongs to its namespace and
 * image repository: a report takes the earliest stamp any report of that scope holds for it, so a
 * second workload, a new tag or a rollout of the same repository brings nothing new (the old
 * revision's stamps are remembered for a while after its reports go), while the same finding
 * arriving in another namespace is new there.
 */
import { SEVERITIES } from '../crds/index.ts';
import { formatFirstSeen, type FindingKey, type Stamp } from './first-seen.ts';
import type { FindingsIndex, IndexedReport } from './findings-index.ts';

export interface StampDecision {
  /** Every tracked finding of the report with its stamp. */
  readonly stamps: Map<FindingKey, Stamp>;
  /** Slots stamped now for the first time, not as baseline: the report's new findings. */
  readonly fresh: readonly number[];
  /** The annotation value to write. */
  readonly annotation: string;
  /** Entries left out of the annotation for its size. */
  readonly omitted: number;
}

/**
 * `nowSeconds` stamps findings nobody in the scope has seen; with `baseline` they are marked as
 * present before tracking began (the first start on a cluster that already has reports).
 */
export function decideStamps(
  index: FindingsIndex,
  report: IndexedReport,
  nowSeconds: number,
  baseline: boolean,
): StampDecision {
  const scopeStamps = new Map<FindingKey, Stamp>();
  for (const peer of index.peers(report)) {
    for (let i = 0; i < peer.seen.length; i++) {
      const at = peer.seen[i] ?? 0;
      if (at === 0) continue;
      const key = index.findingKeyAt(peer, i);
      const known = scopeStamps.get(key);
      if (!known || at < known.at) scopeStamps.set(key, { at, baseline: peer.baseline[i] === 1 });
    }
  }
  const stamps = new Map<FindingKey, Stamp>();
  const fresh: number[] = [];
  // Most severe first, so a report too big for the annotation loses its lowest severities.
  const order: { key: FindingKey; severity: number }[] = [];
  for (let i = 0; i < report.seen.length; i++) {
    const severity = report.severities[i] ?? SEVERITIES.length - 1;
    if (!index.isTracked(severity)) continue;
    const key = index.findingKeyAt(report, i);
    if (stamps.has(key)) continue; // the same package twice (two paths): one finding
    const own =
      (report.seen[i] ?? 0) > 0 ? { at: report.seen[i]!, baseline: report.baseline[i] === 1 } : undefined;
    // A peer's stamp, or the one it had before it left the scope (a rollout's old revision).
    const peer = scopeStamps.get(key) ?? index.departedStamp(report.scope, key);
    let stamp = own && (!peer || own.at <= peer.at) ? own : peer;
    if (!stamp) {
      stamp = { at: nowSeconds, baseline };
      if (!baseline) fresh.push(i);
    }
    stamps.set(key, stamp);
    order.push({ key, severity });
  }
  order.sort((a, b) => a.severity - b.severity);
  const { value, omitted } = formatFirstSeen(
    stamps,
    order.map((o) => o.key),
  );
  return { stamps, fresh, annotation: value, omitted };
}
