/**
 * Names, labels, annotations and owner references of the per-container reports (vulnerability,
 * exposed secret, SBOM), exactly as Trivy-Operator writes them, so that its users' selectors,
 * dashboards and scripts keep working and reports it wrote are updated in place.
 */
import type { V1OwnerReference } from '@kubernetes/client-node';
import { formatGoDuration } from '../config/index.ts';
import { MANAGED_BY_TRIVY_OPERATOR, ReportAnnotation, ReportLabel } from '../crds/index.ts';
import { nameHash } from './hash.ts';
import type { WorkloadRef } from './kinds.ts';

/**
 * `app.kubernetes.io/managed-by` on our reports: Trivy-Operator's value, on purpose, because dashboards
 * and selectors in the field filter on it.
 */
export const REPORT_MANAGED_BY = MANAGED_BY_TRIVY_OPERATOR;

const LABEL_VALUE = /^(?:(?:[A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9](?:[-a-z0-9]*[a-z0-9])?(?:\.[a-z0-9](?:[-a-z0-9]*[a-z0-9])?)*$/;

/** Kubernetes' label value rule: at most 63 characters, alphanumerics with `-_.` inside. */
export function isValidLabelValue(value: string): boolean {
  return value.length <= 63 && LABEL_VALUE.test(value);
}

/** Kubernetes' object name rule (DNS-1123 subdomain). */
export function isValidObjectName(name: string): boolean {
  return name.length <= 253 && DNS_SUBDOMAIN.test(name);
}

/**
 * Name of the report about one container of a workload: `<kind>-<name>-<container>` when that is a
 * valid label value and object name, else `<kind>-<hash of name-container>` (Trivy-Operator's hash).
 */
export function reportName(workload: Pick<WorkloadRef, 'kind' | 'name'>, container: string): string {
  const kind = workload.kind.toLowerCase();
  const plain = `${kind}-${workload.name}-${container}`;
  if (isValidLabelValue(plain) && isValidObjectName(plain)) return plain;
  return `${kind}-${nameHash(`${workload.name}-${container}`)}`;
}

/**
 * The labels that identify a workload on its reports, which is also the selector to find them:
 * kind, namespace, and the name (or its hash when the name is not a valid label value). The
 * config audit labels the reports of any other kind the same way.
 */
export function workloadLabels(
  workload: Pick<WorkloadRef, 'namespace' | 'name'> & { readonly kind: string },
): Record<string, string> {
  return {
    [ReportLabel.resourceKind]: workload.kind,
    [ReportLabel.resourceNamespace]: workload.namespace,
    ...(isValidLabelValue(workload.name)
      ? { [ReportLabel.resourceName]: workload.name }
      : { [ReportLabel.resourceNameHash]: nameHash(workload.name) }),
  };
}

/** The owner reference that ties a report to its workload (garbage-collected with it). */
export function ownerReferenceTo(workload: WorkloadRef): V1OwnerReference {
  return {
    apiVersion: workload.apiVersion,
    kind: workload.kind,
    name: workload.name,
    uid: workload.uid,
    controller: true,
    // false so that writing reports needs no permission on the owners' finalizers subresource
    // (OwnerReferencesPermissionEnforcement admission).
    blockOwnerDeletion: false,
  };
}

export interface ReportMetadataOptions {
  /** The workload's current `resource-spec-hash`. */
  readonly specHash: string;
  /** Report TTL (`operator.scannerReportTTL`); null or absent = no TTL annotation. */
  readonly ttlMs?: number | null;
  /** More labels (e.g. workload labels to copy); the identifying labels above win on conflict. */
  readonly extraLabels?: Readonly<Record<string, string>>;
}

export interface ReportMetadata {
  name: string;
  namespace: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  ownerReferences: V1OwnerReference[];
}

/**
 * The labels of `labels` named in `wanted` (`trivyOperator.reportResourceLabels`), copied onto the
 * reports about that resource; labels the resource does not have are left out.
 */
export function pickReportResourceLabels(
  labels: Record<string, string> | undefined,
  wanted: readonly string[],
): Record<string, string> {
  return Object.fromEntries(
    wanted.flatMap((name) => (labels?.[name] === undefined ? [] : [[name, labels[name]]])),
  );
}

/**
 * What a report carries besides its identifying labels: `trivyOperator.additionalReportLabels`,
 * then the resource's labels named in `wanted` (`trivyOperator.reportResourceLabels`).
 */
export function reportExtraLabels(
  labels: Record<string, string> | undefined,
  wanted: readonly string[],
  additional: Readonly<Record<string, string>>,
): Record<string, string> {
  return { ...additional, ...pickReportResourceLabels(labels, wanted) };
}

/** Metadata of the report about `container` of `workload`. */
export function reportMetadata(
  workload: WorkloadRef,
  container: string,
  options: ReportMetadataOptions,
): ReportMetadata {
  const annotations: Record<string, string> = {};
  if (options.ttlMs !== undefined && options.ttlMs !== null) {
    annotations[ReportAnnotation.reportTTL] = formatGoDuration(options.ttlMs);
  }
  if (!isValidLabelValue(workload.name)) annotations[ReportAnnotation.resourceName] = workload.name;
  return {
    name: reportName(workload, container),
    namespace: workload.namespace,
    labels: {
      ...options.extraLabels,
      ...workloadLabels(workload),
      [ReportLabel.containerName]: container,
      [ReportLabel.managedBy]: REPORT_MANAGED_BY,
      [ReportLabel.resourceSpecHash]: options.specHash,
    },
    annotations,
    ownerReferences: [ownerReferenceTo(workload)],
  };
}
