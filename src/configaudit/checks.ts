/**
 * Trivy's misconfigurations → the check items of Trivy-Operator's reports: same IDs, titles,
 * descriptions, severities and remediation, the constant category, messages only on failures,
 * failed-checks-only when asked, and the control-plane checks (KCV) set apart for infra reports.
 */
import type { Check, Severity, SeveritySummary } from '../crds/index.ts';
import type { TrivyMisconfiguration } from './trivy-output.ts';

/** Trivy-Operator writes this category on every check, built-in or custom. */
export const CHECK_CATEGORY = 'Kubernetes Security Check';

const NEW_STYLE_ID = /^(?:AVD-)?([A-Z]+)-(\d+)$/;
const LEGACY_ID = /^([A-Za-z]+)(\d+)$/;

/**
 * The check ID as Trivy-Operator's reports have always spelled it (`KSV017`, `KCV0001`): the
 * built-in check's legacy alias, which is also the last part of its Rego package. Trivy now
 * prints `KSV-0017`; users' exceptions and dashboards key on the old form, and compliance
 * matching normalises either. Custom policies keep the ID they declare.
 */
export function reportCheckId(misconfiguration: Pick<TrivyMisconfiguration, 'id' | 'namespace'>): string {
  const { id, namespace } = misconfiguration;
  const match = NEW_STYLE_ID.exec(id);
  if (!match || !namespace.startsWith('builtin.')) return id;
  const legacy = LEGACY_ID.exec(namespace.slice(namespace.lastIndexOf('.') + 1));
  if (!legacy) return id;
  const [, prefix = '', digits = ''] = legacy;
  // Only when the package names the same check: the prefix and number must agree.
  if (prefix.toUpperCase() !== match[1] || Number(digits) !== Number(match[2])) return id;
  return `${prefix.toUpperCase()}${digits}`;
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
      remediation: item.resolution,
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
