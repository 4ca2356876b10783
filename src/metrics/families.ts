/**
 * Every metric family the exporter renders from reports, in one table: name, help, label names,
 * which report kind feeds it and which setting turns it on. Names, label names and label values of
 * the `trivy_*` families are Trivy-Operator's, so dashboards and alerts carry over; the
 * `trivy_lookout_*` families are this exporter's own cheap aggregates.
 */
import type { Config } from '../config/index.ts';
import type { ReportKindName } from '../crds/index.ts';

/** Trivy-Operator's severity label values, in the order series are written. */
export const SEVERITY_LABELS = ['Critical', 'High', 'Medium', 'Low', 'Unknown'] as const;
export type SeverityLabel = (typeof SEVERITY_LABELS)[number];

/** Label names shared by the image families. */
const IMAGE = [
  'namespace',
  'name',
  'resource_kind',
  'resource_name',
  'container_name',
  'image_registry',
  'image_repository',
  'image_tag',
  'image_digest',
] as const;

/** Label names shared by the config-audit, RBAC and infra families. */
const RESOURCE = ['namespace', 'name', 'resource_kind', 'resource_name'] as const;

const IMAGE_ONLY = ['image_registry', 'image_repository', 'image_tag', 'image_digest'] as const;

/** Which setting enables a family (beyond `operator.metricsFindingsEnabled` for all `trivy_*` ones). */
export type FamilyToggle =
  | 'findings'
  | 'vulnId'
  | 'exposedSecretInfo'
  | 'configAuditInfo'
  | 'rbacAssessmentInfo'
  | 'infraAssessmentInfo'
  | 'imageInfo'
  | 'clusterComplianceInfo'
  | 'aggregates'
  | 'always';

export interface FamilySpec {
  readonly name: string;
  readonly help: string;
  /** Label names before the configured resource labels (`k8s_label_*`), in output order. */
  readonly labels: readonly string[];
  /** The report kind whose objects feed the family; null for aggregates over vulnerability reports. */
  readonly source: ReportKindName | null;
  readonly toggle: FamilyToggle;
  /** Whether the configured resource labels are appended (Trivy-Operator appends them to all its families). */
  readonly resourceLabels: boolean;
  /**
   * 'report': every series carries the report's own namespace/name, so two reports can never emit the
   * same label set. 'content': the label set comes from report content only (compliance title and
   * description), so two reports may collide and the store must arbitrate.
   */
  readonly identity: 'report' | 'content' | 'aggregate';
}

const family = (spec: FamilySpec): FamilySpec => spec;

export const FAMILIES = {
  imageVulnerabilities: family({
    name: 'trivy_image_vulnerabilities',
    help: 'Vulnerabilities in a container image, by severity (from the report summary).',
    labels: [...IMAGE, 'severity'],
    source: 'VulnerabilityReport',
    toggle: 'findings',
    resourceLabels: true,
    identity: 'report',
  }),
  vulnerabilityId: family({
    name: 'trivy_vulnerability_id',
    help: 'One series per vulnerability found in a container image; the value is always 1.',
    labels: [
      ...IMAGE,
      'installed_version',
      'fixed_version',
      'published_date',
      'last_modified_date',
      'resource',
      'severity',
      'package_type',
      'pkg_path',
      'target',
      'class',
      'vuln_id',
      'vuln_title',
      'vuln_score',
    ],
    source: 'VulnerabilityReport',
    toggle: 'vulnId',
    resourceLabels: true,
    identity: 'report',
  }),
  imageExposedSecrets: family({
    name: 'trivy_image_exposedsecrets',
    help: 'Secrets exposed in a container image, by severity.',
    labels: [...IMAGE, 'severity'],
    source: 'ExposedSecretReport',
    toggle: 'findings',
    resourceLabels: true,
    identity: 'report',
  }),
  exposedSecretsInfo: family({
    name: 'trivy_exposedsecrets_info',
    help: 'One series per secret exposed in a container image; the value is always 1.',
    labels: [...IMAGE, 'secret_category', 'secret_rule_id', 'secret_target', 'secret_title', 'severity'],
    source: 'ExposedSecretReport',
    toggle: 'exposedSecretInfo',
    resourceLabels: true,
    identity: 'report',
  }),
  resourceConfigAudits: family({
    name: 'trivy_resource_configaudits',
    help: 'Failed configuration checks of a resource, by severity.',
    labels: [...RESOURCE, 'severity'],
    source: 'ConfigAuditReport',
    toggle: 'findings',
    resourceLabels: true,
    identity: 'report',
  }),
  configAuditsInfo: family({
    name: 'trivy_configaudits_info',
    help: 'One series per configuration check of a resource (config_audit_success says whether it passed).',
    labels: [
      ...RESOURCE,
      'config_audit_id',
      'config_audit_title',
      'config_audit_description',
      'config_audit_category',
      'config_audit_success',
      'severity',
    ],
    source: 'ConfigAuditReport',
    toggle: 'configAuditInfo',
    resourceLabels: true,
    identity: 'report',
  }),
  roleRbacAssessments: family({
    name: 'trivy_role_rbacassessments',
    help: 'Failed RBAC checks of a Role, by severity.',
    labels: [...RESOURCE, 'severity'],
    source: 'RbacAssessmentReport',
    toggle: 'findings',
    resourceLabels: true,
    identity: 'report',
  }),
  rbacAssessmentsInfo: family({
    name: 'trivy_rbacassessments_info',
    help: 'One series per RBAC check of a Role (rbac_assessment_success says whether it passed).',
    labels: [
      ...RESOURCE,
      'rbac_assessment_id',
      'rbac_assessment_title',
      'rbac_assessment_description',
      'rbac_assessment_category',
      'rbac_assessment_success',
      'severity',
    ],
    source: 'RbacAssessmentReport',
    toggle: 'rbacAssessmentInfo',
    resourceLabels: true,
    identity: 'report',
  }),
  resourceInfraAssessments: family({
    name: 'trivy_resource_infraassessments',
    help: 'Failed infrastructure checks of a resource, by severity.',
    labels: [...RESOURCE, 'severity'],
    source: 'InfraAssessmentReport',
    toggle: 'findings',
    resourceLabels: true,
    identity: 'report',
  }),
  infraAssessmentsInfo: family({
    name: 'trivy_infraassessments_info',
    help: 'One series per infrastructure check of a resource (infra_assessment_success says whether it passed).',
    labels: [
      ...RESOURCE,
      'infra_assessment_id',
      'infra_assessment_title',
      'infra_assessment_description',
      'infra_assessment_category',
      'infra_assessment_success',
      'severity',
    ],
    source: 'InfraAssessmentReport',
    toggle: 'infraAssessmentInfo',
    resourceLabels: true,
    identity: 'report',
  }),
  clusterRoleClusterRbacAssessments: family({
    name: 'trivy_clusterrole_clusterrbacassessments',
    help: 'Failed RBAC checks of a ClusterRole, by severity.',
    labels: ['name', 'resource_kind', 'resource_name', 'severity'],
    source: 'ClusterRbacAssessmentReport',
    toggle: 'findings',
    resourceLabels: true,
    identity: 'report',
  }),
  clusterCompliance: family({
    name: 'trivy_cluster_compliance',
    help: 'Controls of a compliance report that fail and pass.',
    labels: ['title', 'description', 'status'],
    source: 'ClusterComplianceReport',
    toggle: 'findings',
    resourceLabels: true,
    identity: 'content',
  }),
  imageInfo: family({
    name: 'trivy_image_info',
    help: 'One series per scanned container image, with its OS; the value is always 1.',
    labels: [...IMAGE, 'image_os_family', 'image_os_name', 'image_os_eosl'],
    source: 'VulnerabilityReport',
    toggle: 'imageInfo',
    resourceLabels: true,
    identity: 'report',
  }),
  complianceInfo: family({
    name: 'trivy_compliance_info',
    help: 'One series per compliance control: failed checks when it fails, 1 when it passes.',
    labels: ['title', 'description', 'compliance_id', 'compliance_name', 'status', 'severity'],
    source: 'ClusterComplianceReport',
    toggle: 'clusterComplianceInfo',
    resourceLabels: true,
    identity: 'content',
  }),
  namespaceVulnerabilities: family({
    name: 'trivy_lookout_namespace_vulnerabilities',
    help: "Vulnerabilities summed over a namespace's vulnerability reports, by severity and whether a fixed version exists.",
    labels: ['namespace', 'severity', 'fixable'],
    source: null,
    toggle: 'aggregates',
    resourceLabels: false,
    identity: 'aggregate',
  }),
  imageUniqueVulnerabilities: family({
    name: 'trivy_lookout_image_vulnerabilities',
    help: 'Vulnerabilities of each distinct image, counted once however many containers run it, by severity and whether a fixed version exists.',
    labels: [...IMAGE_ONLY, 'severity', 'fixable'],
    source: null,
    toggle: 'aggregates',
    resourceLabels: false,
    identity: 'aggregate',
  }),
  imageContainers: family({
    name: 'trivy_lookout_image_containers',
    help: 'Containers (vulnerability reports) that run each distinct image.',
    labels: [...IMAGE_ONLY],
    source: null,
    toggle: 'aggregates',
    resourceLabels: false,
    identity: 'aggregate',
  }),
} as const;

export type FamilyId = keyof typeof FAMILIES;

/** Output order: Trivy-Operator's families in its collection order, then the aggregates. */
export const FAMILY_ORDER = Object.keys(FAMILIES) as FamilyId[];

/** The settings that shape the families; a slice of {@link Config}. */
export interface FamilyOptions {
  findings: boolean;
  vulnId: boolean;
  exposedSecretInfo: boolean;
  configAuditInfo: boolean;
  rbacAssessmentInfo: boolean;
  infraAssessmentInfo: boolean;
  imageInfo: boolean;
  clusterComplianceInfo: boolean;
  /** The trivy_lookout_* aggregates over vulnerability reports (independent of `findings`). */
  aggregates: boolean;
  /** Report label keys exported as extra labels. */
  resourceLabels: readonly string[];
  resourceLabelsPrefix: string;
}

export function familyOptionsFromConfig(config: Pick<Config, 'operator' | 'metrics'>): FamilyOptions {
  return {
    findings: config.operator.metricsFindingsEnabled,
    vulnId: config.operator.metricsVulnIdEnabled,
    exposedSecretInfo: config.metrics.exposedSecretInfo,
    configAuditInfo: config.metrics.configAuditInfo,
    rbacAssessmentInfo: config.metrics.rbacAssessmentInfo,
    infraAssessmentInfo: config.metrics.infraAssessmentInfo,
    imageInfo: config.metrics.imageInfo,
    clusterComplianceInfo: config.metrics.clusterComplianceInfo,
    aggregates: config.metrics.aggregates,
    resourceLabels: config.metrics.resourceLabels,
    resourceLabelsPrefix: config.metrics.resourceLabelsPrefix,
  };
}

/** A resource label to export: the report label key it is read from and the metric label name. */
export interface ResourceLabel {
  readonly key: string;
  readonly name: string;
}

/** One enabled family with its slot (index into per-report chunk arrays) and final label names. */
export interface ActiveFamily {
  readonly id: FamilyId;
  readonly slot: number;
  readonly spec: FamilySpec;
  readonly labelNames: readonly string[];
}

/** The enabled families, the resource labels, and the report kinds that must be watched. */
export interface Layout {
  readonly families: readonly ActiveFamily[];
  /** Slot of each enabled family; absent when disabled. */
  readonly slots: Readonly<Partial<Record<FamilyId, number>>>;
  readonly resourceLabels: readonly ResourceLabel[];
  readonly kinds: readonly ReportKindName[];
  /** Resource labels dropped because their metric label name clashed with another label. */
  readonly droppedResourceLabels: readonly string[];
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Trivy-Operator's mapping of a Kubernetes label key to a metric label name: characters outside
 * [a-zA-Z0-9_] become "_", then camelCase becomes snake_case.
 */
export function resourceLabelName(prefix: string, key: string): string {
  const sanitized = key.replace(/[^a-zA-Z0-9_]/g, '_');
  return prefix + sanitized.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase();
}

function isEnabled(toggle: FamilyToggle, options: FamilyOptions): boolean {
  if (toggle === 'always') return true;
  if (toggle === 'aggregates') return options.aggregates;
  if (!options.findings) return false;
  return toggle === 'findings' || options[toggle];
}

export function buildLayout(options: FamilyOptions): Layout {
  const reserved = new Set(Object.values(FAMILIES).flatMap((spec) => spec.labels));
  const resourceLabels: ResourceLabel[] = [];
  const dropped: string[] = [];
  const taken = new Set<string>();
  for (const key of options.resourceLabels) {
    const name = resourceLabelName(options.resourceLabelsPrefix, key);
    // A clash would emit one label twice (invalid exposition) or overwrite a Trivy label.
    if (!LABEL_NAME.test(name) || name.startsWith('__') || reserved.has(name) || taken.has(name)) {
      dropped.push(key);
      continue;
    }
    taken.add(name);
    resourceLabels.push({ key, name });
  }
  const families: ActiveFamily[] = [];
  const slots: Partial<Record<FamilyId, number>> = {};
  const kinds = new Set<ReportKindName>();
  for (const id of FAMILY_ORDER) {
    const spec: FamilySpec = FAMILIES[id];
    if (!isEnabled(spec.toggle, options)) continue;
    const labelNames = spec.resourceLabels
      ? [...spec.labels, ...resourceLabels.map((label) => label.name)]
      : spec.labels;
    slots[id] = families.length;
    families.push({ id, slot: families.length, spec, labelNames });
    // The aggregates are computed from vulnerability reports.
    kinds.add(spec.source ?? 'VulnerabilityReport');
  }
  return { families, slots, resourceLabels, kinds: [...kinds], droppedResourceLabels: dropped };
}
