/**
 * Keeps a report of type `all` within what etcd accepts. On a large cluster the failed results of
 * hundreds of controls add up past etcd's request limit, and a refused write would leave the report
 * stale. The summary and the per-control counts (summaryReport) are always kept whole; the listed
 * failed results are cut evenly (the same number per control) until the object fits, and the status
 * says what was left out.
 */
import type { ComplianceDetailReport, ComplianceReportStatus } from '../crds/index.ts';
import { ETCD_REQUEST_LIMIT_BYTES, REPORT_METADATA_HEADROOM_BYTES } from '../reports/index.ts';
import { controlResultOf, statusOf, type Evaluation } from './evaluate.ts';

export interface FittedStatus {
  readonly status: ComplianceReportStatus;
  /** What was left out, for the status note and the trimmed annotation; null when nothing was. */
  readonly note: string | null;
  /** True when the cut was made to fit etcd (not only by failEntriesLimit). */
  readonly cutForSize: boolean;
}

/**
 * The detail report with the note on what it leaves out. The CRD keeps unknown fields of
 * detailReport, so the note is stored next to the results it describes.
 */
export type NotedDetailReport = ComplianceDetailReport & { note?: string };

/** Room kept for the note itself while searching for the cut. */
const NOTE_ROOM_BYTES = 1024;

const byteLength = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** Bytes left for `.status` when the rest of the object (spec, metadata) takes `objectBytes`. */
export function statusBudget(objectBytes: number): number {
  return ETCD_REQUEST_LIMIT_BYTES - REPORT_METADATA_HEADROOM_BYTES - objectBytes;
}

/**
 * The status of `evaluation`, cut to at most `maxBytes` of JSON when it is an `all` report. Linear in
 * the listed entries (each is measured once) plus a binary search over the per-control cap.
 */
export function fitStatus(
  evaluation: Evaluation,
  updateTimestamp: string,
  maxBytes: number,
  failEntriesLimit: number,
): FittedStatus {
  const full = statusOf(evaluation, updateTimestamp);
  const detail = full.detailReport;
  const total = evaluation.controls.reduce((sum, outcome) => sum + outcome.failed, 0);
  const limitNote = (listed: number) =>
    `listed ${listed} of ${total} failed results: at most ${failEntriesLimit} per control (compliance.failEntriesLimit)`;
  if (!detail) return { status: full, note: null, cutForSize: false };

  const listedAll = total - evaluation.unlisted;
  if (byteLength(full) + NOTE_ROOM_BYTES <= maxBytes) {
    if (evaluation.unlisted === 0) return { status: full, note: null, cutForSize: false };
    const note = limitNote(listedAll);
    const detailReport: NotedDetailReport = { ...detail, note };
    return { status: { ...full, detailReport }, note, cutForSize: false };
  }

  // Size with every control capped at k listed results: the k = 0 size plus, per control, its first
  // k entries and the commas between them (JSON arrays add up exactly).
  const results = evaluation.controls.map((outcome) => controlResultOf(outcome));
  const entrySizes = results.map((result) => (result.status === 'FAIL' ? result.checks.map(byteLength) : []));
  const emptied = {
    ...full,
    detailReport: {
      ...detail,
      results: evaluation.controls.map((outcome) => controlResultOf(outcome, 0)),
    },
  };
  const sizeAtZero = byteLength(emptied) + NOTE_ROOM_BYTES;
  const sizeAt = (cap: number): number =>
    entrySizes.reduce((sum, sizes) => {
      const n = Math.min(cap, sizes.length);
      let add = n > 0 ? n - 1 : 0;
      for (let i = 0; i < n; i++) add += sizes[i] ?? 0;
      return sum + add;
    }, sizeAtZero);

  const maxListed = Math.max(0, ...entrySizes.map((sizes) => sizes.length));
  if (sizeAtZero > maxBytes) {
    // Even one line per control is too much: keep the counts, drop the per-control detail.
    const note = `listed none of ${total} failed results: the detail does not fit etcd's limit; per-control counts are in summaryReport`;
    const detailReport: NotedDetailReport = { ...detail, note };
    delete detailReport.results;
    return { status: { ...full, detailReport }, note, cutForSize: true };
  }
  let low = 0; // fits
  let high = maxListed; // the full list does not fit (checked above)
  while (high - low > 1) {
    const mid = Math.floor((low + high) / 2);
    if (sizeAt(mid) <= maxBytes) low = mid;
    else high = mid;
  }
  const cap = low;
  const listed = entrySizes.reduce((sum, sizes) => sum + Math.min(cap, sizes.length), 0);
  const note = `${limitNote(listed)}; cut to ${cap} per control to fit etcd's limit`;
  const detailReport: NotedDetailReport = {
    ...detail,
    note,
    results: evaluation.controls.map((outcome) => controlResultOf(outcome, cap)),
  };
  return { status: { ...full, detailReport }, note, cutForSize: true };
}
