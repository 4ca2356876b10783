import {
  CLUSTER,
  IMAGE,
  NAMESPACE,
  SEVERITIES,
  SEVERITY,
  UIDS,
  WORKLOAD,
  cluster,
  datasource,
  imageLink,
  linkTo,
  namespace,
  resourcesTable,
  secretWorkloadsTable,
  sel,
  severity,
  workloadColumns,
} from './common.ts';
import {
  Grid,
  SEVERITY_COLORS,
  barGauge,
  dashboard,
  severityColorOverrides,
  stat,
  steps,
  table,
  timeseries,
  type Dashboard,
} from './grafana.ts';
import { newVulnerabilitiesTable, remediationTable } from './new-findings.ts';

const vulns = (...matchers: string[]) =>
  sel('trivy_image_vulnerabilities', CLUSTER, NAMESPACE, SEVERITY, ...matchers);
/** Each image once per namespace, however many of its workloads run it. */
const perNamespaceImage = (...matchers: string[]) =>
  `max by (cluster, namespace, ${IMAGE}, severity) (${vulns(...matchers)})`;


export function namespaceDashboard(): Dashboard {
  const grid = new Grid();
  grid.row('Vulnerabilities in the selected namespaces');
  for (const level of SEVERITIES) {
    grid.add(
      stat({
        title: level,
        description: `${level} vulnerabilities in the images running in the selected namespaces, each image counted once per namespace however many of its workloads run it.`,
        query: { expr: `sum(${perNamespaceImage(`severity="${level}"`)})` },
        color: SEVERITY_COLORS[level],
      }),
      4,
      4,
    );
  }
  grid.add(
    stat({
      title: 'Workload containers',
      description: 'Workload containers with a vulnerability report in the selected namespaces.',
      query: { expr: `count(max by (cluster, namespace, name) (${vulns()}))` },
      color: 'text',
    }),
    4,
    4,
  );
  grid.add(
    timeseries({
      title: 'Vulnerabilities over time',
      description: 'Vulnerabilities by severity, each image counted once per namespace.',
      queries: [{ expr: `sum by (severity) (${perNamespaceImage()})`, legend: '{{severity}}' }],
      stack: true,
      overrides: severityColorOverrides(),
      min: 0,
    }),
    12,
    8,
  );
  grid.add(
    timeseries({
      title: 'Vulnerabilities by namespace',
      description:
        'Vulnerabilities of the selected severities per namespace, each image counted once per namespace.',
      queries: [{ expr: `sum by (cluster, namespace) (${perNamespaceImage()})`, legend: '{{namespace}}' }],
      min: 0,
    }),
    12,
    8,
  );

  grid.row('Workloads');
  grid.add(
    table({
      title: 'Workload containers',
      description:
        'Every workload container in the selected namespaces with the vulnerabilities of its image by severity and the secrets exposed in it. Click the repository for the image’s CVEs and where else it runs.',
      queries: [
        ...SEVERITIES.map((level) => ({
          expr: `max by (${WORKLOAD}) (${vulns(`severity="${level}"`)})`,
          legend: level,
        })),
        {
          expr: `sum by (${WORKLOAD}) (max by (${WORKLOAD}, severity) (${sel('trivy_image_exposedsecrets', CLUSTER, NAMESPACE, SEVERITY)}))`,
          legend: 'Exposed secrets',
        },
      ],
      rename: workloadColumns,
      order: [...Object.values(workloadColumns), ...SEVERITIES, 'Exposed secrets'],
      sortBy: { column: 'Critical', desc: true },
      links: { Repository: [imageLink('Repository', 'Tag')] },
      colored: {
        Critical: steps('text', ['dark-red', 1]),
        'Exposed secrets': steps('text', ['red', 1]),
      },
    }),
    24,
    12,
  );
  grid.add(
    barGauge({
      title: 'Fixable vs no fix (per workload container)',
      description:
        'Vulnerabilities of the selected severities with and without a fixed version, summed over the workload containers (an image in three workloads counts three times), as the TrivyFixableVulnerabilitiesHigh alert counts them.',
      queries: [
        {
          expr: `sum(max by (cluster, namespace, severity, fixable) (${sel('trivy_lookout_namespace_vulnerabilities', CLUSTER, NAMESPACE, SEVERITY, 'fixable="true"')}))`,
          legend: 'Fixable',
        },
        {
          expr: `sum(max by (cluster, namespace, severity, fixable) (${sel('trivy_lookout_namespace_vulnerabilities', CLUSTER, NAMESPACE, SEVERITY, 'fixable="false"')}))`,
          legend: 'No fix available',
        },
      ],
      thresholds: steps('orange'),
    }),
    24,
    5,
  );

  grid.row('New findings and remediation deadlines');
  grid.add(newVulnerabilitiesTable(), 24, 8);
  grid.add(remediationTable(), 24, 8);

  grid.row('Exposed secrets, config audit and RBAC');
  grid.add(
    secretWorkloadsTable(
      'Workloads with exposed secrets',
      'Workload containers whose image contains secrets of the selected severities.',
    ),
    24,
    6,
  );
  grid.add(
    resourcesTable({
      title: 'Resources failing config checks',
      description:
        'Workloads and other resources in the selected namespaces by failed configuration checks of each severity (ConfigAuditReports). The check names are on the config audit dashboard.',
      family: 'trivy_resource_configaudits',
      links: {
        Name: [
          linkTo(UIDS.findings, 'Config audit details', ['var-namespace=${__data.fields["Namespace"]}']),
        ],
      },
    }),
    12,
    8,
  );
  grid.add(
    resourcesTable({
      title: 'Roles failing RBAC checks',
      description:
        'Roles in the selected namespaces by failed RBAC checks of each severity (RbacAssessmentReports). ClusterRoles are on the config audit dashboard.',
      family: 'trivy_role_rbacassessments',
    }),
    12,
    8,
  );

  return dashboard({
    uid: UIDS.namespace,
    title: 'Trivy Lookout / Namespace',
    description:
      'One or more namespaces in detail: vulnerabilities by severity and over time, every workload container with its image, new High/Critical findings and remediation deadlines, exposed secrets, failed config and RBAC checks.',
    tags: ['vulnerabilities'],
    variables: [datasource(), cluster(), namespace(), severity()],
    panels: grid.panels(),
  });
}
