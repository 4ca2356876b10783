/**
 * Trivy-Operator's operator variables (the `env` tags of its pkg/operator/etc/config.go, v0.32.0)
 * that have no counterpart here, with the reason. Start-up logs each one that is set, so a
 * deployment carried over from Trivy-Operator learns what it does not do here instead of
 * finding out later.
 */
const WITHOUT_EFFECT: Readonly<Record<string, string>> = {
  CONTROLLER_CACHE_SYNC_TIMEOUT: 'caches have no sync deadline; /readyz says which are not synced yet',
  OPERATOR_ALTERNATE_REPORT_STORAGE_DIR: 'reports are always Kubernetes resources',
  OPERATOR_ALTERNATE_REPORT_STORAGE_ENABLED: 'reports are always Kubernetes resources',
  OPERATOR_BATCH_DELETE_DELAY: 'reports are replaced one at a time by rescans; there is no bulk deletion',
  OPERATOR_BATCH_DELETE_LIMIT: 'reports are replaced one at a time by rescans; there is no bulk deletion',
  OPERATOR_BUILT_IN_TRIVY_SERVER:
    'there is no built-in Trivy server; run one and set OPERATOR_TRIVY_MODE=ClientServer and OPERATOR_TRIVY_SERVER_URL',
  OPERATOR_CACHE_REPORT_TTL: 'ClusterSbomReports are replaced on every scan of their image and do not expire',
  OPERATOR_CONFIG_AUDIT_SCANNER_SCAN_ONLY_CURRENT_REVISIONS: 'not implemented yet',
  OPERATOR_HEALTH_PROBE_BIND_ADDRESS: '/healthz and /readyz are served on OPERATOR_METRICS_BIND_ADDRESS',
  OPERATOR_INVOKE_CLUSTER_COMPLIANCE_ONCE: 'compliance reports are evaluated on their own spec.cron',
  OPERATOR_LOG_DEV_MODE: 'logs are always structured JSON lines; OPERATOR_LOG_LEVEL sets the level',
  OPERATOR_MERGE_RBAC_FINDING_WITH_CONFIG_AUDIT:
    "RBAC findings are always RbacAssessmentReports (Trivy-Operator's default)",
  OPERATOR_PPROF_BIND_ADDRESS: "Go's profiler; Node.js has --inspect instead",
  OPERATOR_SCAN_JOB_TTL: 'scan Jobs are deleted as soon as their result is read',
  OPERATOR_SCAN_SECRET_TTL: "a scan Job's Secret is owned by the Job and deleted with it",
  OPERATOR_SERVICE_ACCOUNT: 'scan pods run without a service-account token',
  OPERATOR_VULNERABILITY_SCANNER_SCAN_ONLY_CURRENT_REVISIONS:
    'not implemented yet; the ReplicaSets that own running pods are scanned',
  TRIVY_SERVER_HEALTH_CHECK_CACHE_EXPIRATION: 'there is no built-in Trivy server',
};

export interface IgnoredVariable {
  readonly name: string;
  readonly reason: string;
}

/** The Trivy-Operator variables set in `env` that have no effect here. */
export function ignoredTrivyOperatorVariables(env: NodeJS.ProcessEnv): IgnoredVariable[] {
  return Object.entries(WITHOUT_EFFECT)
    .filter(([name]) => env[name] !== undefined && env[name] !== '')
    .map(([name, reason]) => ({ name, reason }));
}
