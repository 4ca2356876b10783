/**
 * A ClusterComplianceReport's spec, read into what the evaluation needs. The CRD schema already
 * validates the shape on the API server; this reads defensively anyway (reports may have been
 * written under an older schema) and says what is wrong instead of evaluating half a standard.
 */
import type { ComplianceReportType } from '../crds/index.ts';
import { normaliseCheckId } from './check-id.ts';

export interface ControlSpec {
  readonly id: string;
  readonly name: string;
  readonly description: string;
  readonly severity: string;
  /** Normalised check IDs (see normaliseCheckId), unique, in spec order. */
  readonly checkIds: readonly string[];
  /** No automated check decides the control; it is reported as MANUAL, never as passed. */
  readonly manual: boolean;
}

export interface EvaluationSpec {
  /** metadata.name of the ClusterComplianceReport. */
  readonly reportName: string;
  readonly cron: string;
  readonly reportType: ComplianceReportType;
  readonly id: string;
  readonly title: string;
  readonly description: string;
  readonly version: string;
  readonly relatedResources: readonly string[];
  readonly controls: readonly ControlSpec[];
}

export type SpecReading = { ok: true; spec: EvaluationSpec } | { ok: false; problems: string[] };

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string => (typeof value === 'string' ? value : '');

/** Reads `spec` of a ClusterComplianceReport object; every problem is listed, with its field path. */
export function readComplianceSpec(report: unknown): SpecReading {
  const problems: string[] = [];
  const root = isObj(report) ? report : {};
  const metadata = isObj(root.metadata) ? root.metadata : {};
  const spec = isObj(root.spec) ? root.spec : {};
  const compliance = isObj(spec.compliance) ? spec.compliance : {};

  const reportName = text(metadata.name);
  if (!reportName) problems.push('metadata.name is missing');
  const cron = text(spec.cron).trim();
  if (!cron) problems.push('spec.cron is missing');
  const reportType = spec.reportType;
  if (reportType !== 'summary' && reportType !== 'all') {
    problems.push(`spec.reportType is ${JSON.stringify(reportType)}; expected "summary" or "all"`);
  }
  if (!text(compliance.id)) problems.push('spec.compliance.id is missing');
  if (!Array.isArray(compliance.controls)) problems.push('spec.compliance.controls is not a list');

  const controls: ControlSpec[] = [];
  const rawControls: unknown[] = Array.isArray(compliance.controls) ? compliance.controls : [];
  rawControls.forEach((raw, index) => {
    const at = `spec.compliance.controls[${index}]`;
    if (!isObj(raw)) {
      problems.push(`${at} is not an object`);
      return;
    }
    const id = text(raw.id);
    if (!id) problems.push(`${at}.id is missing`);
    const rawChecks: unknown[] = Array.isArray(raw.checks) ? raw.checks : [];
    const checkIds: string[] = [];
    rawChecks.forEach((check, checkIndex) => {
      const checkId = isObj(check) ? text(check.id).trim() : '';
      if (!checkId) problems.push(`${at}.checks[${checkIndex}].id is missing`);
      else if (!checkIds.includes(normaliseCheckId(checkId))) checkIds.push(normaliseCheckId(checkId));
    });
    controls.push({
      id,
      name: text(raw.name),
      description: text(raw.description),
      severity: text(raw.severity),
      checkIds,
      manual: checkIds.length === 0,
    });
  });

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    spec: {
      reportName,
      cron,
      reportType: reportType as ComplianceReportType,
      id: text(compliance.id),
      title: text(compliance.title),
      description: text(compliance.description),
      version: text(compliance.version),
      relatedResources: Array.isArray(compliance.relatedResources)
        ? compliance.relatedResources.filter((entry): entry is string => typeof entry === 'string')
        : [],
      controls,
    },
  };
}
