/**
 * What the exporter remembers of each report: per family, its series pre-rendered and compressed
 * as one gzip member, plus the few numbers the aggregates and report-age metrics need. Never the
 * report itself. A change replaces exactly the entry of that report, so the series it emitted are
 * removed exactly, and a scrape only concatenates stored members (see scrape.ts).
 */
import { gzipSync } from 'node:zlib';
import { ReportKind, type ReportKindName } from '../crds/index.ts';
import { VulnerabilityAggregates } from './aggregates.ts';
import { gaugeHeader } from './exposition.ts';
import type { ActiveFamily, FamilyId, Layout } from './families.ts';
import {
  renderReport,
  type RenderedReport,
  type ReportWarningCode,
  type VulnerabilityTotals,
} from './render.ts';

/** zlib level of stored members: 6, the default, packs report text about 15:1 (see bench/metrics.ts). */
const GZIP_LEVEL = 6;

/** Things worth counting or logging that the store notices; the exporter wires them to metrics. */
export interface StoreEvents {
  warnings?(kind: ReportKindName, code: ReportWarningCode, count: number): void;
  /** Rows of one report that repeated a label set (scope 'report'), or a label set two reports share ('reports'). */
  duplicates?(family: string, scope: 'report' | 'reports', count: number): void;
  conflict?(family: string, series: string, reports: readonly string[]): void;
  renderFailed?(kind: ReportKindName, key: string, err: unknown): void;
}

interface ContentSeries {
  /** `name{labels}`: the identity two reports may share. */
  readonly series: string;
  readonly line: string;
}

interface Entry {
  readonly key: string;
  readonly namespace: string;
  readonly updatedAt: number | undefined;
  /** Per slot: the report's series of that family as one gzip member ('report' identity families). */
  readonly chunks: readonly (Buffer | undefined)[];
  /** Per slot: series count (for 'content' families, before arbitration). */
  readonly counts: readonly number[];
  /** Per slot: series of 'content' identity families, kept as text since they are few and arbitrated. */
  readonly content: readonly (readonly ContentSeries[] | undefined)[];
  readonly vulnerabilities: VulnerabilityTotals | undefined;
  readonly bytes: number;
}

/** One family as a scrape writes it: header member, then the members of every report. */
export interface FamilySnapshot {
  readonly family: ActiveFamily;
  /** gzip member of the `# HELP`/`# TYPE` lines. */
  readonly header: Buffer;
  /**
   * The family's members, produced while the scrape streams (so no single step touches every
   * report). Entries are captured when the snapshot is taken and never change, so a report that
   * changes mid-scrape is written once, old or new, never twice.
   */
  members(): Iterable<Buffer>;
  readonly series: number;
}

/** A consistent view for one scrape: stored members are immutable, so later changes do not affect it. */
export interface Snapshot {
  readonly families: readonly FamilySnapshot[];
}

/** Copies into a buffer of exactly its size: zlib's output may be a slice of a much larger allocation. */
function compact(buffer: Buffer): Buffer {
  const copy = Buffer.allocUnsafeSlow(buffer.length);
  buffer.copy(copy);
  return copy;
}

export function gzipMember(text: string): Buffer {
  return compact(gzipSync(Buffer.from(text, 'utf8'), { level: GZIP_LEVEL }));
}

export interface SeriesStoreOptions {
  /** Whether reports in this namespace count (`targetNamespaces`/`excludeNamespaces`); cluster-scoped reports always do. */
  namespaceFilter?: (namespace: string) => boolean;
  events?: StoreEvents;
}

export class SeriesStore {
  private readonly entries = new Map<ReportKindName, Map<string, Entry>>();
  private readonly seriesPerSlot: number[];
  /** Per content-identity slot: series → report keys emitting it, first one wins. */
  private readonly owners = new Map<number, Map<string, string[]>>();
  private readonly headers: Buffer[];
  private readonly aggregates = new VulnerabilityAggregates(gzipMember);
  private storedBytes = 0;
  private readonly events: StoreEvents;
  private readonly namespaceFilter: (namespace: string) => boolean;

  constructor(
    readonly layout: Layout,
    options: SeriesStoreOptions = {},
  ) {
    this.events = options.events ?? {};
    this.namespaceFilter = options.namespaceFilter ?? (() => true);
    this.seriesPerSlot = layout.families.map(() => 0);
    this.headers = layout.families.map((f) => gzipMember(gaugeHeader(f.spec.name, f.spec.help)));
    for (const kind of layout.kinds) this.entries.set(kind, new Map());
    for (const f of layout.families) if (f.spec.identity === 'content') this.owners.set(f.slot, new Map());
  }

  /** Renders a report and replaces whatever this report emitted before. */
  upsert(kind: ReportKindName, obj: unknown): void {
    const map = this.entries.get(kind);
    if (!map) return;
    let rendered: RenderedReport;
    try {
      rendered = renderReport(kind, obj, this.layout);
    } catch (err) {
      // The renderers are written not to throw; if one does, the report's old series must not linger.
      const key = keyOf(obj);
      this.events.renderFailed?.(kind, key, err);
      if (key) this.remove(kind, key);
      return;
    }
    for (const [code, count] of rendered.warnings) this.events.warnings?.(kind, code, count);
    for (const [id, count] of rendered.duplicates) {
      const family = this.layout.families[this.layout.slots[id] ?? -1];
      if (family) this.events.duplicates?.(family.spec.name, 'report', count);
    }
    if (rendered.key === '') return;
    if (ReportKind[kind].namespaced && !this.namespaceFilter(rendered.namespace)) {
      this.remove(kind, rendered.key);
      return;
    }
    const entry = this.toEntry(rendered);
    const old = map.get(rendered.key);
    if (old) this.detach(kind, old, entry);
    map.set(rendered.key, entry);
    this.attach(kind, entry, old);
  }

  /** Removes every series a report emitted. `key` is `namespace/name` or `name`. */
  remove(kind: ReportKindName, key: string): void {
    const map = this.entries.get(kind);
    const old = map?.get(key);
    if (!map || !old) return;
    this.detach(kind, old, undefined);
    map.delete(key);
  }

  /** Applies a watch event (DELETED objects may be tombstones carrying only namespace and name). */
  apply(kind: ReportKindName, type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: unknown): void {
    if (type === 'DELETED') {
      const key = keyOf(obj);
      if (key) this.remove(kind, key);
    } else this.upsert(kind, obj);
  }

  private toEntry(rendered: RenderedReport): Entry {
    const chunks: (Buffer | undefined)[] = [];
    const counts: number[] = [];
    const content: (ContentSeries[] | undefined)[] = [];
    let bytes = 0;
    for (const family of this.layout.families) {
      const lines = rendered.lines[family.slot];
      counts.push(lines?.length ?? 0);
      if (!lines || lines.length === 0) {
        chunks.push(undefined);
        content.push(undefined);
      } else if (family.spec.identity === 'content') {
        chunks.push(undefined);
        content.push(lines.map((line) => ({ series: line.slice(0, line.lastIndexOf(' ')), line })));
      } else {
        const member = gzipMember(lines.join(''));
        bytes += member.length;
        chunks.push(member);
        content.push(undefined);
      }
    }
    return {
      key: rendered.key,
      namespace: rendered.namespace,
      updatedAt: rendered.updatedAt,
      chunks,
      counts,
      content,
      vulnerabilities: rendered.vulnerabilities,
      bytes,
    };
  }

  private attach(kind: ReportKindName, entry: Entry, previous: Entry | undefined): void {
    for (let slot = 0; slot < entry.counts.length; slot++) {
      this.seriesPerSlot[slot] = (this.seriesPerSlot[slot] ?? 0) + (entry.counts[slot] ?? 0);
    }
    this.storedBytes += entry.bytes;
    if (kind === 'VulnerabilityReport' && entry.vulnerabilities)
      this.aggregates.add(entry.key, entry.namespace, entry.updatedAt, entry.vulnerabilities);
    for (const [slot, owners] of this.owners) {
      const before = new Set(previous?.content[slot]?.map((s) => s.series));
      for (const { series } of entry.content[slot] ?? []) {
        if (before.has(series)) continue; // keeps its place: ownership must not flap on every update
        const list = owners.get(series);
        if (!list) owners.set(series, [entry.key]);
        else if (!list.includes(entry.key)) {
          list.push(entry.key);
          const name = this.layout.families[slot]?.spec.name ?? '';
          this.events.duplicates?.(name, 'reports', 1);
          this.events.conflict?.(name, series, list);
        }
      }
    }
  }

  private detach(kind: ReportKindName, entry: Entry, next: Entry | undefined): void {
    for (let slot = 0; slot < entry.counts.length; slot++) {
      this.seriesPerSlot[slot] = (this.seriesPerSlot[slot] ?? 0) - (entry.counts[slot] ?? 0);
    }
    this.storedBytes -= entry.bytes;
    if (kind === 'VulnerabilityReport' && entry.vulnerabilities)
      this.aggregates.remove(entry.key, entry.namespace, entry.vulnerabilities);
    for (const [slot, owners] of this.owners) {
      const after = new Set(next?.content[slot]?.map((s) => s.series));
      for (const { series } of entry.content[slot] ?? []) {
        if (after.has(series)) continue;
        const list = owners.get(series);
        if (!list) continue;
        const at = list.indexOf(entry.key);
        if (at >= 0) list.splice(at, 1);
        if (list.length === 0) owners.delete(series);
      }
    }
  }

  /** Everything a scrape writes, captured now: references to immutable entries, nothing rendered. */
  snapshot(): Snapshot {
    const families: FamilySnapshot[] = [];
    const entries = new Map<ReportKindName, readonly Entry[]>();
    const captured = (kind: ReportKindName): readonly Entry[] => {
      let list = entries.get(kind);
      if (!list) entries.set(kind, (list = [...(this.entries.get(kind)?.values() ?? [])]));
      return list;
    };
    const aggregates = this.aggregates.snapshot();
    for (const family of this.layout.families) {
      const header = this.headers[family.slot] ?? Buffer.alloc(0);
      const { identity, source } = family.spec;
      if (identity === 'aggregate') {
        const items =
          family.id === 'namespaceVulnerabilities'
            ? aggregates.namespaces
            : family.id === 'imageUniqueVulnerabilities'
              ? aggregates.images
              : aggregates.containers;
        if (items.length === 0) continue;
        const series = this.seriesCount(family.id);
        families.push({ family, header, series, members: () => mapIterable(items, (item) => item.gzip()) });
        continue;
      }
      if (!source || !this.entries.has(source)) continue;
      if (identity === 'content') {
        // Few series (one compliance report has a handful): arbitrate and render them right here.
        const owners = this.owners.get(family.slot);
        let text = '';
        let series = 0;
        for (const entry of captured(source)) {
          for (const item of entry.content[family.slot] ?? []) {
            if (owners?.get(item.series)?.[0] !== entry.key) continue;
            text += item.line;
            series += 1;
          }
        }
        if (series === 0) continue;
        const member = gzipMember(text);
        families.push({ family, header, series, members: () => [member] });
        continue;
      }
      const series = this.seriesPerSlot[family.slot] ?? 0;
      if (series === 0) continue;
      const list = captured(source);
      const slot = family.slot;
      families.push({ family, header, series, members: () => chunksOf(list, slot) });
    }
    return { families };
  }

  // ---- statistics for the exporter's own metrics -------------------------------------------------

  reportCount(kind: ReportKindName): number {
    return this.entries.get(kind)?.size ?? 0;
  }

  /** Seconds since the least recently written report of `kind` was written; undefined without reports. */
  maxReportAgeSeconds(kind: ReportKindName, now = Date.now()): number | undefined {
    let oldest = Infinity;
    for (const entry of this.entries.get(kind)?.values() ?? []) {
      if (entry.updatedAt !== undefined && entry.updatedAt < oldest) oldest = entry.updatedAt;
    }
    return oldest === Infinity ? undefined : Math.max(0, (now - oldest) / 1000);
  }

  /** Series per family as the next scrape would write them (content families after arbitration). */
  seriesCount(id: FamilyId): number {
    const slot = this.layout.slots[id];
    if (slot === undefined) return 0;
    const family = this.layout.families[slot];
    if (family?.spec.identity === 'aggregate') {
      return id === 'imageContainers'
        ? this.aggregates.imageCount
        : id === 'namespaceVulnerabilities'
          ? this.aggregates.namespaceCount * 10
          : this.aggregates.imageCount * 10;
    }
    if (family?.spec.identity === 'content') return this.owners.get(slot)?.size ?? 0;
    return this.seriesPerSlot[slot] ?? 0;
  }

  /** Label sets currently emitted by more than one report, per content family (the extras are suppressed). */
  conflictCount(id: FamilyId): number {
    const slot = this.layout.slots[id];
    let count = 0;
    for (const list of (slot === undefined ? undefined : this.owners.get(slot))?.values() ?? []) {
      count += list.length - 1;
    }
    return count;
  }

  /** Bytes of compressed series held. */
  get bytes(): number {
    return this.storedBytes;
  }
}

function* chunksOf(entries: readonly Entry[], slot: number): Iterable<Buffer> {
  for (const entry of entries) {
    const chunk = entry.chunks[slot];
    if (chunk) yield chunk;
  }
}

function* mapIterable<T, U>(items: readonly T[], map: (item: T) => U): Iterable<U> {
  for (const item of items) yield map(item);
}

function keyOf(obj: unknown): string {
  if (typeof obj !== 'object' || obj === null) return '';
  const metadata = (obj as { metadata?: { namespace?: unknown; name?: unknown } }).metadata;
  const name = typeof metadata?.name === 'string' ? metadata.name : '';
  const namespace = typeof metadata?.namespace === 'string' ? metadata.namespace : '';
  if (!name) return '';
  return namespace ? `${namespace}/${name}` : name;
}
