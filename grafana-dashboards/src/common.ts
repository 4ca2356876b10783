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
  type DataLink,
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
