/**
 * Findings people act on (issue #18): the in-memory index of every VulnerabilityReport's findings
 * (every replica), first-seen stamps kept in the reports' annotation (written by the leader),
 * new-finding and remediation-deadline series, and "where does CVE-X run?".
 */
export {
  FIRST_SEEN_ANNOTATION,
  findingKey,
  formatFirstSeen,
  parseFirstSeen,
  type FindingKey,
  type Stamp,
} from './first-seen.ts';
export {
  FindingsIndex,
  reportKey,
  type AffectedRow,
  type FindingsIndexOptions,
  type IndexedReport,
  type ReportKey,
} from './findings-index.ts';
export { decideStamps } from './stamps.ts';
export {
  RemediationView,
  type DeadlinePolicy,
  type RemediationRow,
  type RemediationState,
} from './remediation.ts';
export {
  FINDINGS_FAMILIES,
  FindingsSeries,
  NEW_FINDING_SEVERITIES,
  type FindingsMetricsOptions,
} from './metrics.ts';
export {
  BASELINE_CONFIGMAP,
  FirstSeenTracker,
  type BaselineMarker,
  type FirstSeenTrackerOptions,
  type NewFindings,
} from './tracker.ts';
export { imageName, isVulnerabilityId, normalizeVulnerabilityId, type ReportSubject } from './subject.ts';
export { affectedHandler, type AffectedEndpointOptions, type AffectedResponse } from './endpoint.ts';
export { findingsForReplica, type ReplicaFindings } from './setup.ts';
