import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1Deployment,
  type V1Job,
} from '@kubernetes/client-node';
import { ResourceWatcher } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import { SCAN_JOB_COMPONENT, ScanLabel } from '../../../src/scanning/names.ts';
import { startHarnessKubelet, type HarnessKubelet } from '../../harness/kubelet/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { repoRoot } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

const fixture = (name: string) => path.join(repoRoot, 'test', 'fixtures', 'trivy', name);
const ALPINE = 'alpine:3.19';
const DEBIAN = 'registry.example.com/team/app:1.0';
const SHARED = ['ghcr.io/acme/web:1', 'ghcr.io/acme/api:2', 'ghcr.io/acme/worker:3'];
const PRIVATE = 'private.example.com/team/secret-app:1';
const GARBAGE = 'ghcr.io/acme/broken:1';
const HANGS = 'ghcr.io/acme/hangs:1';
const SLOW = 'ghcr.io/acme/slow:1';
const HUGE = 'ghcr.io/acme/huge:1';
/** The stand-in's Trivy DB was built three hours before the tests run. */
const DB_BUILT_AT = new Date(Date.now() - 3 * 3600_000);

/** A Trivy result with `count` findings and long texts: far beyond what etcd takes in one object. */
function hugeTrivyResult(count: number): string {
  const severities = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'];
  const vulns = Array.from({ length: count }, (_, i) => ({
    VulnerabilityID: `CVE-2024-${100000 + i}`,
    PkgName: `pkg-${i % 500}`,
    InstalledVersion: '1.0.0',
    FixedVersion: i % 3 ? '1.0.1' : '',
    Severity: severities[i % 5],
    SeveritySource: 'nvd',
    VendorSeverity: { nvd: [4, 3, 2, 1, 0][i % 5] },
    Title: `A long title for finding ${i} `.repeat(3),
    Description: `A long description of vulnerability ${i}. `.repeat(8),
    PrimaryURL: `https://avd.aquasec.com/nvd/cve-2024-${100000 + i}`,
    References: [`https://example.com/advisory/${i}`],
  }));
  return JSON.stringify({
    SchemaVersion: 2,
    ArtifactName: HUGE,
    ArtifactType: 'container_image',
    Metadata: { OS: { Family: 'alpine', Name: '3.19.1' } },
    Results: [
      { Target: `${HUGE} (alpine 3.19.1)`, Class: 'os-pkgs', Type: 'alpine', Vulnerabilities: vulns },
    ],
  });
}

interface Report {
  metadata: {
    name: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string }[];
  };
  report: {
    summary: Record<string, number>;
    vulnerabilities?: unknown[];
    secrets?: unknown[];
    artifact: { repository: string; tag: string; digest?: string };
  };
}

describe('vulnerability and exposed-secret scanning on the real control plane', () => {
  let cluster: TestCluster;
  let kubelet: HarnessKubelet;
  let operator: OperatorProcess;
  let operatorNs: string;
  let ns: string;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  let objects: CustomObjectsApi;
  const jobsCreated: { name: string; image: string }[] = [];
  let jobWatch: ResourceWatcher<V1Job>;

  before(async () => {
    cluster = await useTestCluster();
    const kc = cluster.kubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    objects = kc.makeApiClient(CustomObjectsApi);
    operatorNs = await cluster.createNamespace('trivy-system');
    ns = await cluster.createNamespace('apps');
    const hugeFile = path.join(mkdtempSync(path.join(os.tmpdir(), 'huge-scan-')), 'huge.json');
    writeFileSync(hugeFile, hugeTrivyResult(20_000));
    kubelet = await startHarnessKubelet(kc, {
      nodeNamePrefix: `scan-node-${process.pid}`,
      trivy: {
        dbUpdatedAt: DB_BUILT_AT.toISOString(),
        images: {
          [ALPINE]: { report: fixture('alpine-3.19.json') },
          [DEBIAN]: { report: fixture('debian-12-secret.json') },
          ...Object.fromEntries(
            SHARED.map((image) => [image, { report: fixture('alpine-3.19.json'), delayMs: 500 }]),
          ),
          [PRIVATE]: { error: 'unauthorized' },
          [GARBAGE]: { garbage: '{"this is": "not what trivy writes"' },
          [HANGS]: { hang: true },
          [SLOW]: { report: fixture('alpine-3.19.json'), delayMs: 6_000 },
          [HUGE]: { report: hugeFile, verbatim: true },
        },
      },
    });
    // Every scan Job the operator ever creates, to count them (not its node-collector Jobs).
    jobWatch = new ResourceWatcher<V1Job>(
      kc,
      { path: `/apis/batch/v1/namespaces/${operatorNs}/jobs`, log: createLogger('silent') },
      {
        onEvent: (type, job) => {
          if (type === 'ADDED' && job.metadata?.labels?.[ScanLabel.component] === SCAN_JOB_COMPONENT) {
            jobsCreated.push({
              name: job.metadata?.name ?? '',
              image: job.metadata?.annotations?.['trivy-lookout.dev/image-ref'] ?? '',
            });
          }
        },
      },
    );
    jobWatch.start();
    await jobWatch.waitForSync();
    operator = await startScanner();
  });

  after(async () => {
    await operator?.stop();
    await jobWatch?.stop();
    await kubelet?.stop();
    await cluster?.release();
  });

  function startScanner(extra: Record<string, string> = {}): Promise<OperatorProcess> {
    return startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: ns,
      OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
      // The Job deadline: roomy, since the first scans run beside a 50-Deployment burst.
      OPERATOR_SCAN_JOB_TIMEOUT: '45s',
      OPERATOR_LEADER_ELECTION_ENABLED: 'false',
      OPERATOR_LOG_LEVEL: 'debug',
      OPERATOR_TRIVY_OPERATOR_REPORT_RESOURCE_LABELS: 'app',
      ...extra,
    }).then(async (op) => {
      await op.waitForReady(60_000);
      return op;
    });
  }

  function deployment(name: string, images: Record<string, string>, replicas = 1): V1Deployment {
    return {
      metadata: { name, namespace: ns },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: Object.entries(images).map(([container, image]) => ({ name: container, image })),
          },
        },
      },
    };
  }

  async function activeReplicaSet(name: string): Promise<string> {
    return waitUntil(`the ReplicaSet of ${name}`, async () => {
      const d = await apps.readNamespacedDeployment({ name, namespace: ns });
      const revision = d.metadata?.annotations?.['deployment.kubernetes.io/revision'];
      const sets = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: `app=${name}` });
      return sets.items.find(
        (rs) => rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] === revision,
      )?.metadata?.name;
    });
  }

  async function getReport(plural: string, name: string): Promise<Report | undefined> {
    try {
      return (await objects.getNamespacedCustomObject({
        group: 'aquasecurity.github.io',
        version: 'v1alpha1',
        namespace: ns,
        plural,
        name,
      })) as Report;
    } catch {
      return undefined;
    }
  }

  const scansOf = (image: string) =>
    kubelet.trivy
      .invocations()
      .filter(
        (i) =>
          i.image !== undefined &&
          i.image.includes(image.split(':')[0] ?? image) &&
          i.outcome !== 'db-downloaded',
      );

  it('gives a new Deployment a VulnerabilityReport and an ExposedSecretReport per container, owned by its ReplicaSet', async () => {
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: deployment('shop', { web: ALPINE, app: DEBIAN }),
    });
    const rs = await activeReplicaSet('shop');
    const vuln = await waitUntil(
      'the vulnerability report of shop/web',
      () => getReport('vulnerabilityreports', `replicaset-${rs}-web`),
      90_000,
    );
    assert.equal(vuln.metadata.labels['trivy-operator.resource.kind'], 'ReplicaSet');
    assert.equal(vuln.metadata.labels['trivy-operator.resource.name'], rs);
    assert.equal(vuln.metadata.labels['trivy-operator.container.name'], 'web');
    assert.equal(
      vuln.metadata.labels.app,
      'shop',
      'trivyOperator.reportResourceLabels copied from the workload',
    );
    assert.equal(vuln.metadata.annotations?.['trivy-operator.aquasecurity.github.io/report-ttl'], '24h0m0s');
    assert.deepEqual(
      vuln.metadata.ownerReferences?.map((o) => [o.kind, o.name]),
      [['ReplicaSet', rs]],
    );
    assert.equal(vuln.report.artifact.repository, 'library/alpine');
    assert.equal(vuln.report.artifact.tag, '3.19');
    assert.ok((vuln.report.vulnerabilities?.length ?? 0) > 0);
    const total = Object.entries(vuln.report.summary)
      .filter(([k]) => k !== 'noneCount')
      .reduce((n, [, v]) => n + v, 0);
    assert.equal(total, vuln.report.vulnerabilities?.length, 'summary counts every listed vulnerability');

    const secrets = await waitUntil(
      'the secret report of shop/app',
      () => getReport('exposedsecretreports', `replicaset-${rs}-app`),
      60_000,
    );
    assert.ok((secrets.report.secrets?.length ?? 0) > 0, 'the debian fixture has a secret');
    for (const secret of secrets.report.secrets as { match: string }[])
      assert.match(secret.match, /\*{3}/, 'matches are stored redacted');
    await waitUntil('the secret report of shop/web', () =>
      getReport('exposedsecretreports', `replicaset-${rs}-web`),
    );

    // The exporter sees what the scanner wrote, and the scanner's own series are there.
    const metrics = await waitUntil('the report in /metrics', async () => {
      const text = await fetch(`${operator.baseUrl}/metrics`).then((r) => r.text());
      return text.includes(`resource_name="${rs}"`) ? text : undefined;
    });
    const line = metrics
      .split('\n')
      .find(
        (l) =>
          l.startsWith('trivy_image_vulnerabilities{') &&
          l.includes(`namespace="${ns}"`) &&
          l.includes('container_name="web"') &&
          l.includes('severity="Critical"'),
      );
    assert.ok(line, 'trivy_image_vulnerabilities series for the web container');
    assert.ok(line.includes('k8s_label_app="shop"'), line);
    assert.equal(Number(line.split(' ').pop()), vuln.report.summary.criticalCount);
    assert.match(metrics, /^trivy_lookout_scan_duration_seconds_count\{outcome="succeeded"\} [1-9]/m);
    // The DB the scan used, as the scan pod's `trivy version` reported it.
    const dbAge = metrics
      .split('\n')
      .find((l) => l.startsWith('trivy_lookout_trivy_db_age_seconds{db="trivy-db"}'));
    assert.ok(dbAge, 'trivy_lookout_trivy_db_age_seconds for the vulnerability DB');
    const age = Number(dbAge.split(' ').pop());
    assert.ok(age >= 3 * 3600 && age < 4 * 3600, dbAge);
  });

  it('scans 50 workloads sharing 3 images with exactly 3 scan Jobs, and reports every container', async () => {
    const before = jobsCreated.length;
    const names = Array.from({ length: 50 }, (_, i) => `svc-${i}`);
    await Promise.all(
      names.map((name, i) =>
        apps.createNamespacedDeployment({ namespace: ns, body: deployment(name, { main: SHARED[i % 3]! }) }),
      ),
    );
    const sets = await Promise.all(names.map((name) => activeReplicaSet(name)));
    await waitUntil(
      'reports for all 50 workloads',
      async () => {
        const list = (await objects.listNamespacedCustomObject({
          group: 'aquasecurity.github.io',
          version: 'v1alpha1',
          namespace: ns,
          plural: 'vulnerabilityreports',
        })) as { items: Report[] };
        const have = new Set(list.items.map((r) => r.metadata.name));
        return sets.every((rs) => have.has(`replicaset-${rs}-main`));
      },
      180_000,
      1_000,
    );
    const newJobs = jobsCreated.slice(before);
    assert.equal(newJobs.length, 3, `one Job per image: ${JSON.stringify(newJobs)}`);
    for (const image of SHARED) assert.equal(scansOf(image).length, 1, `${image} scanned once`);
  });

  it('re-scans an image when its report is deleted', async () => {
    const rs = await activeReplicaSet('svc-0');
    const scans = scansOf(SHARED[0]!).length;
    await objects.deleteNamespacedCustomObject({
      group: 'aquasecurity.github.io',
      version: 'v1alpha1',
      namespace: ns,
      plural: 'vulnerabilityreports',
      name: `replicaset-${rs}-main`,
    });
    await waitUntil(
      'a new report after deletion',
      () => getReport('vulnerabilityreports', `replicaset-${rs}-main`),
      60_000,
    );
    assert.equal(scansOf(SHARED[0]!).length, scans + 1);
  });

  it('removes the reports with the workload (owner references, real garbage collection)', async () => {
    const rs = await activeReplicaSet('svc-1');
    await waitUntil('its report', () => getReport('vulnerabilityreports', `replicaset-${rs}-main`));
    await apps.deleteNamespacedDeployment({ name: 'svc-1', namespace: ns, propagationPolicy: 'Foreground' });
    await waitUntil(
      'the report to be garbage collected',
      async () => (await getReport('vulnerabilityreports', `replicaset-${rs}-main`)) === undefined,
      60_000,
    );
  });

  it('replaces the reports of the old ReplicaSet when the image changes', async () => {
    const oldRs = await activeReplicaSet('svc-2');
    await waitUntil('the first report', () => getReport('vulnerabilityreports', `replicaset-${oldRs}-main`));
    await apps.patchNamespacedDeployment({
      name: 'svc-2',
      namespace: ns,
      body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: ALPINE }],
    });
    const newRs = await waitUntil('a new ReplicaSet', async () => {
      const rs = await activeReplicaSet('svc-2');
      return rs !== oldRs ? rs : undefined;
    });
    const report = await waitUntil(
      'the new report',
      () => getReport('vulnerabilityreports', `replicaset-${newRs}-main`),
      60_000,
    );
    assert.equal(report.report.artifact.repository, 'library/alpine');
    await waitUntil(
      'the stale report to go',
      async () => (await getReport('vulnerabilityreports', `replicaset-${oldRs}-main`)) === undefined,
      60_000,
    );
  });

  it('reports a failing scan as an Event and a log line, retries with backoff, and keeps scanning other images', async () => {
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('private', { main: PRIVATE }) });
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('broken', { main: GARBAGE }) });
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('fine', { main: ALPINE }) });
    const privateRs = await activeReplicaSet('private');
    const fineRs = await activeReplicaSet('fine');
    await waitUntil(
      'the healthy image is still reported',
      () => getReport('vulnerabilityreports', `replicaset-${fineRs}-main`),
      60_000,
    );

    const event = await waitUntil(
      'a ScanFailed event on the ReplicaSet',
      async () => {
        const events = await core.listNamespacedEvent({
          namespace: ns,
          fieldSelector: `involvedObject.name=${privateRs}`,
        });
        return events.items.find((e) => e.reason === 'ScanFailed');
      },
      60_000,
    );
    assert.equal(event.type, 'Warning');
    assert.match(event.message ?? '', /RegistryAuth/);
    await operator.waitForLog((l) => l.msg === 'scan failed' && l.reason === 'RegistryAuth');
    await operator.waitForLog((l) => l.msg === 'scan failed' && l.reason === 'InvalidOutput');
    // Retried after the 2 s backoff (then 4 s …): at least two attempts.
    await waitUntil('a retry', () => scansOf(PRIVATE).length >= 2, 30_000);

    // The credentials problem is fixed at the registry: the next retry succeeds.
    kubelet.trivy.setImage(PRIVATE, { report: fixture('alpine-3.19.json') });
    await waitUntil(
      'the report after the retry',
      () => getReport('vulnerabilityreports', `replicaset-${privateRs}-main`),
      60_000,
    );
    assert.equal(operator.child.exitCode, null, 'the operator kept running');
  });

  it('writes a report too big for etcd with its summary whole and its list trimmed lowest severity first, and says so', async () => {
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('huge', { main: HUGE }) });
    const rs = await activeReplicaSet('huge');
    const report = await waitUntil(
      'the trimmed report',
      () => getReport('vulnerabilityreports', `replicaset-${rs}-main`),
      90_000,
    );
    const s = report.report.summary;
    assert.deepEqual(
      [s.criticalCount, s.highCount, s.mediumCount, s.lowCount, s.unknownCount],
      [4000, 4000, 4000, 4000, 4000],
    );
    const kept = report.report.vulnerabilities as { severity: string }[];
    assert.ok(kept.length > 0 && kept.length < 20_000, `kept ${kept.length}`);
    // Lowest severity goes first: at most one severity is cut short, all above it are whole, none below it kept.
    const order = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'];
    const keptPer = order.map((sev) => kept.filter((v) => v.severity === sev).length);
    const partial = keptPer.findIndex((n) => n < 4000);
    assert.ok(partial >= 0);
    assert.ok(
      keptPer.slice(0, partial).every((n) => n === 4000),
      `whole above the cut: ${keptPer}`,
    );
    assert.ok(
      keptPer.slice(partial + 1).every((n) => n === 0),
      `nothing below the cut: ${keptPer}`,
    );
    assert.match(report.metadata.annotations?.['trivy-lookout.dev/trimmed'] ?? '', /\d+/);
    assert.ok(Buffer.byteLength(JSON.stringify(report)) < 1.5 * 1024 * 1024);
    await operator.waitForLog((l) => l.msg === 'report trimmed to fit etcd');
  });

  it('times a hanging scan out with the Job deadline and reports it', async () => {
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('hangs', { main: HANGS }) });
    const line = await operator.waitForLog((l) => l.msg === 'scan failed' && l.reason === 'Timeout', 150_000);
    assert.match(String(line.message), /did not finish|deadline|timeout/i);
  });

  it('loses no report and starts no duplicate Job when the operator restarts mid-scan', async () => {
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('slow', { main: SLOW }) });
    await waitUntil(
      'the slow scan Job',
      () => jobsCreated.find((j) => j.image.includes('acme/slow')),
      30_000,
    );
    const code = await operator.stop();
    assert.equal(code, 0);
    operator = await startScanner();
    const rs = await activeReplicaSet('slow');
    await waitUntil(
      'the slow report',
      () => getReport('vulnerabilityreports', `replicaset-${rs}-main`),
      90_000,
    );
    assert.equal(
      jobsCreated.filter((j) => j.image.includes('acme/slow')).length,
      1,
      'the running Job was adopted, not duplicated',
    );
    assert.equal(scansOf(SLOW).filter((i) => i.outcome === 'replayed').length, 1);
  });

  it('re-scans images whose reports outlived the TTL, on the node-cron schedule', async () => {
    await operator.stop();
    operator = await startScanner({
      OPERATOR_SCANNER_REPORT_TTL: '3s',
      OPERATOR_RESCAN_SCHEDULE: '*/2 * * * * *',
    });
    const rs = await activeReplicaSet('fine');
    const first = await waitUntil('the report', () =>
      getReport('vulnerabilityreports', `replicaset-${rs}-main`),
    );
    const scans = scansOf(ALPINE).length;
    await operator.waitForLog((l) => l.msg === 'scheduled re-scan check', 10_000);
    await waitUntil('a re-scan after the TTL', () => scansOf(ALPINE).length > scans, 30_000);
    const renewed = await waitUntil(
      'a newer report',
      async () => {
        const report = await getReport('vulnerabilityreports', `replicaset-${rs}-main`);
        const at = report?.metadata.annotations?.['trivy-lookout.dev/scanned-at'];
        return at && at !== first.metadata.annotations?.['trivy-lookout.dev/scanned-at'] ? report : undefined;
      },
      30_000,
    );
    assert.equal(renewed.metadata.annotations?.['trivy-operator.aquasecurity.github.io/report-ttl'], '3s');
  });
});
