/**
 * Infra assessment, run by the leader: a node-collector Job per node (on add, on change, on the
 * report TTL) whose NodeInfo is evaluated with Trivy's KCV node checks into the node's
 * ClusterInfraAssessmentReport, and the control-plane pods of kube-system evaluated with the KCV
 * control-plane checks into InfraAssessmentReports. Nodes a collector pod cannot be scheduled on
 * are skipped with a Warning Event on the Node and a log line, never left with a Pending Job.
 */
import type { KubeConfig, KubernetesObject, V1Node, V1Pod } from '@kubernetes/client-node';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import {
  TrivyConfigEngine,
  toChecks,
  type Manifest,
  type TrivyMisconfiguration,
} from '../configaudit/index.ts';
import { ReportAnnotation, ReportLabel, reportObjectPath } from '../crds/index.ts';
import {
  backoffDelay,
  Controller,
  JobRunner,
  WorkloadEvents,
  type FinishedJob,
  type Informers,
  type JobPodResult,
  type RuntimeObserver,
  type SubscriptionGroup,
} from '../kube/index.ts';
import { ScanLabel } from '../scanning/index.ts';
import {
  NODE_COLLECTOR_COMPONENT,
  NODE_COLLECTOR_CONTAINER,
  NODE_NAME_ANNOTATION,
  buildNodeCollectorJob,
  nodeCollectorJobName,
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
  runtime?: RuntimeObserver;
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
  private readonly jobs: JobRunner;
  private readonly events: WorkloadEvents;
  private readonly store: InfraReportStore;
  private readonly evaluator: InfraEvaluator;
  private readonly now: () => number;
  private readonly nodes = new Map<string, TrackedNode>();
  private readonly nodeReports = new Map<string, KnownReport>();
  private readonly podReports = new Map<string, KnownReport>();
  private readonly pods = new Map<string, V1Pod>();
  /** Nodes by name: start a collector Job when due, give up on an unschedulable one, clean up. */
  private readonly nodeQueue: Controller<string>;
  /** Control-plane pods by name, assessed in batches (one Trivy run). */
  private readonly podQueue: Controller<string>;
  /** Collector pods the scheduler cannot place, by node: since when, and why. */
  private readonly unschedulable = new Map<string, { job: string; since: number; message: string }>();
  private readonly watchers: SubscriptionGroup;
  private cronTask: ScheduledTask | undefined;
  private trivyVersion: string | undefined;
  private started = false;
  private stopped = false;
  private syncedFlag = false;

  constructor(private readonly o: InfraAssessmentControllerOptions) {
    this.now = o.now ?? Date.now;
    const { operator } = o.config;
    this.events = new WorkloadEvents(o.kc);
    this.watchers = o.informers.group('infra-assessment');
    this.store = new InfraReportStore(o.kc);
    this.evaluator =
      o.evaluator ??
      new TrivyConfigEngine({
        binary: o.config.configAudit.trivyBinary,
        timeoutMs: operator.scanJobTimeoutMs,
        log: o.log,
      });
    const runtime = o.runtime ? { runtime: o.runtime } : {};
    const backoff = { initialMs: operator.scanJobsRetryDelayMs, maxMs: MAX_RETRY_DELAY_MS };
    this.jobs = new JobRunner({
      name: 'node-collector-jobs',
      kc: o.kc,
      informers: o.informers,
      namespace: operator.namespace,
      labelSelector: `${ScanLabel.component}=${NODE_COLLECTOR_COMPONENT}`,
      keyAnnotation: NODE_NAME_ANNOTATION,
      limit: o.config.nodeCollector.concurrentLimit,
      container: NODE_COLLECTOR_CONTAINER,
      finished: (job, result) => this.jobFinished(job, result),
      vanished: (node) => this.unschedulable.delete(node),
      onSlotFree: () => {
        for (const name of this.nodes.keys()) if (this.nodeDue(name)) this.nodeQueue.enqueue(name);
      },
      resyncMs: operator.resyncPeriodMs,
      log: o.log,
      ...runtime,
      now: this.now,
    });
    this.nodeQueue = new Controller<string>({
      name: 'infra-nodes',
      keyOf: (name) => name,
      reconcile: (name) => this.reconcileNode(name),
      backoff,
      resync: { everyMs: operator.resyncPeriodMs, keys: () => this.nodes.keys() },
      log: o.log,
      ...(o.runtime ? { observer: o.runtime } : {}),
    });
    this.podQueue = new Controller<string>({
      name: 'infra-control-plane-pods',
      keyOf: (name) => name,
      batch: {
        max: 100,
        delayMs: POD_BATCH_DELAY_MS,
        groupOf: () => CONTROL_PLANE_NAMESPACE,
        reconcile: (names) => this.assessPods(names),
      },
      backoff,
      resync: { everyMs: operator.resyncPeriodMs, keys: () => this.pods.keys() },
      log: o.log,
      ...(o.runtime ? { observer: o.runtime } : {}),
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
        path: reportObjectPath('ClusterInfraAssessmentReport'),
        labelSelector: `${ReportLabel.resourceKind}=Node`,
      },
      (type, report) => this.onNodeReport(type, report),
      { metadataOnly: true },
    );
    const podReports = this.watchers.watch<KubernetesObject>(
      {
        path: reportObjectPath('InfraAssessmentReport', CONTROL_PLANE_NAMESPACE),
        labelSelector: `${ReportLabel.resourceKind}=Pod`,
      },
      (type, report) => this.onPodReport(type, report),
      { metadataOnly: true },
    );
    await Promise.all([nodeReports.waitForSync(), podReports.waitForSync()]);

    const nodes = this.watchers.watch<V1Node>({ path: '/api/v1/nodes' }, (t, n) => this.onNode(t, n));
    const pods = this.watchers.watch<V1Pod>(
      { path: `/api/v1/namespaces/${CONTROL_PLANE_NAMESPACE}/pods` },
      (t, p) => this.onControlPlanePod(t, p),
    );
    await Promise.all([nodes.waitForSync(), pods.waitForSync()]);
    // Stopped while the lists were pending: open no more watches.
    if (this.stopped) return;

    const collectorPods = this.watchers.watch<V1Pod>(
      {
        path: `/api/v1/namespaces/${ns}/pods`,
        labelSelector: `${ScanLabel.component}=${NODE_COLLECTOR_COMPONENT}`,
      },
      (t, p) => this.onCollectorPod(t, p),
    );
    await Promise.all([this.jobs.start(), collectorPods.waitForSync()]);
    if (this.stopped) return;
    this.syncedFlag = true;
    this.cronTask = cron.schedule(this.o.config.operator.rescanSchedule, () => this.recheckAll());
    this.nodeQueue.start();
    this.podQueue.start();
    this.o.log.info(
      { nodes: this.nodes.size, controlPlanePods: this.pods.size, runningJobs: this.jobs.running },
      'infra assessment synced',
    );
    this.recheckAll();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.cronTask?.stop();
    await this.watchers.stop();
    await Promise.all([this.jobs.stop(), this.nodeQueue.stop(), this.podQueue.stop()]);
    await this.evaluator.close?.();
  }

  /** On the rescan schedule: every node and pod whose report expired is assessed again. */
  private recheckAll(): void {
    for (const name of this.nodes.keys()) this.nodeQueue.enqueue(name);
    for (const name of this.pods.keys()) this.podQueue.enqueue(name);
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
    if (this.syncedFlag) this.nodeQueue.enqueue(node);
  }

  private onPodReport(type: EventType, report: KubernetesObject): void {
    const pod = InfraAssessmentController.ownerName(report);
    if (type !== 'DELETED') {
      this.podReports.set(pod, this.known(report));
      return;
    }
    this.podReports.delete(pod);
    if (this.syncedFlag) this.podQueue.enqueue(pod);
  }

  private expired(report: KnownReport): boolean {
    const ttl = this.o.config.operator.scannerReportTtlMs;
    return ttl !== null && this.now() - report.assessedAt >= ttl;
  }

  // --- nodes -------------------------------------------------------------------------------

  private nodeDue(name: string): boolean {
    const tracked = this.nodes.get(name);
    if (!tracked || tracked.skipped !== undefined || this.jobs.isRunning(name)) return false;
    if (tracked.notBefore !== undefined && this.now() < tracked.notBefore) return false;
    const report = this.nodeReports.get(name);
    return !report || report.hash !== tracked.hash || this.expired(report);
  }

  private onNode(type: EventType, node: V1Node): void {
    const name = node.metadata?.name ?? '';
    if (type === 'DELETED') {
      this.nodes.delete(name);
      // The reconcile deletes its collector Job, if one runs.
      this.nodeQueue.enqueue(name);
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
    if (this.syncedFlag) this.nodeQueue.enqueue(name);
  }

  private nodeEvent(node: V1Node, reason: string, message: string): void {
    const meta = node.metadata ?? {};
    void this.events
      .warn({ apiVersion: 'v1', kind: 'Node', name: meta.name, uid: meta.uid }, reason, message)
      .catch((err: unknown) => this.o.log.warn({ err, node: meta.name }, 'could not record event'));
  }

  /** Delay before retry `attempt` (0-based): from `scanJobsRetryDelay`, doubling, jittered. */
  private retryDelay(attempt: number): number {
    return backoffDelay(attempt, {
      initialMs: this.o.config.operator.scanJobsRetryDelayMs,
      maxMs: MAX_RETRY_DELAY_MS,
    });
  }

  /**
   * One node: its collector Job is deleted when the node went away or cannot be scheduled on;
   * a due node gets a Job when a slot is free (a Job ending frees one and re-enqueues due nodes).
   */
  private async reconcileNode(name: string): Promise<{ requeueAfterMs: number } | void> {
    const tracked = this.nodes.get(name);
    if (!tracked) {
      await this.jobs.cancel(name);
      return;
    }
    const stuck = this.unschedulable.get(name);
    if (stuck && this.jobs.isRunning(name)) {
      const grace = this.unschedulableGraceMs();
      const waited = this.now() - stuck.since;
      if (waited < grace) return { requeueAfterMs: grace - waited };
      this.unschedulable.delete(name);
      const text = `the node-collector pod could not be scheduled on it for ${Math.round(grace / 1000)} s (${stuck.message})`;
      this.o.log.warn({ node: name, job: stuck.job }, `node not assessed: ${text}`);
      tracked.skipped = `Unschedulable: ${text}`;
      this.nodeEvent(tracked.node, 'NodeCollectorSkipped', `Node not assessed: ${text}.`);
      await this.jobs.cancel(name);
      return;
    }
    if (tracked.notBefore !== undefined && this.now() < tracked.notBefore)
      return { requeueAfterMs: tracked.notBefore - this.now() + 10 };
    if (!this.nodeDue(name) || this.jobs.free === 0) return;
    const job = buildNodeCollectorJob(this.o.config, tracked.node);
    const jobName = job.metadata?.name ?? '';
    const outcome = await this.jobs.create(name, { job, secret: undefined });
    this.o.log.info({ node: name, job: jobName, adopted: outcome === 'exists' }, 'node collector started');
  }

  /** Within the Job's own deadline, so the verdict is ours (with the scheduler's reason), not a bare timeout. */
  private unschedulableGraceMs(): number {
    return Math.min(UNSCHEDULABLE_GRACE_MS, this.o.config.operator.scanJobTimeoutMs / 2);
  }

  /** A failed assessment: the node waits (doubling from `scanJobsRetryDelay`) and is told so. */
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
    this.nodeQueue.enqueueAfter(name, delay + 10);
  }

  private async jobFinished(
    job: FinishedJob,
    result: () => Promise<JobPodResult | undefined>,
  ): Promise<void> {
    this.unschedulable.delete(job.key);
    if (job.succeeded) {
      await this.collected(job.key, result);
      return;
    }
    const detail = (await result().catch(() => undefined))?.log.trim().split('\n').at(-1) ?? '';
    this.failed(
      job.key,
      job.reason === 'DeadlineExceeded'
        ? `the node collector did not finish within ${Math.round(this.o.config.operator.scanJobTimeoutMs / 1000)} s`
        : `the node collector failed${detail ? `: ${detail.slice(0, 300)}` : ` (${job.reason ?? 'no reason'})`}`,
    );
  }

  /**
   * Evaluates a collector's NodeInfo into the node's report. A report the API server refuses
   * throws: the Job is kept and the write retried.
   */
  private async collected(name: string, readResult: () => Promise<JobPodResult | undefined>): Promise<void> {
    const tracked = this.nodes.get(name);
    if (!tracked) return; // the node went away meanwhile
    const result = await readResult();
    if (!result) {
      this.failed(name, 'the node-collector pod and its log are gone');
      return;
    }
    let report: ReturnType<typeof buildNodeReport>;
    let failedChecks: number;
    let type: string | undefined;
    const assessedAt = this.now();
    try {
      const info = parseNodeCollectorLog(result.log);
      type = info.type;
      const version = await this.version();
      const results = await this.evaluator.run([{ file: 'node.json', object: info }]);
      const items = results.get('node.json');
      if (!items) throw new Error('Trivy returned no result for the NodeInfo document');
      const checks = this.infraChecks(items);
      failedChecks = checks.filter((c) => !c.success).length;
      report = buildNodeReport(tracked.node, {
        checks,
        specHash: tracked.hash,
        trivyVersion: version,
        now: new Date(assessedAt),
        ttlMs: this.o.config.operator.scannerReportTtlMs,
        extraLabels: this.o.config.trivyOperator.additionalReportLabels,
      });
    } catch (err) {
      this.failed(name, (err as Error).message);
      return;
    }
    await this.store.apply(report);
    this.nodeReports.set(name, { hash: tracked.hash, assessedAt });
    tracked.failures = 0;
    tracked.notBefore = undefined;
    this.o.log.info({ node: name, type, failed: failedChecks }, 'node assessed');
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

  /** A collector pod the scheduler cannot place: its node is given up after a grace period. */
  private onCollectorPod(type: EventType, pod: V1Pod): void {
    const jobName =
      pod.metadata?.labels?.['batch.kubernetes.io/job-name'] ?? pod.metadata?.labels?.['job-name'];
    const node = pod.metadata?.annotations?.[NODE_NAME_ANNOTATION] ?? this.nodeOfJob(jobName);
    if (!jobName || !node) return;
    const condition = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
    const stuck =
      type !== 'DELETED' &&
      pod.status?.phase === 'Pending' &&
      condition?.status === 'False' &&
      condition.reason === 'Unschedulable';
    if (!stuck) {
      if (this.unschedulable.get(node)?.job === jobName) this.unschedulable.delete(node);
      return;
    }
    const message = condition.message ?? 'no node is available';
    const known = this.unschedulable.get(node);
    if (known?.job === jobName) {
      known.message = message;
      return;
    }
    this.unschedulable.set(node, { job: jobName, since: this.now(), message });
    this.nodeQueue.enqueueAfter(node, this.unschedulableGraceMs());
  }

  /** The node a collector Job was made for (its name is derived from the node's), for pods without the annotation. */
  private nodeOfJob(jobName: string | undefined): string | undefined {
    if (!jobName) return undefined;
    for (const name of this.nodes.keys()) if (nodeCollectorJobName(name) === jobName) return name;
    return undefined;
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
    if (type === 'DELETED' || !isControlPlanePod(pod)) this.pods.delete(name);
    else this.pods.set(name, pod);
    if (this.syncedFlag) this.podQueue.enqueue(name);
  }

  /**
   * Evaluates the due pods of a batch together (one Trivy run) and writes their reports; pods whose
   * evaluation or write failed are retried alone, with backoff.
   */
  private async assessPods(names: string[]): Promise<{ failed: string[] }> {
    const batch = names
      .filter((name) => this.podDue(name))
      .map((name) => this.pods.get(name))
      .filter((pod): pod is V1Pod => pod !== undefined);
    const failed: string[] = [];
    if (batch.length === 0) return { failed };
    const version = await this.version();
    const manifests = batch.map((pod, i) => ({ file: `pod-${i}.json`, object: podManifest(pod) }));
    const results = await this.evaluator.run(manifests);
    for (const [i, pod] of batch.entries()) {
      const name = pod.metadata?.name ?? '';
      const items = results.get(`pod-${i}.json`);
      try {
        if (!items) throw new Error('Trivy returned no result for the pod');
        const checks = this.infraChecks(items);
        const specHash = podSpecHash(pod);
        const assessedAt = this.now();
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
        this.o.log.info(
          { pod: name, failed: checks.filter((c) => !c.success).length },
          'control-plane pod assessed',
        );
      } catch (err) {
        this.o.log.warn(
          { pod: name, namespace: CONTROL_PLANE_NAMESPACE, message: (err as Error).message },
          'control-plane pod assessment failed; retrying',
        );
        failed.push(name);
      }
    }
    return { failed };
  }
}
