/**
 * Pieces every image report starts with (timestamp, scanner, registry, artifact) and the severity
 * rules shared by vulnerability and secret reports.
 */
import type { Artifact, Registry, Scanner, Severity } from '../../crds/index.ts';
import { SEVERITIES } from '../../crds/index.ts';
import type { ImageReference } from '../../workloads/index.ts';
import type { TrivyImageResult } from './trivy-result.ts';

export const SCANNER_NAME = 'Trivy';
export const SCANNER_VENDOR = 'Aqua Security';

/** What a report build needs besides Trivy's result. */
export interface ImageReportOptions {
  /** The image as the pod spec names it; its digest, when set, wins over Trivy's RepoDigests. */
  readonly image: ImageReference;
  /** Trivy's version (the `trivy.tag` setting), reported as the scanner version. */
  readonly scannerVersion: string;
  /** When the report is written. */
  readonly now: Date;
}

/** RFC 3339 in UTC with whole seconds, as Kubernetes writes timestamps (`metav1.Time`). */
export function rfc3339Seconds(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function scannerOf(version: string): Scanner {
  return { name: SCANNER_NAME, vendor: SCANNER_VENDOR, version };
}

/** The digest of `Metadata.RepoDigests[0]` (`repo@sha256:…`), if any. */
export function repoDigestOf(result: TrivyImageResult): string | undefined {
  const first = result.metadata.repoDigests[0];
  const at = first?.indexOf('@') ?? -1;
  return first && at !== -1 ? first.slice(at + 1) || undefined : undefined;
}

export function registryOf(image: ImageReference): Registry {
  return { server: image.registry };
}

/** Repository and tag from the pod spec's reference; the digest from it, else from Trivy's RepoDigests. */
export function artifactOf(image: ImageReference, result: TrivyImageResult): Artifact {
  const digest = image.digest ?? repoDigestOf(result);
  return {
    repository: image.repository,
    ...(digest ? { digest } : {}),
    ...(image.tag ? { tag: image.tag } : {}),
  };
}

/** Trivy's severity numbers in `VendorSeverity` (0 … 4). */
const SEVERITY_BY_NUMBER: readonly Severity[] = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];

export function severityFromNumber(value: number | undefined): Severity {
  return (value === undefined ? undefined : SEVERITY_BY_NUMBER[value]) ?? 'UNKNOWN';
}

export function isSeverity(value: string): value is Severity {
  return (SEVERITIES as readonly string[]).includes(value);
}

/** Lowest first: the order in which findings are dropped when a report is too big. */
export const SEVERITY_RANK: Readonly<Record<Severity, number>> = {
  UNKNOWN: 0,
  LOW: 1,
  MEDIUM: 2,
  HIGH: 3,
  CRITICAL: 4,
};
