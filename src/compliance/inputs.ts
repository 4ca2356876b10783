/**
 * The failed checks the evaluation reads, from the config-audit, RBAC and infra reports on the API
 * server. Reports are listed a page at a time (`limit`/`continue`) and only the failed checks that
 * some spec maps are kept, so a run never holds every report at once. Namespaced reports outside
 * the operator's target namespaces are left out; cluster-scoped reports always count.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, ReportKind, type ReportKindName } from '../crds/index.ts';
import { isNotFound, kubeRequestJson } from '../kube/index.ts';
import { normaliseCheckId } from './check-id.ts';
import type { FailedCheck } from './evaluate.ts';

/**
 * Trivy-Operator reads these five kinds; ClusterConfigAuditReport is read too, since a failed check
 * on a cluster-scoped object (a CRD, a Namespace…) fails its control just the same.
 */
export const COMPLIANCE_INPUT_KINDS = [
  'ConfigAuditReport',
  'ClusterConfigAuditReport',
  'RbacAssessmentReport',
  'ClusterRbacAssessmentReport',
  'InfraAssessmentReport',
  'ClusterInfraAssessmentReport',
] as const satisfies readonly ReportKindName[];
export type ComplianceInputKind = (typeof COMPLIANCE_INPUT_KINDS)[number];

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;

/**
 * The failed checks of one report object whose normalised ID passes `wanted`. Checks without an ID
 * are skipped; a check without `success` counts as failed only when it says `success: false`.
 */
export function failedChecksOf(report: unknown, wanted: (checkId: string) => boolean): FailedCheck[] {
  if (!isObj(report)) return [];
  const metadata = isObj(report.metadata) ? report.metadata : {};
  const data = isObj(report.report) ? report.report : {};
  const name = text(metadata.name) ?? '';
  const namespace = text(metadata.namespace);
  const target = namespace ? `${namespace}/${name}` : name;
  const failed: FailedCheck[] = [];
  for (const check of Array.isArray(data.checks) ? data.checks : []) {
    if (!isObj(check) || check.success !== false) continue;
    const checkID = text(check.checkID);
    if (!checkID || !wanted(normaliseCheckId(checkID))) continue;
    const messages = Array.isArray(check.messages)
      ? check.messages.filter((message): message is string => typeof message === 'string')
      : undefined;
    failed.push({
      checkID,
      target,
      severity: text(check.severity),
      title: text(check.title),
      description: text(check.description),
      category: text(check.category),
      remediation: text(check.remediation),
      ...(messages?.length ? { messages } : {}),
    });
  }
  return failed;
}

export interface ReadOptions {
  /** Normalised check IDs to keep. */
  readonly wanted: (checkId: string) => boolean;
  /** Namespaces whose reports count. */
  readonly namespaceIncluded: (namespace: string) => boolean;
  /** Reports per list request. */
  readonly pageSize: number;
  readonly signal?: AbortSignal;
}

/** Every wanted failed check of every input report, one list page in memory at a time. */
export async function* readFailedChecks(kc: KubeConfig, options: ReadOptions): AsyncGenerator<FailedCheck> {
  for (const kind of COMPLIANCE_INPUT_KINDS) {
    const path = `/apis/${API_GROUP}/${API_VERSION}/${ReportKind[kind].plural}`;
    let continueToken: string | undefined;
    do {
      let page: { metadata?: { continue?: string }; items?: unknown[] };
      try {
        page = await kubeRequestJson(kc, {
          path,
          query: { limit: options.pageSize, continue: continueToken },
          signal: options.signal,
        });
      } catch (err) {
        // A kind whose CRD is not installed has no reports to count.
        if (isNotFound(err) && continueToken === undefined) break;
        throw err;
      }
      continueToken = page.metadata?.continue || undefined;
      for (const item of page.items ?? []) {
        const namespace = isObj(item) && isObj(item.metadata) ? text(item.metadata.namespace) : undefined;
        if (namespace !== undefined && !options.namespaceIncluded(namespace)) continue;
        yield* failedChecksOf(item, options.wanted);
      }
    } while (continueToken);
  }
}
