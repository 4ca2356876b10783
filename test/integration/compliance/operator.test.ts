/**
 * The operator as a real process: as leader it evaluates the compliance reports on their own
 * cron, and its /metrics serve `trivy_cluster_compliance` (and the opt-in info family) in agreement
 * with the statuses it wrote. The shortest schedule a spec accepts is one minute, so this waits for
 * one minute boundary; the schedule itself is tested on an injected clock in compliance.test.ts.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { API_GROUP, API_VERSION, type ClusterComplianceReport } from '../../../src/crds/index.ts';
import { kubeRequestJson } from '../../../src/kube/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { waitUntil } from '../../harness/waiting.ts';
import { familyLines, Reports, scrape } from '../metrics/support.ts';
import { auditReport, shippedSpec, totalFails } from './support.ts';

describe('compliance in the operator process', () => {
  const suffix = `op-${process.pid}`;
  const nsa = `k8s-nsa-1.0-${suffix}`;
  const baseline = `k8s-pss-baseline-0.1-${suffix}`;
  // Titles are the series' identity; unique ones keep this test's series apart from any other report's.
  const nsaTitle = `NSA hardening (test ${suffix})`;
  const baselineTitle = `PSS baseline (test ${suffix})`;
  let cluster: TestCluster;
  let reports: Reports;
  let operator: OperatorProcess;

  const get = (name: string) =>
    kubeRequestJson<ClusterComplianceReport>(cluster.kubeConfig(), {
      path: `/apis/${API_GROUP}/${API_VERSION}/clustercompliancereports/${name}`,
    });

  before(async () => {
    cluster = await useTestCluster();
    reports = new Reports(cluster.kubeConfig());
    const namespace = await cluster.createNamespace('compliance-op');
    await waitUntil('the compliance report kind to be served', async () => {
      await kubeRequestJson(cluster.kubeConfig(), {
        path: `/apis/${API_GROUP}/${API_VERSION}/clustercompliancereports`,
      });
      return true;
    });
    for (const [id, name, title, reportType] of [
      ['k8s-nsa-1.0', nsa, nsaTitle, 'all'],
      ['k8s-pss-baseline-0.1', baseline, baselineTitle, 'summary'],
    ] as const) {
      const manifest = shippedSpec(id, suffix, { cron: '* * * * *', reportType });
      manifest.metadata.name = name;
      manifest.spec.compliance = { ...manifest.spec.compliance, title };
      await reports.create(manifest as never);
    }
    await reports.create(
      auditReport('ConfigAuditReport', 'daemonset-log-agent', namespace, [
        { id: 'KSV-0017' },
        { id: 'KSV-0023', severity: 'MEDIUM' },
      ]),
    );
    await reports.create(
      auditReport('ConfigAuditReport', 'replicaset-web-6d4cf56db6', namespace, [
        { id: 'KSV012', severity: 'MEDIUM' },
      ]),
    );
    operator = await startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: namespace,
      OPERATOR_TARGET_NAMESPACES: namespace,
      OPERATOR_METRICS_CLUSTER_COMPLIANCE_INFO: 'true',
    });
    await operator.waitForReady();
  });

  after(async () => {
    await operator?.stop();
    for (const name of [nsa, baseline])
      await reports?.delete('ClusterComplianceReport', name).catch(() => {});
    await cluster?.release();
  });

  it('evaluates each report at its cron time and serves the counts it wrote', async () => {
    for (const name of [nsa, baseline]) {
      await operator.waitForLog((l) => l.msg === 'compliance report updated' && l.report === name, 90_000);
    }
    const nsaReport = await get(nsa);
    const baselineReport = await get(baseline);
    assert.deepEqual(
      ['1.0', '1.1', '1.2', '3.0'].map((c) => totalFails(nsaReport).get(c)),
      [1, 0, 1, undefined], // root, read-only FS passes, privileged, manual
    );
    assert.deepEqual(
      ['3', '5', '6'].map((c) => totalFails(baselineReport).get(c)),
      [1, 1, 0],
    );
    assert.deepEqual(baselineReport.status?.summary, { passCount: 9, failCount: 2 });

    await waitUntil(
      'the compliance series',
      async () => {
        const text = (await scrape(Number(new URL(operator.baseUrl).port))).text;
        const series = (title: string) => familyLines(text, 'trivy_cluster_compliance', `title="${title}"`);
        const nsaSummary = nsaReport.status?.summary;
        const expected = [
          `trivy_cluster_compliance{title="${nsaTitle}",description="National Security Agency - Kubernetes Hardening Guidance",status="Fail"} ${nsaSummary?.failCount}`,
          `trivy_cluster_compliance{title="${nsaTitle}",description="National Security Agency - Kubernetes Hardening Guidance",status="Pass"} ${nsaSummary?.passCount}`,
          `trivy_cluster_compliance{title="${baselineTitle}",description="Kubernetes Pod Security Standards - Baseline",status="Fail"} 2`,
          `trivy_cluster_compliance{title="${baselineTitle}",description="Kubernetes Pod Security Standards - Baseline",status="Pass"} 9`,
        ];
        assert.deepEqual([...series(nsaTitle), ...series(baselineTitle)].sort(), expected.sort());
        // The info family: one series per control of the summary report, failed count or 1.
        const info = familyLines(text, 'trivy_compliance_info', `title="${baselineTitle}"`);
        assert.equal(info.length, 11);
        assert.ok(
          info.some(
            (l) => l.includes('compliance_id="3"') && l.includes('status="Fail"') && l.endsWith(' 1'),
          ),
        );
        assert.ok(
          info.some(
            (l) => l.includes('compliance_id="6"') && l.includes('status="Pass"') && l.endsWith(' 1'),
          ),
        );
        return true;
      },
      20_000,
    );
  });
});
