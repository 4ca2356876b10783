/**
 * The evaluation, on plain data: the failed checks of the audit reports go in one at a time, the
 * report status comes out. A control fails when any resource fails any check it maps to, passes
 * when none does, and is MANUAL when the spec maps no check to it (Trivy-Operator counts those as
 * passed; a control nobody checked is not a pass). Only counts and at most `failEntriesLimit`
 * entries per control are kept, so memory does not grow with the cluster.
 */
import type {
  ComplianceCheck,
  ComplianceDetailReport,
  ComplianceReportStatus,
  ComplianceSummaryReport,
  ControlCheckResult,
} from '../crds/index.ts';
import { avdCheckId, normaliseCheckId } from './check-id.ts';
import type { ControlSpec, EvaluationSpec } from './spec.ts';

/** One failed check of one resource, as read from a config-audit, RBAC or infra report. */
export interface FailedCheck {
  /** As the report wrote it (`KSV017`, `KSV-0017`, `AVD-KSV-0017` …). */
  readonly checkID: string;
  /** The report it came from: `namespace/name`, or `name` for cluster-scoped reports. */
  readonly target: string;
  readonly severity?: string;
  readonly title?: string;
  readonly description?: string;
  readonly category?: string;
  readonly remediation?: string;
  readonly messages?: readonly string[];
}

export const ControlStatus = { pass: 'PASS', fail: 'FAIL', manual: 'MANUAL' } as const;
export type ControlStatus = (typeof ControlStatus)[keyof typeof ControlStatus];

export interface ControlOutcome {
  readonly control: ControlSpec;
  readonly status: ControlStatus;
  /** Failed check results mapped to the control (resource × check). */
  readonly failed: number;
  /** The first `failEntriesLimit` of them, in the order they were read. */
  readonly entries: readonly FailedCheck[];
}

export interface Evaluation {
  readonly spec: EvaluationSpec;
  readonly controls: readonly ControlOutcome[];
  readonly passCount: number;
  readonly failCount: number;
  readonly manualCount: number;
  /** Failed results not listed because of `failEntriesLimit`. */
  readonly unlisted: number;
}

export interface TallyOptions {
  /** Failed results listed per control in an `all` report (Trivy-Operator's compliance.failEntriesLimit). */
  readonly failEntriesLimit: number;
}

const DEFAULT_CATEGORY = 'Kubernetes Security Check';

/** Accumulates failed checks for one spec. */
export class ComplianceTally {
  private readonly controlsByCheck = new Map<string, number[]>();
  private readonly failed: number[];
  private readonly entries: FailedCheck[][];

  constructor(
    readonly spec: EvaluationSpec,
    private readonly options: TallyOptions,
  ) {
    spec.controls.forEach((control, index) => {
      for (const id of control.checkIds) {
        const list = this.controlsByCheck.get(id) ?? [];
        list.push(index);
        this.controlsByCheck.set(id, list);
      }
    });
    this.failed = spec.controls.map(() => 0);
    this.entries = spec.controls.map(() => []);
  }

  /** Normalised check IDs this spec looks at. */
  checkIds(): IterableIterator<string> {
    return this.controlsByCheck.keys();
  }

  add(check: FailedCheck): void {
    const indexes = this.controlsByCheck.get(normaliseCheckId(check.checkID));
    if (!indexes) return;
    // Entries are only listed in `all` reports; a summary needs the counts alone.
    const keep = this.spec.reportType === 'all';
    for (const index of indexes) {
      this.failed[index] = (this.failed[index] ?? 0) + 1;
      const list = this.entries[index];
      if (keep && list && list.length < this.options.failEntriesLimit) list.push(check);
    }
  }

  result(): Evaluation {
    let passCount = 0;
    let failCount = 0;
    let manualCount = 0;
    let unlisted = 0;
    const controls = this.spec.controls.map((control, index): ControlOutcome => {
      const failed = this.failed[index] ?? 0;
      const entries = this.entries[index] ?? [];
      const status = control.manual
        ? ControlStatus.manual
        : failed > 0
          ? ControlStatus.fail
          : ControlStatus.pass;
      if (status === ControlStatus.manual) manualCount++;
      else if (status === ControlStatus.fail) failCount++;
      else passCount++;
      if (this.spec.reportType === 'all') unlisted += failed - entries.length;
      return { control, status, failed, entries };
    });
    return { spec: this.spec, controls, passCount, failCount, manualCount, unlisted };
  }
}

/** Evaluates a spec over a list of failed checks in one call (tests, small inputs). */
export function evaluate(
  spec: EvaluationSpec,
  failedChecks: Iterable<FailedCheck>,
  options: TallyOptions,
): Evaluation {
  const tally = new ComplianceTally(spec, options);
  for (const check of failedChecks) tally.add(check);
  return tally.result();
}

/** Per-control failed counts; MANUAL controls carry no count (Trivy leaves `totalFail` out for them). */
export function summaryReportOf(evaluation: Evaluation): ComplianceSummaryReport {
  return {
    id: evaluation.spec.id,
    title: evaluation.spec.title,
    controlCheck: evaluation.controls.map(({ control, status, failed }) => ({
      id: control.id,
      name: control.name,
      severity: control.severity,
      ...(status === ControlStatus.manual ? {} : { totalFail: failed }),
    })),
  };
}

function failedEntry(check: FailedCheck): ComplianceCheck {
  const messages = check.messages?.length
    ? [...check.messages]
    : check.description
      ? [check.description]
      : undefined;
  return {
    checkID: avdCheckId(check.checkID),
    target: check.target,
    ...(check.title ? { title: check.title } : {}),
    ...(check.description ? { description: check.description } : {}),
    severity: (check.severity ?? '') as ComplianceCheck['severity'],
    category: check.category || DEFAULT_CATEGORY,
    ...(messages ? { messages } : {}),
    ...(check.remediation ? { remediation: check.remediation } : {}),
    success: false,
  };
}

/** A passing control lists its checks as passed, so `checks[].success` reads true for it. */
function passedEntries(control: ControlSpec): ComplianceCheck[] {
  return control.checkIds.map((id) => ({
    checkID: avdCheckId(id),
    severity: control.severity as ComplianceCheck['severity'],
    success: true,
  }));
}

export function controlResultOf(
  outcome: ControlOutcome,
  listed = outcome.entries.length,
): ControlCheckResult {
  const { control, status } = outcome;
  const checks =
    status === ControlStatus.fail
      ? outcome.entries.slice(0, listed).map(failedEntry)
      : status === ControlStatus.pass
        ? passedEntries(control)
        : [];
  return {
    id: control.id,
    name: control.name,
    ...(control.description ? { description: control.description } : {}),
    status,
    severity: control.severity,
    checks,
  };
}

export function detailReportOf(evaluation: Evaluation): ComplianceDetailReport {
  const { spec } = evaluation;
  return {
    id: spec.id,
    title: spec.title,
    description: spec.description,
    version: spec.version,
    relatedVersion: [...spec.relatedResources],
    results: evaluation.controls.map((outcome) => controlResultOf(outcome)),
  };
}

/**
 * The status Trivy-Operator writes for the report type: `summary` → summary + summaryReport;
 * `all` → summary + detailReport, and here also the summaryReport, so per-control counts stay whole
 * when the detail has to be cut (see fitStatus).
 */
export function statusOf(evaluation: Evaluation, updateTimestamp: string): ComplianceReportStatus {
  const summary = { passCount: evaluation.passCount, failCount: evaluation.failCount };
  const summaryReport = summaryReportOf(evaluation);
  if (evaluation.spec.reportType === 'summary') return { updateTimestamp, summary, summaryReport };
  return { updateTimestamp, summary, summaryReport, detailReport: detailReportOf(evaluation) };
}
