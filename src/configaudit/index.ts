/**
 * Config audit and RBAC assessment: Trivy's own Kubernetes checks (and custom Rego policies) run
 * in batches by the pinned Trivy binary, written as Trivy-Operator's report kinds.
 */
export { ConfigAuditController, auditSpecHash } from './controller.ts';
export type { ConfigAuditControllerOptions } from './controller.ts';
export { TrivyConfigEngine } from './engine.ts';
export type { CustomModules, EngineOptions, Manifest, RunOptions } from './engine.ts';
export { CHECK_CATEGORY, isInfraCheck, reportCheckId, summarise, toChecks } from './checks.ts';
export type { CheckOptions, SortedChecks } from './checks.ts';
export {
  AUDITABLE_KINDS,
  AUDIT_REPORT_KINDS,
  auditedKinds,
  collectionPath,
  isRbacReport,
  objectPath,
} from './kinds.ts';
export type { AuditReportKind, AuditedKind } from './kinds.ts';
export {
  CUSTOM_POLICY_NAMESPACE,
  EMPTY_POLICY_SET,
  appliesTo,
  parsePolicyConfigMap,
  policiesFor,
  policyHash,
  withoutRejected,
} from './policies.ts';
export type { CustomPolicy, PolicyLibrary, PolicyProblem, PolicySet } from './policies.ts';
export { auditReportName, buildAuditReport, fitChecks, targetLabels } from './report.ts';
export type { AuditReportInput, AuditReportObject, AuditTarget } from './report.ts';
export { parseTrivyConfigOutput, parseTrivyResult, streamTrivyConfigOutput } from './trivy-output.ts';
export type { TrivyMisconfiguration } from './trivy-output.ts';
