/**
 * npm run bench:scan — how many scans and how long it takes to report a cluster of mixed workloads
 * that share images, on the real local control plane with the harness kubelet and the operator as
 * a real process. Prints progress to stderr and one JSON line to stdout.
 */
import path from 'node:path';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type V1Job,
  type V1PodTemplateSpec,
} from '@kubernetes/client-node';
import { ResourceWatcher } from '../src/kube/index.ts';
import { createLogger } from '../src/logging/index.ts';
import { SCAN_JOB_COMPONENT, ScanLabel } from '../src/scanning/names.ts';
import { startControlPlane } from '../test/harness/control-plane.ts';
import { installCrds } from '../test/harness/crds.ts';
import { startHarnessKubelet } from '../test/harness/kubelet/index.ts';
import { startOperator } from '../test/harness/operator-process.ts';
import { repoRoot } from '../test/harness/tools.ts';
import { waitUntil } from '../test/harness/waiting.ts';

const say = (line: string) => process.stderr.write(`[bench:scan] ${line}\n`);
const fixtures = path.join(repoRoot, 'test', 'fixtures', 'trivy');
const IMAGES = [
  'nginx:1.27',
  'redis:7.2',
  'postgres:16',
  'ghcr.io/acme/api:2.4.1',
  'ghcr.io/acme/web:2.4.1',
  'quay.io/acme/worker:1.0',
  'registry.example.com/team/batch:5',
  'busybox:1.36',
];
const SIDECAR = 'ghcr.io/acme/log-shipper:0.9';
const ALL_IMAGES = [...IMAGES, SIDECAR];

const cp = await startControlPlane({ log: say });
try {
  const kc = cp.kubeConfig();
  await installCrds(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const objects = kc.makeApiClient(CustomObjectsApi);
  for (const name of ['trivy-system', 'bench-a', 'bench-b', 'bench-c'])
    await core.createNamespace({ body: { metadata: { name } } });
  await waitUntil('default service accounts', async () =>
    (
      await Promise.all(
        ['bench-a', 'bench-b', 'bench-c'].map((namespace) =>
          core.readNamespacedServiceAccount({ name: 'default', namespace }).then(
            () => true,
            () => false,
          ),
        ),
      )
    ).every(Boolean),
  );

  const images = Object.fromEntries(
    ALL_IMAGES.map((image, i) => [
      image,
      { report: path.join(fixtures, i % 2 ? 'debian-12-secret.json' : 'alpine-3.19.json'), delayMs: 300 },
    ]),
  );
  const kubelet = await startHarnessKubelet(kc, { nodeCount: 2, trivy: { images } });

  const jobs = new Set<string>();
  const jobWatch = new ResourceWatcher<V1Job>(
    kc,
    { path: '/apis/batch/v1/namespaces/trivy-system/jobs', log: createLogger('silent') },
    {
      onEvent: (type, job) => {
        // Scan Jobs only: the leader also runs a node-collector Job per node.
        if (type === 'ADDED' && job.metadata?.labels?.[ScanLabel.component] === SCAN_JOB_COMPONENT) {
          jobs.add(job.metadata?.name ?? '');
        }
      },
    },
  );
  jobWatch.start();
  await jobWatch.waitForSync();

  const operator = await startOperator(cp.kubeconfigPath, {
    OPERATOR_NAMESPACE: 'trivy-system',
    OPERATOR_EXCLUDE_NAMESPACES: 'kube-*,trivy-system',
    OPERATOR_LEADER_ELECTION_ENABLED: 'false',
  });
  await operator.waitForReady(60_000);

  // 100 workloads, mixed kinds, several containers, images shared across them.
  const template = (app: string, containers: string[]): V1PodTemplateSpec => ({
    metadata: { labels: { app } },
    spec: { containers: containers.map((image, i) => ({ name: `c${i}`, image })) },
  });
  const expected: string[] = []; // report names
  const started = Date.now();
  let n = 0;
  const pick = () => IMAGES[n++ % IMAGES.length]!;
  const creates: Promise<unknown>[] = [];
  const namespaces = ['bench-a', 'bench-b', 'bench-c'];
  let containers = 0;
  for (let i = 0; i < 100; i++) {
    const namespace = namespaces[i % 3]!;
    const name = `w${i}`;
    const images = i % 4 === 0 ? [pick(), SIDECAR] : i % 7 === 0 ? [pick(), pick(), SIDECAR] : [pick()];
    containers += images.length;
    const selector = { matchLabels: { app: name } };
    if (i < 45)
      creates.push(
        apps.createNamespacedDeployment({
          namespace,
          body: {
            metadata: { name },
            spec: { replicas: 1 + (i % 3), selector, template: template(name, images) },
          },
        }),
      );
    else if (i < 65)
      creates.push(
        apps.createNamespacedStatefulSet({
          namespace,
          body: {
            metadata: { name },
            spec: { serviceName: name, replicas: 1, selector, template: template(name, images) },
          },
        }),
      );
    else if (i < 75)
      creates.push(
        apps.createNamespacedDaemonSet({
          namespace,
          body: { metadata: { name }, spec: { selector, template: template(name, images) } },
        }),
      );
    else if (i < 90)
      creates.push(
        core.createNamespacedPod({
          namespace,
          body: { metadata: { name, labels: { app: name } }, spec: template(name, images).spec! },
        }),
      );
    else
      creates.push(
        batch.createNamespacedCronJob({
          namespace,
          body: {
            metadata: { name },
            spec: {
              schedule: '0 0 1 1 *',
              jobTemplate: {
                spec: {
                  template: {
                    ...template(name, images),
                    spec: { ...template(name, images).spec!, restartPolicy: 'Never' },
                  },
                },
              },
            },
          },
        }),
      );
    expected.push(`${namespace}/${name}`);
  }
  await Promise.all(creates);
  say(`created 100 workloads with ${containers} containers over ${ALL_IMAGES.length} images`);

  let reports = 0;
  await waitUntil(
    'a report for every container',
    async () => {
      const list = (await objects.listClusterCustomObject({
        group: 'aquasecurity.github.io',
        version: 'v1alpha1',
        plural: 'vulnerabilityreports',
      })) as { items: unknown[] };
      reports = list.items.length;
      return reports >= containers;
    },
    600_000,
    500,
  );
  const seconds = (Date.now() - started) / 1000;
  const metrics = await fetch(`${operator.baseUrl}/metrics`).then((r) => r.text());
  const rss = Number(/^trivy_lookout_process_resident_memory_bytes (\d+)/m.exec(metrics)?.[1] ?? NaN);
  await operator.stop();
  await jobWatch.stop();
  await kubelet.stop();
  const result = {
    workloads: 100,
    containers,
    uniqueImages: ALL_IMAGES.length,
    scanJobs: jobs.size,
    vulnerabilityReports: reports,
    secondsToAllReports: Math.round(seconds * 10) / 10,
    operatorRssMiB: Math.round((rss / 1024 / 1024) * 10) / 10,
  };
  say(
    result.scanJobs === result.uniqueImages
      ? 'one scan per unique image'
      : `WARNING: ${result.scanJobs} scans for ${result.uniqueImages} images`,
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
} finally {
  await cp.stop();
}
