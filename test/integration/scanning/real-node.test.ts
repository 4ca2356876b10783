/**
 * Real scans end to end: workloads run on the real node (containerd + kubelet) from images in the
 * local registries, the operator's scan Jobs run the real Trivy image there, pull the scanned image
 * from the registry with the Job's credentials and the test vulnerability DB from
 * `trivy.dbRepository`, and the reports hold exactly what that DB and those images imply
 * (test/harness/images/expected.ts). Nothing is replayed or faked: every failure below comes from a
 * real component (a registry refusing credentials, a manifest deleted from the registry, the node's
 * OOM killer).
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1Deployment,
  type V1Job,
  type V1PodSpec,
} from '@kubernetes/client-node';
import { ResourceWatcher } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import { SCAN_JOB_COMPONENT, ScanLabel } from '../../../src/scanning/names.ts';
import {
  buildGeneratedTrivyDb,
  expectedFindings,
  severityCounts,
  type TestImageName,
} from '../../harness/images/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import {
  pullSecret,
  useRealScans,
  warmNodeCache,
  type PublishedImage,
  type RealScans,
} from '../../harness/real-scans.ts';
import { deleteManifest, pushLayout } from '../../harness/registry/index.ts';
import { repoRoot } from '../../harness/tools.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { waitUntil } from '../../harness/waiting.ts';

interface Report {
  metadata: {
    name: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string }[];
  };
  report: {
    summary: Record<string, number>;
    vulnerabilities?: { vulnerabilityID: string; resource: string; severity: string; fixedVersion: string }[];
    secrets?: { ruleID: string; severity: string; match: string; target: string }[];
    registry: { server: string };
    artifact: { repository: string; tag?: string; digest?: string };
    scanner: { name: string; version: string };
  };
}

// The deadline also runs while a scan pod waits for room on the shared node (50 workloads start
// at once below, on 2 busy cores): a timeout there would be a retry, and a second Job for a digest.
const SCAN_JOB_TIMEOUT = '600s';

/**
 * Fixtures for a DB with `count` advisories on busybox (Debian 12), every severity alike and long
 * texts: a real Trivy result far beyond what etcd takes in one object (TEST DATA).
 */
function hugeDbFixtures(count: number): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-huge-db-'));
  const fixtures = path.join(dir, 'huge');
  mkdirSync(fixtures);
  const ids = Array.from({ length: count }, (_, i) => `TEST-HUGE-${String(i).padStart(5, '0')}`);
  writeFileSync(
    path.join(fixtures, 'debian.yaml'),
    `- bucket: debian 12\n  pairs:\n    - bucket: busybox\n      pairs:\n${ids
      .map((id) => `        - key: ${id}\n          value:\n            FixedVersion: 1:1.35.0-4+deb12u99\n`)
      .join('')}`,
  );
  writeFileSync(
    path.join(fixtures, 'vulnerability.yaml'),
    `- bucket: vulnerability\n  pairs:\n${ids
      .map(
        (id, i) =>
          `    - key: ${id}\n      value:\n        Title: ${`A long test title for finding ${i} `.repeat(3).trim()}\n        Description: ${`A long test description of finding ${i}. `.repeat(8).trim()}\n        VendorSeverity:\n          debian: ${i % 5}\n`,
      )
      .join('')}`,
  );
  const dataSource = path.join(repoRoot, 'test', 'fixtures', 'trivy-db', 'v1', 'data-source.yaml');
  writeFileSync(path.join(fixtures, 'data-source.yaml'), readFileSync(dataSource, 'utf8'));
  return fixtures;
}

/** A "registry" that accepts connections and never answers: a real hang for Trivy's client. */
function blackHole(host: string): Promise<{ host: string; close(): void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
  });
  return new Promise((resolve) =>
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo;
      resolve({
        host: `${host}:${port}`,
        close: () => {
          for (const socket of sockets) socket.destroy();
          server.close();
        },
      });
    }),
  );
}

describe('real scans on the real node: real Trivy, local registries, a test vulnerability DB', () => {
  let cluster: TestCluster;
  let scans: RealScans;
  let operator: OperatorProcess;
  let operatorNs: string;
  let ns: string;
  let dbRepository: string;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  let objects: CustomObjectsApi;
  const jobsCreated: { name: string; image: string }[] = [];
  let jobWatch: ResourceWatcher<V1Job>;
  const mine = {} as Record<'os' | 'java' | 'node' | 'secret', PublishedImage>;

  before(async () => {
    cluster = await useTestCluster({ node: true });
    scans = await useRealScans(cluster);
    dbRepository = scans.dbRepositoryFor(`scanning-${process.pid}`);
    // Digests of this file's own: the operator reuses any report of a digest scanned within the
    // TTL, and other files of the shared cluster scan the plain images with other DB versions.
    for (const image of ['os', 'java', 'node', 'secret'] as const)
      mine[image] = await scans.publishImage(image, 'http', `${image}-${process.pid}`);
    await scans.publishDb('v1', dbRepository);
    const kc = cluster.kubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    objects = kc.makeApiClient(CustomObjectsApi);
    operatorNs = await cluster.createNamespace('trivy-system');
    ns = await cluster.createNamespace('real-scans');
    jobWatch = new ResourceWatcher<V1Job>(
      kc,
      { path: `/apis/batch/v1/namespaces/${operatorNs}/jobs`, log: createLogger('silent') },
      {
        onEvent: (type, job) => {
          if (type === 'ADDED' && job.metadata?.labels?.[ScanLabel.component] === SCAN_JOB_COMPONENT)
            jobsCreated.push({
              name: job.metadata?.name ?? '',
              image: job.metadata?.annotations?.['trivy-lookout.dev/image-ref'] ?? '',
            });
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
    // About 60 pods: free the real node's slots (110, the size of its pod subnet) before the next
    // file of the shared cluster starts, rather than while its pods wait in Pending.
    if (apps) {
      await apps.deleteCollectionNamespacedDeployment({ namespace: ns }).catch(() => undefined);
      await waitUntil(
        "this file's pods gone from the real node",
        async () => (await core.listNamespacedPod({ namespace: ns })).items.length === 0,
        120_000,
        1_000,
      ).catch(() => undefined);
    }
    await cluster?.release();
  });

  function startScanner(extra: Record<string, string> = {}): Promise<OperatorProcess> {
    return startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: ns,
      OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
      // A Secret no workload names, which a test below creates only after the first failure.
      OPERATOR_PRIVATE_REGISTRY_SCAN_SECRETS_NAMES: JSON.stringify({ [ns]: 'scan-creds' }),
      OPERATOR_SCAN_JOB_TIMEOUT: SCAN_JOB_TIMEOUT,
      OPERATOR_LEADER_ELECTION_ENABLED: 'false',
      OPERATOR_CLUSTER_COMPLIANCE_ENABLED: 'false',
      OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED: 'false',
      OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED: 'false',
      OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED: 'false',
      ...scans.operatorEnv(dbRepository),
      ...extra,
    }).then(async (op) => {
      await op.waitForReady(60_000);
      return op;
    });
  }

  function deployment(name: string, containers: Record<string, string>, extra: Partial<V1PodSpec> = {}) {
    const body: V1Deployment = {
      metadata: { name, namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            ...scans.placement,
            terminationGracePeriodSeconds: 2,
            containers: Object.entries(containers).map(([container, image]) => ({ name: container, image })),
            ...extra,
          },
        },
      },
    };
    return apps.createNamespacedDeployment({ namespace: ns, body });
  }

  async function activeReplicaSet(name: string): Promise<string> {
    return waitUntil(
      `the ReplicaSet of ${name}`,
      async () => {
        const d = await apps.readNamespacedDeployment({ name, namespace: ns });
        const revision = d.metadata?.annotations?.['deployment.kubernetes.io/revision'];
        const sets = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: `app=${name}` });
        return sets.items.find(
          (rs) => rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] === revision,
        )?.metadata?.name;
      },
      60_000,
    );
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

  const waitReport = (plural: string, name: string, timeoutMs = 300_000) =>
    waitUntil(`${plural} ${name}`, () => getReport(plural, name), timeoutMs, 500);

  const deleteReport = (plural: string, name: string) =>
    objects.deleteNamespacedCustomObject({
      group: 'aquasecurity.github.io',
      version: 'v1alpha1',
      namespace: ns,
      plural,
      name,
    });

  const vulnIds = (report: Report) =>
    (report.report.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort();
  const expectedIds = (image: TestImageName, db: 'v1' | 'v2') =>
    expectedFindings[image][db].vulnerabilities.map((v) => v.id).sort();

  async function scrape(): Promise<string> {
    return fetch(`${operator.baseUrl}/metrics`).then((r) => r.text());
  }

  const CONTAINERS = { os: 'os', java: 'java', node: 'node', secret: 'secret' } as const;

  it('reports every container of a fresh workload with exactly the findings the DB and the images imply, one scan Job per image digest', async () => {
    await deployment(
      'shop',
      Object.fromEntries(Object.entries(CONTAINERS).map(([c, image]) => [c, mine[image].ref])),
    );
    const rs = await activeReplicaSet('shop');
    for (const [container, image] of Object.entries(CONTAINERS)) {
      const vuln = await waitReport('vulnerabilityreports', `replicaset-${rs}-${container}`);
      assert.deepEqual(vulnIds(vuln), expectedIds(image, 'v1'), `${image}: exactly the DB's findings`);
      const want = severityCounts(expectedFindings[image].v1);
      const s = vuln.report.summary;
      assert.deepEqual(
        [s.criticalCount, s.highCount, s.mediumCount, s.lowCount, s.unknownCount],
        [want.CRITICAL, want.HIGH, want.MEDIUM, want.LOW, want.UNKNOWN],
        `${image}: summary`,
      );
      assert.equal(vuln.report.registry.server, scans.registries.http.host);
      assert.equal(vuln.report.artifact.repository, `trivy-lookout-test/${image}-${process.pid}`);
      assert.equal(vuln.report.artifact.digest, mine[image].digest, 'the digest the registry served');
      assert.equal(vuln.report.scanner.name, 'Trivy');

      const secrets = await waitReport('exposedsecretreports', `replicaset-${rs}-${container}`);
      assert.deepEqual(
        (secrets.report.secrets ?? []).map((x) => x.ruleID).sort(),
        expectedFindings[image].v1.secrets.map((x) => x.ruleId).sort(),
        `${image}: exactly the planted secrets`,
      );
      for (const secret of secrets.report.secrets ?? [])
        assert.match(secret.match, /\*{3}/, 'matches are stored redacted');

      // The SBOM of the same scan (operator.sbomGenerationEnabled, on by default; details in sbom.test.ts).
      const sbom = (await waitReport('sbomreports', `replicaset-${rs}-${container}`)) as unknown as {
        report: { artifact: { digest?: string }; components: { components?: { name?: string }[] } };
      };
      assert.equal(sbom.report.artifact.digest, mine[image].digest);
      assert.ok(
        (sbom.report.components.components ?? []).some((c) => c.name === 'busybox-static'),
        `${image}: the base's packages in the SBOM`,
      );
    }
    const log4shell = (await getReport(
      'vulnerabilityreports',
      `replicaset-${rs}-java`,
    ))!.report.vulnerabilities!.find((v) => v.vulnerabilityID === 'CVE-2021-44228');
    assert.equal(log4shell?.severity, 'CRITICAL');
    assert.equal(log4shell?.resource, 'org.apache.logging.log4j:log4j-core');
    assert.equal(log4shell?.fixedVersion, '2.15.0');

    for (const image of Object.values(CONTAINERS)) {
      const jobs = jobsCreated.filter((j) =>
        j.image.includes(`/trivy-lookout-test/${image}-${process.pid}@`),
      );
      assert.equal(jobs.length, 1, `one Job per image digest: ${JSON.stringify(jobsCreated)}`);
    }

    const metrics = await waitUntil('the java report in /metrics', async () => {
      const text = await scrape();
      return text.includes(`resource_name="${rs}"`) && text.includes('container_name="java"')
        ? text
        : undefined;
    });
    const critical = metrics
      .split('\n')
      .find(
        (l) =>
          l.startsWith('trivy_image_vulnerabilities{') &&
          l.includes(`namespace="${ns}"`) &&
          l.includes('container_name="java"') &&
          l.includes('severity="Critical"'),
      );
    assert.ok(critical, 'trivy_image_vulnerabilities series for the java container');
    assert.equal(Number(critical.split(' ').pop()), 1);
    assert.match(metrics, /^trivy_lookout_trivy_db_age_seconds\{db="trivy-db"\} \d/m);
  });

  it('a second workload on a scanned digest gets its reports without a new scan Job', async () => {
    const before = jobsCreated.length;
    await deployment('shop-copy', { app: mine.java.ref });
    const rs = await activeReplicaSet('shop-copy');
    const vuln = await waitReport('vulnerabilityreports', `replicaset-${rs}-app`);
    assert.deepEqual(vulnIds(vuln), expectedIds('java', 'v1'));
    assert.equal(jobsCreated.length, before, 'no scan Job for a digest scanned within the TTL');
  });

  it('a new DB reaches the reports and /metrics when a report is deleted, and when the TTL runs out on the node-cron schedule', async () => {
    await scans.publishDb('v2', dbRepository);
    const rs = await activeReplicaSet('shop');

    // Deleting a report is how users ask for a re-scan (as with Trivy-Operator).
    const old = await waitReport('vulnerabilityreports', `replicaset-${rs}-java`);
    await deleteReport('vulnerabilityreports', `replicaset-${rs}-java`);
    const rescanned = await waitUntil(
      'the java report from DB v2',
      async () => {
        const r = await getReport('vulnerabilityreports', `replicaset-${rs}-java`);
        return r && r.metadata.name === old.metadata.name && vulnIds(r).includes('CVE-2021-45046')
          ? r
          : undefined;
      },
      180_000,
      1_000,
    );
    assert.deepEqual(vulnIds(rescanned), expectedIds('java', 'v2'));

    // The TTL: every report older than 5 s is re-scanned on the next tick of a 2-second schedule.
    await operator.stop();
    operator = await startScanner({
      OPERATOR_SCANNER_REPORT_TTL: '5s',
      OPERATOR_RESCAN_SCHEDULE: '*/2 * * * * *',
    });
    await operator.waitForLog((l) => l.msg === 'scheduled re-scan check', 30_000);
    const node = await waitUntil(
      'the node report from DB v2 after its TTL',
      async () => {
        const r = await getReport('vulnerabilityreports', `replicaset-${rs}-node`);
        return r && vulnIds(r).includes('CVE-2021-23337') ? r : undefined;
      },
      180_000,
      1_000,
    );
    assert.deepEqual(vulnIds(node), expectedIds('node', 'v2'));
    const metrics = await waitUntil('the new High in /metrics', async () => {
      const text = await scrape();
      const line = text
        .split('\n')
        .find(
          (l) =>
            l.startsWith('trivy_image_vulnerabilities{') &&
            l.includes(`resource_name="${rs}"`) &&
            l.includes('container_name="node"') &&
            l.includes('severity="High"'),
        );
      const want = severityCounts(expectedFindings.node.v2).HIGH;
      return line && Number(line.split(' ').pop()) === want ? text : undefined;
    });
    assert.ok(metrics);
    await operator.stop();
    operator = await startScanner();
  });

  it('scans 50 workloads sharing 3 image digests with exactly 3 scan Jobs, and reports every container', async () => {
    const shared = await Promise.all(
      ['a', 'b', 'c'].map((v) => scans.publishImage('os', 'http', `shared-${v}-${process.pid}`)),
    );
    const before = jobsCreated.length;
    const names = Array.from({ length: 50 }, (_, i) => `svc-${i}`);
    for (const [i, name] of names.entries()) await deployment(name, { main: shared[i % 3]!.ref });
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
      300_000,
      1_000,
    );
    const jobs = jobsCreated.slice(before).filter((j) => j.image.includes('/shared-'));
    const failures = operator
      .logs()
      .filter((l) => l.msg === 'scan failed' && String(l.image).includes('/shared-'));
    assert.equal(jobs.length, 3, `one Job per digest: ${JSON.stringify({ jobs, failures })}`);
  });

  it('removes the reports with the workload (owner references, real garbage collection)', async () => {
    const rs = await activeReplicaSet('svc-1');
    await waitReport('vulnerabilityreports', `replicaset-${rs}-main`);
    await apps.deleteNamespacedDeployment({ name: 'svc-1', namespace: ns, propagationPolicy: 'Foreground' });
    await waitUntil(
      'the report to be garbage collected',
      async () => (await getReport('vulnerabilityreports', `replicaset-${rs}-main`)) === undefined,
      120_000,
    );
  });

  it('replaces the reports of the old ReplicaSet when the image changes', async () => {
    const oldRs = await activeReplicaSet('svc-2');
    await waitReport('vulnerabilityreports', `replicaset-${oldRs}-main`);
    await apps.patchNamespacedDeployment({
      name: 'svc-2',
      namespace: ns,
      body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: mine.node.ref }],
    });
    const newRs = await waitUntil('a new ReplicaSet', async () => {
      const rs = await activeReplicaSet('svc-2');
      return rs !== oldRs ? rs : undefined;
    });
    const report = await waitReport('vulnerabilityreports', `replicaset-${newRs}-main`);
    assert.equal(report.report.artifact.repository, `trivy-lookout-test/node-${process.pid}`);
    await waitUntil(
      'the stale report to go',
      async () => (await getReport('vulnerabilityreports', `replicaset-${oldRs}-main`)) === undefined,
      120_000,
    );
  });

  it('writes a real 20,000-finding result too big for etcd with its summary whole and its list trimmed lowest severity first, and says so', async () => {
    // In: a DB with 20,000 advisories on busybox, 4,000 per severity. Out: a report that fits.
    const hugeDb = await buildGeneratedTrivyDb('huge-20000', [hugeDbFixtures(20_000)]);
    const hugeRepository = scans.dbRepositoryFor(`huge-${process.pid}`);
    const http = scans.registries.http;
    await pushLayout(
      { host: http.host, url: http.url },
      hugeDb.layoutDir,
      `${hugeRepository.slice(http.host.length + 1)}:2`,
    );
    await operator.stop();
    operator = await startScanner({ OPERATOR_TRIVY_DB_REPOSITORY: hugeRepository });
    try {
      const image = await scans.publishImage('os', 'http', `huge-${process.pid}`);
      await deployment('huge', { main: image.ref });
      const rs = await activeReplicaSet('huge');
      const report = await waitReport('vulnerabilityreports', `replicaset-${rs}-main`, 300_000);
      const s = report.report.summary;
      // The base's own three test advisories (MEDIUM busybox, LOW zlib, HIGH lz4) are not in this DB.
      assert.deepEqual(
        [s.criticalCount, s.highCount, s.mediumCount, s.lowCount, s.unknownCount],
        [4000, 4000, 4000, 4000, 4000],
      );
      const kept = report.report.vulnerabilities ?? [];
      assert.ok(kept.length > 0 && kept.length < 20_000, `kept ${kept.length}`);
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
    } finally {
      await operator.stop();
      operator = await startScanner();
    }
  });

  it('times out a scan whose DB repository accepts connections and never answers, with the Job deadline, and says so', async () => {
    const hole = await blackHole(scans.node.hostIp);
    await operator.stop();
    operator = await startScanner({
      OPERATOR_TRIVY_DB_REPOSITORY: `${hole.host}/never/trivy-db`,
      OPERATOR_SCAN_JOB_TIMEOUT: '20s',
    });
    try {
      const image = await scans.publishImage('os', 'http', `hangs-${process.pid}`);
      await deployment('hangs', { main: image.ref });
      const line = await operator.waitForLog(
        (l) => l.msg === 'scan failed' && l.reason === 'Timeout' && String(l.image).includes('/hangs-'),
        180_000,
      );
      assert.match(String(line.message), /did not finish within 20 s/);
    } finally {
      hole.close();
      await operator.stop();
      operator = await startScanner();
    }
  });

  it('a private registry: without credentials the scan fails with RegistryAuth, an Event and the metric; an imagePullSecret makes the next retry succeed; the password appears nowhere', async () => {
    const auth = scans.registries.auth;
    const creds = auth.credentials!;
    const published = await scans.publishImage('os', 'auth');
    // The node pulls the image once with credentials, in a namespace the operator does not watch;
    // the workload then runs it from the node's cache without any, as happens when teams share
    // nodes. Its scan has no credentials until its ServiceAccount lists a Secret.
    await warmNodeCache(cluster, scans, published);
    await core.createNamespacedServiceAccount({ namespace: ns, body: { metadata: { name: 'private-app' } } });
    await deployment('private', { main: published.ref }, { serviceAccountName: 'private-app' });
    const rs = await activeReplicaSet('private');
    const event = await waitUntil(
      'a ScanFailed event naming RegistryAuth',
      async () => {
        const events = await core.listNamespacedEvent({
          namespace: ns,
          fieldSelector: `involvedObject.name=${rs}`,
        });
        return events.items.find((e) => e.reason === 'ScanFailed' && /RegistryAuth/.test(e.message ?? ''));
      },
      180_000,
      1_000,
    );
    assert.equal(event.type, 'Warning');
    assert.match(event.message ?? '', /imagePullSecret/);
    await waitUntil('the registry_auth failing series', async () =>
      /trivy_lookout_image_scan_failing\{[^}]*reason="registry_auth"[^}]*\} 1/.test(await scrape()),
    );

    await core.createNamespacedSecret({ namespace: ns, body: pullSecret('registry-creds', auth) });
    await core.patchNamespacedServiceAccount({
      name: 'private-app',
      namespace: ns,
      body: [{ op: 'add', path: '/imagePullSecrets', value: [{ name: 'registry-creds' }] }],
    });
    const report = await waitReport('vulnerabilityreports', `replicaset-${rs}-main`, 240_000);
    assert.deepEqual(vulnIds(report), expectedIds('os', 'v1'));
    assert.equal(report.report.registry.server, auth.host);

    const events = await core.listNamespacedEvent({ namespace: ns });
    const everything = [
      operator.stdout(),
      operator.stderr(),
      JSON.stringify(events.items),
      JSON.stringify(report),
      await scrape(),
    ].join('\n');
    assert.ok(
      !everything.includes(creds.password),
      'the registry password is in no log, Event, report or metric',
    );
  });

  it('operator.privateRegistryScanSecretsNames: a Secret that no workload names gives the scan its credentials once it exists', async () => {
    const auth = scans.registries.auth;
    const published = await scans.publishImage('secret', 'auth', `by-setting-${process.pid}`);
    await warmNodeCache(cluster, scans, published);
    await deployment('by-setting', { main: published.ref });
    const rs = await activeReplicaSet('by-setting');
    await operator.waitForLog(
      (l) =>
        l.msg === 'scan failed' &&
        l.reason === 'RegistryAuth' &&
        String(l.image).includes(`/by-setting-${process.pid}@`),
      300_000,
    );
    await core.createNamespacedSecret({ namespace: ns, body: pullSecret('scan-creds', auth) });
    const report = await waitReport('exposedsecretreports', `replicaset-${rs}-main`);
    assert.equal(report.report.registry.server, auth.host);
    assert.equal(report.report.secrets?.length, expectedFindings.secret.v1.secrets.length);
  });

  it('an image deleted from the registry fails its re-scan as ImageNotFound, and other images keep scanning', async () => {
    const http = scans.registries.http;
    const repo = `trivy-lookout-test/deleted-${process.pid}`;
    // A variant with its own digest: deleting the plain image would break other files' pulls.
    const { digest, ref } = await scans.publishImage('os', 'http', `deleted-${process.pid}`);
    await deployment('soon-gone', { main: ref });
    const rs = await activeReplicaSet('soon-gone');
    await waitReport('vulnerabilityreports', `replicaset-${rs}-main`);
    assert.equal(
      await deleteManifest({ host: http.host, url: http.url }, ref.slice(http.host.length + 1)),
      digest,
    );
    await deleteReport('vulnerabilityreports', `replicaset-${rs}-main`);
    await operator.waitForLog(
      (l) => l.msg === 'scan failed' && l.reason === 'ImageNotFound' && String(l.image).includes(repo),
      180_000,
    );
    // Another workload is scanned meanwhile.
    await deployment('still-fine', { main: mine.secret.ref, other: mine.node.ref });
    const fine = await activeReplicaSet('still-fine');
    await waitReport('vulnerabilityreports', `replicaset-${fine}-main`);
  });

  it('an image from the TLS registry (self-signed) scans with trivy.insecureRegistries', async () => {
    const published = await scans.publishImage('node', 'tls');
    await deployment('tls-app', { main: published.ref });
    const rs = await activeReplicaSet('tls-app');
    const report = await waitReport('vulnerabilityreports', `replicaset-${rs}-main`);
    assert.equal(report.report.registry.server, scans.registries.tls.host);
    assert.ok(vulnIds(report).includes('CVE-2020-28500'));
  });

  it('a scan Job over trivy.resources.limits.memory is OOMKilled by the node, reported with its reason and retried', async () => {
    await operator.stop();
    operator = await startScanner({
      OPERATOR_TRIVY_RESOURCES_REQUESTS_MEMORY: '16Mi',
      OPERATOR_TRIVY_RESOURCES_LIMITS_MEMORY: '16Mi',
    });
    // A digest of its own: any earlier scan of it would be reused instead of run.
    const published = await scans.publishImage('java', 'http', `oom-${process.pid}`);
    await deployment('oom', { main: published.ref });
    const rs = await activeReplicaSet('oom');
    const isOom = (l: Record<string, unknown>) =>
      l.msg === 'scan failed' && l.reason === 'OOMKilled' && String(l.image).includes(`/oom-${process.pid}@`);
    const first = await operator.waitForLog(isOom, 240_000);
    assert.match(String(first.message), /OOMKilled.*16Mi.*trivy\.resources\.limits\.memory/);
    await operator.waitForLog((l) => isOom(l) && l !== first, 120_000);
    const event = await waitUntil('a ScanFailed Event naming OOMKilled', async () => {
      const events = await core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: `involvedObject.name=${rs}`,
      });
      return events.items.find((e) => e.reason === 'ScanFailed' && /OOMKilled/.test(e.message ?? ''));
    });
    assert.ok(event);
    await waitUntil('the pod_killed failure count', async () =>
      /trivy_lookout_scan_failures_total\{reason="pod_killed"\} [1-9]/.test(await scrape()),
    );
    await operator.stop();
    operator = await startScanner();
    await waitReport('vulnerabilityreports', `replicaset-${rs}-main`, 240_000);
  });

  it('loses no report and starts no duplicate Job when the operator restarts mid-scan', async () => {
    const published = await scans.publishImage('secret', 'tls', `restart-${process.pid}`);
    await deployment('restart', { main: published.ref });
    const job = await waitUntil(
      'the scan Job',
      () => jobsCreated.find((j) => j.image.includes(`/restart-${process.pid}@`)),
      120_000,
    );
    assert.equal(await operator.stop(), 0);
    operator = await startScanner();
    const rs = await activeReplicaSet('restart');
    const report = await waitReport('exposedsecretreports', `replicaset-${rs}-main`);
    assert.equal(report.report.secrets?.length, expectedFindings.secret.v1.secrets.length);
    assert.equal(
      jobsCreated.filter((j) => j.image === job.image).length,
      1,
      'the running Job was adopted, not duplicated',
    );
  });
});
