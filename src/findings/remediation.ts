/**
 * Remediation deadlines over the index: per namespace and severity, how many findings are open
 * under a deadline, how many are past it, and when the oldest (and on average they) were first
 * seen. A finding is counted once
 * per namespace and image repository, however many workloads run it; its age runs from its
 * first-seen stamp. Computed per scope and cached until a report of that scope changes, so a
 * scrape only compares a few sorted arrays with the clock.
 */
import { SEVERITIES, type Severity } from '../crds/index.ts';
import type { FindingsIndex, IndexedReport, ScopeKey } from './findings-index.ts';

export interface DeadlinePolicy {
  /** Per severity; a severity without an entry has no deadline. */
  readonly deadlinesMs: Readonly<Partial<Record<Severity, number>>>;
  /** Only findings with a fixed version count. */
  readonly fixableOnly: boolean;
}

export interface RemediationRow {
  readonly namespace: string;
  readonly severity: Severity;
  readonly open: number;
  readonly overdue: number;
  /** First-seen (unix seconds) of the oldest open finding, and the mean first-seen. */
  readonly oldestFirstSeen: number;
  readonly meanFirstSeen: number;
}

/** The rows at a time, and until when they hold if no report changes (the next deadline passed). */
export interface RemediationState {
  readonly rows: readonly RemediationRow[];
  readonly validUntil: number;
}

interface ScopeSummary {
  readonly namespace: string;
  /** Per severity slot: first-seen seconds of the open findings, ascending. */
  readonly firstSeen: readonly (readonly number[])[];
  readonly sums: readonly number[];
}

export class RemediationView {
  private readonly cache = new Map<ScopeKey, ScopeSummary>();
  private readonly deadlineSlots: readonly (number | undefined)[];

  constructor(
    private readonly index: FindingsIndex,
    private readonly policy: DeadlinePolicy,
  ) {
    this.deadlineSlots = SEVERITIES.map((s) => policy.deadlinesMs[s]);
    index.subscribe((_key, report, previous) => {
      if (report) this.cache.delete(report.scope);
      if (previous) this.cache.delete(previous.scope);
    });
  }

  /**
   * Counts, oldest and mean first-seen per namespace and severity. Only the overdue counts move
   * with the clock, so the answer says until when it holds.
   */
  state(nowSeconds: number): RemediationState {
    const totals = new Map<string, { open: number; overdue: number; oldest: number; sum: number }>();
    let validUntil = Infinity;
    for (const group of this.index.scopeGroups()) {
      const first = group[0];
      if (!first) continue;
      let summary = this.cache.get(first.scope);
      if (!summary) this.cache.set(first.scope, (summary = this.summarise(group)));
      for (let slot = 0; slot < SEVERITIES.length; slot++) {
        const deadline = this.deadlineSlots[slot];
        const seen = summary.firstSeen[slot] ?? [];
        if (deadline === undefined || seen.length === 0) continue;
        const key = `${summary.namespace}\n${slot}`;
        let total = totals.get(key);
        if (!total) totals.set(key, (total = { open: 0, overdue: 0, oldest: Infinity, sum: 0 }));
        total.open += seen.length;
        const overdue = countAtOrBefore(seen, nowSeconds - deadline / 1000);
        total.overdue += overdue;
        // The next finding of this scope to pass its deadline changes the count then.
        const next = seen[overdue];
        if (next !== undefined) validUntil = Math.min(validUntil, next + deadline / 1000);
        total.oldest = Math.min(total.oldest, seen[0] ?? Infinity);
        total.sum += summary.sums[slot] ?? 0;
      }
    }
    const rows: RemediationRow[] = [];
    for (const [key, t] of totals) {
      const [namespace = '', slot = '4'] = key.split('\n');
      rows.push({
        namespace,
        severity: SEVERITIES[Number(slot)] ?? 'UNKNOWN',
        open: t.open,
        overdue: t.overdue,
        oldestFirstSeen: t.oldest,
        meanFirstSeen: Math.round(t.sum / t.open),
      });
    }
    return { rows, validUntil };
  }

  private summarise(group: readonly IndexedReport[]): ScopeSummary {
    const earliest = new Map<number, { at: number; slot: number }>();
    for (const report of group) {
      for (let i = 0; i < report.seen.length; i++) {
        const at = report.seen[i] ?? 0;
        const slot = report.severities[i] ?? 4;
        if (at === 0 || this.deadlineSlots[slot] === undefined) continue;
        if (this.policy.fixableOnly && this.index.strings.value(report.fixed[i] ?? 0) === '') continue;
        // IDs and packages are interned, so the pair of numbers is the finding's identity.
        const id = (report.vulnerabilityIds[i] ?? 0) * 2 ** 26 + (report.packages[i] ?? 0);
        const known = earliest.get(id);
        if (!known || at < known.at) earliest.set(id, { at, slot });
      }
    }
    const firstSeen: number[][] = SEVERITIES.map(() => []);
    const sums = SEVERITIES.map(() => 0);
    for (const { at, slot } of earliest.values()) {
      firstSeen[slot]?.push(at);
      sums[slot] = (sums[slot] ?? 0) + at;
    }
    for (const list of firstSeen) list.sort((a, b) => a - b);
    return { namespace: group[0]?.subject.namespace ?? '', firstSeen, sums };
  }
}

/** How many of the ascending `values` are ≤ `limit`. */
function countAtOrBefore(values: readonly number[], limit: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((values[mid] ?? Infinity) <= limit) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
