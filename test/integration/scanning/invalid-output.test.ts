/**
 * The one scan outcome no real component here can produce: a scan that exits 0 and prints something
 * that is not Trivy's result (a Trivy image of another make, a wrapper script, a proxy answering
 * instead of the registry). The real Trivy always writes its JSON or fails, so this file keeps the
 * harness kubelet's stand-in `trivy` for exactly that case; every other scan is real
 * (real-node.test.ts).
 *
 * In: a workload whose image's scan prints a JSON fragment. Out: `InvalidOutput` in a ScanFailed
 * Event and a log line, a retry with backoff, no report, and the operator still running and
 * scanning the next image.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { startHarnessKubelet, type HarnessKubelet } from '../../harness/kubelet/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { repoRoot } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

const GARBAGE = 'ghcr.io/acme/broken:1';
const FINE = 'ghcr.io/acme/fine:1';

describe('a scan whose output is not Trivy JSON (stand-in: no real component prints that)', () => {
  let cluster: TestCluster;
  let kubelet: HarnessKubelet;
  let operator: OperatorProcess;
  let ns: string;

  before(async () => {
    cluster = await useTestCluster();
    const kc = cluster.kubeConfig();
    const operatorNs = await cluster.createNamespace('trivy-system');
    ns = await cluster.createNamespace('garbage');
    kubelet = await startHarnessKubelet(kc, {
      nodeNamePrefix: `garbage-node-${process.pid}`,
      trivy: {
        images: {
          [GARBAGE]: { garbage: '{"this is": "not what trivy writes"' },
          [FINE]: { report: path.join(repoRoot, 'test', 'fixtures', 'trivy', 'alpine-3.19.json') },
        },
      },
    });
    operator = await startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: ns,
      OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
      OPERATOR_LEADER_ELECTION_ENABLED: 'false',
      OPERATOR_CLUSTER_COMPLIANCE_ENABLED: 'false',
      OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED: 'false',
      OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED: 'false',
      OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED: 'false',
    });
    await operator.waitForReady(60_000);
  });

  after(async () => {
    await operator?.stop();
    await kubelet?.stop();
    await cluster?.release();
  });

  it('reports InvalidOutput as an Event and a log line, retries, writes no report, and keeps scanning', async () => {
    const apps = cluster.kubeConfig().makeApiClient(AppsV1Api);
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const objects = cluster.kubeConfig().makeApiClient(CustomObjectsApi);
    for (const [name, image] of [
      ['broken', GARBAGE],
      ['fine', FINE],
    ] as const) {
      await apps.createNamespacedDeployment({
        namespace: ns,
        body: {
          metadata: { name },
          spec: {
            selector: { matchLabels: { app: name } },
            template: {
              metadata: { labels: { app: name } },
              spec: { containers: [{ name: 'main', image }] },
            },
          },
        },
      });
    }
    await operator.waitForLog((l) => l.msg === 'scan failed' && l.reason === 'InvalidOutput', 90_000);
    const event = await waitUntil('a ScanFailed Event naming InvalidOutput', async () => {
      const events = await core.listNamespacedEvent({ namespace: ns });
      return events.items.find((e) => e.reason === 'ScanFailed' && /InvalidOutput/.test(e.message ?? ''));
    });
    assert.equal(event.type, 'Warning');
    await waitUntil(
      'a retry',
      () => kubelet.trivy.invocations().filter((i) => i.outcome === 'garbage').length >= 2,
      60_000,
    );
    const reports = async () =>
      (
        (await objects.listNamespacedCustomObject({
          group: 'aquasecurity.github.io',
          version: 'v1alpha1',
          namespace: ns,
          plural: 'vulnerabilityreports',
        })) as { items: { metadata: { labels: Record<string, string> } }[] }
      ).items.map((r) => r.metadata.labels['trivy-operator.resource.name'] ?? '');
    await waitUntil(
      'the fine image reported',
      async () => (await reports()).some((n) => n.startsWith('fine-')),
      90_000,
    );
    assert.ok(!(await reports()).some((n) => n.startsWith('broken-')), 'no report from garbage');
    assert.equal(operator.child.exitCode, null, 'the operator kept running');
  });
});
