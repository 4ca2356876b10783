import { CLUSTER, SEVERITY_ANY_CASE, UIDS, cluster, datasource, sel, severity } from './common.ts';
import {
  Grid,
  barGauge,
  dashboard,
  queryVariable,
  stat,
  steps,
  table,
  timeseries,
  type Dashboard,
} from './grafana.ts';

const FRAMEWORK = 'title=~"$framework"';
/** Controls of each framework by status, replicas folded. */
const controls = (...matchers: string[]) =>
  `max by (cluster, title, status) (${sel('trivy_cluster_compliance', CLUSTER, FRAMEWORK, ...matchers)})`;

const SCOPE =
  'ClusterComplianceReports are cluster-scoped: there is no namespace filter on this dashboard, and a report counts nothing until its first evaluation.';

export function complianceDashboard(): Dashboard {
  const grid = new Grid();
  grid.row('Frameworks');
  grid.add(
    stat({
      title: 'Failing controls',
      description: `Controls that fail, summed over the selected frameworks. ${SCOPE}`,
      query: { expr: `sum(${controls('status="Fail"')})` },
      thresholds: steps('green', ['orange', 1]),
    }),
    6,
    5,
  );
  grid.add(
    stat({
      title: 'Passing controls',
      description: `Controls that pass, summed over the selected frameworks. ${SCOPE}`,
      query: { expr: `sum(${controls('status="Pass"')})` },
      color: 'green',
    }),
    6,
    5,
  );
  grid.add(
    barGauge({
      title: 'Controls passing, by framework',
      description: `Share of each framework’s controls that pass. ${SCOPE}`,
      queries: [
        {
          expr: `sum by (cluster, title) (${controls('status="Pass"')}) / sum by (cluster, title) (${controls()})`,
          legend: '{{title}}',
        },
      ],
      unit: 'percentunit',
      min: 0,
      max: 1,
      thresholds: steps('red', ['orange', 0.5], ['yellow', 0.8], ['green', 1]),
    }),
    12,
    5,
  );
  grid.add(
    table({
      title: 'Pass and fail by framework',
      description: `Failing and passing controls of each compliance framework (CIS, NSA, Pod Security Standards…). ${SCOPE}`,
      queries: [
        { expr: `sum by (cluster, title) (${controls('status="Fail"')})`, legend: 'Failing' },
        { expr: `sum by (cluster, title) (${controls('status="Pass"')})`, legend: 'Passing' },
      ],
      rename: { cluster: 'Cluster', title: 'Framework' },
      order: ['Cluster', 'Framework', 'Failing', 'Passing'],
      sortBy: { column: 'Failing', desc: true },
      colored: {
        Failing: steps('green', ['orange', 1]),
      },
    }),
    12,
    8,
  );
  grid.add(
    timeseries({
      title: 'Failing controls over time',
      description: `Failing controls per framework; each step is an evaluation (on the report’s cron, every 6 hours by default). ${SCOPE}`,
      queries: [{ expr: `sum by (cluster, title) (${controls('status="Fail"')})`, legend: '{{title}}' }],
      min: 0,
    }),
    12,
    8,
  );

  grid.row('Controls');
  grid.add(
    table({
      title: 'Failing controls',
      description: `Each failing control with its severity and the number of failed checks behind it, worst first. Needs operator.metricsClusterComplianceInfo (env OPERATOR_METRICS_CLUSTER_COMPLIANCE_INFO); reports of type "all" are not exported there. ${SCOPE}`,
      queries: [
        {
          expr: `max by (cluster, title, compliance_id, compliance_name, severity) (${sel('trivy_compliance_info', CLUSTER, FRAMEWORK, 'status="Fail"', SEVERITY_ANY_CASE)})`,
          legend: 'Failed checks',
        },
      ],
      rename: {
        cluster: 'Cluster',
        title: 'Framework',
        compliance_id: 'Control',
        compliance_name: 'Name',
        severity: 'Severity',
      },
      order: ['Cluster', 'Framework', 'Control', 'Name', 'Severity', 'Failed checks'],
      sortBy: { column: 'Failed checks', desc: true },
    }),
    24,
    12,
  );

  return dashboard({
    uid: UIDS.compliance,
    title: 'Trivy Lookout / Compliance',
    description: `Pass and fail of the cluster compliance frameworks (ClusterComplianceReports: CIS, NSA, Pod Security Standards) and their failing controls. ${SCOPE}`,
    tags: ['compliance'],
    variables: [
      datasource(),
      cluster(),
      queryVariable({
        name: 'framework',
        label: 'Framework',
        description: 'Compliance frameworks (the report’s spec.compliance.title).',
        query: `label_values(${sel('trivy_cluster_compliance', CLUSTER)}, title)`,
        multi: true,
        includeAll: true,
        allValue: '.*',
      }),
      severity(),
    ],
    panels: grid.panels(),
  });
}
