/**
 * The quick start's sample cluster content: a few namespaces, Deployments sharing images, a
 * CronJob and a privileged DaemonSet, and the recorded Trivy results the stand-in scanner replays
 * for their images (sample data: nothing is pulled or scanned for real offline).
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
import { repoRoot } from '../test/harness/tools.ts';

const fixtures = path.join(repoRoot, 'test', 'fixtures');

/** Image → recorded Trivy JSON replayed for it. */
export const sampleScanResults: Record<string, string> = {
  // Sample data with one CRITICAL finding, so the quick start has an alert to show.
  'nginx:1.27': path.join(fixtures, 'trivy', 'sample-nginx-critical.json'),
  'ghcr.io/acme/payments-api:2.3.0': path.join(fixtures, 'trivy', 'debian-12-secret.json'),
  'redis:7.2': path.join(fixtures, 'trivy-replay', 'alpine-3.10.json'),
  'registry.example.com/tools/log-agent:1.4': path.join(
    fixtures,
    'trivy-replay',
    'alpine-3.10-with-secrets.json',
  ),
};

export const sampleNamespaces = ['shop', 'payments', 'batch', 'monitoring-agents'];

export async function createSampleWorkloads(kc: KubeConfig): Promise<void> {
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
  const spec = (images: Record<string, string>, extra: Partial<V1PodSpec> = {}): V1PodSpec => ({
    containers: Object.entries(images).map(([name, image]) => ({ name, image })),
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
  await deployment('shop', 'storefront', 3, spec({ web: 'nginx:1.27' }));
  await deployment('shop', 'cart', 2, spec({ web: 'nginx:1.27', cache: 'redis:7.2' }));
  await deployment('payments', 'payments-api', 2, spec({ api: 'ghcr.io/acme/payments-api:2.3.0' }));
  await deployment('payments', 'sessions', 1, spec({ redis: 'redis:7.2' }));
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
                spec: spec({ export: 'ghcr.io/acme/payments-api:2.3.0' }, { restartPolicy: 'Never' }),
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
              hostPID: true,
              containers: [
                {
                  name: 'agent',
                  image: 'registry.example.com/tools/log-agent:1.4',
                  securityContext: { privileged: true },
                },
              ],
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
