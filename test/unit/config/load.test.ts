import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, isLookoutError } from '../../../src/errors/index.ts';
import { loadConfig, SERVICE_ACCOUNT_NAMESPACE_FILE } from '../../../src/config/index.ts';
import type { ReadFile } from '../../../src/config/index.ts';

/** A readFile that serves only the given files; everything else is ENOENT, like outside a pod. */
function files(contents: Record<string, string> = {}): ReadFile {
  return (path) => {
    const text = contents[path];
    if (text === undefined)
      throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
    return text;
  };
}

const CONFIG_PATH = '/etc/trivy-lookout/config.yaml';
const withFile = (yaml: string, env: NodeJS.ProcessEnv = {}) =>
  loadConfig({ OPERATOR_CONFIG_FILE: CONFIG_PATH, ...env }, files({ [CONFIG_PATH]: yaml }));

describe('loadConfig defaults', () => {
  const config = loadConfig({}, files());

  it('targets all namespaces and all Trivy-Operator workload kinds', () => {
    assert.deepEqual(config.targetNamespaces, []);
    assert.deepEqual(config.excludeNamespaces, []);
    assert.deepEqual(config.targetWorkloads, [
      'pod',
      'replicaset',
      'replicationcontroller',
      'statefulset',
      'daemonset',
      'cronjob',
      'job',
    ]);
  });

  it("uses Trivy-Operator's operator defaults", () => {
    assert.deepEqual(config.operator, {
      namespace: 'trivy-system',
      scanJobTimeoutMs: 300_000,
      scanJobsConcurrentLimit: 10,
      scanJobsRetryDelayMs: 30_000,
      resyncPeriodMs: 600_000,
      scannerReportTtlMs: 86_400_000,
      rescanSchedule: '0 * * * *',
      metricsBindAddress: { host: '', port: 8080 },
      metricsFindingsEnabled: true,
      metricsVulnIdEnabled: false,
      accessGlobalSecretsAndServiceAccount: true,
      privateRegistryScanSecretsNames: {},
      webhookBroadcastURL: null,
      webhookBroadcastTimeoutMs: 30_000,
      webhookBroadcastCustomHeaders: {},
      webhookSendDeletedReports: false,
      webhookBroadcastQueueSize: 10_000,
      webhookSendNewFindingsOnly: false,
      clusterComplianceEnabled: true,
      leaderElectionEnabled: true,
      leaderElectionId: 'trivy-lookout-lock',
      logLevel: 'info',
      vulnerabilityScannerEnabled: true,
      exposedSecretScannerEnabled: true,
      sbomGenerationEnabled: true,
      clusterSbomCacheEnabled: false,
    });
    assert.deepEqual(config.trivyOperator, {
      skipInitContainers: false,
      scanJobTolerations: [],
      scanJobNodeSelector: {},
      scanJobAnnotations: {},
      scanJobPodTemplateLabels: {},
      scanJobPodPriorityClassName: null,
      scanJobAffinity: null,
      scanJobPodSecurityContext: null,
      scanJobContainerSecurityContext: null,
      scanJobCustomVolumes: [],
      scanJobCustomVolumesMount: [],
      excludeImages: [],
      skipResourceByLabels: [],
      additionalReportLabels: {},
    });
  });

  it("uses Trivy-Operator's Trivy defaults", () => {
    assert.deepEqual(config.trivy, {
      repository: 'mirror.gcr.io/aquasec/trivy',
      tag: '0.72.0',
      mode: 'Standalone',
      serverURL: null,
      serverToken: null,
      serverTokenHeader: 'Trivy-Token',
      serverInsecure: false,
      serverCustomHeaders: {},
      severity: ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'],
      ignoreUnfixed: false,
      dbRepository: 'mirror.gcr.io/aquasec/trivy-db',
      javaDbRepository: 'mirror.gcr.io/aquasec/trivy-java-db',
      dbRepositoryInsecure: false,
      insecureRegistries: [],
      nonSslRegistries: [],
      registry: { mirror: {} },
      timeoutMs: 300_000,
      resources: { requests: { cpu: '100m', memory: '100M' }, limits: { cpu: '500m', memory: '500M' } },
      ignoreFile: null,
      additionalVulnerabilityReportFields: [],
      severitySource: 'trivy-operator',
      sbomSources: [],
      imagePullPolicy: 'IfNotPresent',
      imagePullSecret: null,
      slow: true,
      vulnType: [],
      skipFiles: [],
      skipDirs: [],
      offlineScan: false,
      skipJavaDbUpdate: false,
      clientServerSkipUpdate: false,
      httpProxy: null,
      httpsProxy: null,
      noProxy: null,
      sslCertDir: null,
      githubToken: null,
      dbRepositoryUsername: null,
      dbRepositoryPassword: null,
      configFile: null,
      command: 'image',
      includeDevDeps: false,
    });
  });

  it('returns a deeply frozen object', () => {
    assert.ok(Object.isFrozen(config));
    assert.ok(Object.isFrozen(config.trivy.resources.limits));
    assert.ok(Object.isFrozen(config.trivy.severity));
  });
});

describe('operator namespace', () => {
  it("defaults to the pod's namespace from the service-account file", () => {
    const config = loadConfig({}, files({ [SERVICE_ACCOUNT_NAMESPACE_FILE]: 'security\n' }));
    assert.equal(config.operator.namespace, 'security');
  });

  it('prefers OPERATOR_NAMESPACE over the service-account file', () => {
    const config = loadConfig(
      { OPERATOR_NAMESPACE: 'from-env' },
      files({ [SERVICE_ACCOUNT_NAMESPACE_FILE]: 'security' }),
    );
    assert.equal(config.operator.namespace, 'from-env');
  });

  it('prefers operator.namespace in the YAML file over the service-account file', () => {
    const read = files({
      [CONFIG_PATH]: 'operator:\n  namespace: from-file\n',
      [SERVICE_ACCOUNT_NAMESPACE_FILE]: 'x',
    });
    assert.equal(loadConfig({ OPERATOR_CONFIG_FILE: CONFIG_PATH }, read).operator.namespace, 'from-file');
  });
});

describe('YAML file', () => {
  it('overrides defaults with nested Helm-style keys', () => {
    const config = withFile(`
targetNamespaces: "team-*,payments"
excludeNamespaces: [kube-system, "kube-*"]
targetWorkloads: Pod,StatefulSet
operator:
  scanJobTimeout: 10m
  scanJobsConcurrentLimit: 3
  scanJobsRetryDelay: 1m
  scannerReportTTL: 48h
  metricsFindingsEnabled: false
  metricsVulnIdEnabled: true
  privateRegistryScanSecretsNames:
    team-a: regcred,other
    team-b: [pull-secret]
  webhookBroadcastURL: https://hooks.example.com/trivy
  webhookBroadcastTimeout: 5s
  logLevel: debug
trivyOperator:
  skipInitContainers: true
trivy:
  tag: "0.67.2"
  mode: ClientServer
  serverURL: http://trivy-server.trivy-system:4954
  serverToken: s3cret
  serverCustomHeaders: "X-Api-Key:abc,X-Team:sec"
  severity: HIGH,CRITICAL
  ignoreUnfixed: true
  dbRepositoryInsecure: "true"
  timeout: 10m0s
  resources:
    requests:
      cpu: 1
      memory: ""
  ignoreFile:
    - CVE-1970-0001
    - CVE-1970-0002
`);
    assert.deepEqual(config.targetNamespaces, ['team-*', 'payments']);
    assert.deepEqual(config.excludeNamespaces, ['kube-system', 'kube-*']);
    assert.deepEqual(config.targetWorkloads, ['pod', 'statefulset']);
    assert.equal(config.operator.scanJobTimeoutMs, 600_000);
    assert.equal(config.operator.scanJobsConcurrentLimit, 3);
    assert.equal(config.operator.scanJobsRetryDelayMs, 60_000);
    assert.equal(config.operator.scannerReportTtlMs, 172_800_000);
    assert.equal(config.operator.metricsFindingsEnabled, false);
    assert.equal(config.operator.metricsVulnIdEnabled, true);
    assert.deepEqual(config.operator.privateRegistryScanSecretsNames, {
      'team-a': ['regcred', 'other'],
      'team-b': ['pull-secret'],
    });
    assert.equal(config.operator.webhookBroadcastURL, 'https://hooks.example.com/trivy');
    assert.equal(config.operator.webhookBroadcastTimeoutMs, 5_000);
    assert.equal(config.operator.logLevel, 'debug');
    assert.equal(config.trivyOperator.skipInitContainers, true);
    assert.equal(config.trivy.tag, '0.67.2');
    assert.equal(config.trivy.mode, 'ClientServer');
    assert.equal(config.trivy.serverURL, 'http://trivy-server.trivy-system:4954');
    assert.equal(config.trivy.serverToken, 's3cret');
    assert.deepEqual(config.trivy.serverCustomHeaders, { 'X-Api-Key': 'abc', 'X-Team': 'sec' });
    assert.deepEqual(config.trivy.severity, ['HIGH', 'CRITICAL']);
    assert.equal(config.trivy.ignoreUnfixed, true);
    assert.equal(config.trivy.dbRepositoryInsecure, true);
    assert.equal(config.trivy.timeoutMs, 600_000);
    assert.deepEqual(config.trivy.resources, {
      requests: { cpu: '1', memory: null },
      limits: { cpu: '500m', memory: '500M' },
    });
    assert.equal(config.trivy.ignoreFile, 'CVE-1970-0001\nCVE-1970-0002');
  });

  it("accepts Trivy-Operator's map form for insecure and non-SSL registries, and registry mirrors", () => {
    const config = withFile(`
trivy:
  insecureRegistries:
    rbRegistry: index.docker.io
    internalRegistry: registry.registry.svc:5000
  nonSslRegistries:
    pocRegistry: poc.myregistry.harbor.com.pl
  registry:
    mirror:
      "docker.io": docker-mirror.example.com
      "ghcr.io": mirror.example.com/ghcr
`);
    assert.deepEqual(config.trivy.insecureRegistries, ['index.docker.io', 'registry.registry.svc:5000']);
    assert.deepEqual(config.trivy.nonSslRegistries, ['poc.myregistry.harbor.com.pl']);
    assert.deepEqual(config.trivy.registry.mirror, {
      'docker.io': 'docker-mirror.example.com',
      'ghcr.io': 'mirror.example.com/ghcr',
    });
  });

  it('accepts registries as a YAML list or a comma-separated string too', () => {
    const config = withFile(`
trivy:
  insecureRegistries: [a.example.com, "b.example.com:5000"]
  nonSslRegistries: "c.example.com, d.example.com"
`);
    assert.deepEqual(config.trivy.insecureRegistries, ['a.example.com', 'b.example.com:5000']);
    assert.deepEqual(config.trivy.nonSslRegistries, ['c.example.com', 'd.example.com']);
  });

  it('treats YAML null (Helm "~") as not set', () => {
    const config = withFile('operator:\n  scanJobTimeout: ~\ntrivy:\n  serverToken: ~\n  registry:\n');
    assert.equal(config.operator.scanJobTimeoutMs, 300_000);
    assert.equal(config.trivy.serverToken, null);
  });

  it('treats an empty file as no settings', () => {
    assert.equal(withFile('').operator.scanJobsConcurrentLimit, 10);
  });

  it('lets an empty scannerReportTTL disable expiry, as in Trivy-Operator', () => {
    assert.equal(withFile('operator:\n  scannerReportTTL: ""\n').operator.scannerReportTtlMs, null);
  });
});

describe('environment', () => {
  it('overrides the YAML file', () => {
    const config = withFile(
      'operator:\n  scanJobTimeout: 10m\n  scanJobsConcurrentLimit: 3\ntrivy:\n  severity: LOW\n',
      {
        OPERATOR_SCAN_JOB_TIMEOUT: '1h30m',
        OPERATOR_TRIVY_SEVERITY: 'critical',
      },
    );
    assert.equal(config.operator.scanJobTimeoutMs, 5_400_000);
    assert.equal(config.operator.scanJobsConcurrentLimit, 3, 'keys not in env keep the file value');
    assert.deepEqual(config.trivy.severity, ['CRITICAL']);
  });

  it("reads Trivy-Operator's env names and formats", () => {
    const config = loadConfig(
      {
        OPERATOR_NAMESPACE: 'trivy-system',
        OPERATOR_TARGET_NAMESPACES: 'default,team-a',
        OPERATOR_EXCLUDE_NAMESPACES: 'kube-*',
        OPERATOR_TARGET_WORKLOADS: 'Pod,ReplicaSet,ReplicationController,StatefulSet,DaemonSet,CronJob,Job',
        OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT: '20',
        OPERATOR_SCAN_JOB_RETRY_AFTER: '45s',
        OPERATOR_SCANNER_REPORT_TTL: '',
        OPERATOR_METRICS_BIND_ADDRESS: '0.0.0.0:9100',
        OPERATOR_METRICS_VULN_ID_ENABLED: 'True',
        OPERATOR_ACCESS_GLOBAL_SECRETS_SERVICE_ACCOUNTS: 'false',
        OPERATOR_PRIVATE_REGISTRY_SCAN_SECRETS_NAMES: '{"team-a":"regcred,other"}',
        OPERATOR_WEBHOOK_BROADCAST_URL: '',
        OPERATOR_WEBHOOK_BROADCAST_CUSTOM_HEADERS: 'Authorization:Bearer abc',
        OPERATOR_SEND_DELETED_REPORTS: 'true',
        OPERATOR_LEADER_ELECTION_ENABLED: 'false',
        OPERATOR_LEADER_ELECTION_ID: 'trivyoperator-lock',
      },
      files(),
    );
    assert.deepEqual(config.targetNamespaces, ['default', 'team-a']);
    assert.deepEqual(config.excludeNamespaces, ['kube-*']);
    assert.equal(config.targetWorkloads.length, 7);
    assert.equal(config.operator.scanJobsConcurrentLimit, 20);
    assert.equal(config.operator.scanJobsRetryDelayMs, 45_000);
    assert.equal(config.operator.scannerReportTtlMs, null);
    assert.deepEqual(config.operator.metricsBindAddress, { host: '0.0.0.0', port: 9100 });
    assert.equal(config.operator.metricsVulnIdEnabled, true);
    assert.equal(config.operator.accessGlobalSecretsAndServiceAccount, false);
    assert.deepEqual(config.operator.privateRegistryScanSecretsNames, { 'team-a': ['regcred', 'other'] });
    assert.equal(config.operator.webhookBroadcastURL, null);
    assert.deepEqual(config.operator.webhookBroadcastCustomHeaders, { Authorization: 'Bearer abc' });
    assert.equal(config.operator.webhookSendDeletedReports, true);
    assert.equal(config.operator.leaderElectionEnabled, false);
    assert.equal(config.operator.leaderElectionId, 'trivyoperator-lock');
  });

  it('reads map and list settings from one env string', () => {
    const config = loadConfig(
      {
        OPERATOR_TRIVY_INSECURE_REGISTRIES: 'index.docker.io,registry.local:5000',
        OPERATOR_TRIVY_NON_SSL_REGISTRIES: '{"poc":"poc.example.com"}',
        OPERATOR_TRIVY_REGISTRY_MIRROR: 'docker.io=docker-mirror.example.com,quay.io=quay-mirror.example.com',
        OPERATOR_TRIVY_SERVER_CUSTOM_HEADERS: '{"X-Api-Key":"abc"}',
      },
      files(),
    );
    assert.deepEqual(config.trivy.insecureRegistries, ['index.docker.io', 'registry.local:5000']);
    assert.deepEqual(config.trivy.nonSslRegistries, ['poc.example.com']);
    assert.deepEqual(config.trivy.registry.mirror, {
      'docker.io': 'docker-mirror.example.com',
      'quay.io': 'quay-mirror.example.com',
    });
    assert.deepEqual(config.trivy.serverCustomHeaders, { 'X-Api-Key': 'abc' });
  });

  it('treats a blank env var as not set for settings where empty means nothing', () => {
    const config = withFile('operator:\n  scanJobTimeout: 10m\n', {
      OPERATOR_SCAN_JOB_TIMEOUT: '  ',
      OPERATOR_TRIVY_TAG: '',
      OPERATOR_TARGET_WORKLOADS: '',
    });
    assert.equal(config.operator.scanJobTimeoutMs, 600_000);
    assert.equal(config.trivy.tag, '0.72.0');
    assert.equal(config.targetWorkloads.length, 7);
  });

  it('lets a blank env var clear a list or map set in the file', () => {
    const config = withFile(
      'targetNamespaces: team-a\noperator:\n  privateRegistryScanSecretsNames: {team-a: regcred}\n',
      { OPERATOR_TARGET_NAMESPACES: '', OPERATOR_PRIVATE_REGISTRY_SCAN_SECRETS_NAMES: '' },
    );
    assert.deepEqual(config.targetNamespaces, []);
    assert.deepEqual(config.operator.privateRegistryScanSecretsNames, {});
  });

  it('ignores unknown OPERATOR_* variables', () => {
    assert.doesNotThrow(() =>
      loadConfig({ OPERATOR_SOMETHING_ELSE: 'x', OPERATOR_LOG_DEV_MODE: 'true' }, files()),
    );
  });

  it('accepts bare ports and [ipv6]:port listen addresses', () => {
    assert.deepEqual(
      loadConfig({ OPERATOR_METRICS_BIND_ADDRESS: '9090' }, files()).operator.metricsBindAddress,
      {
        host: '',
        port: 9090,
      },
    );
    assert.deepEqual(
      loadConfig({ OPERATOR_METRICS_BIND_ADDRESS: '[::1]:8081' }, files()).operator.metricsBindAddress,
      {
        host: '::1',
        port: 8081,
      },
    );
  });
});

describe('config file errors', () => {
  function assertFileError(read: ReadFile, messagePart: string): void {
    assert.throws(
      () => loadConfig({ OPERATOR_CONFIG_FILE: CONFIG_PATH }, read),
      (err: unknown) =>
        isLookoutError(err, ErrorCodes.CONFIG_FILE) &&
        err.details.path === CONFIG_PATH &&
        err.message.includes(CONFIG_PATH) &&
        err.message.includes(messagePart),
    );
  }

  it('a missing file → CONFIG_FILE naming the path and the reason', () => {
    assertFileError(files(), 'ENOENT');
  });

  it('unparsable YAML → CONFIG_FILE naming the path', () => {
    assertFileError(
      files({ [CONFIG_PATH]: 'operator:\n  scanJobTimeout: [5m\n' }),
      'cannot read config file',
    );
  });

  it('duplicate keys → CONFIG_FILE (js-yaml rejects them)', () => {
    assertFileError(files({ [CONFIG_PATH]: 'trivy:\n  tag: a\n  tag: b\n' }), 'duplicated mapping key');
  });

  it('a file that is not a map → CONFIG_FILE "must hold a YAML map of settings"', () => {
    assertFileError(files({ [CONFIG_PATH]: '- a\n- b\n' }), 'must hold a YAML map of settings');
  });
});

describe('findings settings', () => {
  const load = (env: Record<string, string>) =>
    loadConfig({ OPERATOR_NAMESPACE: 'trivy-system', ...env }, () => '');

  it('defaults: tracking on, 24h window, Critical 7 days and High 30 days for fixable findings, /affected behind Kubernetes auth', () => {
    assert.deepEqual(load({}).findings, {
      enabled: true,
      newWindowMs: 86_400_000,
      deadlinesMs: { CRITICAL: 7 * 86_400_000, HIGH: 30 * 86_400_000 },
      fixableOnly: true,
      affectedEndpointAuth: 'kubernetes',
    });
  });

  it('reads deadlines in days or Go durations, any case of severity, as a string or a YAML map; blank means none', () => {
    assert.deepEqual(
      load({ OPERATOR_REMEDIATION_DEADLINES: 'critical=3d, High=36h,MEDIUM=90m' }).findings.deadlinesMs,
      {
        CRITICAL: 3 * 86_400_000,
        HIGH: 36 * 3_600_000,
        MEDIUM: 90 * 60_000,
      },
    );
    const fromFile = loadConfig(
      { OPERATOR_NAMESPACE: 'x', OPERATOR_CONFIG_FILE: '/c.yaml' },
      () => 'operator:\n  remediationDeadlines:\n    CRITICAL: 14d\n',
    );
    assert.deepEqual(fromFile.findings.deadlinesMs, { CRITICAL: 14 * 86_400_000 });
    assert.deepEqual(load({ OPERATOR_REMEDIATION_DEADLINES: '' }).findings.deadlinesMs, {});
  });

  it('names the bad entry of a deadline list, and a bad endpoint auth mode', () => {
    for (const bad of ['CRITICAL=7', 'SEVERE=7d', 'CRITICAL=0d', 'CRITICAL']) {
      assert.throws(
        () => load({ OPERATOR_REMEDIATION_DEADLINES: bad }),
        (err: unknown) =>
          isLookoutError(err, ErrorCodes.CONFIG_INVALID) &&
          err.message.includes('OPERATOR_REMEDIATION_DEADLINES (operator.remediationDeadlines)'),
        bad,
      );
    }
    assert.throws(
      () => load({ OPERATOR_AFFECTED_ENDPOINT_AUTH: 'basic' }),
      (err: unknown) => isLookoutError(err) && err.message.includes('is not one of kubernetes, none'),
    );
  });
});
