/**
 * The infra assessment on the controller runtime, against a fake API server (test/unit/support):
 * the real informers list and watch nodes, kube-system pods, node-collector Jobs and pods and the
 * infra reports from it, the real Job runner creates and deletes the collector Jobs there, and
 * reports are applied to it. The test plays the kubelet and the Job controller (a collector pod
 * whose log is what the real collector prints for a fake host, the Job's Complete condition) and
 * whoever else changes things behind the controller's back; Trivy is a fake evaluator.
 *
 * Why a fake: these cases need an API server that refuses, holds or drops one chosen request at one
 * chosen moment, and a stop in the middle of a list, which a real one does not do on demand. The
 * same controller runs against the real control plane in test/integration/infraassessment/infra-assessment.test.ts.
 *
 * 1. A node appears → one node-collector Job for it; once the Job completes, the node's
 *    ClusterInfraAssessmentReport is applied (KCV checks only, owned by the Node), then the Job is
 *    deleted, and nothing more is done.
 * 2. An admission webhook refuses the report twice (403) → the finished Job is kept, the result is
 *    read and written again with backoff, no second Job; the Job goes only after the write went
 *    through; the runtime observer counts two errors, and no failure Event is recorded.
 * 3. A controller restarts after assessing a node → the new one starts no Job for it. Reports that
 *    exist at start: a current one (right spec-hash label, recent assessed-at) → no Job; one with
 *    another spec hash, or assessed longer ago than the TTL → a Job each; a current report deleted
 *    by someone while its node is there → a new Job for that node.
 * 4. Nodes deleted, one with a running collector Job, one with a report → the running Job is
 *    deleted, no Job is created for either afterwards, and the report is left to the garbage
 *    collector (owned by the Node): the controller never deletes a report itself.
 * 5. Control-plane pods in kube-system (label `component`, or a component's name) and a pod that
 *    is not one → one evaluation of both control-plane pods from their pod specs, an
 *    InfraAssessmentReport each, no Job; a status change costs nothing, a spec change is assessed
 *    again.
 * 6. Stopped while the caches sync (the nodes list never answers) → stop() returns at once,
 *    start() returns, the list is abandoned, nothing is started afterwards, and no timer is left.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubernetesObject, V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { loadConfig } from '../../../src/config/index.ts';
import type { Manifest, TrivyMisconfiguration } from '../../../src/configaudit/index.ts';
import { ReportLabel, reportObjectPath } from '../../../src/crds/index.ts';
import {
  ASSESSED_AT_ANNOTATION,
  InfraAssessmentController,
  NODE_NAME_ANNOTATION,
  buildNodeReport,
  nodeCollectorJobName,
  nodeSpecHash,
  podSpecHash,
  type InfraEvaluator,
  type InfraReportObject,
} from '../../../src/infraassessment/index.ts';
import { Informers } from '../../../src/kube/index.ts';
import { collectNodeInfo, hostView } from '../../../src/nodecollector/index.ts';
import { apiStatus, FakeApiServer } from '../support/fake-api.ts';
import { completeJob, CountingRuntime, liveTimers, until } from '../support/runtime.ts';

const log = pino({ level: process.env.TL_TEST_LOG ?? 'silent' });

const OPERATOR_NS = 'trivy-system';
const JOBS = `/apis/batch/v1/namespaces/${OPERATOR_NS}/jobs`;
const NODES = '/api/v1/nodes';
const KUBE_SYSTEM_PODS = '/api/v1/namespaces/kube-system/pods';
const NODE_REPORTS = reportObjectPath('ClusterInfraAssessmentReport');
const POD_REPORTS = reportObjectPath('InfraAssessmentReport', 'kube-system');

const hosts: string[] = [];
after(() => hosts.forEach((root) => rmSync(root, { recursive: true, force: true })));

/**
 * What the node collector prints on a node whose kubelet runs with anonymous auth on: the real
 * collector's output for a fake host root (one kubelet process, nothing else).
 */
function collectorLog(nodeName: string): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'infra-host-'));
  hosts.push(root);
  mkdirSync(path.join(root, 'proc', '100'), { recursive: true });
  const argv = ['/usr/bin/kubelet', '--anonymous-auth=true', '--kubeconfig=/etc/kubernetes/kubelet.conf'];
  writeFileSync(path.join(root, 'proc', '100', 'cmdline'), `${argv.join('\0')}\0`);
  const info = collectNodeInfo(hostView(root), { nodeName, nodeType: 'worker' });
  return `${JSON.stringify(info)}\n`;
}

const finding = (
  id: string,
  severity: TrivyMisconfiguration['severity'],
  status: TrivyMisconfiguration['status'],
): TrivyMisconfiguration => ({
  id,
  namespace: `builtin.kubernetes.${id.replace('-', '')}`,
  title: `check ${id}`,
  description: `what ${id} is about`,
  message: status === 'PASS' ? 'No issues found' : `${id} failed`,
  resolution: `fix ${id}`,
  severity,
  status,
});

/**
 * Trivy's checks on every document: a failed and a passed KCV check, and a KSV one (which belongs
 * in a config audit, never in an infra report). Records what each run evaluated.
 */
class FakeTrivy implements InfraEvaluator {
  readonly runs: string[][] = [];
  readonly findings = [
    finding('KCV-0079', 'CRITICAL', 'FAIL'),
    finding('KCV-0080', 'HIGH', 'PASS'),
    finding('KSV-0017', 'HIGH', 'FAIL'),
  ];

  version = () => Promise.resolve('0.74.0');

  run(manifests: readonly Manifest[]): Promise<Map<string, TrivyMisconfiguration[]>> {
    this.runs.push(
      manifests.map(({ object }) => {
        const { kind, metadata } = object as KubernetesObject;
        return `${kind}/${metadata?.name}`;
      }),
    );
    return Promise.resolve(new Map(manifests.map((m) => [m.file, this.findings])));
  }
}

function node(name: string): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/os': 'linux', 'kubernetes.io/hostname': name } },
    spec: {},
    status: {
      nodeInfo: {
        kubeletVersion: 'v1.34.4',
        osImage: 'Ubuntu 24.04.3 LTS',
        kernelVersion: '6.8.0-90-generic',
        containerRuntimeVersion: 'containerd://2.1.4',
      } as NonNullable<V1Node['status']>['nodeInfo'],
    },
  };
}

const nodePath = (name: string) => `${NODES}/${name}`;
const nodeReportPath = (name: string) => `${NODE_REPORTS}/node-${name}`;

function controlPlanePod(name: string, component: string | undefined, args: string[]): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: 'kube-system',
      labels: component ? { component, tier: 'control-plane' } : {},
    },
    spec: {
      nodeName: 'cp-1',
      containers: [
        { name: component ?? name, image: 'registry.k8s.io/kube-apiserver:v1.34.4', command: args },
      ],
    },
    status: { phase: 'Running' },
  };
}

/** What the kubelet and the Job controller do for a collector that succeeded: its pod, its log, the Job's condition. */
function completeCollector(api: FakeApiServer, nodeName: string): void {
  completeJob(api, {
    namespace: OPERATOR_NS,
    job: nodeCollectorJobName(nodeName),
    container: 'node-collector',
    image: 'trivy-lookout',
    log: collectorLog(nodeName),
    nodeName,
  });
}

describe('InfraAssessmentController', () => {
  let api: FakeApiServer;
  /** Every controller and informer set started in a test, stopped after it. */
  let running: { controller: InfraAssessmentController; informers: Informers }[] = [];

  interface Started {
    controller: InfraAssessmentController;
    informers: Informers;
    runtime: CountingRuntime;
    trivy: FakeTrivy;
    /** The controller's start(), not awaited. */
    starting: Promise<void>;
  }

  /** A new fake API server holding `existing` before anything lists it; `prepare` readies its answers. */
  async function serve(
    existing: [string, KubernetesObject][] = [],
    prepare: (api: FakeApiServer) => void = () => {},
  ) {
    api = new FakeApiServer();
    const kc = await api.start();
    for (const [at, object] of existing) api.put(at, object);
    prepare(api);
    return kc;
  }

  /** A controller (with its own informers, as a new process would have) on the current fake. */
  function start(kc: Awaited<ReturnType<typeof serve>>, env: Record<string, string> = {}): Started {
    const informers = new Informers({
      kc,
      log,
      watchTimeoutSeconds: 1,
      backoff: { initialMs: 20, maxMs: 200 },
    });
    const config = loadConfig(
      { OPERATOR_NAMESPACE: OPERATOR_NS, OPERATOR_SCAN_JOB_RETRY_AFTER: '100ms', ...env },
      () => {
        throw new Error('no file');
      },
    );
    const runtime = new CountingRuntime();
    const trivy = new FakeTrivy();
    const controller = new InfraAssessmentController({
      kc,
      config,
      log,
      informers,
      runtime,
      evaluator: trivy,
    });
    running.push({ controller, informers });
    return { controller, informers, runtime, trivy, starting: controller.start() };
  }

  afterEach(async () => {
    for (const { controller, informers } of running) {
      await controller.stop();
      await informers.stop();
    }
    running = [];
    await api.stop();
  });

  const jobCreates = () => api.callsTo(`POST ${JOBS}`);
  const jobDeletes = () => api.callsTo(`DELETE ${JOBS}/`);
  const collectorJobs = () =>
    api.list<V1Job>(JOBS).map((job) => job.metadata?.annotations?.[NODE_NAME_ANNOTATION]);

  it('collects a new node with one Job, applies its ClusterInfraAssessmentReport, then deletes the Job', async () => {
    const kc = await serve();
    const { controller, trivy, runtime, starting } = start(kc);
    await starting;
    assert.equal(controller.synced, true);
    // The node joins after the controller synced: it arrives by the watch.
    const stored = api.put(nodePath('worker-1'), node('worker-1'));
    await until('the collector Job', () => jobCreates().length === 1);

    const jobName = nodeCollectorJobName('worker-1');
    assert.deepEqual(collectorJobs(), ['worker-1']);
    assert.equal(
      api.get<V1Job>(`${JOBS}/${jobName}`)?.spec?.template.spec?.containers[0]?.name,
      'node-collector',
    );
    completeCollector(api, 'worker-1');
    await until('the Job deleted', () => jobDeletes().length === 1);

    // The NodeInfo of that node was evaluated, once.
    assert.deepEqual(trivy.runs, [['NodeInfo/worker-1']]);
    const report = api.get<InfraReportObject>(nodeReportPath('worker-1'));
    assert.ok(report, 'the ClusterInfraAssessmentReport');
    assert.equal(report.kind, 'ClusterInfraAssessmentReport');
    assert.equal(report.metadata.labels[ReportLabel.resourceKind], 'Node');
    assert.equal(report.metadata.labels[ReportLabel.resourceName], 'worker-1');
    assert.equal(report.metadata.labels[ReportLabel.resourceSpecHash], nodeSpecHash(stored));
    assert.ok(report.metadata.annotations[ASSESSED_AT_ANNOTATION], 'when it was assessed');
    assert.deepEqual(
      report.metadata.ownerReferences.map((o) => [o.kind, o.name, o.uid]),
      [['Node', 'worker-1', stored.metadata?.uid]],
    );
    // Only the failed KCV check: passes are left out by default, KSV checks are not infra checks.
    assert.deepEqual(
      report.report.checks.map((c) => [c.checkID, c.success]),
      [['AVD-KCV-0079', false]],
    );
    assert.deepEqual(report.report.summary, { criticalCount: 1, highCount: 0, mediumCount: 0, lowCount: 0 });

    // Deleted once its report was written, not before.
    const written = api.calls.lastIndexOf(`PATCH ${nodeReportPath('worker-1')}`);
    const deleted = api.calls.indexOf(`DELETE ${JOBS}/${jobName}`);
    assert.ok(written >= 0 && written < deleted, 'the report is written before the Job is deleted');
    assert.deepEqual(collectorJobs(), []);
    assert.equal(runtime.of('node-collector-jobs').error, 0);

    // Nothing more to do: no second Job, no more writes, even when the node's status changes.
    api.put(nodePath('worker-1'), {
      ...stored,
      status: { ...stored.status, conditions: [{ type: 'Ready', status: 'True' }] },
    });
    const calls = api.calls.filter((c) => !c.startsWith('WATCH ')).length;
    await sleep(300);
    assert.equal(jobCreates().length, 1);
    assert.deepEqual(api.calls.filter((c) => !c.startsWith('WATCH ')).slice(calls), []);
    assert.equal(trivy.runs.length, 1);
  });

  it('keeps the finished Job while the report is refused, writes it once allowed, then deletes the Job', async () => {
    const kc = await serve([[nodePath('worker-1'), node('worker-1')]]);
    api.refuse(
      'PATCH',
      nodeReportPath('worker-1'),
      apiStatus(
        403,
        'Forbidden',
        'admission webhook "reports.policy.example.com" denied the request: frozen',
      ),
      2,
    );
    const { runtime, trivy, starting } = start(kc);
    await starting;
    await until('the collector Job', () => jobCreates().length === 1);
    completeCollector(api, 'worker-1');

    await until('the Job deleted', () => jobDeletes().length === 1);
    const applies = api.callsTo(`PATCH ${nodeReportPath('worker-1')}`);
    assert.equal(applies.length, 3, 'refused twice, then written');
    const refused = api.calls.indexOf(`PATCH ${nodeReportPath('worker-1')}`);
    const written = api.calls.lastIndexOf(`PATCH ${nodeReportPath('worker-1')}`);
    const deleted = api.calls.indexOf(`DELETE ${JOBS}/${nodeCollectorJobName('worker-1')}`);
    assert.ok(written < deleted, 'the Job is deleted only after the write went through');
    assert.ok(
      api.calls.slice(refused, deleted).every((c) => !c.startsWith(`DELETE ${JOBS}`)),
      'the Job stays while its result is not written',
    );
    // Each retry read the kept Job's result again (its pod listed, its log read).
    assert.equal(api.callsTo(`GET /api/v1/namespaces/${OPERATOR_NS}/pods/`).length, 3);
    assert.equal(trivy.runs.length, 3);
    assert.ok(api.get(nodeReportPath('worker-1')), 'the report');
    assert.equal(jobCreates().length, 1, 'no second Job');

    const jobs = runtime.of('node-collector-jobs');
    assert.equal(jobs.error, 2, 'two failed reconciles of the Job');
    assert.ok(jobs.retried >= 2, `retried with backoff (${jobs.retried})`);
    // A refused write is not a failed assessment: no NodeCollectorFailed Event.
    assert.deepEqual(api.callsTo('POST /api/v1/namespaces/'), []);
  });

  it('does not assess a node again after a restart, nor one whose report is current; a deleted report is', async () => {
    const kc = await serve([[nodePath('worker-1'), node('worker-1')]]);
    const first = start(kc);
    await first.starting;
    await until('the collector Job', () => jobCreates().length === 1);
    completeCollector(api, 'worker-1');
    await until('the Job deleted', () => jobDeletes().length === 1);
    await first.controller.stop();
    await first.informers.stop();

    // The next leader, and three more nodes with reports: current, of another spec, and expired.
    const ttlMs = 86_400_000;
    for (const [name, hash, ageMs] of [
      ['worker-2', undefined, 60_000],
      ['worker-3', 'another-spec', 60_000],
      ['worker-4', undefined, ttlMs + 60_000],
    ] as const) {
      const stored = api.put(nodePath(name), node(name));
      const report = buildNodeReport(stored, {
        checks: [],
        specHash: hash ?? nodeSpecHash(stored),
        trivyVersion: '0.74.0',
        now: new Date(Date.now() - ageMs),
        ttlMs,
      });
      api.put(nodeReportPath(name), report);
    }
    const second = start(kc, { OPERATOR_CONCURRENT_NODE_COLLECTOR_LIMIT: '4' });
    await second.starting;
    await until('every node reconciled', () => second.runtime.of('infra-nodes').success >= 4);
    await sleep(100);
    assert.deepEqual(collectorJobs().sort(), ['worker-3', 'worker-4']);
    assert.equal(jobCreates().length, 3, 'one Job before the restart, two after');

    // Someone deletes a current report: Trivy-Operator's way to ask for a new assessment.
    assert.ok(api.remove(nodeReportPath('worker-2')));
    await until('a Job for worker-2', () => collectorJobs().includes('worker-2'));
    await sleep(100);
    assert.equal(jobCreates().length, 4);
    assert.ok(!collectorJobs().includes('worker-1'), 'worker-1 is not assessed again');
  });

  it('stops the work of a deleted node and leaves its report to the garbage collector', async () => {
    const kc = await serve([
      [nodePath('worker-1'), node('worker-1')],
      [nodePath('worker-2'), node('worker-2')],
    ]);
    const { runtime, starting } = start(kc);
    await starting;
    // One Job at a time: worker-1's first (whichever it is, it is completed, the other then runs).
    await until('the first Job', () => jobCreates().length === 1);
    const [firstNode] = collectorJobs();
    assert.ok(firstNode);
    const otherNode = firstNode === 'worker-1' ? 'worker-2' : 'worker-1';
    completeCollector(api, firstNode);
    await until('the second Job', () => collectorJobs().includes(otherNode));
    const report = api.get<InfraReportObject>(nodeReportPath(firstNode));
    assert.ok(report, `${firstNode}'s report`);

    // Both nodes go: one with its report, one with its collector Job still running.
    const reconciled = runtime.of('infra-nodes').success;
    api.remove(nodePath(otherNode));
    await until('the running Job deleted', () =>
      api.calls.includes(`DELETE ${JOBS}/${nodeCollectorJobName(otherNode)}`),
    );
    assert.ok(api.remove(nodePath(firstNode)));
    // The fake's garbage collector removed the report with its owner (its uid is the node's).
    assert.equal(api.get(nodeReportPath(firstNode)), undefined);
    await until('both deletions reconciled', () => runtime.of('infra-nodes').success >= reconciled + 2);

    const calls = api.calls.length;
    await sleep(300);
    assert.deepEqual(collectorJobs(), []);
    assert.equal(jobCreates().length, 2, 'no Job for a deleted node');
    assert.deepEqual(api.callsTo(`DELETE ${NODE_REPORTS}`), [], 'the controller deletes no report');
    assert.deepEqual(
      api.calls.slice(calls).filter((c) => !c.startsWith('WATCH ')),
      [],
    );
  });

  it('assesses control-plane pods from their specs without a Job, and again only when the spec changes', async () => {
    const apiserver = controlPlanePod('kube-apiserver-cp-1', 'kube-apiserver', [
      'kube-apiserver',
      '--anonymous-auth=false',
    ]);
    const etcd = controlPlanePod('etcd-cp-1', undefined, ['etcd', '--client-cert-auth=true']);
    const coredns = controlPlanePod('coredns-6f6b679f8f-abcde', undefined, ['/coredns']);
    const kc = await serve([
      [`${KUBE_SYSTEM_PODS}/${apiserver.metadata?.name}`, apiserver],
      [`${KUBE_SYSTEM_PODS}/${etcd.metadata?.name}`, etcd],
      [`${KUBE_SYSTEM_PODS}/${coredns.metadata?.name}`, coredns],
    ]);
    const { trivy, runtime, starting } = start(kc);
    await starting;
    await until('both reports', () => api.list(POD_REPORTS).length === 2);

    // One Trivy run for the batch, of the pods only; coredns is no control-plane component.
    assert.deepEqual(
      trivy.runs.map((r) => [...r].sort()),
      [['Pod/etcd-cp-1', 'Pod/kube-apiserver-cp-1']],
    );
    for (const name of ['kube-apiserver-cp-1', 'etcd-cp-1']) {
      const pod = api.get<V1Pod>(`${KUBE_SYSTEM_PODS}/${name}`);
      const report = api.get<InfraReportObject>(`${POD_REPORTS}/pod-${name}`);
      assert.ok(pod && report, `pod-${name}`);
      assert.equal(report.kind, 'InfraAssessmentReport');
      assert.equal(report.metadata.namespace, 'kube-system');
      assert.equal(report.metadata.labels[ReportLabel.resourceKind], 'Pod');
      assert.equal(report.metadata.labels[ReportLabel.resourceSpecHash], podSpecHash(pod));
      assert.deepEqual(
        report.metadata.ownerReferences.map((o) => [o.kind, o.name, o.uid]),
        [['Pod', name, pod.metadata?.uid]],
      );
      assert.deepEqual(
        report.report.checks.map((c) => c.checkID),
        ['AVD-KCV-0079'],
      );
    }
    assert.equal(api.get(`${POD_REPORTS}/pod-coredns-6f6b679f8f-abcde`), undefined);
    assert.deepEqual(jobCreates(), [], 'no Job for control-plane pods');
    assert.deepEqual(
      api.callsTo('GET /api/v1/namespaces/kube-system/pods/'),
      [],
      'nothing read but the cache',
    );

    // A status change: the spec hash is the same, nothing is evaluated.
    const stored = api.get<V1Pod>(`${KUBE_SYSTEM_PODS}/kube-apiserver-cp-1`);
    assert.ok(stored);
    const reconciled = runtime.of('infra-control-plane-pods').success;
    api.put(`${KUBE_SYSTEM_PODS}/kube-apiserver-cp-1`, {
      ...stored,
      status: { phase: 'Running', podIP: '10.0.0.5' },
    });
    await until(
      'the status change reconciled',
      () => runtime.of('infra-control-plane-pods').success > reconciled,
    );
    assert.equal(trivy.runs.length, 1);

    // A flag changed (a new static pod manifest): assessed again, alone.
    const container = stored.spec?.containers[0];
    assert.ok(container);
    api.put(`${KUBE_SYSTEM_PODS}/kube-apiserver-cp-1`, {
      ...stored,
      spec: {
        ...stored.spec,
        containers: [{ ...container, command: ['kube-apiserver', '--anonymous-auth=true'] }],
      },
    });
    await until('the second run', () => trivy.runs.length === 2);
    assert.deepEqual(trivy.runs[1], ['Pod/kube-apiserver-cp-1']);
    const changed = api.get<V1Pod>(`${KUBE_SYSTEM_PODS}/kube-apiserver-cp-1`);
    assert.ok(changed);
    await until(
      'the new spec hash on the report',
      () =>
        api.get<InfraReportObject>(`${POD_REPORTS}/pod-kube-apiserver-cp-1`)?.metadata.labels[
          ReportLabel.resourceSpecHash
        ] === podSpecHash(changed),
    );
    assert.equal(api.callsTo(`PATCH ${POD_REPORTS}/pod-etcd-cp-1`).length, 1, 'etcd is left alone');
  });

  it('stop() while the caches sync returns at once and leaves nothing running', async () => {
    const timersBefore = liveTimers();
    const kc = await serve([[nodePath('worker-1'), node('worker-1')]], (fake) => fake.hang('GET', NODES));
    const { controller, informers, starting } = start(kc);
    await until('the nodes list', () => api.calls.includes(`GET ${NODES}`));
    assert.equal(controller.synced, false);

    const stopAt = performance.now();
    await controller.stop();
    const stopMs = performance.now() - stopAt;
    assert.ok(stopMs < 500, `stop() took ${Math.round(stopMs)} ms`);
    // The race's own timer is cancelled, so that the timer count below is the controller's.
    const timeout = new AbortController();
    const outcome = await Promise.race([
      starting.then(() => 'returned'),
      sleep(1_000, 'still pending', { signal: timeout.signal }),
    ]);
    timeout.abort();
    assert.equal(outcome, 'returned', 'start() returns');
    assert.equal(controller.synced, false, 'never synced');
    await until('the list abandoned', () => api.abandoned.includes(`GET ${NODES}`), 1_000);

    // Nothing started after the stop: no collector Jobs listed or created, no report written.
    const calls = api.calls.length;
    await sleep(200);
    assert.deepEqual(api.calls.slice(calls), []);
    assert.deepEqual(api.callsTo(`GET ${JOBS}`), []);
    assert.deepEqual(api.callsTo('POST '), []);
    assert.deepEqual(api.callsTo('PATCH '), []);
    await informers.stop();
    assert.equal(liveTimers(), timersBefore, 'no timer left');
  });
});
