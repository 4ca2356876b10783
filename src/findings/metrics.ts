/**
 * The findings families, computed from the index, written into the scrape like the report
 * families: pre-rendered gzip members. They move with the clock only at known moments (a new
 * finding leaves the window, a finding passes its deadline), so they are rendered again only
 * then or when a report changed; a scrape of an unchanged cluster costs nothing here. Ages are
 * exported as first-seen timestamps, for PromQL's `time() - …`, which is what makes that possible.
 * Low cardinality by construction: new findings only for High/Critical within the window,
 * remediation per namespace and severity.
 */
import { gaugeHeader, gzipMember, labelPairs, titleCase } from '../metrics/index.ts';
import { SEVERITIES, type Severity } from '../crds/index.ts';
import type { FindingsIndex } from './findings-index.ts';
import { RemediationView, type DeadlinePolicy, type RemediationRow } from './remediation.ts';

/** The severities that count as new findings worth a notification. */
export const NEW_FINDING_SEVERITIES: readonly Severity[] = ['CRITICAL', 'HIGH'];

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

/** The findings families: names, label names and help (the dashboards' tests check queries against them). */
export const FINDINGS_FAMILIES = {
  newVulnerability: {
    name: 'trivy_lookout_new_vulnerability',
    labels: NEW_LABELS,
    help: 'High and Critical vulnerabilities first seen in their namespace and image repository within operator.newFindingsWindow, one series per workload container; the value is when it was first seen (unix seconds).',
  },
  open: {
    name: 'trivy_lookout_open_vulnerabilities',
    labels: REMEDIATION_LABELS,
    help: 'Vulnerabilities under a remediation deadline (operator.remediationDeadlines), counted once per namespace and image repository.',
  },
  overdue: {
    name: 'trivy_lookout_overdue_vulnerabilities',
    labels: REMEDIATION_LABELS,
    help: 'Vulnerabilities under a remediation deadline first seen longer ago than the deadline.',
  },
  oldestFirstSeen: {
    name: 'trivy_lookout_oldest_open_vulnerability_timestamp_seconds',
    labels: REMEDIATION_LABELS,
    help: 'When the oldest vulnerability under a remediation deadline was first seen (unix seconds); its age is time() minus this.',
  },
  meanFirstSeen: {
    name: 'trivy_lookout_open_vulnerability_mean_timestamp_seconds',
    labels: REMEDIATION_LABELS,
    help: 'Mean first-seen time of the vulnerabilities under a remediation deadline (unix seconds); their mean age is time() minus this.',
  },
  deadline: {
    name: 'trivy_lookout_remediation_deadline_seconds',
    labels: ['severity'],
    help: 'The remediation deadline of each severity (operator.remediationDeadlines).',
  },
} as const;

export interface FindingsMetricsOptions {
  readonly index: FindingsIndex;
  readonly policy: DeadlinePolicy;
  readonly newWindowMs: number;
  /** Unix milliseconds; tests pass their own clock. */
  readonly now?: () => number;
}

type Family = (typeof FINDINGS_FAMILIES)[keyof typeof FINDINGS_FAMILIES];

/** One family as one gzip member: header and samples. */
function familyMember(family: Family, samples: string): Buffer {
  return gzipMember(gaugeHeader(family.name, family.help) + samples);
}

/** The findings families for the scrape, rendered again only when they can have changed. */
export class FindingsSeries {
  private readonly remediation: RemediationView;
  private readonly newSlots = new Set(NEW_FINDING_SEVERITIES.map((s) => SEVERITIES.indexOf(s)));
  private readonly now: () => number;
  private readonly deadlineMember: Buffer;
  private cached: readonly Buffer[] = [];
  /** Unix seconds until which `cached` holds unless a report changes. */
  private validUntil = -Infinity;
  private dirty = true;
  private newSeries = 0;

  constructor(private readonly o: FindingsMetricsOptions) {
    this.now = o.now ?? Date.now;
    this.remediation = new RemediationView(o.index, o.policy);
    o.index.subscribe(() => (this.dirty = true));
    const family = FINDINGS_FAMILIES.deadline;
    let samples = '';
    for (const severity of SEVERITIES) {
      const ms = o.policy.deadlinesMs[severity];
      if (ms !== undefined)
        samples += `${family.name}{${labelPairs(family.labels, [titleCase(severity)])}} ${ms / 1000}\n`;
    }
    this.deadlineMember = familyMember(family, samples);
  }

  /** `trivy_lookout_new_vulnerability` series in the last rendering. */
  get newVulnerabilities(): number {
    return this.newSeries;
  }

  members(): readonly Buffer[] {
    const nowSeconds = this.now() / 1000;
    if (this.dirty || nowSeconds >= this.validUntil) this.render(nowSeconds);
    return this.cached;
  }

  private render(nowSeconds: number): void {
    this.dirty = false;
    const fresh = this.renderNew(nowSeconds);
    const { rows, validUntil } = this.remediation.state(nowSeconds);
    const lines = (family: Family, value: (row: RemediationRow) => number) => {
      let samples = '';
      for (const row of rows) {
        samples += `${family.name}{${labelPairs(family.labels, [row.namespace, titleCase(row.severity)])}} ${value(row)}\n`;
      }
      return familyMember(family, samples);
    };
    this.cached = [
      fresh.member,
      lines(FINDINGS_FAMILIES.open, (row) => row.open),
      lines(FINDINGS_FAMILIES.overdue, (row) => row.overdue),
      lines(FINDINGS_FAMILIES.oldestFirstSeen, (row) => row.oldestFirstSeen),
      lines(FINDINGS_FAMILIES.meanFirstSeen, (row) => row.meanFirstSeen),
      this.deadlineMember,
    ];
    this.validUntil = Math.min(fresh.validUntil, validUntil);
  }

  private renderNew(nowSeconds: number): { member: Buffer; validUntil: number } {
    const family = FINDINGS_FAMILIES.newVulnerability;
    const windowSeconds = this.o.newWindowMs / 1000;
    const since = nowSeconds - windowSeconds;
    let samples = '';
    let series = 0;
    let validUntil = Infinity;
    for (const report of this.o.index.values()) {
      const { seen, baseline, severities } = report;
      for (let i = 0; i < seen.length; i++) {
        const at = seen[i] ?? 0;
        if (at === 0 || at <= since || baseline[i] === 1 || !this.newSlots.has(severities[i] ?? -1)) continue;
        const row = this.o.index.row(report, i);
        const s = report.subject;
        samples += `${family.name}{${labelPairs(family.labels, [
          s.namespace,
          s.resourceKind,
          s.resourceName,
          s.containerName,
          s.registry,
          s.repository,
          s.tag,
          row.vulnerabilityId,
          titleCase(row.severity),
          row.package,
          row.installedVersion,
          row.fixedVersion,
        ])}} ${at}\n`;
        series++;
        validUntil = Math.min(validUntil, at + windowSeconds);
      }
    }
    this.newSeries = series;
    return { member: familyMember(family, samples), validUntil };
  }
}
