/**
 * The node-collector Job, the skip decision and the report objects, on plain data: settings and a
 * Node (or Pod) go in, the manifest Kubernetes gets comes out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Node, V1Pod, V1Taint } from '@kubernetes/client-node';
import { loadConfig } from '../../../src/config/index.ts';
import type { Check } from '../../../src/crds/index.ts';
import {
  NODE_COLLECTOR_COMMAND,
  buildNodeCollectorJob,
  buildNodeReport,
  buildPodReport,
  isControlPlanePod,
  nodeCollectorJobName,
  nodePlacement,
  nodeSpecHash,
  parseNodeCollectorLog,
} from '../../../src/infraassessment/index.ts';

const noFile = () => {
  throw new Error('no file');
};
const config = (env: Record<string, string> = {}) =>
  loadConfig({ OPERATOR_NAMESPACE: 'trivy-system', ...env }, noFile);

const node = (name: string, extra: { labels?: Record<string, string>; taints?: V1Taint[] } = {}): V1Node => ({
  metadata: {
    name,
    uid: `uid-${name}`,
    labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': name, ...extra.labels },
  },
  spec: extra.taints ? { taints: extra.taints } : {},
  status: { nodeInfo: { kubeletVersion: 'v1.34.4' } as NonNullable<V1Node['status']>['nodeInfo'] },
});
const dedicated = { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] };

describe('node-collector Job', () => {
  it('is pinned to its node through the scheduler, honours tolerations and node selector, and reads the host read-only', () => {
    const cfg = config({
      OPERATOR_NODE_COLLECTOR_TOLERATIONS: '[{"key":"dedicated","operator":"Exists","effect":"NoSchedule"}]',
      OPERATOR_NODE_COLLECTOR_NODE_SELECTOR: 'kubernetes.io/os=linux',
      OPERATOR_NODE_COLLECTOR_IMAGE_REF: 'registry.example.com/trivy-lookout:1.2.3',
      OPERATOR_SCAN_JOB_TIMEOUT: '2m',
    });
    const job = buildNodeCollectorJob(
      cfg,
      node('worker-1', { labels: { 'node-role.kubernetes.io/control-plane': '' } }),
    );
    assert.equal(job.metadata?.name, nodeCollectorJobName('worker-1'));
    assert.match(job.metadata?.name ?? '', /^node-collector-[a-z0-9]+$/);
    assert.equal(job.metadata?.namespace, 'trivy-system');
    assert.equal(job.metadata?.annotations?.['trivy-lookout.dev/node-name'], 'worker-1');
    assert.equal(job.metadata?.labels?.['trivy-lookout.dev/component'], 'node-collector');
    assert.equal(job.metadata?.labels?.['trivy-operator.resource.kind'], 'Node');
    assert.equal(job.metadata?.labels?.['trivy-operator.resource.name'], 'worker-1');
    assert.equal(job.spec?.backoffLimit, 0);
    assert.equal(job.spec?.activeDeadlineSeconds, 120);
    const pod = job.spec!.template.spec!;
    assert.equal(pod.nodeName, undefined, 'not bypassing the scheduler');
    assert.deepEqual(
      pod.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
      [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-1'] }] }],
    );
    assert.deepEqual(pod.tolerations, [{ key: 'dedicated', operator: 'Exists', effect: 'NoSchedule' }]);
    assert.deepEqual(pod.nodeSelector, { 'kubernetes.io/os': 'linux' });
    assert.equal(pod.hostPID, true);
    // Root to read 0600 root-owned files, but without any capability or privilege escalation.
    assert.equal(pod.securityContext?.runAsUser, 0);
    assert.equal(pod.containers[0]?.securityContext?.allowPrivilegeEscalation, false);
    assert.equal(pod.containers[0]?.securityContext?.privileged, false);
    assert.equal(pod.automountServiceAccountToken, false);
    assert.equal(pod.restartPolicy, 'Never');
    const [container] = pod.containers;
    assert.equal(container?.image, 'registry.example.com/trivy-lookout:1.2.3');
    assert.deepEqual(container?.command, [...NODE_COLLECTOR_COMMAND]);
    assert.deepEqual(container?.env, [
      { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'NODE_COLLECTOR_NODE_TYPE', value: 'master' },
    ]);
    assert.equal(container?.securityContext?.readOnlyRootFilesystem, true);
    assert.deepEqual(container?.securityContext?.capabilities?.drop, ['ALL']);
    // Trivy-Operator's default host paths, each at its own path, all read-only.
    assert.deepEqual(
      pod.volumes?.map((v) => v.hostPath?.path),
      [
        '/var/lib/etcd',
        '/var/lib/kubelet',
        '/var/lib/kube-scheduler',
        '/var/lib/kube-controller-manager',
        '/etc/systemd',
        '/lib/systemd',
        '/etc/kubernetes',
        '/etc/cni/net.d',
      ],
    );
    assert.ok(container?.volumeMounts?.every((m) => m.readOnly === true));
    assert.deepEqual(
      container?.volumeMounts?.map((m) => m.mountPath),
      pod.volumes?.map((v) => v.hostPath?.path),
    );
  });

  it('mounts configured volumes read-only even when the values say otherwise; mounts without a volume fail at start-up', () => {
    const cfg = config({
      OPERATOR_NODE_COLLECTOR_VOLUMES: '[{"name":"k","hostPath":{"path":"/opt/k8s"}}]',
      OPERATOR_NODE_COLLECTOR_VOLUME_MOUNTS: '[{"name":"k","mountPath":"/opt/k8s","readOnly":false}]',
    });
    const pod = buildNodeCollectorJob(cfg, node('n')).spec!.template.spec!;
    assert.deepEqual(pod.volumes, [{ name: 'k', hostPath: { path: '/opt/k8s' } }]);
    assert.deepEqual(pod.containers[0]?.volumeMounts, [{ name: 'k', mountPath: '/opt/k8s', readOnly: true }]);
    assert.throws(
      () => config({ OPERATOR_NODE_COLLECTOR_VOLUME_MOUNTS: '[{"name":"nope","mountPath":"/x"}]' }),
      /OPERATOR_NODE_COLLECTOR_VOLUME_MOUNTS \(nodeCollector\.volumeMounts\): mounts "nope" name no volume/,
    );
    assert.throws(
      () => config({ OPERATOR_NODE_COLLECTOR_VOLUMES: '[{"name":"x","emptyDir":{}}]' }),
      /nodeCollector\.volumes.*without an absolute hostPath\.path/,
    );
  });

  it('pulls its image with the configured pull secrets, and with none by default', () => {
    const pod = (env: Record<string, string>) =>
      buildNodeCollectorJob(config(env), node('worker-1')).spec!.template.spec!;
    assert.equal(pod({}).imagePullSecrets, undefined);
    assert.deepEqual(pod({ OPERATOR_NODE_COLLECTOR_IMAGE_PULL_SECRET: 'regcred' }).imagePullSecrets, [
      { name: 'regcred' },
    ]);
    // The chart renders a list as JSON; a comma list works as well.
    assert.deepEqual(pod({ OPERATOR_NODE_COLLECTOR_IMAGE_PULL_SECRET: '["a","b.c"]' }).imagePullSecrets, [
      { name: 'a' },
      { name: 'b.c' },
    ]);
    // Still pinned by node name, not by the kubernetes.io/hostname label (Trivy-Operator's
    // useNodeSelector), which need not equal the node name.
    const pinned = pod({ OPERATOR_NODE_COLLECTOR_IMAGE_PULL_SECRET: 'regcred' });
    assert.equal(pinned.nodeSelector, undefined);
    assert.deepEqual(
      pinned.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms,
      [{ matchFields: [{ key: 'metadata.name', operator: 'In', values: ['worker-1'] }] }],
    );
    assert.throws(
      () => config({ OPERATOR_NODE_COLLECTOR_IMAGE_PULL_SECRET: 'Reg_Cred' }),
      /OPERATOR_NODE_COLLECTOR_IMAGE_PULL_SECRET \(nodeCollector\.imagePullSecret\)/,
    );
  });
});

describe('which nodes are assessed', () => {
  it('skips a node whose NoSchedule/NoExecute taint is not tolerated, and says which taint', () => {
    const plain = config().nodeCollector;
    assert.deepEqual(nodePlacement(node('a'), plain), { assess: true });
    assert.deepEqual(nodePlacement(node('b', dedicated), plain), {
      assess: false,
      reason: 'Taint',
      message: 'it has taint dedicated=gpu:NoSchedule that nodeCollector.tolerations does not tolerate',
    });
    const soft = { taints: [{ key: 'x', effect: 'PreferNoSchedule' }] };
    assert.deepEqual(
      nodePlacement(node('c', soft), plain),
      { assess: true },
      'PreferNoSchedule never blocks',
    );
    for (const tolerations of [
      '[{"key":"dedicated","operator":"Equal","value":"gpu","effect":"NoSchedule"}]',
      '[{"key":"dedicated","operator":"Exists"}]',
      '[{"operator":"Exists"}]',
    ]) {
      const settings = config({ OPERATOR_NODE_COLLECTOR_TOLERATIONS: tolerations }).nodeCollector;
      assert.deepEqual(nodePlacement(node('b', dedicated), settings), { assess: true }, tolerations);
    }
    const wrongValue = config({
      OPERATOR_NODE_COLLECTOR_TOLERATIONS: '[{"key":"dedicated","value":"cpu","effect":"NoSchedule"}]',
    }).nodeCollector;
    assert.equal(nodePlacement(node('b', dedicated), wrongValue).assess, false);
  });

  it('honours excludeNodes and nodeSelector, and leaves Windows nodes out', () => {
    const settings = config({
      OPERATOR_NODE_COLLECTOR_EXCLUDE_NODES: 'team=dev,kubernetes.io/arch=arm64',
      OPERATOR_NODE_COLLECTOR_NODE_SELECTOR: 'pool=general',
    }).nodeCollector;
    assert.equal(
      nodePlacement(node('d', { labels: { team: 'dev', pool: 'general' } }), settings).assess,
      false,
    );
    const selected = nodePlacement(node('e', { labels: { pool: 'gpu' } }), settings);
    assert.equal(selected.assess ? undefined : selected.reason, 'NodeSelector');
    assert.equal(nodePlacement(node('f', { labels: { pool: 'general' } }), settings).assess, true);
    const windows = nodePlacement(
      node('w', { labels: { 'kubernetes.io/os': 'windows' } }),
      config().nodeCollector,
    );
    assert.equal(windows.assess ? undefined : windows.reason, 'NotLinux');
  });

  it('re-collects on a node change that matters, not on status heartbeats', () => {
    const a = node('a');
    const heartbeat = { ...a, status: { ...a.status, conditions: [{ type: 'Ready', status: 'True' }] } };
    assert.equal(nodeSpecHash(heartbeat), nodeSpecHash(a));
    assert.notEqual(nodeSpecHash(node('a', dedicated)), nodeSpecHash(a));
  });
});

describe('node collector output', () => {
  it('reads the NodeInfo line, ignoring noise around it', () => {
    const doc = {
      apiVersion: 'v1',
      kind: 'NodeInfo',
      metadata: { name: 'n' },
      type: 'worker',
      info: { k: { values: [1] } },
    };
    assert.deepEqual(parseNodeCollectorLog(`(node:1) Warning: something\n${JSON.stringify(doc)}\n`), doc);
  });

  it('rejects anything else with a clear error', () => {
    assert.throws(() => parseNodeCollectorLog(''), /printed no NodeInfo \(empty log\)/);
    assert.throws(
      () => parseNodeCollectorLog('node collector failed: EACCES'),
      /printed no NodeInfo: "node collector failed: EACCES"/,
    );
    assert.throws(() => parseNodeCollectorLog('{"kind":"Pod"}'), /not a NodeInfo document/);
    assert.throws(() => parseNodeCollectorLog('{not json'), /not JSON/);
    assert.throws(
      () => parseNodeCollectorLog('{"kind":"NodeInfo","type":"worker","info":{"k":{"values":1}}}'),
      /NodeInfo entry k has no values list/,
    );
  });
});

const check = (id: string, severity: Check['severity'], success: boolean): Check => ({
  checkID: id,
  title: `title ${id}`,
  description: 'd',
  severity,
  category: 'Kubernetes Security Check',
  remediation: 'r',
  success,
  ...(success ? {} : { messages: [`message ${id}`] }),
});

describe('infra reports', () => {
  const input = {
    checks: [
      check('KCV0079', 'CRITICAL', false),
      check('KCV0073', 'HIGH', false),
      check('KCV0080', 'HIGH', true),
    ],
    specHash: 'h1',
    trivyVersion: '0.74.0',
    now: new Date('2026-01-02T03:04:05.678Z'),
    ttlMs: 86_400_000,
  };

  it('writes a node as ClusterInfraAssessmentReport node-<name>, owned by the Node, failed checks counted', () => {
    const report = buildNodeReport(node('worker-1'), input);
    assert.equal(report.kind, 'ClusterInfraAssessmentReport');
    assert.equal(report.metadata.name, 'node-worker-1');
    assert.equal(report.metadata.namespace, undefined);
    assert.equal(report.metadata.labels['trivy-operator.resource.kind'], 'Node');
    assert.equal(report.metadata.labels['trivy-operator.resource.name'], 'worker-1');
    assert.equal(report.metadata.labels['app.kubernetes.io/managed-by'], 'trivy-operator');
    assert.equal(report.metadata.labels['resource-spec-hash'], 'h1');
    assert.ok(report.metadata.labels['plugin-config-hash']);
    assert.equal(report.metadata.annotations['trivy-operator.aquasecurity.github.io/report-ttl'], '24h0m0s');
    assert.equal(report.metadata.annotations['trivy-lookout.dev/assessed-at'], '2026-01-02T03:04:05Z');
    assert.deepEqual(report.metadata.ownerReferences, [
      {
        apiVersion: 'v1',
        kind: 'Node',
        name: 'worker-1',
        uid: 'uid-worker-1',
        controller: true,
        blockOwnerDeletion: false,
      },
    ]);
    assert.deepEqual(report.report.summary, { criticalCount: 1, highCount: 1, mediumCount: 0, lowCount: 0 });
    assert.deepEqual(report.report.scanner, { name: 'Trivy', vendor: 'Aqua Security', version: '0.74.0' });
    assert.equal(report.report.checks.length, 3);
  });

  it('writes a control-plane pod as InfraAssessmentReport pod-<name> in kube-system, owned by the Pod', () => {
    const pod: V1Pod = {
      metadata: {
        name: 'kube-apiserver-cp1',
        namespace: 'kube-system',
        uid: 'p1',
        labels: { component: 'kube-apiserver' },
      },
      spec: { containers: [{ name: 'kube-apiserver', image: 'registry.k8s.io/kube-apiserver:v1.34.4' }] },
    };
    assert.equal(isControlPlanePod(pod), true);
    assert.equal(isControlPlanePod({ ...pod, metadata: { ...pod.metadata, namespace: 'default' } }), false);
    assert.equal(isControlPlanePod({ metadata: { name: 'coredns-1', namespace: 'kube-system' } }), false);
    assert.equal(isControlPlanePod({ metadata: { name: 'etcd-cp1', namespace: 'kube-system' } }), true);
    const report = buildPodReport(pod, { ...input, ttlMs: null });
    assert.equal(report.kind, 'InfraAssessmentReport');
    assert.equal(report.metadata.name, 'pod-kube-apiserver-cp1');
    assert.equal(report.metadata.namespace, 'kube-system');
    assert.equal(report.metadata.labels['trivy-operator.resource.kind'], 'Pod');
    assert.equal(report.metadata.labels['trivy-operator.resource.namespace'], 'kube-system');
    assert.equal(report.metadata.annotations['trivy-operator.aquasecurity.github.io/report-ttl'], undefined);
    assert.equal(report.metadata.ownerReferences[0]?.kind, 'Pod');
    assert.equal(report.metadata.ownerReferences[0]?.uid, 'p1');
  });
});
