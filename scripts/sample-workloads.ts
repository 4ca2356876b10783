/**
 * The quick start's sample cluster content: a few namespaces, Deployments sharing images, a
 * CronJob and a privileged DaemonSet, all running the test images from the local registry on the
 * real node, where the operator's scan Jobs scan them with the real Trivy and a test DB.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1PodSpec,
} from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { dbFixtureDirs, fixturesDir, type DbVersion } from '../test/harness/images/trivy-db.ts';
import { repoRoot } from '../test/harness/tools.ts';

/** The test images the sample workloads run (references in the local registry). */
export interface SampleImages {
  /** log4j-core 2.14.1: CVE-2021-44228 (CRITICAL). */
  java: string;
  /** lodash 4.17.20. */
  node: string;
  /** Two planted AWS secrets (CRITICAL): fires TrivyExposedSecrets. */
  secret: string;
  /** The Debian base alone. */
  os: string;
}

export const sampleNamespaces = ['shop', 'payments', 'batch', 'monitoring-agents'];

/**
 * Advisories in the test DB `version` (test/fixtures/trivy-db): the entries of its advisory
 * buckets (Debian, Maven, npm), not the `vulnerability` details or the `data-source` map.
 */
export function testDbAdvisoryCount(version: DbVersion): number {
  type Bucket = { bucket?: string; key?: string; pairs?: Bucket[] };
  const leaves = (b: Bucket): number =>
    b.key !== undefined ? 1 : (b.pairs ?? []).reduce((n, p) => n + leaves(p), 0);
  let count = 0;
  for (const dir of dbFixtureDirs[version]) {
    for (const file of readdirSync(path.join(fixturesDir, dir)).filter((f) => f.endsWith('.yaml'))) {
      const buckets = (yaml.load(readFileSync(path.join(fixturesDir, dir, file), 'utf8')) ?? []) as Bucket[];
      for (const b of buckets)
        if (b.bucket !== 'vulnerability' && b.bucket !== 'data-source') count += leaves(b);
    }
  }
  return count;
}

/**
 * Creates the sample workloads; `placement` (nodeSelector + toleration) puts every pod on the
 * real node, where the images are really pulled and run.
 */
export async function createSampleWorkloads(
  kc: KubeConfig,
  images: SampleImages,
  placement: Pick<V1PodSpec, 'nodeSelector' | 'tolerations'>,
): Promise<void> {
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  for (const name of sampleNamespaces) {
    await core.createNamespace({ body: { metadata: { name } } }).catch(() => undefined);
  }
  // Pods are refused until the default ServiceAccount exists.
  for (const namespace of sampleNamespaces) {
    for (let i = 0; i < 100; i++) {
      const ok = await core.readNamespacedServiceAccount({ name: 'default', namespace }).then(
        () => true,
        () => false,
      );
      if (ok) break;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  const spec = (containers: Record<string, string>, extra: Partial<V1PodSpec> = {}): V1PodSpec => ({
    ...placement,
    terminationGracePeriodSeconds: 2,
    containers: Object.entries(containers).map(([name, image]) => ({ name, image })),
    ...extra,
  });
  const deployment = (namespace: string, name: string, replicas: number, podSpec: V1PodSpec) =>
    apps
      .createNamespacedDeployment({
        namespace,
        body: {
          metadata: { name },
          spec: {
            replicas,
            selector: { matchLabels: { app: name } },
            template: { metadata: { labels: { app: name } }, spec: podSpec },
          },
        },
      })
      .catch(() => undefined);
  await deployment('shop', 'storefront', 3, spec({ web: images.java }));
  await deployment('shop', 'cart', 2, spec({ web: images.java, cache: images.node }));
  await deployment('payments', 'payments-api', 2, spec({ api: images.secret }));
  await deployment('payments', 'sessions', 1, spec({ redis: images.node }));
  await batch
    .createNamespacedCronJob({
      namespace: 'batch',
      body: {
        metadata: { name: 'nightly-export' },
        spec: {
          schedule: '0 2 * * *',
          jobTemplate: {
            spec: {
              template: {
                spec: spec({ export: images.secret }, { restartPolicy: 'Never' }),
              },
            },
          },
        },
      },
    })
    .catch(() => undefined);
  await apps
    .createNamespacedDaemonSet({
      namespace: 'monitoring-agents',
      body: {
        metadata: { name: 'log-agent' },
        spec: {
          selector: { matchLabels: { app: 'log-agent' } },
          template: {
            metadata: { labels: { app: 'log-agent' } },
            spec: {
              ...spec({}, { hostPID: true }),
              containers: [{ name: 'agent', image: images.os, securityContext: { privileged: true } }],
            },
          },
        },
      },
    })
    .catch(() => undefined);
}

/**
 * The shipped compliance reports (deploy/compliance), with a one-minute schedule instead of six
 * hours so the quick start shows them evaluated within a minute or two.
 */
export async function createSampleComplianceReports(kc: KubeConfig): Promise<void> {
  const objects = kc.makeApiClient(CustomObjectsApi);
  const dir = path.join(repoRoot, 'deploy', 'compliance');
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml'))) {
    for (const doc of yaml.loadAll(readFileSync(path.join(dir, file), 'utf8'))) {
      const report = doc as { spec: { cron: string } } | null;
      if (!report) continue;
      report.spec.cron = '* * * * *';
      await objects
        .createClusterCustomObject({
          group: 'aquasecurity.github.io',
          version: 'v1alpha1',
          plural: 'clustercompliancereports',
          body: report,
        })
        .catch(() => undefined);
    }
  }
}
