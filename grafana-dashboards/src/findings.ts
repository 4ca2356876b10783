import {
  CHECK_SEVERITIES,
  CLUSTER,
  IMAGE,
  NAMESPACE,
  RESOURCE,
  SEVERITY,
  UIDS,
  cluster,
  datasource,
  imageLink,
  namespace,
  namespaceLink,
  resourcesTable,
  secretWorkloadsTable,
  sel,
  severity,
} from './common.ts';
import { Grid, SEVERITY_COLORS, barGauge, dashboard, stat, steps, table, type Dashboard } from './grafana.ts';

const failing = steps('green', ['orange', 1]);

/** Failed checks of a namespaced check family, each report once (replicas folded). */
const failed = (family: string, ...matchers: string[]) =>
  `max by (${RESOURCE}, severity) (${sel(family, CLUSTER, NAMESPACE, SEVERITY, ...matchers)})`;

/** Resources failing checks, linked to their namespace's dashboard. */
const resourcesByNamespace = (title: string, description: string, family: string) =>
  resourcesTable({ title, description, family, links: { Namespace: [namespaceLink('Namespace')] } });

/** A table of the checks that fail, with how many resources fail each (from an opt-in `*_info` family). */
function checksTable(title: string, description: string, family: string, prefix: string) {
  const labels = `${prefix}_id, ${prefix}_title, ${prefix}_category, severity`;
  return table({
    title,
    description,
    queries: [
      {
        expr: `count by (cluster, ${labels}) (max by (${RESOURCE}, ${labels}) (${sel(family, CLUSTER, NAMESPACE, SEVERITY, `${prefix}_success="false"`)}))`,
        legend: 'Resources failing',
      },
    ],
    rename: {
      cluster: 'Cluster',
      [`${prefix}_id`]: 'Check',
      [`${prefix}_title`]: 'Title',
      [`${prefix}_category`]: 'Category',
      severity: 'Severity',
    },
    order: ['Cluster', 'Check', 'Severity', 'Title', 'Category', 'Resources failing'],
    sortBy: { column: 'Resources failing', desc: true },
  });
}

export function findingsDashboard(): Dashboard {
  const grid = new Grid();
  grid.row('Config audit');
  for (const level of CHECK_SEVERITIES) {
    grid.add(
      stat({
        title: `${level} checks failed`,
        description: `Failed configuration checks of ${level} severity over the workloads and other resources in the selected namespaces (ConfigAuditReports).`,
        query: { expr: `sum(${failed('trivy_resource_configaudits', `severity="${level}"`)})` },
        color: SEVERITY_COLORS[level],
      }),
      5,
      4,
    );
  }
  grid.add(
    stat({
      title: 'Resources failing checks',
      description:
        'Resources in the selected namespaces failing at least one check of the selected severities.',
      query: {
        expr: `count(sum by (${RESOURCE}) (${failed('trivy_resource_configaudits')}) > 0) or vector(0)`,
      },
      thresholds: failing,
    }),
    4,
    4,
  );
  grid.add(
    resourcesByNamespace(
      'Resources failing config checks',
      'Workloads and other resources by failed configuration checks of each severity, worst first.',
      'trivy_resource_configaudits',
    ),
    16,
    9,
  );
  grid.add(
    barGauge({
      title: 'Failed checks by kind',
      description: 'Failed configuration checks of the selected severities by resource kind.',
      queries: [
        {
          expr: `sort_desc(sum by (cluster, resource_kind) (${failed('trivy_resource_configaudits')}))`,
          legend: '{{resource_kind}}',
        },
      ],
      thresholds: failing,
    }),
    8,
    9,
  );
  grid.add(
    checksTable(
      'Failing config checks',
      'The configuration checks that fail, with how many resources in the selected namespaces fail each. Needs operator.metricsConfigAuditInfo (env OPERATOR_METRICS_CONFIG_AUDIT_INFO).',
      'trivy_configaudits_info',
      'config_audit',
    ),
    24,
    8,
  );

  grid.row('RBAC');
  grid.add(
    resourcesByNamespace(
      'Roles failing RBAC checks',
      'Roles in the selected namespaces by failed RBAC checks of each severity (RbacAssessmentReports).',
      'trivy_role_rbacassessments',
    ),
    12,
    8,
  );
  grid.add(
    table({
      title: 'ClusterRoles failing RBAC checks',
      description:
        'ClusterRoles by failed RBAC checks of each severity (ClusterRbacAssessmentReports). Cluster-scoped: the namespace filter does not apply.',
      queries: CHECK_SEVERITIES.map((level) => ({
        expr: `max by (cluster, resource_name) (${sel('trivy_clusterrole_clusterrbacassessments', CLUSTER, SEVERITY, `severity="${level}"`)})`,
        legend: level,
      })),
      rename: { cluster: 'Cluster', resource_name: 'ClusterRole' },
      order: ['Cluster', 'ClusterRole', ...CHECK_SEVERITIES],
      sortBy: { column: 'Critical', desc: true },
    }),
    12,
    8,
  );
  grid.add(
    checksTable(
      'Failing RBAC checks of Roles',
      'The RBAC checks Roles fail, with how many Roles in the selected namespaces fail each. Needs operator.metricsRbacAssessmentInfo (env OPERATOR_METRICS_RBAC_ASSESSMENT_INFO).',
      'trivy_rbacassessments_info',
      'rbac_assessment',
    ),
    24,
    7,
  );

  grid.row('Infrastructure');
  grid.add(
    resourcesByNamespace(
      'Resources failing infrastructure checks',
      'Control-plane and node components by failed infrastructure checks of each severity (InfraAssessmentReports, usually in kube-system).',
      'trivy_resource_infraassessments',
    ),
    12,
    8,
  );
  grid.add(
    checksTable(
      'Failing infrastructure checks',
      'The infrastructure checks that fail, with how many resources fail each. Needs operator.metricsInfraAssessmentInfo (env OPERATOR_METRICS_INFRA_ASSESSMENT_INFO).',
      'trivy_infraassessments_info',
      'infra_assessment',
    ),
    12,
    8,
  );

  grid.row('Exposed secrets');
  const secrets = (...matchers: string[]) =>
    sel('trivy_image_exposedsecrets', CLUSTER, NAMESPACE, SEVERITY, ...matchers);
  grid.add(
    stat({
      title: 'Images with exposed secrets',
      description:
        'Distinct images running in the selected namespaces that contain secrets of the selected severities.',
      query: { expr: `count(max by (cluster, ${IMAGE}) (${secrets()}) > 0) or vector(0)` },
      thresholds: steps('green', ['red', 1]),
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Exposed secrets',
      description: 'Secrets of the selected severities found in those images, each image counted once.',
      query: { expr: `sum(max by (cluster, ${IMAGE}, severity) (${secrets()}))` },
      thresholds: steps('green', ['red', 1]),
    }),
    4,
    4,
  );
  grid.add(
    secretWorkloadsTable(
      'Workloads running images with secrets',
      'Workload containers whose image contains secrets of the selected severities. Rotate the secrets, then rebuild the image without them.',
    ),
    16,
    8,
  );
  grid.add(
    table({
      title: 'Secrets found',
      description:
        'Each secret: the rule that found it, its category and the file it is in (never the secret itself). Needs operator.metricsExposedSecretInfo (env OPERATOR_METRICS_EXPOSED_SECRET_INFO).',
      queries: [
        {
          expr: `max by (cluster, image_repository, image_tag, secret_rule_id, secret_category, secret_target, severity) (${sel('trivy_exposedsecrets_info', CLUSTER, NAMESPACE, SEVERITY)})`,
        },
      ],
      rename: {
        cluster: 'Cluster',
        image_repository: 'Repository',
        image_tag: 'Tag',
        secret_rule_id: 'Rule',
        secret_category: 'Category',
        secret_target: 'File',
        severity: 'Severity',
      },
      order: ['Cluster', 'Repository', 'Tag', 'Severity', 'Rule', 'Category', 'File'],
      links: { Repository: [imageLink('Repository', 'Tag')] },
    }),
    24,
    7,
  );

  return dashboard({
    uid: UIDS.findings,
    title: 'Trivy Lookout / Config audit, RBAC and exposed secrets',
    description:
      'Misconfigurations of workloads and other resources, risky Roles and ClusterRoles, failed infrastructure checks, and secrets exposed in images: what fails, where, and how badly.',
    tags: ['config-audit', 'rbac'],
    variables: [datasource(), cluster(), namespace(), severity()],
    panels: grid.panels(),
  });
}
