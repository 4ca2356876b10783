/**
 * TypeScript shapes of the report custom resources (group `aquasecurity.github.io`, version `v1alpha1`),
 * field-compatible with Trivy-Operator's, plus the names, labels and annotations tools rely on.
 *
 * Optional properties mirror the CRD schemas: a property is required here when the schema requires it,
 * so objects read back from the API server type-check honestly.
 */
import type { V1ListMeta, V1ObjectMeta } from '@kubernetes/client-node';

// ---------------------------------------------------------------------------------------------------------
// API group, version and kinds
// ---------------------------------------------------------------------------------------------------------

export const API_GROUP = 'aquasecurity.github.io';
export const API_VERSION = 'v1alpha1';
/** The `apiVersion` field of every report object. */
export const API_GROUP_VERSION = `${API_GROUP}/${API_VERSION}` as const;
export type ApiGroupVersion = typeof API_GROUP_VERSION;

/** Every report kind with its REST plural, scope and kubectl short names. */
export const ReportKind = {
  VulnerabilityReport: { plural: 'vulnerabilityreports', namespaced: true, shortNames: ['vuln', 'vulns'] },
  ClusterVulnerabilityReport: {
    plural: 'clustervulnerabilityreports',
    namespaced: false,
    shortNames: ['clustervuln'],
  },
  ExposedSecretReport: {
    plural: 'exposedsecretreports',
    namespaced: true,
    shortNames: ['exposedsecret', 'exposedsecrets'],
  },
  ConfigAuditReport: {
    plural: 'configauditreports',
    namespaced: true,
    shortNames: ['configaudit', 'configaudits'],
  },
  ClusterConfigAuditReport: {
    plural: 'clusterconfigauditreports',
    namespaced: false,
    shortNames: ['clusterconfigaudit'],
  },
  RbacAssessmentReport: {
    plural: 'rbacassessmentreports',
    namespaced: true,
    shortNames: ['rbacassessment', 'rbacassessments'],
  },
  ClusterRbacAssessmentReport: {
    plural: 'clusterrbacassessmentreports',
    namespaced: false,
    // Trivy-Operator's short name for this kind is the full singular; kept for kubectl habits.
    shortNames: ['clusterrbacassessmentreport'],
  },
  InfraAssessmentReport: {
    plural: 'infraassessmentreports',
    namespaced: true,
    shortNames: ['infraassessment', 'infraassessments'],
  },
  ClusterInfraAssessmentReport: {
    plural: 'clusterinfraassessmentreports',
    namespaced: false,
    shortNames: ['clusterinfraassessment'],
  },
  ClusterComplianceReport: {
    plural: 'clustercompliancereports',
    namespaced: false,
    shortNames: ['compliance'],
  },
  SbomReport: { plural: 'sbomreports', namespaced: true, shortNames: ['sbom', 'sboms'] },
  ClusterSbomReport: { plural: 'clustersbomreports', namespaced: false, shortNames: ['clustersbom'] },
} as const;

export type ReportKindName = keyof typeof ReportKind;
export type ReportKindInfo = (typeof ReportKind)[ReportKindName];

/** All report kinds, in a stable order. */
export const reportKindNames = Object.keys(ReportKind) as ReportKindName[];

// ---------------------------------------------------------------------------------------------------------
// Labels and annotations
// ---------------------------------------------------------------------------------------------------------

/** Label keys Trivy-Operator puts on reports (and scan Jobs); dashboards and scripts select on them. */
export const ReportLabel = {
  /** Kind of the scanned object, e.g. `ReplicaSet`. */
  resourceKind: 'trivy-operator.resource.kind',
  /** Namespace of the scanned object (empty for cluster-scoped objects). */
  resourceNamespace: 'trivy-operator.resource.namespace',
  /** Name of the scanned object, when it is a valid label value. */
  resourceName: 'trivy-operator.resource.name',
  /** Hash of the scanned object's name, used instead of `resourceName` when the name is not a valid label value. */
  resourceNameHash: 'trivy-operator.resource.name-hash',
  /** Container the report is about (vulnerability, secret and SBOM reports). */
  containerName: 'trivy-operator.container.name',
  /** `app.kubernetes.io/managed-by`; Trivy-Operator sets it to {@link MANAGED_BY_TRIVY_OPERATOR}. */
  managedBy: 'app.kubernetes.io/managed-by',
  /** Hash of the scanned spec; a report whose hash differs from the workload's is stale. */
  resourceSpecHash: 'resource-spec-hash',
  /** Hash of the policies a config-audit report was produced with. */
  pluginConfigHash: 'plugin-config-hash',
} as const;
export type ReportLabelKey = (typeof ReportLabel)[keyof typeof ReportLabel];

/** Value of the `app.kubernetes.io/managed-by` label on Trivy-Operator's reports. */
export const MANAGED_BY_TRIVY_OPERATOR = 'trivy-operator';

/** Annotation keys Trivy-Operator puts on reports. */
export const ReportAnnotation = {
  /** Go duration (e.g. `24h0m0s`) after which the report is deleted; `0s` marks it for deletion now. */
  reportTTL: 'trivy-operator.aquasecurity.github.io/report-ttl',
  /** Full name of the scanned object when the label had to carry a hash ({@link ReportLabel.resourceNameHash}). */
  resourceName: 'trivy-operator.resource.name',
} as const;
export type ReportAnnotationKey = (typeof ReportAnnotation)[keyof typeof ReportAnnotation];

// ---------------------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------------------

export const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'] as const;
export type Severity = (typeof SEVERITIES)[number];
/** Exposed-secret findings never have the UNKNOWN severity (the schema's enum leaves it out). */
export type SecretSeverity = Exclude<Severity, 'UNKNOWN'>;

/** RFC 3339 timestamp, e.g. `2025-01-31T12:00:00Z`. */
export type Timestamp = string;

export interface Scanner {
  name: string;
  vendor: string;
  version: string;
}

export interface Registry {
  /** Host (and port) of the registry, e.g. `index.docker.io`. */
  server?: string;
}

export interface Artifact {
  repository?: string;
  digest?: string;
  tag?: string;
  mimeType?: string;
}

export interface OperatingSystem {
  family?: string;
  name?: string;
  /** True when the OS release is past its end of service life. */
  eosl?: boolean;
}

/** Counts of findings per severity, as in config-audit, RBAC and infra reports (failed checks only). */
export interface SeveritySummary {
  criticalCount: number;
  highCount: number;
  mediumCount: number;
  lowCount: number;
}

export interface VulnerabilitySummary extends SeveritySummary {
  unknownCount: number;
  /** Packages without any vulnerability. */
  noneCount?: number;
}

export type ExposedSecretSummary = SeveritySummary;
export type ConfigAuditSummary = SeveritySummary;
export type RbacAssessmentSummary = SeveritySummary;
export type InfraAssessmentSummary = SeveritySummary;

/** Common envelope of every report object; `report` holds the kind-specific data. */
export interface ReportResource<K extends ReportKindName, D> {
  apiVersion: ApiGroupVersion;
  kind: K;
  metadata: V1ObjectMeta;
  report: D;
}

/** A list response (`<Kind>List`) from the API server. */
export interface ReportList<T> {
  apiVersion: ApiGroupVersion;
  kind: string;
  metadata: V1ListMeta;
  items: T[];
}

// ---------------------------------------------------------------------------------------------------------
// Vulnerability reports
// ---------------------------------------------------------------------------------------------------------

/** CVSS scores and vectors from one source (a vendor or NVD). */
export interface CvssScore {
  V2Score?: number;
  V2Vector?: string;
  V3Score?: number;
  V3Vector?: string;
  V40Score?: number;
  V40Vector?: string;
}

export interface Vulnerability {
  vulnerabilityID: string;
  /** Vulnerable package or library. */
  resource: string;
  installedVersion: string;
  /** Version with the fix; empty when none is known. */
  fixedVersion: string;
  publishedDate: string;
  lastModifiedDate: string;
  severity: Severity;
  title: string;
  description?: string;
  primaryLink?: string;
  links?: string[];
  score?: number;
  /** Scan target inside the image (OS or lock file). */
  target?: string;
  /** `os-pkgs` or `lang-pkgs`. */
  class?: string;
  packageType?: string;
  packagePath?: string;
  packagePURL?: string;
  /** CVSS data keyed by source, e.g. `nvd`, `redhat`. */
  cvss?: Record<string, CvssScore>;
  cvsssource?: string;
}

export interface VulnerabilityReportData {
  updateTimestamp: Timestamp;
  scanner: Scanner;
  registry?: Registry;
  artifact: Artifact;
  os: OperatingSystem;
  summary: VulnerabilitySummary;
  vulnerabilities: Vulnerability[];
}

export type VulnerabilityReport = ReportResource<'VulnerabilityReport', VulnerabilityReportData>;
export type ClusterVulnerabilityReport = ReportResource<
  'ClusterVulnerabilityReport',
  VulnerabilityReportData
>;

// ---------------------------------------------------------------------------------------------------------
// Exposed secret reports
// ---------------------------------------------------------------------------------------------------------

export interface ExposedSecret {
  /** File in the image holding the secret. */
  target: string;
  ruleID: string;
  title: string;
  category: string;
  severity: SecretSeverity;
  /** The matching line, with the secret masked. */
  match: string;
}

export interface ExposedSecretReportData {
  updateTimestamp: Timestamp;
  scanner: Scanner;
  registry?: Registry;
  artifact: Artifact;
  summary: ExposedSecretSummary;
  secrets: ExposedSecret[];
}

export type ExposedSecretReport = ReportResource<'ExposedSecretReport', ExposedSecretReportData>;

// ---------------------------------------------------------------------------------------------------------
// Config audit, RBAC and infra assessment reports
// ---------------------------------------------------------------------------------------------------------

export interface CheckScope {
  /** What the scope refers to, e.g. `Container`. */
  type: string;
  value: string;
}

/** Fields shared by a check of an audit report and a check of a compliance detail report. */
export interface CheckResult {
  checkID: string;
  title?: string;
  description?: string;
  severity: Severity;
  category?: string;
  messages?: string[];
  remediation?: string;
  /** True when the object passed the check. */
  success: boolean;
}

export interface Check extends CheckResult {
  scope?: CheckScope;
}

export interface ConfigAuditReportData {
  updateTimestamp?: Timestamp;
  scanner?: Scanner;
  summary?: ConfigAuditSummary;
  checks: Check[];
}

/** RBAC and infra assessments carry no update timestamp (their schema has none). */
export interface AssessmentReportData {
  scanner: Scanner;
  summary: SeveritySummary;
  checks: Check[];
}
export type RbacAssessmentReportData = AssessmentReportData;
export type InfraAssessmentReportData = AssessmentReportData;

export type ConfigAuditReport = ReportResource<'ConfigAuditReport', ConfigAuditReportData>;
export type ClusterConfigAuditReport = ReportResource<'ClusterConfigAuditReport', ConfigAuditReportData>;
export type RbacAssessmentReport = ReportResource<'RbacAssessmentReport', RbacAssessmentReportData>;
export type ClusterRbacAssessmentReport = ReportResource<
  'ClusterRbacAssessmentReport',
  RbacAssessmentReportData
>;
export type InfraAssessmentReport = ReportResource<'InfraAssessmentReport', InfraAssessmentReportData>;
export type ClusterInfraAssessmentReport = ReportResource<
  'ClusterInfraAssessmentReport',
  InfraAssessmentReportData
>;

// ---------------------------------------------------------------------------------------------------------
// SBOM reports (CycloneDX)
// ---------------------------------------------------------------------------------------------------------

export interface BomHash {
  alg?: string;
  content?: string;
}

export interface BomLicense {
  id?: string;
  name?: string;
  url?: string;
}

export interface BomLicenseChoice {
  license?: BomLicense;
  expression?: string;
}

export interface BomProperty {
  name?: string;
  value?: string;
}

export interface BomContact {
  name?: string;
  email?: string;
  phone?: string;
}

export interface BomOrganization {
  name?: string;
  url?: string[];
  contact?: BomContact[];
}

export interface BomComponent {
  'bom-ref'?: string;
  type?: string;
  name?: string;
  group?: string;
  version?: string;
  purl?: string;
  supplier?: BomOrganization;
  hashes?: BomHash[];
  licenses?: BomLicenseChoice[];
  properties?: BomProperty[];
}

export interface BomDependency {
  ref?: string;
  dependsOn?: string[];
}

export interface BomMetadata {
  timestamp?: string;
  tools?: { components?: BomComponent[] };
  component?: BomComponent;
}

/** The subset of a CycloneDX BOM that SBOM reports keep. */
export interface Bom {
  bomFormat: string;
  specVersion: string;
  serialNumber?: string;
  version?: number;
  metadata?: BomMetadata;
  components?: BomComponent[];
  dependencies?: BomDependency[];
}

export interface SbomSummary {
  componentsCount: number;
  dependenciesCount: number;
}

export interface SbomReportData {
  updateTimestamp: Timestamp;
  scanner: Scanner;
  registry?: Registry;
  artifact: Artifact;
  summary: SbomSummary;
  /** The BOM itself (the field is named `components` for compatibility). */
  components: Bom;
}

export type SbomReport = ReportResource<'SbomReport', SbomReportData>;
export type ClusterSbomReport = ReportResource<'ClusterSbomReport', SbomReportData>;

// ---------------------------------------------------------------------------------------------------------
// Cluster compliance reports
// ---------------------------------------------------------------------------------------------------------

export type ComplianceReportType = 'summary' | 'all';
export type ControlDefaultStatus = 'PASS' | 'WARN' | 'FAIL';

export interface ComplianceControl {
  id: string;
  name: string;
  description?: string;
  /** Checks (by ID, e.g. `AVD-KSV-0012`) that decide the control. */
  checks?: { id: string }[];
  /** Node-collector commands the control needs. */
  commands?: { id: string }[];
  severity: Severity;
  /** Status reported when no check covers the control (manual controls). */
  defaultStatus?: ControlDefaultStatus;
}

export interface ComplianceSpec {
  id: string;
  title: string;
  description: string;
  version: string;
  relatedResources: string[];
  platform: string;
  type: string;
  controls: ComplianceControl[];
}

export interface ComplianceReportSpec {
  /** Five-field cron schedule of the compliance run. */
  cron: string;
  reportType: ComplianceReportType;
  compliance: ComplianceSpec;
}

export interface ComplianceSummary {
  failCount?: number;
  passCount?: number;
}

export interface ControlCheckSummary {
  id?: string;
  name?: string;
  severity?: string;
  totalFail?: number;
}

export interface ComplianceSummaryReport {
  id?: string;
  title?: string;
  controlCheck?: ControlCheckSummary[];
}

export interface ComplianceCheck extends CheckResult {
  target?: string;
}

export interface ControlCheckResult {
  id?: string;
  name?: string;
  description?: string;
  /** `PASS`, `FAIL`, `WARN` or `MANUAL`. */
  status?: string;
  severity?: string;
  checks: ComplianceCheck[];
}

export interface ComplianceDetailReport {
  id?: string;
  title?: string;
  description?: string;
  version?: string;
  /** Related resources of the spec (the field name is kept for compatibility). */
  relatedVersion?: string[];
  results?: ControlCheckResult[];
}

export interface ComplianceReportStatus {
  updateTimestamp: Timestamp;
  summary?: ComplianceSummary;
  summaryReport?: ComplianceSummaryReport;
  detailReport?: ComplianceDetailReport;
}

export interface ClusterComplianceReport {
  apiVersion: ApiGroupVersion;
  kind: 'ClusterComplianceReport';
  metadata: V1ObjectMeta;
  spec: ComplianceReportSpec;
  status?: ComplianceReportStatus;
}

// ---------------------------------------------------------------------------------------------------------
// Unions
// ---------------------------------------------------------------------------------------------------------

/** Report objects by kind. */
export interface ReportByKind {
  VulnerabilityReport: VulnerabilityReport;
  ClusterVulnerabilityReport: ClusterVulnerabilityReport;
  ExposedSecretReport: ExposedSecretReport;
  ConfigAuditReport: ConfigAuditReport;
  ClusterConfigAuditReport: ClusterConfigAuditReport;
  RbacAssessmentReport: RbacAssessmentReport;
  ClusterRbacAssessmentReport: ClusterRbacAssessmentReport;
  InfraAssessmentReport: InfraAssessmentReport;
  ClusterInfraAssessmentReport: ClusterInfraAssessmentReport;
  ClusterComplianceReport: ClusterComplianceReport;
  SbomReport: SbomReport;
  ClusterSbomReport: ClusterSbomReport;
}

export type AnyReport = ReportByKind[ReportKindName];

/** The REST path of a report kind's collection, one object, or one object's subresource. */
export function reportObjectPath(
  kind: ReportKindName,
  namespace?: string,
  name?: string,
  subresource?: 'status',
): string {
  const info = ReportKind[kind];
  const ns = info.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const one = name === undefined ? '' : `/${encodeURIComponent(name)}${subresource ? `/${subresource}` : ''}`;
  return `/apis/${API_GROUP}/${API_VERSION}${ns}/${info.plural}${one}`;
}

/**
 * The collections to watch for one report kind: each literal target namespace (that works with
 * namespaced RBAC too), else the whole cluster. Every reader of a kind watches the same ones, so the
 * process shares one watch per collection.
 */
export function reportCollections(
  kind: ReportKindName,
  literalNamespaces: readonly string[] | null,
): { path: string }[] {
  if (ReportKind[kind].namespaced && literalNamespaces)
    return literalNamespaces.map((namespace) => ({ path: reportObjectPath(kind, namespace) }));
  return [{ path: reportObjectPath(kind) }];
}
