/**
 * Keeps reports small enough for etcd. An image with tens of thousands of findings makes a report
 * that the API server refuses (Trivy-Operator issues #441, #1668, #2335) and then the image has no
 * report at all; instead, the least severe findings are left out and the report says so.
 */
import type {
  BomComponent,
  ExposedSecretReportData,
  SbomReportData,
  Severity,
  VulnerabilityReportData,
} from '../../crds/index.ts';
import { ErrorCodes, LookoutError } from '../../errors/index.ts';
import { SEVERITY_RANK } from './report-parts.ts';

/** etcd's default limit on one request (`--max-request-bytes`), which bounds one stored object. */
export const ETCD_REQUEST_LIMIT_BYTES = 1.5 * 1024 * 1024;
/** Room left for everything besides `.report`: apiVersion, kind, metadata with managedFields. */
export const REPORT_METADATA_HEADROOM_BYTES = 64 * 1024;
/** Default budget for the serialized `.report` of one report object. */
export const REPORT_DATA_LIMIT_BYTES = ETCD_REQUEST_LIMIT_BYTES - REPORT_METADATA_HEADROOM_BYTES;

/** Annotation put on a report whose list was cut. */
export const TRIMMED_ANNOTATION = 'trivy-lookout.dev/trimmed';

/** The list that was cut: findings, or an SBOM's components. */
export type FindingList = 'vulnerabilities' | 'secrets' | 'components';

export interface TrimInfo {
  /** Which list was cut. */
  readonly list: FindingList;
  readonly kept: number;
  readonly dropped: number;
}

export interface FitResult<D> {
  /** The report data to write: the input itself when it fits, else a copy with a shorter list. */
  readonly data: D;
  /** What was left out, or null when nothing was. */
  readonly trimmed: TrimInfo | null;
}

type ReportData = VulnerabilityReportData | ExposedSecretReportData;

const byteLength = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/**
 * Fits report data into `maxBytes` of JSON: when too large, drops findings lowest severity first
 * (UNKNOWN, then LOW, …; within a severity, the last listed first) until it fits. The summary is left
 * as it was, so counts still describe the whole scan. Each finding is measured once, so this is linear
 * in the report size plus a sort. Throws REPORT_TOO_LARGE when even an empty list does not fit.
 */
export function fitReportToLimit<D extends ReportData>(
  data: D,
  maxBytes: number = REPORT_DATA_LIMIT_BYTES,
): FitResult<D> {
  const list: FindingList = 'vulnerabilities' in data ? 'vulnerabilities' : 'secrets';
  const items: readonly { severity: Severity }[] =
    'vulnerabilities' in data ? data.vulnerabilities : data.secrets;

  // JSON of an array is `[` + items joined by `,` + `]`, so sizes add up exactly.
  const sizes = items.map(byteLength);
  const base = byteLength({ ...data, [list]: [] });
  let total = base + sizes.reduce((sum, size) => sum + size, 0) + Math.max(0, items.length - 1);
  if (total <= maxBytes) return { data, trimmed: null };
  if (base > maxBytes) {
    throw new LookoutError(
      ErrorCodes.REPORT_TOO_LARGE,
      `the report is ${base} bytes without any ${list}, over the limit of ${maxBytes} bytes`,
      { details: { bytes: base, limit: maxBytes } },
    );
  }

  const ranks = items.map((item) => SEVERITY_RANK[item.severity] ?? 0);
  const dropOrder = items
    .map((_item, index) => index)
    .sort((a, b) => (ranks[a] ?? 0) - (ranks[b] ?? 0) || b - a);
  const dropped = new Set<number>();
  let remaining = items.length;
  for (const index of dropOrder) {
    if (total <= maxBytes) break;
    total -= (sizes[index] ?? 0) + (remaining > 1 ? 1 : 0);
    remaining--;
    dropped.add(index);
  }
  const kept = items.filter((_item, index) => !dropped.has(index));
  return {
    data: { ...data, [list]: kept },
    trimmed: { list, kept: kept.length, dropped: dropped.size },
  };
}

/**
 * Fits SBOM report data into `maxBytes` of JSON: when too large, drops components from the end of the
 * list (Trivy lists OS packages first, then each language's) with their own dependency entries until
 * it fits. The summary is left as it was, so counts still describe the whole image. Throws
 * REPORT_TOO_LARGE when even a BOM without components does not fit.
 */
export function fitSbomToLimit(
  data: SbomReportData,
  maxBytes: number = REPORT_DATA_LIMIT_BYTES,
): FitResult<SbomReportData> {
  const total = byteLength(data);
  if (total <= maxBytes) return { data, trimmed: null };
  const bom = data.components;
  const components: readonly BomComponent[] = bom.components ?? [];
  const dependencies = bom.dependencies ?? [];
  const ref = (c: BomComponent) => c['bom-ref'];
  const dependencySize = new Map<string, number>();
  for (const d of dependencies) {
    if (d.ref !== undefined) dependencySize.set(d.ref, (dependencySize.get(d.ref) ?? 0) + byteLength(d) + 1);
  }
  const base = byteLength({
    ...data,
    components: {
      ...bom,
      components: [],
      dependencies: dependencies.filter((d) => !components.some((c) => ref(c) === d.ref)),
    },
  });
  if (base > maxBytes) {
    throw new LookoutError(
      ErrorCodes.REPORT_TOO_LARGE,
      `the SBOM report is ${base} bytes without any components, over the limit of ${maxBytes} bytes`,
      { details: { bytes: base, limit: maxBytes } },
    );
  }
  let size = total;
  let keep = components.length;
  while (keep > 0 && size > maxBytes) {
    keep--;
    const c = components[keep];
    const own = c === undefined ? undefined : ref(c);
    size -= byteLength(c) + 1 + (own === undefined ? 0 : (dependencySize.get(own) ?? 0));
  }
  const cut = (kept: number): SbomReportData => {
    const dropped = new Set(components.slice(kept).map(ref));
    return {
      ...data,
      components: {
        ...bom,
        components: components.slice(0, kept),
        dependencies: dependencies.filter((d) => d.ref === undefined || !dropped.has(d.ref)),
      },
    };
  };
  // The running size is exact but for separators; check, and cut one more in the rare case it is over.
  let fitted = cut(keep);
  while (keep > 0 && byteLength(fitted) > maxBytes) fitted = cut(--keep);
  return { data: fitted, trimmed: { list: 'components', kept: keep, dropped: components.length - keep } };
}

/** The annotation that records a cut, to spread into the report's annotations (empty when none). */
export function trimmedAnnotation(trimmed: TrimInfo | null): Record<string, string> {
  if (!trimmed || trimmed.dropped === 0) return {};
  const total = trimmed.kept + trimmed.dropped;
  const order = trimmed.list === 'components' ? 'last listed first' : 'lowest severity first';
  return {
    [TRIMMED_ANNOTATION]: `dropped ${trimmed.dropped} of ${total} ${trimmed.list} (${order}) to fit etcd's limit`,
  };
}
