import {
  CLUSTER,
  IMAGE,
  NAMESPACE,
  SEVERITIES,
  SEVERITY,
  UIDS,
  cluster,
  datasource,
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
  dashboard,
  queryVariable,
  severityColorOverrides,
  stat,
  steps,
  table,
  timeseries,
  type Dashboard,
} from './grafana.ts';

const scope: Scope = { namespace: true, severity: true };
/** The image chosen: one repository, one or more tags. */
const REPOSITORY = 'image_repository="$repository"';
const TAG = 'image_tag=~"$tag"';
const unique = (...matchers: string[]) => uniqueImageVulnerabilities(scope, REPOSITORY, TAG, ...matchers);

const ONCE =
  'Counted once per image digest, however many workloads run it; only digests running in the selected namespaces count.';

export function imageDashboard(): Dashboard {
  const grid = new Grid();
  grid.row('Vulnerabilities of the image');
  for (const level of SEVERITIES) {
    grid.add(
      stat({
        title: level,
        description: `${level} vulnerabilities of the selected image. ${ONCE}`,
        query: { expr: `sum(${unique(`severity="${level}"`)})` },
        color: SEVERITY_COLORS[level],
      }),
      4,
      4,
    );
  }
  grid.add(
    stat({
      title: 'Fixable',
      description: `Vulnerabilities of the selected severities that a newer package version fixes. ${ONCE}`,
      query: { expr: `sum(${unique('fixable="true"')})` },
      color: 'orange',
    }),
    4,
    4,
  );
  grid.add(
    timeseries({
      title: 'Vulnerabilities over time',
      description: `Vulnerabilities of the selected image by severity. ${ONCE} A rise without a new tag means a rescan found newly published CVEs.`,
      queries: [{ expr: `sum by (severity) (${unique()})`, legend: '{{severity}}' }],
      stack: true,
      overrides: severityColorOverrides(),
      min: 0,
    }),
    12,
    8,
  );
  grid.add(
    table({
      title: 'Image',
      description:
        'Each digest of the selected image: its operating system and whether that OS release is past its end of life (needs operator.metricsImageInfo), and how long ago trivy-lookout last scanned it successfully (known to the replica that scanned it since it started; the report TTL is 24h by default).',
      queries: [
        {
          expr: `max by (cluster, ${IMAGE}, image_os_family, image_os_name, image_os_eosl) (${sel('trivy_image_info', CLUSTER, NAMESPACE, REPOSITORY, TAG)})`,
        },
        {
          expr: `time() - max by (cluster, ${IMAGE}) (${sel('trivy_lookout_image_last_successful_scan_timestamp_seconds', CLUSTER, REPOSITORY, TAG)} * on (cluster, ${IMAGE}) group_left () ${runningImages(scope)})`,
          legend: 'Last scanned',
        },
      ],
      rename: {
        cluster: 'Cluster',
        image_registry: 'Registry',
        image_repository: 'Repository',
        image_tag: 'Tag',
        image_digest: 'Digest',
        image_os_family: 'OS',
        image_os_name: 'OS version',
        image_os_eosl: 'End of life',
      },
      order: [
        'Cluster',
        'Registry',
        'Repository',
        'Tag',
        'Digest',
        'OS',
        'OS version',
        'End of life',
        'Last scanned',
      ],
      units: { 'Last scanned': 's' },
    }),
    12,
    8,
  );

  grid.row('CVEs');
  grid.add(
    table({
      title: 'Vulnerabilities',
      description:
        'Every vulnerability of the selected image with its package, installed and fixed versions and CVSS score, highest score first. Needs the per-vulnerability detail metric (operator.metricsVulnIdEnabled, env OPERATOR_METRICS_VULN_ID_ENABLED); empty without it. A blank fixed version means no fix yet.',
      queries: [
        {
          expr: `max by (cluster, image_tag, vuln_id, severity, vuln_score, resource, installed_version, fixed_version, package_type, vuln_title, published_date) (${sel('trivy_vulnerability_id', CLUSTER, NAMESPACE, SEVERITY, REPOSITORY, TAG)})`,
        },
      ],
      rename: {
        cluster: 'Cluster',
        image_tag: 'Tag',
        vuln_id: 'Vulnerability',
        severity: 'Severity',
        vuln_score: 'Score',
        resource: 'Package',
        installed_version: 'Installed',
        fixed_version: 'Fixed in',
        package_type: 'Type',
        vuln_title: 'Title',
        published_date: 'Published',
      },
      order: [
        'Cluster',
        'Tag',
        'Vulnerability',
        'Severity',
        'Score',
        'Package',
        'Installed',
        'Fixed in',
        'Type',
        'Title',
        'Published',
      ],
      numeric: ['vuln_score'],
      sortBy: { column: 'Score', desc: true },
      links: {
        Vulnerability: [{ title: 'NVD entry', url: 'https://nvd.nist.gov/vuln/detail/${__value.raw}' }],
      },
    }),
    24,
    12,
  );

  grid.row('Where it runs');
  const WORKLOAD =
    'cluster, namespace, resource_kind, resource_name, container_name, image_tag, image_digest';
  grid.add(
    table({
      title: 'Workloads running the image',
      description:
        'Workload containers in the selected namespaces that run the selected image, with the vulnerabilities of the selected severities their report lists.',
      queries: [
        {
          expr: `sum by (${WORKLOAD}) (max by (${WORKLOAD}, severity) (${sel('trivy_image_vulnerabilities', CLUSTER, NAMESPACE, SEVERITY, REPOSITORY, TAG)}))`,
          legend: 'Vulnerabilities',
        },
      ],
      rename: {
        cluster: 'Cluster',
        namespace: 'Namespace',
        resource_kind: 'Kind',
        resource_name: 'Workload',
        container_name: 'Container',
        image_tag: 'Tag',
        image_digest: 'Digest',
      },
      order: ['Cluster', 'Namespace', 'Kind', 'Workload', 'Container', 'Tag', 'Digest', 'Vulnerabilities'],
      sortBy: { column: 'Namespace', desc: false },
      links: { Namespace: [namespaceLink('Namespace')] },
    }),
    24,
    8,
  );

  grid.row('Exposed secrets');
  grid.add(
    stat({
      title: 'Exposed secrets',
      description: `Secrets of the selected severities Trivy found in the selected image. ${ONCE}`,
      query: {
        expr: `sum(max by (cluster, ${IMAGE}, severity) (${sel('trivy_image_exposedsecrets', CLUSTER, NAMESPACE, SEVERITY, REPOSITORY, TAG)}))`,
      },
      thresholds: steps('green', ['red', 1]),
    }),
    4,
    6,
  );
  grid.add(
    table({
      title: 'Secrets',
      description:
        'Each secret found in the selected image: rule, category and the file it is in (never the secret itself). Needs operator.metricsExposedSecretInfo (env OPERATOR_METRICS_EXPOSED_SECRET_INFO).',
      queries: [
        {
          expr: `max by (cluster, image_tag, secret_rule_id, secret_category, secret_title, secret_target, severity) (${sel('trivy_exposedsecrets_info', CLUSTER, NAMESPACE, SEVERITY, REPOSITORY, TAG)})`,
        },
      ],
      rename: {
        cluster: 'Cluster',
        image_tag: 'Tag',
        secret_rule_id: 'Rule',
        secret_category: 'Category',
        secret_title: 'Title',
        secret_target: 'File',
        severity: 'Severity',
      },
      order: ['Cluster', 'Tag', 'Severity', 'Rule', 'Category', 'Title', 'File'],
    }),
    20,
    6,
  );

  const repositories = sel('trivy_lookout_image_vulnerabilities', CLUSTER);
  return dashboard({
    uid: UIDS.image,
    title: 'Trivy Lookout / Image',
    description:
      'One image in detail: vulnerabilities by severity and over time, its OS and last scan, every CVE (with the detail metric on), the workloads that run it and the secrets found in it.',
    tags: ['vulnerabilities'],
    variables: [
      datasource(),
      cluster(),
      queryVariable({
        name: 'repository',
        label: 'Repository',
        description: 'Image repository, e.g. library/nginx.',
        query: `label_values(${repositories}, image_repository)`,
        multi: false,
        includeAll: false,
      }),
      queryVariable({
        name: 'tag',
        label: 'Tag',
        description: 'Tags of the repository that run in the cluster.',
        query: `label_values(${sel('trivy_lookout_image_vulnerabilities', CLUSTER, REPOSITORY)}, image_tag)`,
        multi: true,
        includeAll: true,
        allValue: '.*',
      }),
      namespace(),
      severity(),
    ],
    panels: grid.panels(),
  });
}
