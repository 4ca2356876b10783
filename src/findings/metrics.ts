/**
 * The findings families, computed from the index when Prometheus scrapes (they depend on the
 * clock: a new finding stops being new after the window, a deadline passes without any report
 * changing). Low cardinality by construction: new findings only for High/Critical within the
 * window, remediation per namespace and severity.
 */
import { Gauge, type Registry } from 'prom-client';
import { SEVERITIES, type Severity } from '../crds/index.ts';
import type { FindingsIndex } from './findings-index.ts';
import { RemediationView, type DeadlinePolicy, type RemediationRow } from './remediation.ts';

/** The severities that count as new findings worth a notification. */
export const NEW_FINDING_SEVERITIES: readonly Severity[] = ['CRITICAL', 'HIGH'];

/** Label values as the trivy_* families write severities. */
const severityLabel = (s: Severity) => s.charAt(0) + s.slice(1).toLowerCase();

const NEW_LABELS = [
  'namespace',
  'resource_kind',
  'resource_name',
  'container_name',
  'image_registry',
  'image_repository',
  'image_tag',
  'vulnerability_id',
  'severity',
  'package',
  'installed_version',
  'fixed_version',
] as const;

const REMEDIATION_LABELS = ['namespace', 'severity'] as const;

/** The findings families: names and label names (the dashboards' tests check queries against them). */
export const FINDINGS_FAMILIES = {
  newVulnerability: { name: 'trivy_lookout_new_vulnerability', labels: NEW_LABELS },
  open: { name: 'trivy_lookout_open_vulnerabilities', labels: REMEDIATION_LABELS },
  overdue: { name: 'trivy_lookout_overdue_vulnerabilities', labels: REMEDIATION_LABELS },
  oldestAge: { name: 'trivy_lookout_oldest_open_vulnerability_age_seconds', labels: REMEDIATION_LABELS },
  meanAge: { name: 'trivy_lookout_open_vulnerability_mean_age_seconds', labels: REMEDIATION_LABELS },
  deadline: { name: 'trivy_lookout_remediation_deadline_seconds', labels: ['severity'] },
} as const;

export interface FindingsMetricsOptions {
  readonly index: FindingsIndex;
  readonly policy: DeadlinePolicy;
  readonly newWindowMs: number;
  readonly registry: Registry;
  /** Unix milliseconds; tests pass their own clock. */
  readonly now?: () => number;
}

export function registerFindingsMetrics(options: FindingsMetricsOptions): void {
  const { index, registry } = options;
  const now = options.now ?? Date.now;
  const remediation = new RemediationView(index, options.policy);
  const newSlots = new Set(NEW_FINDING_SEVERITIES.map((s) => SEVERITIES.indexOf(s)));

  new Gauge({
    name: FINDINGS_FAMILIES.newVulnerability.name,
    help: 'High and Critical vulnerabilities first seen in their namespace and image repository within operator.newFindingsWindow, one series per workload container; the value is when it was first seen (unix seconds).',
    labelNames: FINDINGS_FAMILIES.newVulnerability.labels,
    registers: [registry],
    collect() {
      this.reset();
      const since = Math.floor((now() - options.newWindowMs) / 1000);
      for (const report of index.values()) {
        const { seen, baseline, severities } = report;
        for (let i = 0; i < seen.length; i++) {
          const at = seen[i] ?? 0;
          if (at < since || at === 0 || baseline[i] === 1 || !newSlots.has(severities[i] ?? -1)) continue;
          const row = index.row(report, i);
          const s = report.subject;
          this.set(
            {
              namespace: s.namespace,
              resource_kind: s.resourceKind,
              resource_name: s.resourceName,
              container_name: s.containerName,
              image_registry: s.registry,
              image_repository: s.repository,
              image_tag: s.tag,
              vulnerability_id: row.vulnerabilityId,
              severity: severityLabel(row.severity),
              package: row.package,
              installed_version: row.installedVersion,
              fixed_version: row.fixedVersion,
            },
            at,
          );
        }
      }
    },
  });

  // One computation per second feeds the four remediation families of a scrape.
  let rows: RemediationRow[] = [];
  let rowsAt = -1;
  let changed = true;
  index.subscribe(() => (changed = true));
  const remediationRows = () => {
    const seconds = Math.floor(now() / 1000);
    if (seconds !== rowsAt || changed) {
      rows = remediation.rows(seconds);
      rowsAt = seconds;
      changed = false;
    }
    return rows;
  };
  const remediationGauge = (name: string, help: string, value: (row: RemediationRow) => number) =>
    new Gauge({
      name,
      help,
      labelNames: REMEDIATION_LABELS,
      registers: [registry],
      collect() {
        this.reset();
        for (const row of remediationRows()) {
          this.set({ namespace: row.namespace, severity: severityLabel(row.severity) }, value(row));
        }
      },
    });
  remediationGauge(
    FINDINGS_FAMILIES.open.name,
    'Vulnerabilities under a remediation deadline (operator.remediationDeadlines), counted once per namespace and image repository.',
    (row) => row.open,
  );
  remediationGauge(
    FINDINGS_FAMILIES.overdue.name,
    'Vulnerabilities under a remediation deadline first seen longer ago than the deadline.',
    (row) => row.overdue,
  );
  remediationGauge(
    FINDINGS_FAMILIES.oldestAge.name,
    'Age of the oldest vulnerability under a remediation deadline, since first seen.',
    (row) => row.oldestAgeSeconds,
  );
  remediationGauge(
    FINDINGS_FAMILIES.meanAge.name,
    'Mean age of the vulnerabilities under a remediation deadline, since first seen.',
    (row) => Math.round(row.meanAgeSeconds),
  );
  const deadlines = new Gauge({
    name: FINDINGS_FAMILIES.deadline.name,
    help: 'The remediation deadline of each severity (operator.remediationDeadlines).',
    labelNames: FINDINGS_FAMILIES.deadline.labels,
    registers: [registry],
  });
  for (const severity of SEVERITIES) {
    const ms = options.policy.deadlinesMs[severity];
    if (ms !== undefined) deadlines.set({ severity: severityLabel(severity) }, ms / 1000);
  }
}
