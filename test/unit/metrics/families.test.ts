import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/index.ts';
import {
  buildLayout,
  FAMILIES,
  familyOptionsFromConfig,
  resourceLabelName,
  SeriesStore,
} from '../../../src/metrics/index.ts';
import { ALL_FAMILIES, fixture } from './support.ts';

const IMAGE =
  'namespace,name,resource_kind,resource_name,container_name,image_registry,image_repository,image_tag,image_digest';
const RESOURCE = 'namespace,name,resource_kind,resource_name';

describe('metric families', () => {
  it("use Trivy-Operator's names and label names, in its order", () => {
    const table = Object.fromEntries(
      Object.values(FAMILIES)
        .filter((spec) => !spec.name.startsWith('trivy_lookout_'))
        .map((spec) => [spec.name, spec.labels.join(',')]),
    );
    assert.deepEqual(table, {
      trivy_image_vulnerabilities: `${IMAGE},severity`,
      trivy_vulnerability_id: `${IMAGE},installed_version,fixed_version,published_date,last_modified_date,resource,severity,package_type,pkg_path,target,class,vuln_id,vuln_title,vuln_score`,
      trivy_image_exposedsecrets: `${IMAGE},severity`,
      trivy_exposedsecrets_info: `${IMAGE},secret_category,secret_rule_id,secret_target,secret_title,severity`,
      trivy_resource_configaudits: `${RESOURCE},severity`,
      trivy_configaudits_info: `${RESOURCE},config_audit_id,config_audit_title,config_audit_description,config_audit_category,config_audit_success,severity`,
      trivy_role_rbacassessments: `${RESOURCE},severity`,
      trivy_rbacassessments_info: `${RESOURCE},rbac_assessment_id,rbac_assessment_title,rbac_assessment_description,rbac_assessment_category,rbac_assessment_success,severity`,
      trivy_resource_infraassessments: `${RESOURCE},severity`,
      trivy_infraassessments_info: `${RESOURCE},infra_assessment_id,infra_assessment_title,infra_assessment_description,infra_assessment_category,infra_assessment_success,severity`,
      trivy_clusterrole_clusterrbacassessments: 'name,resource_kind,resource_name,severity',
      trivy_cluster_compliance: 'title,description,status',
      trivy_image_info: `${IMAGE},image_os_family,image_os_name,image_os_eosl`,
      trivy_compliance_info: 'title,description,compliance_id,compliance_name,status,severity',
    });
  });

  it('have help texts that need no escaping in either format', () => {
    for (const spec of Object.values(FAMILIES)) assert.doesNotMatch(spec.help, /["\\\n]/, spec.name);
  });

  it('map report label keys to label names as Trivy-Operator does', () => {
    assert.equal(resourceLabelName('k8s_label_', 'app'), 'k8s_label_app');
    assert.equal(
      resourceLabelName('k8s_label_', 'app.kubernetes.io/name'),
      'k8s_label_app_kubernetes_io_name',
    );
    assert.equal(resourceLabelName('k8s_label_', 'teamOwner'), 'k8s_label_team_owner');
    assert.equal(resourceLabelName('', 'Cost-Center'), 'cost_center');
  });
});

describe('buildLayout', () => {
  it('enables the Trivy-Operator summaries and the aggregates by default, details when asked', () => {
    const defaults = familyOptionsFromConfig(
      loadConfig({}, () => {
        throw new Error('no file');
      }),
    );
    const names = buildLayout(defaults).families.map((family) => family.spec.name);
    assert.deepEqual(names, [
      'trivy_image_vulnerabilities',
      'trivy_image_exposedsecrets',
      'trivy_resource_configaudits',
      'trivy_role_rbacassessments',
      'trivy_resource_infraassessments',
      'trivy_clusterrole_clusterrbacassessments',
      'trivy_cluster_compliance',
      'trivy_lookout_namespace_vulnerabilities',
      'trivy_lookout_image_vulnerabilities',
      'trivy_lookout_image_containers',
    ]);
    assert.equal(buildLayout(ALL_FAMILIES).families.length, Object.keys(FAMILIES).length);
  });

  it('turns every trivy_* family off with findings off, keeping the aggregates and their watch', () => {
    const layout = buildLayout({ ...ALL_FAMILIES, findings: false });
    assert.deepEqual(
      layout.families.map((family) => family.spec.name),
      [
        'trivy_lookout_namespace_vulnerabilities',
        'trivy_lookout_image_vulnerabilities',
        'trivy_lookout_image_containers',
      ],
    );
    assert.deepEqual(layout.kinds, ['VulnerabilityReport']);
  });

  it('leaves the aggregates out with operator.metricsAggregatesEnabled off, and the store emits none', () => {
    const off = familyOptionsFromConfig(
      loadConfig({ OPERATOR_METRICS_AGGREGATES_ENABLED: 'false' }, () => {
        throw new Error('no file');
      }),
    );
    assert.equal(off.aggregates, false);
    const layout = buildLayout(off);
    assert.ok(layout.families.every((family) => !family.spec.name.startsWith('trivy_lookout_')));
    assert.equal(layout.slots.namespaceVulnerabilities, undefined);
    const store = new SeriesStore(layout);
    store.upsert('VulnerabilityReport', fixture('vulnerabilityreport'));
    const names = store.snapshot().families.map((family) => family.family.spec.name);
    assert.deepEqual(names, ['trivy_image_vulnerabilities']);
    // Nothing left at all with findings off too: no watch is needed.
    assert.deepEqual(buildLayout({ ...off, findings: false }).kinds, []);
  });

  it('watches only the kinds the enabled families need', () => {
    assert.deepEqual([...buildLayout(ALL_FAMILIES).kinds].sort(), [
      'ClusterComplianceReport',
      'ClusterRbacAssessmentReport',
      'ConfigAuditReport',
      'ExposedSecretReport',
      'InfraAssessmentReport',
      'RbacAssessmentReport',
      'VulnerabilityReport',
    ]);
  });

  it('appends resource labels to the trivy_* families and drops those whose names clash', () => {
    const layout = buildLayout({
      ...ALL_FAMILIES,
      resourceLabels: ['app', 'team', 'Team', 'severity', 'x.y'],
      resourceLabelsPrefix: '',
    });
    assert.deepEqual(layout.resourceLabels, [
      { key: 'app', name: 'app' },
      { key: 'team', name: 'team' },
      { key: 'x.y', name: 'x_y' },
    ]);
    assert.deepEqual(layout.droppedResourceLabels, ['Team', 'severity']);
    const summary = layout.families.find((family) => family.id === 'imageVulnerabilities');
    assert.deepEqual(summary?.labelNames.slice(-4), ['severity', 'app', 'team', 'x_y']);
    const aggregate = layout.families.find((family) => family.id === 'namespaceVulnerabilities');
    assert.deepEqual(aggregate?.labelNames, ['namespace', 'severity', 'fixable']);
  });
});
