/**
 * What the webhook sends, in Trivy-Operator's shapes so existing receivers keep working: the
 * report object as JSON, or `{"verb", "operatorObject"}` when deleted reports are sent too.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { parseGoDuration } from '../config/index.ts';
import { API_GROUP_VERSION, ReportAnnotation, type ReportKindName } from '../crds/index.ts';

/** The kinds Trivy-Operator broadcasts (its cluster-scoped vulnerability and SBOM kinds are not). */
export const WEBHOOK_REPORT_KINDS = [
  'VulnerabilityReport',
  'ExposedSecretReport',
  'SbomReport',
  'ConfigAuditReport',
  'ClusterConfigAuditReport',
  'RbacAssessmentReport',
  'ClusterRbacAssessmentReport',
  'InfraAssessmentReport',
  'ClusterInfraAssessmentReport',
  'ClusterComplianceReport',
] as const satisfies readonly ReportKindName[];
export type WebhookReportKind = (typeof WEBHOOK_REPORT_KINDS)[number];

export const WebhookVerb = { update: 'update', delete: 'delete', newFindings: 'newFindings' } as const;
export type WebhookVerb = (typeof WebhookVerb)[keyof typeof WebhookVerb];

/** Which report a notification is about; the object itself is read when it is sent. */
export interface ReportRef {
  readonly kind: WebhookReportKind;
  /** Absent for cluster-scoped kinds. */
  readonly namespace?: string;
  readonly name: string;
}

export function refKey(ref: ReportRef): string {
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

export function refOf(kind: WebhookReportKind, obj: KubernetesObject): ReportRef {
  const namespace = obj.metadata?.namespace;
  return { kind, name: obj.metadata?.name ?? '', ...(namespace ? { namespace } : {}) };
}

/**
 * Trivy-Operator marks the reports of replaced ReplicaSets with a zero TTL just before deleting
 * them ("historical" reports) and does not broadcast them; neither do we.
 */
export function isHistorical(obj: KubernetesObject): boolean {
  const ttl = obj.metadata?.annotations?.[ReportAnnotation.reportTTL];
  if (ttl === undefined) return false;
  try {
    return parseGoDuration(ttl) === 0;
  } catch {
    return false;
  }
}

export function isTerminating(obj: KubernetesObject): boolean {
  return Boolean(obj.metadata?.deletionTimestamp);
}

/**
 * The object sent for a deleted report: its kind and last metadata (without managedFields, which
 * only the API server needs). The findings are not kept after deletion: holding every deleted
 * report's body until it is sent could take gigabytes when a receiver is down.
 */
export function deletedReportObject(kind: WebhookReportKind, obj: KubernetesObject): KubernetesObject {
  const metadata = { ...obj.metadata };
  delete metadata.managedFields;
  return { apiVersion: API_GROUP_VERSION, kind, metadata };
}

/**
 * The request body. With `sendDeletedReports` every message is wrapped with its verb, as
 * Trivy-Operator does, so a receiver can tell updates from deletions; without it the body is the
 * report object itself.
 */
export function webhookBody(
  object: KubernetesObject,
  verb: WebhookVerb,
  sendDeletedReports: boolean,
): string {
  return JSON.stringify(sendDeletedReports ? { verb, operatorObject: object } : object);
}

/** One finding of a `newFindings` message, named as in the report's `vulnerabilities[]`. */
export interface NewFindingBody {
  readonly vulnerabilityID: string;
  readonly severity: string;
  readonly resource: string;
  readonly installedVersion: string;
  readonly fixedVersion: string;
  /** When it was first seen in this namespace and image repository (RFC 3339). */
  readonly firstSeen: string;
}

/**
 * `operator.webhookSendNewFindingsOnly`: what a receiver gets for a VulnerabilityReport, only the
 * findings first seen since the last message, with the workload and image they run in.
 */
export interface NewFindingsBody {
  readonly verb: typeof WebhookVerb.newFindings;
  readonly kind: 'VulnerabilityReport';
  readonly namespace: string;
  readonly name: string;
  readonly workload: { readonly kind: string; readonly name: string; readonly container: string };
  readonly image: string;
  readonly findings: readonly NewFindingBody[];
}
