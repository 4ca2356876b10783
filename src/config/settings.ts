/**
 * The one table of settings: YAML key, environment variable, default, parser and meaning.
 * Names follow Trivy-Operator (Helm values for keys, its OPERATOR_* variables for env) so existing
 * configuration carries over; settings it does not have use OPERATOR_ + the key in SCREAMING_SNAKE
 * (an `operator.` section is not repeated: operator.logLevel → OPERATOR_LOG_LEVEL).
 * Defaults are written as a user would write the env var and go through the same parser, so a
 * default can never bypass validation and the docs show exactly what to type.
 */
import {
  DNS_LABEL,
  DNS_SUBDOMAIN,
  HEADER_NAME,
  IMAGE_REFERENCE,
  IMAGE_REPOSITORY,
  IMAGE_TAG,
  LABEL_KEY,
  LABEL_VALUE,
  METRIC_LABEL_PREFIX,
  NAMESPACE_GLOB,
  QUANTITY,
  REGISTRY_HOST,
  REGISTRY_MIRROR,
} from './formats.ts';
import {
  anyCase,
  bindAddress,
  tolerations,
  bool,
  cronExpression,
  duration,
  fileContent,
  headers,
  httpUrl,
  integer,
  kubeList,
  kubeObject,
  listOf,
  mapOf,
  matching,
  oneOf,
  optional,
  secretNamesByNamespace,
  severityDeadlines,
  text,
} from './parsers.ts';
import type { Parser } from './parsers.ts';
import { goPathGlob } from './glob.ts';
import { DEFAULT_NODE_COLLECTOR_PATHS, hostPathVolumes, hostVolumeMounts } from './node-collector.ts';
import {
  ADDITIONAL_VULNERABILITY_FIELDS,
  AFFECTED_ENDPOINT_AUTH,
  CONFIG_AUDIT_KINDS,
  LOG_LEVELS,
  SEVERITIES,
  SBOM_SOURCES,
  SEVERITY_SOURCES,
  IMAGE_PULL_POLICIES,
  TRIVY_COMMANDS,
  TRIVY_MODES,
  VULN_TYPES,
  WORKLOAD_KINDS,
} from './types.ts';
import type {
  V1Affinity,
  V1PodSecurityContext,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';

export interface SettingSpec<T> {
  /** Dotted path in the YAML file. */
  readonly key: string;
  readonly env: string;
  /** What the setting accepts, for the docs. */
  readonly type: string;
  /** Raw default, in env-var syntax; parsed like any other value. */
  readonly default: string;
  /** Shown in the docs instead of `default` when the real default is computed. */
  readonly defaultNote?: string;
  readonly description: string;
  readonly parse: Parser<T>;
  /**
   * Whether a blank value ("" or YAML null) is a value of its own (an empty list, "off"). When
   * false, blank means "not set" so the next layer down applies — charts render "" for unset.
   */
  readonly blankIsValue?: boolean;
  /** Never echo the value (tokens, headers with credentials). */
  readonly secret?: boolean;
  /** Other names of the variable, read when `env` is unset (Trivy-Operator's spellings). */
  readonly envAliases?: readonly string[];
}

const setting = <T>(spec: SettingSpec<T>): SettingSpec<T> => spec;

const DEFAULT_TRIVY_IMAGE_TAG = '0.72.0'; // what Trivy-Operator v0.32.0 ships with

/** A regex's source without its anchors: an item pattern for listOf. */
const unanchored = (shape: RegExp) => shape.source.replace(/^\^/, '').replace(/\$$/, '');
const namespaceGlobs = listOf(
  (entry) => (NAMESPACE_GLOB.test(entry) ? entry : undefined),
  'comma-separated namespace names or globs (* and ?) of lowercase letters, digits, "-" and "."',
  { itemPattern: unanchored(NAMESPACE_GLOB) },
);
const registryHosts = listOf(
  (entry) => (REGISTRY_HOST.test(entry) ? entry : undefined),
  'registry hosts like registry.example.com:5000 (a list, a comma-separated string or a map of name: host)',
  { itemPattern: unanchored(REGISTRY_HOST) },
);
const quantity = optional(matching(QUANTITY, 'is not a Kubernetes quantity like 100m, 0.5, 500M or 1Gi'));
const imageRef = (example: string) => matching(IMAGE_REFERENCE, `is not an image repository like ${example}`);

export const SETTINGS = {
  targetNamespaces: setting({
    key: 'targetNamespaces',
    env: 'OPERATOR_TARGET_NAMESPACES',
    type: 'list of namespace globs',
    default: '',
    description: 'Namespaces to watch, as names or globs with `*` and `?`; empty means all namespaces.',
    parse: namespaceGlobs,
    blankIsValue: true,
  }),
  excludeNamespaces: setting({
    key: 'excludeNamespaces',
    env: 'OPERATOR_EXCLUDE_NAMESPACES',
    type: 'list of namespace globs',
    default: '',
    description: 'Namespaces never watched (names or globs); wins over `targetNamespaces`.',
    parse: namespaceGlobs,
    blankIsValue: true,
  }),
  targetWorkloads: setting({
    key: 'targetWorkloads',
    env: 'OPERATOR_TARGET_WORKLOADS',
    type: `list of ${WORKLOAD_KINDS.join(' | ')}`,
    default: WORKLOAD_KINDS.join(','),
    description:
      'Workload kinds to scan (case-insensitive). Deployments are covered through their ReplicaSets.',
    parse: listOf(
      (entry) => WORKLOAD_KINDS.find((kind) => kind === entry.toLowerCase()),
      `a comma-separated list of ${WORKLOAD_KINDS.join(', ')}`,
      { minItems: 1, itemPattern: anyCase(WORKLOAD_KINDS) },
    ),
  }),
  operatorNamespace: setting({
    key: 'operator.namespace',
    env: 'OPERATOR_NAMESPACE',
    type: 'namespace name',
    default: 'trivy-system',
    defaultNote: "the pod's own namespace (service-account file), else `trivy-system`",
    description: 'Namespace the operator runs in; scan Jobs and the leader-election Lease are created there.',
    parse: matching(DNS_LABEL, 'is not a namespace name (lowercase letters, digits and "-")'),
  }),
  scanJobTimeout: setting({
    key: 'operator.scanJobTimeout',
    env: 'OPERATOR_SCAN_JOB_TIMEOUT',
    type: 'duration',
    default: '5m',
    description: 'How long a scan Job may run before it is failed (its `activeDeadlineSeconds`).',
    parse: duration,
  }),
  scanJobsConcurrentLimit: setting({
    key: 'operator.scanJobsConcurrentLimit',
    env: 'OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT',
    type: 'integer ≥ 1',
    default: '10',
    description: 'Maximum number of scan Jobs running at once.',
    parse: integer(1, 10_000),
  }),
  scanJobsRetryDelay: setting({
    key: 'operator.scanJobsRetryDelay',
    env: 'OPERATOR_SCAN_JOB_RETRY_AFTER',
    type: 'duration',
    default: '30s',
    description: 'Wait before trying again when a scan Job cannot start (Job limit reached) or failed.',
    parse: duration,
  }),
  scannerReportTTL: setting({
    key: 'operator.scannerReportTTL',
    env: 'OPERATOR_SCANNER_REPORT_TTL',
    type: 'duration or empty',
    default: '24h',
    description: 'Age after which a vulnerability report is rescanned; empty disables expiry.',
    parse: optional(duration),
    blankIsValue: true,
  }),
  resyncPeriod: setting({
    key: 'operator.resyncPeriod',
    env: 'OPERATOR_RESYNC_PERIOD',
    type: 'duration',
    default: '10m',
    description:
      'How often every controller re-checks each object it follows, putting right what changed behind its back (a deleted scan Job, a failed write).',
    parse: duration,
  }),
  rescanSchedule: setting({
    key: 'operator.rescanSchedule',
    env: 'OPERATOR_RESCAN_SCHEDULE',
    type: 'cron expression',
    default: '0 * * * *',
    description: 'When to look for expired reports to rescan (node-cron syntax, 5 or 6 fields).',
    parse: cronExpression,
  }),
  metricsBindAddress: setting({
    key: 'operator.metricsBindAddress',
    env: 'OPERATOR_METRICS_BIND_ADDRESS',
    type: '[host]:port or port',
    default: ':8080',
    description: 'Listen address of the one HTTP server for `/metrics`, `/healthz` and `/readyz`.',
    parse: bindAddress,
  }),
  metricsFindingsEnabled: setting({
    key: 'operator.metricsFindingsEnabled',
    env: 'OPERATOR_METRICS_FINDINGS_ENABLED',
    type: 'boolean',
    default: 'true',
    description: 'Export the per-report finding-count metrics (`trivy_image_vulnerabilities` etc.).',
    parse: bool,
  }),
  metricsVulnIdEnabled: setting({
    key: 'operator.metricsVulnIdEnabled',
    env: 'OPERATOR_METRICS_VULN_ID_ENABLED',
    type: 'boolean',
    default: 'false',
    description: 'Export `trivy_vulnerability_id`, one series per vulnerability (high cardinality).',
    parse: bool,
  }),
  metricsAggregatesEnabled: setting({
    key: 'operator.metricsAggregatesEnabled',
    env: 'OPERATOR_METRICS_AGGREGATES_ENABLED',
    type: 'boolean',
    default: 'true',
    description:
      "Export this exporter's aggregates `trivy_lookout_namespace_vulnerabilities`, `trivy_lookout_image_vulnerabilities` and `trivy_lookout_image_containers` (10 samples per namespace, 11 per distinct image). Off: the dashboards' namespace, image and fixable panels and the TrivyFixableVulnerabilitiesHigh alert have no data.",
    parse: bool,
  }),
  newFindingsEnabled: setting({
    key: 'operator.newFindingsEnabled',
    env: 'OPERATOR_NEW_FINDINGS_ENABLED',
    type: 'boolean',
    default: 'true',
    description:
      'Track when each High/Critical vulnerability (and each one under a remediation deadline) was first seen in a namespace and image repository, kept in the annotation `trivy-lookout.dev/first-seen` of VulnerabilityReports (the leader writes it); export `trivy_lookout_new_vulnerability` and the remediation families (docs/findings.md).',
    parse: bool,
  }),
  newFindingsWindow: setting({
    key: 'operator.newFindingsWindow',
    env: 'OPERATOR_NEW_FINDINGS_WINDOW',
    type: 'duration',
    default: '24h',
    description:
      'How long a finding counts as new: `trivy_lookout_new_vulnerability` holds a series for it from when it is first seen until this much later.',
    parse: duration,
  }),
  remediationDeadlines: setting({
    key: 'operator.remediationDeadlines',
    env: 'OPERATOR_REMEDIATION_DEADLINES',
    type: '`SEVERITY=duration,…` or map',
    default: 'CRITICAL=7d,HIGH=30d',
    description:
      'Time to fix a finding of each severity, counted from when it was first seen; past it the finding is overdue (`trivy_lookout_overdue_vulnerabilities`). Durations like `7d`, `36h`. Severities not listed have no deadline.',
    parse: severityDeadlines(SEVERITIES),
    blankIsValue: true,
  }),
  remediationFixableOnly: setting({
    key: 'operator.remediationFixableOnly',
    env: 'OPERATOR_REMEDIATION_FIXABLE_ONLY',
    type: 'boolean',
    default: 'true',
    description: 'Apply remediation deadlines only to findings with a fixed version.',
    parse: bool,
  }),
  affectedEndpointAuth: setting({
    key: 'operator.affectedEndpointAuth',
    env: 'OPERATOR_AFFECTED_ENDPOINT_AUTH',
    type: 'kubernetes | none',
    default: 'kubernetes',
    description:
      '`/affected` ("where does CVE-X run?"): `kubernetes` answers only callers with a bearer token the API server accepts (TokenReview), with the namespaces in which they may list VulnerabilityReports (SubjectAccessReview); `none` answers anyone who reaches the port.',
    parse: oneOf(AFFECTED_ENDPOINT_AUTH),
  }),
  metricsExposedSecretInfo: setting({
    key: 'operator.metricsExposedSecretInfo',
    env: 'OPERATOR_METRICS_EXPOSED_SECRET_INFO',
    // Trivy-Operator's pkg/operator/etc/config.go spells it with _ENABLED; its chart renders that.
    envAliases: ['OPERATOR_METRICS_EXPOSED_SECRET_INFO_ENABLED'],
    type: 'boolean',
    default: 'false',
    description: 'Export `trivy_exposedsecrets_info`, one series per exposed secret.',
    parse: bool,
  }),
  metricsConfigAuditInfo: setting({
    key: 'operator.metricsConfigAuditInfo',
    env: 'OPERATOR_METRICS_CONFIG_AUDIT_INFO',
    // Trivy-Operator's pkg/operator/etc/config.go spells it with _ENABLED; its chart renders that.
    envAliases: ['OPERATOR_METRICS_CONFIG_AUDIT_INFO_ENABLED'],
    type: 'boolean',
    default: 'false',
    description: 'Export `trivy_configaudits_info`, one series per config-audit check.',
    parse: bool,
  }),
  metricsRbacAssessmentInfo: setting({
    key: 'operator.metricsRbacAssessmentInfo',
    env: 'OPERATOR_METRICS_RBAC_ASSESSMENT_INFO',
    // Trivy-Operator's pkg/operator/etc/config.go spells it with _ENABLED; its chart renders that.
    envAliases: ['OPERATOR_METRICS_RBAC_ASSESSMENT_INFO_ENABLED'],
    type: 'boolean',
    default: 'false',
    description: 'Export `trivy_rbacassessments_info`, one series per RBAC check.',
    parse: bool,
  }),
  metricsInfraAssessmentInfo: setting({
    key: 'operator.metricsInfraAssessmentInfo',
    env: 'OPERATOR_METRICS_INFRA_ASSESSMENT_INFO',
    // Trivy-Operator's pkg/operator/etc/config.go spells it with _ENABLED; its chart renders that.
    envAliases: ['OPERATOR_METRICS_INFRA_ASSESSMENT_INFO_ENABLED'],
    type: 'boolean',
    default: 'false',
    description: 'Export `trivy_infraassessments_info`, one series per infra check.',
    parse: bool,
  }),
  metricsImageInfo: setting({
    key: 'operator.metricsImageInfo',
    env: 'OPERATOR_METRICS_IMAGE_INFO',
    // Trivy-Operator's pkg/operator/etc/config.go spells it with _ENABLED; its chart renders that.
    envAliases: ['OPERATOR_METRICS_IMAGE_INFO_ENABLED'],
    type: 'boolean',
    default: 'false',
    description: 'Export `trivy_image_info`, one series per scanned container image (OS, EOSL).',
    parse: bool,
  }),
  metricsClusterComplianceInfo: setting({
    key: 'operator.metricsClusterComplianceInfo',
    env: 'OPERATOR_METRICS_CLUSTER_COMPLIANCE_INFO',
    // Trivy-Operator's pkg/operator/etc/config.go spells it with _ENABLED; its chart renders that.
    envAliases: ['OPERATOR_METRICS_CLUSTER_COMPLIANCE_INFO_ENABLED'],
    type: 'boolean',
    default: 'false',
    description: 'Export `trivy_compliance_info`, one series per compliance control.',
    parse: bool,
  }),
  clusterComplianceEnabled: setting({
    key: 'operator.clusterComplianceEnabled',
    env: 'OPERATOR_CLUSTER_COMPLIANCE_ENABLED',
    type: 'boolean',
    default: 'true',
    description: 'Evaluate ClusterComplianceReports, each on its own `spec.cron`.',
    parse: bool,
  }),
  complianceFailEntriesLimit: setting({
    key: 'compliance.failEntriesLimit',
    env: 'OPERATOR_COMPLIANCE_FAIL_ENTRIES_LIMIT',
    type: 'integer ≥ 0',
    default: '10',
    description: 'Failed resources listed per control in `all` compliance reports.',
    parse: integer(0, 100_000),
  }),
  accessGlobalSecretsAndServiceAccount: setting({
    key: 'operator.accessGlobalSecretsAndServiceAccount',
    env: 'OPERATOR_ACCESS_GLOBAL_SECRETS_SERVICE_ACCOUNTS',
    type: 'boolean',
    default: 'true',
    description: "Read workloads' pull secrets and their ServiceAccounts' to scan private images.",
    parse: bool,
  }),
  privateRegistryScanSecretsNames: setting({
    key: 'operator.privateRegistryScanSecretsNames',
    env: 'OPERATOR_PRIVATE_REGISTRY_SCAN_SECRETS_NAMES',
    type: 'map namespace → Secret names (JSON in env)',
    default: '{}',
    description: 'Extra registry-credential Secrets per namespace, e.g. `{"team-a":"regcred,other"}`.',
    parse: secretNamesByNamespace(
      (name) => DNS_LABEL.test(name),
      (name) => DNS_SUBDOMAIN.test(name),
    ),
    blankIsValue: true,
  }),
  webhookBroadcastURL: setting({
    key: 'operator.webhookBroadcastURL',
    env: 'OPERATOR_WEBHOOK_BROADCAST_URL',
    type: 'http(s) URL or empty',
    default: '',
    description: 'Where to POST reports as they are written; empty disables the webhook.',
    parse: optional(httpUrl),
    blankIsValue: true,
    secret: true,
  }),
  webhookBroadcastTimeout: setting({
    key: 'operator.webhookBroadcastTimeout',
    env: 'OPERATOR_WEBHOOK_BROADCAST_TIMEOUT',
    type: 'duration',
    default: '30s',
    description: 'Timeout of one webhook request.',
    parse: duration,
  }),
  webhookBroadcastCustomHeaders: setting({
    key: 'operator.webhookBroadcastCustomHeaders',
    env: 'OPERATOR_WEBHOOK_BROADCAST_CUSTOM_HEADERS',
    type: '`Name:value,…` or map',
    default: '',
    description: 'Extra HTTP headers sent with every webhook request.',
    parse: headers,
    blankIsValue: true,
    secret: true,
  }),
  webhookSendDeletedReports: setting({
    key: 'operator.webhookSendDeletedReports',
    env: 'OPERATOR_SEND_DELETED_REPORTS',
    type: 'boolean',
    default: 'false',
    description: 'Also notify the webhook when a report is deleted.',
    parse: bool,
  }),
  webhookSendNewFindingsOnly: setting({
    key: 'operator.webhookSendNewFindingsOnly',
    env: 'OPERATOR_WEBHOOK_SEND_NEW_FINDINGS_ONLY',
    type: 'boolean',
    default: 'false',
    description:
      'For VulnerabilityReports, send only the findings first seen since the last message (a `newFindings` payload, docs/webhook.md) instead of the whole report; other kinds are sent as before. Needs `operator.newFindingsEnabled`.',
    parse: bool,
  }),
  webhookBroadcastQueueSize: setting({
    key: 'operator.webhookBroadcastQueueSize',
    env: 'OPERATOR_WEBHOOK_BROADCAST_QUEUE_SIZE',
    type: 'integer ≥ 1',
    default: '10000',
    description: 'Webhook notifications waiting to be sent at most; when full, the oldest is dropped.',
    parse: integer(1, 1_000_000),
  }),
  leaderElectionEnabled: setting({
    key: 'operator.leaderElectionEnabled',
    env: 'OPERATOR_LEADER_ELECTION_ENABLED',
    type: 'boolean',
    default: 'true',
    description: 'Use a Lease so that only one replica at a time scans and writes reports.',
    parse: bool,
  }),
  leaderElectionId: setting({
    key: 'operator.leaderElectionId',
    env: 'OPERATOR_LEADER_ELECTION_ID',
    type: 'Lease name',
    default: 'trivy-lookout-lock',
    description: 'Name of the leader-election Lease in the operator namespace.',
    parse: matching(
      DNS_SUBDOMAIN,
      'is not a Kubernetes object name (lowercase letters, digits, "-" and ".")',
    ),
  }),
  logLevel: setting({
    key: 'operator.logLevel',
    env: 'OPERATOR_LOG_LEVEL',
    type: LOG_LEVELS.join(' | '),
    default: 'info',
    description: 'Minimum level of log lines written (pino levels).',
    parse: oneOf(LOG_LEVELS),
  }),
  skipInitContainers: setting({
    key: 'trivyOperator.skipInitContainers',
    env: 'OPERATOR_TRIVY_OPERATOR_SKIP_INIT_CONTAINERS',
    type: 'boolean',
    default: 'false',
    description: "Do not scan workloads' init containers.",
    parse: bool,
  }),
  scanJobTolerations: setting({
    key: 'trivyOperator.scanJobTolerations',
    env: 'OPERATOR_TRIVY_OPERATOR_SCAN_JOB_TOLERATIONS',
    type: 'list of tolerations (JSON in env)',
    default: '',
    description: 'Tolerations of scan pods, e.g. `[{"key":"dedicated","operator":"Exists"}]`.',
    parse: tolerations,
    blankIsValue: true,
  }),
  scanJobNodeSelector: setting({
    key: 'trivyOperator.scanJobNodeSelector',
    env: 'OPERATOR_TRIVY_OPERATOR_SCAN_JOB_NODE_SELECTOR',
    type: 'map label → value (`a=b,…` or JSON in env)',
    default: '',
    description: 'Node selector of scan pods, e.g. `kubernetes.io/arch=amd64`.',
    parse: mapOf(
      '=',
      (key, value) => key !== '' && value !== '',
      'a map of node label to value like kubernetes.io/arch=amd64',
    ),
    blankIsValue: true,
  }),
  scanJobAnnotations: setting({
    key: 'trivyOperator.scanJobAnnotations',
    env: 'OPERATOR_TRIVY_OPERATOR_SCAN_JOB_ANNOTATIONS',
    type: 'map key → value (`a=b,…` or JSON in env)',
    default: '',
    description:
      "Annotations of scan Jobs and their pods, e.g. `team=security` (Trivy-Operator's form); the operator's own keys win.",
    parse: mapOf(
      '=',
      (key) => LABEL_KEY.test(key),
      'a map of annotation to value like team=security,cost-center=42',
    ),
    blankIsValue: true,
  }),
  scanJobPodTemplateLabels: setting({
    key: 'trivyOperator.scanJobPodTemplateLabels',
    env: 'OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_LABELS',
    type: 'map label → value (`a=b,…` or JSON in env)',
    default: '',
    description:
      "Extra labels of scan pods, e.g. `sidecar.istio.io/inject=false` (Trivy-Operator's form); the operator's own labels win, since it finds its pods by them.",
    parse: mapOf(
      '=',
      (key, value) => LABEL_KEY.test(key) && LABEL_VALUE.test(value),
      'a map of label to value like sidecar.istio.io/inject=false',
    ),
    blankIsValue: true,
  }),
  scanJobPodPriorityClassName: setting({
    key: 'trivyOperator.scanJobPodPriorityClassName',
    env: 'OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_PRIORITY_CLASS_NAME',
    type: 'PriorityClass name',
    default: '',
    description: 'PriorityClass of scan pods; empty: none.',
    parse: optional(
      matching(DNS_SUBDOMAIN, 'is not a PriorityClass name (lowercase letters, digits, "-" and ".")'),
    ),
    blankIsValue: true,
  }),
  scanJobAffinity: setting({
    key: 'trivyOperator.scanJobAffinity',
    env: 'OPERATOR_TRIVY_OPERATOR_SCAN_JOB_AFFINITY',
    type: 'affinity (JSON in env)',
    default: '',
    description:
      'Affinity of scan pods; replaces the default (Linux nodes only), as in Trivy-Operator. Empty or `{}`: the default.',
    parse: kubeObject<V1Affinity>({
      what: 'an affinity',
      fields: ['nodeAffinity', 'podAffinity', 'podAntiAffinity'],
      example: '{"nodeAffinity":{"requiredDuringSchedulingIgnoredDuringExecution":{…}}}',
    }),
    blankIsValue: true,
  }),
  scanJobPodSecurityContext: setting({
    key: 'trivyOperator.scanJobPodTemplatePodSecurityContext',
    env: 'OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_POD_SECURITY_CONTEXT',
    type: 'pod security context (JSON in env)',
    default: '',
    description:
      'Security context of scan pods; replaces the default (`runAsNonRoot`, RuntimeDefault seccomp), as in Trivy-Operator. Empty or `{}`: the default.',
    parse: kubeObject<V1PodSecurityContext>({
      what: 'a pod security context',
      fields: [
        'appArmorProfile',
        'fsGroup',
        'fsGroupChangePolicy',
        'runAsGroup',
        'runAsNonRoot',
        'runAsUser',
        'seLinuxChangePolicy',
        'seLinuxOptions',
        'seccompProfile',
        'supplementalGroups',
        'supplementalGroupsPolicy',
        'sysctls',
        'windowsOptions',
      ],
      example: '{"runAsUser":10000,"runAsNonRoot":true}',
    }),
    blankIsValue: true,
  }),
  scanJobContainerSecurityContext: setting({
    key: 'trivyOperator.scanJobPodTemplateContainerSecurityContext',
    env: 'OPERATOR_TRIVY_OPERATOR_SCAN_JOB_POD_TEMPLATE_CONTAINER_SECURITY_CONTEXT',
    type: 'container security context (JSON in env)',
    default: '',
    description:
      'Security context of every scan container; replaces the default (user 65534, read-only root, no capabilities, no privilege escalation), as in Trivy-Operator. Empty or `{}`: the default.',
    parse: kubeObject<V1SecurityContext>({
      what: 'a container security context',
      fields: [
        'allowPrivilegeEscalation',
        'appArmorProfile',
        'capabilities',
        'privileged',
        'procMount',
        'readOnlyRootFilesystem',
        'runAsGroup',
        'runAsNonRoot',
        'runAsUser',
        'seLinuxOptions',
        'seccompProfile',
        'windowsOptions',
      ],
      example: '{"readOnlyRootFilesystem":true,"capabilities":{"drop":["ALL"]}}',
    }),
    blankIsValue: true,
  }),
  scanJobCustomVolumes: setting({
    key: 'trivyOperator.scanJobCustomVolumes',
    env: 'OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES',
    type: 'list of volumes (JSON in env)',
    default: '',
    description:
      'Volumes added to scan pods, e.g. a CA bundle from a ConfigMap; mount them with `scanJobCustomVolumesMount`.',
    parse: kubeList<V1Volume>({
      what: 'a volume',
      fields: ['name'],
      required: ['name'],
      openSource: true,
      example: '{"name":"ca","configMap":{"name":"corp-ca"}}',
    }),
    blankIsValue: true,
  }),
  scanJobCustomVolumesMount: setting({
    key: 'trivyOperator.scanJobCustomVolumesMount',
    env: 'OPERATOR_TRIVY_OPERATOR_SCAN_JOB_CUSTOM_VOLUMES_MOUNT',
    type: 'list of volume mounts (JSON in env)',
    default: '',
    description:
      'Mounts added to every container of scan pods (init containers included), as in Trivy-Operator.',
    parse: kubeList<V1VolumeMount>({
      what: 'a volume mount',
      fields: [
        'name',
        'mountPath',
        'mountPropagation',
        'readOnly',
        'recursiveReadOnly',
        'subPath',
        'subPathExpr',
      ],
      required: ['name', 'mountPath'],
      example: '{"name":"ca","mountPath":"/etc/ssl/corp","readOnly":true}',
    }),
    blankIsValue: true,
  }),
  excludeImages: setting({
    key: 'trivyOperator.excludeImages',
    env: 'OPERATOR_TRIVY_OPERATOR_EXCLUDE_IMAGES',
    type: 'list of image globs',
    default: '',
    description:
      "Images never scanned, as globs over the image as the pod spec names it (Go's path.Match, as Trivy-Operator: `*` stops at `/`), e.g. `docker.io/library/*:*,*/pause:*`.",
    parse: listOf(
      (entry) => (goPathGlob(entry) ? entry : undefined),
      'comma-separated image globs like docker.io/library/*:*',
    ),
    blankIsValue: true,
  }),
  skipResourceByLabels: setting({
    key: 'trivyOperator.skipResourceByLabels',
    env: 'OPERATOR_TRIVY_OPERATOR_SKIP_RESOURCE_BY_LABELS',
    type: 'list of label keys',
    default: '',
    description:
      'Workloads carrying any of these label keys (any value) are neither scanned nor audited, as in Trivy-Operator; reports they have stay until the workload goes.',
    parse: listOf(
      (entry) => (LABEL_KEY.test(entry) ? entry : undefined),
      'comma-separated Kubernetes label keys like trivy-operator.aquasecurity.github.io/skip',
    ),
    blankIsValue: true,
  }),
  additionalReportLabels: setting({
    key: 'trivyOperator.additionalReportLabels',
    env: 'OPERATOR_TRIVY_OPERATOR_ADDITIONAL_REPORT_LABELS',
    type: 'map label → value (`a=b,…` or JSON in env)',
    default: '',
    description:
      "Labels put on every report the operator writes, e.g. `team=platform` (Trivy-Operator's form); the operator's own labels win.",
    parse: mapOf(
      '=',
      (key, value) => LABEL_KEY.test(key) && LABEL_VALUE.test(value),
      'a map of label to value like team=platform,env=prod',
    ),
    blankIsValue: true,
  }),
  reportResourceLabels: setting({
    key: 'trivyOperator.reportResourceLabels',
    env: 'OPERATOR_TRIVY_OPERATOR_REPORT_RESOURCE_LABELS',
    type: 'list of label keys',
    default: '',
    description:
      'Workload labels copied onto reports and exported as metric labels `<prefix><label>`, e.g. `app,team`.',
    parse: listOf(
      (entry) => (LABEL_KEY.test(entry) ? entry : undefined),
      'comma-separated Kubernetes label keys like app,app.kubernetes.io/name',
    ),
    blankIsValue: true,
  }),
  metricsResourceLabelsPrefix: setting({
    key: 'trivyOperator.metricsResourceLabelsPrefix',
    env: 'OPERATOR_TRIVY_OPERATOR_METRICS_RESOURCE_LABELS_PREFIX',
    type: 'label name prefix',
    default: 'k8s_label_',
    description: 'Prefix of the metric labels made from `trivyOperator.reportResourceLabels` (snake_cased).',
    parse: matching(
      METRIC_LABEL_PREFIX,
      'is not the start of a label name like k8s_label_ (letters, digits, "_")',
    ),
  }),
  trivyRepository: setting({
    key: 'trivy.repository',
    env: 'OPERATOR_TRIVY_REPOSITORY',
    type: 'image repository',
    default: 'mirror.gcr.io/aquasec/trivy',
    description: 'Trivy image used by scan Jobs (without tag).',
    parse: matching(
      IMAGE_REPOSITORY,
      'is not an image repository (without tag) like mirror.gcr.io/aquasec/trivy',
    ),
  }),
  trivyTag: setting({
    key: 'trivy.tag',
    env: 'OPERATOR_TRIVY_TAG',
    type: 'image tag',
    default: DEFAULT_TRIVY_IMAGE_TAG,
    description: 'Tag of the Trivy image; also reported as the scanner version.',
    parse: matching(IMAGE_TAG, `is not an image tag like ${DEFAULT_TRIVY_IMAGE_TAG}`),
  }),
  trivyMode: setting({
    key: 'trivy.mode',
    env: 'OPERATOR_TRIVY_MODE',
    type: TRIVY_MODES.join(' | '),
    default: 'Standalone',
    description:
      'Standalone: each Job downloads the DB. ClientServer: Jobs ask the Trivy server at `trivy.serverURL`.',
    parse: oneOf(TRIVY_MODES),
  }),
  trivyServerURL: setting({
    key: 'trivy.serverURL',
    env: 'OPERATOR_TRIVY_SERVER_URL',
    type: 'http(s) URL',
    default: '',
    description: 'Trivy server URL; required when `trivy.mode` is ClientServer.',
    parse: optional(httpUrl),
    blankIsValue: true,
  }),
  trivyServerToken: setting({
    key: 'trivy.serverToken',
    env: 'OPERATOR_TRIVY_SERVER_TOKEN',
    type: 'string',
    default: '',
    description: 'Token sent to the Trivy server (ClientServer mode).',
    parse: optional(text),
    blankIsValue: true,
    secret: true,
  }),
  trivyServerTokenHeader: setting({
    key: 'trivy.serverTokenHeader',
    env: 'OPERATOR_TRIVY_SERVER_TOKEN_HEADER',
    type: 'header name',
    default: 'Trivy-Token',
    description: 'HTTP header that carries `trivy.serverToken`.',
    parse: matching(HEADER_NAME, 'is not an HTTP header name like Trivy-Token'),
  }),
  trivyServerInsecure: setting({
    key: 'trivy.serverInsecure',
    env: 'OPERATOR_TRIVY_SERVER_INSECURE',
    type: 'boolean',
    default: 'false',
    description: "Skip TLS verification of the Trivy server's certificate.",
    parse: bool,
  }),
  trivyServerCustomHeaders: setting({
    key: 'trivy.serverCustomHeaders',
    env: 'OPERATOR_TRIVY_SERVER_CUSTOM_HEADERS',
    type: '`Name:value,…` or map',
    default: '',
    description: 'Extra HTTP headers sent to the Trivy server, e.g. `X-Api-Key:abc,X-Team:sec`.',
    parse: headers,
    blankIsValue: true,
    secret: true,
  }),
  trivySeverity: setting({
    key: 'trivy.severity',
    env: 'OPERATOR_TRIVY_SEVERITY',
    type: `list of ${SEVERITIES.join(' | ')}`,
    default: SEVERITIES.join(','),
    description: 'Severities included in reports.',
    parse: listOf(
      (entry) => SEVERITIES.find((severity) => severity === entry.toUpperCase()),
      `a comma-separated list of ${SEVERITIES.join(', ')}`,
      { minItems: 1, itemPattern: anyCase(SEVERITIES) },
    ),
  }),
  trivyIgnoreUnfixed: setting({
    key: 'trivy.ignoreUnfixed',
    env: 'OPERATOR_TRIVY_IGNORE_UNFIXED',
    type: 'boolean',
    default: 'false',
    description: 'Report only vulnerabilities that have a fix.',
    parse: bool,
  }),
  trivyDbRepository: setting({
    key: 'trivy.dbRepository',
    env: 'OPERATOR_TRIVY_DB_REPOSITORY',
    type: 'image reference',
    default: 'mirror.gcr.io/aquasec/trivy-db',
    description: 'OCI repository of the vulnerability DB (registry included).',
    parse: imageRef('mirror.gcr.io/aquasec/trivy-db'),
  }),
  trivyJavaDbRepository: setting({
    key: 'trivy.javaDbRepository',
    env: 'OPERATOR_TRIVY_JAVA_DB_REPOSITORY',
    type: 'image reference',
    default: 'mirror.gcr.io/aquasec/trivy-java-db',
    description: 'OCI repository of the Java index DB (registry included).',
    parse: imageRef('mirror.gcr.io/aquasec/trivy-java-db'),
  }),
  trivyDbRepositoryInsecure: setting({
    key: 'trivy.dbRepositoryInsecure',
    env: 'OPERATOR_TRIVY_DB_REPOSITORY_INSECURE',
    type: 'boolean',
    default: 'false',
    description: 'Allow the DB repositories over plain HTTP / unverified TLS (air-gapped mirrors).',
    parse: bool,
  }),
  trivyInsecureRegistries: setting({
    key: 'trivy.insecureRegistries',
    env: 'OPERATOR_TRIVY_INSECURE_REGISTRIES',
    type: 'list or map of registry hosts',
    default: '',
    description: 'Registries whose TLS certificate is not verified.',
    parse: registryHosts,
    blankIsValue: true,
  }),
  trivyNonSslRegistries: setting({
    key: 'trivy.nonSslRegistries',
    env: 'OPERATOR_TRIVY_NON_SSL_REGISTRIES',
    type: 'list or map of registry hosts',
    default: '',
    description: 'Registries reached over plain HTTP.',
    parse: registryHosts,
    blankIsValue: true,
  }),
  trivyRegistryMirror: setting({
    key: 'trivy.registry.mirror',
    env: 'OPERATOR_TRIVY_REGISTRY_MIRROR',
    type: 'map registry → mirror (`a=b,…` or JSON in env)',
    default: '',
    description: 'Pull images of a registry from a mirror, e.g. `docker.io=docker-mirror.example.com`.',
    parse: mapOf(
      '=',
      (from, to) => REGISTRY_HOST.test(from) && REGISTRY_MIRROR.test(to),
      'a map of registry to mirror like docker.io=docker-mirror.example.com',
    ),
    blankIsValue: true,
  }),
  trivyTimeout: setting({
    key: 'trivy.timeout',
    env: 'OPERATOR_TRIVY_TIMEOUT',
    type: 'duration',
    default: '5m0s',
    description: "Trivy's own scan timeout (`--timeout`).",
    parse: duration,
  }),
  trivyRequestsCpu: setting({
    key: 'trivy.resources.requests.cpu',
    env: 'OPERATOR_TRIVY_RESOURCES_REQUESTS_CPU',
    type: 'quantity or empty',
    default: '100m',
    description: 'CPU request of scan containers; empty sets none.',
    parse: quantity,
    blankIsValue: true,
  }),
  trivyRequestsMemory: setting({
    key: 'trivy.resources.requests.memory',
    env: 'OPERATOR_TRIVY_RESOURCES_REQUESTS_MEMORY',
    type: 'quantity or empty',
    default: '100M',
    description: 'Memory request of scan containers; empty sets none.',
    parse: quantity,
    blankIsValue: true,
  }),
  trivyLimitsCpu: setting({
    key: 'trivy.resources.limits.cpu',
    env: 'OPERATOR_TRIVY_RESOURCES_LIMITS_CPU',
    type: 'quantity or empty',
    default: '500m',
    description: 'CPU limit of scan containers; empty sets none.',
    parse: quantity,
    blankIsValue: true,
  }),
  trivyLimitsMemory: setting({
    key: 'trivy.resources.limits.memory',
    env: 'OPERATOR_TRIVY_RESOURCES_LIMITS_MEMORY',
    type: 'quantity or empty',
    default: '500M',
    description: 'Memory limit of scan containers; empty sets none.',
    parse: quantity,
    blankIsValue: true,
  }),
  trivyIgnoreFile: setting({
    key: 'trivy.ignoreFile',
    env: 'OPERATOR_TRIVY_IGNORE_FILE',
    type: 'text or list of lines',
    default: '',
    description: 'Contents of a `.trivyignore` (one vulnerability ID per line) given to every scan.',
    parse: optional(fileContent),
    blankIsValue: true,
  }),
  trivyImagePullPolicy: setting({
    key: 'trivy.imagePullPolicy',
    env: 'OPERATOR_TRIVY_IMAGE_PULL_POLICY',
    type: IMAGE_PULL_POLICIES.join(' | '),
    default: 'IfNotPresent',
    description: 'Pull policy of the Trivy image in scan pods.',
    parse: oneOf(IMAGE_PULL_POLICIES),
  }),
  trivyImagePullSecret: setting({
    key: 'trivy.imagePullSecret',
    env: 'OPERATOR_TRIVY_IMAGE_PULL_SECRET',
    type: 'Secret name',
    default: '',
    description: 'A pull Secret, in the operator namespace, for the Trivy image of scan pods.',
    parse: optional(matching(DNS_SUBDOMAIN, 'is not a Secret name (lowercase letters, digits, "-" and ".")')),
    blankIsValue: true,
  }),
  trivySlow: setting({
    key: 'trivy.slow',
    env: 'OPERATOR_TRIVY_SLOW',
    type: 'boolean',
    default: 'true',
    description:
      "Scan with less CPU and memory, more slowly: Trivy's `--parallel 1` (what its deprecated `--slow` became); on by default, as in Trivy-Operator's chart.",
    parse: bool,
  }),
  trivyVulnType: setting({
    key: 'trivy.vulnType',
    env: 'OPERATOR_TRIVY_VULN_TYPE',
    type: `list of ${VULN_TYPES.join(' | ')}`,
    default: '',
    description:
      "Only these package types are checked for vulnerabilities (Trivy's `--pkg-types`, formerly `--vuln-type`); empty: both.",
    parse: listOf(
      (entry) => VULN_TYPES.find((type) => type === entry.toLowerCase()),
      `a comma-separated list of ${VULN_TYPES.join(', ')}`,
      { itemPattern: anyCase(VULN_TYPES) },
    ),
    blankIsValue: true,
  }),
  trivySkipFiles: setting({
    key: 'trivy.skipFiles',
    env: 'OPERATOR_TRIVY_SKIP_FILES',
    type: 'list of paths',
    default: '',
    description:
      'Files in images that Trivy skips (`TRIVY_SKIP_FILES`; globs allowed), e.g. `/app/Gemfile.lock`.',
    parse: listOf((entry) => entry, 'comma-separated file paths like /app/Gemfile.lock'),
    blankIsValue: true,
  }),
  trivySkipDirs: setting({
    key: 'trivy.skipDirs',
    env: 'OPERATOR_TRIVY_SKIP_DIRS',
    type: 'list of paths',
    default: '',
    description:
      'Directories in images that Trivy skips (`TRIVY_SKIP_DIRS`; globs allowed), e.g. `/usr/lib/ruby`.',
    parse: listOf((entry) => entry, 'comma-separated directories like /usr/lib/ruby'),
    blankIsValue: true,
  }),
  trivyOfflineScan: setting({
    key: 'trivy.offlineScan',
    env: 'OPERATOR_TRIVY_OFFLINE_SCAN',
    type: 'boolean',
    default: 'false',
    description:
      "Trivy makes no outgoing requests during the scan besides the registry's (`TRIVY_OFFLINE_SCAN`: no Maven Central look-ups for jars).",
    parse: bool,
  }),
  trivySkipJavaDbUpdate: setting({
    key: 'trivy.skipJavaDBUpdate',
    env: 'OPERATOR_TRIVY_SKIP_JAVA_DB_UPDATE',
    type: 'boolean',
    default: 'false',
    description:
      'Scans do not download the Java DB (`--skip-java-db-update`); jars are then matched without it.',
    parse: bool,
  }),
  trivyClientServerSkipUpdate: setting({
    key: 'trivy.clientServerSkipUpdate',
    env: 'OPERATOR_TRIVY_CLIENT_SERVER_SKIP_UPDATE',
    type: 'boolean',
    default: 'false',
    description: 'ClientServer mode: the scan client passes `--skip-db-update` too, as in Trivy-Operator.',
    parse: bool,
  }),
  trivyHttpProxy: setting({
    key: 'trivy.httpProxy',
    env: 'OPERATOR_TRIVY_HTTP_PROXY',
    type: 'URL',
    default: '',
    description: 'HTTP_PROXY of scan pods (registries, DB downloads).',
    parse: optional(text),
    blankIsValue: true,
    secret: true,
  }),
  trivyHttpsProxy: setting({
    key: 'trivy.httpsProxy',
    env: 'OPERATOR_TRIVY_HTTPS_PROXY',
    type: 'URL',
    default: '',
    description: 'HTTPS_PROXY of scan pods.',
    parse: optional(text),
    blankIsValue: true,
    secret: true,
  }),
  trivyNoProxy: setting({
    key: 'trivy.noProxy',
    env: 'OPERATOR_TRIVY_NO_PROXY',
    type: 'list of hosts',
    default: '',
    description: 'NO_PROXY of scan pods, e.g. `10.0.0.0/8,.cluster.local,registry.internal`.',
    parse: optional(text),
    blankIsValue: true,
  }),
  trivySslCertDir: setting({
    key: 'trivy.sslCertDir',
    env: 'OPERATOR_TRIVY_SSL_CERT_DIR',
    type: 'absolute path on the node',
    default: '',
    description:
      "A directory of CA certificates on the nodes, mounted read-only into scan pods (hostPath) as Trivy's `SSL_CERT_DIR`, as in Trivy-Operator: for registries with a private CA.",
    parse: optional(matching(/^\/\S*$/, 'is not an absolute path like /etc/ssl/corp-certs')),
    blankIsValue: true,
  }),
  trivyGithubToken: setting({
    key: 'trivy.githubToken',
    env: 'OPERATOR_TRIVY_GITHUB_TOKEN',
    type: 'string',
    default: '',
    description: "GitHub token of scan pods' DB downloads (`GITHUB_TOKEN`), against GitHub's rate limits.",
    parse: optional(text),
    blankIsValue: true,
    secret: true,
  }),
  trivyDbRepositoryUsername: setting({
    key: 'trivy.dbRepositoryUsername',
    env: 'OPERATOR_TRIVY_DB_REPOSITORY_USERNAME',
    type: 'string',
    default: '',
    description:
      "User for the DB repository's registry: scan pods log in with `trivy registry login` before the DB and Java DB downloads, as in Trivy-Operator. Needs `trivy.dbRepositoryPassword`.",
    parse: optional(text),
    blankIsValue: true,
    secret: true,
  }),
  trivyDbRepositoryPassword: setting({
    key: 'trivy.dbRepositoryPassword',
    env: 'OPERATOR_TRIVY_DB_REPOSITORY_PASSWORD',
    type: 'string',
    default: '',
    description: "Password for the DB repository's registry (see `trivy.dbRepositoryUsername`).",
    parse: optional(text),
    blankIsValue: true,
    secret: true,
  }),
  trivyConfigFile: setting({
    key: 'trivy.configFile',
    env: 'OPERATOR_TRIVY_CONFIG_FILE',
    type: 'text (YAML)',
    default: '',
    description:
      'Contents of a `trivy.yaml` given to every scan with `--config`, for options Trivy has only there (e.g. registry mirrors); settings here win over it.',
    parse: optional(fileContent),
    blankIsValue: true,
  }),
  trivyCommand: setting({
    key: 'trivy.command',
    env: 'OPERATOR_TRIVY_COMMAND',
    type: TRIVY_COMMANDS.join(' | '),
    default: 'image',
    description:
      '`image`: scan Jobs pull the image from its registry. `filesystem` or `rootfs`: as in Trivy-Operator, the scan pod runs on the node of a pod of the image and Trivy runs inside the image (copied in), so registry credentials are not needed; set `trivyOperator.scanJobPodTemplateContainerSecurityContext` with `runAsUser: 0` to read every file. Images without a running pod (CronJobs between runs) are scanned as `image`.',
    parse: oneOf(TRIVY_COMMANDS),
  }),
  trivyIncludeDevDeps: setting({
    key: 'trivy.includeDevDeps',
    env: 'OPERATOR_TRIVY_INCLUDE_DEV_DEPS',
    type: 'boolean',
    default: 'false',
    description:
      'With `trivy.command: filesystem`: report development dependencies too (`--include-dev-deps`), as in Trivy-Operator.',
    parse: bool,
  }),
  vulnerabilityScannerEnabled: setting({
    key: 'operator.vulnerabilityScannerEnabled',
    env: 'OPERATOR_VULNERABILITY_SCANNER_ENABLED',
    type: 'boolean',
    default: 'true',
    description:
      'Scan workload images for vulnerabilities (VulnerabilityReport). With this, exposed secrets and SBOM all off, no image is scanned.',
    parse: bool,
  }),
  exposedSecretScannerEnabled: setting({
    key: 'operator.exposedSecretScannerEnabled',
    env: 'OPERATOR_EXPOSED_SECRET_SCANNER_ENABLED',
    type: 'boolean',
    default: 'true',
    description: 'Look for secrets in workload images (ExposedSecretReport), in the same scan.',
    parse: bool,
  }),
  sbomGenerationEnabled: setting({
    key: 'operator.sbomGenerationEnabled',
    env: 'OPERATOR_SBOM_GENERATION_ENABLED',
    type: 'boolean',
    default: 'true',
    description:
      'Write a CycloneDX SbomReport per workload container, from the same scan (Trivy lists every package and converts its result).',
    parse: bool,
  }),
  clusterSbomCacheEnabled: setting({
    key: 'operator.clusterSbomCacheEnabled',
    env: 'OPERATOR_CLUSTER_SBOM_CACHE_ENABLED',
    type: 'boolean',
    // Trivy-Operator's chart default (its binary's own default is true; the chart always sets it).
    default: 'false',
    description:
      'Also write a ClusterSbomReport per image (named by a hash of registry/repository:tag), with `sbomGenerationEnabled`.',
    parse: bool,
  }),
  trivyAdditionalVulnerabilityReportFields: setting({
    key: 'trivy.additionalVulnerabilityReportFields',
    env: 'OPERATOR_TRIVY_ADDITIONAL_VULNERABILITY_REPORT_FIELDS',
    type: `list of ${ADDITIONAL_VULNERABILITY_FIELDS.join(' | ')}`,
    default: '',
    description:
      'Optional fields of each vulnerability in VulnerabilityReports, as in Trivy-Operator; none by default (a report about 4× smaller). `Links` and `Target` fill the always-present `links` and `target`; `CVSS` adds `cvss` and `cvsssource`. The `trivy_vulnerability_id` labels `target`, `class`, `package_type` and `pkg_path` stay empty without their field.',
    parse: listOf(
      (entry) => ADDITIONAL_VULNERABILITY_FIELDS.find((field) => field.toLowerCase() === entry.toLowerCase()),
      `a comma-separated list of ${ADDITIONAL_VULNERABILITY_FIELDS.join(', ')}`,
      { itemPattern: anyCase(ADDITIONAL_VULNERABILITY_FIELDS) },
    ),
    blankIsValue: true,
  }),
  trivySeveritySource: setting({
    key: 'trivy.severitySource',
    env: 'OPERATOR_TRIVY_SEVERITY_SOURCE',
    type: SEVERITY_SOURCES.join(' | '),
    default: 'trivy-operator',
    description:
      "A finding's severity in reports and metrics. `trivy-operator`: the severity of Trivy's `SeveritySource` vendor, UNKNOWN when there is none (counts as Trivy-Operator counts). `trivy`: Trivy's own `Severity`, as `trivy image` shows it (Trivy falls back to NVD and its DB when the source vendor has none).",
    parse: oneOf(SEVERITY_SOURCES),
  }),
  trivySbomSources: setting({
    key: 'trivy.sbomSources',
    env: 'OPERATOR_TRIVY_SBOM_SOURCES',
    type: `list of ${SBOM_SOURCES.join(' | ')}`,
    default: '',
    description:
      "Where Trivy first looks for the image's published SBOM (Trivy's `--sbom-sources`, experimental there), as in Trivy-Operator; empty: Trivy analyses the image.",
    parse: listOf(
      (entry) => SBOM_SOURCES.find((source) => source === entry.toLowerCase()),
      `a comma-separated list of ${SBOM_SOURCES.join(', ')}`,
      { itemPattern: anyCase(SBOM_SOURCES) },
    ),
    blankIsValue: true,
  }),
  configAuditScannerEnabled: setting({
    key: 'operator.configAuditScannerEnabled',
    env: 'OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED',
    type: 'boolean',
    default: 'true',
    description: 'Audit the configuration of workloads and other resources with the checks built into Trivy.',
    parse: bool,
  }),
  rbacAssessmentScannerEnabled: setting({
    key: 'operator.rbacAssessmentScannerEnabled',
    env: 'OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED',
    type: 'boolean',
    default: 'true',
    description: 'Assess Roles and ClusterRoles (RbacAssessmentReport, ClusterRbacAssessmentReport).',
    parse: bool,
  }),
  supportedConfigAuditKinds: setting({
    key: 'trivy.supportedConfigAuditKinds',
    env: 'OPERATOR_TRIVY_SUPPORTED_CONFIG_AUDIT_KINDS',
    type: 'list of kinds',
    // Trivy-Operator v0.32.0's chart default (deploy/helm/values.yaml). ConfigMaps are left out as
    // there; listed, they are audited with their data (docs/trivy-operator-report-parity.md).
    default:
      'Workload,Service,Role,ClusterRole,NetworkPolicy,Ingress,LimitRange,ResourceQuota,PersistentVolume,PersistentVolumeClaim',
    description: `Kinds the config audit covers; \`Workload\` means the kinds in \`targetWorkloads\`. Any of ${CONFIG_AUDIT_KINDS.join(', ')}. Trivy-Operator's default; \`ConfigMap\` added is audited with its data, which Trivy-Operator never sees.`,
    parse: listOf(
      (entry) => CONFIG_AUDIT_KINDS.find((kind) => kind.toLowerCase() === entry.toLowerCase()),
      `a comma-separated list of ${CONFIG_AUDIT_KINDS.join(', ')}`,
      { itemPattern: anyCase(CONFIG_AUDIT_KINDS) },
    ),
  }),
  reportRecordFailedChecksOnly: setting({
    key: 'trivyOperator.reportRecordFailedChecksOnly',
    env: 'OPERATOR_TRIVY_OPERATOR_REPORT_RECORD_FAILED_CHECKS_ONLY',
    type: 'boolean',
    default: 'true',
    description:
      'List only failed checks in config-audit and RBAC reports (summaries count failures either way).',
    parse: bool,
  }),
  policiesConfigMapName: setting({
    key: 'operator.policiesConfigMapName',
    env: 'OPERATOR_POLICIES_CONFIG_MAP_NAME',
    type: 'ConfigMap name',
    default: 'trivy-operator-policies-config',
    description:
      'ConfigMap in the operator namespace with custom Rego policies (`policy.<name>.rego`, `policy.<name>.kinds`, `library.<name>.rego`).',
    parse: matching(DNS_SUBDOMAIN, 'is not a ConfigMap name (lowercase letters, digits, "-" and ".")'),
  }),
  configAuditTrivyBinary: setting({
    key: 'operator.configAuditTrivyBinary',
    env: 'OPERATOR_CONFIG_AUDIT_TRIVY_BINARY',
    type: 'file path or command name',
    default: 'trivy',
    description: 'Trivy binary whose embedded checks the config audit runs (the image ships a pinned one).',
    parse: text,
  }),
  configAuditBatchSize: setting({
    key: 'operator.configAuditBatchSize',
    env: 'OPERATOR_CONFIG_AUDIT_BATCH_SIZE',
    type: 'integer ≥ 1',
    default: '500',
    description:
      "Most objects audited by one Trivy run: each run pays Trivy's start-up (~1.7 CPU s) once; a run of 500 Pods peaks at about 330 MB.",
    parse: integer(1, 5_000),
  }),
  configAuditConcurrency: setting({
    key: 'operator.configAuditConcurrency',
    env: 'OPERATOR_CONFIG_AUDIT_CONCURRENCY',
    type: 'integer 0–16',
    // Not the CPU count: a container sees the node's CPUs, and every run adds its own memory.
    default: '2',
    description:
      'Trivy runs of the config audit at once, each with its own batch; memory is one run per slot (0: the CPUs, at most 4).',
    parse: integer(0, 16),
  }),
  configAuditBatchDelay: setting({
    key: 'operator.configAuditBatchDelay',
    env: 'OPERATOR_CONFIG_AUDIT_BATCH_DELAY',
    type: 'duration',
    default: '500ms',
    description: 'How long changed objects are collected before they are audited together.',
    parse: duration,
  }),
  infraAssessmentScannerEnabled: setting({
    key: 'operator.infraAssessmentScannerEnabled',
    env: 'OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED',
    type: 'boolean',
    default: 'true',
    description:
      'Assess nodes (node-collector Jobs → ClusterInfraAssessmentReport `node-<name>`) and control-plane pods in kube-system (InfraAssessmentReport).',
    parse: bool,
  }),
  scanNodeCollectorLimit: setting({
    key: 'operator.scanNodeCollectorLimit',
    env: 'OPERATOR_CONCURRENT_NODE_COLLECTOR_LIMIT',
    type: 'integer ≥ 1',
    default: '1',
    description: 'Maximum number of node-collector Jobs running at once.',
    parse: integer(1, 1_000),
  }),
  nodeCollectorImageRef: setting({
    key: 'nodeCollector.imageRef',
    env: 'OPERATOR_NODE_COLLECTOR_IMAGE_REF',
    type: 'image reference',
    default: 'ghcr.io/trivy-lookout/trivy-lookout:0.1.0',
    defaultNote: 'the operator image (the chart renders `image.repository:image.tag`)',
    description:
      'Image of node-collector Jobs: the operator image, which ships the collector (`dist/nodecollector/main.js`).',
    parse: imageRef('ghcr.io/trivy-lookout/trivy-lookout:0.1.0'),
  }),
  nodeCollectorImagePullSecret: setting({
    key: 'nodeCollector.imagePullSecret',
    env: 'OPERATOR_NODE_COLLECTOR_IMAGE_PULL_SECRET',
    type: 'list of Secret names',
    default: '',
    defaultNote:
      '(empty); the chart renders the names in `image.pullSecrets` when `nodeCollector.imageRef` is empty',
    description:
      'Pull secrets (in the operator namespace) of node-collector pods, as their `imagePullSecrets`.',
    parse: listOf(
      (entry) => (DNS_SUBDOMAIN.test(entry) ? entry : undefined),
      'comma-separated Secret names (lowercase letters, digits, "-" and ".")',
    ),
    blankIsValue: true,
  }),
  nodeCollectorTolerations: setting({
    key: 'nodeCollector.tolerations',
    env: 'OPERATOR_NODE_COLLECTOR_TOLERATIONS',
    type: 'list of tolerations (JSON in env)',
    default: '',
    description:
      'Tolerations of node-collector pods. A node with a NoSchedule/NoExecute taint they do not tolerate is skipped (Event `NodeCollectorSkipped`).',
    parse: tolerations,
    blankIsValue: true,
  }),
  nodeCollectorNodeSelector: setting({
    key: 'nodeCollector.nodeSelector',
    env: 'OPERATOR_NODE_COLLECTOR_NODE_SELECTOR',
    type: 'map label → value (`a=b,…` or JSON in env)',
    default: '',
    description: 'Node selector of node-collector pods; nodes that do not match are skipped.',
    parse: mapOf(
      '=',
      (key, value) => LABEL_KEY.test(key) && value !== '',
      'a map of node label to value like kubernetes.io/os=linux',
    ),
    blankIsValue: true,
  }),
  nodeCollectorExcludeNodes: setting({
    key: 'nodeCollector.excludeNodes',
    env: 'OPERATOR_NODE_COLLECTOR_EXCLUDE_NODES',
    type: 'list of `label=value`',
    default: '',
    description: 'Nodes with any of these labels are not assessed, e.g. `kubernetes.io/arch=arm64,team=dev`.',
    parse: listOf((entry) => {
      const at = entry.indexOf('=');
      return at > 0 && LABEL_KEY.test(entry.slice(0, at).trim()) ? entry : undefined;
    }, 'comma-separated node labels like kubernetes.io/arch=arm64,team=dev'),
    blankIsValue: true,
  }),
  nodeCollectorVolumes: setting({
    key: 'nodeCollector.volumes',
    env: 'OPERATOR_NODE_COLLECTOR_VOLUMES',
    type: 'list of hostPath volumes (JSON in env)',
    default: JSON.stringify(
      DEFAULT_NODE_COLLECTOR_PATHS.map(([name, path]) => ({ name, hostPath: { path } })),
    ),
    defaultNote:
      "Trivy-Operator's: /var/lib/etcd, /var/lib/kubelet, /var/lib/kube-scheduler, /var/lib/kube-controller-manager, /etc/systemd, /lib/systemd, /etc/kubernetes, /etc/cni/net.d",
    description: 'Host paths the node collector reads, as hostPath volumes.',
    parse: hostPathVolumes,
    blankIsValue: true,
  }),
  nodeCollectorVolumeMounts: setting({
    key: 'nodeCollector.volumeMounts',
    env: 'OPERATOR_NODE_COLLECTOR_VOLUME_MOUNTS',
    type: 'list of volume mounts (JSON in env)',
    default: JSON.stringify(
      DEFAULT_NODE_COLLECTOR_PATHS.map(([name, path]) => ({ name, mountPath: path, readOnly: true })),
    ),
    defaultNote: 'each default volume at its own host path',
    description: 'Where the collector sees them: at their host paths, read-only (always mounted read-only).',
    parse: hostVolumeMounts,
    blankIsValue: true,
  }),
} as const;

export type SettingId = keyof typeof SETTINGS;

/** The parsed value type of each setting. */
export type SettingValues = {
  [K in SettingId]: (typeof SETTINGS)[K] extends SettingSpec<infer T> ? T : never;
};

export const SETTING_IDS = Object.keys(SETTINGS) as SettingId[];
