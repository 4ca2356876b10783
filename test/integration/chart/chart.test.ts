import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  type V1Container,
  type V1Deployment,
  type V1EnvVar,
  type V1PolicyRule,
  type V1Pod,
} from '@kubernetes/client-node';
import { loadConfig } from '../../../src/config/index.ts';
import { SETTINGS, SETTING_IDS } from '../../../src/config/settings.ts';
import { parsePolicyConfigMap } from '../../../src/configaudit/index.ts';
import { ResourceWatcher } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import { SCAN_JOB_COMPONENT, ScanLabel } from '../../../src/scanning/names.ts';
import { kubeconfigYaml } from '../../harness/control-plane.ts';
import {
  chartDir,
  helm,
  helmOk,
  parseManifests,
  renderChart,
  renderedOperatorEnv,
  type RenderedObject,
} from '../../harness/helm.ts';
import { expectedFindings } from '../../harness/images/index.ts';
import { kubectl } from '../../harness/kubectl.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { pullSecret, useRealScans, warmNodeCache, type RealScans } from '../../harness/real-scans.ts';
import { deleteManifest } from '../../harness/registry/index.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { repoRoot, toolPath } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

/** What the RBAC test reads of a VulnerabilityReport. */
interface VulnerabilityReport {
  metadata: { labels: Record<string, string> };
  report: {
    vulnerabilities?: { vulnerabilityID: string }[];
    registry: { server: string };
    artifact: { digest?: string };
  };
}

const tmp = mkdtempSync(path.join(tmpdir(), 'trivy-lookout-chart-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

function find(objects: RenderedObject[], kind: string, nameSuffix = ''): RenderedObject {
  const found = objects.find((o) => o.kind === kind && o.metadata.name.endsWith(nameSuffix));
  assert.ok(found, `rendered ${kind} *${nameSuffix}`);
  return found;
}

function operatorContainer(objects: RenderedObject[]): V1Container {
  const deployment = find(objects, 'Deployment') as unknown as V1Deployment;
  const container = deployment.spec?.template.spec?.containers.find((c) => c.name === 'operator');
  assert.ok(container, 'operator container');
  return container;
}

const envEntry = (objects: RenderedObject[], name: string): V1EnvVar | undefined =>
  operatorContainer(objects).env?.find((e) => e.name === name);

interface DashboardConfigMap {
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
  };
  data: Record<string, string>;
}

/** The rendered ConfigMaps that carry a dashboard (a `*.json` data key). */
const dashboardConfigMaps = (objects: RenderedObject[]): DashboardConfigMap[] =>
  (objects.filter((o) => o.kind === 'ConfigMap') as unknown as DashboardConfigMap[]).filter((m) =>
    Object.keys(m.data ?? {}).some((key) => key.endsWith('.json')),
  );

/** The dashboard files the chart ships (the generated copies of grafana-dashboards/*.json). */
const shippedDashboards = (): string[] =>
  readdirSync(path.join(chartDir, 'files', 'grafana-dashboards'))
    .filter((f) => f.endsWith('.json'))
    .sort();

describe('the Helm chart, rendered', () => {
  it('passes helm lint --strict, with default values and with Trivy-Operator-style values', async () => {
    const lint = await helm(['lint', '--strict', chartDir]);
    assert.equal(lint.code, 0, lint.stdout + lint.stderr);
    const lintAirGapped = await helm(['lint', '--strict', chartDir, '-f', airGappedValuesFile()]);
    assert.equal(lintAirGapped.code, 0, lintAirGapped.stdout + lintAirGapped.stderr);
  });

  it('renders every operator setting as its env var, with the operator defaults', async () => {
    const objects = await renderChart('lookout', 'trivy-system');
    const env = renderedOperatorEnv(objects);
    for (const id of SETTING_IDS) {
      const spec = SETTINGS[id];
      if (id === 'operatorNamespace') continue;
      assert.ok(spec.env in env, `${spec.env} (${spec.key}) is rendered`);
      if (id === 'metricsBindAddress') {
        assert.equal(env[spec.env], ':8080');
        continue;
      }
      // Same value once parsed: "{}" and "" are both an empty list of registries.
      assert.deepEqual(spec.parse(env[spec.env]), spec.parse(spec.default), `${spec.key} default`);
    }
    // Nothing the operator does not know.
    const known = new Set(SETTING_IDS.map((id) => SETTINGS[id].env));
    for (const name of Object.keys(env)) assert.ok(known.has(name), `${name} is a setting`);
    assert.deepEqual(envEntry(objects, 'OPERATOR_NAMESPACE')?.valueFrom?.fieldRef, {
      fieldPath: 'metadata.namespace',
    });
    // The operator accepts the rendered environment as it is.
    const config = loadConfig({ ...env, OPERATOR_NAMESPACE: 'trivy-system' });
    assert.equal(config.trivy.repository, 'mirror.gcr.io/aquasec/trivy');
  });

  it('keeps credentials out of the pod spec: token and headers come from the Secret', async () => {
    const objects = await renderChart('lookout', 'trivy-system', [
      '--set',
      'trivy.serverToken=s3cret-token',
      '--set',
      'trivy.serverCustomHeaders=X-Api-Key:abc',
    ]);
    for (const name of [
      'OPERATOR_TRIVY_SERVER_TOKEN',
      'OPERATOR_TRIVY_SERVER_CUSTOM_HEADERS',
      'OPERATOR_WEBHOOK_BROADCAST_URL',
      'OPERATOR_WEBHOOK_BROADCAST_CUSTOM_HEADERS',
    ]) {
      const entry = envEntry(objects, name);
      assert.equal(entry?.value, undefined, `${name} has no literal value`);
      assert.equal(entry?.valueFrom?.secretKeyRef?.name, 'lookout-trivy-lookout');
    }
    const deployment = JSON.stringify(find(objects, 'Deployment'));
    assert.doesNotMatch(deployment, /s3cret-token|X-Api-Key/);
    const env = renderedOperatorEnv(objects);
    assert.equal(env.OPERATOR_TRIVY_SERVER_TOKEN, 's3cret-token');
    // A change of the Secret rolls the pods.
    const before = await renderChart('lookout', 'trivy-system');
    const checksum = (o: RenderedObject[]) =>
      (find(o, 'Deployment') as unknown as V1Deployment).spec?.template.metadata?.annotations?.[
        'checksum/secret'
      ];
    assert.ok(checksum(objects));
    assert.notEqual(checksum(objects), checksum(before));
  });

  it("reads Trivy credentials from Trivy-Operator's own Secret with trivy.existingSecret, and gives the operator its proxies", async () => {
    // In: existingSecret true plus a token in the values (which it overrides, as in Trivy-Operator's
    // chart), and operator proxies. Out: every Trivy credential comes, optionally, from
    // trivy-operator-trivy-config under Trivy-Operator's key names; the chart's Secret holds none.
    const objects = await renderChart('lookout', 'trivy-system', [
      '--set',
      'trivy.existingSecret=true',
      '--set',
      'trivy.serverToken=ignored-token',
      '--set',
      'operator.httpsProxy=http://proxy.corp:3128',
      '--set',
      'operator.noProxy=10.96.0.1\\,.svc',
    ]);
    const refs = {
      OPERATOR_TRIVY_SERVER_TOKEN: 'trivy.serverToken',
      OPERATOR_TRIVY_SERVER_CUSTOM_HEADERS: 'trivy.serverCustomHeaders',
      OPERATOR_TRIVY_GITHUB_TOKEN: 'trivy.githubToken',
      OPERATOR_TRIVY_DB_REPOSITORY_USERNAME: 'trivy.dbRepositoryUsername',
      OPERATOR_TRIVY_DB_REPOSITORY_PASSWORD: 'trivy.dbRepositoryPassword',
    };
    for (const [name, key] of Object.entries(refs)) {
      const ref = envEntry(objects, name)?.valueFrom?.secretKeyRef;
      assert.deepEqual(ref, { name: 'trivy-operator-trivy-config', key, optional: true }, name);
    }
    const secret = find(objects, 'Secret') as { stringData?: Record<string, string> };
    assert.doesNotMatch(JSON.stringify(secret), /ignored-token/);
    assert.deepEqual(envEntry(objects, 'HTTPS_PROXY')?.valueFrom?.secretKeyRef, {
      name: 'lookout-trivy-lookout',
      key: 'operator-https-proxy',
    });
    assert.equal(secret.stringData?.['operator-https-proxy'], 'http://proxy.corp:3128');
    assert.equal(envEntry(objects, 'NO_PROXY')?.value, '10.96.0.1,.svc');
    assert.equal(envEntry(objects, 'NODE_USE_ENV_PROXY')?.value, '1');
    const plain = await renderChart('lookout', 'trivy-system');
    assert.equal(envEntry(plain, 'HTTPS_PROXY'), undefined, 'no proxy variables unless asked');
    assert.equal(
      envEntry(plain, 'OPERATOR_TRIVY_SERVER_TOKEN')?.valueFrom?.secretKeyRef?.name,
      'lookout-trivy-lookout',
    );
  });

  it('renders a hardened Deployment with probes on the metrics port, a ClusterIP Service and no monitoring objects by default', async () => {
    const objects = await renderChart('lookout', 'trivy-system');
    const deployment = find(objects, 'Deployment') as unknown as V1Deployment;
    const pod = deployment.spec?.template.spec;
    assert.equal(pod?.securityContext?.runAsNonRoot, true);
    assert.equal(pod?.securityContext?.runAsUser, 65532);
    assert.equal(pod?.serviceAccountName, 'lookout-trivy-lookout');
    const c = operatorContainer(objects);
    assert.equal(c.image, 'ghcr.io/trivy-lookout/trivy-lookout:0.1.0');
    assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
    assert.equal(c.securityContext?.allowPrivilegeEscalation, false);
    assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL']);
    assert.equal(c.securityContext?.seccompProfile?.type, 'RuntimeDefault');
    assert.deepEqual(c.ports, [{ name: 'metrics', containerPort: 8080, protocol: 'TCP' }]);
    assert.deepEqual(c.livenessProbe?.httpGet, { path: '/healthz', port: 'metrics' });
    assert.deepEqual(c.readinessProbe?.httpGet, { path: '/readyz', port: 'metrics' });

    const service = find(objects, 'Service') as unknown as {
      spec: { type: string; clusterIP?: string; ports: { name: string; port: number }[] };
    };
    assert.equal(service.spec.type, 'ClusterIP');
    assert.equal(service.spec.clusterIP, undefined, 'not headless');
    assert.deepEqual(
      service.spec.ports.map((p) => [p.name, p.port]),
      [['metrics', 8080]],
    );
    const kinds = objects.map((o) => o.kind);
    assert.ok(!kinds.includes('ServiceMonitor'));
    assert.ok(!kinds.includes('PrometheusRule'));
    assert.ok(!kinds.includes('ConfigMap'));
  });

  it('renders the ServiceMonitor with its labels and scrape settings, the shipped rules and dashboards', async () => {
    const objects = await renderChart('lookout', 'trivy-system', [
      '--set',
      'serviceMonitor.enabled=true',
      '--set',
      'serviceMonitor.labels.release=kube-prometheus-stack',
      '--set',
      'serviceMonitor.interval=60s',
      '--set',
      'serviceMonitor.scrapeTimeout=30s',
      '--set',
      'prometheusRule.enabled=true',
      '--set',
      'grafanaDashboards.enabled=true',
    ]);
    const monitor = find(objects, 'ServiceMonitor') as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { endpoints: Record<string, unknown>[]; selector: { matchLabels: Record<string, string> } };
    };
    assert.equal(monitor.metadata.labels.release, 'kube-prometheus-stack');
    assert.deepEqual(monitor.spec.endpoints[0], {
      port: 'metrics',
      path: '/metrics',
      scheme: 'http',
      honorLabels: true,
      interval: '60s',
      scrapeTimeout: '30s',
    });
    const service = find(objects, 'Service');
    for (const [key, value] of Object.entries(monitor.spec.selector.matchLabels)) {
      assert.equal(service.metadata.labels?.[key], value, `the Service carries ${key}`);
    }
    // files/prometheus-rules ships the alert pack: one PrometheusRule per rule file.
    assert.deepEqual(
      objects.filter((o) => o.kind === 'PrometheusRule').map((o) => o.metadata.name),
      ['lookout-trivy-lookout-trivy-lookout'],
    );
    // files/grafana-dashboards: one ConfigMap per dashboard.
    assert.equal(dashboardConfigMaps(objects).length, shippedDashboards().length);
  });

  it('renders one ConfigMap per shipped dashboard as the Grafana sidecar expects it, with label, folder and namespace from the values', async () => {
    const objects = await renderChart('lookout', 'trivy-system', ['--set', 'grafanaDashboards.enabled=true']);
    const maps = dashboardConfigMaps(objects);
    const files = shippedDashboards();
    assert.deepEqual(
      maps.map((m) => m.metadata.name),
      files.map(
        (f) => `lookout-trivy-lookout-dashboard-${f.replace(/^trivy-lookout-/, '').replace(/\.json$/, '')}`,
      ),
    );
    for (const [i, m] of maps.entries()) {
      const file = files[i] ?? '';
      assert.equal(m.metadata.namespace, 'trivy-system');
      // kube-prometheus-stack's sidecar selects grafana_dashboard: "1" (in every namespace by default).
      assert.equal(m.metadata.labels.grafana_dashboard, '1');
      assert.equal(m.metadata.labels['app.kubernetes.io/instance'], 'lookout');
      // Read by the sidecar when folderAnnotation: grafana_folder is set; harmless otherwise.
      assert.deepEqual(m.metadata.annotations, { grafana_folder: 'Trivy Lookout' });
      // The key is the file the sidecar writes (unique, .json for Grafana's file provider); the JSON is unchanged.
      assert.deepEqual(Object.keys(m.data), [file]);
      assert.deepEqual(
        JSON.parse(m.data[file] ?? ''),
        JSON.parse(readFileSync(path.join(repoRoot, 'grafana-dashboards', file), 'utf8')),
      );
    }

    const custom = dashboardConfigMaps(
      await renderChart('lookout', 'trivy-system', [
        '--set',
        'grafanaDashboards.enabled=true',
        '--set',
        'grafanaDashboards.namespace=monitoring',
        '--set',
        'grafanaDashboards.labels.grafana_dashboard=null',
        '--set',
        'grafanaDashboards.labels.dashboards=security',
        '--set',
        'grafanaDashboards.folder=Security',
        '--set',
        'grafanaDashboards.folderAnnotation=k8s-sidecar-target-directory',
        '--set',
        'grafanaDashboards.annotations.team=platform',
      ]),
    );
    assert.equal(custom.length, files.length);
    for (const m of custom) {
      assert.equal(m.metadata.namespace, 'monitoring');
      assert.equal(m.metadata.labels.dashboards, 'security');
      assert.equal(m.metadata.labels.grafana_dashboard, undefined);
      assert.deepEqual(m.metadata.annotations, {
        'k8s-sidecar-target-directory': 'Security',
        team: 'platform',
      });
    }
    const noFolder = dashboardConfigMaps(
      await renderChart('lookout', 'trivy-system', [
        '--set',
        'grafanaDashboards.enabled=true',
        '--set',
        'grafanaDashboards.folder=',
      ]),
    );
    assert.equal(noFolder[0]?.metadata.annotations, undefined);
  });

  it('renders each rule file as a PrometheusRule', async () => {
    const copy = path.join(tmp, 'chart-with-pack');
    cpSync(chartDir, copy, { recursive: true });
    writeFileSync(
      path.join(copy, 'files', 'prometheus-rules', 'trivy-lookout.yaml'),
      'groups:\n  - name: trivy\n    rules:\n      - alert: Critical\n        expr: trivy_image_vulnerabilities > 0\n' +
        '        annotations: {summary: "{{ $labels.namespace }}"}\n',
    );
    const objects = parseManifests(
      await helmOk([
        'template',
        'lookout',
        copy,
        '--set',
        'prometheusRule.enabled=true',
        '--set',
        'prometheusRule.labels.release=kube-prometheus-stack',
      ]),
    );
    const rule = find(objects, 'PrometheusRule', '-trivy-lookout') as unknown as {
      metadata: { labels: Record<string, string> };
      spec: { groups: { rules: { annotations: Record<string, string> }[] }[] };
    };
    assert.equal(rule.metadata.labels.release, 'kube-prometheus-stack');
    // Prometheus templates are passed through, not evaluated by helm.
    assert.equal(rule.spec.groups[0]?.rules[0]?.annotations.summary, '{{ $labels.namespace }}');
  });

  it('takes a Trivy-Operator values file for an air-gapped cluster, unknown keys included', async () => {
    const objects = await renderChart('lookout', 'trivy-system', ['-f', airGappedValuesFile()]);
    const env = renderedOperatorEnv(objects);
    assert.equal(env.OPERATOR_TRIVY_REPOSITORY, 'registry.internal:5000/aquasec/trivy');
    assert.equal(env.OPERATOR_TRIVY_TAG, '0.70.0');
    assert.equal(env.OPERATOR_TRIVY_DB_REPOSITORY, 'registry.internal:5000/aquasec/trivy-db');
    assert.equal(env.OPERATOR_TRIVY_JAVA_DB_REPOSITORY, 'registry.internal:5000/aquasec/trivy-java-db');
    assert.equal(env.OPERATOR_TRIVY_DB_REPOSITORY_INSECURE, 'true');
    assert.equal(env.OPERATOR_TARGET_NAMESPACES, 'shop,team-*');
    assert.equal(env.OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT, '3');
    assert.equal(env.OPERATOR_SCAN_JOB_TIMEOUT, '10m');

    const config = loadConfig({ ...env, OPERATOR_NAMESPACE: 'trivy-system' });
    assert.deepEqual(config.trivy.insecureRegistries, ['registry.internal:5000']);
    assert.deepEqual(config.trivy.nonSslRegistries, ['plain.internal:8080']);
    assert.deepEqual(config.trivy.registry.mirror, { 'docker.io': 'registry.internal:5000' });
    assert.deepEqual(config.trivy.severity, ['HIGH', 'CRITICAL']);
    assert.equal(config.trivy.ignoreUnfixed, true);
    assert.equal(config.trivy.mode, 'ClientServer');
    assert.equal(config.trivy.serverURL, 'http://trivy.trivy-system:4954');
    assert.equal(config.trivy.serverToken, 'token-1');
    assert.deepEqual(config.trivy.serverCustomHeaders, { 'X-Team': 'sec' });
    assert.equal(config.trivy.resources.requests.cpu, '50m');
    assert.equal(config.trivy.resources.limits.memory, '1Gi');
    assert.deepEqual(config.targetNamespaces, ['shop', 'team-*']);
    assert.deepEqual(config.excludeNamespaces, ['kube-system']);
    assert.equal(config.operator.scanJobsConcurrentLimit, 3);
    assert.equal(config.operator.metricsVulnIdEnabled, true);
    assert.deepEqual(config.operator.privateRegistryScanSecretsNames, { shop: ['regcred'] });
    assert.equal(config.trivy.ignoreFile, 'CVE-2023-0001\nCVE-2023-0002');
  });

  it('renders trivyOperator.policiesConfig as the policies ConfigMap the operator watches, readable through its Role', async () => {
    const objects = await renderChart('lookout', 'trivy-system', ['-f', airGappedValuesFile()]);
    const env = renderedOperatorEnv(objects);
    const configMaps = objects.filter((o) => o.kind === 'ConfigMap');
    assert.equal(configMaps.length, 1);
    const configMap = configMaps[0] as unknown as {
      metadata: { name: string; namespace: string };
      data: Record<string, string>;
    };
    // The name and namespace the operator watches: its setting as rendered, in its own namespace.
    assert.equal(configMap.metadata.name, 'trivy-operator-policies-config');
    assert.equal(configMap.metadata.name, env.OPERATOR_POLICIES_CONFIG_MAP_NAME);
    assert.equal(configMap.metadata.namespace, 'trivy-system');
    assert.deepEqual(Object.keys(configMap.data).sort(), [
      'library.util.rego',
      'policy.team_label.kinds',
      'policy.team_label.rego',
    ]);
    assert.equal(configMap.data['policy.team_label.kinds'], 'Workload,Service');
    assert.equal(configMap.data['library.util.rego'], 'package trivyoperator.lib.util\n');
    // The operator reads it as one policy and one library, nothing rejected.
    const set = parsePolicyConfigMap(configMap.data);
    assert.deepEqual(set.problems, []);
    assert.deepEqual(set.policies[0]?.kinds, ['Workload', 'Service']);
    assert.match(set.policies[0]?.rego ?? '', /^package trivyoperator\.team_label\n/);
    assert.equal(set.libraries.length, 1);
    // The operator's Role, in the same namespace, lets it list and watch ConfigMaps (by name).
    const role = find(objects, 'Role');
    assert.equal(role.metadata.namespace, configMap.metadata.namespace);
    assert.ok(
      (role.rules as V1PolicyRule[]).some(
        (r) =>
          r.apiGroups?.includes('') &&
          r.resources?.includes('configmaps') &&
          ['list', 'watch'].every((verb) => r.verbs.includes(verb)) &&
          (r.resourceNames ?? []).length === 0,
      ),
      'configmaps list/watch in the release namespace',
    );

    // A map works too, and the ConfigMap follows operator.policiesConfigMapName.
    const renamed = await renderChart('lookout', 'trivy-system', [
      '--set',
      'operator.policiesConfigMapName=team-policies',
      '--set-json',
      'trivyOperator.policiesConfig={"policy.a.kinds":"*","policy.a.rego":"package trivyoperator.a"}',
    ]);
    const renamedMap = find(renamed, 'ConfigMap') as unknown as { data: Record<string, string> };
    assert.equal(find(renamed, 'ConfigMap').metadata.name, 'team-policies');
    assert.equal(renderedOperatorEnv(renamed).OPERATOR_POLICIES_CONFIG_MAP_NAME, 'team-policies');
    assert.deepEqual(renamedMap.data, { 'policy.a.kinds': '*', 'policy.a.rego': 'package trivyoperator.a' });

    // Trivy-Operator's switch turns it off, as in that chart; bad data stops the install.
    const off = await renderChart('lookout', 'trivy-system', [
      '-f',
      airGappedValuesFile(),
      '--set',
      'trivy.externalRegoPoliciesEnabled=false',
    ]);
    assert.ok(!off.some((o) => o.kind === 'ConfigMap'));
    const notYaml = await helm([
      'template',
      'x',
      chartDir,
      '--set',
      'trivyOperator.policiesConfig=just text',
    ]);
    assert.notEqual(notYaml.code, 0);
    assert.match(notYaml.stderr, /trivyOperator\.policiesConfig: not YAML of ConfigMap data/);
    const badKey = await helm([
      'template',
      'x',
      chartDir,
      '--set-json',
      'trivyOperator.policiesConfig={"policy a.rego":"package trivyoperator.a"}',
    ]);
    assert.notEqual(badKey.code, 0);
    assert.match(badKey.stderr, /trivyOperator\.policiesConfig: "policy a\.rego" is not a ConfigMap key/);
  });

  it("takes Trivy-Operator's nodeCollector values: image keys ignored, pull secret and scheduling honoured", async () => {
    const objects = await renderChart('lookout', 'trivy-system', ['-f', airGappedValuesFile()]);
    const env = renderedOperatorEnv(objects);
    // The collector runs in the operator image whatever nodeCollector.registry/repository/tag say.
    assert.equal(env.OPERATOR_NODE_COLLECTOR_IMAGE_REF, 'ghcr.io/trivy-lookout/trivy-lookout:0.1.0');
    assert.doesNotMatch(JSON.stringify(objects), /aquasecurity\/node-collector/);
    const config = loadConfig({ ...env, OPERATOR_NAMESPACE: 'trivy-system' });
    assert.deepEqual(config.nodeCollector.imagePullSecrets, ['collector-pull']);
    assert.deepEqual(config.nodeCollector.excludeNodes, []);
    assert.deepEqual(config.nodeCollector.tolerations, [
      { key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' },
    ]);
    assert.deepEqual(config.nodeCollector.volumes, [
      { name: 'etc-cni-netd', hostPath: { path: '/etc/cni/net.d/' } },
    ]);

    // Without nodeCollector.imagePullSecret the collector, in the operator image, uses its pull secrets.
    const inherited = await renderChart('lookout', 'trivy-system', [
      '--set',
      'image.pullSecrets[0].name=regcred',
    ]);
    assert.equal(renderedOperatorEnv(inherited).OPERATOR_NODE_COLLECTOR_IMAGE_PULL_SECRET, '["regcred"]');
    const ownImage = await renderChart('lookout', 'trivy-system', [
      '--set',
      'image.pullSecrets[0].name=regcred',
      '--set',
      'nodeCollector.imageRef=registry.example.com/lookout:1',
    ]);
    assert.equal(renderedOperatorEnv(ownImage).OPERATOR_NODE_COLLECTOR_IMAGE_PULL_SECRET, '[]');
    // useNodeSelector and the image keys have no effect: NOTES lists them (trivy-operator-values.test.ts).
  });

  it('rejects bad values with a message naming the value', async () => {
    const badMode = await helm(['template', 'x', chartDir, '--set', 'trivy.mode=Server']);
    assert.notEqual(badMode.code, 0);
    assert.match(badMode.stderr, /\/trivy\/mode.*Standalone.*ClientServer/);
    const badLimit = await helm(['template', 'x', chartDir, '--set', 'operator.scanJobsConcurrentLimit=0']);
    assert.notEqual(badLimit.code, 0);
    assert.match(badLimit.stderr, /\/operator\/scanJobsConcurrentLimit/);
    const badTimeout = await helm(['template', 'x', chartDir, '--set', 'operator.scanJobTimeout=five']);
    assert.notEqual(badTimeout.code, 0);
    assert.match(badTimeout.stderr, /\/operator\/scanJobTimeout/);
    const badSeverity = await helm(['template', 'x', chartDir, '--set', 'trivy.severity=HIGH\\,SEVERE']);
    assert.notEqual(badSeverity.code, 0);
    assert.match(badSeverity.stderr, /\/trivy\/severity/);

    // The schema is generated from the operator's parsers: what the operator takes, Helm takes.
    for (const good of [
      ['--set', 'trivy.severity=high\\,critical'],
      ['--set', 'trivy.mode=clientserver'],
      ['--set-json', 'trivy.severity=["HIGH","CRITICAL"]'],
      ['--set', 'operator.scanJobTimeout=1h30m'],
      ['--set-string', 'operator.scanJobsConcurrentLimit=5'],
      ['--set', 'operator.leaderElectionEnabled=t'],
      ['--set-json', 'trivy.nonSslRegistries={"a":"registry.local:5000"}'],
    ]) {
      const result = await helm(['template', 'x', chartDir, ...good]);
      assert.equal(result.code, 0, `${good.join(' ')}: ${result.stderr}`);
    }
  });

  it('grants exactly the API calls the operator makes', async () => {
    const objects = await renderChart('lookout', 'trivy-system');
    const rules = (kind: string, name: string) =>
      ((objects.find((o) => o.kind === kind && o.metadata.name === name)?.rules ?? []) as V1PolicyRule[]).map(
        (r) => [r.apiGroups, r.resources, r.verbs, r.resourceNames ?? []],
      );
    const allReports = [
      'vulnerabilityreports',
      'clustervulnerabilityreports',
      'exposedsecretreports',
      'configauditreports',
      'clusterconfigauditreports',
      'rbacassessmentreports',
      'clusterrbacassessmentreports',
      'infraassessmentreports',
      'clusterinfraassessmentreports',
      'clustercompliancereports',
      'sbomreports',
      'clustersbomreports',
    ];
    assert.deepEqual(rules('ClusterRole', 'lookout-trivy-lookout'), [
      [[''], ['namespaces'], ['list', 'watch'], []],
      [[''], ['pods'], ['list', 'watch'], []],
      [['batch'], ['cronjobs'], ['list', 'watch'], []],
      [['batch'], ['jobs'], ['get'], []],
      [[''], ['secrets', 'serviceaccounts'], ['get'], []],
      [[''], ['events'], ['create', 'patch'], []],
      [
        ['aquasecurity.github.io'],
        ['vulnerabilityreports', 'exposedsecretreports', 'sbomreports'],
        ['get', 'list', 'watch', 'create', 'patch', 'delete'],
        [],
      ],
      [['aquasecurity.github.io'], allReports, ['list', 'watch'], []],
      // First-seen stamps (merge patch), and /affected checking its callers.
      [['aquasecurity.github.io'], ['vulnerabilityreports'], ['patch'], []],
      [['authentication.k8s.io'], ['tokenreviews'], ['create'], []],
      [['authorization.k8s.io'], ['subjectaccessreviews'], ['create'], []],
      // Infra assessment: nodes watched, infra reports written by server-side apply.
      [[''], ['nodes'], ['list', 'watch'], []],
      [
        ['aquasecurity.github.io'],
        ['infraassessmentreports', 'clusterinfraassessmentreports'],
        ['create', 'patch', 'delete'],
        [],
      ],
      [['aquasecurity.github.io'], ['clustercompliancereports'], ['get', 'patch'], []],
      [['aquasecurity.github.io'], ['clustercompliancereports/status'], ['patch'], []],
      // Config audit and RBAC assessment: each audited kind (trivy.supportedConfigAuditKinds, Trivy-Operator's
      // default list) is read.
      ...[
        ['', 'pods'],
        ['apps', 'replicasets'],
        ['', 'replicationcontrollers'],
        ['apps', 'statefulsets'],
        ['apps', 'daemonsets'],
        ['batch', 'cronjobs'],
        ['batch', 'jobs'],
        ['', 'services'],
        ['rbac.authorization.k8s.io', 'roles'],
        ['rbac.authorization.k8s.io', 'clusterroles'],
        ['networking.k8s.io', 'networkpolicies'],
        ['networking.k8s.io', 'ingresses'],
        ['', 'limitranges'],
        ['', 'resourcequotas'],
        ['', 'persistentvolumes'],
        ['', 'persistentvolumeclaims'],
      ].map(([group, resource]) => [[group], [resource], ['get', 'list', 'watch'], []]),
      [
        ['aquasecurity.github.io'],
        [
          'configauditreports',
          'clusterconfigauditreports',
          'rbacassessmentreports',
          'clusterrbacassessmentreports',
        ],
        ['get', 'create', 'patch', 'delete'],
        [],
      ],
    ]);
    assert.deepEqual(rules('Role', 'lookout-trivy-lookout'), [
      [['batch'], ['jobs'], ['list', 'watch', 'create', 'delete'], []],
      [[''], ['secrets'], ['create', 'update', 'patch'], []],
      [[''], ['pods/log'], ['get'], []],
      [[''], ['configmaps'], ['list', 'watch'], []],
      // First-seen tracking's baseline marker.
      [[''], ['configmaps'], ['create'], []],
      [[''], ['configmaps'], ['get'], ['trivy-lookout-first-seen']],
      [['coordination.k8s.io'], ['leases'], ['create'], []],
      [['coordination.k8s.io'], ['leases'], ['get', 'update'], ['trivy-lookout-lock']],
    ]);
    const role = find(objects, 'Role');
    assert.equal(role.metadata.namespace, 'trivy-system');

    // Report roles for people: view reads, edit/admin also write.
    const view = find(objects, 'ClusterRole', '-reports-view');
    assert.equal(view.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-view'], 'true');
    assert.deepEqual((view.rules as V1PolicyRule[])[0]?.verbs, ['get', 'list', 'watch']);
    const edit = find(objects, 'ClusterRole', '-reports-edit');
    assert.equal(edit.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-edit'], 'true');
    assert.equal(edit.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-admin'], 'true');
    assert.equal(edit.metadata.labels?.['rbac.authorization.k8s.io/aggregate-to-view'], undefined);

    // Without global secret access: no cluster-wide secrets, only the configured ones by name.
    const scoped = await renderChart('lookout', 'trivy-system', [
      '--set',
      'operator.accessGlobalSecretsAndServiceAccount=false',
      '--set-json',
      'operator.privateRegistryScanSecretsNames={"shop":"regcred,other"}',
      '--set',
      'operator.leaderElectionEnabled=false',
    ]);
    const clusterRole = JSON.stringify(
      scoped.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'lookout-trivy-lookout'),
    );
    assert.doesNotMatch(clusterRole, /secrets"|serviceaccounts/);
    assert.doesNotMatch(JSON.stringify(scoped), /leases/);
    const shopRole = scoped.find((o) => o.kind === 'Role' && o.metadata.namespace === 'shop');
    assert.deepEqual(shopRole?.rules, [
      { apiGroups: [''], resources: ['secrets'], resourceNames: ['regcred', 'other'], verbs: ['get'] },
    ]);

    // The ClusterSbomReport cache (operator.clusterSbomCacheEnabled): written as a whole, never deleted.
    const cache = await renderChart('lookout', 'trivy-system', [
      '--set',
      'operator.clusterSbomCacheEnabled=true',
    ]);
    const cacheRules = (
      (cache.find((o) => o.kind === 'ClusterRole' && o.metadata.name === 'lookout-trivy-lookout')?.rules ??
        []) as V1PolicyRule[]
    ).filter((r) => r.resources?.includes('clustersbomreports') && r.verbs.includes('create'));
    assert.deepEqual(
      cacheRules.map((r) => [r.resources, r.verbs]),
      [[['clustersbomreports'], ['get', 'create', 'patch']]],
    );

    // One image scanner alone: only its report kind is written.
    const secretsOnly = await renderChart('lookout', 'trivy-system', [
      '--set',
      'operator.vulnerabilityScannerEnabled=false',
      '--set',
      'operator.sbomGenerationEnabled=false',
    ]);
    const written = (secretsOnly.find(
      (o) => o.kind === 'ClusterRole' && o.metadata.name === 'lookout-trivy-lookout',
    )?.rules ?? []) as V1PolicyRule[];
    assert.deepEqual(
      written
        .filter((r) => r.verbs.includes('create') && r.apiGroups?.includes('aquasecurity.github.io'))
        .map((r) => r.resources)[0],
      ['exposedsecretreports'],
    );
  });

  it('grants only reads with every scanner and first-seen tracking off: a pure exporter (and its leader-election Lease)', async () => {
    const off = [
      'vulnerabilityScannerEnabled',
      'exposedSecretScannerEnabled',
      'sbomGenerationEnabled',
      'configAuditScannerEnabled',
      'rbacAssessmentScannerEnabled',
      'infraAssessmentScannerEnabled',
      'clusterComplianceEnabled',
      'newFindingsEnabled',
    ].flatMap((key) => ['--set', `operator.${key}=false`]);
    const objects = await renderChart('lookout', 'trivy-system', off);
    const rules = (kind: string) =>
      (
        (objects.find((o) => o.kind === kind && o.metadata.name === 'lookout-trivy-lookout')?.rules ??
          []) as V1PolicyRule[]
      ).map((r) => [r.apiGroups, r.resources, r.verbs, r.resourceNames ?? []]);
    assert.deepEqual(rules('ClusterRole'), [
      [[''], ['namespaces'], ['list', 'watch'], []],
      [
        ['aquasecurity.github.io'],
        [
          'vulnerabilityreports',
          'clustervulnerabilityreports',
          'exposedsecretreports',
          'configauditreports',
          'clusterconfigauditreports',
          'rbacassessmentreports',
          'clusterrbacassessmentreports',
          'infraassessmentreports',
          'clusterinfraassessmentreports',
          'clustercompliancereports',
          'sbomreports',
          'clustersbomreports',
        ],
        ['list', 'watch'],
        [],
      ],
    ]);
    // Only the Lease of leader election is written; without it, the Role grants nothing.
    assert.deepEqual(rules('Role'), [
      [['coordination.k8s.io'], ['leases'], ['create'], []],
      [['coordination.k8s.io'], ['leases'], ['get', 'update'], ['trivy-lookout-lock']],
    ]);
    const noLease = await renderChart('lookout', 'trivy-system', [
      ...off,
      '--set',
      'operator.leaderElectionEnabled=false',
      '--set-json',
      'operator.privateRegistryScanSecretsNames={"shop":"regcred"}',
      '--set',
      'operator.accessGlobalSecretsAndServiceAccount=false',
    ]);
    const verbs = noLease
      .filter((o) => o.kind === 'ClusterRole' || o.kind === 'Role')
      .filter((o) => !o.metadata.name.includes('-reports-'))
      .flatMap((o) => ((o.rules ?? []) as V1PolicyRule[]).flatMap((r) => r.verbs));
    assert.deepEqual([...new Set(verbs)].sort(), ['list', 'watch']);
  });
});

function airGappedValuesFile(): string {
  const file = path.join(tmp, 'air-gapped-values.yaml');
  writeFileSync(
    file,
    [
      '# Written as for Trivy-Operator, keys it has that trivy-lookout does not included.',
      'targetNamespaces: "shop,team-*"',
      'excludeNamespaces: "kube-system"',
      'operator:',
      '  scanJobTimeout: 10m',
      '  scanJobsConcurrentLimit: 3',
      '  metricsVulnIdEnabled: true',
      '  privateRegistryScanSecretsNames: {shop: regcred}',
      '  builtInTrivyServer: false',
      'trivy:',
      '  repository: registry.internal:5000/aquasec/trivy',
      '  tag: 0.70.0',
      '  mode: ClientServer',
      '  serverURL: http://trivy.trivy-system:4954',
      '  serverToken: token-1',
      '  serverCustomHeaders: "X-Team:sec"',
      '  dbRepository: registry.internal:5000/aquasec/trivy-db',
      '  javaDbRepository: registry.internal:5000/aquasec/trivy-java-db',
      '  dbRepositoryInsecure: true',
      '  insecureRegistries:',
      '    internal: registry.internal:5000',
      '  nonSslRegistries:',
      '    plain: plain.internal:8080',
      '  registry:',
      '    mirror:',
      '      docker.io: registry.internal:5000',
      '  severity: HIGH,CRITICAL',
      '  ignoreUnfixed: true',
      '  externalRegoPoliciesEnabled: true',
      '  ignoreFile:',
      '    - CVE-2023-0001',
      '    - CVE-2023-0002',
      '  storageClassEnabled: true',
      '  resources:',
      '    requests: {cpu: 50m, memory: 100M}',
      '    limits: {cpu: 1, memory: 1Gi}',
      'nodeCollector:',
      '  useNodeSelector: false',
      '  registry: ghcr.io',
      '  repository: aquasecurity/node-collector',
      '  tag: 0.3.1',
      '  imagePullSecret: collector-pull',
      '  excludeNodes:',
      '  tolerations:',
      '    - {key: dedicated, operator: Exists, effect: NoSchedule}',
      '  volumes:',
      '    - name: etc-cni-netd',
      '      hostPath:',
      '        path: /etc/cni/net.d/',
      '  volumeMounts:',
      '    - name: etc-cni-netd',
      '      mountPath: /etc/cni/net.d/',
      '      readOnly: true',
      'trivyOperator:',
      '  policiesConfig: |',
      '    policy.team_label.kinds: Workload,Service',
      '    policy.team_label.rego: |',
      '      package trivyoperator.team_label',
      '      deny[res] { not input.metadata.labels.team; res := {"msg": "no team label"} }',
      '    library.util.rego: |',
      '      package trivyoperator.lib.util',
      'compliance:',
      '  cron: "0 */6 * * *"',
      '',
    ].join('\n'),
  );
  return file;
}

/** The operator's log lines about a refused (HTTP 403, forbidden) API request. */
function refused(operator: OperatorProcess | undefined): string[] {
  if (!operator) return [];
  // Kubernetes says "is forbidden" in every 403; a bare 403 would also match durations in ms.
  return (operator.stdout() + operator.stderr()).split('\n').filter((line) => /forbidden/i.test(line));
}

describe('the Helm chart on the real control plane', () => {
  let cluster: TestCluster;
  let scans: RealScans;
  let dbRepository: string;
  let core: CoreV1Api;
  let apps: AppsV1Api;

  before(async () => {
    cluster = await useTestCluster({ node: true });
    scans = await useRealScans(cluster);
    dbRepository = scans.dbRepositoryFor('chart');
    await scans.publishDb('v1', dbRepository);
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
  });

  after(async () => {
    await cluster?.release();
  });

  /** A workload on the real node, pulling with the namespace's `regcred`. */
  const deployment = (name: string, namespace: string, image: string): V1Deployment => ({
    metadata: { name, namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: {
          ...scans.placement,
          terminationGracePeriodSeconds: 2,
          imagePullSecrets: [{ name: 'regcred' }],
          containers: [{ name: 'main', image }],
        },
      },
    },
  });

  it("runs the operator with only the chart's RBAC: a report is written and no request is forbidden", async () => {
    // In: the chart's ServiceAccount and RBAC applied to the cluster, the operator (a local process)
    // holding that ServiceAccount's token, three workloads on the real node: a public image, a
    // private one pulled with a Secret, one whose manifest is gone from the registry. Out: real scan
    // Jobs on the real node, the reports of the first two with exactly the image's findings, a
    // ScanFailed Event for the third, config audit and RBAC assessment reports, no forbidden request.
    const releaseNs = await cluster.createNamespace('lookout-rbac');
    const appsNs = await cluster.createNamespace('rbac-apps');
    const release = `rbac-${process.pid}`;
    const rendered = await helmOk([
      'template',
      release,
      chartDir,
      '--namespace',
      releaseNs,
      '--show-only',
      'templates/serviceaccount.yaml',
      '--show-only',
      'templates/rbac.yaml',
    ]);
    const manifest = path.join(tmp, `${release}.yaml`);
    writeFileSync(manifest, rendered);
    await kubectl(cluster.kubeconfigPath, ['apply', '-f', manifest]);
    // A ClusterRole of this test's own: earlier files leave RBAC reports of other roles behind.
    const probeRole = `${release}-probe`;
    const rbacApi = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
    await rbacApi.createClusterRole({
      body: {
        metadata: { name: probeRole },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }],
      },
    });
    // Where each scan pod ran (the scan Jobs are deleted once their result is filed).
    const scanPodNodes = new Map<string, string>();
    const podWatch = new ResourceWatcher<V1Pod>(
      cluster.kubeConfig(),
      {
        path: `/api/v1/namespaces/${releaseNs}/pods`,
        labelSelector: `${ScanLabel.component}=${SCAN_JOB_COMPONENT}`,
        log: createLogger('silent'),
      },
      {
        onEvent: (_type, pod) => {
          if (pod.metadata?.uid && pod.spec?.nodeName) scanPodNodes.set(pod.metadata.uid, pod.spec.nodeName);
        },
      },
    );
    podWatch.start();
    try {
      await podWatch.waitForSync();
      const sa = `${release}-trivy-lookout`;
      const token = await core.createNamespacedServiceAccountToken({
        name: sa,
        namespace: releaseNs,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      });
      const caData = cluster.kubeConfig().getCurrentCluster()?.caData ?? '';
      const saKubeconfig = path.join(tmp, `${release}.kubeconfig`);
      writeFileSync(
        saKubeconfig,
        kubeconfigYaml(cluster.server, Buffer.from(caData, 'base64').toString(), token.status?.token ?? ''),
        { mode: 0o600 },
      );
      // The token really is the ServiceAccount's, and it is limited.
      const canI = async (...args: string[]) =>
        (await kubectl(saKubeconfig, ['auth', 'can-i', ...args]).catch(() => 'no\n')).trim();
      assert.equal(await canI('list', 'pods', '--all-namespaces'), 'yes');
      assert.equal(await canI('create', 'jobs.batch', '-n', appsNs), 'no');
      assert.equal(await canI('list', 'secrets', '-n', appsNs), 'no');
      assert.equal(await canI('delete', 'pods', '-n', releaseNs), 'no');

      // Images with digests of their own, so each is scanned here rather than taken from a report
      // another test file left in the shared cluster.
      const web = await scans.publishImage('os', 'http', `chart-${process.pid}/web`);
      const privateImage = await scans.publishImage('os', 'auth', `chart-${process.pid}/private`);
      const gone = await scans.publishImage('os', 'http', `chart-${process.pid}/gone`);
      await core.createNamespacedSecret({
        namespace: appsNs,
        body: pullSecret('regcred', scans.registries.auth),
      });
      // The node pulls `gone` in a namespace the operator does not watch; then its manifest is
      // deleted from the registry, and the workload runs it from the node's cache (IfNotPresent):
      // its scan is refused by the real registry.
      await warmNodeCache(cluster, scans, gone);
      const http = scans.registries.http;
      assert.equal(
        await deleteManifest({ host: http.host, url: http.url }, gone.ref.slice(http.host.length + 1)),
        gone.digest,
      );

      await apps.createNamespacedDeployment({ namespace: appsNs, body: deployment('web', appsNs, web.ref) });
      await apps.createNamespacedDeployment({
        namespace: appsNs,
        body: deployment('private', appsNs, privateImage.ref),
      });
      await apps.createNamespacedDeployment({
        namespace: appsNs,
        body: deployment('gone', appsNs, gone.ref),
      });

      let operator: OperatorProcess | undefined;
      try {
        operator = await startOperator(saKubeconfig, {
          OPERATOR_NAMESPACE: releaseNs,
          OPERATOR_TARGET_NAMESPACES: appsNs,
          OPERATOR_LEADER_ELECTION_ENABLED: 'true',
          OPERATOR_LEADER_ELECTION_ID: 'trivy-lookout-lock',
          OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
          // The deadline runs while the scan pod waits for room on the shared node: no retry for that.
          OPERATOR_SCAN_JOB_TIMEOUT: '600s',
          OPERATOR_LOG_LEVEL: 'debug',
          // The config audit and RBAC assessment run under the same ServiceAccount.
          OPERATOR_CONFIG_AUDIT_TRIVY_BINARY: toolPath('trivy'),
          ...scans.operatorEnv(dbRepository),
        });
        await operator.waitForReady(60_000);
        const objects = cluster.kubeConfig().makeApiClient(CustomObjectsApi);
        const vulnReports = async () =>
          (
            (await objects.listNamespacedCustomObject({
              group: 'aquasecurity.github.io',
              version: 'v1alpha1',
              namespace: appsNs,
              plural: 'vulnerabilityreports',
            })) as { items: VulnerabilityReport[] }
          ).items;
        const reportOf = (app: string) =>
          waitUntil(
            `the VulnerabilityReport of ${app}`,
            async () =>
              (await vulnReports()).find(
                (r) => r.metadata.labels['trivy-operator.resource.name']?.startsWith(`${app}-`) ?? false,
              ),
            240_000,
            1_000,
          );
        const expected = expectedFindings.os.v1.vulnerabilities.map((v) => v.id).sort();
        const vulnIds = (r: VulnerabilityReport) =>
          (r.report.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort();
        const webReport = await reportOf('web');
        assert.equal(webReport.metadata.labels['trivy-operator.container.name'], 'main');
        assert.deepEqual(vulnIds(webReport), expected, 'exactly the findings of the os image');
        assert.equal(webReport.report.artifact.digest, web.digest);
        // Scanned with the credentials of the workload's pull secret, read with the chart's RBAC.
        const privateReport = await reportOf('private');
        assert.deepEqual(vulnIds(privateReport), expected);
        assert.equal(privateReport.report.registry.server, scans.registries.auth.host);
        // The SbomReport of the same scan (operator.sbomGenerationEnabled, on by default).
        await waitUntil(
          'the SbomReport of web',
          async () =>
            (
              (await objects.listNamespacedCustomObject({
                group: 'aquasecurity.github.io',
                version: 'v1alpha1',
                namespace: appsNs,
                plural: 'sbomreports',
              })) as { items: { metadata: { labels: Record<string, string> } }[] }
            ).items.find(
              (r) => r.metadata.labels['trivy-operator.resource.name']?.startsWith('web-') ?? false,
            ),
          60_000,
          1_000,
        );
        // A failed scan is recorded as an Event on the workload.
        await waitUntil(
          'a ScanFailed event for gone',
          async () =>
            (await core.listNamespacedEvent({ namespace: appsNs })).items.find(
              (e) =>
                e.reason === 'ScanFailed' &&
                e.involvedObject.name?.startsWith('gone-') &&
                /ImageNotFound/.test(e.message ?? ''),
            ),
          240_000,
          1_000,
        );
        await operator.waitForLog(
          (l) => l.msg === 'scan failed' && l.reason === 'ImageNotFound' && String(l.image).includes('/gone'),
          30_000,
        );
        assert.ok(scanPodNodes.size >= 3, `a scan pod per image: ${JSON.stringify([...scanPodNodes])}`);
        assert.deepEqual(
          new Set(scanPodNodes.values()),
          new Set([scans.node.name]),
          'scans ran on the real node',
        );
        // Config audit and RBAC assessment reports, written with the chart's permissions only.
        for (const [plural, namespace, labelSelector] of [
          ['configauditreports', appsNs, undefined],
          ['clusterrbacassessmentreports', undefined, `trivy-operator.resource.name=${probeRole}`],
        ] as const) {
          await waitUntil(
            `a ${plural} item`,
            async () => {
              const common = {
                group: 'aquasecurity.github.io',
                version: 'v1alpha1',
                plural,
                ...(labelSelector ? { labelSelector } : {}),
              };
              const list = (await (namespace
                ? objects.listNamespacedCustomObject({ ...common, namespace })
                : objects.listClusterCustomObject(common))) as { items: unknown[] };
              return list.items.length > 0 ? true : undefined;
            },
            120_000,
          );
        }
      } catch (err) {
        // A missing permission usually shows as a wait that never ends: say which request failed.
        throw new Error(`${String(err)}\nrefused requests:\n${refused(operator).join('\n')}`);
      } finally {
        await operator?.stop();
      }
      assert.deepEqual(refused(operator), [], 'no request was refused');
      const everything = [operator?.stdout(), operator?.stderr()].join('\n');
      assert.ok(
        !everything.includes(scans.registries.auth.credentials!.password),
        'the registry password is in no log line',
      );
    } finally {
      await podWatch.stop();
      await kubectl(cluster.kubeconfigPath, ['delete', '--ignore-not-found', '-f', manifest]).catch(() => '');
      await rbacApi.deleteClusterRole({ name: probeRole }).catch(() => {});
    }
  });

  it("runs a pure exporter with every scanner off on the chart's read-only RBAC: ready, metrics served, nothing refused", async () => {
    const releaseNs = await cluster.createNamespace('lookout-exporter');
    const release = `exporter-${process.pid}`;
    const off = [
      'vulnerabilityScannerEnabled',
      'exposedSecretScannerEnabled',
      'sbomGenerationEnabled',
      'configAuditScannerEnabled',
      'rbacAssessmentScannerEnabled',
      'infraAssessmentScannerEnabled',
      'clusterComplianceEnabled',
      // First-seen stamps are a write (an annotation on VulnerabilityReports).
      'newFindingsEnabled',
    ];
    const rendered = await helmOk([
      'template',
      release,
      chartDir,
      '--namespace',
      releaseNs,
      ...off.flatMap((key) => ['--set', `operator.${key}=false`]),
      '--show-only',
      'templates/serviceaccount.yaml',
      '--show-only',
      'templates/rbac.yaml',
    ]);
    const manifest = path.join(tmp, `${release}.yaml`);
    writeFileSync(manifest, rendered);
    await kubectl(cluster.kubeconfigPath, ['apply', '-f', manifest]);
    let operator: OperatorProcess | undefined;
    try {
      const token = await core.createNamespacedServiceAccountToken({
        name: `${release}-trivy-lookout`,
        namespace: releaseNs,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      });
      const caData = cluster.kubeConfig().getCurrentCluster()?.caData ?? '';
      const saKubeconfig = path.join(tmp, `${release}.kubeconfig`);
      writeFileSync(
        saKubeconfig,
        kubeconfigYaml(cluster.server, Buffer.from(caData, 'base64').toString(), token.status?.token ?? ''),
        { mode: 0o600 },
      );
      const canI = async (...args: string[]) =>
        (await kubectl(saKubeconfig, ['auth', 'can-i', ...args]).catch(() => 'no\n')).trim();
      assert.equal(
        await canI('list', 'vulnerabilityreports.aquasecurity.github.io', '--all-namespaces'),
        'yes',
      );
      for (const args of [
        ['list', 'pods', '--all-namespaces'],
        ['create', 'jobs.batch', '-n', releaseNs],
        ['create', 'vulnerabilityreports.aquasecurity.github.io', '-n', releaseNs],
        ['create', 'events', '-n', releaseNs],
        ['get', 'secrets', '-n', releaseNs],
      ])
        assert.equal(await canI(...args), 'no', args.join(' '));

      operator = await startOperator(saKubeconfig, {
        OPERATOR_NAMESPACE: releaseNs,
        OPERATOR_LEADER_ELECTION_ENABLED: 'true',
        OPERATOR_LEADER_ELECTION_ID: 'trivy-lookout-lock',
        ...Object.fromEntries(
          off.map((key) => [
            key === 'clusterComplianceEnabled'
              ? 'OPERATOR_CLUSTER_COMPLIANCE_ENABLED'
              : `OPERATOR_${key.replace(/([a-z])([A-Z])/g, '$1_$2').toUpperCase()}`,
            'false',
          ]),
        ),
      });
      await operator.waitForReady(60_000);
      await operator.waitForLog((l) => l.msg === 'caches synced; ready', 60_000);
      const metrics = await fetch(`${operator.baseUrl}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(await metrics.text(), /^# HELP trivy_image_vulnerabilities /m);
      assert.equal(
        operator.logs().some((l) => l.component === 'scanner'),
        false,
      );
    } finally {
      await operator?.stop();
      await kubectl(cluster.kubeconfigPath, ['delete', '--ignore-not-found', '-f', manifest]).catch(() => '');
    }
    assert.deepEqual(refused(operator), [], 'no request was refused');
  });
});
