/**
 * Every VulnerabilityReport's findings in memory, compactly: fed by the exporter's report watch on
 * every replica, it answers "where does CVE-X run?", holds the first-seen stamps read from the
 * reports' annotations, and is what the new-finding and remediation series are computed from.
 * Never the reports themselves: per finding four interned strings, a severity and a stamp.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { SEVERITIES, type Severity } from '../crds/index.ts';
import type { WatchEventType } from '../kube/index.ts';
import {
  annotationDigest,
  FIRST_SEEN_ANNOTATION,
  findingKey,
  parseFirstSeen,
  type FindingKey,
  type Stamp,
} from './first-seen.ts';
import { StringTable } from './strings.ts';
import {
  imageName,
  normalizeVulnerabilityId,
  reportFindings,
  reportSubject,
  type ReportSubject,
} from './subject.ts';

/** `namespace/name` of a report. */
export type ReportKey = string & { readonly __reportKey: true };
/** Namespace and `registry/repository`: where a finding is new or not. */
export type ScopeKey = string & { readonly __scopeKey: true };

export const reportKey = (namespace: string, name: string): ReportKey => `${namespace}/${name}` as ReportKey;
const scopeKeyOf = (s: ReportSubject): ScopeKey =>
  `${s.namespace}\n${s.registry}/${s.repository}` as ScopeKey;

/** One report as the index holds it. Arrays are parallel, one slot per finding. */
export interface IndexedReport {
  readonly key: ReportKey;
  readonly subject: ReportSubject;
  readonly scope: ScopeKey;
  readonly vulnerabilityIds: Uint32Array;
  readonly packages: Uint32Array;
  readonly installed: Uint32Array;
  readonly fixed: Uint32Array;
  /** Index into SEVERITIES. */
  readonly severities: Uint8Array;
  /** First seen (unix seconds) of tracked findings; 0 = not stamped yet (or not tracked). */
  readonly seen: Uint32Array;
  /** 1 = present when tracking began. */
  readonly baseline: Uint8Array;
  /** Digest of the first-seen annotation the object carries (annotationDigest); undefined: none. */
  readonly annotation: string | undefined;
}

/** A workload container running a vulnerability: one row of "where does CVE-X run?". */
export interface AffectedRow {
  readonly namespace: string;
  readonly resourceKind: string;
  readonly resourceName: string;
  readonly containerName: string;
  readonly image: string;
  readonly vulnerabilityId: string;
  readonly severity: Severity;
  readonly package: string;
  readonly installedVersion: string;
  readonly fixedVersion: string;
  /** The VulnerabilityReport it comes from. */
  readonly report: string;
}

/** A report was added, changed (or its stamps recorded) or removed; `previous` is what it replaced. */
export type IndexListener = (
  key: ReportKey,
  report: IndexedReport | undefined,
  previous: IndexedReport | undefined,
) => void;

export interface FindingsIndexOptions {
  /** Severities whose first-seen is tracked. */
  readonly tracked: ReadonlySet<Severity>;
  /** Whether reports in a namespace count (target/exclude namespaces). */
  readonly namespaceFilter?: (namespace: string) => boolean;
  /**
   * How long the stamp of a finding that left a report is remembered for its scope (default 0:
   * not at all). A rollout deletes the old revision's reports before the new image is scanned,
   * and a rollback brings a finding back: neither makes it new, nor restarts its deadline.
   */
  readonly retainMs?: number;
  /** Unix milliseconds; tests pass their own clock. */
  readonly now?: () => number;
}

/** Departed stamps kept at most (oldest dropped first): a bound whatever the churn. */
const MAX_DEPARTED = 200_000;

const severityIndex = new Map<string, number>(SEVERITIES.map((s, i) => [s, i]));

export class FindingsIndex {
  readonly strings = new StringTable();
  private readonly reports = new Map<ReportKey, IndexedReport>();
  private readonly scopes = new Map<ScopeKey, Set<ReportKey>>();
  private readonly listeners = new Set<IndexListener>();
  private readonly trackedSlots: ReadonlySet<number>;
  /** `scope NUL finding` → the stamp of a finding no longer in that report, until when it counts; oldest first. */
  private readonly departed = new Map<string, { readonly stamp: Stamp; readonly until: number }>();

  constructor(private readonly options: FindingsIndexOptions) {
    this.trackedSlots = new Set([...options.tracked].map((s) => severityIndex.get(s) ?? -1));
  }

  get size(): number {
    return this.reports.size;
  }

  isTracked(severitySlot: number): boolean {
    return this.trackedSlots.has(severitySlot);
  }

  /** Feeds a watch event of a VulnerabilityReport. */
  apply(type: WatchEventType, obj: KubernetesObject): void {
    const key = reportKey(obj.metadata?.namespace ?? '', obj.metadata?.name ?? '');
    const previous = this.reports.get(key);
    const filtered =
      this.options.namespaceFilter && !this.options.namespaceFilter(obj.metadata?.namespace ?? '');
    // Read once: they carry over into the new object, and what it drops is remembered.
    const known = previous ? this.stampsOf(previous) : undefined;
    if (type === 'DELETED' || filtered) {
      if (!previous || !known) return;
      this.remember(previous.scope, known, undefined);
      this.remove(previous);
      this.notify(key, undefined, previous);
      return;
    }
    const next = this.build(key, obj, known);
    if (previous && known) {
      this.remember(previous.scope, known, next);
      this.remove(previous);
    }
    this.reports.set(key, next);
    let members = this.scopes.get(next.scope);
    if (!members) this.scopes.set(next.scope, (members = new Set()));
    members.add(key);
    this.notify(key, next, previous);
  }

  get(key: ReportKey): IndexedReport | undefined {
    return this.reports.get(key);
  }

  values(): IterableIterator<IndexedReport> {
    return this.reports.values();
  }

  /** The other reports of the same namespace and image repository. */
  *peers(report: IndexedReport): Iterable<IndexedReport> {
    for (const key of this.scopes.get(report.scope) ?? []) {
      const peer = this.reports.get(key);
      if (peer && key !== report.key) yield peer;
    }
  }

  /** Reports grouped by namespace and image repository. */
  *scopeGroups(): Iterable<readonly IndexedReport[]> {
    for (const keys of this.scopes.values()) {
      const group: IndexedReport[] = [];
      for (const key of keys) {
        const report = this.reports.get(key);
        if (report) group.push(report);
      }
      yield group;
    }
  }

  subscribe(listener: IndexListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  findingKeyAt(report: IndexedReport, slot: number): FindingKey {
    return findingKey(
      this.strings.value(report.vulnerabilityIds[slot] ?? 0),
      this.strings.value(report.packages[slot] ?? 0),
    );
  }

  /** The stamps a report holds now (tracked findings only). */
  stampsOf(report: IndexedReport): Map<FindingKey, Stamp> {
    const out = new Map<FindingKey, Stamp>();
    for (let i = 0; i < report.seen.length; i++) {
      const at = report.seen[i] ?? 0;
      if (at > 0) out.set(this.findingKeyAt(report, i), { at, baseline: report.baseline[i] === 1 });
    }
    return out;
  }

  /**
   * Records stamps the leader decided on, before its write comes back through the watch, so that
   * deciding again meanwhile gives the same answer (and does not stamp a second "now").
   */
  recordStamps(key: ReportKey, stamps: ReadonlyMap<FindingKey, Stamp>): void {
    const report = this.reports.get(key);
    if (!report) return;
    for (let i = 0; i < report.seen.length; i++) {
      const stamp = stamps.get(this.findingKeyAt(report, i));
      if (!stamp || !this.trackedSlots.has(report.severities[i] ?? -1)) continue;
      report.seen[i] = stamp.at;
      report.baseline[i] = stamp.baseline ? 1 : 0;
    }
    this.notify(key, report, report);
  }

  /** The stamp a finding had in `scope` before it left its last report there, if still remembered. */
  departedStamp(scope: ScopeKey, key: FindingKey): Stamp | undefined {
    const entry = this.departed.get(`${scope}\u0000${key}`);
    if (!entry) return undefined;
    return entry.until > (this.options.now ?? Date.now)() ? entry.stamp : undefined;
  }

  /** Keeps the stamps a report held in `scope` that `next` no longer carries (for retainMs). */
  private remember(
    scope: ScopeKey,
    stamps: ReadonlyMap<FindingKey, Stamp>,
    next: IndexedReport | undefined,
  ): void {
    const retainMs = this.options.retainMs ?? 0;
    if (retainMs <= 0) return;
    const now = (this.options.now ?? Date.now)();
    const kept = next && next.scope === scope ? this.stampsOf(next) : undefined;
    for (const [key, stamp] of stamps) {
      if (kept?.has(key)) continue;
      const id = `${scope}\u0000${key}`;
      const known = this.departed.get(id);
      this.departed.delete(id); // re-inserted last: the map stays in order of departure
      this.departed.set(id, {
        stamp: known && known.stamp.at < stamp.at ? known.stamp : stamp,
        until: now + retainMs,
      });
    }
    for (const [id, entry] of this.departed) {
      if (this.departed.size <= MAX_DEPARTED && entry.until > now) break;
      this.departed.delete(id);
    }
  }

  /**
   * Every workload container whose report lists `vulnerabilityId`, optionally only in some
   * namespaces, by namespace, workload, container and package (the order of /affected and the CLI).
   */
  affected(
    vulnerabilityId: string,
    namespaceAllowed: (namespace: string) => boolean = () => true,
  ): AffectedRow[] {
    const id = this.strings.find(normalizeVulnerabilityId(vulnerabilityId));
    if (id === undefined) return [];
    const rows: AffectedRow[] = [];
    for (const report of this.reports.values()) {
      const ids = report.vulnerabilityIds;
      for (let i = 0; i < ids.length; i++) {
        if (ids[i] !== id) continue;
        if (!namespaceAllowed(report.subject.namespace)) break;
        rows.push(this.row(report, i));
      }
    }
    return rows.sort(byWorkload);
  }

  row(report: IndexedReport, slot: number): AffectedRow {
    const s = report.subject;
    return {
      namespace: s.namespace,
      resourceKind: s.resourceKind,
      resourceName: s.resourceName,
      containerName: s.containerName,
      image: imageName(s),
      vulnerabilityId: this.strings.value(report.vulnerabilityIds[slot] ?? 0),
      severity: SEVERITIES[report.severities[slot] ?? 4] ?? 'UNKNOWN',
      package: this.strings.value(report.packages[slot] ?? 0),
      installedVersion: this.strings.value(report.installed[slot] ?? 0),
      fixedVersion: this.strings.value(report.fixed[slot] ?? 0),
      report: s.report,
    };
  }

  /** `known`: the stamps the report held before this event. */
  private build(
    key: ReportKey,
    obj: KubernetesObject,
    known: ReadonlyMap<FindingKey, Stamp> | undefined,
  ): IndexedReport {
    const subject = reportSubject(obj);
    const findings = reportFindings(obj);
    const n = findings.length;
    const annotation = obj.metadata?.annotations?.[FIRST_SEEN_ANNOTATION];
    const stamps = parseFirstSeen(annotation);
    // A writer that replaces the report without our annotation (Trivy-Operator, an older release)
    // must not make its findings new: what was known a moment ago stays known.
    const report: IndexedReport = {
      key,
      subject,
      scope: scopeKeyOf(subject),
      vulnerabilityIds: new Uint32Array(n),
      packages: new Uint32Array(n),
      installed: new Uint32Array(n),
      fixed: new Uint32Array(n),
      severities: new Uint8Array(n),
      seen: new Uint32Array(n),
      baseline: new Uint8Array(n),
      annotation: annotationDigest(annotation),
    };
    for (let i = 0; i < n; i++) {
      const f = findings[i]!;
      const id = normalizeVulnerabilityId(f.vulnerabilityId);
      report.vulnerabilityIds[i] = this.strings.acquire(id);
      report.packages[i] = this.strings.acquire(f.package);
      report.installed[i] = this.strings.acquire(f.installedVersion);
      report.fixed[i] = this.strings.acquire(f.fixedVersion);
      const slot = severityIndex.get(f.severity) ?? 4;
      report.severities[i] = slot;
      if (!this.trackedSlots.has(slot)) continue;
      const fk = findingKey(id, f.package);
      const stamp = stamps.get(fk) ?? known?.get(fk);
      if (stamp) {
        report.seen[i] = stamp.at;
        report.baseline[i] = stamp.baseline ? 1 : 0;
      }
    }
    return report;
  }

  private remove(report: IndexedReport): void {
    this.reports.delete(report.key);
    const members = this.scopes.get(report.scope);
    members?.delete(report.key);
    if (members?.size === 0) this.scopes.delete(report.scope);
    for (const ids of [report.vulnerabilityIds, report.packages, report.installed, report.fixed]) {
      for (const id of ids) this.strings.release(id);
    }
  }

  private notify(
    key: ReportKey,
    report: IndexedReport | undefined,
    previous: IndexedReport | undefined,
  ): void {
    for (const listener of this.listeners) listener(key, report, previous);
  }
}

// Byte order, not the locale's: the same order on every machine and in every test.
const compare = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
const byWorkload = (a: AffectedRow, b: AffectedRow): number =>
  compare(a.namespace, b.namespace) ||
  compare(a.resourceKind, b.resourceKind) ||
  compare(a.resourceName, b.resourceName) ||
  compare(a.containerName, b.containerName) ||
  compare(a.package, b.package) ||
  compare(a.report, b.report);
