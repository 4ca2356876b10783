/**
 * What the exporter remembers of each report: per family, its series pre-rendered and compressed
 * as one gzip member, plus the few numbers the aggregates and report-age metrics need. Never the
 * report itself. A change replaces exactly the entry of that report, so the series it emitted are
 * removed exactly, and a scrape only concatenates stored members (see scrape.ts).
 *
 * One gzip member per report compresses about 3× worse than gzip over the whole body: each member
 * starts without history (the same image, package and CVE strings again) and carries its own
 * header and Huffman tables. So reports are also kept in blocks of up to BLOCK_REPORTS, and a block
 * nobody changed is re-compressed as one member per family ("packed") in the background; a scrape
 * writes a packed block's member instead of its reports' members. A change to any report of a
 * block only drops the block's packed members, so the next scrape falls back to the reports' own
 * members for that block (always correct, just larger) until it is packed again.
 */
import { performance } from 'node:perf_hooks';
import { gunzipSync, gzipSync } from 'node:zlib';
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
/**
 * Reports per block. Past about 32 KiB of text (gzip's window) a bigger block gains little, and a
 * change re-compresses the whole block; 64 reports is 64 × 1.5 KiB with default families and a few
 * MiB with per-CVE series (BLOCK_TEXT_BYTES closes a block earlier).
 */
export const BLOCK_REPORTS = 64;
/** A block takes no more reports once it holds this much text. */
const BLOCK_TEXT_BYTES = 2 * 1024 * 1024;
/** Quiet time after a change before packing starts, so a burst (a list, a rescan) is packed once. */
const PACK_DELAY_MS = 1_000;
/** Longest stretch of packing before yielding to the event loop. */
const PACK_SLICE_MS = 10;

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
  /** Uncompressed bytes of the report-identity members, for sizing blocks. */
  readonly textBytes: number;
}

/** Up to BLOCK_REPORTS reports of one kind, written together; see the module comment. */
class Block {
  readonly entries = new Map<string, Entry>();
  textBytes = 0;
  /** Per slot: every entry's series of that family as one gzip member; undefined while a change is unpacked. */
  packed: readonly (Buffer | undefined)[] | undefined;
  packedBytes = 0;

  constructor(readonly kind: ReportKindName) {}
}

/** What a snapshot keeps of one block: its packed members, or its entries as they are now. */
type BlockView =
  { readonly packed: readonly (Buffer | undefined)[] } | { readonly entries: readonly Entry[] };

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

export function gzipMember(text: string | Buffer): Buffer {
  const data = typeof text === 'string' ? Buffer.from(text, 'utf8') : text;
  return compact(gzipSync(data, { level: GZIP_LEVEL }));
}

export interface SeriesStoreOptions {
  /** Whether reports in this namespace count (`targetNamespaces`/`excludeNamespaces`); cluster-scoped reports always do. */
  namespaceFilter?: (namespace: string) => boolean;
  events?: StoreEvents;
}

/** Blocks of one report kind, in write order, and the block new reports join. */
interface KindBlocks {
  readonly blocks: Set<Block>;
  readonly blockOf: Map<string, Block>;
  open: Block | undefined;
}

export class SeriesStore {
  private readonly entries = new Map<ReportKindName, Map<string, Entry>>();
  private readonly blocks = new Map<ReportKindName, KindBlocks>();
  /** Blocks whose packed members were dropped by a change. */
  private readonly unpacked = new Set<Block>();
  private autoPack = false;
  private packTimer: NodeJS.Timeout | undefined;
  private lastChange = 0;
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
    for (const kind of layout.kinds) {
      this.entries.set(kind, new Map());
      this.blocks.set(kind, { blocks: new Set(), blockOf: new Map(), open: undefined });
    }
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
    this.place(kind, entry, old);
  }

  /** Removes every series a report emitted. `key` is `namespace/name` or `name`. */
  remove(kind: ReportKindName, key: string): void {
    const map = this.entries.get(kind);
    const old = map?.get(key);
    if (!map || !old) return;
    this.detach(kind, old, undefined);
    map.delete(key);
    this.unplace(kind, old);
  }

  // ---- blocks ------------------------------------------------------------------------------------

  /** Puts a new or replaced entry in its block (a replaced one keeps its block and position). */
  private place(kind: ReportKindName, entry: Entry, old: Entry | undefined): void {
    const kindBlocks = this.blocks.get(kind);
    if (!kindBlocks) return;
    let block = kindBlocks.blockOf.get(entry.key);
    if (!block) {
      block = kindBlocks.open;
      if (!block || block.entries.size >= BLOCK_REPORTS || block.textBytes >= BLOCK_TEXT_BYTES) {
        block = new Block(kind);
        kindBlocks.blocks.add(block);
        kindBlocks.open = block;
      }
      kindBlocks.blockOf.set(entry.key, block);
    }
    block.entries.set(entry.key, entry);
    block.textBytes += entry.textBytes - (old?.textBytes ?? 0);
    this.changed(block);
  }

  private unplace(kind: ReportKindName, old: Entry): void {
    const kindBlocks = this.blocks.get(kind);
    const block = kindBlocks?.blockOf.get(old.key);
    if (!kindBlocks || !block) return;
    kindBlocks.blockOf.delete(old.key);
    block.entries.delete(old.key);
    block.textBytes -= old.textBytes;
    this.changed(block);
    if (block.entries.size === 0) {
      kindBlocks.blocks.delete(block);
      this.unpacked.delete(block);
      if (kindBlocks.open === block) kindBlocks.open = undefined;
    }
  }

  private changed(block: Block): void {
    if (block.packed) {
      this.storedBytes -= block.packedBytes;
      block.packed = undefined;
      block.packedBytes = 0;
    }
    this.unpacked.add(block);
    this.lastChange = performance.now();
    this.schedulePacking();
  }

  /** Re-compresses one block's reports as one member per family. */
  private pack(block: Block): void {
    const packed: (Buffer | undefined)[] = [];
    let bytes = 0;
    for (const family of this.layout.families) {
      if (family.spec.identity !== 'report' || family.spec.source !== block.kind) {
        packed.push(undefined);
        continue;
      }
      const parts: Buffer[] = [];
      for (const entry of block.entries.values()) {
        const chunk = entry.chunks[family.slot];
        if (chunk) parts.push(gunzipSync(chunk));
      }
      const member = parts.length === 0 ? undefined : gzipMember(Buffer.concat(parts));
      bytes += member?.length ?? 0;
      packed.push(member);
    }
    block.packed = packed;
    block.packedBytes = bytes;
    this.storedBytes += bytes;
    this.unpacked.delete(block);
  }

  /**
   * Packs changed blocks for about `budgetMs` (all of them when Infinity); returns how many are
   * left. The exporter calls it through startPacking; benchmarks and tests call it directly.
   */
  packFor(budgetMs: number): number {
    const started = performance.now();
    if (this.aggregatesWaiting) this.aggregates.pack();
    for (const block of this.unpacked) {
      this.pack(block);
      if (performance.now() - started >= budgetMs) break;
    }
    return this.unpacked.size + (this.aggregatesWaiting ? 1 : 0);
  }

  private get aggregatesWaiting(): boolean {
    return this.aggregates.unpacked && this.layout.slots.namespaceVulnerabilities !== undefined;
  }

  /**
   * From now on, packs changed blocks in the background: after PACK_DELAY_MS without changes, in
   * slices of PACK_SLICE_MS. The exporter starts it once the first list is in, so packing never
   * slows the start-up.
   */
  startPacking(): void {
    this.autoPack = true;
    this.schedulePacking();
  }

  stopPacking(): void {
    this.autoPack = false;
    clearTimeout(this.packTimer);
    this.packTimer = undefined;
  }

  /** Blocks waiting to be packed. */
  get unpackedBlocks(): number {
    return this.unpacked.size;
  }

  private schedulePacking(delay = PACK_DELAY_MS): void {
    if (!this.autoPack || this.packTimer || (this.unpacked.size === 0 && !this.aggregatesWaiting)) return;
    this.packTimer = setTimeout(() => {
      this.packTimer = undefined;
      const quiet = performance.now() - this.lastChange;
      if (quiet < PACK_DELAY_MS) {
        this.schedulePacking(PACK_DELAY_MS - quiet);
        return;
      }
      if (this.packFor(PACK_SLICE_MS) > 0) this.schedulePacking(0);
    }, delay);
    this.packTimer.unref();
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
    let textBytes = 0;
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
        const text = lines.join('');
        const member = gzipMember(text);
        bytes += member.length;
        textBytes += text.length;
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
      textBytes,
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
    const views = new Map<ReportKindName, readonly BlockView[]>();
    const capturedBlocks = (kind: ReportKindName): readonly BlockView[] => {
      let list = views.get(kind);
      if (!list) {
        list = [...(this.blocks.get(kind)?.blocks ?? [])].map((block) =>
          block.packed ? { packed: block.packed } : { entries: [...block.entries.values()] },
        );
        views.set(kind, list);
      }
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
      const list = capturedBlocks(source);
      const slot = family.slot;
      families.push({ family, header, series, members: () => blockChunksOf(list, slot) });
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

function* blockChunksOf(views: readonly BlockView[], slot: number): Iterable<Buffer> {
  for (const view of views) {
    if ('packed' in view) {
      const member = view.packed[slot];
      if (member) yield member;
      continue;
    }
    for (const entry of view.entries) {
      const chunk = entry.chunks[slot];
      if (chunk) yield chunk;
    }
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
