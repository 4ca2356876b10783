/**
 * Panels for the findings people act on (issue #18): the new High/Critical findings of the last
 * window, "where does CVE-X run?", and how long open findings have waited against their deadlines.
 * The findings families come from every operator replica, so each query folds replicas with `max by`.
 */
import { CLUSTER, NAMESPACE, SEVERITY, sel, workloadColumns } from './common.ts';
import { barGauge, stat, steps, table, textboxVariable, type PanelBody, type Variable } from './grafana.ts';

const WORKLOAD_IMAGE =
  'cluster, namespace, resource_kind, resource_name, container_name, image_registry, image_repository, image_tag';
const columns = { ...workloadColumns, image_registry: 'Registry' };
const order = [
  'Cluster',
  'Namespace',
  'Kind',
  'Workload',
  'Container',
  'Registry',
  'Repository',
  'Tag',
];

/** An empty fixed version reads "no fix yet" rather than a blank cell. */
const noFixYet = (expr: string) => `label_replace(${expr}, "fixed_version", "no fix yet", "fixed_version", "")`;

export function newVulnerabilitiesTable(): PanelBody {
  const series = sel('trivy_lookout_new_vulnerability', CLUSTER, NAMESPACE, SEVERITY);
  return table({
    title: 'New vulnerabilities (last 24h)',
    description:
      'High and Critical findings first seen in their namespace and image repository within operator.newFindingsWindow (24h by default), one row per workload container: what the TrivyNewCriticalVulnerability and TrivyNewHighVulnerability alerts announce. Findings present when the operator was first installed are a baseline and never show here.',
    queries: [
      {
        // Seconds to milliseconds for Grafana's time unit.
        expr: `${noFixYet(`max by (${WORKLOAD_IMAGE}, vulnerability_id, severity, package, installed_version, fixed_version) (${series})`)} * 1000`,
        legend: 'First seen',
      },
    ],
    rename: {
      ...columns,
      vulnerability_id: 'Vulnerability',
      severity: 'Severity',
      package: 'Package',
      installed_version: 'Installed',
      fixed_version: 'Fixed',
    },
    order: [...order, 'Vulnerability', 'Severity', 'Package', 'Installed', 'Fixed', 'First seen'],
    sortBy: { column: 'First seen', desc: true },
    units: { 'First seen': 'dateTimeAsIso' },
  });
}

export function cveVariable(): Variable {
  return textboxVariable({
    name: 'cve',
    label: 'CVE',
    description: 'A vulnerability id (CVE-…, GHSA-…) for the "Where does it run?" table.',
    value: 'CVE-2021-44228',
  });
}

export function whereDoesCveRunTable(): PanelBody {
  return table({
    title: 'Where does $cve run?',
    description:
      'Every workload container whose image has the vulnerability typed in the CVE box, from the per-vulnerability series. Needs operator.metricsVulnIdEnabled=true (env OPERATOR_METRICS_VULN_ID_ENABLED); empty without it. Without those series ask the operator instead: `npx trivy-lookout affected CVE-…` (through the Kubernetes API), or its /affected?vulnerability=CVE-… endpoint on the metrics port.',
    queries: [
      {
        expr: noFixYet(
          `max by (${WORKLOAD_IMAGE}, severity, resource, installed_version, fixed_version) (${sel('trivy_vulnerability_id', CLUSTER, NAMESPACE, SEVERITY, 'vuln_id=~"(?i)$cve"')})`,
        ),
      },
    ],
    rename: {
      ...columns,
      severity: 'Severity',
      resource: 'Package',
      installed_version: 'Installed',
      fixed_version: 'Fixed',
    },
    order: [...order, 'Severity', 'Package', 'Installed', 'Fixed'],
    sortBy: { column: 'Namespace', desc: false },
  });
}

const remediation = (family: string) =>
  `max by (cluster, namespace, severity) (${sel(family, CLUSTER, NAMESPACE, SEVERITY)})`;
const OPEN = 'trivy_lookout_open_vulnerabilities';
const OVERDUE = 'trivy_lookout_overdue_vulnerabilities';
// First-seen timestamps: ages are time() minus these (the exporter then changes nothing as time passes).
const OLDEST = 'trivy_lookout_oldest_open_vulnerability_timestamp_seconds';
const MEAN = 'trivy_lookout_open_vulnerability_mean_timestamp_seconds';
const POLICY =
  'Findings under a remediation deadline (operator.remediationDeadlines, by default Critical 7d and High 30d; with operator.remediationFixableOnly only those with a fixed version), each distinct image repository × CVE × package once per namespace, aged from when it was first seen there.';

export function overdueStat(): PanelBody {
  return stat({
    title: 'Overdue findings',
    description: `${POLICY} Overdue: open longer than the deadline of their severity (the TrivyVulnerabilityRemediationOverdue alert).`,
    query: { expr: `sum(${remediation(OVERDUE)}) or vector(0)` },
    thresholds: steps('green', ['red', 1]),
  });
}

export function oldestOpenStat(): PanelBody {
  return stat({
    title: 'Oldest open finding',
    description: `${POLICY} How long ago the oldest of them was first seen.`,
    query: { expr: `time() - min(${remediation(OLDEST)})` },
    unit: 's',
    color: 'text',
  });
}

export function remediationTable(): PanelBody {
  return table({
    title: 'Remediation by namespace and severity',
    description: `${POLICY} Open, overdue, the oldest one's age and the mean age, per namespace and severity; most overdue first.`,
    queries: [
      { expr: remediation(OPEN), legend: 'Open' },
      { expr: remediation(OVERDUE), legend: 'Overdue' },
      { expr: `time() - ${remediation(OLDEST)}`, legend: 'Oldest' },
      { expr: `time() - ${remediation(MEAN)}`, legend: 'Mean age' },
    ],
    rename: { cluster: 'Cluster', namespace: 'Namespace', severity: 'Severity' },
    order: ['Cluster', 'Namespace', 'Severity', 'Open', 'Overdue', 'Oldest', 'Mean age'],
    sortBy: { column: 'Overdue', desc: true },
    units: { Oldest: 's', 'Mean age': 's' },
    colored: { Overdue: steps('text', ['red', 1]) },
  });
}

export function meanAgeByNamespace(): PanelBody {
  // The mean over severities weighs each severity's mean first-seen time by its count.
  const weighted = `sum by (cluster, namespace) (${remediation(MEAN)} * ${remediation(OPEN)})`;
  return barGauge({
    title: 'Mean age of open findings by namespace',
    description: `${POLICY} Their mean age per namespace, across the selected severities.`,
    queries: [
      {
        expr: `time() - ${weighted} / sum by (cluster, namespace) (${remediation(OPEN)})`,
        legend: '{{namespace}}',
      },
    ],
    unit: 's',
    thresholds: steps('green', ['orange', 7 * 86400], ['red', 30 * 86400]),
  });
}

export function overdueByNamespace(): PanelBody {
  return barGauge({
    title: 'Overdue findings by namespace and severity',
    description: `${POLICY} Those open longer than their deadline, per namespace and severity.`,
    queries: [{ expr: `${remediation(OVERDUE)} > 0`, legend: '{{namespace}} {{severity}}' }],
    thresholds: steps('red'),
  });
}
