/**
 * Infra assessment, run by the leader: a node-collector Job per node (on add, on change, on the
 * report TTL) whose NodeInfo is evaluated with Trivy's KCV node checks into the node's
 * ClusterInfraAssessmentReport, and the control-plane pods of kube-system evaluated with the KCV
 * control-plane checks into InfraAssessmentReports. Nodes a collector pod cannot be scheduled on
 * are skipped with a Warning Event on the Node and a log line, never left with a Pending Job.
 */
import type { KubeConfig, KubernetesObject, V1Job, V1Node, V1Pod } from '@kubernetes/client-node';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import {
  TrivyConfigEngine,
  reportPath,
  toChecks,
  type Manifest,
  type TrivyMisconfiguration,
} from '../configaudit/index.ts';
import { ReportAnnotation, ReportLabel } from '../crds/index.ts';
import { backoffDelay, WorkloadEvents, type Informers, type SubscriptionGroup } from '../kube/index.ts';
import { ScanJobs, ScanLabel } from '../scanning/index.ts';
import {
  NODE_COLLECTOR_COMPONENT,
  NODE_COLLECTOR_CONTAINER,
  NODE_NAME_ANNOTATION,
  buildNodeCollectorJob,
  nodePlacement,
} from './node-collector-job.ts';
import { InfraReportStore } from './report-store.ts';
import {
  ASSESSED_AT_ANNOTATION,
  CONTROL_PLANE_NAMESPACE,
  buildNodeReport,
  buildPodReport,
  isControlPlanePod,
  nodeSpecHash,
  parseNodeCollectorLog,
  podManifest,
  podSpecHash,
} from './reports.ts';

/** What evaluates manifests with Trivy's checks: the config audit's engine. */
export interface InfraEvaluator {
  version(): Promise<string>;
  run(manifests: readonly Manifest[]): Promise<Map<string, TrivyMisconfiguration[]>>;
  close?(): Promise<void>;
}

export interface InfraAssessmentControllerOptions {
  kc: KubeConfig;
  config: Config;
  log: Logger;
  informers: Informers;
  /** Default: the Trivy binary of `operator.configAuditTrivyBinary`. */
  evaluator?: InfraEvaluator;
  now?: () => number;
}

interface TrackedNode {
  node: V1Node;
  hash: string;
  /** Why it is not assessed now (`reason: message`), or undefined. */
  skipped?: string;
  failures: number;
  notBefore?: number;
}

interface KnownReport {
  hash: string;
  assessedAt: number;
}

type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** How long a collector pod may stay unschedulable before its node is skipped. */
const UNSCHEDULABLE_GRACE_MS = 30_000;
const MAX_RETRY_DELAY_MS = 3_600_000;
const POD_BATCH_DELAY_MS = 300;

export class InfraAssessmentController {
  private readonly jobs: ScanJobs;
  private readonly events: WorkloadEvents;
  private readonly store: InfraReportStore;
  private readonly evaluator: InfraEvaluator;
  private readonly now: () => number;
  private readonly nodes = new Map<string, TrackedNode>();
  private readonly nodeReports = new Map<string, KnownReport>();
  private readonly podReports = new Map<string, KnownReport>();
  private readonly pods = new Map<string, V1Pod>();
  private readonly podRetries = new Map<string, number>();
  private readonly queue = new Set<string>();
  private readonly running = new Map<string, { job: string; startedAt: number }>();
  private readonly handledJobs = new Set<string>();
  private readonly unschedulable = new Map<string, { node: string; since: number; message: string }>();
  private readonly pendingPods = new Set<string>();
  private readonly watchers: SubscriptionGroup;
  private readonly timers = new Set<NodeJS.Timeout>();
  private cronTask: ScheduledTask | undefined;
  private podTimer: NodeJS.Timeout | undefined;
  private podRunBusy = false;
  private trivyVersion: string | undefined;
  private started = false;
  private stopped = false;
  private syncedFlag = false;

  constructor(private readonly o: InfraAssessmentControllerOptions) {
    this.now = o.now ?? Date.now;
    this.jobs = new ScanJobs(o.kc, o.config.operator.namespace);
    this.events = new WorkloadEvents(o.kc);
    this.watchers = o.informers.group('infra-assessment');
    this.store = new InfraReportStore(o.kc);
    this.evaluator =
      o.evaluator ??
      new TrivyConfigEngine({
        binary: o.config.configAudit.trivyBinary,
        timeoutMs: o.config.operator.scanJobTimeoutMs,
        log: o.log,
      });
  }

  get synced(): boolean {
    return this.syncedFlag;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const ns = this.o.config.operator.namespace;

    // Reports first: what was assessed before a restart is not assessed again.
    const nodeReports = this.watchers.watch<KubernetesObject>(
      {
        path: reportPath('ClusterInfraAssessmentReport'),
        labelSelector: `${ReportLabel.resourceKind}=Node`,
      },
      (type, report) => this.onNodeReport(type, report),
      { metadataOnly: true },
    );
    const podReports = this.watchers.watch<KubernetesObject>(
      {
        path: reportPath('InfraAssessmentReport', CONTROL_PLANE_NAMESPACE),
        labelSelector: `${ReportLabel.resourceKind}=Pod`,
      },
      (type, report) => this.onPodReport(type, report),
      { metadataOnly: true },
    );
    await Promise.all([nodeReports.waitForSync(), podReports.waitForSync()]);

    const nodes = this.watchers.watch<V1Node>(
      {
        path: '/api/v1/nodes',
      },
      (t, n) => this.onNode(t, n),
    );
    const pods = this.watchers.watch<V1Pod>(
      {
        path: `/api/v1/namespaces/${CONTROL_PLANE_NAMESPACE}/pods`,
      },
      (t, p) => this.onControlPlanePod(t, p),
    );
    await Promise.all([nodes.waitForSync(), pods.waitForSync()]);

    const selector = `${ScanLabel.component}=${NODE_COLLECTOR_COMPONENT}`;
    const jobs = this.watchers.watch<V1Job>(
      {
        path: `/apis/batch/v1/namespaces/${ns}/jobs`,
        labelSelector: selector,
      },
      (t, j) => this.onJob(t, j),
    );
    const collectorPods = this.watchers.watch<V1Pod>(
      {
        path: `/api/v1/namespaces/${ns}/pods`,
        labelSelector: selector,
      },
      (t, p) => this.onCollectorPod(t, p),
    );
    await Promise.all([jobs.waitForSync(), collectorPods.waitForSync()]);
    this.syncedFlag = true;

    if (this.stopped) return;
    this.cronTask = cron.schedule(this.o.config.operator.rescanSchedule, () => this.recheckAll());
    this.o.log.info(
      { nodes: this.nodes.size, controlPlanePods: this.pods.size, runningJobs: this.running.size },
      'infra assessment synced',
    );
    this.recheckAll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.cronTask?.stop();
    clearTimeout(this.podTimer);
    for (const timer of this.timers) clearTimeout(timer);
    await this.watchers.stop();
    await this.evaluator.close?.();
  }

  private later(ms: number, action: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopped) action();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }

  private recheckAll(): void {
    for (const name of this.nodes.keys()) if (this.nodeDue(name)) this.queue.add(name);
    for (const name of this.pods.keys()) if (this.podDue(name)) this.pendingPods.add(name);
    this.pump();
    this.schedulePodRun();
  }

  // --- reports -----------------------------------------------------------------------------

  private known(report: KubernetesObject): KnownReport {
    const meta = report.metadata ?? {};
    const at = meta.annotations?.[ASSESSED_AT_ANNOTATION] ?? meta.creationTimestamp;
    return {
      hash: meta.labels?.[ReportLabel.resourceSpecHash] ?? '',
      assessedAt: at ? new Date(at).getTime() : 0,
    };
  }

  private static ownerName(report: KubernetesObject): string {
    const meta = report.metadata ?? {};
    return (
      meta.annotations?.[ReportAnnotation.resourceName] ??
      meta.labels?.[ReportLabel.resourceName] ??
      meta.ownerReferences?.[0]?.name ??
      ''
    );
  }

  private onNodeReport(type: EventType, report: KubernetesObject): void {
    const node = InfraAssessmentController.ownerName(report);
    if (type !== 'DELETED') {
      this.nodeReports.set(node, this.known(report));
      return;
    }
    this.nodeReports.delete(node);
    // Deleted while the node is there: Trivy-Operator's documented way to ask for a new assessment.
    if (this.syncedFlag && this.nodeDue(node)) {
      this.queue.add(node);
      this.pump();
    }
  }

  private onPodReport(type: EventType, report: KubernetesObject): void {
    const pod = InfraAssessmentController.ownerName(report);
    if (type !== 'DELETED') {
      this.podReports.set(pod, this.known(report));
      return;
    }
    this.podReports.delete(pod);
    if (this.syncedFlag && this.podDue(pod)) {
      this.pendingPods.add(pod);
      this.schedulePodRun();
    }
  }

  private expired(report: KnownReport): boolean {
    const ttl = this.o.config.operator.scannerReportTtlMs;
    return ttl !== null && this.now() - report.assessedAt >= ttl;
  }

  // --- nodes -------------------------------------------------------------------------------

  private nodeDue(name: string): boolean {
    const tracked = this.nodes.get(name);
    if (!tracked || tracked.skipped !== undefined || this.running.has(name)) return false;
    if (tracked.notBefore !== undefined && this.now() < tracked.notBefore) return false;
    const report = this.nodeReports.get(name);
    return !report || report.hash !== tracked.hash || this.expired(report);
  }

  private onNode(type: EventType, node: V1Node): void {
    const name = node.metadata?.name ?? '';
    if (type === 'DELETED') {
      this.nodes.delete(name);
      this.queue.delete(name);
      const running = this.running.get(name);
      if (running) void this.jobs.delete(running.job).catch(() => undefined);
      return;
    }
    const hash = nodeSpecHash(node);
    const previous = this.nodes.get(name);
    const changed = previous?.hash !== hash;
    const tracked: TrackedNode = {
      node,
      hash,
      failures: changed ? 0 : (previous?.failures ?? 0),
      notBefore: changed ? undefined : previous?.notBefore,
      // An unschedulable verdict holds until the node changes (taints, labels).
      skipped: changed ? undefined : previous?.skipped,
    };
    const placement = nodePlacement(node, this.o.config.nodeCollector);
    if (!placement.assess) {
      tracked.skipped = `${placement.reason}: ${placement.message}`;
    } else if (tracked.skipped?.startsWith('Taint:') || tracked.skipped?.startsWith('NodeSelector:')) {
      tracked.skipped = undefined;
    }
    this.nodes.set(name, tracked);
    if (tracked.skipped !== undefined && tracked.skipped !== previous?.skipped) {
      if (placement.assess) return; // the Unschedulable verdict was already reported
      const level = placement.reason === 'Excluded' || placement.reason === 'NotLinux' ? 'info' : 'warn';
      this.o.log[level]({ node: name, reason: placement.reason }, `node not assessed: ${placement.message}`);
      if (level === 'warn')
        this.nodeEvent(node, 'NodeCollectorSkipped', `Node not assessed: ${placement.message}.`);
      return;
    }
    if (tracked.skipped === undefined && previous?.skipped !== undefined)
      this.o.log.info({ node: name }, 'node can be assessed again');
    if (this.syncedFlag && this.nodeDue(name)) {
      this.queue.add(name);
      this.pump();
    }
  }

  private nodeEvent(node: V1Node, reason: string, message: string): void {
    const meta = node.metadata ?? {};
    void this.events
      .warn({ apiVersion: 'v1', kind: 'Node', name: meta.name, uid: meta.uid }, reason, message)
      .catch((err: unknown) => this.o.log.warn({ err, node: meta.name }, 'could not record event'));
  }

  private pump(): void {
    if (this.stopped || !this.syncedFlag) return;
    const limit = this.o.config.nodeCollector.concurrentLimit;
    for (const name of [...this.queue]) {
      if (this.running.size >= limit) break;
      this.queue.delete(name);
      const tracked = this.nodes.get(name);
      if (!tracked || !this.nodeDue(name)) continue;
      const job = buildNodeCollectorJob(this.o.config, tracked.node);
      const jobName = job.metadata?.name ?? '';
      this.running.set(name, { job: jobName, startedAt: this.now() });
      this.jobs
        .create({ job, secret: undefined })
        .then((outcome) =>
          this.o.log.info(
            { node: name, job: jobName, adopted: outcome === 'exists' },
            'node collector started',
          ),
        )
        .catch((err: unknown) => {
          this.running.delete(name);
          this.failed(name, `the node-collector Job could not be created: ${(err as Error).message}`);
        });
    }
  }

  /** Delay before retry `attempt` (0-based): from `scanJobsRetryDelay`, doubling, jittered. */
  private retryDelay(attempt: number): number {
    return backoffDelay(attempt, {
      initialMs: this.o.config.operator.scanJobsRetryDelayMs,
      maxMs: MAX_RETRY_DELAY_MS,
    });
  }

  private failed(name: string, message: string): void {
    const tracked = this.nodes.get(name);
    if (!tracked) return;
    tracked.failures += 1;
    const delay = this.retryDelay(tracked.failures - 1);
    tracked.notBefore = this.now() + delay;
    const retry = Math.round(delay / 1000);
    this.o.log.warn({ node: name, message, retryInSeconds: retry }, 'node assessment failed');
    this.nodeEvent(
      tracked.node,
      'NodeCollectorFailed',
      `Node assessment failed: ${message}. Retrying in ${retry} s.`,
    );
    this.later(delay + 10, () => {
      if (this.nodeDue(name)) {
        this.queue.add(name);
        this.pump();
      }
    });
  }

  private async onJob(type: EventType, job: V1Job): Promise<void> {
    const jobName = job.metadata?.name ?? '';
    const node = job.metadata?.annotations?.[NODE_NAME_ANNOTATION];
    if (!node) return;
    if (type === 'DELETED') {
      if (this.running.get(node)?.job === jobName) this.running.delete(node);
      this.handledJobs.delete(job.metadata?.uid ?? '');
      this.unschedulable.delete(jobName);
      this.pump();
      return;
    }
    const finished = job.status?.conditions?.find(
      (c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True',
    );
    if (!finished) {
      if (!this.running.has(node)) this.running.set(node, { job: jobName, startedAt: this.now() });
      return;
    }
    const uid = job.metadata?.uid ?? jobName;
    if (this.handledJobs.has(uid)) return;
    this.handledJobs.add(uid);
    try {
      if (finished.type === 'Complete') await this.collected(node, jobName);
      else {
        const result = await this.jobs.readResult(jobName, NODE_COLLECTOR_CONTAINER).catch(() => undefined);
        const detail = result?.log.trim().split('\n').at(-1) ?? '';
        this.failed(
          node,
          finished.reason === 'DeadlineExceeded'
            ? `the node collector did not finish within ${Math.round(this.o.config.operator.scanJobTimeoutMs / 1000)} s`
            : `the node collector failed${detail ? `: ${detail.slice(0, 300)}` : ` (${finished.reason ?? 'no reason'})`}`,
        );
      }
    } finally {
      this.running.delete(node);
      this.unschedulable.delete(jobName);
      await this.jobs
        .delete(jobName)
        .catch((err: unknown) =>
          this.o.log.warn({ err, job: jobName }, 'could not delete node-collector job'),
        );
      this.pump();
    }
  }

  private async collected(name: string, jobName: string): Promise<void> {
    const tracked = this.nodes.get(name);
    if (!tracked) return; // the node went away meanwhile
    const result = await this.jobs.readResult(jobName, NODE_COLLECTOR_CONTAINER);
    if (!result) {
      this.failed(name, 'the node-collector pod and its log are gone');
      return;
    }
    try {
      const info = parseNodeCollectorLog(result.log);
      const version = await this.version();
      const results = await this.evaluator.run([{ file: 'node.json', object: info }]);
      const items = results.get('node.json');
      if (!items) throw new Error('Trivy returned no result for the NodeInfo document');
      const checks = this.infraChecks(items);
      const assessedAt = this.now();
      await this.store.apply(
        buildNodeReport(tracked.node, {
          checks,
          specHash: tracked.hash,
          trivyVersion: version,
          now: new Date(assessedAt),
          ttlMs: this.o.config.operator.scannerReportTtlMs,
          extraLabels: this.o.config.trivyOperator.additionalReportLabels,
        }),
      );
      this.nodeReports.set(name, { hash: tracked.hash, assessedAt });
      tracked.failures = 0;
      tracked.notBefore = undefined;
      this.o.log.info(
        { node: name, type: info.type, failed: checks.filter((c) => !c.success).length },
        'node assessed',
      );
    } catch (err) {
      this.failed(name, (err as Error).message);
    }
  }

  private infraChecks(items: TrivyMisconfiguration[]) {
    return toChecks(items, {
      severities: this.o.config.trivy.severity,
      failedOnly: this.o.config.configAudit.recordFailedChecksOnly,
    }).infraChecks;
  }

  private async version(): Promise<string> {
    this.trivyVersion ??= await this.evaluator.version();
    return this.trivyVersion;
  }

  /** A collector pod the scheduler cannot place: give up on the node after a grace period. */
  private onCollectorPod(type: EventType, pod: V1Pod): void {
    const jobName =
      pod.metadata?.labels?.['batch.kubernetes.io/job-name'] ?? pod.metadata?.labels?.['job-name'];
    if (!jobName) return;
    const condition = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    const stuck =
      type !== 'DELETED' &&
      pod.status?.phase === 'Pending' &&
      condition?.status === 'False' &&
      condition.reason === 'Unschedulable';
    if (!stuck) {
      this.unschedulable.delete(jobName);
      return;
    }
    const node = [...this.running].find(([, r]) => r.job === jobName)?.[0];
    if (!node) return;
    const message = condition.message ?? 'no node is available';
    const known = this.unschedulable.get(jobName);
    if (known) {
      known.message = message;
      return;
    }
    const since = this.now();
    this.unschedulable.set(jobName, { node, since, message });
    // Within the Job's own deadline, so the verdict is ours (with the scheduler's reason), not a bare timeout.
    const grace = Math.min(UNSCHEDULABLE_GRACE_MS, this.o.config.operator.scanJobTimeoutMs / 2);
    this.later(grace, () => {
      const entry = this.unschedulable.get(jobName);
      if (!entry || entry.since !== since) return;
      this.unschedulable.delete(jobName);
      const tracked = this.nodes.get(node);
      const text = `the node-collector pod could not be scheduled on it for ${Math.round(grace / 1000)} s (${entry.message})`;
      this.o.log.warn({ node, job: jobName }, `node not assessed: ${text}`);
      if (tracked) {
        tracked.skipped = `Unschedulable: ${text}`;
        this.nodeEvent(tracked.node, 'NodeCollectorSkipped', `Node not assessed: ${text}.`);
      }
      this.running.delete(node);
      void this.jobs.delete(jobName).catch(() => undefined);
      this.pump();
    });
  }

  // --- control-plane pods ------------------------------------------------------------------

  private podDue(name: string): boolean {
    const pod = this.pods.get(name);
    if (!pod) return false;
    const report = this.podReports.get(name);
    return !report || report.hash !== podSpecHash(pod) || this.expired(report);
  }

  private onControlPlanePod(type: EventType, pod: V1Pod): void {
    const name = pod.metadata?.name ?? '';
    if (type === 'DELETED' || !isControlPlanePod(pod)) {
      this.pods.delete(name);
      this.pendingPods.delete(name);
      return;
    }
    this.pods.set(name, pod);
    if (this.podDue(name)) {
      this.pendingPods.add(name);
      this.schedulePodRun();
    }
  }

  private schedulePodRun(): void {
    if (this.stopped || !this.syncedFlag || this.podTimer || this.pendingPods.size === 0) return;
    this.podTimer = setTimeout(() => {
      this.podTimer = undefined;
      void this.assessPods();
    }, POD_BATCH_DELAY_MS);
  }

  private async assessPods(): Promise<void> {
    if (this.podRunBusy) {
      this.schedulePodRun();
      return;
    }
    this.podRunBusy = true;
    const batch = [...this.pendingPods]
      .map((name) => this.pods.get(name))
      .filter((pod): pod is V1Pod => pod !== undefined);
    this.pendingPods.clear();
    try {
      if (batch.length === 0) return;
      const version = await this.version();
      const manifests = batch.map((pod, i) => ({ file: `pod-${i}.json`, object: podManifest(pod) }));
      const results = await this.evaluator.run(manifests);
      for (const [i, pod] of batch.entries()) {
        const name = pod.metadata?.name ?? '';
        const items = results.get(`pod-${i}.json`);
        if (!items) {
          this.podFailed(name, 'Trivy returned no result for the pod');
          continue;
        }
        const checks = this.infraChecks(items);
        const specHash = podSpecHash(pod);
        const assessedAt = this.now();
        try {
          await this.store.apply(
            buildPodReport(pod, {
              checks,
              specHash,
              trivyVersion: version,
              now: new Date(assessedAt),
              ttlMs: this.o.config.operator.scannerReportTtlMs,
              extraLabels: this.o.config.trivyOperator.additionalReportLabels,
            }),
          );
          this.podReports.set(name, { hash: specHash, assessedAt });
          this.podRetries.delete(name);
          this.o.log.info(
            { pod: name, failed: checks.filter((c) => !c.success).length },
            'control-plane pod assessed',
          );
        } catch (err) {
          this.podFailed(name, (err as Error).message);
        }
      }
    } catch (err) {
      for (const pod of batch) this.podFailed(pod.metadata?.name ?? '', (err as Error).message);
    } finally {
      this.podRunBusy = false;
      this.schedulePodRun();
    }
  }

  private podFailed(name: string, message: string): void {
    const attempts = (this.podRetries.get(name) ?? 0) + 1;
    this.podRetries.set(name, attempts);
    const delay = this.retryDelay(attempts - 1);
    this.o.log.warn(
      { pod: name, namespace: CONTROL_PLANE_NAMESPACE, message, retryInSeconds: Math.round(delay / 1000) },
      'control-plane pod assessment failed',
    );
    this.later(delay, () => {
      if (this.podDue(name)) {
        this.pendingPods.add(name);
        this.schedulePodRun();
      }
    });
  }
}
