import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildLayout, renderReport, type RenderedReport } from '../../../src/metrics/index.ts';
import type { ReportKindName } from '../../../src/crds/index.ts';
import { ALL_FAMILIES, fixture, promtoolCheck, type Report } from './support.ts';

const layout = buildLayout(ALL_FAMILIES);

function render(kind: ReportKindName, report: unknown): RenderedReport {
  return renderReport(kind, report, layout);
}

/** The lines of one family, without their trailing line feeds. */
function lines(rendered: RenderedReport, id: keyof typeof layout.slots): string[] {
  const slot = layout.slots[id];
  assert.notEqual(slot, undefined, `${id} is enabled`);
  return (rendered.lines[slot ?? -1] ?? []).map((line) => line.replace(/\n$/, ''));
}

function warnings(rendered: RenderedReport): Record<string, number> {
  return Object.fromEntries(rendered.warnings);
}

/** Every family's lines of a report, with headers, through promtool. */
function assertValidExposition(rendered: RenderedReport): void {
  let text = '';
  for (const family of layout.families) {
    const familyLines = rendered.lines[family.slot];
    if (!familyLines) continue;
    text += `# HELP ${family.spec.name} x\n# TYPE ${family.spec.name} gauge\n${familyLines.join('')}`;
  }
  const { status, output } = promtoolCheck(text);
  assert.equal(status, 0, output);
}

const WEB_IMAGE =
  'namespace="default",name="replicaset-web-7d9c6b8f5c-web",resource_kind="ReplicaSet",resource_name="web-7d9c6b8f5c",container_name="web",image_registry="ghcr.io",image_repository="aquasecurity/trivy-test-images",image_tag="alpine-39",image_digest="sha256:72c42ed48c3a2db31b7dafe17d275b634664a708d901ec9fd57b1529280f01fb"';

describe('renderReport: VulnerabilityReport', () => {
  const report = fixture('vulnerabilityreport');
  const rendered = render('VulnerabilityReport', report);

  it('writes the five severities from the summary, zeros included', () => {
    assert.deepEqual(lines(rendered, 'imageVulnerabilities'), [
      `trivy_image_vulnerabilities{${WEB_IMAGE},severity="Critical",k8s_label_app=""} 2`,
      `trivy_image_vulnerabilities{${WEB_IMAGE},severity="High",k8s_label_app=""} 0`,
      `trivy_image_vulnerabilities{${WEB_IMAGE},severity="Medium",k8s_label_app=""} 2`,
      `trivy_image_vulnerabilities{${WEB_IMAGE},severity="Low",k8s_label_app=""} 0`,
      `trivy_image_vulnerabilities{${WEB_IMAGE},severity="Unknown",k8s_label_app=""} 0`,
    ]);
    assert.equal(rendered.key, 'default/replicaset-web-7d9c6b8f5c-web');
    assert.equal(rendered.updatedAt, Date.parse('2025-06-02T08:15:42Z'));
    assert.deepEqual(warnings(rendered), {});
  });

  it('writes one trivy_vulnerability_id series per vulnerability', () => {
    const ids = lines(rendered, 'vulnerabilityId');
    assert.equal(ids.length, 4);
    assert.equal(
      ids[2],
      `trivy_vulnerability_id{${WEB_IMAGE},installed_version="1.1.1b-r1",fixed_version="1.1.1d-r0",published_date="2019-09-10T17:15:00Z",last_modified_date="2020-10-20T22:15:00Z",resource="libcrypto1.1",severity="Medium",package_type="alpine",pkg_path="",target="ghcr.io/aquasecurity/trivy-test-images:alpine-39 (alpine 3.9.4)",class="os-pkgs",vuln_id="CVE-2019-1549",vuln_title="openssl: information disclosure in fork()",vuln_score="4.8",k8s_label_app=""} 1`,
    );
  });

  it('writes trivy_image_info with the OS and end-of-life flag', () => {
    assert.deepEqual(lines(rendered, 'imageInfo'), [
      `trivy_image_info{${WEB_IMAGE},image_os_family="alpine",image_os_name="3.9.4",image_os_eosl="true",k8s_label_app=""} 1`,
    ]);
  });

  it('returns the totals and the fixable counts the aggregates need', () => {
    assert.deepEqual(rendered.vulnerabilities, {
      image: {
        registry: 'ghcr.io',
        repository: 'aquasecurity/trivy-test-images',
        tag: 'alpine-39',
        digest: 'sha256:72c42ed48c3a2db31b7dafe17d275b634664a708d901ec9fd57b1529280f01fb',
      },
      total: [2, 0, 2, 0, 0],
      fixable: [2, 0, 2, 0, 0],
    });
  });

  it('copies configured report labels as k8s_label_*', () => {
    const labelled = structuredClone(report);
    labelled.metadata.labels = { ...labelled.metadata.labels, app: 'web' };
    assert.match(
      lines(render('VulnerabilityReport', labelled), 'imageVulnerabilities')[0] ?? '',
      /,k8s_label_app="web"\} 2$/,
    );
  });

  it('falls back to the name annotation when Trivy-Operator had to hash the resource name', () => {
    const hashed = structuredClone(report);
    const labels = { ...hashed.metadata.labels };
    delete labels['trivy-operator.resource.name'];
    labels['trivy-operator.resource.name-hash'] = '5f9c8d7b6';
    hashed.metadata.labels = labels;
    (hashed.metadata as { annotations?: Record<string, string> }).annotations = {
      'trivy-operator.resource.name': 'a-very-long-name',
    };
    assert.match(
      lines(render('VulnerabilityReport', hashed), 'imageVulnerabilities')[0] ?? '',
      /,resource_name="a-very-long-name",/,
    );
  });

  it('drops a repeated row once, counts it, and counts a fixable vulnerability once', () => {
    const duplicated = structuredClone(report) as Report & { report: { vulnerabilities: unknown[] } };
    duplicated.report.vulnerabilities.push(structuredClone(duplicated.report.vulnerabilities[0]));
    const result = render('VulnerabilityReport', duplicated);
    assert.equal(lines(result, 'vulnerabilityId').length, 4);
    assert.deepEqual(Object.fromEntries(result.duplicates), { vulnerabilityId: 1 });
    assert.deepEqual(result.vulnerabilities?.fixable, [2, 0, 2, 0, 0]);
  });

  it('counts fixable rows as such only when they have a fixed version, never beyond the summary', () => {
    const partly = structuredClone(report) as Report & {
      report: { vulnerabilities: { fixedVersion: string }[]; summary: Record<string, number> };
    };
    const first = partly.report.vulnerabilities[0];
    if (first) first.fixedVersion = '';
    partly.report.summary.mediumCount = 1; // fewer than the two fixable medium rows listed
    assert.deepEqual(render('VulnerabilityReport', partly).vulnerabilities?.fixable, [1, 0, 1, 0, 0]);
  });
});

describe('renderReport: other kinds', () => {
  it('ExposedSecretReport: four severities and one info series per secret', () => {
    const rendered = render('ExposedSecretReport', fixture('exposedsecretreport'));
    const image =
      'namespace="default",name="replicaset-payments-api-5c4f8d9b7-api",resource_kind="ReplicaSet",resource_name="payments-api-5c4f8d9b7",container_name="api",image_registry="index.docker.io",image_repository="example/payments-api",image_tag="2.4.1",image_digest=""';
    assert.deepEqual(lines(rendered, 'imageExposedSecrets'), [
      `trivy_image_exposedsecrets{${image},severity="Critical",k8s_label_app=""} 2`,
      `trivy_image_exposedsecrets{${image},severity="High",k8s_label_app=""} 1`,
      `trivy_image_exposedsecrets{${image},severity="Medium",k8s_label_app=""} 0`,
      `trivy_image_exposedsecrets{${image},severity="Low",k8s_label_app=""} 0`,
    ]);
    assert.deepEqual(
      lines(rendered, 'exposedSecretsInfo')[1],
      `trivy_exposedsecrets_info{${image},secret_category="AWS",secret_rule_id="aws-access-key-id",secret_target="/etc/apt/s3auth.conf",secret_title="AWS Access Key ID",severity="Critical",k8s_label_app=""} 1`,
    );
    assert.equal(rendered.vulnerabilities, undefined);
  });

  it('ConfigAuditReport: failed checks by severity, and one info series per check', () => {
    const rendered = render('ConfigAuditReport', fixture('configauditreport'));
    const resource =
      'namespace="default",name="replicaset-web-7d9c6b8f5c",resource_kind="ReplicaSet",resource_name="web-7d9c6b8f5c"';
    assert.deepEqual(lines(rendered, 'resourceConfigAudits'), [
      `trivy_resource_configaudits{${resource},severity="Critical",k8s_label_app=""} 0`,
      `trivy_resource_configaudits{${resource},severity="High",k8s_label_app=""} 1`,
      `trivy_resource_configaudits{${resource},severity="Medium",k8s_label_app=""} 2`,
      `trivy_resource_configaudits{${resource},severity="Low",k8s_label_app=""} 1`,
    ]);
    const info = lines(rendered, 'configAuditsInfo');
    assert.equal(info.length, 5);
    assert.equal(
      info[4],
      `trivy_configaudits_info{${resource},config_audit_id="KSV017",config_audit_title="Privileged container",config_audit_description="Privileged containers share namespaces with the host and get all capabilities.",config_audit_category="Kubernetes Security Check",config_audit_success="true",severity="High",k8s_label_app=""} 1`,
    );
  });

  it('ConfigAuditReport: a check listed several times is one series that passes only if all passed', () => {
    const report = fixture('configauditreport') as Report & { report: { checks: Record<string, unknown>[] } };
    const passing = report.report.checks.find((check) => check.checkID === 'KSV017');
    report.report.checks.push({ ...passing, success: false, scope: { type: 'Container', value: 'sidecar' } });
    const info = lines(render('ConfigAuditReport', report), 'configAuditsInfo');
    assert.equal(info.length, 5);
    assert.match(info[4] ?? '', /config_audit_id="KSV017",.*config_audit_success="false"/);
  });

  it('RbacAssessmentReport, InfraAssessmentReport and ClusterRbacAssessmentReport', () => {
    assert.deepEqual(
      lines(render('RbacAssessmentReport', fixture('rbacassessmentreport')), 'roleRbacAssessments'),
      [
        'trivy_role_rbacassessments{namespace="default",name="role-ci-deployer",resource_kind="Role",resource_name="ci-deployer",severity="Critical",k8s_label_app=""} 1',
        'trivy_role_rbacassessments{namespace="default",name="role-ci-deployer",resource_kind="Role",resource_name="ci-deployer",severity="High",k8s_label_app=""} 0',
        'trivy_role_rbacassessments{namespace="default",name="role-ci-deployer",resource_kind="Role",resource_name="ci-deployer",severity="Medium",k8s_label_app=""} 1',
        'trivy_role_rbacassessments{namespace="default",name="role-ci-deployer",resource_kind="Role",resource_name="ci-deployer",severity="Low",k8s_label_app=""} 0',
      ],
    );
    const infra = render('InfraAssessmentReport', fixture('infraassessmentreport'));
    assert.equal(
      lines(infra, 'resourceInfraAssessments')[1],
      'trivy_resource_infraassessments{namespace="kube-system",name="pod-kube-apiserver-control-plane",resource_kind="Pod",resource_name="kube-apiserver-control-plane",severity="High",k8s_label_app=""} 1',
    );
    assert.match(
      lines(infra, 'infraAssessmentsInfo')[0] ?? '',
      /infra_assessment_id="KCV0001",.*infra_assessment_success="true",severity="Medium"/,
    );
    const cluster = render('ClusterRbacAssessmentReport', fixture('clusterrbacassessmentreport'));
    assert.equal(cluster.key, 'clusterrole-cluster-operator');
    assert.deepEqual(lines(cluster, 'clusterRoleClusterRbacAssessments'), [
      'trivy_clusterrole_clusterrbacassessments{name="clusterrole-cluster-operator",resource_kind="ClusterRole",resource_name="cluster-operator",severity="Critical",k8s_label_app=""} 1',
      'trivy_clusterrole_clusterrbacassessments{name="clusterrole-cluster-operator",resource_kind="ClusterRole",resource_name="cluster-operator",severity="High",k8s_label_app=""} 1',
      'trivy_clusterrole_clusterrbacassessments{name="clusterrole-cluster-operator",resource_kind="ClusterRole",resource_name="cluster-operator",severity="Medium",k8s_label_app=""} 0',
      'trivy_clusterrole_clusterrbacassessments{name="clusterrole-cluster-operator",resource_kind="ClusterRole",resource_name="cluster-operator",severity="Low",k8s_label_app=""} 0',
    ]);
  });

  it('ClusterComplianceReport: fail/pass counts and one info series per control', () => {
    const rendered = render('ClusterComplianceReport', fixture('clustercompliancereport'));
    const title =
      'title="National Security Agency - Kubernetes Hardening Guidance v1.0",description="National Security Agency - Kubernetes Hardening Guidance"';
    assert.deepEqual(lines(rendered, 'clusterCompliance'), [
      `trivy_cluster_compliance{${title},status="Fail",k8s_label_app=""} 2`,
      `trivy_cluster_compliance{${title},status="Pass",k8s_label_app=""} 2`,
    ]);
    assert.deepEqual(lines(rendered, 'complianceInfo').slice(1, 3), [
      `trivy_compliance_info{${title},compliance_id="1.1",compliance_name="Immutable container file systems",status="Fail",severity="LOW",k8s_label_app=""} 5`,
      `trivy_compliance_info{${title},compliance_id="1.2",compliance_name="Preventing privileged containers",status="Pass",severity="HIGH",k8s_label_app=""} 1`,
    ]);
    assert.equal(rendered.updatedAt, Date.parse('2025-06-02T06:00:12Z'));
  });

  it('ClusterComplianceReport: zeros before the first run, no info for reportType all', () => {
    const report = fixture('clustercompliancereport') as Report & {
      spec: { reportType: string };
      status?: unknown;
    };
    delete report.status;
    report.spec.reportType = 'all';
    const rendered = render('ClusterComplianceReport', report);
    assert.deepEqual(
      lines(rendered, 'clusterCompliance').map((line) => line.slice(line.lastIndexOf(' ') + 1)),
      ['0', '0'],
    );
    assert.equal(rendered.lines[layout.slots.complianceInfo ?? -1], undefined);
    assert.deepEqual(warnings(rendered), {});
  });
});

describe('renderReport: malformed reports', () => {
  it('still writes valid series, with every problem counted', () => {
    const rendered = render('VulnerabilityReport', {
      metadata: { name: 'odd', namespace: 'ns', labels: { app: 42 } },
      report: {
        registry: { server: ['not', 'a', 'string'] },
        artifact: { repository: 'library/nginx', tag: 1.27 },
        summary: { criticalCount: '3', highCount: -1, mediumCount: 1.5, lowCount: null },
        vulnerabilities: [
          {
            vulnerabilityID: 'CVE-1',
            severity: 'SEVERE',
            title: 'quote " backslash \\ newline \n end',
            fixedVersion: '2',
          },
          'not a map',
          { vulnerabilityID: 'CVE-2', severity: 7, score: 'high' },
        ],
      },
    });
    assert.deepEqual(lines(rendered, 'imageVulnerabilities'), [
      'trivy_image_vulnerabilities{namespace="ns",name="odd",resource_kind="",resource_name="",container_name="",image_registry="",image_repository="library/nginx",image_tag="1.27",image_digest="",severity="Critical",k8s_label_app="42"} 3',
      'trivy_image_vulnerabilities{namespace="ns",name="odd",resource_kind="",resource_name="",container_name="",image_registry="",image_repository="library/nginx",image_tag="1.27",image_digest="",severity="High",k8s_label_app="42"} 0',
      'trivy_image_vulnerabilities{namespace="ns",name="odd",resource_kind="",resource_name="",container_name="",image_registry="",image_repository="library/nginx",image_tag="1.27",image_digest="",severity="Medium",k8s_label_app="42"} 0',
      'trivy_image_vulnerabilities{namespace="ns",name="odd",resource_kind="",resource_name="",container_name="",image_registry="",image_repository="library/nginx",image_tag="1.27",image_digest="",severity="Low",k8s_label_app="42"} 0',
      'trivy_image_vulnerabilities{namespace="ns",name="odd",resource_kind="",resource_name="",container_name="",image_registry="",image_repository="library/nginx",image_tag="1.27",image_digest="",severity="Unknown",k8s_label_app="42"} 0',
    ]);
    const ids = lines(rendered, 'vulnerabilityId');
    assert.equal(ids.length, 2);
    assert.match(
      ids[0] ?? '',
      /severity="Severe",.*vuln_title="quote \\" backslash \\\\ newline \\n end",vuln_score=""/,
    );
    assert.match(ids[1] ?? '', /severity="7",.*vuln_score="high"/);
    assert.deepEqual(warnings(rendered), {
      invalid_field: 4, // app label 42, registry server list, tag 1.27, severity 7
      invalid_count: 5, // '3', -1, 1.5, null, missing unknownCount
      unknown_severity: 2, // 'SEVERE', 7
      not_an_object: 1, // 'not a map'
    });
    assertValidExposition(rendered);
  });

  it('writes zeros for a report without its report field', () => {
    const rendered = render('ExposedSecretReport', fixture('invalid/exposedsecretreport-missing-report'));
    assert.deepEqual(
      lines(rendered, 'imageExposedSecrets').map((line) => line.slice(line.lastIndexOf(' ') + 1)),
      ['0', '0', '0', '0'],
    );
    assert.equal(warnings(rendered).missing_report, 1);
    assertValidExposition(rendered);
  });

  it('renders the invalid fixtures the API server would reject, without throwing', () => {
    for (const [kind, name] of [
      ['ConfigAuditReport', 'configauditreport-count-as-string'],
      ['RbacAssessmentReport', 'rbacassessmentreport-missing-scanner'],
      ['VulnerabilityReport', 'vulnerabilityreport-unknown-severity'],
      ['ClusterComplianceReport', 'clustercompliancereport-bad-cron'],
    ] as const) {
      assertValidExposition(render(kind, fixture(`invalid/${name}`)));
    }
  });

  it('ignores objects without a name, and anything that is not an object', () => {
    for (const junk of [null, 'text', 42, [], { metadata: {} }, { metadata: { name: 7 } }]) {
      const rendered = render('VulnerabilityReport', junk);
      assert.equal(rendered.key, '');
      assert.ok(rendered.lines.every((familyLines) => familyLines === undefined));
    }
  });
});
