import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { fixture, promtoolCheck, type Report } from '../../unit/metrics/support.ts';
import { eventually, familyLines, Reports, scrape, startExporter, type RunningExporter } from './support.ts';

const OPENMETRICS = 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

describe('the report exporter on a real API server', () => {
  let cluster: TestCluster;
  let namespace: string;
  let reports: Reports;
  let exporter: RunningExporter;
  const clusterScoped: string[] = [];

  before(async () => {
    cluster = await useTestCluster();
    namespace = await cluster.createNamespace('metrics');
    reports = new Reports(cluster.kubeConfig());
    exporter = await startExporter(cluster.kubeConfig(), {
      OPERATOR_TARGET_NAMESPACES: namespace,
      OPERATOR_METRICS_VULN_ID_ENABLED: 'true',
      OPERATOR_METRICS_CONFIG_AUDIT_INFO: 'true',
      OPERATOR_METRICS_CLUSTER_COMPLIANCE_INFO: 'true',
      OPERATOR_TRIVY_OPERATOR_REPORT_RESOURCE_LABELS: 'app',
    });
  });
  after(async () => {
    await exporter?.stop();
    for (const name of clusterScoped) await reports.delete('ClusterComplianceReport', name).catch(() => {});
    await cluster?.release();
  });

  const metricsText = async (headers: Record<string, string> = {}) => {
    const res = await scrape(exporter.port, headers);
    assert.equal(res.status, 200);
    return res.text;
  };

  it('is not ready, and answers /metrics with 503, until every report watch has listed', async () => {
    const before = await scrape(exporter.port, {}, '/readyz');
    assert.equal(before.status, 503);
    assert.match(before.text, /report metrics caches/);
    // Held for at most a second before the scraper's timeout, then a failed scrape: never a 200
    // without the report families.
    const held = await scrape(exporter.port, { 'x-prometheus-scrape-timeout-seconds': '1' });
    assert.equal(held.status, 503);
    assert.deepEqual(familyLines(held.text, 'trivy_image_vulnerabilities'), []);
    exporter.metrics.start();
    await exporter.metrics.waitForSync();
    assert.equal((await scrape(exporter.port, {}, '/readyz')).status, 200);
  });

  it('serves exactly the series of a vulnerability report as it is created, updated and deleted', async () => {
    const report = fixture('vulnerabilityreport');
    report.metadata = { ...report.metadata, namespace, labels: { ...report.metadata.labels, app: 'web' } };
    await reports.create(report);

    const image = `namespace="${namespace}",name="replicaset-web-7d9c6b8f5c-web",resource_kind="ReplicaSet",resource_name="web-7d9c6b8f5c",container_name="web",image_registry="ghcr.io",image_repository="aquasecurity/trivy-test-images",image_tag="alpine-39",image_digest="sha256:72c42ed48c3a2db31b7dafe17d275b634664a708d901ec9fd57b1529280f01fb"`;
    const vuln = (
      installed: string,
      fixed: string,
      published: string,
      modified: string,
      resource: string,
      severity: string,
      id: string,
      title: string,
      score: string,
    ) =>
      `trivy_vulnerability_id{${image},installed_version="${installed}",fixed_version="${fixed}",published_date="${published}",last_modified_date="${modified}",resource="${resource}",severity="${severity}",package_type="alpine",pkg_path="",target="ghcr.io/aquasecurity/trivy-test-images:alpine-39 (alpine 3.9.4)",class="os-pkgs",vuln_id="${id}",vuln_title="${title}",vuln_score="${score}",k8s_label_app="web"} 1`;
    const musl = vuln(
      '1.1.20-r4',
      '1.1.20-r5',
      '2019-08-06T16:15:00Z',
      '2020-03-14T19:15:00Z',
      'musl',
      'Critical',
      'CVE-2019-14697',
      '',
      '9.8',
    );
    const muslUtils = vuln(
      '1.1.20-r4',
      '1.1.20-r5',
      '2019-08-06T16:15:00Z',
      '2020-03-14T19:15:00Z',
      'musl-utils',
      'Critical',
      'CVE-2019-14697',
      '',
      '9.8',
    );
    const libcrypto = vuln(
      '1.1.1b-r1',
      '1.1.1d-r0',
      '2019-09-10T17:15:00Z',
      '2020-10-20T22:15:00Z',
      'libcrypto1.1',
      'Medium',
      'CVE-2019-1549',
      'openssl: information disclosure in fork()',
      '4.8',
    );
    const libssl = vuln(
      '1.1.1b-r1',
      '1.1.1d-r2',
      '2019-12-06T18:15:00Z',
      '2021-07-21T11:39:00Z',
      'libssl1.1',
      'Medium',
      'CVE-2019-1551',
      'openssl: Integer overflow in RSAZ modular exponentiation on x86_64',
      '4.8',
    );
    const summary = (counts: number[]) =>
      ['Critical', 'High', 'Medium', 'Low', 'Unknown'].map(
        (severity, i) =>
          `trivy_image_vulnerabilities{${image},severity="${severity}",k8s_label_app="web"} ${counts[i]}`,
      );

    let text = await eventually(async () => {
      const current = await metricsText();
      assert.deepEqual(
        familyLines(current, 'trivy_image_vulnerabilities', namespace),
        summary([2, 0, 2, 0, 0]),
      );
      return current;
    });
    assert.deepEqual(familyLines(text, 'trivy_vulnerability_id', namespace), [
      musl,
      muslUtils,
      libcrypto,
      libssl,
    ]);
    assert.deepEqual(familyLines(text, 'trivy_lookout_namespace_vulnerabilities', namespace), [
      `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="Critical",fixable="true"} 2`,
      `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="Critical",fixable="false"} 0`,
      `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="High",fixable="true"} 0`,
      `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="High",fixable="false"} 0`,
      `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="Medium",fixable="true"} 2`,
      `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="Medium",fixable="false"} 0`,
      `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="Low",fixable="true"} 0`,
      `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="Low",fixable="false"} 0`,
      `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="Unknown",fixable="true"} 0`,
      `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="Unknown",fixable="false"} 0`,
    ]);

    // A rescan: musl is fixed, and a new unfixable High appears.
    const current = report as Report & { report: { vulnerabilities: Record<string, unknown>[] } };
    const rows = current.report.vulnerabilities.slice(1);
    rows.push({
      ...rows[1],
      vulnerabilityID: 'CVE-2024-0001',
      severity: 'HIGH',
      fixedVersion: '',
      title: 'new',
      score: 7.5,
    });
    await reports.patch('VulnerabilityReport', report.metadata.name, namespace, {
      report: {
        summary: { criticalCount: 1, highCount: 1, mediumCount: 2, lowCount: 0, unknownCount: 0 },
        vulnerabilities: rows,
      },
    });
    const high = vuln(
      '1.1.1b-r1',
      '',
      '2019-09-10T17:15:00Z',
      '2020-10-20T22:15:00Z',
      'libcrypto1.1',
      'High',
      'CVE-2024-0001',
      'new',
      '7.5',
    );
    text = await eventually(async () => {
      const updated = await metricsText();
      assert.deepEqual(
        familyLines(updated, 'trivy_image_vulnerabilities', namespace),
        summary([1, 1, 2, 0, 0]),
      );
      return updated;
    });
    assert.deepEqual(familyLines(text, 'trivy_vulnerability_id', namespace), [
      muslUtils,
      libcrypto,
      libssl,
      high,
    ]);
    assert.deepEqual(
      familyLines(text, 'trivy_lookout_namespace_vulnerabilities', `severity="High"`).filter((l) =>
        l.includes(namespace),
      ),
      [
        `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="High",fixable="true"} 0`,
        `trivy_lookout_namespace_vulnerabilities{namespace="${namespace}",severity="High",fixable="false"} 1`,
      ],
    );

    await reports.delete('VulnerabilityReport', report.metadata.name, namespace);
    await eventually(async () => {
      const deleted = await metricsText();
      assert.ok(!deleted.includes(`namespace="${namespace}"`), 'no series of the deleted report remain');
    });
  });

  it('exports config audits with their info series, and drops them with the report', async () => {
    const report = fixture('configauditreport');
    report.metadata = { ...report.metadata, namespace };
    await reports.create(report);
    const resource = `namespace="${namespace}",name="replicaset-web-7d9c6b8f5c",resource_kind="ReplicaSet",resource_name="web-7d9c6b8f5c"`;
    const text = await eventually(async () => {
      const current = await metricsText();
      assert.deepEqual(familyLines(current, 'trivy_resource_configaudits', namespace), [
        `trivy_resource_configaudits{${resource},severity="Critical",k8s_label_app=""} 0`,
        `trivy_resource_configaudits{${resource},severity="High",k8s_label_app=""} 1`,
        `trivy_resource_configaudits{${resource},severity="Medium",k8s_label_app=""} 2`,
        `trivy_resource_configaudits{${resource},severity="Low",k8s_label_app=""} 1`,
      ]);
      return current;
    });
    assert.deepEqual(
      familyLines(text, 'trivy_configaudits_info', namespace)[0],
      `trivy_configaudits_info{${resource},config_audit_id="KSV014",config_audit_title="Root file system is not read-only",config_audit_description="An immutable root file system keeps attackers from tampering with the container's files.",config_audit_category="Kubernetes Security Check",config_audit_success="false",severity="High",k8s_label_app=""} 1`,
    );
    await reports.delete('ConfigAuditReport', report.metadata.name, namespace);
    await eventually(async () =>
      assert.deepEqual(familyLines(await metricsText(), 'trivy_configaudits_info', namespace), []),
    );
  });

  it('turns two compliance reports with the same title into one series each, counted, never an error', async () => {
    const title = `Hardening ${namespace}`;
    const status = (failCount: number) => ({
      updateTimestamp: '2025-06-02T06:00:12Z',
      summary: { failCount, passCount: 2 },
      summaryReport: {
        id: 'k8s-nsa-1.0',
        title,
        controlCheck: [{ id: '1.0', name: 'Non-root containers', severity: 'MEDIUM', totalFail: failCount }],
      },
    });
    for (const [name, failCount] of [
      [`${namespace}-a`, 3],
      [`${namespace}-b`, 7],
    ] as const) {
      const report = fixture('clustercompliancereport') as Report & {
        spec: { compliance: { title: string } };
      };
      delete report.status;
      report.metadata = { name };
      report.spec.compliance.title = title;
      await reports.create(report);
      clusterScoped.push(name);
      await reports.patchStatus('ClusterComplianceReport', name, status(failCount));
    }
    const quoted = `title="${title}",description="National Security Agency - Kubernetes Hardening Guidance"`;
    const text = await eventually(async () => {
      const current = await metricsText();
      assert.deepEqual(familyLines(current, 'trivy_cluster_compliance', title), [
        `trivy_cluster_compliance{${quoted},status="Fail",k8s_label_app=""} 3`,
        `trivy_cluster_compliance{${quoted},status="Pass",k8s_label_app=""} 2`,
      ]);
      assert.ok(
        current.includes('trivy_lookout_metrics_series_conflicts{family="trivy_cluster_compliance"} 2'),
      );
      return current;
    });
    assert.deepEqual(familyLines(text, 'trivy_compliance_info', title), [
      `trivy_compliance_info{${quoted},compliance_id="1.0",compliance_name="Non-root containers",status="Fail",severity="MEDIUM",k8s_label_app=""} 3`,
    ]);
    assert.equal(promtoolCheck(text).status, 0);

    await reports.delete('ClusterComplianceReport', `${namespace}-a`);
    await eventually(async () => {
      const current = await metricsText();
      assert.deepEqual(familyLines(current, 'trivy_cluster_compliance', title), [
        `trivy_cluster_compliance{${quoted},status="Fail",k8s_label_app=""} 7`,
        `trivy_cluster_compliance{${quoted},status="Pass",k8s_label_app=""} 2`,
      ]);
    });
  });

  it('turns duplicate rows and awkward strings into valid metrics and counted warnings', async () => {
    const report = fixture('vulnerabilityreport') as Report & {
      report: { vulnerabilities: Record<string, unknown>[]; artifact: Record<string, string> };
    };
    report.metadata = { ...report.metadata, name: 'awkward', namespace, labels: { app: 'web.v2_ok' } };
    const first = report.report.vulnerabilities[0] ?? {};
    first.title = 'quote " backslash \\ newline \n tab \t emoji 🐛';
    report.report.vulnerabilities.push({ ...first });
    report.report.artifact.tag = '';
    await reports.create(report);

    const variants: Record<string, string>[] = [{}, { accept: OPENMETRICS, 'accept-encoding': 'gzip' }];
    for (const headers of variants) {
      const text = await eventually(async () => {
        const current = await metricsText(headers);
        assert.equal(familyLines(current, 'trivy_vulnerability_id', 'name="awkward"').length, 4);
        return current;
      });
      assert.ok(
        text.includes(
          'vuln_title="quote \\" backslash \\\\ newline \\n tab \t emoji 🐛",vuln_score="9.8",k8s_label_app="web.v2_ok"} 1',
        ),
      );
      assert.ok(
        text.includes(
          'trivy_lookout_metrics_duplicate_series_total{family="trivy_vulnerability_id",scope="report"} 1',
        ),
      );
      if (!('accept' in headers)) {
        const { status, output } = promtoolCheck(text);
        assert.equal(status, 0, output);
        assert.equal(output, '');
      } else {
        assert.ok(text.endsWith('# EOF\n'));
      }
    }
    await reports.delete('VulnerabilityReport', 'awkward', namespace);
  });
});
