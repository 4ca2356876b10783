/**
 * The node-collector Job of one node (pure: settings + Node → manifest), and the decision whether
 * a node can be assessed at all. Unlike Trivy-Operator's, the Job goes through the scheduler
 * pinned by node affinity on the node's name, so the configured tolerations and node selector
 * are honoured; a node the pod could never be scheduled on is skipped up front with a reason,
 * instead of leaving a Job Pending until its deadline.
 */
import type { V1Job, V1Node, V1Taint, V1Toleration } from '@kubernetes/client-node';
import type { Config } from '../config/index.ts';
import { ReportLabel } from '../crds/index.ts';
import { ScanLabel } from '../scanning/index.ts';
import { isValidLabelValue, nameHash } from '../workloads/index.ts';

export const NODE_COLLECTOR_COMPONENT = 'node-collector';
export const NODE_COLLECTOR_CONTAINER = 'node-collector';
/** Annotation on the Job: the node it collects (a label value cannot hold every node name). */
export const NODE_NAME_ANNOTATION = 'trivy-lookout.dev/node-name';
/** The collector in the operator image, relative to its WORKDIR (/app). */
export const NODE_COLLECTOR_COMMAND = ['node', 'dist/nodecollector/main.js'] as const;

const CONTROL_PLANE_ROLE_LABELS = ['node-role.kubernetes.io/control-plane', 'node-role.kubernetes.io/master'];

/** One Job per node; the name is derived from the node's so every replica agrees on it. */
export function nodeCollectorJobName(nodeName: string): string {
  return `node-collector-${nameHash(nodeName)}`;
}

/** master when the Node carries a control-plane role label. */
export function nodeType(node: V1Node): 'master' | 'worker' {
  const labels = node.metadata?.labels ?? {};
  return CONTROL_PLANE_ROLE_LABELS.some((key) => key in labels) ? 'master' : 'worker';
}

export type SkipReason = 'Excluded' | 'NotLinux' | 'NodeSelector' | 'Taint';

export type Placement = { assess: true } | { assess: false; reason: SkipReason; message: string };

/** Whether a toleration tolerates a taint, by Kubernetes' rules. */
export function tolerates(toleration: V1Toleration, taint: V1Taint): boolean {
  if (toleration.effect && toleration.effect !== taint.effect) return false;
  const operator = toleration.operator ?? 'Equal';
  if (operator === 'Exists') return !toleration.key || toleration.key === taint.key;
  return toleration.key === taint.key && (toleration.value ?? '') === (taint.value ?? '');
}

const describeTaint = (t: V1Taint) => `${t.key}${t.value ? `=${t.value}` : ''}:${t.effect}`;

/** Can this node be assessed with these settings, and if not, why (for the Event and the log)? */
export function nodePlacement(node: V1Node, settings: Config['nodeCollector']): Placement {
  const labels = node.metadata?.labels ?? {};
  for (const entry of settings.excludeNodes) {
    const at = entry.indexOf('=');
    const key = entry.slice(0, at).trim();
    const value = entry.slice(at + 1).trim();
    if (labels[key] === value)
      return {
        assess: false,
        reason: 'Excluded',
        message: `it has label ${key}=${value} listed in nodeCollector.excludeNodes`,
      };
  }
  const os = labels['kubernetes.io/os'];
  if (os !== undefined && os !== 'linux')
    return {
      assess: false,
      reason: 'NotLinux',
      message: `it runs ${os}; the node checks are for Linux nodes`,
    };
  const mismatched = Object.entries(settings.nodeSelector).filter(([key, value]) => labels[key] !== value);
  if (mismatched.length > 0) {
    return {
      assess: false,
      reason: 'NodeSelector',
      message: `it does not match nodeCollector.nodeSelector (${mismatched.map(([k, v]) => `${k}=${v}`).join(', ')})`,
    };
  }
  const blocking = (node.spec?.taints ?? []).filter(
    (taint) =>
      (taint.effect === 'NoSchedule' || taint.effect === 'NoExecute') &&
      !settings.tolerations.some((toleration) => tolerates(toleration as V1Toleration, taint)),
  );
  if (blocking.length > 0) {
    return {
      assess: false,
      reason: 'Taint',
      message: `it has taint${blocking.length > 1 ? 's' : ''} ${blocking.map(describeTaint).join(', ')} that nodeCollector.tolerations does not tolerate`,
    };
  }
  return { assess: true };
}

/** The Job that collects one node's NodeInfo. */
export function buildNodeCollectorJob(config: Config, node: V1Node): V1Job {
  const nodeName = node.metadata?.name ?? '';
  const settings = config.nodeCollector;
  const labels: Record<string, string> = {
    'app.kubernetes.io/managed-by': 'trivy-lookout',
    [ScanLabel.component]: NODE_COLLECTOR_COMPONENT,
    [ReportLabel.resourceKind]: 'Node',
    ...(isValidLabelValue(nodeName)
      ? { [ReportLabel.resourceName]: nodeName }
      : { [ReportLabel.resourceNameHash]: nameHash(nodeName) }),
  };
  const timeoutSeconds = Math.max(1, Math.round(config.operator.scanJobTimeoutMs / 1000));
  const compact = (values: Record<string, string | null>) =>
    Object.fromEntries(Object.entries(values).filter((e): e is [string, string] => e[1] !== null));
  const { requests, limits } = config.trivy.resources;
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: {
      name: nodeCollectorJobName(nodeName),
      namespace: config.operator.namespace,
      labels,
      annotations: { [NODE_NAME_ANNOTATION]: nodeName },
    },
    spec: {
      backoffLimit: 0,
      activeDeadlineSeconds: timeoutSeconds,
      // A backstop only: the operator deletes the Job once it has read the result.
      ttlSecondsAfterFinished: Math.max(600, timeoutSeconds * 2),
      template: {
        // The node on the pod too: an unschedulable pod names the node it was meant for.
        metadata: { labels, annotations: { [NODE_NAME_ANNOTATION]: nodeName } },
        spec: {
          restartPolicy: 'Never',
          automountServiceAccountToken: false,
          // The kubelet's and kube-proxy's command lines are read from the host's /proc.
          hostPID: true,
          affinity: {
            nodeAffinity: {
              requiredDuringSchedulingIgnoredDuringExecution: {
                nodeSelectorTerms: [
                  { matchFields: [{ key: 'metadata.name', operator: 'In', values: [nodeName] }] },
                ],
              },
            },
          },
          // The collector runs in the operator image: a private registry needs its pull secret here too.
          ...(settings.imagePullSecrets.length > 0
            ? { imagePullSecrets: settings.imagePullSecrets.map((name) => ({ name })) }
            : {}),
          ...(settings.tolerations.length > 0
            ? { tolerations: settings.tolerations.map((t) => ({ ...t })) }
            : {}),
          ...(Object.keys(settings.nodeSelector).length > 0
            ? { nodeSelector: { ...settings.nodeSelector } }
            : {}),
          // Root without capabilities: it can read the root-owned 0600 files the checks are about
          // (kubelet config, kubeconfigs) and nothing more; mounts and root filesystem are read-only.
          securityContext: {
            runAsNonRoot: false,
            runAsUser: 0,
            runAsGroup: 0,
            seccompProfile: { type: 'RuntimeDefault' },
          },
          containers: [
            {
              name: NODE_COLLECTOR_CONTAINER,
              image: settings.imageRef,
              command: [...NODE_COLLECTOR_COMMAND],
              env: [
                { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
                { name: 'NODE_COLLECTOR_NODE_TYPE', value: nodeType(node) },
              ],
              resources: { requests: compact({ ...requests }), limits: compact({ ...limits }) },
              securityContext: {
                allowPrivilegeEscalation: false,
                privileged: false,
                readOnlyRootFilesystem: true,
                capabilities: { drop: ['ALL'] },
              },
              volumeMounts: settings.volumeMounts.map((m) => ({
                name: m.name,
                mountPath: m.mountPath,
                readOnly: true,
              })),
            },
          ],
          volumes: settings.volumes.map((v) => ({ name: v.name, hostPath: { ...v.hostPath } })),
        },
      },
    },
  };
}
