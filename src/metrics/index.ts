export { OperatorHealthMetrics } from './operator-health.ts';
export { ReportMetrics, type ReportMetricsOptions } from './report-metrics.ts';
export {
  ScanFailureReason,
  ScanMetrics,
  ScanOutcome,
  TrivyDatabase,
  type ScanFinished,
  type ScannedImage,
} from './scan-metrics.ts';
export {
  WebhookAttemptOutcome,
  WebhookDropReason,
  WebhookFailureReason,
  WebhookMetrics,
} from './webhook-metrics.ts';
export {
  FAMILIES,
  buildLayout,
  familyOptionsFromConfig,
  resourceLabelName,
  type FamilyId,
  type FamilyOptions,
  type FamilySpec,
  type Layout,
} from './families.ts';
export { BLOCK_REPORTS, gzipMember, SeriesStore, type Snapshot, type StoreEvents } from './store.ts';
export { createScrapeHandler, holdBudgetMs, type ScrapeHandlerOptions } from './scrape.ts';
export { ReportWarning, renderReport, type RenderedReport, type ReportWarningCode } from './render.ts';
export {
  CONTENT_TYPES,
  ExpositionFormat,
  gaugeHeader,
  labelPairs,
  negotiateFormat,
  titleCase,
} from './exposition.ts';
