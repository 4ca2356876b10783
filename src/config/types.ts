import type {
  V1Affinity,
  V1PodSecurityContext,
  V1SecurityContext,
  V1Volume,
  V1VolumeMount,
} from '@kubernetes/client-node';
import type { Toleration } from './parsers.ts';
import type { HostPathVolume, HostVolumeMount } from './node-collector.ts';
/**
 * The validated configuration handed to the rest of the operator. Field names follow the YAML keys
 * (which follow Trivy-Operator's Helm values); durations are converted to milliseconds and carry an
 * `Ms` suffix so a unit is never guessed.
 */

/** Workload kinds Trivy-Operator accepts in `targetWorkloads` (lower case, as it compares them). */
export const WORKLOAD_KINDS = [
  'pod',
  'replicaset',
  'replicationcontroller',
  'statefulset',
  'daemonset',
  'cronjob',
  'job',
] as const;
export type WorkloadKind = (typeof WORKLOAD_KINDS)[number];

/**
 * Kinds `trivy.supportedConfigAuditKinds` accepts (Trivy-Operator's spelling); `Workload` stands for
 * every kind in `targetWorkloads`.
 */
export const CONFIG_AUDIT_KINDS = [
  'Workload',
  'Service',
  'ConfigMap',
  'Role',
  'RoleBinding',
  'ClusterRole',
  'ClusterRoleBinding',
  'NetworkPolicy',
  'Ingress',
  'ResourceQuota',
  'LimitRange',
  'PersistentVolumeClaim',
  'PersistentVolume',
  'CustomResourceDefinition',
] as const;
export type ConfigAuditKind = (typeof CONFIG_AUDIT_KINDS)[number];

export const TRIVY_MODES = ['Standalone', 'ClientServer'] as const;
export type TrivyMode = (typeof TRIVY_MODES)[number];

/** Trivy's severities, in its own spelling and order. */
export const SEVERITIES = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'] as const;
export type Severity = (typeof SEVERITIES)[number];

/**
 * The optional vulnerability fields, in Trivy-Operator's spelling of
 * `trivy.additionalVulnerabilityReportFields` (pkg/plugins/trivy/config.go).
 */
export const ADDITIONAL_VULNERABILITY_FIELDS = [
  'Description',
  'Links',
  'CVSS',
  'Target',
  'Class',
  'PackageType',
  'PackagePath',
] as const;
export type AdditionalVulnerabilityField = (typeof ADDITIONAL_VULNERABILITY_FIELDS)[number];

/**
 * Where a finding's severity comes from (`trivy.severitySource`):
 * - `trivy-operator`: Trivy-Operator v0.32.0's rule (pkg/vulnerabilityreport/io.go), the severity of
 *   `VendorSeverity[SeveritySource]`, UNKNOWN when Trivy named no source or it has no severity;
 * - `trivy`: Trivy's own `Severity`, as `trivy image` shows it, else the source vendor's.
 */
export const SEVERITY_SOURCES = ['trivy-operator', 'trivy'] as const;

/** Where Trivy may look for an image's published SBOM instead of analysing it (`--sbom-sources`). */
export const SBOM_SOURCES = ['oci', 'rekor'] as const;
export type SbomSource = (typeof SBOM_SOURCES)[number];
export type SeveritySourceMode = (typeof SEVERITY_SOURCES)[number];

/** pino's level names. */
/** Who may ask the operator's `/affected` endpoint. */
export const AFFECTED_ENDPOINT_AUTH = ['kubernetes', 'none'] as const;
export type AffectedEndpointAuth = (typeof AFFECTED_ENDPOINT_AUTH)[number];

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface BindAddress {
  /** Empty string = all interfaces (Go's ":8080" form). */
  readonly host: string;
  readonly port: number;
}

/** Kubernetes quantities as strings (e.g. "100m", "500M"); null = not set on the scan container. */
export interface ResourceAmounts {
  readonly cpu: string | null;
  readonly memory: string | null;
}

export interface OperatorConfig {
  readonly namespace: string;
  readonly scanJobTimeoutMs: number;
  readonly scanJobsConcurrentLimit: number;
  readonly scanJobsRetryDelayMs: number;
  /** Every controller re-enqueues all its keys this often. */
  readonly resyncPeriodMs: number;
  /** null = reports never expire (Trivy-Operator's `scannerReportTTL: ""`). */
  readonly scannerReportTtlMs: number | null;
  readonly rescanSchedule: string;
  readonly metricsBindAddress: BindAddress;
  readonly metricsFindingsEnabled: boolean;
  readonly metricsVulnIdEnabled: boolean;
  readonly accessGlobalSecretsAndServiceAccount: boolean;
  /** namespace → names of Secrets with registry credentials. */
  readonly privateRegistryScanSecretsNames: Readonly<Record<string, readonly string[]>>;
  /** null = webhook disabled. */
  readonly webhookBroadcastURL: string | null;
  readonly webhookBroadcastTimeoutMs: number;
  readonly webhookBroadcastCustomHeaders: Readonly<Record<string, string>>;
  readonly webhookSendDeletedReports: boolean;
  /** Most notifications held while the webhook is slow or down; the oldest is dropped beyond. */
  readonly webhookBroadcastQueueSize: number;
  /** VulnerabilityReports go out as their new findings only. */
  readonly webhookSendNewFindingsOnly: boolean;
  /** Evaluate ClusterComplianceReports (leader only). */
  readonly clusterComplianceEnabled: boolean;
  readonly leaderElectionEnabled: boolean;
  /** Name of the coordination.k8s.io Lease. */
  readonly leaderElectionId: string;
  readonly logLevel: LogLevel;
  /** Image scans: vulnerabilities, exposed secrets, SBOM (all off: no image is scanned). */
  readonly vulnerabilityScannerEnabled: boolean;
  readonly exposedSecretScannerEnabled: boolean;
  readonly sbomGenerationEnabled: boolean;
  /** ClusterSbomReport per image too (only with sbomGenerationEnabled). */
  readonly clusterSbomCacheEnabled: boolean;
}

export interface TrivyConfig {
  readonly repository: string;
  readonly tag: string;
  readonly mode: TrivyMode;
  /** Set whenever mode is ClientServer. */
  readonly serverURL: string | null;
  readonly serverToken: string | null;
  readonly serverTokenHeader: string;
  readonly serverInsecure: boolean;
  readonly serverCustomHeaders: Readonly<Record<string, string>>;
  readonly severity: readonly Severity[];
  readonly ignoreUnfixed: boolean;
  readonly dbRepository: string;
  readonly javaDbRepository: string;
  readonly dbRepositoryInsecure: boolean;
  /** Registry hosts (host[:port]) Trivy may reach with TLS verification off. */
  readonly insecureRegistries: readonly string[];
  /** Registry hosts (host[:port]) Trivy must reach over plain HTTP. */
  readonly nonSslRegistries: readonly string[];
  readonly registry: { readonly mirror: Readonly<Record<string, string>> };
  readonly timeoutMs: number;
  readonly resources: { readonly requests: ResourceAmounts; readonly limits: ResourceAmounts };
  /** Contents of a .trivyignore file, or null. */
  readonly ignoreFile: string | null;
  /** Optional vulnerability fields written into reports (none: Trivy-Operator's default). */
  readonly additionalVulnerabilityReportFields: readonly AdditionalVulnerabilityField[];
  readonly severitySource: SeveritySourceMode;
  /** Trivy's `--sbom-sources` (Trivy-Operator's trivy.sbomSources); empty: Trivy analyses the image. */
  readonly sbomSources: readonly SbomSource[];
  /** Pull policy and pull Secret (in the operator namespace) of the Trivy image in scan pods. */
  readonly imagePullPolicy: ImagePullPolicy;
  readonly imagePullSecret: string | null;
  /** Fewer resources, slower scans (Trivy's `--parallel 1`, formerly `--slow`). */
  readonly slow: boolean;
  /** Package types scanned for vulnerabilities (Trivy's `--pkg-types`); empty: Trivy's default. */
  readonly vulnType: readonly VulnType[];
  readonly skipFiles: readonly string[];
  readonly skipDirs: readonly string[];
  readonly offlineScan: boolean;
  readonly skipJavaDbUpdate: boolean;
  /** ClientServer mode: the client does not update its own DB either. */
  readonly clientServerSkipUpdate: boolean;
  /** Proxies of scan pods (HTTP_PROXY, HTTPS_PROXY, NO_PROXY). */
  readonly httpProxy: string | null;
  readonly httpsProxy: string | null;
  readonly noProxy: string | null;
  /** A directory of CA certificates on the node, mounted into scan pods as SSL_CERT_DIR. */
  readonly sslCertDir: string | null;
  readonly githubToken: string | null;
  /** Credentials of the DB repository's registry, given to `trivy registry login` in scan pods. */
  readonly dbRepositoryUsername: string | null;
  readonly dbRepositoryPassword: string | null;
  /** Contents of a trivy.yaml given to every scan with `--config`. */
  readonly configFile: string | null;
  /**
   * How images are scanned: `image` pulls them from their registry; `filesystem` and `rootfs` run
   * Trivy inside the image on the node where a pod of it runs, with nothing pulled by Trivy.
   */
  readonly command: TrivyCommand;
  /** `filesystem` only: development dependencies too (Trivy's `--include-dev-deps`). */
  readonly includeDevDeps: boolean;
}

export const TRIVY_COMMANDS = ['image', 'filesystem', 'rootfs'] as const;
export type TrivyCommand = (typeof TRIVY_COMMANDS)[number];

export const IMAGE_PULL_POLICIES = ['Always', 'IfNotPresent', 'Never'] as const;
export type ImagePullPolicy = (typeof IMAGE_PULL_POLICIES)[number];
export const VULN_TYPES = ['os', 'library'] as const;
export type VulnType = (typeof VULN_TYPES)[number];

/** What the exporter exports beyond the defaults (Trivy-Operator's opt-in `*_info` families, resource labels). */
export interface MetricsConfig {
  /** The trivy_lookout_{namespace,image}_vulnerabilities and trivy_lookout_image_containers aggregates. */
  readonly aggregates: boolean;
  readonly exposedSecretInfo: boolean;
  readonly configAuditInfo: boolean;
  readonly rbacAssessmentInfo: boolean;
  readonly infraAssessmentInfo: boolean;
  readonly imageInfo: boolean;
  readonly clusterComplianceInfo: boolean;
  /** Report label keys (copied from the workload) exported as `<resourceLabelsPrefix><snake_case key>`. */
  readonly resourceLabels: readonly string[];
  readonly resourceLabelsPrefix: string;
}

/** Config audit and RBAC assessment (run in the operator with the pinned Trivy binary). */
/** First-seen tracking, new-finding series and remediation deadlines (src/findings). */
export interface FindingsConfig {
  readonly enabled: boolean;
  readonly newWindowMs: number;
  /** Per severity; a severity without an entry has no deadline. */
  readonly deadlinesMs: Readonly<Partial<Record<Severity, number>>>;
  readonly fixableOnly: boolean;
  readonly affectedEndpointAuth: AffectedEndpointAuth;
}

export interface ConfigAuditConfig {
  readonly enabled: boolean;
  readonly rbacAssessmentEnabled: boolean;
  readonly supportedKinds: readonly ConfigAuditKind[];
  /** Leave passed checks out of reports (Trivy-Operator's reportRecordFailedChecksOnly). */
  readonly recordFailedChecksOnly: boolean;
  /** ConfigMap in the operator namespace holding custom Rego policies. */
  readonly policiesConfigMap: string;
  /** Path (or name on PATH) of the Trivy binary that evaluates the checks. */
  readonly trivyBinary: string;
  /** Most objects given to one Trivy run. */
  readonly batchSize: number;
  /** How long changed objects are collected before a run. */
  readonly batchDelayMs: number;
  /** Trivy runs at once (resolved: ≥ 1). */
  readonly concurrency: number;
}

/** Infra assessment: node-collector Jobs and control-plane pods (Trivy-Operator's nodeCollector values). */
export interface NodeCollectorConfig {
  readonly enabled: boolean;
  /** Most node-collector Jobs running at once. */
  readonly concurrentLimit: number;
  readonly imageRef: string;
  /** Secret names in the operator namespace, the collector pods' imagePullSecrets. */
  readonly imagePullSecrets: readonly string[];
  readonly tolerations: readonly Toleration[];
  readonly nodeSelector: Readonly<Record<string, string>>;
  /** `label=value` entries; a node with any of them is not assessed. */
  readonly excludeNodes: readonly string[];
  readonly volumes: readonly HostPathVolume[];
  readonly volumeMounts: readonly HostVolumeMount[];
}

export interface Config {
  /** Namespace globs to watch; empty = all namespaces. */
  readonly targetNamespaces: readonly string[];
  /** Namespace globs never watched; wins over targetNamespaces. */
  readonly excludeNamespaces: readonly string[];
  readonly targetWorkloads: readonly WorkloadKind[];
  readonly operator: OperatorConfig;
  readonly trivy: TrivyConfig;
  readonly trivyOperator: {
    readonly skipInitContainers: boolean;
    /** Scheduling of scan pods (Trivy-Operator's scanJobTolerations / scanJobNodeSelector). */
    readonly scanJobTolerations: readonly Toleration[];
    readonly scanJobNodeSelector: Readonly<Record<string, string>>;
    /** On scan Jobs and their pods, and on their pods, below the operator's own (Trivy-Operator's names). */
    readonly scanJobAnnotations: Readonly<Record<string, string>>;
    readonly scanJobPodTemplateLabels: Readonly<Record<string, string>>;
    readonly scanJobPodPriorityClassName: string | null;
    /** Replace the scan pods' affinity and security contexts when set (as Trivy-Operator does). */
    readonly scanJobAffinity: V1Affinity | null;
    readonly scanJobPodSecurityContext: V1PodSecurityContext | null;
    readonly scanJobContainerSecurityContext: V1SecurityContext | null;
    /** Added to scan pods, mounted into every scan container. */
    readonly scanJobCustomVolumes: readonly V1Volume[];
    readonly scanJobCustomVolumesMount: readonly V1VolumeMount[];
    /** Image globs (path.Match syntax, as Trivy-Operator's excludeImages) never scanned. */
    readonly excludeImages: readonly string[];
    /** Workloads carrying any of these label keys are neither scanned nor audited. */
    readonly skipResourceByLabels: readonly string[];
    /** Labels put on every report the operator writes. */
    readonly additionalReportLabels: Readonly<Record<string, string>>;
  };
  readonly metrics: MetricsConfig;
  readonly findings: FindingsConfig;
  readonly configAudit: ConfigAuditConfig;
  readonly nodeCollector: NodeCollectorConfig;
  readonly compliance: {
    /** Failed results listed per control in `all` compliance reports. */
    readonly failEntriesLimit: number;
  };
}

/** Where a value came from; problems point at the layer that supplied the bad value. */
export type ConfigSource = 'default' | 'file' | 'env';

export interface ConfigProblem {
  /** Dotted YAML key, e.g. "operator.scanJobTimeout". */
  readonly setting: string;
  /** Environment variable for the setting, or null for keys that are not settings (typos). */
  readonly env: string | null;
  readonly source: ConfigSource;
  /** One self-contained line naming the setting, the bad value and what is expected. */
  readonly message: string;
}
