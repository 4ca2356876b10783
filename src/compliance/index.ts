/**
 * Cluster compliance: ClusterComplianceReports (CIS, NSA, Pod Security Standards) evaluated from
 * the config-audit, RBAC and infra reports, each on its own `spec.cron`, and the specs shipped from
 * Trivy's trivy-checks module. Everything that decides is pure; ComplianceController talks to the
 * cluster.
 */
export { normaliseCheckId, avdCheckId } from './check-id.ts';
export { readComplianceSpec } from './spec.ts';
export type { ControlSpec, EvaluationSpec, SpecReading } from './spec.ts';
export {
  ComplianceTally,
  ControlStatus,
  evaluate,
  statusOf,
  summaryReportOf,
  detailReportOf,
} from './evaluate.ts';
export type { ControlOutcome, Evaluation, FailedCheck, TallyOptions } from './evaluate.ts';
export { fitStatus, statusBudget } from './size.ts';
export type { FittedStatus, NotedDetailReport } from './size.ts';
export { dueAt, isDue, isValidCron, nextCronTime, parseTimestamp, scheduleBasis } from './schedule.ts';
export type { ScheduleEntry } from './schedule.ts';
export { COMPLIANCE_INPUT_KINDS, failedChecksOf, readFailedChecks } from './inputs.ts';
export type { ComplianceInputKind, ReadOptions } from './inputs.ts';
export { ComplianceController, nodeCronScheduler } from './controller.ts';
export type { ComplianceControllerOptions, CronScheduler } from './controller.ts';
export {
  complianceManifest,
  DEFAULT_COMPLIANCE_CRON,
  DEFAULT_COMPLIANCE_REPORT_TYPE,
  parseUpstreamSpec,
  renderChartTemplate,
  renderPlainManifest,
  SHIPPED_SPECS,
  TRIVY_CHECKS_MODULE,
  TRIVY_CHECKS_VERSION,
} from './manifests.ts';
export type { ComplianceManifest, ShippedSpec } from './manifests.ts';
