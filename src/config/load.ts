/**
 * Builds the Config once at start-up: defaults < YAML file < environment. Every layer's value is
 * validated, all problems are collected, and one error lists them, so a broken deployment is fixed
 * in one round trip instead of one setting per crash loop.
 */
import os from 'node:os';
import fs from 'node:fs';
import { ErrorCodes, LookoutError } from '../errors/index.ts';
import { readConfigFile } from './file.ts';
import { unmatchedMounts } from './node-collector.ts';
import type { ReadFile } from './file.ts';
import { isBlank } from './parsers.ts';
import { SETTING_IDS, SETTINGS } from './settings.ts';
import type { SettingId, SettingSpec, SettingValues } from './settings.ts';
import type { Config, ConfigProblem, ConfigSource } from './types.ts';

/** Env var naming the optional YAML file. */
export const CONFIG_FILE_ENV = 'OPERATOR_CONFIG_FILE';

/** Where Kubernetes mounts the pod's namespace; used when OPERATOR_NAMESPACE is not set. */
export const SERVICE_ACCOUNT_NAMESPACE_FILE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';

interface Layer {
  readonly source: ConfigSource;
  readonly raw: unknown;
  /** Appended to problem lines so the user knows which layer to fix. */
  readonly origin: string;
}

export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  readFile: ReadFile = fs.readFileSync,
): Config {
  const filePath = env[CONFIG_FILE_ENV]?.trim();
  const file = filePath ? readConfigFile(filePath, readFile) : undefined;
  const problems: ConfigProblem[] = [...(file?.problems ?? [])];

  const values = {} as Record<SettingId, unknown>;
  const sources = {} as Record<SettingId, ConfigSource>;
  for (const id of SETTING_IDS) {
    const spec: SettingSpec<unknown> = SETTINGS[id];
    const layers: Layer[] = [
      { source: 'default', raw: spec.default, origin: ' (built-in default)' },
      { source: 'file', raw: file?.values.get(spec.key), origin: ` (from ${filePath})` },
      { source: 'env', raw: env[spec.env], origin: '' },
    ];
    const alias =
      env[spec.env] === undefined ? spec.envAliases?.find((name) => env[name] !== undefined) : undefined;
    if (alias) layers.push({ source: 'env', raw: env[alias], origin: ` (from ${alias})` });
    for (const layer of layers) {
      if (layer.raw === undefined || (isBlank(layer.raw) && spec.blankIsValue !== true)) continue;
      const parsed = spec.parse(layer.raw);
      if (parsed.ok) {
        values[id] = parsed.value;
        sources[id] = layer.source;
      } else {
        const line = `${spec.env} (${spec.key}): ${show(spec, layer.raw)} ${parsed.expected}${layer.origin}`;
        problems.push({ setting: spec.key, env: spec.env, source: layer.source, message: line });
      }
    }
  }
  const settings = values as SettingValues;

  if (settings.trivyMode === 'ClientServer' && settings.trivyServerURL === null) {
    const spec = SETTINGS.trivyServerURL;
    problems.push({
      setting: spec.key,
      env: spec.env,
      source: sources.trivyServerURL,
      message: `${spec.env} (${spec.key}): is required when trivy.mode is ClientServer; set a URL like http://trivy-server.trivy-system:4954`,
    });
  }

  // Mounts must name a volume: of the node collector's, or of the scan pods' (theirs included).
  const mountChecks = [
    {
      id: 'nodeCollectorVolumeMounts',
      volumes: (settings.nodeCollectorVolumes ?? []).map((v) => v.name),
      mounts: settings.nodeCollectorVolumeMounts ?? [],
      of: 'nodeCollector.volumes',
    },
    {
      id: 'scanJobCustomVolumesMount',
      volumes: (settings.scanJobCustomVolumes ?? []).map((v) => v.name),
      mounts: settings.scanJobCustomVolumesMount ?? [],
      of: 'trivyOperator.scanJobCustomVolumes',
    },
  ] as const;
  for (const check of mountChecks) {
    const unmatched = unmatchedMounts(check.volumes, check.mounts);
    if (unmatched.length === 0) continue;
    const spec = SETTINGS[check.id];
    problems.push({
      setting: spec.key,
      env: spec.env,
      source: sources[check.id],
      message: `${spec.env} (${spec.key}): mounts ${unmatched.map((n) => JSON.stringify(n)).join(', ')} name no volume in ${check.of}`,
    });
  }

  // Custom scan-pod volumes and mounts must not collide with each other or with the pod's own
  // (src/scanning/job-manifest.ts), or the API server refuses every scan Job.
  const ownVolumes = ['tmp', 'ignorefile', 'configfile', 'ssl-cert-dir'];
  const ownPaths = ['/tmp', '/var/ssl-cert', '/etc/trivy-lookout', '/etc/trivy', '/var/trivy-lookout'];
  const nested = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);
  const collisions: [SettingId, string[]][] = [
    [
      'scanJobCustomVolumes',
      (settings.scanJobCustomVolumes ?? [])
        .map((v) => v.name)
        .filter((name, i, all) => ownVolumes.includes(name) || all.indexOf(name) !== i),
    ],
    [
      'scanJobCustomVolumesMount',
      (settings.scanJobCustomVolumesMount ?? [])
        .map((m) => m.mountPath.replace(/\/+$/, ''))
        .filter((path, i, all) => ownPaths.some((own) => nested(path, own)) || all.indexOf(path) !== i),
    ],
  ];
  for (const [id, clashing] of collisions) {
    if (clashing.length === 0) continue;
    const spec = SETTINGS[id];
    problems.push({
      setting: spec.key,
      env: spec.env,
      source: sources[id],
      message: `${spec.env} (${spec.key}): ${clashing.map((n) => JSON.stringify(n)).join(', ')} repeated, or taken by the scan pod itself (volumes ${ownVolumes.join(', ')}; paths ${ownPaths.join(', ')})`,
    });
  }

  // Trivy-Operator logs in only when both are set (pkg/plugins/trivy/config.go,
  // TrivyDBRepositoryCredentialsSet); one without the other is a mistake worth saying at start-up.
  if ((settings.trivyDbRepositoryUsername === null) !== (settings.trivyDbRepositoryPassword === null)) {
    const [missing, given] =
      settings.trivyDbRepositoryUsername === null
        ? (['trivyDbRepositoryUsername', 'trivyDbRepositoryPassword'] as const)
        : (['trivyDbRepositoryPassword', 'trivyDbRepositoryUsername'] as const);
    const spec = SETTINGS[missing];
    problems.push({
      setting: spec.key,
      env: spec.env,
      // The layer that set the other one is where the pair was half given.
      source: sources[given],
      message: `${spec.env} (${spec.key}): is required with ${SETTINGS[given].key}; set both or neither`,
    });
  }

  if (problems.length > 0) {
    const header = `Invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):`;
    throw new LookoutError(
      ErrorCodes.CONFIG_INVALID,
      [header, ...problems.map((p) => `  ${p.message}`)].join('\n'),
      {
        details: { problems, ...(filePath ? { file: filePath } : {}) },
      },
    );
  }

  const namespace =
    sources.operatorNamespace === 'default'
      ? (podNamespace(readFile) ?? settings.operatorNamespace)
      : settings.operatorNamespace;
  return deepFreeze(assemble(settings, namespace));
}

function show(spec: SettingSpec<unknown>, raw: unknown): string {
  if (spec.secret === true) return '(value hidden)';
  const text = JSON.stringify(raw) ?? String(raw);
  return text.length > 120 ? `${text.slice(0, 117)}...` : text;
}

function podNamespace(readFile: ReadFile): string | undefined {
  try {
    const namespace = readFile(SERVICE_ACCOUNT_NAMESPACE_FILE, 'utf8').trim();
    return namespace === '' ? undefined : namespace;
  } catch {
    return undefined; // not running in a pod
  }
}

function assemble(s: SettingValues, namespace: string): Config {
  return {
    targetNamespaces: s.targetNamespaces,
    excludeNamespaces: s.excludeNamespaces,
    targetWorkloads: s.targetWorkloads,
    operator: {
      namespace,
      scanJobTimeoutMs: s.scanJobTimeout,
      scanJobsConcurrentLimit: s.scanJobsConcurrentLimit,
      scanJobsRetryDelayMs: s.scanJobsRetryDelay,
      resyncPeriodMs: s.resyncPeriod,
      scannerReportTtlMs: s.scannerReportTTL,
      rescanSchedule: s.rescanSchedule,
      metricsBindAddress: s.metricsBindAddress,
      metricsFindingsEnabled: s.metricsFindingsEnabled,
      metricsVulnIdEnabled: s.metricsVulnIdEnabled,
      accessGlobalSecretsAndServiceAccount: s.accessGlobalSecretsAndServiceAccount,
      privateRegistryScanSecretsNames: s.privateRegistryScanSecretsNames,
      webhookBroadcastURL: s.webhookBroadcastURL,
      webhookBroadcastTimeoutMs: s.webhookBroadcastTimeout,
      webhookBroadcastCustomHeaders: s.webhookBroadcastCustomHeaders,
      webhookSendDeletedReports: s.webhookSendDeletedReports,
      webhookBroadcastQueueSize: s.webhookBroadcastQueueSize,
      webhookSendNewFindingsOnly: s.webhookSendNewFindingsOnly,
      clusterComplianceEnabled: s.clusterComplianceEnabled,
      leaderElectionEnabled: s.leaderElectionEnabled,
      leaderElectionId: s.leaderElectionId,
      logLevel: s.logLevel,
      vulnerabilityScannerEnabled: s.vulnerabilityScannerEnabled,
      exposedSecretScannerEnabled: s.exposedSecretScannerEnabled,
      sbomGenerationEnabled: s.sbomGenerationEnabled,
      clusterSbomCacheEnabled: s.clusterSbomCacheEnabled,
    },
    trivy: {
      repository: s.trivyRepository,
      tag: s.trivyTag,
      mode: s.trivyMode,
      serverURL: s.trivyServerURL,
      serverToken: s.trivyServerToken,
      serverTokenHeader: s.trivyServerTokenHeader,
      serverInsecure: s.trivyServerInsecure,
      serverCustomHeaders: s.trivyServerCustomHeaders,
      severity: s.trivySeverity,
      ignoreUnfixed: s.trivyIgnoreUnfixed,
      dbRepository: s.trivyDbRepository,
      javaDbRepository: s.trivyJavaDbRepository,
      dbRepositoryInsecure: s.trivyDbRepositoryInsecure,
      insecureRegistries: s.trivyInsecureRegistries,
      nonSslRegistries: s.trivyNonSslRegistries,
      registry: { mirror: s.trivyRegistryMirror },
      timeoutMs: s.trivyTimeout,
      resources: {
        requests: { cpu: s.trivyRequestsCpu, memory: s.trivyRequestsMemory },
        limits: { cpu: s.trivyLimitsCpu, memory: s.trivyLimitsMemory },
      },
      ignoreFile: s.trivyIgnoreFile,
      additionalVulnerabilityReportFields: s.trivyAdditionalVulnerabilityReportFields,
      severitySource: s.trivySeveritySource,
      sbomSources: s.trivySbomSources,
      imagePullPolicy: s.trivyImagePullPolicy,
      imagePullSecret: s.trivyImagePullSecret,
      slow: s.trivySlow,
      vulnType: s.trivyVulnType,
      skipFiles: s.trivySkipFiles,
      skipDirs: s.trivySkipDirs,
      offlineScan: s.trivyOfflineScan,
      skipJavaDbUpdate: s.trivySkipJavaDbUpdate,
      clientServerSkipUpdate: s.trivyClientServerSkipUpdate,
      httpProxy: s.trivyHttpProxy,
      httpsProxy: s.trivyHttpsProxy,
      noProxy: s.trivyNoProxy,
      sslCertDir: s.trivySslCertDir,
      githubToken: s.trivyGithubToken,
      dbRepositoryUsername: s.trivyDbRepositoryUsername,
      dbRepositoryPassword: s.trivyDbRepositoryPassword,
      configFile: s.trivyConfigFile,
      command: s.trivyCommand,
      includeDevDeps: s.trivyIncludeDevDeps,
    },
    trivyOperator: {
      skipInitContainers: s.skipInitContainers,
      scanJobTolerations: s.scanJobTolerations,
      scanJobNodeSelector: s.scanJobNodeSelector,
      scanJobAnnotations: s.scanJobAnnotations,
      scanJobPodTemplateLabels: s.scanJobPodTemplateLabels,
      scanJobPodPriorityClassName: s.scanJobPodPriorityClassName,
      scanJobAffinity: s.scanJobAffinity,
      scanJobPodSecurityContext: s.scanJobPodSecurityContext,
      scanJobContainerSecurityContext: s.scanJobContainerSecurityContext,
      scanJobCustomVolumes: s.scanJobCustomVolumes,
      scanJobCustomVolumesMount: s.scanJobCustomVolumesMount,
      excludeImages: s.excludeImages,
      skipResourceByLabels: s.skipResourceByLabels,
      additionalReportLabels: s.additionalReportLabels,
    },
    configAudit: {
      enabled: s.configAuditScannerEnabled,
      rbacAssessmentEnabled: s.rbacAssessmentScannerEnabled,
      supportedKinds: s.supportedConfigAuditKinds,
      recordFailedChecksOnly: s.reportRecordFailedChecksOnly,
      policiesConfigMap: s.policiesConfigMapName,
      trivyBinary: s.configAuditTrivyBinary,
      batchSize: s.configAuditBatchSize,
      batchDelayMs: s.configAuditBatchDelay,
      concurrency: s.configAuditConcurrency || Math.min(4, os.availableParallelism()),
    },
    findings: {
      enabled: s.newFindingsEnabled,
      newWindowMs: s.newFindingsWindow,
      deadlinesMs: s.remediationDeadlines,
      fixableOnly: s.remediationFixableOnly,
      affectedEndpointAuth: s.affectedEndpointAuth,
    },
    metrics: {
      aggregates: s.metricsAggregatesEnabled,
      exposedSecretInfo: s.metricsExposedSecretInfo,
      configAuditInfo: s.metricsConfigAuditInfo,
      rbacAssessmentInfo: s.metricsRbacAssessmentInfo,
      infraAssessmentInfo: s.metricsInfraAssessmentInfo,
      imageInfo: s.metricsImageInfo,
      clusterComplianceInfo: s.metricsClusterComplianceInfo,
      resourceLabels: s.reportResourceLabels,
      resourceLabelsPrefix: s.metricsResourceLabelsPrefix,
    },
    nodeCollector: {
      enabled: s.infraAssessmentScannerEnabled,
      concurrentLimit: s.scanNodeCollectorLimit,
      imageRef: s.nodeCollectorImageRef,
      imagePullSecrets: s.nodeCollectorImagePullSecret,
      tolerations: s.nodeCollectorTolerations,
      nodeSelector: s.nodeCollectorNodeSelector,
      excludeNodes: s.nodeCollectorExcludeNodes,
      volumes: s.nodeCollectorVolumes,
      volumeMounts: s.nodeCollectorVolumeMounts,
    },
    compliance: { failEntriesLimit: s.complianceFailEntriesLimit },
  };
}

/** `readonly` in the types, enforced at run time too, so no module can change shared settings. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}
