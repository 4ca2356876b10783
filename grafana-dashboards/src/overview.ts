import {
  CLUSTER,
  IMAGE,
  NAMESPACE,
  SEVERITIES,
  SEVERITY,
  UIDS,
  cluster,
  datasource,
  imageLink,
  linkTo,
  namespace,
  namespaceLink,
  runningImages,
  sel,
  severity,
  uniqueImageVulnerabilities,
  type Scope,
} from './common.ts';
import {
  Grid,
  SEVERITY_COLORS,
  barGauge,
  dashboard,
  pieChart,
  severityColorOverrides,
  stat,
  steps,
  table,
  timeseries,
  type Dashboard,
} from './grafana.ts';
import {
  cveVariable,
  meanAgeByNamespace,
  newVulnerabilitiesTable,
  oldestOpenStat,
  overdueByNamespace,
  overdueStat,
  whereDoesCveRunTable,
} from './new-findings.ts';

const scope: Scope = { namespace: true, severity: true };
const unique = (...matchers: string[]) => uniqueImageVulnerabilities(scope, ...matchers);
/** Per namespace and image, each image once per namespace however many workloads run it there. */
const perNamespaceImage = (...matchers: string[]) =>
  `max by (cluster, namespace, ${IMAGE}, severity) (${sel('trivy_image_vulnerabilities', CLUSTER, NAMESPACE, SEVERITY, ...matchers)})`;

const ONCE =
  'Each distinct image (registry, repository, tag, digest) counts once, however many workloads, containers and pods run it; only images running in the selected namespaces count.';

export function overview(): Dashboard {
  const grid = new Grid();
  grid.row('Vulnerabilities in running images (each image counted once)');
  for (const level of SEVERITIES) {
    grid.add(
      stat({
        title: level,
        description: `${level} vulnerabilities. ${ONCE}`,
        query: { expr: `sum(${unique(`severity="${level}"`)})` },
        color: SEVERITY_COLORS[level],
      }),
      4,
      4,
    );
  }
  grid.add(
    stat({
      title: 'Images',
      description:
        'Distinct images (by digest) with a vulnerability report in the selected namespaces. The number of workload containers running them is on the right.',
      query: { expr: `count(${runningImages(scope)})` },
      color: 'text',
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Vulnerable images',
      description: `Images with at least one vulnerability of the selected severities. ${ONCE}`,
      query: { expr: `count(sum by (cluster, ${IMAGE}) (${unique()}) > 0) or vector(0)` },
      thresholds: steps('green', ['orange', 1]),
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Fixable',
      description: `Vulnerabilities of the selected severities for which a fixed package version exists: updating the image removes them. ${ONCE}`,
      query: { expr: `sum(${unique('fixable="true"')})` },
      color: 'orange',
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'No fix available',
      description: `Vulnerabilities of the selected severities without a fixed version yet. ${ONCE}`,
      query: { expr: `sum(${unique('fixable="false"')})` },
      color: 'text',
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Images with exposed secrets',
      description:
        'Images in the selected namespaces in which Trivy found secrets (keys, tokens, passwords) of the selected severities. See the config audit, RBAC and exposed secrets dashboard.',
      query: {
        expr: `count(max by (cluster, ${IMAGE}) (${sel('trivy_image_exposedsecrets', CLUSTER, NAMESPACE, SEVERITY)}) > 0) or vector(0)`,
      },
      thresholds: steps('green', ['red', 1]),
      links: [linkTo(UIDS.findings, 'Exposed secrets', [], ['namespace', 'severity'])],
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Failed config checks',
      description:
        'Configuration checks of the selected severities that workloads and other resources in the selected namespaces fail (ConfigAuditReports). No data when the config audit is off.',
      query: {
        expr: `sum(max by (cluster, namespace, name, severity) (${sel('trivy_resource_configaudits', CLUSTER, NAMESPACE, SEVERITY)}))`,
      },
      thresholds: steps('green', ['orange', 1]),
      links: [linkTo(UIDS.findings, 'Config audit', [], ['namespace', 'severity'])],
    }),
    4,
    4,
  );
  grid.add(
    stat({
      title: 'Failing compliance controls',
      description:
        'Failing controls summed over the ClusterComplianceReports (CIS, NSA, Pod Security Standards). Cluster-scoped: the namespace and severity filters do not apply.',
      query: {
        expr: `sum(max by (cluster, title, status) (${sel('trivy_cluster_compliance', CLUSTER, 'status="Fail"')}))`,
      },
      thresholds: steps('green', ['orange', 1]),
      links: [linkTo(UIDS.compliance, 'Compliance', [], [])],
    }),
    4,
    4,
  );
  grid.stack(4, [
    [
      stat({
        title: 'Workload containers',
        description:
          'Workload containers with a vulnerability report in the selected namespaces (one report per container of a Deployment’s ReplicaSet, StatefulSet, DaemonSet, CronJob, Job or bare Pod; not per pod).',
        query: {
          expr: `count(max by (cluster, namespace, name) (${sel('trivy_image_vulnerabilities', CLUSTER, NAMESPACE, SEVERITY)}))`,
        },
        color: 'text',
      }),
      4,
    ],
    [
      stat({
        title: 'Images failing to scan',
        description:
          'Running images whose latest scan failed (registry refused the credentials, image not pullable, timeout, …): their vulnerabilities are unknown or out of date, and not in the numbers here. All namespaces: an image that never scanned has no report, so no namespace to filter by. Click for the images and reasons on the scan health dashboard.',
        query: {
          expr: `count(group by (cluster, ${IMAGE}) (${sel('trivy_lookout_image_scan_failing', CLUSTER)})) or vector(0)`,
        },
        thresholds: steps('green', ['orange', 1]),
        links: [linkTo(UIDS.scanHealth, 'Scan health', [], ['namespace'])],
      }),
      4,
    ],
  ]);
  grid.add(
    timeseries({
      title: 'Vulnerabilities over time',
      description: `Vulnerabilities by severity. ${ONCE} A step up after a rescan means new CVEs were published for images already running.`,
      queries: [{ expr: `sum by (severity) (${unique()})`, legend: '{{severity}}' }],
      stack: true,
      overrides: severityColorOverrides(),
      min: 0,
    }),
    12,
    8,
  );
  grid.add(
    pieChart({
      title: 'Fixable vs no fix',
      description: `Vulnerabilities of the selected severities with and without a fixed version. ${ONCE}`,
      queries: [
        { expr: `sum(${unique('fixable="true"')})`, legend: 'Fixable' },
        { expr: `sum(${unique('fixable="false"')})`, legend: 'No fix available' },
      ],
    }),
    8,
    8,
  );

  grid.row('By namespace');
  grid.add(
    table({
      title: 'Namespaces',
      description:
        'Vulnerabilities by namespace and severity, each image counted once per namespace; exposed secrets likewise. Click a namespace for its workloads.',
      queries: [
        ...SEVERITIES.map((level) => ({
          expr: `sum by (cluster, namespace) (${perNamespaceImage(`severity="${level}"`)})`,
          legend: level,
        })),
        {
          expr: `count by (cluster, namespace) (group by (cluster, namespace, ${IMAGE}) (${sel('trivy_image_vulnerabilities', CLUSTER, NAMESPACE, SEVERITY)}))`,
          legend: 'Images',
        },
        {
          expr: `sum by (cluster, namespace) (max by (cluster, namespace, ${IMAGE}, severity) (${sel('trivy_image_exposedsecrets', CLUSTER, NAMESPACE, SEVERITY)}))`,
          legend: 'Exposed secrets',
        },
      ],
      rename: { namespace: 'Namespace', cluster: 'Cluster' },
      order: ['Cluster', 'Namespace', ...SEVERITIES, 'Images', 'Exposed secrets'],
      sortBy: { column: 'Critical', desc: true },
      links: { Namespace: [namespaceLink('Namespace')] },
      colored: {
        Critical: steps('text', ['dark-red', 1]),
        'Exposed secrets': steps('text', ['red', 1]),
      },
    }),
    14,
    10,
  );
  grid.add(
    barGauge({
      title: 'Fixable High and Critical by namespace',
      description:
        'Fixable High and Critical vulnerabilities summed over each namespace’s workload containers (an image in three workloads counts three times), exactly as the TrivyFixableVulnerabilitiesHigh alert counts them: orange from 10 (warning), red from 50 (critical). Follows the severity filter.',
      queries: [
        {
          expr: `sort_desc(sum by (cluster, namespace) (max by (cluster, namespace, severity, fixable) (${sel(
            'trivy_lookout_namespace_vulnerabilities',
            CLUSTER,
            NAMESPACE,
            SEVERITY,
            'severity=~"Critical|High"',
            'fixable="true"',
          )})))`,
          legend: '{{namespace}}',
        },
      ],
      thresholds: steps('green', ['orange', 10], ['red', 50]),
      links: [linkTo(UIDS.namespace, 'Namespace details', ['var-namespace=${__field.labels.namespace}'])],
    }),
    10,
    10,
  );

  grid.row('Images');
  grid.add(
    table({
      title: 'Most vulnerable images',
      description: `Images running in the selected namespaces with their vulnerabilities by severity, how many are fixable, and how many workload containers in those namespaces run them. ${ONCE} Click an image for its CVEs and workloads.`,
      queries: [
        ...SEVERITIES.slice(0, 4).map((level) => ({
          expr: `sum by (cluster, ${IMAGE}) (${unique(`severity="${level}"`)})`,
          legend: level,
        })),
        { expr: `sum by (cluster, ${IMAGE}) (${unique('fixable="true"')})`, legend: 'Fixable' },
        {
          expr: `count by (cluster, ${IMAGE}) (max by (cluster, namespace, name, ${IMAGE}) (${sel('trivy_image_vulnerabilities', CLUSTER, NAMESPACE, SEVERITY)}))`,
          legend: 'Containers',
        },
      ],
      rename: {
        cluster: 'Cluster',
        image_registry: 'Registry',
        image_repository: 'Repository',
        image_tag: 'Tag',
        image_digest: 'Digest',
      },
      order: [
        'Cluster',
        'Registry',
        'Repository',
        'Tag',
        'Digest',
        'Critical',
        'High',
        'Medium',
        'Low',
        'Fixable',
        'Containers',
      ],
      sortBy: { column: 'Critical', desc: true },
      links: { Repository: [imageLink('Repository', 'Tag')] },
      colored: {
        Critical: steps('text', ['dark-red', 1]),
      },
    }),
    24,
    12,
  );

  grid.row('New findings and remediation deadlines');
  grid.add(newVulnerabilitiesTable(), 24, 10);
  grid.stack(4, [
    [overdueStat(), 4],
    [oldestOpenStat(), 4],
  ]);
  grid.add(overdueByNamespace(), 10, 8);
  grid.add(meanAgeByNamespace(), 10, 8);

  grid.row('Where does a CVE run?');
  grid.add(whereDoesCveRunTable(), 24, 8);

  return dashboard({
    uid: UIDS.overview,
    title: 'Trivy Lookout / Overview',
    description:
      'Where the cluster stands: vulnerabilities of the running images (each image counted once), by severity, namespace and fix availability, with exposed secrets, config audit and compliance at a glance; the new High/Critical findings of the last 24h, remediation deadlines, and where a given CVE runs.',
    tags: ['vulnerabilities'],
    time: 'now-7d',
    variables: [datasource(), cluster(), namespace(), severity(), cveVariable()],
    panels: grid.panels(),
  });
}
