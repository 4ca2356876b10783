import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ErrorCodes, isLookoutError } from '../../../src/errors/index.ts';
import { loadConfig } from '../../../src/config/index.ts';
import type { ConfigProblem, ReadFile } from '../../../src/config/index.ts';

const CONFIG_PATH = '/etc/trivy-lookout/config.yaml';

function files(contents: Record<string, string> = {}): ReadFile {
  return (path) => {
    const text = contents[path];
    if (text === undefined) throw Object.assign(new Error(`ENOENT: ${path}`), { code: 'ENOENT' });
    return text;
  };
}

/** Loads and returns the CONFIG_INVALID error's message and problems; fails if loading succeeds. */
function problemsFor(input: { env?: NodeJS.ProcessEnv; yaml?: string }): {
  message: string;
  problems: readonly ConfigProblem[];
} {
  const env =
    input.yaml === undefined ? { ...input.env } : { OPERATOR_CONFIG_FILE: CONFIG_PATH, ...input.env };
  const read = files(input.yaml === undefined ? {} : { [CONFIG_PATH]: input.yaml });
  try {
    loadConfig(env, read);
  } catch (err) {
    assert.ok(isLookoutError(err, ErrorCodes.CONFIG_INVALID), `expected CONFIG_INVALID, got ${String(err)}`);
    return { message: err.message, problems: err.details.problems as ConfigProblem[] };
  }
  assert.fail('loadConfig accepted an invalid configuration');
}

interface Case {
  readonly name: string;
  readonly env?: NodeJS.ProcessEnv;
  readonly yaml?: string;
  readonly setting: string;
  readonly source: 'env' | 'file' | 'default';
  readonly line: string;
}

const CASES: readonly Case[] = [
  {
    name: 'a duration in words',
    env: { OPERATOR_SCAN_JOB_TIMEOUT: '5 minutes' },
    setting: 'operator.scanJobTimeout',
    source: 'env',
    line: 'OPERATOR_SCAN_JOB_TIMEOUT (operator.scanJobTimeout): "5 minutes" is not a duration like 5m or 1h30m',
  },
  {
    name: 'a duration without unit',
    env: { OPERATOR_SCAN_JOB_RETRY_AFTER: '30' },
    setting: 'operator.scanJobsRetryDelay',
    source: 'env',
    line: 'OPERATOR_SCAN_JOB_RETRY_AFTER (operator.scanJobsRetryDelay): "30" is not a duration like 5m or 1h30m',
  },
  {
    name: 'a zero timeout',
    env: { OPERATOR_TRIVY_TIMEOUT: '0s' },
    setting: 'trivy.timeout',
    source: 'env',
    line: 'OPERATOR_TRIVY_TIMEOUT (trivy.timeout): "0s" is not a duration longer than 0s, like 5m or 1h30m',
  },
  {
    name: 'a negative report TTL',
    env: { OPERATOR_SCANNER_REPORT_TTL: '-24h' },
    setting: 'operator.scannerReportTTL',
    source: 'env',
    line: 'OPERATOR_SCANNER_REPORT_TTL (operator.scannerReportTTL): "-24h" is not a duration longer than 0s, like 5m or 1h30m',
  },
  {
    name: 'a job limit in words',
    env: { OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT: 'ten' },
    setting: 'operator.scanJobsConcurrentLimit',
    source: 'env',
    line: 'OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT (operator.scanJobsConcurrentLimit): "ten" is not a whole number from 1 to 10000',
  },
  {
    name: 'a job limit of zero',
    yaml: 'operator:\n  scanJobsConcurrentLimit: 0\n',
    setting: 'operator.scanJobsConcurrentLimit',
    source: 'file',
    line: `OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT (operator.scanJobsConcurrentLimit): 0 is not a whole number from 1 to 10000 (from ${CONFIG_PATH})`,
  },
  {
    name: 'a fractional job limit',
    yaml: 'operator:\n  scanJobsConcurrentLimit: 2.5\n',
    setting: 'operator.scanJobsConcurrentLimit',
    source: 'file',
    line: `OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT (operator.scanJobsConcurrentLimit): 2.5 is not a whole number from 1 to 10000 (from ${CONFIG_PATH})`,
  },
  {
    name: 'a list where a number belongs',
    yaml: 'operator:\n  scanJobsConcurrentLimit: [1, 2]\n',
    setting: 'operator.scanJobsConcurrentLimit',
    source: 'file',
    line: `OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT (operator.scanJobsConcurrentLimit): [1,2] is not a whole number from 1 to 10000 (from ${CONFIG_PATH})`,
  },
  {
    name: 'a boolean spelt "yes"',
    env: { OPERATOR_METRICS_FINDINGS_ENABLED: 'yes' },
    setting: 'operator.metricsFindingsEnabled',
    source: 'env',
    line: 'OPERATOR_METRICS_FINDINGS_ENABLED (operator.metricsFindingsEnabled): "yes" is not true or false',
  },
  {
    name: 'an unknown Trivy mode',
    env: { OPERATOR_TRIVY_MODE: 'Server' },
    setting: 'trivy.mode',
    source: 'env',
    line: 'OPERATOR_TRIVY_MODE (trivy.mode): "Server" is not one of Standalone, ClientServer',
  },
  {
    name: 'an unknown log level',
    env: { OPERATOR_LOG_LEVEL: 'verbose' },
    setting: 'operator.logLevel',
    source: 'env',
    line: 'OPERATOR_LOG_LEVEL (operator.logLevel): "verbose" is not one of fatal, error, warn, info, debug, trace, silent',
  },
  {
    name: 'a workload kind Trivy-Operator does not scan directly',
    env: { OPERATOR_TARGET_WORKLOADS: 'pod,deployment' },
    setting: 'targetWorkloads',
    source: 'env',
    line: 'OPERATOR_TARGET_WORKLOADS (targetWorkloads): "pod,deployment" contains "deployment"; expected a comma-separated list of pod, replicaset, replicationcontroller, statefulset, daemonset, cronjob, job',
  },
  {
    name: 'a workload list with no kinds',
    env: { OPERATOR_TARGET_WORKLOADS: ' , ' },
    setting: 'targetWorkloads',
    source: 'env',
    line: 'OPERATOR_TARGET_WORKLOADS (targetWorkloads): " , " is empty; expected a comma-separated list of pod, replicaset, replicationcontroller, statefulset, daemonset, cronjob, job',
  },
  {
    name: 'an unknown severity',
    env: { OPERATOR_TRIVY_SEVERITY: 'HIGH,SEVERE' },
    setting: 'trivy.severity',
    source: 'env',
    line: 'OPERATOR_TRIVY_SEVERITY (trivy.severity): "HIGH,SEVERE" contains "SEVERE"; expected a comma-separated list of UNKNOWN, LOW, MEDIUM, HIGH, CRITICAL',
  },
  {
    name: 'a namespace pattern with upper case and "_"',
    env: { OPERATOR_TARGET_NAMESPACES: 'team-a,Team_B' },
    setting: 'targetNamespaces',
    source: 'env',
    line: 'OPERATOR_TARGET_NAMESPACES (targetNamespaces): "team-a,Team_B" contains "Team_B"; expected comma-separated namespace names or globs (* and ?) of lowercase letters, digits, "-" and "."',
  },
  {
    name: 'a regular expression instead of a glob',
    yaml: 'excludeNamespaces: ["kube-.+"]\n',
    setting: 'excludeNamespaces',
    source: 'file',
    line: `OPERATOR_EXCLUDE_NAMESPACES (excludeNamespaces): ["kube-.+"] contains "kube-.+"; expected comma-separated namespace names or globs (* and ?) of lowercase letters, digits, "-" and "." (from ${CONFIG_PATH})`,
  },
  {
    name: 'an operator namespace with a space',
    env: { OPERATOR_NAMESPACE: 'trivy system' },
    setting: 'operator.namespace',
    source: 'env',
    line: 'OPERATOR_NAMESPACE (operator.namespace): "trivy system" is not a namespace name (lowercase letters, digits and "-")',
  },
  {
    name: 'a rescan schedule in words',
    env: { OPERATOR_RESCAN_SCHEDULE: 'every hour' },
    setting: 'operator.rescanSchedule',
    source: 'env',
    line: 'OPERATOR_RESCAN_SCHEDULE (operator.rescanSchedule): "every hour" is not a cron schedule like "0 * * * *" (minute hour day-of-month month day-of-week)',
  },
  {
    name: 'a cron field out of range',
    env: { OPERATOR_RESCAN_SCHEDULE: '61 * * * *' },
    setting: 'operator.rescanSchedule',
    source: 'env',
    line: 'OPERATOR_RESCAN_SCHEDULE (operator.rescanSchedule): "61 * * * *" is not a cron schedule like "0 * * * *" (minute hour day-of-month month day-of-week)',
  },
  {
    name: 'a server URL without scheme',
    env: { OPERATOR_TRIVY_SERVER_URL: 'trivy-server:4954' },
    setting: 'trivy.serverURL',
    source: 'env',
    line: 'OPERATOR_TRIVY_SERVER_URL (trivy.serverURL): "trivy-server:4954" is not an http(s) URL like http://trivy-server.trivy-system:4954',
  },
  {
    name: 'ClientServer mode without a server URL',
    env: { OPERATOR_TRIVY_MODE: 'ClientServer' },
    setting: 'trivy.serverURL',
    source: 'default',
    line: 'OPERATOR_TRIVY_SERVER_URL (trivy.serverURL): is required when trivy.mode is ClientServer; set a URL like http://trivy-server.trivy-system:4954',
  },
  {
    name: 'a webhook URL that is not http(s), value hidden',
    env: { OPERATOR_WEBHOOK_BROADCAST_URL: 'ftp://hooks.example.com/T000/B000/secret' },
    setting: 'operator.webhookBroadcastURL',
    source: 'env',
    line: 'OPERATOR_WEBHOOK_BROADCAST_URL (operator.webhookBroadcastURL): (value hidden) is not an http(s) URL like http://trivy-server.trivy-system:4954',
  },
  {
    name: 'a custom header without ":", value hidden',
    env: { OPERATOR_TRIVY_SERVER_CUSTOM_HEADERS: 'X-Api-Key=abc' },
    setting: 'trivy.serverCustomHeaders',
    source: 'env',
    line: 'OPERATOR_TRIVY_SERVER_CUSTOM_HEADERS (trivy.serverCustomHeaders): (value hidden) is not a comma-separated list of Name:value headers like X-Api-Key:abc,X-Team:sec',
  },
  {
    name: 'a custom header with a space in its name',
    env: { OPERATOR_WEBHOOK_BROADCAST_CUSTOM_HEADERS: 'X Api Key:abc' },
    setting: 'operator.webhookBroadcastCustomHeaders',
    source: 'env',
    line: 'OPERATOR_WEBHOOK_BROADCAST_CUSTOM_HEADERS (operator.webhookBroadcastCustomHeaders): (value hidden) has invalid entries for "X Api Key"; expected a comma-separated list of Name:value headers like X-Api-Key:abc,X-Team:sec',
  },
  {
    name: 'a token header with a space',
    env: { OPERATOR_TRIVY_SERVER_TOKEN_HEADER: 'Trivy Token' },
    setting: 'trivy.serverTokenHeader',
    source: 'env',
    line: 'OPERATOR_TRIVY_SERVER_TOKEN_HEADER (trivy.serverTokenHeader): "Trivy Token" is not an HTTP header name like Trivy-Token',
  },
  {
    name: 'a resource quantity in words',
    yaml: 'trivy:\n  resources:\n    limits:\n      memory: lots\n',
    setting: 'trivy.resources.limits.memory',
    source: 'file',
    line: `OPERATOR_TRIVY_RESOURCES_LIMITS_MEMORY (trivy.resources.limits.memory): "lots" is not a Kubernetes quantity like 100m, 0.5, 500M or 1Gi (from ${CONFIG_PATH})`,
  },
  {
    name: 'a registry given as a URL',
    yaml: 'trivy:\n  insecureRegistries:\n    rbRegistry: https://index.docker.io\n',
    setting: 'trivy.insecureRegistries',
    source: 'file',
    line: `OPERATOR_TRIVY_INSECURE_REGISTRIES (trivy.insecureRegistries): {"rbRegistry":"https://index.docker.io"} contains "https://index.docker.io"; expected registry hosts like registry.example.com:5000 (a list, a comma-separated string or a map of name: host) (from ${CONFIG_PATH})`,
  },
  {
    name: 'a registry list holding a nested map',
    yaml: 'trivy:\n  nonSslRegistries:\n    a: {b: c}\n',
    setting: 'trivy.nonSslRegistries',
    source: 'file',
    line: `OPERATOR_TRIVY_NON_SSL_REGISTRIES (trivy.nonSslRegistries): {"a":{"b":"c"}} is not a list; expected registry hosts like registry.example.com:5000 (a list, a comma-separated string or a map of name: host) (from ${CONFIG_PATH})`,
  },
  {
    name: 'a mirror entry without "="',
    env: { OPERATOR_TRIVY_REGISTRY_MIRROR: 'docker.io' },
    setting: 'trivy.registry.mirror',
    source: 'env',
    line: 'OPERATOR_TRIVY_REGISTRY_MIRROR (trivy.registry.mirror): "docker.io" is not a map of registry to mirror like docker.io=docker-mirror.example.com',
  },
  {
    name: 'a mirror that is a URL',
    yaml: 'trivy:\n  registry:\n    mirror:\n      docker.io: https://mirror.example.com\n',
    setting: 'trivy.registry.mirror',
    source: 'file',
    line: `OPERATOR_TRIVY_REGISTRY_MIRROR (trivy.registry.mirror): {"docker.io":"https://mirror.example.com"} has invalid entries for "docker.io"; expected a map of registry to mirror like docker.io=docker-mirror.example.com (from ${CONFIG_PATH})`,
  },
  {
    name: 'private registry secrets that are not JSON',
    env: { OPERATOR_PRIVATE_REGISTRY_SCAN_SECRETS_NAMES: 'team-a=regcred' },
    setting: 'operator.privateRegistryScanSecretsNames',
    source: 'env',
    line: 'OPERATOR_PRIVATE_REGISTRY_SCAN_SECRETS_NAMES (operator.privateRegistryScanSecretsNames): "team-a=regcred" is not a map of namespace to Secret names like {"team-a":"regcred,other"}',
  },
  {
    name: 'a private registry secret name with upper case',
    env: { OPERATOR_PRIVATE_REGISTRY_SCAN_SECRETS_NAMES: '{"team-a":"RegCred"}' },
    setting: 'operator.privateRegistryScanSecretsNames',
    source: 'env',
    line: 'OPERATOR_PRIVATE_REGISTRY_SCAN_SECRETS_NAMES (operator.privateRegistryScanSecretsNames): "{\\"team-a\\":\\"RegCred\\"}" has an invalid entry for "team-a"; expected a map of namespace to Secret names like {"team-a":"regcred,other"}',
  },
  {
    name: 'a metrics address with a scheme',
    env: { OPERATOR_METRICS_BIND_ADDRESS: 'http://:8080' },
    setting: 'operator.metricsBindAddress',
    source: 'env',
    line: 'OPERATOR_METRICS_BIND_ADDRESS (operator.metricsBindAddress): "http://:8080" is not a listen address like :8080 or 0.0.0.0:8080',
  },
  {
    name: 'a metrics port out of range',
    env: { OPERATOR_METRICS_BIND_ADDRESS: ':99999' },
    setting: 'operator.metricsBindAddress',
    source: 'env',
    line: 'OPERATOR_METRICS_BIND_ADDRESS (operator.metricsBindAddress): ":99999" is not a listen address like :8080 or 0.0.0.0:8080',
  },
  {
    name: 'a Trivy repository that includes the tag',
    env: { OPERATOR_TRIVY_REPOSITORY: 'mirror.gcr.io/aquasec/trivy:0.72.0' },
    setting: 'trivy.repository',
    source: 'env',
    line: 'OPERATOR_TRIVY_REPOSITORY (trivy.repository): "mirror.gcr.io/aquasec/trivy:0.72.0" is not an image repository (without tag) like mirror.gcr.io/aquasec/trivy',
  },
  {
    name: 'a Trivy tag with a space',
    env: { OPERATOR_TRIVY_TAG: '0.72 .0' },
    setting: 'trivy.tag',
    source: 'env',
    line: 'OPERATOR_TRIVY_TAG (trivy.tag): "0.72 .0" is not an image tag like 0.72.0',
  },
  {
    name: 'a DB repository with upper case',
    env: { OPERATOR_TRIVY_DB_REPOSITORY: 'mirror.gcr.io/AquaSec/trivy-db' },
    setting: 'trivy.dbRepository',
    source: 'env',
    line: 'OPERATOR_TRIVY_DB_REPOSITORY (trivy.dbRepository): "mirror.gcr.io/AquaSec/trivy-db" is not an image repository like mirror.gcr.io/aquasec/trivy-db',
  },
  {
    name: 'a Lease name with "_"',
    env: { OPERATOR_LEADER_ELECTION_ID: 'trivy_lock' },
    setting: 'operator.leaderElectionId',
    source: 'env',
    line: 'OPERATOR_LEADER_ELECTION_ID (operator.leaderElectionId): "trivy_lock" is not a Kubernetes object name (lowercase letters, digits, "-" and ".")',
  },
  {
    name: 'an ignore file given as a map',
    yaml: 'trivy:\n  ignoreFile:\n    CVE-1970-0001: true\n',
    setting: 'trivy.ignoreFile',
    source: 'file',
    line: `OPERATOR_TRIVY_IGNORE_FILE (trivy.ignoreFile): {"CVE-1970-0001":true} is not text or a list of lines (from ${CONFIG_PATH})`,
  },
  {
    name: 'a misspelt YAML key',
    yaml: 'operator:\n  scanJobTimout: 5m\n',
    setting: 'operator.scanJobTimout',
    source: 'file',
    line: `${CONFIG_PATH}: unknown key operator.scanJobTimout (did you mean operator.scanJobTimeout?)`,
  },
  {
    name: 'a Helm value the operator does not read',
    yaml: 'serviceMonitor:\n  enabled: true\n',
    setting: 'serviceMonitor',
    source: 'file',
    line: `${CONFIG_PATH}: unknown key serviceMonitor`,
  },
  {
    name: 'a section given as a scalar',
    yaml: 'trivy: fast\n',
    setting: 'trivy',
    source: 'file',
    line: `${CONFIG_PATH}: trivy must be a map of settings`,
  },
];

describe('validation errors', () => {
  for (const c of CASES) {
    it(`${c.name}: ${JSON.stringify(c.env ?? c.yaml)} → ${c.line}`, () => {
      const { message, problems } = problemsFor(c);
      assert.equal(problems.length, 1, `expected one problem, got:\n${message}`);
      const [problem] = problems;
      assert.equal(problem?.message, c.line);
      assert.equal(problem?.setting, c.setting);
      assert.equal(problem?.source, c.source);
      assert.equal(message, `Invalid configuration (1 problem):\n  ${c.line}`);
    });
  }

  it('reports every problem at once, in one error, one line each', () => {
    const { message, problems } = problemsFor({
      yaml: 'operator:\n  scanJobsConcurrentLimit: many\ntrivy:\n  severty: HIGH\n',
      env: {
        OPERATOR_SCAN_JOB_TIMEOUT: '5 minutes',
        OPERATOR_TRIVY_MODE: 'ClientServer',
        OPERATOR_LOG_LEVEL: 'loud',
      },
    });
    assert.deepEqual(
      problems.map((p) => [p.setting, p.env, p.source]),
      [
        ['trivy.severty', null, 'file'],
        ['operator.scanJobTimeout', 'OPERATOR_SCAN_JOB_TIMEOUT', 'env'],
        ['operator.scanJobsConcurrentLimit', 'OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT', 'file'],
        ['operator.logLevel', 'OPERATOR_LOG_LEVEL', 'env'],
        ['trivy.serverURL', 'OPERATOR_TRIVY_SERVER_URL', 'default'],
      ],
    );
    const lines = message.split('\n');
    assert.equal(lines[0], 'Invalid configuration (5 problems):');
    assert.equal(lines.length, 6);
    assert.ok(lines.includes(`  ${CONFIG_PATH}: unknown key trivy.severty (did you mean trivy.severity?)`));
    assert.ok(
      lines.includes(
        '  OPERATOR_SCAN_JOB_TIMEOUT (operator.scanJobTimeout): "5 minutes" is not a duration like 5m or 1h30m',
      ),
    );
  });

  it('still reports a bad file value that the environment overrides', () => {
    const { problems } = problemsFor({
      yaml: 'operator:\n  scanJobTimeout: soon\n',
      env: { OPERATOR_SCAN_JOB_TIMEOUT: '5m' },
    });
    assert.deepEqual(
      problems.map((p) => p.message),
      [
        `OPERATOR_SCAN_JOB_TIMEOUT (operator.scanJobTimeout): "soon" is not a duration like 5m or 1h30m (from ${CONFIG_PATH})`,
      ],
    );
  });

  it('never prints the server token', () => {
    const { message } = problemsFor({ yaml: 'trivy:\n  serverToken: {value: s3cret}\n' });
    assert.ok(!message.includes('s3cret'));
    assert.ok(
      message.includes('OPERATOR_TRIVY_SERVER_TOKEN (trivy.serverToken): (value hidden) is not a string'),
    );
  });
});
