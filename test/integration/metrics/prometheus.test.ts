import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Prometheus, type PromSample } from '../../harness/prometheus.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { fixture } from '../../unit/metrics/support.ts';
import { eventually, familyLines, Reports, scrape, startExporter, type RunningExporter } from './support.ts';

/** Polls a query until it returns exactly these values (sorted), as the scrapes catch up. */
async function expectValues(prometheus: Prometheus, expr: string, values: string[]): Promise<PromSample[]> {
  return eventually(async () => {
    const result = await prometheus.query(expr);
    assert.deepEqual(result.map((sample) => sample.value[1]).sort(), [...values].sort(), expr);
    return result;
  }, 30_000);
}

describe('a real Prometheus scraping the exporter', () => {
  let cluster: TestCluster;
  let namespace: string;
  let reports: Reports;
  let exporter: RunningExporter;
  let prometheus: Prometheus | undefined;

  before(async () => {
    cluster = await useTestCluster();
    namespace = await cluster.createNamespace('prometheus');
    reports = new Reports(cluster.kubeConfig());
    exporter = await startExporter(cluster.kubeConfig(), {
      OPERATOR_TARGET_NAMESPACES: namespace,
      OPERATOR_METRICS_VULN_ID_ENABLED: 'true',
      OPERATOR_METRICS_IMAGE_INFO: 'true',
      OPERATOR_METRICS_CONFIG_AUDIT_INFO: 'true',
    });
    exporter.metrics.start();
    await exporter.metrics.waitForSync();
  });
  after(async () => {
    await prometheus?.stop();
    await exporter?.stop();
    await cluster?.release();
  });

  it('scrapes OpenMetrics over gzip, and answers queries with the reports’ numbers', async () => {
    // Two containers running the same image, plus a config audit.
    for (const name of ['replicaset-web-1-web', 'replicaset-api-1-api']) {
      const report = fixture('vulnerabilityreport');
      report.metadata = { ...report.metadata, name, namespace };
      await reports.create(report);
    }
    const audit = fixture('configauditreport');
    audit.metadata = { ...audit.metadata, namespace };
    await reports.create(audit);
    await eventually(async () => {
      const text = (await scrape(exporter.port)).text;
      assert.equal(familyLines(text, 'trivy_image_vulnerabilities', namespace).length, 10);
      assert.equal(familyLines(text, 'trivy_resource_configaudits', namespace).length, 4);
    });

    prometheus = await Prometheus.start({ targets: [`127.0.0.1:${exporter.port}`] });
    const ns = `namespace="${namespace}"`;
    await expectValues(prometheus, 'up{job="trivy-lookout"}', ['1']);
    const critical = await expectValues(
      prometheus,
      `trivy_image_vulnerabilities{${ns},severity="Critical"}`,
      ['2', '2'],
    );
    assert.deepEqual(
      critical.map((sample) => sample.metric.resource_kind),
      ['ReplicaSet', 'ReplicaSet'],
    );
    await expectValues(prometheus, `sum(trivy_lookout_namespace_vulnerabilities{${ns}})`, ['8']);
    await expectValues(prometheus, `sum(trivy_lookout_namespace_vulnerabilities{${ns},fixable="false"})`, [
      '0',
    ]);
    await expectValues(prometheus, `count(trivy_vulnerability_id{${ns}})`, ['8']);
    const image = 'image_repository="aquasecurity/trivy-test-images",image_tag="alpine-39"';
    await expectValues(prometheus, `trivy_lookout_image_containers{${image}}`, ['2']);
    // Per distinct image the findings count once, not once per container.
    await expectValues(prometheus, `sum(trivy_lookout_image_vulnerabilities{${image}})`, ['4']);
    await expectValues(prometheus, `trivy_resource_configaudits{${ns},severity="Medium"}`, ['2']);
    // Gauges named *_info pass Prometheus' OpenMetrics parser too.
    await expectValues(prometheus, `count(trivy_image_info{${ns},image_os_family="alpine"})`, ['2']);
    await expectValues(prometheus, `count(trivy_configaudits_info{${ns},config_audit_success="false"})`, [
      '4',
    ]);
    // Prometheus 2 asks for OpenMetrics and gzip; the exporter's own histogram says what it served.
    // (A scrape is counted once it has been written, so it shows from the next scrape on.)
    await eventually(async () => {
      const served = await prometheus?.query(
        'trivy_lookout_metrics_render_duration_seconds_count{format="openmetrics",encoding="gzip"}',
      );
      assert.ok(Number(served?.[0]?.value[1]) >= 1, JSON.stringify(served));
    }, 30_000);
    // One slow scrape marks the target down until the next: what counts is that it comes back up.
    await eventually(async () => {
      for (const target of await prometheus!.targetHealth()) {
        assert.deepEqual(target, { ...target, health: 'up', lastError: '' }, prometheus!.log());
      }
    }, 30_000);

    // A report goes away: its series go stale in Prometheus and the aggregates follow.
    await reports.delete('VulnerabilityReport', 'replicaset-api-1-api', namespace);
    await expectValues(prometheus, `count(trivy_vulnerability_id{${ns}})`, ['4']);
    await expectValues(prometheus, `trivy_lookout_image_containers{${image}}`, ['1']);
    await expectValues(prometheus, `sum(trivy_lookout_namespace_vulnerabilities{${ns}})`, ['4']);
    await expectValues(prometheus, 'up{job="trivy-lookout"}', ['1']);
  });
});
