/** Typed operator settings: load once at start-up, then pass the frozen Config around. */
export { loadConfig, CONFIG_FILE_ENV, SERVICE_ACCOUNT_NAMESPACE_FILE } from './load.ts';
export type { ReadFile } from './file.ts';
export { SETTINGS, SETTING_IDS } from './settings.ts';
export type { SettingId, SettingSpec, SettingValues } from './settings.ts';
export { parseGoDuration, formatGoDuration } from './duration.ts';
export { namespaceSelector, globToRegExp } from './namespaces.ts';
export { goPathGlob } from './glob.ts';
export { DNS_LABEL } from './formats.ts';
export type { NamespaceSelector } from './namespaces.ts';
export { redactConfig } from './redact.ts';
export { ignoredTrivyOperatorVariables } from './trivy-operator-env.ts';
export {
  WORKLOAD_KINDS,
  TRIVY_MODES,
  SEVERITIES,
  LOG_LEVELS,
  CONFIG_AUDIT_KINDS,
  ADDITIONAL_VULNERABILITY_FIELDS,
  SEVERITY_SOURCES,
  SBOM_SOURCES,
} from './types.ts';
export type {
  AdditionalVulnerabilityField,
  AffectedEndpointAuth,
  FindingsConfig,
  BindAddress,
  Config,
  ConfigProblem,
  ConfigAuditConfig,
  ConfigAuditKind,
  ConfigSource,
  LogLevel,
  MetricsConfig,
  NodeCollectorConfig,
  OperatorConfig,
  ResourceAmounts,
  Severity,
  SeveritySourceMode,
  TrivyConfig,
  TrivyMode,
  WorkloadKind,
} from './types.ts';
export type { HostPathVolume, HostVolumeMount } from './node-collector.ts';
