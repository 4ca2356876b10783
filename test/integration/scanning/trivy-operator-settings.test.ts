/**
 * Trivy-Operator's air-gapped and enterprise settings with real scans: one operator process on the
 * real node with the real Trivy image, where
 * - the vulnerability DB sits in the registry that needs a login (trivy.dbRepositoryUsername/
 *   Password: the scan pod's `trivy registry login` must work or no DB is downloaded);
 * - an image comes from the TLS registry with a self-signed CA that is NOT in
 *   trivy.insecureRegistries, trusted only through trivy.sslCertDir (a host directory with the CA);
 * - trivyOperator.excludeImages, skipResourceByLabels and additionalReportLabels apply.
 */
import assert from 'node:assert/strict';
import { chmodSync, copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { ScanAnnotation } from '../../../src/scanning/names.ts';
import { expectedFindings } from '../../harness/images/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import {
  IMAGE_SCANNING_ONLY,
  useRealScans,
  warmNodeCache,
  watchScanJobs,
  type PublishedImage,
  type RealScans,
} from '../../harness/real-scans.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { waitUntil } from '../../harness/waiting.ts';

const REPORT_TIMEOUT = Number(process.env.TL_REPORT_TIMEOUT_MS ?? 300_000);
const SKIP_LABEL = 'trivy-lookout.test/no-scan';

interface Report {
  metadata: { name: string; labels?: Record<string, string> };
  report: { vulnerabilities?: { vulnerabilityID: string }[] };
}

describe("Trivy-Operator's DB login, private CA, exclusions and report labels, with real scans", () => {
  let cluster: TestCluster;
  let scans: RealScans;
  let operator: OperatorProcess;
  let caDir: string;
  let operatorNs: string;
  let ns: string;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  let objects: CustomObjectsApi;
  const images = {} as Record<'tls' | 'plain' | 'skipped' | 'excluded', PublishedImage>;
  let scanJobs: Awaited<ReturnType<typeof watchScanJobs>>;

  before(async () => {
    cluster = await useTestCluster({ node: true });
    scans = await useRealScans(cluster);
    const { auth, tls } = scans.registries;
    assert.ok(auth.credentials && tls.caFile, 'the harness has a login registry and a TLS one');
    // The DB only where a login is needed.
    const dbRepository = `${auth.host}/trivy-lookout-test/login-${process.pid}/trivy-db`;
    await scans.publishDb('v1', dbRepository);
    images.tls = await scans.publishImage('os', 'tls', `private-ca-${process.pid}`);
    images.plain = await scans.publishImage('os', 'http', `labelled-${process.pid}`);
    images.skipped = await scans.publishImage('os', 'http', `skipped-${process.pid}`);
    images.excluded = await scans.publishImage('os', 'http', `excluded-${process.pid}`);
    // A directory of CA certificates on the node, as trivy.sslCertDir expects.
    // Readable by the scan containers' user (65534), as /etc/ssl/certs is on a node.
    caDir = mkdtempSync(path.join(os.tmpdir(), 'tl-ca-'));
    chmodSync(caDir, 0o755);
    copyFileSync(tls.caFile, path.join(caDir, 'registry-ca.pem'));
    chmodSync(path.join(caDir, 'registry-ca.pem'), 0o644);

    const kc = cluster.kubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    objects = kc.makeApiClient(CustomObjectsApi);
    operatorNs = await cluster.createNamespace('trivy-to-settings');
    ns = await cluster.createNamespace('to-settings');
    scanJobs = await watchScanJobs(cluster, operatorNs);

    const env = scans.operatorEnv(dbRepository);
    operator = await startOperator(cluster.kubeconfigPath, {
      ...env,
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: ns,
      ...IMAGE_SCANNING_ONLY,
      OPERATOR_SCAN_JOB_TIMEOUT: '600s',
      OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
      // The login registry is plain HTTP on a non-private address: Trivy must be told.
      OPERATOR_TRIVY_DB_REPOSITORY_INSECURE: 'true',
      OPERATOR_TRIVY_DB_REPOSITORY_USERNAME: auth.credentials.username,
      OPERATOR_TRIVY_DB_REPOSITORY_PASSWORD: auth.credentials.password,
      // The TLS registry is trusted only through the CA directory.
      OPERATOR_TRIVY_INSECURE_REGISTRIES: '',
      OPERATOR_TRIVY_SSL_CERT_DIR: caDir,
      OPERATOR_TRIVY_OPERATOR_EXCLUDE_IMAGES: `*/trivy-lookout-test/excluded-*:*`,
      OPERATOR_TRIVY_OPERATOR_SKIP_RESOURCE_BY_LABELS: SKIP_LABEL,
      OPERATOR_TRIVY_OPERATOR_ADDITIONAL_REPORT_LABELS: 'team=platform,cost-center=42',
    });
    await operator.waitForReady(60_000);
  });

  after(async () => {
    await operator?.stop();
    await scanJobs?.stop();
    if (apps) await apps.deleteCollectionNamespacedDeployment({ namespace: ns }).catch(() => undefined);
    await cluster?.release();
    if (caDir) rmSync(caDir, { recursive: true, force: true });
  });

  /** A one-replica Deployment on the real node, running the image from the node's cache if there. */
  const deploy = (namespace: string, app: string, image: string, labels: Record<string, string> = {}) =>
    apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: app },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app } },
          template: {
            metadata: { labels: { app, ...labels } },
            spec: {
              ...scans.placement,
              terminationGracePeriodSeconds: 2,
              containers: [{ name: 'main', image, imagePullPolicy: 'IfNotPresent' }],
            },
          },
        },
      },
    });
  const running = (app: string) =>
    waitUntil(
      `a running pod of ${app}`,
      async () =>
        (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${app}` })).items.some(
          (p) => p.status?.phase === 'Running',
        ),
      120_000,
      500,
    );
  const reportsOf = async (app: string, namespace = ns): Promise<Report[]> => {
    const list = (await objects.listNamespacedCustomObject({
      group: 'aquasecurity.github.io',
      version: 'v1alpha1',
      namespace,
      plural: 'vulnerabilityreports',
    })) as { items: Report[] };
    return list.items.filter((r) => r.metadata.name.startsWith(`replicaset-${app}-`));
  };
  const jobsFor = (image: PublishedImage) =>
    [...scanJobs.jobs.values()].filter((ref) => ref.endsWith(`@${image.digest}`)).length;
  const expectedIds = expectedFindings.os.v1.vulnerabilities.map((v) => v.id).sort();

  it('skips a labelled workload and an excluded image, and scans the others through the DB login and the private CA, with the extra labels', async () => {
    // In: first a workload carrying the skip label and one whose image matches excludeImages, both
    // running; then one from the TLS registry and one from the plain registry.
    // Out: the last two get reports with exactly the findings of DB v1 (so the DB came through the
    // login) and the additional labels; the first two get neither a scan Job nor a report.
    await deploy(ns, 'skipped', images.skipped.ref, { [SKIP_LABEL]: 'yes' });
    await deploy(ns, 'excluded', images.excluded.ref);
    await Promise.all([running('skipped'), running('excluded')]);
    await deploy(ns, 'tls', images.tls.ref);
    await deploy(ns, 'plain', images.plain.ref);
    const failures = () => operator.logs().filter((l) => l.msg === 'scan failed');
    /** What a timeout should show: the operator's scan lines and where every pod stands. */
    const state = async () => {
      const pods = [
        ...(await core.listNamespacedPod({ namespace: operatorNs })).items,
        ...(await core.listNamespacedPod({ namespace: ns })).items,
      ].map((p) => ({
        pod: p.metadata?.name,
        phase: p.status?.phase,
        waiting: [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])]
          .map((c) => c.state?.waiting ?? c.state?.terminated)
          .filter(Boolean),
      }));
      const scanLines = operator.logs().filter((l) => /^scan/.test(String(l.msg)));
      return JSON.stringify({ scanLines, pods });
    };
    for (const app of ['tls', 'plain'] as const) {
      const [report] = await waitUntil(
        `the report of ${app}`,
        async () => {
          const found = await reportsOf(app);
          return found.length > 0 ? found : undefined;
        },
        REPORT_TIMEOUT,
        1_000,
      ).catch(async (err: Error) => {
        throw new Error(`${err.message}: ${await state()}`);
      });
      assert.deepEqual(
        (report!.report.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort(),
        expectedIds,
        `${app}: the findings of DB v1`,
      );
      assert.equal(report!.metadata.labels?.team, 'platform');
      assert.equal(report!.metadata.labels?.['cost-center'], '42');
      assert.equal(report!.metadata.labels?.['app.kubernetes.io/managed-by'], 'trivy-operator');
      assert.equal(jobsFor(images[app]), 1, `one scan Job for ${app}`);
    }
    assert.deepEqual(failures(), [], 'no scan failed on the way');
    for (const app of ['skipped', 'excluded'] as const) {
      assert.equal(jobsFor(images[app]), 0, `no scan Job for ${app}`);
      assert.deepEqual(await reportsOf(app), [], `no report for ${app}`);
    }
  });
  it('scans inside the image on its node with trivy.command rootfs: a private image without credentials for the scan', async () => {
    // In: a second operator with trivy.command rootfs; a workload running the os image of the login
    // registry from the node's cache, without credentials, and one running the java image. The scan Jobs get no
    // registry credentials. Out: both reports hold exactly the findings of the image scans of the
    // same images, each from one scan pod pinned to the workload's node that ran Trivy in the image.
    const privateOs = await scans.publishImage('os', 'auth', `rootfs-os-${process.pid}`);
    const java = await scans.publishImage('java', 'http', `rootfs-java-${process.pid}`);
    // On the node already, pulled with credentials from elsewhere: the workload runs it without
    // any (IfNotPresent), so an image-mode scan would be refused by the registry.
    await warmNodeCache(cluster, scans, privateOs);
    const opNs = await cluster.createNamespace('trivy-rootfs');
    const appNs = await cluster.createNamespace('rootfs-apps');
    const dbRepository = scans.dbRepositoryFor(`rootfs-${process.pid}`);
    await scans.publishDb('v1', dbRepository);
    const rootfsJobs = await watchScanJobs(cluster, opNs);
    const rootfs = await startOperator(cluster.kubeconfigPath, {
      ...scans.operatorEnv(dbRepository),
      OPERATOR_NAMESPACE: opNs,
      OPERATOR_TARGET_NAMESPACES: appNs,
      ...IMAGE_SCANNING_ONLY,
      OPERATOR_SCAN_JOB_TIMEOUT: '600s',
      OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
      OPERATOR_TRIVY_COMMAND: 'rootfs',
    });
    try {
      await rootfs.waitForReady(60_000);
      await deploy(appNs, 'private-os', privateOs.ref);
      await deploy(appNs, 'java', java.ref);
      const reportOf = (app: string) =>
        waitUntil(
          `the rootfs report of ${app}`,
          async () => (await reportsOf(app, appNs))[0],
          REPORT_TIMEOUT,
          1_000,
        ).catch((err: Error) => {
          const lines = rootfs.logs().filter((l) => /^scan/.test(String(l.msg)));
          throw new Error(`${err.message}: ${JSON.stringify(lines)}`);
        });
      const ids = (r: Report) => (r.report.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort();
      assert.deepEqual(ids(await reportOf('private-os')), expectedIds, 'os image: the DB v1 findings');
      assert.deepEqual(
        ids(await reportOf('java')),
        expectedFindings.java.v1.vulnerabilities.map((v) => v.id).sort(),
        'java image: the DB v1 findings, jar included',
      );
      const started = rootfs.logs().filter((l) => l.msg === 'scan job started');
      assert.equal(started.length, 2, 'one scan per image');
      // Each ran Trivy inside the image, pinned to the node, with no registry credentials.
      assert.equal(rootfsJobs.objects.size, 2);
      for (const job of rootfsJobs.objects.values()) {
        const pod = job.spec?.template.spec;
        assert.equal(pod?.nodeName, scans.node.name);
        const inImage = pod?.initContainers?.find((c) => c.name === 'scan-filesystem');
        assert.equal(inImage?.image, job.metadata?.annotations?.[ScanAnnotation.imageRef]);
        const names = [...(pod?.initContainers ?? []), ...(pod?.containers ?? [])].flatMap((c) =>
          (c.env ?? []).map((e) => e.name),
        );
        assert.ok(
          !names.includes('TRIVY_USERNAME') && !names.includes('TRIVY_PASSWORD'),
          JSON.stringify(names),
        );
      }
      assert.deepEqual(
        rootfs.logs().filter((l) => l.msg === 'scan failed'),
        [],
      );
    } finally {
      await rootfs.stop();
      await rootfsJobs.stop();
      await apps.deleteCollectionNamespacedDeployment({ namespace: appNs }).catch(() => undefined);
    }
  });
});
