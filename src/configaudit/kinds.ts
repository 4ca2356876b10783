/**
 * The kinds the config audit covers, where they live in the API, and which report each one gets,
 * following Trivy-Operator: Roles and ClusterRoles get RBAC assessments, every other namespaced
 * kind a ConfigAuditReport, every other cluster-scoped kind a ClusterConfigAuditReport.
 */
import type { ConfigAuditKind, WorkloadKind } from '../config/index.ts';
import type { ReportKindName } from '../crds/index.ts';
import { WORKLOAD_API_VERSION, isScannableKind } from '../workloads/index.ts';

/** The report kinds this module writes. */
export type AuditReportKind = Extract<
  ReportKindName,
  'ConfigAuditReport' | 'ClusterConfigAuditReport' | 'RbacAssessmentReport' | 'ClusterRbacAssessmentReport'
>;

export const AUDIT_REPORT_KINDS: readonly AuditReportKind[] = [
  'ConfigAuditReport',
  'ClusterConfigAuditReport',
  'RbacAssessmentReport',
  'ClusterRbacAssessmentReport',
];

export interface AuditedKind {
  /** Kubernetes kind, e.g. `ReplicaSet`. */
  readonly kind: string;
  readonly apiVersion: string;
  /** Resource plural in the REST path. */
  readonly plural: string;
  readonly namespaced: boolean;
  /** A workload kind (Pod, ReplicaSet, …): skipped and owned as the scanner does. */
  readonly workload: boolean;
  readonly report: AuditReportKind;
}

function audited(
  kind: string,
  apiVersion: string,
  plural: string,
  namespaced: boolean,
  report?: AuditReportKind,
): AuditedKind {
  return {
    kind,
    apiVersion,
    plural,
    namespaced,
    workload: isScannableKind(kind),
    report: report ?? (namespaced ? 'ConfigAuditReport' : 'ClusterConfigAuditReport'),
  };
}

/** Every kind we know how to audit, keyed by kind. */
export const AUDITABLE_KINDS: Readonly<Record<string, AuditedKind>> = Object.fromEntries(
  [
    audited('Pod', WORKLOAD_API_VERSION.Pod, 'pods', true),
    audited('ReplicaSet', WORKLOAD_API_VERSION.ReplicaSet, 'replicasets', true),
    audited(
      'ReplicationController',
      WORKLOAD_API_VERSION.ReplicationController,
      'replicationcontrollers',
      true,
    ),
    audited('StatefulSet', WORKLOAD_API_VERSION.StatefulSet, 'statefulsets', true),
    audited('DaemonSet', WORKLOAD_API_VERSION.DaemonSet, 'daemonsets', true),
    audited('CronJob', WORKLOAD_API_VERSION.CronJob, 'cronjobs', true),
    audited('Job', WORKLOAD_API_VERSION.Job, 'jobs', true),
    audited('Service', 'v1', 'services', true),
    audited('ConfigMap', 'v1', 'configmaps', true),
    audited('Role', 'rbac.authorization.k8s.io/v1', 'roles', true, 'RbacAssessmentReport'),
    audited('RoleBinding', 'rbac.authorization.k8s.io/v1', 'rolebindings', true),
    audited(
      'ClusterRole',
      'rbac.authorization.k8s.io/v1',
      'clusterroles',
      false,
      'ClusterRbacAssessmentReport',
    ),
    audited('ClusterRoleBinding', 'rbac.authorization.k8s.io/v1', 'clusterrolebindings', false),
    audited('NetworkPolicy', 'networking.k8s.io/v1', 'networkpolicies', true),
    audited('Ingress', 'networking.k8s.io/v1', 'ingresses', true),
    audited('ResourceQuota', 'v1', 'resourcequotas', true),
    audited('LimitRange', 'v1', 'limitranges', true),
    audited('PersistentVolumeClaim', 'v1', 'persistentvolumeclaims', true),
    audited('PersistentVolume', 'v1', 'persistentvolumes', false),
    audited('CustomResourceDefinition', 'apiextensions.k8s.io/v1', 'customresourcedefinitions', false),
  ].map((entry) => [entry.kind, entry]),
);

const WORKLOAD_KIND_NAMES: Readonly<Record<WorkloadKind, string>> = {
  pod: 'Pod',
  replicaset: 'ReplicaSet',
  replicationcontroller: 'ReplicationController',
  statefulset: 'StatefulSet',
  daemonset: 'DaemonSet',
  cronjob: 'CronJob',
  job: 'Job',
};

/**
 * The kinds to audit: `supportedKinds` with `Workload` expanded to `targetWorkloads`; Roles and
 * ClusterRoles only with the RBAC assessment on, the rest only with the config audit on.
 */
export function auditedKinds(options: {
  readonly supportedKinds: readonly ConfigAuditKind[];
  readonly targetWorkloads: readonly WorkloadKind[];
  readonly configAuditEnabled: boolean;
  readonly rbacAssessmentEnabled: boolean;
}): AuditedKind[] {
  const names = new Set<string>();
  for (const kind of options.supportedKinds) {
    if (kind === 'Workload') for (const w of options.targetWorkloads) names.add(WORKLOAD_KIND_NAMES[w]);
    else names.add(kind);
  }
  return [...names]
    .map((name) => AUDITABLE_KINDS[name])
    .filter((entry): entry is AuditedKind => entry !== undefined)
    .filter((entry) =>
      isRbacReport(entry.report) ? options.rbacAssessmentEnabled : options.configAuditEnabled,
    );
}

export function isRbacReport(report: AuditReportKind): boolean {
  return report === 'RbacAssessmentReport' || report === 'ClusterRbacAssessmentReport';
}

/** REST path of the kind's collection: all namespaces, or one namespace's for a namespaced kind. */
export function collectionPath(kind: AuditedKind, namespace?: string): string {
  const prefix = kind.apiVersion.includes('/') ? `/apis/${kind.apiVersion}` : `/api/${kind.apiVersion}`;
  const ns = kind.namespaced && namespace !== undefined ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${prefix}${ns}/${kind.plural}`;
}

/** REST path of one object. */
export function objectPath(kind: AuditedKind, namespace: string, name: string): string {
  const prefix = kind.apiVersion.includes('/') ? `/apis/${kind.apiVersion}` : `/api/${kind.apiVersion}`;
  const ns = kind.namespaced ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${prefix}${ns}/${kind.plural}/${encodeURIComponent(name)}`;
}
