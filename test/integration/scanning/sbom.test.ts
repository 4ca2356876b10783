/**
 * SBOM reports from real scans on the real node (issue #16): a workload's containers get an
 * SbomReport each and their images a ClusterSbomReport (operator.clusterSbomCacheEnabled), made from
 * the same real Trivy run as the VulnerabilityReport (one scan Job per image), with Trivy-Operator's
 * field names as the CRD has them; the VulnerabilityReport carries Trivy-Operator's default fields
 * only. With every image scanner off, the operator scans nothing and serves metrics.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, type V1Job } from '@kubernetes/client-node';
import { API_GROUP_VERSION, rawCrdManifestFor, type SbomReportData } from '../../../src/crds/index.ts';
import { ResourceWatcher } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import { clusterSbomReportName } from '../../../src/reports/index.ts';
import { SCAN_JOB_COMPONENT, ScanLabel } from '../../../src/scanning/names.ts';
import { debianPackages } from '../../harness/images/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { useRealScans, type PublishedImage, type RealScans } from '../../harness/real-scans.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { waitUntil } from '../../harness/waiting.ts';
import { validateResource } from '../../unit/crds/schema-validator.ts';

interface ReportObject<R> {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
  report: R;
}

/** The vulnerability fields Trivy-Operator v0.32.0 writes without additionalVulnerabilityReportFields (io.go). */
const TRIVY_OPERATOR_DEFAULT_FIELDS = new Set([
  'vulnerabilityID',
  'resource',
  'installedVersion',
  'fixedVersion',
  'publishedDate',
  'lastModifiedDate',
  'severity',
  'title',
  'primaryLink',
  'links',
  'score',
  'target',
  'packagePURL',
]);

describe('SBOM reports from real scans on the real node', () => {
  let cluster: TestCluster;
  let scans: RealScans;
  let operator: OperatorProcess | undefined;
  let operatorNs: string;
  let ns: string;
  let dbRepository: string;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  let objects: CustomObjectsApi;
  let jobWatch: ResourceWatcher<V1Job>;
  const jobsByImage = new Map<string, number>();
  const images = {} as Record<'java' | 'os', PublishedImage>;
  const clusterReports: string[] = [];

  before(async () => {
    cluster = await useTestCluster({ node: true });
    scans = await useRealScans(cluster);
    dbRepository = scans.dbRepositoryFor(`sbom-${process.pid}`);
    // Digests of this file's own: reports are reused per digest across the shared cluster.
    for (const image of ['java', 'os'] as const)
      images[image] = await scans.publishImage(image, 'http', `sbom-${process.pid}/${image}`);
    await scans.publishDb('v1', dbRepository);
    const kc = cluster.kubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    objects = kc.makeApiClient(CustomObjectsApi);
    operatorNs = await cluster.createNamespace('sbom-operator');
    ns = await cluster.createNamespace('sbom-apps');
    jobWatch = new ResourceWatcher<V1Job>(
      kc,
      { path: `/apis/batch/v1/namespaces/${operatorNs}/jobs`, log: createLogger('silent') },
      {
        onEvent: (type, job) => {
          if (type !== 'ADDED' || job.metadata?.labels?.[ScanLabel.component] !== SCAN_JOB_COMPONENT) return;
          const image = job.metadata?.annotations?.['trivy-lookout.dev/image-ref'] ?? '';
          jobsByImage.set(image, (jobsByImage.get(image) ?? 0) + 1);
        },
      },
    );
    jobWatch.start();
    await jobWatch.waitForSync();
  });

  after(async () => {
    await operator?.stop();
    await jobWatch?.stop();
    for (const name of clusterReports) {
      await objects
        .deleteClusterCustomObject({
          group: 'aquasecurity.github.io',
          version: 'v1alpha1',
          plural: 'clustersbomreports',
          name,
        })
        .catch(() => undefined);
    }
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

  const start = (extra: Record<string, string>) =>
    startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: ns,
      OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
      OPERATOR_SCAN_JOB_TIMEOUT: '600s',
      OPERATOR_LEADER_ELECTION_ENABLED: 'false',
      OPERATOR_CLUSTER_COMPLIANCE_ENABLED: 'false',
      OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED: 'false',
      OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED: 'false',
      OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED: 'false',
      ...scans.operatorEnv(dbRepository),
      ...extra,
    });

  const deploy = (name: string, containers: Record<string, string>) =>
    apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name, namespace: ns },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: {
              ...scans.placement,
              terminationGracePeriodSeconds: 2,
              containers: Object.entries(containers).map(([container, image]) => ({
                name: container,
                image,
              })),
            },
          },
        },
      },
    });

  const activeReplicaSet = (name: string) =>
    waitUntil(
      `the ReplicaSet of ${name}`,
      async () =>
        (await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: `app=${name}` })).items[0]
          ?.metadata?.name,
      60_000,
    );

  const get = async <R>(plural: string, name: string, namespaced = true) => {
    try {
      const common = { group: 'aquasecurity.github.io', version: 'v1alpha1', plural, name };
      return (await (namespaced
        ? objects.getNamespacedCustomObject({ ...common, namespace: ns })
        : objects.getClusterCustomObject(common))) as ReportObject<R>;
    } catch {
      return undefined;
    }
  };

  it('writes an SbomReport per container and a ClusterSbomReport per image from the one scan of each image', async () => {
    operator = await start({ OPERATOR_CLUSTER_SBOM_CACHE_ENABLED: 'true' });
    await operator.waitForReady(60_000);
    await deploy('shop', { app: images.java.ref, side: images.os.ref });
    const rs = await activeReplicaSet('shop');

    for (const [container, image] of [
      ['app', images.java],
      ['side', images.os],
    ] as const) {
      const name = `replicaset-${rs}-${container}`;
      const sbom = await waitUntil(
        `SbomReport ${name}`,
        () => get<SbomReportData>('sbomreports', name),
        480_000,
        1_000,
      );
      // Metadata as for the other reports: owned by the workload, its labels, no report-ttl (as
      // Trivy-Operator's SbomReports).
      assert.equal(sbom.kind, 'SbomReport');
      assert.equal(sbom.metadata.labels['trivy-operator.container.name'], container);
      assert.equal(sbom.metadata.labels['trivy-operator.resource.kind'], 'ReplicaSet');
      assert.equal(sbom.metadata.labels['app.kubernetes.io/managed-by'], 'trivy-operator');
      assert.deepEqual(
        sbom.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.controller]),
        [['ReplicaSet', rs, true]],
      );
      assert.equal(
        sbom.metadata.annotations?.['trivy-operator.aquasecurity.github.io/report-ttl'],
        undefined,
      );
      // Field names as the CRD has them (Trivy-Operator's): the object validates.
      assert.deepEqual(
        validateResource({ ...sbom, apiVersion: API_GROUP_VERSION }, rawCrdManifestFor('SbomReport')),
        [],
      );
      const { report } = sbom;
      assert.equal(report.artifact.digest, image.digest);
      assert.equal(report.scanner.name, 'Trivy');
      assert.equal(report.components.bomFormat, 'CycloneDX');
      assert.deepEqual(
        report.components.metadata?.tools?.components?.map((t) => t.name),
        ['trivy'],
      );
      assert.equal(report.components.metadata?.component?.type, 'container');
      const names = (report.components.components ?? []).map((c) => c.name);
      for (const pkg of debianPackages)
        assert.ok(names.includes(pkg), `${container}: ${pkg} in ${names.join(',')}`);
      if (container === 'app') assert.ok(names.includes('log4j-core'), names.join(','));
      assert.equal(report.summary.componentsCount, names.length + 1);
      assert.equal(report.summary.dependenciesCount, report.components.dependencies?.length);
      assert.equal('vulnerabilities' in report.components, false);

      // The image's ClusterSbomReport, named as Trivy-Operator names it.
      const clusterName = clusterSbomReportName(report);
      clusterReports.push(clusterName);
      const cached = await waitUntil(
        `ClusterSbomReport ${clusterName}`,
        () => get<SbomReportData>('clustersbomreports', clusterName, false),
        60_000,
        1_000,
      );
      assert.equal(cached.metadata.labels['resource-image-id'], clusterName);
      assert.deepEqual(cached.report.components.components, report.components.components);
      assert.deepEqual(
        validateResource(
          { ...cached, apiVersion: API_GROUP_VERSION },
          rawCrdManifestFor('ClusterSbomReport'),
        ),
        [],
      );

      // The VulnerabilityReport of the same scan has Trivy-Operator's default fields only.
      const vuln = await waitUntil(
        `VulnerabilityReport ${name}`,
        () => get<{ vulnerabilities: Record<string, unknown>[] }>('vulnerabilityreports', name),
        60_000,
        1_000,
      );
      assert.ok(vuln.report.vulnerabilities.length > 0);
      for (const v of vuln.report.vulnerabilities) {
        for (const key of Object.keys(v))
          assert.ok(TRIVY_OPERATOR_DEFAULT_FIELDS.has(key), `${container}: ${key}`);
        assert.deepEqual(v.links, []);
        assert.equal(v.target, '');
      }
      // One scan Job for the image: the SBOM came from the same Trivy run.
      const jobs = [...jobsByImage].filter(([ref]) => ref.endsWith(`@${image.digest}`));
      assert.deepEqual(
        jobs.map(([, count]) => count),
        [1],
      );
    }
  });

  it('with every image scanner off, scans nothing and still serves metrics', async () => {
    await operator?.stop();
    operator = await start({
      OPERATOR_VULNERABILITY_SCANNER_ENABLED: 'false',
      OPERATOR_EXPOSED_SECRET_SCANNER_ENABLED: 'false',
      OPERATOR_SBOM_GENERATION_ENABLED: 'false',
    });
    await operator.waitForReady(60_000);
    await operator.waitForLog((line) => line.msg === 'caches synced; ready', 60_000);
    // No scanner was made: nothing of it logs, whatever the workloads do.
    assert.equal(
      operator.logs().some((line) => line.component === 'scanner'),
      false,
    );
    const metrics = await fetch(`${operator.baseUrl}/metrics`);
    assert.equal(metrics.status, 200);
    assert.match(await metrics.text(), /trivy_image_vulnerabilities\{/);
  });
});
