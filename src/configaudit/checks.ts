/**
 * Trivy's misconfigurations → the check items of Trivy-Operator's reports: same IDs (`AVD-KSV-0017`), titles,
 * descriptions, severities and remediation, the constant category, messages only on failures,
 * failed-checks-only when asked, and the control-plane checks (KCV) set apart for infra reports.
 */
import type { Check, Severity, SeveritySummary } from '../crds/index.ts';
import type { TrivyMisconfiguration } from './trivy-output.ts';

/** Trivy-Operator writes this category on every check, built-in or custom. */
export const CHECK_CATEGORY = 'Kubernetes Security Check';

const NEW_STYLE_ID = /^(?:AVD-)?([A-Z]+-\d+)$/;

/**
 * The check ID as Trivy-Operator v0.32.0 writes it: `AVD-KSV-0017`, `AVD-KCV-0001`.
 *
 * Trivy-Operator takes the first alias of the check's rule when it has one, else the rule's ID
 * (`GetResultID` in its `pkg/policy/policy.go`, used by `pkg/configauditreport/controller/
 * resource.go`). Every Kubernetes check of the trivy-checks module it and Trivy v0.74.0 pin
 * (v1.12.2-0.20251219190323-79d27547baf5) declares `id: KSV-0017` with `AVD-KSV-0017` as its
 * first alias (and the old `KSV017` second). `trivy config --format json` prints the rule's `ID`
 * (`KSV-0017`) but not the aliases (`Aliases` is `json:"-"` in Trivy's
 * `pkg/types/misconfiguration.go`; the deprecated `AVDID` is empty for these checks), so the
 * alias is rebuilt from the ID for Trivy's own checks (Rego package `builtin.*`). Custom policies
 * keep the ID they declare. Compliance matching normalises every spelling (`normaliseCheckId`).
 */
export function reportCheckId(misconfiguration: Pick<TrivyMisconfiguration, 'id' | 'namespace'>): string {
  const { id, namespace } = misconfiguration;
  if (!namespace.startsWith('builtin.')) return id;
  const match = NEW_STYLE_ID.exec(id);
  return match ? `AVD-${match[1]}` : id;
}

/** Control-plane and node checks: Trivy-Operator routes them to infra assessments only. */
export function isInfraCheck(checkId: string): boolean {
  return checkId.startsWith('KCV') || checkId.startsWith('AVD-KCV');
}

export interface CheckOptions {
  /** Severities to keep (`trivy.severity`). */
  readonly severities: readonly Severity[];
  /** Leave passed checks out (`trivyOperator.reportRecordFailedChecksOnly`). */
  readonly failedOnly: boolean;
}

export interface SortedChecks {
  /** For the config-audit or RBAC report. */
  readonly checks: Check[];
  /** KCV checks, for an infra assessment (written only for control-plane components). */
  readonly infraChecks: Check[];
}

/** Report check items from one object's misconfigurations. */
export function toChecks(items: readonly TrivyMisconfiguration[], options: CheckOptions): SortedChecks {
  const checks: Check[] = [];
  const infraChecks: Check[] = [];
  for (const item of items) {
    // EXCEPTION = waived by an ignore rule: neither a failure nor a pass to report.
    if (item.status === 'EXCEPTION') continue;
    if (!options.severities.includes(item.severity)) continue;
    const success = item.status === 'PASS';
    if (success && options.failedOnly) continue;
    // A failure without a message says nothing about the object (Trivy-Operator drops these too).
    if (!success && item.message === '') continue;
    const checkID = reportCheckId(item);
    const check: Check = {
      checkID,
      title: item.title,
      description: item.description,
      severity: item.severity,
      category: CHECK_CATEGORY,
      ...(success ? {} : { messages: [item.message] }),
      // Trivy-Operator leaves an empty remediation out (`omitempty` on its Check type).
      ...(item.resolution === '' ? {} : { remediation: item.resolution }),
      success,
    };
    (isInfraCheck(checkID) ? infraChecks : checks).push(check);
  }
  return { checks, infraChecks };
}

/** Failed checks per severity (UNKNOWN has no counter in these reports' summary). */
export function summarise(checks: readonly Check[]): SeveritySummary {
  const summary: SeveritySummary = { criticalCount: 0, highCount: 0, mediumCount: 0, lowCount: 0 };
  for (const check of checks) {
    if (check.success) continue;
    if (check.severity === 'CRITICAL') summary.criticalCount += 1;
    else if (check.severity === 'HIGH') summary.highCount += 1;
    else if (check.severity === 'MEDIUM') summary.mediumCount += 1;
    else if (check.severity === 'LOW') summary.lowCount += 1;
  }
  return summary;
}
