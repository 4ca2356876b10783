/**
 * Pure renderers: one report object in, its sample lines per family out, plus the few numbers the
 * aggregates need. Input is treated as untrusted (`unknown`): a wrong type, a missing field or a
 * duplicate row becomes a counted warning and a still-valid series, never an exception.
 */
import { ReportAnnotation, ReportLabel, type ReportKindName } from '../crds/index.ts';
import { objectKey } from '../kube/index.ts';
import { escapeLabelValue, formatNumber, labelPairs, titleCase } from './exposition.ts';
import { FAMILIES, SEVERITY_LABELS, type FamilyId, type Layout } from './families.ts';

/** Problems found in a report's fields; counted per kind in `trivy_lookout_report_warnings_total`. */
export const ReportWarning = {
  /** The object or a nested field that must be a map is something else. */
  notAnObject: 'not_an_object',
  /** No metadata.name: the report cannot be tracked. */
  missingName: 'missing_name',
  /** No `report` (or, for compliance, no `spec.compliance`). */
  missingReport: 'missing_report',
  /** A count that is missing, negative, fractional or not a number. */
  invalidCount: 'invalid_count',
  /** A label value that is not a string. */
  invalidField: 'invalid_field',
  /** A severity other than CRITICAL, HIGH, MEDIUM, LOW, UNKNOWN. */
  unknownSeverity: 'unknown_severity',
  /** A list field that is not a list (entries that are not maps count as not_an_object). */
  invalidList: 'invalid_list',
  invalidTimestamp: 'invalid_timestamp',
} as const;
export type ReportWarningCode = (typeof ReportWarning)[keyof typeof ReportWarning];

/** The identity of an image as the report families label it. */
export interface ImageLabels {
  readonly registry: string;
  readonly repository: string;
  readonly tag: string;
  readonly digest: string;
}

/** What a vulnerability report contributes to the aggregates. */
export interface VulnerabilityTotals {
  readonly image: ImageLabels;
  /** Per severity (SEVERITY_LABELS order), from the report summary. */
  readonly total: readonly number[];
  /** Per severity, distinct vulnerabilities with a fixed version; never more than `total`. */
  readonly fixable: readonly number[];
}

export interface RenderedReport {
  readonly kind: ReportKindName;
  /** `namespace/name` or `name`, as the watcher keys objects; '' when the object has no name. */
  readonly key: string;
  readonly namespace: string;
  /** When the report was last written (ms since epoch), for report-age metrics. */
  readonly updatedAt: number | undefined;
  /** Sample lines (each ending in "\n") per family slot; undefined when the family is off or empty. */
  readonly lines: readonly (readonly string[] | undefined)[];
  readonly vulnerabilities: VulnerabilityTotals | undefined;
  readonly warnings: ReadonlyMap<ReportWarningCode, number>;
  /** Rows dropped because they repeated a label set already emitted by this report. */
  readonly duplicates: ReadonlyMap<FamilyId, number>;
}

type Fields = Record<string, unknown>;

const TRIVY_SEVERITIES: Readonly<Record<string, number>> = {
  CRITICAL: 0,
  HIGH: 1,
  MEDIUM: 2,
  LOW: 3,
  UNKNOWN: 4,
};

const IMAGE_LABEL_NAMES = FAMILIES.imageVulnerabilities.labels.slice(0, 9);
const RESOURCE_LABEL_NAMES = FAMILIES.resourceConfigAudits.labels.slice(0, 4);
const CLUSTER_RESOURCE_LABEL_NAMES = FAMILIES.clusterRoleClusterRbacAssessments.labels.slice(0, 3);

/** Reads fields defensively and counts what was wrong. */
class FieldReader {
  readonly warnings = new Map<ReportWarningCode, number>();

  warn(code: ReportWarningCode): void {
    this.warnings.set(code, (this.warnings.get(code) ?? 0) + 1);
  }

  /** A map, or undefined (with a warning when something else is there, or when `required`). */
  object(value: unknown, required = false): Fields | undefined {
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) return value as Fields;
    if (value !== undefined && value !== null) this.warn(ReportWarning.notAnObject);
    else if (required) this.warn(ReportWarning.missingReport);
    return undefined;
  }

  /** A label value: strings as they are, other scalars stringified (with a warning), else ''. */
  string(value: unknown): string {
    if (typeof value === 'string') return value;
    if (value === undefined || value === null) return '';
    this.warn(ReportWarning.invalidField);
    return typeof value === 'number' || typeof value === 'boolean' ? String(value) : '';
  }

  list(value: unknown): readonly unknown[] {
    if (Array.isArray(value)) return value;
    if (value !== undefined && value !== null) this.warn(ReportWarning.invalidList);
    return [];
  }

  /** A count: a non-negative integer; a numeric string is accepted with a warning; otherwise 0. */
  count(value: unknown, optional = false): number {
    if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
    if (value === undefined && optional) return 0;
    this.warn(ReportWarning.invalidCount);
    if (typeof value === 'string' && /^\s*\d+\s*$/.test(value)) return Number(value);
    return 0;
  }

  /** Trivy-Operator's severity label: title case; '' when missing. */
  severity(value: unknown): { label: string; index: number } {
    if (typeof value === 'string') {
      const index = TRIVY_SEVERITIES[value];
      if (index !== undefined) return { label: SEVERITY_LABELS[index] ?? '', index };
      this.warn(ReportWarning.unknownSeverity);
      return { label: titleCase(value), index: -1 };
    }
    this.warn(ReportWarning.unknownSeverity);
    return { label: this.string(value), index: -1 };
  }

  timestamp(...candidates: unknown[]): number | undefined {
    for (const candidate of candidates) {
      if (candidate === undefined || candidate === null || candidate === '') continue;
      const ms = typeof candidate === 'string' ? Date.parse(candidate) : NaN;
      if (Number.isFinite(ms)) return ms;
      this.warn(ReportWarning.invalidTimestamp);
    }
    return undefined;
  }
}

interface Metadata {
  key: string;
  namespace: string;
  name: string;
  labels: Fields;
  annotations: Fields;
  /** When the object was last written: the newest managedFields time, else its creation. */
  writtenAt: unknown;
}

/** The newest `time` in managedFields: the API server stamps every write there. */
function lastWrite(metadata: Fields): unknown {
  let newest: string | undefined;
  if (Array.isArray(metadata.managedFields)) {
    for (const entry of metadata.managedFields as unknown[]) {
      const time = typeof entry === 'object' && entry !== null ? (entry as Fields).time : undefined;
      // RFC 3339 in UTC sorts as text.
      if (typeof time === 'string' && (newest === undefined || time > newest)) newest = time;
    }
  }
  return newest ?? metadata.creationTimestamp;
}

function readMetadata(obj: Fields | undefined, fields: FieldReader): Metadata {
  const metadata = fields.object(obj?.metadata) ?? {};
  // Identity must be exactly what the watcher keys on: strings or nothing.
  const namespace = typeof metadata.namespace === 'string' ? metadata.namespace : '';
  const name = typeof metadata.name === 'string' ? metadata.name : '';
  if (!name) fields.warn(ReportWarning.missingName);
  return {
    key: name ? objectKey({ metadata: { namespace: namespace || undefined, name } }) : '',
    namespace,
    name,
    labels: fields.object(metadata.labels) ?? {},
    annotations: fields.object(metadata.annotations) ?? {},
    writtenAt: lastWrite(metadata),
  };
}

/** Per-render state shared by the kind-specific renderers. */
class Output {
  readonly lines: (string[] | undefined)[];
  readonly duplicates = new Map<FamilyId, number>();
  private readonly seen = new Map<number, Set<string>>();

  constructor(private readonly layout: Layout) {
    this.lines = new Array<string[] | undefined>(layout.families.length).fill(undefined);
  }

  slot(id: FamilyId): number | undefined {
    return this.layout.slots[id];
  }

  /** Adds `name{labels} value`; a label set this report already emitted is dropped and counted. */
  add(id: FamilyId, slot: number, labels: string, value: string, dedupe: boolean): boolean {
    const series = `${FAMILIES[id].name}{${labels}}`;
    if (dedupe) {
      let seen = this.seen.get(slot);
      if (!seen) this.seen.set(slot, (seen = new Set()));
      if (seen.has(series)) {
        this.duplicates.set(id, (this.duplicates.get(id) ?? 0) + 1);
        return false;
      }
      seen.add(series);
    }
    (this.lines[slot] ??= []).push(`${series} ${value}\n`);
    return true;
  }
}

/** `,k8s_label_x="value"…` for the configured resource labels, read from the report's labels. */
function resourceLabelSuffix(layout: Layout, labels: Fields, fields: FieldReader): string {
  let out = '';
  for (const label of layout.resourceLabels) {
    out += `,${label.name}="${escapeLabelValue(fields.string(labels[label.key]))}"`;
  }
  return out;
}

/** The scanned resource's name: its label, or the annotation Trivy-Operator uses when the label holds a hash. */
function resourceName(meta: Metadata, fields: FieldReader): string {
  const label = fields.string(meta.labels[ReportLabel.resourceName]);
  return label || fields.string(meta.annotations[ReportAnnotation.resourceName]);
}

const SEVERITY_VALUES = SEVERITY_LABELS.map((label) => `severity="${label}"`);
const SUMMARY_FIELDS = ['criticalCount', 'highCount', 'mediumCount', 'lowCount', 'unknownCount'] as const;

function summaryCounts(summary: Fields | undefined, fields: FieldReader, severities: number): number[] {
  const counts: number[] = [];
  if (!summary) {
    fields.warn(ReportWarning.invalidCount);
    return counts.concat(new Array<number>(severities).fill(0));
  }
  for (let i = 0; i < severities; i++) counts.push(fields.count(summary[SUMMARY_FIELDS[i] ?? '']));
  return counts;
}

function addSeveritySeries(
  out: Output,
  id: FamilyId,
  prefix: string,
  suffix: string,
  counts: readonly number[],
): void {
  const slot = out.slot(id);
  if (slot === undefined) return;
  for (let i = 0; i < counts.length; i++) {
    out.add(id, slot, `${prefix},${SEVERITY_VALUES[i]}${suffix}`, String(counts[i]), false);
  }
}

function imageLabels(report: Fields, fields: FieldReader): ImageLabels {
  const artifact = fields.object(report.artifact) ?? {};
  return {
    registry: fields.string(fields.object(report.registry)?.server),
    repository: fields.string(artifact.repository),
    tag: fields.string(artifact.tag),
    digest: fields.string(artifact.digest),
  };
}

interface Context {
  readonly layout: Layout;
  readonly fields: FieldReader;
  readonly out: Output;
  readonly meta: Metadata;
  readonly obj: Fields;
}

function imagePrefix(ctx: Context, image: ImageLabels): string {
  const { meta, fields } = ctx;
  return labelPairs(IMAGE_LABEL_NAMES, [
    meta.namespace,
    meta.name,
    fields.string(meta.labels[ReportLabel.resourceKind]),
    resourceName(meta, fields),
    fields.string(meta.labels[ReportLabel.containerName]),
    image.registry,
    image.repository,
    image.tag,
    image.digest,
  ]);
}

function renderVulnerabilityReport(ctx: Context): {
  updatedAt: number | undefined;
  totals: VulnerabilityTotals;
} {
  const { fields, out, layout, meta } = ctx;
  const report = fields.object(ctx.obj.report, true) ?? {};
  const image = imageLabels(report, fields);
  const prefix = imagePrefix(ctx, image);
  const suffix = resourceLabelSuffix(layout, meta.labels, fields);
  const total = summaryCounts(fields.object(report.summary), fields, 5);
  addSeveritySeries(out, 'imageVulnerabilities', prefix, suffix, total);

  const infoSlot = out.slot('imageInfo');
  if (infoSlot !== undefined) {
    const os = fields.object(report.os) ?? {};
    const eosl = os.eosl === true ? 'true' : '';
    const labels = `${prefix},image_os_family="${escapeLabelValue(fields.string(os.family))}",image_os_name="${escapeLabelValue(fields.string(os.name))}",image_os_eosl="${eosl}"${suffix}`;
    out.add('imageInfo', infoSlot, labels, '1', false);
  }

  const idSlot = out.slot('vulnerabilityId');
  const fixable = [0, 0, 0, 0, 0];
  const distinct = new Set<string>();
  for (const item of fields.list(report.vulnerabilities)) {
    const v = fields.object(item);
    if (!v) continue;
    const severity = fields.severity(v.severity);
    const fixedVersion = fields.string(v.fixedVersion);
    const id = fields.string(v.vulnerabilityID);
    const resource = fields.string(v.resource);
    const installed = fields.string(v.installedVersion);
    const target = fields.string(v.target);
    const pkgPath = fields.string(v.packagePath);
    let fresh: boolean;
    if (idSlot !== undefined) {
      const score = typeof v.score === 'number' ? formatNumber(v.score) : fields.string(v.score);
      const labels =
        `${prefix},installed_version="${escapeLabelValue(installed)}",fixed_version="${escapeLabelValue(fixedVersion)}"` +
        `,published_date="${escapeLabelValue(fields.string(v.publishedDate))}",last_modified_date="${escapeLabelValue(fields.string(v.lastModifiedDate))}"` +
        `,resource="${escapeLabelValue(resource)}",severity="${escapeLabelValue(severity.label)}"` +
        `,package_type="${escapeLabelValue(fields.string(v.packageType))}",pkg_path="${escapeLabelValue(pkgPath)}"` +
        `,target="${escapeLabelValue(target)}",class="${escapeLabelValue(fields.string(v.class))}"` +
        `,vuln_id="${escapeLabelValue(id)}",vuln_title="${escapeLabelValue(fields.string(v.title))}",vuln_score="${escapeLabelValue(score)}"${suffix}`;
      fresh = out.add('vulnerabilityId', idSlot, labels, '1', true);
    } else {
      const identity = `${id}\0${resource}\0${installed}\0${fixedVersion}\0${target}\0${pkgPath}\0${severity.index}`;
      fresh = !distinct.has(identity);
      distinct.add(identity);
    }
    if (fresh && fixedVersion !== '' && severity.index >= 0)
      fixable[severity.index] = (fixable[severity.index] ?? 0) + 1;
  }
  // The summary is the total; rows beyond it (duplicates Trivy did not count, trimmed lists) must not
  // make "unfixable" negative.
  for (let i = 0; i < 5; i++) fixable[i] = Math.min(fixable[i] ?? 0, total[i] ?? 0);
  return {
    updatedAt: fields.timestamp(report.updateTimestamp, meta.writtenAt),
    totals: { image, total, fixable },
  };
}

function renderExposedSecretReport(ctx: Context): number | undefined {
  const { fields, out, layout, meta } = ctx;
  const report = fields.object(ctx.obj.report, true) ?? {};
  const prefix = imagePrefix(ctx, imageLabels(report, fields));
  const suffix = resourceLabelSuffix(layout, meta.labels, fields);
  addSeveritySeries(
    out,
    'imageExposedSecrets',
    prefix,
    suffix,
    summaryCounts(fields.object(report.summary), fields, 4),
  );
  const slot = out.slot('exposedSecretsInfo');
  if (slot !== undefined) {
    for (const item of fields.list(report.secrets)) {
      const secret = fields.object(item);
      if (!secret) continue;
      const labels =
        `${prefix},secret_category="${escapeLabelValue(fields.string(secret.category))}"` +
        `,secret_rule_id="${escapeLabelValue(fields.string(secret.ruleID))}"` +
        `,secret_target="${escapeLabelValue(fields.string(secret.target))}"` +
        `,secret_title="${escapeLabelValue(fields.string(secret.title))}"` +
        `,severity="${escapeLabelValue(fields.severity(secret.severity).label)}"${suffix}`;
      out.add('exposedSecretsInfo', slot, labels, '1', true);
    }
  }
  return fields.timestamp(report.updateTimestamp, meta.writtenAt);
}

/** The check-list kinds: config audit, RBAC, infra (namespaced) and cluster RBAC. */
const CHECK_FAMILIES: Partial<
  Record<ReportKindName, { summary: FamilyId; info?: FamilyId; infoPrefix?: string; cluster?: boolean }>
> = {
  ConfigAuditReport: {
    summary: 'resourceConfigAudits',
    info: 'configAuditsInfo',
    infoPrefix: 'config_audit',
  },
  RbacAssessmentReport: {
    summary: 'roleRbacAssessments',
    info: 'rbacAssessmentsInfo',
    infoPrefix: 'rbac_assessment',
  },
  InfraAssessmentReport: {
    summary: 'resourceInfraAssessments',
    info: 'infraAssessmentsInfo',
    infoPrefix: 'infra_assessment',
  },
  ClusterRbacAssessmentReport: { summary: 'clusterRoleClusterRbacAssessments', cluster: true },
};

interface MergedCheck {
  title: string;
  description: string;
  category: string;
  severity: string;
  success: boolean;
}

function renderCheckReport(ctx: Context, kind: ReportKindName): number | undefined {
  const { fields, out, layout, meta } = ctx;
  const families = CHECK_FAMILIES[kind];
  if (!families) return undefined;
  const report = fields.object(ctx.obj.report, true) ?? {};
  const kindLabel = fields.string(meta.labels[ReportLabel.resourceKind]);
  const prefix = families.cluster
    ? labelPairs(CLUSTER_RESOURCE_LABEL_NAMES, [meta.name, kindLabel, resourceName(meta, fields)])
    : labelPairs(RESOURCE_LABEL_NAMES, [meta.namespace, meta.name, kindLabel, resourceName(meta, fields)]);
  const suffix = resourceLabelSuffix(layout, meta.labels, fields);
  addSeveritySeries(
    out,
    families.summary,
    prefix,
    suffix,
    summaryCounts(fields.object(report.summary), fields, 4),
  );

  const slot = families.info === undefined ? undefined : out.slot(families.info);
  if (families.info !== undefined && slot !== undefined) {
    // One series per check ID, as Trivy-Operator emits; a check listed several times (once per
    // container, say) counts as passed only if every listing passed, so a failure is never hidden.
    const checks = new Map<string, MergedCheck>();
    for (const item of fields.list(report.checks)) {
      const check = fields.object(item);
      if (!check) continue;
      const id = fields.string(check.checkID);
      const success = check.success === true;
      const known = checks.get(id);
      if (known) {
        known.success &&= success;
        continue;
      }
      checks.set(id, {
        title: fields.string(check.title),
        description: fields.string(check.description),
        category: fields.string(check.category),
        severity: fields.severity(check.severity).label,
        success,
      });
    }
    const p = families.infoPrefix;
    for (const [id, check] of checks) {
      const labels =
        `${prefix},${p}_id="${escapeLabelValue(id)}",${p}_title="${escapeLabelValue(check.title)}"` +
        `,${p}_description="${escapeLabelValue(check.description)}",${p}_category="${escapeLabelValue(check.category)}"` +
        `,${p}_success="${check.success}",severity="${escapeLabelValue(check.severity)}"${suffix}`;
      out.add(families.info, slot, labels, '1', false);
    }
  }
  return fields.timestamp(report.updateTimestamp, meta.writtenAt);
}

function renderComplianceReport(ctx: Context): number | undefined {
  const { fields, out, layout, meta } = ctx;
  const spec = fields.object(ctx.obj.spec) ?? {};
  const compliance = fields.object(spec.compliance, true) ?? {};
  const status = fields.object(ctx.obj.status) ?? {};
  const summary = fields.object(status.summary) ?? {};
  const suffix = resourceLabelSuffix(layout, meta.labels, fields);
  const titleLabels = `title="${escapeLabelValue(fields.string(compliance.title))}",description="${escapeLabelValue(fields.string(compliance.description))}"`;

  const statusSlot = out.slot('clusterCompliance');
  if (statusSlot !== undefined) {
    // Status is written by the compliance run; before the first run both counts are 0.
    const fail = fields.count(summary.failCount, true);
    const pass = fields.count(summary.passCount, true);
    out.add('clusterCompliance', statusSlot, `${titleLabels},status="Fail"${suffix}`, String(fail), true);
    out.add('clusterCompliance', statusSlot, `${titleLabels},status="Pass"${suffix}`, String(pass), true);
  }
  const infoSlot = out.slot('complianceInfo');
  // Trivy-Operator leaves reports of type "all" out of the info family.
  if (infoSlot !== undefined && spec.reportType !== 'all') {
    const summaryReport = fields.object(status.summaryReport) ?? {};
    for (const item of fields.list(summaryReport.controlCheck)) {
      const control = fields.object(item);
      if (!control || control.totalFail === undefined || control.totalFail === null) continue;
      const totalFail = fields.count(control.totalFail);
      const failed = totalFail > 0;
      const labels =
        `${titleLabels},compliance_id="${escapeLabelValue(fields.string(control.id))}"` +
        `,compliance_name="${escapeLabelValue(fields.string(control.name))}",status="${failed ? 'Fail' : 'Pass'}"` +
        `,severity="${escapeLabelValue(fields.string(control.severity))}"${suffix}`;
      out.add('complianceInfo', infoSlot, labels, String(failed ? totalFail : 1), true);
    }
  }
  return fields.timestamp(status.updateTimestamp, meta.writtenAt);
}

/** Renders one report of `kind`: every enabled family's lines, the aggregate inputs and the warnings. */
export function renderReport(kind: ReportKindName, obj: unknown, layout: Layout): RenderedReport {
  const fields = new FieldReader();
  const root = fields.object(obj);
  const meta = readMetadata(root, fields);
  const out = new Output(layout);
  const ctx: Context = { layout, fields, out, meta, obj: root ?? {} };
  let updatedAt: number | undefined;
  let vulnerabilities: VulnerabilityTotals | undefined;
  if (meta.key !== '') {
    switch (kind) {
      case 'VulnerabilityReport': {
        const result = renderVulnerabilityReport(ctx);
        updatedAt = result.updatedAt;
        vulnerabilities = result.totals;
        break;
      }
      case 'ExposedSecretReport':
        updatedAt = renderExposedSecretReport(ctx);
        break;
      case 'ClusterComplianceReport':
        updatedAt = renderComplianceReport(ctx);
        break;
      default:
        updatedAt = renderCheckReport(ctx, kind);
    }
  }
  return {
    kind,
    key: meta.key,
    namespace: meta.namespace,
    updatedAt,
    lines: out.lines,
    vulnerabilities,
    warnings: fields.warnings,
    duplicates: out.duplicates,
  };
}
