/**
 * The infra assessment's inputs and outputs as plain data: the node collector's log → NodeInfo,
 * which kube-system pods are control-plane components, and the report objects Trivy-Operator
 * writes for them — ClusterInfraAssessmentReport `node-<name>` owned by the Node, and
 * InfraAssessmentReport `pod-<name>` in kube-system owned by the Pod.
 */
import type { V1Node, V1OwnerReference, V1Pod } from '@kubernetes/client-node';
import { formatGoDuration } from '../config/index.ts';
import {
  API_GROUP_VERSION,
  ReportAnnotation,
  ReportLabel,
  type Check,
  type SeveritySummary,
} from '../crds/index.ts';
import { auditReportName, fitChecks, summarise, targetLabels } from '../configaudit/index.ts';
import { ErrorCodes, LookoutError } from '../errors/index.ts';
import { NODE_INFO_KIND, type NodeInfo } from '../nodecollector/index.ts';
import { REPORT_DATA_LIMIT_BYTES, TRIMMED_ANNOTATION, scannerOf } from '../reports/index.ts';
import { REPORT_MANAGED_BY, contentHash, isValidLabelValue, resourceSpecHash } from '../workloads/index.ts';

export type InfraReportKind = 'InfraAssessmentReport' | 'ClusterInfraAssessmentReport';

/** When the checks were evaluated (RFC 3339): infra reports have no updateTimestamp of their own. */
export const ASSESSED_AT_ANNOTATION = 'trivy-lookout.dev/assessed-at';

export const CONTROL_PLANE_NAMESPACE = 'kube-system';
export const CONTROL_PLANE_COMPONENTS = [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'etcd',
] as const;

export interface InfraReportObject {
  apiVersion: typeof API_GROUP_VERSION;
  kind: InfraReportKind;
  metadata: {
    name: string;
    namespace?: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences: V1OwnerReference[];
  };
  report: {
    scanner: { name: string; vendor: string; version: string };
    summary: SeveritySummary;
    checks: Check[];
  };
}

/**
 * A control-plane component: in kube-system, with the `component` label kubeadm puts on static
 * pods, or (as Trivy-Operator decides) a name that contains the component's.
 */
export function isControlPlanePod(pod: V1Pod): boolean {
  if (pod.metadata?.namespace !== CONTROL_PLANE_NAMESPACE) return false;
  const component = pod.metadata.labels?.component ?? '';
  const name = pod.metadata.name ?? '';
  return CONTROL_PLANE_COMPONENTS.some((c) => component === c || name.includes(c));
}

/**
 * The NodeInfo the collector printed. Its log should hold exactly one JSON line; anything around it
 * (a runtime warning on stderr) is ignored, anything else is a clear error.
 */
export function parseNodeCollectorLog(log: string): NodeInfo {
  const lines = log
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line.startsWith('{'));
  const line = lines.at(-1);
  if (line === undefined) {
    const preview = log.trim().slice(0, 200);
    throw new LookoutError(
      ErrorCodes.SCAN_FAILED,
      `the node collector printed no NodeInfo${preview ? `: ${JSON.stringify(preview)}` : ' (empty log)'}`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(line);
  } catch (err) {
    throw new LookoutError(
      ErrorCodes.SCAN_FAILED,
      `the node collector's output is not JSON: ${(err as Error).message}`,
    );
  }
  const info = doc as Partial<NodeInfo>;
  if (
    info.kind !== NODE_INFO_KIND ||
    (info.type !== 'master' && info.type !== 'worker') ||
    typeof info.info !== 'object' ||
    info.info === null
  ) {
    throw new LookoutError(
      ErrorCodes.SCAN_FAILED,
      'the node collector printed JSON that is not a NodeInfo document (kind NodeInfo, type master|worker, info)',
    );
  }
  for (const [key, entry] of Object.entries(info.info)) {
    if (!Array.isArray((entry as { values?: unknown } | null)?.values))
      throw new LookoutError(ErrorCodes.SCAN_FAILED, `NodeInfo entry ${key} has no values list`);
  }
  return info as NodeInfo;
}

/**
 * What a node's report depends on besides the checks: the fields that change what the collector
 * finds or which checks apply (role labels, kubelet version). Status heartbeats do not count.
 */
export function nodeSpecHash(node: V1Node): string {
  const info = node.status?.nodeInfo;
  return contentHash({
    labels: node.metadata?.labels ?? {},
    taints: node.spec?.taints ?? [],
    kubelet: info?.kubeletVersion,
    os: info?.osImage,
    kernel: info?.kernelVersion,
    runtime: info?.containerRuntimeVersion,
  });
}

/** The spec hash of a control-plane pod: its pod spec (flags live there). */
export function podSpecHash(pod: V1Pod): string {
  return resourceSpecHash({ ...pod, kind: 'Pod' } as Parameters<typeof resourceSpecHash>[0]);
}

/** `plugin-config-hash`: the checks are the Trivy binary's embedded ones, so its version names them. */
export function checksHash(trivyVersion: string): string {
  return contentHash({ trivy: trivyVersion });
}

export interface InfraReportInput {
  readonly checks: Check[];
  readonly specHash: string;
  readonly trivyVersion: string;
  readonly now: Date;
  /** `operator.scannerReportTTL`; null = no TTL annotation. */
  readonly ttlMs: number | null;
  readonly maxBytes?: number;
  /** `trivyOperator.additionalReportLabels`; the identifying labels win. */
  readonly extraLabels?: Readonly<Record<string, string>>;
}

function build(
  kind: InfraReportKind,
  owner: { apiVersion: string; kind: 'Node' | 'Pod'; name: string; uid: string; namespace?: string },
  input: InfraReportInput,
): InfraReportObject {
  const { checks, dropped } = fitChecks(input.checks, input.maxBytes ?? REPORT_DATA_LIMIT_BYTES);
  const annotations: Record<string, string> = {
    [ASSESSED_AT_ANNOTATION]: input.now.toISOString().replace(/\.\d+Z$/, 'Z'),
  };
  if (input.ttlMs !== null) annotations[ReportAnnotation.reportTTL] = formatGoDuration(input.ttlMs);
  if (!isValidLabelValue(owner.name)) annotations[ReportAnnotation.resourceName] = owner.name;
  if (dropped > 0)
    annotations[TRIMMED_ANNOTATION] =
      `dropped ${dropped} of ${input.checks.length} checks to fit etcd's limit`;
  return {
    apiVersion: API_GROUP_VERSION,
    kind,
    metadata: {
      name: auditReportName(owner.kind, owner.name),
      ...(owner.namespace === undefined ? {} : { namespace: owner.namespace }),
      labels: {
        ...input.extraLabels,
        ...targetLabels({ kind: owner.kind, namespace: owner.namespace ?? '', name: owner.name }),
        [ReportLabel.managedBy]: REPORT_MANAGED_BY,
        [ReportLabel.resourceSpecHash]: input.specHash,
        [ReportLabel.pluginConfigHash]: checksHash(input.trivyVersion),
      },
      annotations,
      ownerReferences: [
        {
          apiVersion: owner.apiVersion,
          kind: owner.kind,
          name: owner.name,
          uid: owner.uid,
          controller: true,
          // false: writing reports then needs no permission on the owners' finalizers.
          blockOwnerDeletion: false,
        },
      ],
    },
    report: {
      scanner: scannerOf(input.trivyVersion),
      // Counted before any trimming, so the summary always describes the whole assessment.
      summary: summarise(input.checks),
      checks,
    },
  };
}

/** ClusterInfraAssessmentReport `node-<name>`, as Trivy-Operator writes it for a node. */
export function buildNodeReport(node: V1Node, input: InfraReportInput): InfraReportObject {
  const meta = node.metadata ?? {};
  return build(
    'ClusterInfraAssessmentReport',
    { apiVersion: 'v1', kind: 'Node', name: meta.name ?? '', uid: meta.uid ?? '' },
    input,
  );
}

/** InfraAssessmentReport `pod-<name>` in kube-system, for a control-plane pod. */
export function buildPodReport(pod: V1Pod, input: InfraReportInput): InfraReportObject {
  const meta = pod.metadata ?? {};
  return build(
    'InfraAssessmentReport',
    {
      apiVersion: 'v1',
      kind: 'Pod',
      name: meta.name ?? '',
      uid: meta.uid ?? '',
      namespace: meta.namespace ?? '',
    },
    input,
  );
}

/** The pod as the checks read it: identity, labels and spec; nothing the API server adds. */
export function podManifest(pod: V1Pod): Record<string, unknown> {
  const meta = pod.metadata ?? {};
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: meta.name, namespace: meta.namespace, labels: meta.labels ?? {} },
    spec: pod.spec,
  };
}
