/**
 * Infra assessment end to end on the real control plane: the operator process creates a
 * node-collector Job per node, the scheduler places it (tolerations honoured), the harness kubelet
 * runs our collector against the test's fake node root, the operator reads the NodeInfo back
 * through pods/log, evaluates it with the pinned Trivy's KCV checks and writes the node's
 * ClusterInfraAssessmentReport; control-plane pods of kube-system get InfraAssessmentReports.
 */
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { BatchV1Api, CoreV1Api, CustomObjectsApi, type V1Job, type V1Pod } from '@kubernetes/client-node';
import { ResourceWatcher } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import {
  fakeNodeRoot,
  nodeCollectorRunner,
  startHarnessKubelet,
  type HarnessKubelet,
} from '../../harness/kubelet/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { toolPath } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

interface Check {
  checkID: string;
  title: string;
  severity: string;
  success: boolean;
  messages?: string[];
}
interface InfraReport {
  metadata: {
    name: string;
    labels: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string }[];
  };
  report: { summary: Record<string, number>; checks: Check[]; scanner: { version: string } };
}

const GROUP = { group: 'aquasecurity.github.io', version: 'v1alpha1' };
const id = `${process.pid}`;
const NODE_A = `infra-${id}-a`;
const NODE_B = `infra-${id}-b`;
const TAINT = { key: 'dedicated', value: 'infra', effect: 'NoSchedule' };
const APISERVER = `kube-apiserver-infra-${id}`;

function trivyBinary(): string {
  try {
    return toolPath('trivy');
  } catch {
    if (existsSync('/tmp/trivybuild/bin/trivy')) return '/tmp/trivybuild/bin/trivy';
    throw new Error('trivy not found; run scripts/setup-tools.sh');
  }
}

const checkOf = (report: InfraReport, checkId: string) =>
  report.report.checks.find((c) => c.checkID === checkId);

describe('infra assessment on the real control plane', () => {
  let cluster: TestCluster;
  let kubelet: HarnessKubelet;
  let operator: OperatorProcess | undefined;
  let operatorNs: string;
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let objects: CustomObjectsApi;
  const roots: string[] = [];
  /** Every node-collector Job created (name → node it is for) and where its pod ran. */
  const jobs: [name: string, node: string][] = [];
  const podNodes = new Map<string, string>();
  const watches: ResourceWatcher<never>[] = [];

  before(async () => {
    cluster = await useTestCluster();
    const kc = cluster.kubeConfig();
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    objects = kc.makeApiClient(CustomObjectsApi);
    operatorNs = await cluster.createNamespace('infra-op');
    roots.push(
      fakeNodeRoot({ anonymousAuth: true, kubeconfigMode: 0o666 }),
      fakeNodeRoot({ anonymousAuth: true, kubeconfigMode: 0o600 }),
    );
    const runCollector = nodeCollectorRunner({ hostRoots: { [NODE_A]: roots[0]!, [NODE_B]: roots[1]! } });
    kubelet = await startHarnessKubelet(kc, {
      nodeNames: [NODE_A, NODE_B],
      labels: { 'infra-test': id },
      nodes: { [NODE_B]: { taints: [TAINT] } },
      // Node-collector pods only: this file checks no scan, so no stand-in Trivy runs here.
      runner: (pod) => runCollector(pod),
    });
    const log = createLogger('silent');
    const jobWatch = new ResourceWatcher<V1Job>(
      kc,
      { path: `/apis/batch/v1/namespaces/${operatorNs}/jobs`, log },
      {
        onEvent: (type, job) => {
          if (type === 'ADDED')
            jobs.push([
              job.metadata?.name ?? '',
              job.metadata?.annotations?.['trivy-lookout.dev/node-name'] ?? '',
            ]);
        },
      },
    );
    const podWatch = new ResourceWatcher<V1Pod>(
      kc,
      { path: `/api/v1/namespaces/${operatorNs}/pods`, log },
      {
        onEvent: (_type, pod) => {
          const job = pod.metadata?.labels?.['batch.kubernetes.io/job-name'];
          if (job && pod.spec?.nodeName) podNodes.set(job, pod.spec.nodeName);
        },
      },
    );
    for (const w of [jobWatch, podWatch]) {
      w.start();
      await w.waitForSync();
      watches.push(w as unknown as ResourceWatcher<never>);
    }
  });

  after(async () => {
    await operator?.stop();
    await core
      ?.deleteNamespacedPod({ name: APISERVER, namespace: 'kube-system', gracePeriodSeconds: 0 })
      .catch(() => {});
    await Promise.all(watches.map((w) => w.stop()));
    await kubelet?.stop();
    await cluster?.release();
    for (const root of roots) rmSync(root, { recursive: true, force: true });
  });

  function start(extra: Record<string, string>): Promise<OperatorProcess> {
    return startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_LEADER_ELECTION_ENABLED: 'false',
      // Only what this test is about: no workload scans, audits or compliance runs.
      OPERATOR_TARGET_NAMESPACES: operatorNs,
      OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED: 'false',
      OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED: 'false',
      OPERATOR_CLUSTER_COMPLIANCE_ENABLED: 'false',
      OPERATOR_CONFIG_AUDIT_TRIVY_BINARY: trivyBinary(),
      // Passed checks too, so that a fixed flag shows as a pass.
      OPERATOR_TRIVY_OPERATOR_REPORT_RECORD_FAILED_CHECKS_ONLY: 'false',
      // Only this test's nodes (a shared cluster may have other harness nodes).
      OPERATOR_NODE_COLLECTOR_NODE_SELECTOR: `infra-test=${id}`,
      OPERATOR_NODE_COLLECTOR_IMAGE_REF: 'ghcr.io/trivy-lookout/trivy-lookout:test',
      OPERATOR_CONCURRENT_NODE_COLLECTOR_LIMIT: '2',
      OPERATOR_LOG_LEVEL: 'debug',
      ...extra,
    });
  }

  const nodeReport = (node: string) =>
    objects
      .getClusterCustomObject({ ...GROUP, plural: 'clusterinfraassessmentreports', name: `node-${node}` })
      .then((r) => r as InfraReport)
      .catch(() => undefined);

  const podReport = () =>
    objects
      .getNamespacedCustomObject({
        ...GROUP,
        namespace: 'kube-system',
        plural: 'infraassessmentreports',
        name: `pod-${APISERVER}`,
      })
      .then((r) => r as InfraReport)
      .catch(() => undefined);

  const collectorJobs = async () =>
    (
      await batch.listNamespacedJob({
        namespace: operatorNs,
        labelSelector: 'trivy-lookout.dev/component=node-collector',
      })
    ).items;

  it('collects every node it tolerates, on that node, into a node-<name> ClusterInfraAssessmentReport with Trivy’s KCV results', async () => {
    operator = await start({
      OPERATOR_NODE_COLLECTOR_TOLERATIONS: JSON.stringify([
        { key: 'dedicated', operator: 'Equal', value: 'infra', effect: 'NoSchedule' },
      ]),
    });
    const [a, b] = await Promise.all(
      [NODE_A, NODE_B].map((node) => waitUntil(`report node-${node}`, () => nodeReport(node), 120_000)),
    );
    for (const [report, node] of [
      [a!, NODE_A],
      [b!, NODE_B],
    ] as const) {
      assert.equal(report.metadata.labels['trivy-operator.resource.kind'], 'Node');
      assert.equal(report.metadata.labels['trivy-operator.resource.name'], node);
      assert.equal(report.metadata.ownerReferences?.[0]?.kind, 'Node');
      assert.equal(report.metadata.ownerReferences?.[0]?.name, node);
      // Anonymous auth is on in both kubelets' config files: Trivy's AVD-KCV-0079 fails.
      assert.deepEqual(
        (({ checkID, severity, success, title }) => ({ checkID, severity, success, title }))(
          checkOf(report, 'AVD-KCV-0079')!,
        ),
        {
          checkID: 'AVD-KCV-0079',
          severity: 'CRITICAL',
          success: false,
          title: 'Ensure that the --anonymous-auth argument is set to false',
        },
      );
      assert.equal(checkOf(report, 'AVD-KCV-0080')?.success, true, 'authorization mode Webhook passes');
      assert.ok((report.report.summary.criticalCount ?? 0) >= 1);
      // Node checks only: nothing from the workload (KSV) checks.
      assert.ok(report.report.checks.every((c) => c.checkID.startsWith('AVD-KCV')));
    }
    // Each Job read its own node: kubelet.conf is 0666 on A (KCV0073 fails) and 0600 on B (passes).
    assert.deepEqual(
      (({ checkID, severity, success }) => ({ checkID, severity, success }))(checkOf(a!, 'AVD-KCV-0073')!),
      { checkID: 'AVD-KCV-0073', severity: 'HIGH', success: false },
    );
    assert.equal(checkOf(b!, 'AVD-KCV-0073')?.success, true);
    // One Job per node, and its pod ran on that node.
    const ours = jobs.filter(([, node]) => node === NODE_A || node === NODE_B);
    assert.deepEqual(ours.map(([, node]) => node).sort(), [NODE_A, NODE_B]);
    for (const [job, node] of ours) assert.equal(podNodes.get(job), node, `${job} ran on ${node}`);
    // Read and cleaned up: no Job left behind.
    await waitUntil('node-collector Jobs deleted', async () => (await collectorJobs()).length === 0, 30_000);
  });

  it('assesses a kube-apiserver pod of kube-system from its flags, and sees the fix', async () => {
    const apiserver = (flags: string[]): V1Pod => ({
      metadata: {
        name: APISERVER,
        namespace: 'kube-system',
        labels: { component: 'kube-apiserver', tier: 'control-plane' },
      },
      spec: {
        nodeName: NODE_A,
        containers: [
          {
            name: 'kube-apiserver',
            image: 'registry.k8s.io/kube-apiserver:v1.34.4',
            command: ['kube-apiserver', '--authorization-mode=Node,RBAC', ...flags],
          },
        ],
      },
    });
    const first = await core.createNamespacedPod({
      namespace: 'kube-system',
      body: apiserver(['--anonymous-auth=true', '--profiling=true']),
    });
    const insecure = await waitUntil('InfraAssessmentReport of the apiserver pod', podReport, 60_000);
    assert.equal(insecure.metadata.labels['trivy-operator.resource.kind'], 'Pod');
    assert.equal(insecure.metadata.labels['trivy-operator.resource.namespace'], 'kube-system');
    assert.equal(insecure.metadata.ownerReferences?.[0]?.uid, first.metadata?.uid);
    assert.deepEqual(
      ['AVD-KCV-0001', 'AVD-KCV-0018'].map((checkId) => {
        const c = checkOf(insecure, checkId);
        return c && { checkID: c.checkID, severity: c.severity, success: c.success, title: c.title };
      }),
      [
        {
          checkID: 'AVD-KCV-0001',
          severity: 'MEDIUM',
          success: false,
          title: 'Ensure that the --anonymous-auth argument is set to false',
        },
        {
          checkID: 'AVD-KCV-0018',
          severity: 'LOW',
          success: false,
          title: 'Ensure that the --profiling argument is set to false',
        },
      ],
    );
    assert.equal(checkOf(insecure, 'AVD-KCV-0009')?.success, true, '--authorization-mode includes RBAC');

    // Static pods change by being replaced: a new pod with the fixed flags.
    await core.deleteNamespacedPod({ name: APISERVER, namespace: 'kube-system', gracePeriodSeconds: 0 });
    await waitUntil('old pod gone', () =>
      core.readNamespacedPod({ name: APISERVER, namespace: 'kube-system' }).then(
        () => false,
        () => true,
      ),
    );
    const second = await core.createNamespacedPod({
      namespace: 'kube-system',
      body: apiserver(['--anonymous-auth=false', '--profiling=false']),
    });
    const fixed = await waitUntil(
      'the report of the fixed pod',
      async () => {
        const report = await podReport();
        return report?.metadata.ownerReferences?.[0]?.uid === second.metadata?.uid ? report : undefined;
      },
      60_000,
    );
    assert.equal(checkOf(fixed, 'AVD-KCV-0001')?.success, true);
    assert.equal(checkOf(fixed, 'AVD-KCV-0018')?.success, true);
    assert.equal(fixed.report.summary.mediumCount, (insecure.report.summary.mediumCount ?? 0) - 1);
  });

  it('without a matching toleration skips the tainted node with an Event and a log line, and leaves no Job', async () => {
    await operator?.stop();
    operator = undefined;
    for (const node of [NODE_A, NODE_B]) {
      await objects
        .deleteClusterCustomObject({
          ...GROUP,
          plural: 'clusterinfraassessmentreports',
          name: `node-${node}`,
        })
        .catch(() => {});
    }
    const jobsBefore = jobs.length;
    operator = await start({});
    await waitUntil('report node-A again', () => nodeReport(NODE_A), 120_000);
    const line = await operator.waitForLog(
      (l) => l.node === NODE_B && typeof l.msg === 'string' && l.msg.startsWith('node not assessed'),
      30_000,
    );
    assert.equal(
      line.msg,
      'node not assessed: it has taint dedicated=infra:NoSchedule that nodeCollector.tolerations does not tolerate',
    );
    assert.equal(line.reason, 'Taint');
    const event = await waitUntil('NodeCollectorSkipped event on the node', async () => {
      const events = await core.listNamespacedEvent({
        namespace: 'default',
        fieldSelector: `involvedObject.name=${NODE_B}`,
      });
      return events.items.find((e) => e.reason === 'NodeCollectorSkipped');
    });
    assert.equal(event.type, 'Warning');
    assert.equal(event.involvedObject.kind, 'Node');
    assert.match(
      event.message ?? '',
      /taint dedicated=infra:NoSchedule that nodeCollector\.tolerations does not tolerate/,
    );
    // Only node A got a Job this time; nothing is left Pending for B.
    assert.deepEqual(
      jobs.slice(jobsBefore).map(([, node]) => node),
      [NODE_A],
    );
    assert.equal(await nodeReport(NODE_B), undefined);
    await waitUntil('no node-collector Job left', async () => (await collectorJobs()).length === 0, 30_000);
  });

  it('gives up on a node whose collector pod the scheduler cannot place, with the scheduler’s reason, and deletes the Job', async () => {
    await operator?.stop();
    operator = undefined;
    await objects
      .deleteClusterCustomObject({
        ...GROUP,
        plural: 'clusterinfraassessmentreports',
        name: `node-${NODE_A}`,
      })
      .catch(() => {});
    const jobsBefore = jobs.length;
    // More CPU than the node has: passes every up-front check, but no node can take the pod.
    operator = await start({
      OPERATOR_TRIVY_RESOURCES_REQUESTS_CPU: '100',
      OPERATOR_TRIVY_RESOURCES_LIMITS_CPU: '100',
      OPERATOR_SCAN_JOB_TIMEOUT: '20s',
    });
    const line = await operator.waitForLog(
      (l) => l.node === NODE_A && typeof l.msg === 'string' && l.msg.includes('could not be scheduled'),
      60_000,
    );
    assert.match(
      String(line.msg),
      /^node not assessed: the node-collector pod could not be scheduled on it for 10 s \(.*Insufficient cpu.*\)$/,
    );
    const event = await waitUntil('NodeCollectorSkipped event on node A', async () => {
      const events = await core.listNamespacedEvent({
        namespace: 'default',
        fieldSelector: `involvedObject.name=${NODE_A}`,
      });
      return events.items.find((e) => e.reason === 'NodeCollectorSkipped');
    });
    assert.match(event.message ?? '', /could not be scheduled on it for 10 s/);
    assert.deepEqual(
      jobs.slice(jobsBefore).map(([, node]) => node),
      [NODE_A],
      'one attempt, not a Job per retry',
    );
    await waitUntil('the Pending Job deleted', async () => (await collectorJobs()).length === 0, 30_000);
    assert.equal(await nodeReport(NODE_A), undefined);
  });
});
