export { TRIVY_SCHEMA_VERSION, parseTrivyImageResult } from './trivy-result.ts';
export type {
  TrivyImageResult,
  TrivyMetadata,
  TrivyOS,
  TrivySecret,
  TrivyTargetResult,
  TrivyVulnerability,
} from './trivy-result.ts';
export {
  SCANNER_NAME,
  SCANNER_VENDOR,
  SEVERITY_RANK,
  artifactOf,
  isSeverity,
  registryOf,
  repoDigestOf,
  rfc3339Seconds,
  scannerOf,
  severityFromNumber,
} from './report-parts.ts';
export type { ImageReportOptions } from './report-parts.ts';
export {
  ETCD_REQUEST_LIMIT_BYTES,
  REPORT_DATA_LIMIT_BYTES,
  REPORT_METADATA_HEADROOM_BYTES,
  TRIMMED_ANNOTATION,
  fitReportToLimit,
  fitSbomToLimit,
  trimmedAnnotation,
} from './size-guard.ts';
export type { FindingList, FitResult, TrimInfo } from './size-guard.ts';
