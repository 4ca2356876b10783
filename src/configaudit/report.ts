/**
 * The report objects of the config audit, named, labelled and owned exactly as Trivy-Operator
 * writes them, so its users' selectors keep working and reports it wrote are updated in place.
 */
import type { V1OwnerReference } from '@kubernetes/client-node';
import { formatGoDuration } from '../config/index.ts';
import {
  API_GROUP_VERSION,
  ReportAnnotation,
  ReportLabel,
  type Check,
  type SeveritySummary,
} from '../crds/index.ts';
import {
  REPORT_DATA_LIMIT_BYTES,
  SEVERITY_RANK,
  TRIMMED_ANNOTATION,
  rfc3339Seconds,
  scannerOf,
} from '../reports/index.ts';
import { REPORT_MANAGED_BY, isValidLabelValue, nameHash, workloadLabels } from '../workloads/index.ts';
import { summarise } from './checks.ts';
import type { AuditReportKind, AuditedKind } from './kinds.ts';

/** The audited object, by identity only. */
export interface AuditTarget {
  readonly kind: AuditedKind;
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
}

export interface AuditReportObject {
  apiVersion: typeof API_GROUP_VERSION;
  kind: AuditReportKind;
  metadata: {
    name: string;
    namespace?: string;
    labels: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences: V1OwnerReference[];
    resourceVersion?: string;
  };
  report: {
    updateTimestamp?: string;
    scanner: { name: string; vendor: string; version: string };
    summary: SeveritySummary;
    checks: Check[];
  };
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** `<kind>-<name>` when that is a DNS-1123 label, else `<kind>-<hash of name>` (Trivy-Operator's). */
export function auditReportName(kind: string, name: string): string {
  const plain = `${kind.toLowerCase()}-${name}`;
  if (plain.length <= 63 && DNS_LABEL.test(plain)) return plain;
  return `${kind.toLowerCase()}-${nameHash(name)}`;
}

/** Labels that identify the audited object; also the selector of its report. */
export function targetLabels(
  target: Pick<AuditTarget, 'namespace' | 'name'> & { kind: string },
): Record<string, string> {
  return workloadLabels(target);
}

export interface AuditReportInput {
  readonly target: AuditTarget;
  readonly specHash: string;
  readonly policyHash: string;
  readonly checks: Check[];
  /** Version of the Trivy binary that evaluated the checks. */
  readonly scannerVersion: string;
  readonly now: Date;
  /** Labels copied from the object (`trivyOperator.reportResourceLabels`); ours win on conflict. */
  readonly extraLabels?: Readonly<Record<string, string>>;
  /** Budget for `.report` in bytes (etcd's limit less room for metadata). */
  readonly maxBytes?: number;
  /**
   * `operator.scannerReportTTL`; null or absent = no TTL annotation. Trivy-Operator annotates
   * only its namespaced ConfigAuditReports and RbacAssessmentReports (`pkg/configauditreport/
   * builder.go` and `pkg/rbacassessment/builder.go` GetReport), never the cluster-scoped ones.
   */
  readonly ttlMs?: number | null;
}

/** The report about one object, with a summary of its failed checks. */
export function buildAuditReport(input: AuditReportInput): AuditReportObject {
  const { target } = input;
  const reportKind = target.kind.report;
  const annotations: Record<string, string> = {};
  if (target.kind.namespaced && input.ttlMs !== undefined && input.ttlMs !== null) {
    annotations[ReportAnnotation.reportTTL] = formatGoDuration(input.ttlMs);
  }
  if (!isValidLabelValue(target.name)) annotations[ReportAnnotation.resourceName] = target.name;
  const { checks, dropped } = fitChecks(input.checks, input.maxBytes ?? REPORT_DATA_LIMIT_BYTES);
  if (dropped > 0) {
    annotations[TRIMMED_ANNOTATION] =
      `dropped ${dropped} of ${input.checks.length} checks (passed, then lowest severity first) to fit etcd's limit`;
  }
  const withTimestamp = reportKind === 'ConfigAuditReport' || reportKind === 'ClusterConfigAuditReport';
  return {
    apiVersion: API_GROUP_VERSION,
    kind: reportKind,
    metadata: {
      name: auditReportName(target.kind.kind, target.name),
      ...(target.kind.namespaced ? { namespace: target.namespace } : {}),
      labels: {
        ...input.extraLabels,
        ...targetLabels({ kind: target.kind.kind, namespace: target.namespace, name: target.name }),
        [ReportLabel.managedBy]: REPORT_MANAGED_BY,
        [ReportLabel.resourceSpecHash]: input.specHash,
        [ReportLabel.pluginConfigHash]: input.policyHash,
      },
      ...(Object.keys(annotations).length > 0 ? { annotations } : {}),
      ownerReferences: [
        {
          apiVersion: target.kind.apiVersion,
          kind: target.kind.kind,
          name: target.name,
          uid: target.uid,
          controller: true,
          // false: writing reports then needs no permission on the owners' finalizers.
          blockOwnerDeletion: false,
        },
      ],
    },
    report: {
      ...(withTimestamp ? { updateTimestamp: rfc3339Seconds(input.now) } : {}),
      scanner: scannerOf(input.scannerVersion),
      // Counted before any trimming, so the summary always describes the whole audit.
      summary: summarise(input.checks),
      checks,
    },
  };
}

const size = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/**
 * Keeps the check list within `maxBytes` of JSON: drops passed checks first, then failed ones from
 * the lowest severity up. Audit reports are small; this only matters for custom policies that
 * emit huge messages.
 */
export function fitChecks(checks: Check[], maxBytes: number): { checks: Check[]; dropped: number } {
  const sizes = checks.map(size);
  let total = 2 + sizes.reduce((sum, s) => sum + s + 1, 0);
  if (total <= maxBytes) return { checks, dropped: 0 };
  const order = checks
    .map((_check, index) => index)
    .sort((a, b) => {
      const rank = (i: number) =>
        checks[i]?.success ? -1 : (SEVERITY_RANK[checks[i]?.severity ?? 'UNKNOWN'] ?? 0);
      return rank(a) - rank(b) || b - a;
    });
  const dropped = new Set<number>();
  for (const index of order) {
    if (total <= maxBytes) break;
    total -= (sizes[index] ?? 0) + 1;
    dropped.add(index);
  }
  return { checks: checks.filter((_c, i) => !dropped.has(i)), dropped: dropped.size };
}
