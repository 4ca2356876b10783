/**
 * What the dashboards share: the variables, the label matchers that make every query honour them,
 * the "each image once" building blocks, and the links between dashboards.
 *
 * Conventions every query follows:
 * - `cluster=~"$cluster"` on every selector. "All" is `.*`, which also matches series without a
 *   `cluster` label, so a single Prometheus without one works unchanged.
 * - `max by (…)` before any sum: every operator replica serves the same report series (with its own
 *   `instance`/`pod` labels), so replicas are folded first and never counted twice.
 * - Families without a scanned-workload namespace (per-image aggregates, cluster-scoped reports,
 *   operator health) are never filtered by `$namespace`: behind a ServiceMonitor they carry the
 *   operator's own namespace. Per-image families follow `$namespace` through a join with the images
 *   running in the selected namespaces instead.
 */
import {
  customVariable,
  datasourceVariable,
  queryVariable,
  table,
  type DataLink,
  type PanelBody,
  type Variable,
} from './grafana.ts';

export const SEVERITIES = ['Critical', 'High', 'Medium', 'Low', 'Unknown'] as const;
/** Config-audit, RBAC and infra summaries have no Unknown. */
export const CHECK_SEVERITIES = ['Critical', 'High', 'Medium', 'Low'] as const;

/** The labels that identify an image (by digest) in every image family. */
export const IMAGE = 'image_registry, image_repository, image_tag, image_digest';

export const CLUSTER = 'cluster=~"$cluster"';
export const NAMESPACE = 'namespace=~"$namespace"';
export const SEVERITY = 'severity=~"$severity"';
/** Compliance controls carry Trivy's upper-case severities; the variable's values are title case. */
export const SEVERITY_ANY_CASE = 'severity=~"(?i)$severity"';

/** The labels of one workload container of a per-workload family, and their table columns. */
export const WORKLOAD =
  'cluster, namespace, resource_kind, resource_name, container_name, image_repository, image_tag';
export const workloadColumns = {
  cluster: 'Cluster',
  namespace: 'Namespace',
  resource_kind: 'Kind',
  resource_name: 'Workload',
  container_name: 'Container',
  image_repository: 'Repository',
  image_tag: 'Tag',
};

/** The labels of one audited resource (config audit, RBAC), and their table columns. */
export const RESOURCE = 'cluster, namespace, resource_kind, resource_name';
export const resourceColumns = {
  cluster: 'Cluster',
  namespace: 'Namespace',
  resource_kind: 'Kind',
  resource_name: 'Name',
};

/** `metric{m1, m2, …}` with falsy matchers left out. */
export function sel(metric: string, ...matchers: (string | false | undefined)[]): string {
  return `${metric}{${matchers.filter(Boolean).join(', ')}}`;
}

/** Which of the filter variables a dashboard has. */
export interface Scope {
  namespace: boolean;
  severity: boolean;
}

/** The images (by digest) running in the selected namespaces, one series each with value 1. */
export function runningImages(scope: Scope): string {
  return `group by (cluster, ${IMAGE}) (${sel(
    'trivy_image_vulnerabilities',
    CLUSTER,
    scope.namespace && NAMESPACE,
    scope.severity && SEVERITY,
  )})`;
}

/**
 * Vulnerabilities per distinct image × severity × fixable, each image counted once however many
 * containers, pods and replicas run it, for the images running in the selected namespaces.
 */
export function uniqueImageVulnerabilities(scope: Scope, ...matchers: string[]): string {
  return (
    `(max by (cluster, ${IMAGE}, severity, fixable) (` +
    sel('trivy_lookout_image_vulnerabilities', CLUSTER, scope.severity && SEVERITY, ...matchers) +
    `) * on (cluster, ${IMAGE}) group_left () ${runningImages(scope)})`
  );
}

export function datasource(): Variable {
  return datasourceVariable();
}

export function cluster(): Variable {
  return queryVariable({
    name: 'cluster',
    label: 'Cluster',
    description:
      'The `cluster` label, when your Prometheus (or Thanos, Mimir) adds one. Without it only All is offered, and All matches everything.',
    query: 'label_values(trivy_lookout_scans_queued, cluster)',
    multi: true,
    includeAll: true,
    allValue: '.*',
  });
}

/** Every namespaced family that carries the scanned workload's namespace. */
const NAMESPACED_FAMILIES = [
  'trivy_image_vulnerabilities',
  'trivy_image_exposedsecrets',
  'trivy_resource_configaudits',
  'trivy_role_rbacassessments',
  'trivy_resource_infraassessments',
].join('|');

export function namespace(): Variable {
  return queryVariable({
    name: 'namespace',
    label: 'Namespace',
    description: 'Namespaces with reports (vulnerability, exposed secret, config audit, RBAC or infra).',
    query: `label_values({__name__=~"${NAMESPACED_FAMILIES}", ${CLUSTER}}, namespace)`,
    multi: true,
    includeAll: true,
    allValue: '.*',
  });
}

export function severity(): Variable {
  return customVariable({
    name: 'severity',
    label: 'Severity',
    description: 'Severities counted (Trivy-Operator’s label values).',
    options: SEVERITIES.map((value) => ({ text: value, value })),
    multi: true,
    includeAll: true,
    allValue: '.*',
  });
}

/** The dashboards, by role: uid and URL slug. */
export const UIDS = {
  overview: 'trivy-lookout-overview',
  namespace: 'trivy-lookout-namespace',
  image: 'trivy-lookout-image',
  findings: 'trivy-lookout-config-audit',
  compliance: 'trivy-lookout-compliance',
  scanHealth: 'trivy-lookout-scan-health',
} as const;

/**
 * A link to another dashboard that keeps the data source, cluster, severity and time range, and sets
 * the given variables (`var-x=…`, values from the clicked row).
 */
export function linkTo(
  uid: string,
  title: string,
  params: string[],
  keep: string[] = ['severity'],
): DataLink {
  const query = [
    ...params,
    '${datasource:queryparam}',
    '${cluster:queryparam}',
    ...keep.map((name) => `\${${name}:queryparam}`),
    '${__url_time_range}',
  ];
  return { title, url: `/d/${uid}/${uid}?${query.join('&')}` };
}

export const namespaceLink = (column = 'namespace'): DataLink =>
  linkTo(UIDS.namespace, 'Namespace details', [`var-namespace=\${__data.fields["${column}"]}`]);

/** Link to the image dashboard for the row's repository and tag (column names after renaming). */
export const imageLink = (
  repository = 'image_repository',
  tag = 'image_tag',
  keep = ['severity', 'namespace'],
): DataLink =>
  linkTo(
    UIDS.image,
    'Image details',
    [`var-repository=\${__data.fields["${repository}"]}`, `var-tag=\${__data.fields["${tag}"]}`],
    keep,
  );

/** A table of resources by failed checks of each severity, worst first (replicas folded). */
export function resourcesTable(o: {
  title: string;
  description: string;
  family: string;
  links?: Record<string, DataLink[]>;
}): PanelBody {
  return table({
    title: o.title,
    description: o.description,
    queries: CHECK_SEVERITIES.map((level) => ({
      expr: `max by (${RESOURCE}) (${sel(o.family, CLUSTER, NAMESPACE, SEVERITY, `severity="${level}"`)})`,
      legend: level,
    })),
    rename: resourceColumns,
    order: [...Object.values(resourceColumns), ...CHECK_SEVERITIES],
    sortBy: { column: 'Critical', desc: true },
    ...(o.links ? { links: o.links } : {}),
  });
}

/** A table of the workload containers whose image holds secrets of the selected severities. */
export function secretWorkloadsTable(title: string, description: string): PanelBody {
  const secrets = sel('trivy_image_exposedsecrets', CLUSTER, NAMESPACE, SEVERITY);
  return table({
    title,
    description,
    queries: [
      { expr: `sum by (${WORKLOAD}) (max by (${WORKLOAD}, severity) (${secrets})) > 0`, legend: 'Secrets' },
    ],
    rename: workloadColumns,
    order: [...Object.values(workloadColumns), 'Secrets'],
    sortBy: { column: 'Secrets', desc: true },
    links: { Repository: [imageLink('Repository', 'Tag')] },
  });
}
