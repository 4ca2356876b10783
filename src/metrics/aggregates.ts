/**
 * Cheap answers to the common questions, kept up to date by adding and subtracting each
 * vulnerability report's totals as it changes: vulnerabilities per namespace × severity × fixable,
 * per distinct image × severity × fixable (counted once however many containers run the image),
 * and how many containers run each image. Each namespace and image keeps its lines as a gzip
 * member, rebuilt lazily after a change, like a report's.
 */
import { labelPairs } from './exposition.ts';
import { FAMILIES, SEVERITY_LABELS } from './families.ts';
import type { ImageLabels, VulnerabilityTotals } from './render.ts';

/** Builds a gzip member from text (injected so this module stays free of zlib). */
export type Compress = (text: string) => Buffer;

interface ImageReport {
  readonly updatedAt: number;
  readonly totals: VulnerabilityTotals;
}

/** A namespace's or an image's series, rendered on demand and cached until the next change. */
abstract class AggregateEntry {
  private member: Buffer | undefined;

  constructor(private readonly compress: Compress) {}

  /** The entry's sample lines. */
  abstract text(): string;

  invalidate(): void {
    this.member = undefined;
  }

  /** The entry's gzip member; built at most once per change. */
  gzip(): Buffer {
    this.member ??= this.compress(this.text());
    return this.member;
  }
}

/** Fixable and unfixable lines for every severity, zeros included. */
function severityLines(
  name: string,
  prefix: string,
  total: readonly number[],
  fixable: readonly number[],
): string {
  let out = '';
  for (let i = 0; i < SEVERITY_LABELS.length; i++) {
    const all = total[i] ?? 0;
    const fixed = fixable[i] ?? 0;
    out += `${name}{${prefix},severity="${SEVERITY_LABELS[i]}",fixable="true"} ${fixed}\n`;
    out += `${name}{${prefix},severity="${SEVERITY_LABELS[i]}",fixable="false"} ${all - fixed}\n`;
  }
  return out;
}

class NamespaceEntry extends AggregateEntry {
  reports = 0;
  readonly total = [0, 0, 0, 0, 0];
  readonly fixable = [0, 0, 0, 0, 0];

  constructor(
    private readonly name: string,
    compress: Compress,
  ) {
    super(compress);
  }

  text(): string {
    const prefix = labelPairs(['namespace'], [this.name]);
    return severityLines(FAMILIES.namespaceVulnerabilities.name, prefix, this.total, this.fixable);
  }
}

class ImageEntry extends AggregateEntry {
  readonly reports = new Map<string, ImageReport>();
  /** The containers family's line of this image, cached with the rest. */
  readonly containers: ContainersEntry;

  constructor(
    readonly labels: string,
    compress: Compress,
  ) {
    super(compress);
    this.containers = new ContainersEntry(this, compress);
  }

  override invalidate(): void {
    super.invalidate();
    this.containers.invalidate();
  }

  /** Reports of one image can differ (scanned with different DB versions): the newest counts. */
  private newest(): ImageReport | undefined {
    let newest: ImageReport | undefined;
    let newestKey = '';
    for (const [key, report] of this.reports) {
      if (
        !newest ||
        report.updatedAt > newest.updatedAt ||
        (report.updatedAt === newest.updatedAt && key < newestKey)
      ) {
        newest = report;
        newestKey = key;
      }
    }
    return newest;
  }

  text(): string {
    const newest = this.newest();
    if (!newest) return '';
    const { total, fixable } = newest.totals;
    return severityLines(FAMILIES.imageUniqueVulnerabilities.name, this.labels, total, fixable);
  }
}

class ContainersEntry extends AggregateEntry {
  constructor(
    private readonly image: ImageEntry,
    compress: Compress,
  ) {
    super(compress);
  }

  text(): string {
    return `${FAMILIES.imageContainers.name}{${this.image.labels}} ${this.image.reports.size}\n`;
  }
}

const IMAGE_LABEL_NAMES = FAMILIES.imageContainers.labels;

function imageKey(image: ImageLabels): string {
  return `${image.registry}\0${image.repository}\0${image.tag}\0${image.digest}`;
}

/** What a scrape needs: the entries as of now (their members are built while streaming). */
export interface AggregateSnapshot {
  readonly namespaces: readonly { gzip(): Buffer }[];
  readonly images: readonly { gzip(): Buffer }[];
  readonly containers: readonly { gzip(): Buffer }[];
}

/** Each family's lines as one gzip member, built when no change came for a while. */
interface PackedAggregates {
  readonly namespaces: Buffer;
  readonly images: Buffer;
  readonly containers: Buffer;
}

export class VulnerabilityAggregates {
  private readonly namespaces = new Map<string, NamespaceEntry>();
  private readonly images = new Map<string, ImageEntry>();
  private packed: PackedAggregates | undefined;

  constructor(private readonly compress: Compress) {}

  add(
    reportKey: string,
    namespace: string,
    updatedAt: number | undefined,
    totals: VulnerabilityTotals,
  ): void {
    let ns = this.namespaces.get(namespace);
    if (!ns) this.namespaces.set(namespace, (ns = new NamespaceEntry(namespace, this.compress)));
    ns.reports += 1;
    for (let i = 0; i < 5; i++) {
      ns.total[i] = (ns.total[i] ?? 0) + (totals.total[i] ?? 0);
      ns.fixable[i] = (ns.fixable[i] ?? 0) + (totals.fixable[i] ?? 0);
    }
    ns.invalidate();
    const key = imageKey(totals.image);
    let image = this.images.get(key);
    if (!image) {
      const { registry, repository, tag, digest } = totals.image;
      const labels = labelPairs(IMAGE_LABEL_NAMES, [registry, repository, tag, digest]);
      this.images.set(key, (image = new ImageEntry(labels, this.compress)));
    }
    image.reports.set(reportKey, { updatedAt: updatedAt ?? -Infinity, totals });
    image.invalidate();
    this.packed = undefined;
  }

  remove(reportKey: string, namespace: string, totals: VulnerabilityTotals): void {
    const ns = this.namespaces.get(namespace);
    if (ns) {
      ns.reports -= 1;
      for (let i = 0; i < 5; i++) {
        ns.total[i] = (ns.total[i] ?? 0) - (totals.total[i] ?? 0);
        ns.fixable[i] = (ns.fixable[i] ?? 0) - (totals.fixable[i] ?? 0);
      }
      ns.invalidate();
      // A namespace without reports has no series (not a row of zeros that would live forever).
      if (ns.reports <= 0) this.namespaces.delete(namespace);
    }
    const key = imageKey(totals.image);
    const image = this.images.get(key);
    if (image) {
      image.reports.delete(reportKey);
      image.invalidate();
      if (image.reports.size === 0) this.images.delete(key);
    }
    this.packed = undefined;
  }

  /** Whether a change since the last pack() left the families as one member per namespace/image. */
  get unpacked(): boolean {
    return this.packed === undefined && this.images.size > 0;
  }

  /**
   * Packs each family into one member: thousands of images as thousands of tiny members compress
   * several times worse (each member restarts without history and carries its own header).
   */
  pack(): void {
    const join = (items: Iterable<AggregateEntry>) => {
      let text = '';
      for (const item of items) text += item.text();
      return this.compress(text);
    };
    const images = [...this.images.values()];
    this.packed = {
      namespaces: join(this.namespaces.values()),
      images: join(images),
      containers: join(images.map((image) => image.containers)),
    };
  }

  get namespaceCount(): number {
    return this.namespaces.size;
  }

  get imageCount(): number {
    return this.images.size;
  }

  snapshot(): AggregateSnapshot {
    if (this.packed) {
      const { namespaces, images, containers } = this.packed;
      const one = (member: Buffer) => (this.images.size === 0 ? [] : [{ gzip: () => member }]);
      return { namespaces: one(namespaces), images: one(images), containers: one(containers) };
    }
    const images = [...this.images.values()];
    return {
      namespaces: [...this.namespaces.values()],
      images,
      containers: images.map((image) => image.containers),
    };
  }
}
