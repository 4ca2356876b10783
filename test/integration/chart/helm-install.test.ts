/**
 * The chart as users install it: `helm install` of this checkout's chart on the real node, the
 * operator's own image (built here from the Dockerfile's layout, pulled from the local registry)
 * running in-cluster through the `kubernetes` Service, two replicas with one leader, real scan
 * Jobs with the real Trivy, a real Prometheus that finds the pods through the chart's
 * ServiceMonitor and evaluates the chart's PrometheusRules, then `helm upgrade` and `helm uninstall`.
 *
 * In: the chart with the README's kube-prometheus-stack values, `replicas: 2`, the operator image,
 * the Trivy image and test DB in the local registries, a workload with a planted AWS key and one with
 * only Debian advisories. Out: Ready pods under their own probes, running as 65532 on a read-only root
 * (observed in /proc, not read from the spec); reports with exactly the images' findings; config
 * audit reports from the Trivy inside the pod; both replicas scraped; TrivyExposedSecrets firing; an
 * upgrade that rolls the pods and whose setting shows in /metrics; no forbidden request in any log;
 * nothing of the release left after uninstall, the report CRDs kept.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AppsV1Api,
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1Pod,
} from '@kubernetes/client-node';
import yaml from 'js-yaml';
import {
  installChartOnNode,
  installPrometheusOperatorCrds,
  observeContainer,
  serviceMonitorScrapeConfigs,
  type InstalledChart,
} from '../../harness/chart-install.ts';
import { helmOk, parseManifests } from '../../harness/helm.ts';
import { expectedFindings } from '../../harness/images/index.ts';
import { kubectl } from '../../harness/kubectl.ts';
import { Prometheus } from '../../harness/prometheus.ts';
import { useRealScans, type RealScans } from '../../harness/real-scans.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { waitUntil } from '../../harness/waiting.ts';

const GROUP = 'aquasecurity.github.io';
const SCAN_TIMEOUT_MS = 240_000;

interface Report {
  metadata: { name: string; labels?: Record<string, string> };
  report: {
    vulnerabilities?: { vulnerabilityID: string }[];
    secrets?: { ruleID: string }[];
    checks?: { checkID: string; success: boolean }[];
  };
}

describe('helm install on the real node: the operator image in-cluster, as users run it', () => {
  let cluster: TestCluster;
  let scans: RealScans;
  let core: CoreV1Api;
  let apps: AppsV1Api;
  let custom: CustomObjectsApi;
  let chart: InstalledChart;
  let releaseNs: string;
  let appsNs: string;
  let work: string;
  let prometheus: Prometheus | undefined;
  /** Every operator pod's log, collected before its pod goes (rollout, uninstall). */
  const logs = new Map<string, string>();
  const release = `lookout-${process.pid}`;
  const workloadImages: Record<'os' | 'secret', string> = { os: '', secret: '' };

  const operatorPods = async (): Promise<V1Pod[]> =>
    (
      await core.listNamespacedPod({
        namespace: releaseNs,
        labelSelector: `app.kubernetes.io/instance=${release}`,
      })
    ).items.filter((p) => !p.metadata?.deletionTimestamp);

  const collectLogs = async () => {
    for (const pod of await operatorPods()) {
      const name = pod.metadata?.name ?? '';
      const text = await core.readNamespacedPodLog({ name, namespace: releaseNs }).catch(() => '');
      if (text) logs.set(name, text);
    }
  };

  const metricsOf = async (pod: V1Pod): Promise<string> => {
    const res = await fetch(`http://${pod.status?.podIP}:8080/metrics`);
    assert.equal(res.status, 200, `/metrics of ${pod.metadata?.name}`);
    return res.text();
  };

  const listReports = async (plural: string): Promise<Report[]> =>
    (
      (await custom.listNamespacedCustomObject({
        group: GROUP,
        version: 'v1alpha1',
        namespace: appsNs,
        plural,
      })) as {
        items: Report[];
      }
    ).items;

  before(async () => {
    cluster = await useTestCluster({ node: true });
    scans = await useRealScans(cluster);
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    apps = kc.makeApiClient(AppsV1Api);
    custom = kc.makeApiClient(CustomObjectsApi);
    work = mkdtempSync(path.join(os.tmpdir(), 'tl-helm-install-'));
    const dbRepository = scans.dbRepositoryFor('helm-install');
    await scans.publishDb('v1', dbRepository);
    await installPrometheusOperatorCrds(cluster.kubeconfigPath);
    releaseNs = await cluster.createNamespace('lookout-system');
    appsNs = await cluster.createNamespace('lookout-apps');
    // Images of their own: the operator reuses any report of a digest within its TTL.
    workloadImages.os = (await scans.publishImage('os', 'http', `helm-install-os-${process.pid}`)).ref;
    workloadImages.secret = (
      await scans.publishImage('secret', 'http', `helm-install-secret-${process.pid}`)
    ).ref;
    chart = await installChartOnNode({
      kubeconfigPath: cluster.kubeconfigPath,
      scans,
      release,
      namespace: releaseNs,
      dbRepository,
      workDir: work,
      // Only this file's namespace: the shared cluster holds other files' workloads.
      values: { replicas: 2, targetNamespaces: appsNs },
    });
  });

  after(async () => {
    await prometheus?.stop();
    await cluster?.release();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('runs two Ready replicas under their own probes, as 65532 on a read-only root with no capabilities, one of them leading', async () => {
    const deployment = await apps.readNamespacedDeployment({
      name: `${release}-trivy-lookout`,
      namespace: releaseNs,
    });
    assert.equal(deployment.status?.readyReplicas, 2);
    const pods = await operatorPods();
    assert.equal(pods.length, 2);
    for (const pod of pods) {
      const status = pod.status?.containerStatuses?.[0];
      assert.equal(pod.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
      assert.equal(status?.restartCount, 0, `${pod.metadata?.name} never restarted`);
      assert.equal(status?.image, chart.image.ref);
      const seen = await observeContainer(scans.node, status?.containerID ?? '');
      assert.equal(seen.uid, 65532);
      assert.equal(seen.gid, 65532);
      assert.equal(seen.readOnlyRootFilesystem, true);
      assert.equal(seen.capEff, '0', 'no effective capabilities');
      assert.equal(seen.seccomp, 2, 'a seccomp filter (RuntimeDefault)');
      assert.equal(seen.noNewPrivs, true);
    }
    const coordination = cluster.kubeConfig().makeApiClient(CoordinationV1Api);
    const lease = await waitUntil('the leader Lease', async () => {
      const l = await coordination
        .readNamespacedLease({ name: 'trivy-lookout-lock', namespace: releaseNs })
        .catch(() => undefined);
      return l?.spec?.holderIdentity ? l : undefined;
    });
    const names = pods.map((p) => p.metadata?.name ?? '');
    const leader = names.filter((n) => lease.spec?.holderIdentity?.startsWith(`${n}_`));
    assert.equal(leader.length, 1, `one of ${names} holds ${lease.spec?.holderIdentity}`);
    // Both serve metrics (the follower's come from the same reports through its own watches).
    for (const pod of pods) assert.match(await metricsOf(pod), /^process_cpu_seconds_total|trivy_lookout_/m);
  });

  it('scans workloads with real scan Jobs, and audits their config with the Trivy inside its pod', async () => {
    for (const [name, image] of Object.entries(workloadImages)) {
      await apps.createNamespacedDeployment({
        namespace: appsNs,
        body: {
          metadata: { name },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: {
                ...scans.placement,
                terminationGracePeriodSeconds: 2,
                containers: [{ name: 'main', image }],
              },
            },
          },
        },
      });
    }
    const vulns = await waitUntil(
      'vulnerability reports of both workloads',
      async () => {
        const reports = await listReports('vulnerabilityreports');
        return reports.length >= 2 ? reports : undefined;
      },
      SCAN_TIMEOUT_MS,
    );
    const ids = (r: Report) => (r.report.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort();
    for (const report of vulns) {
      const name = report.metadata.labels?.['trivy-operator.resource.name'] ?? '';
      const image = name.startsWith('secret') ? 'secret' : 'os';
      assert.deepEqual(ids(report), expectedFindings[image].v1.vulnerabilities.map((v) => v.id).sort(), name);
    }
    const secrets = await waitUntil(
      'the exposed secret report',
      async () =>
        (await listReports('exposedsecretreports')).find((r) => (r.report.secrets ?? []).length > 0),
      SCAN_TIMEOUT_MS,
    );
    assert.deepEqual(
      (secrets.report.secrets ?? []).map((s) => s.ruleID).sort(),
      expectedFindings.secret.v1.secrets.map((s) => s.ruleId).sort(),
    );
    // The config audit runs `trivy config` in the operator's container: only /tmp is writable there.
    const audits = await waitUntil(
      'config audit reports of the workloads',
      async () => {
        const reports = await listReports('configauditreports');
        return reports.length >= 2 ? reports : undefined;
      },
      SCAN_TIMEOUT_MS,
    );
    assert.ok(
      audits.every((r) => (r.report.checks ?? []).length > 0),
      'each audit has checks',
    );
  });

  it("is found by a real Prometheus through the chart's ServiceMonitor, and the chart's rules fire", async () => {
    const monitor = (await custom.getNamespacedCustomObject({
      group: 'monitoring.coreos.com',
      version: 'v1',
      namespace: releaseNs,
      plural: 'servicemonitors',
      name: `${release}-trivy-lookout`,
    })) as Parameters<typeof serviceMonitorScrapeConfigs>[0];
    assert.equal(monitor.metadata.namespace, releaseNs);
    const rules = (await custom.listNamespacedCustomObject({
      group: 'monitoring.coreos.com',
      version: 'v1',
      namespace: releaseNs,
      plural: 'prometheusrules',
    })) as { items: { metadata: { labels?: Record<string, string> }; spec: { groups: unknown[] } }[] };
    assert.ok(rules.items.length > 0);
    const ruleFiles = rules.items.map((r, i) => {
      assert.equal(
        r.metadata.labels?.release,
        'kube-prometheus-stack',
        'the README label kube-prometheus-stack selects',
      );
      const file = path.join(work, `rules-${i}.yaml`);
      writeFileSync(file, yaml.dump({ groups: r.spec.groups }));
      return file;
    });
    prometheus = await Prometheus.start({
      scrapeConfigs: serviceMonitorScrapeConfigs(monitor, cluster.kubeconfigPath),
      ruleFiles,
      scrapeIntervalSeconds: 2,
    });
    const p = prometheus;
    const up = await waitUntil(
      'both replicas scraped through the Service endpoints',
      async () => {
        const samples = await p.query(`up{namespace="${releaseNs}"} == 1`);
        return samples.length === 2 ? samples : undefined;
      },
      60_000,
    ).catch(async (err: unknown) => {
      throw new Error(`${String(err)}; targets: ${JSON.stringify(await p.targetHealth())}`);
    });
    for (const sample of up) {
      assert.equal(sample.metric.job, `${release}-trivy-lookout`);
      assert.equal(sample.metric.endpoint, 'metrics');
      assert.equal(sample.metric.service, `${release}-trivy-lookout`);
    }
    const alert = await waitUntil(
      'TrivyExposedSecrets firing',
      async () =>
        (await p.alerts()).find(
          (a) =>
            a.labels.alertname === 'TrivyExposedSecrets' &&
            a.labels.namespace === appsNs &&
            a.state === 'firing',
        ),
      60_000,
    );
    assert.match(alert.labels.image ?? '', /helm-install-secret-/);
    assert.deepEqual(
      await p.query('absent(up{job=~".*trivy-lookout.*"} == 1)'),
      [],
      'TrivyLookoutDown stays silent',
    );
  });

  it('helm upgrade with a changed value rolls the pods, and the new setting takes effect', async () => {
    await collectLogs();
    const before = new Set((await operatorPods()).map((p) => p.metadata?.name));
    await chart.upgrade({ operator: { metricsVulnIdEnabled: true } });
    const pods = await waitUntil('the rolled pods', async () => {
      const now = await operatorPods();
      return now.length === 2 && now.every((p) => !before.has(p.metadata?.name)) ? now : undefined;
    });
    // Per-CVE series, off by default, come from the new pods once they have read the reports.
    const cves = expectedFindings.os.v1.vulnerabilities.map((v) => v.id);
    for (const pod of pods) {
      await waitUntil(`per-CVE series from ${pod.metadata?.name}`, async () => {
        const text = await metricsOf(pod);
        return cves.every((id) => text.includes(`vuln_id="${id}"`)) || undefined;
      });
    }
  });

  it("makes no request its RBAC forbids: the chart's RBAC is what the operator uses", async () => {
    await collectLogs();
    assert.ok(logs.size >= 4, `logs of four pods (two before, two after the upgrade): ${[...logs.keys()]}`);
    const refused = [...logs.entries()].flatMap(([pod, text]) =>
      text
        .split('\n')
        .filter((l) => /forbidden/i.test(l))
        .map((l) => `${pod}: ${l}`),
    );
    assert.deepEqual(refused, []);
  });

  it('helm uninstall removes everything the release made and keeps the report CRDs (as Helm treats crds/)', async () => {
    const manifest = parseManifests(
      await helmOk(['get', 'manifest', release, '--namespace', releaseNs], {
        kubeconfigPath: cluster.kubeconfigPath,
      }),
    );
    assert.ok(manifest.length > 5);
    await chart.uninstall();
    const left: string[] = [];
    for (const object of manifest) {
      const ns = object.metadata.namespace ?? (isClusterScoped(object.kind) ? undefined : releaseNs);
      const args = ['get', object.kind, object.metadata.name, '--ignore-not-found', '-o', 'name'];
      const out = await kubectl(cluster.kubeconfigPath, ns ? [...args, '--namespace', ns] : args);
      if (out.trim()) left.push(out.trim());
    }
    assert.deepEqual(left, [], 'objects of the release still present');
    const crds = await kubectl(cluster.kubeconfigPath, ['get', 'crd', '-o', 'name']);
    for (const plural of ['vulnerabilityreports', 'exposedsecretreports', 'configauditreports']) {
      assert.match(crds, new RegExp(`${plural}\\.${GROUP.replace(/\./g, '\\.')}`));
    }
  });
});

function isClusterScoped(kind: string): boolean {
  return ['ClusterRole', 'ClusterRoleBinding', 'CustomResourceDefinition', 'Namespace'].includes(kind);
}
