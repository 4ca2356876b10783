import type { KubeConfig, KubernetesObject, V1CronJob, V1Pod, V1PodSpec } from '@kubernetes/client-node';
import cron, { type ScheduledTask } from 'node-cron';
import type { Logger } from 'pino';
import { goPathGlob, namespaceSelector, type Config } from '../config/index.ts';
import { reportCollections, ReportLabel } from '../crds/index.ts';
import { isLookoutError } from '../errors/index.ts';
import {
  apiErrorStatus,
  Controller,
  JobRunner,
  WorkloadEvents,
  type FinishedJob,
  type Informers,
  type JobPodResult,
  type RuntimeObserver,
  type SubscriptionGroup,
} from '../kube/index.ts';
import { buildScanJob } from './job-manifest.ts';
import { imageKeyOf, ScanAnnotation, ScanLabel, SCAN_JOB_COMPONENT } from './names.ts';
import { ScanPlan, type ContainerRef } from './plan.ts';
import {
  classifyFailure,
  decodeScanLog,
  decodeScanSbom,
  FailureReason,
  failureHint,
  failureSummary,
  scanDatabasesFromLog,
} from './result.ts';
import { ReportWriter } from './report-writer.ts';
import { workloadKey, WorkloadResolver, type Workload } from './workload-resolver.ts';
import { indexReportKind, ScanResults, type ReportTarget } from './scan-results.ts';
import { podImages, specImages, type ScannableImage } from './images.ts';
import { PullSecrets } from './credentials.ts';
import { hasSkipLabel, reportExtraLabels, type TargetNamespaces } from '../workloads/index.ts';
import {
  ScanFailureReason,
  ScanOutcome,
  TrivyDatabase,
  type ScanMetrics,
  type ScannedImage,
} from '../metrics/index.ts';

/** What the scanner reports about itself: the metrics module's scan series. */
export type ScanObserver = Pick<
  ScanMetrics,
  'queued' | 'running' | 'scanFinished' | 'forgetImage' | 'dbUpdated'
>;

/** Our failure reasons onto the metrics' closed set. */
const metricReason: Record<FailureReason, ScanFailureReason> = {
  [FailureReason.registryAuth]: ScanFailureReason.registryAuth,
  [FailureReason.imageNotFound]: ScanFailureReason.imagePull,
  [FailureReason.registryUnreachable]: ScanFailureReason.imagePull,
  [FailureReason.registryTls]: ScanFailureReason.imagePull,
  [FailureReason.dbDownload]: ScanFailureReason.trivyError,
  [FailureReason.oomKilled]: ScanFailureReason.podKilled,
  [FailureReason.timeout]: ScanFailureReason.timeout,
  [FailureReason.invalidOutput]: ScanFailureReason.invalidOutput,
  [FailureReason.scannerError]: ScanFailureReason.trivyError,
  [FailureReason.jobError]: ScanFailureReason.jobCreate,
};

export interface ScanControllerOptions {
  kc: KubeConfig;
  config: Config;
  log: Logger;
  namespaces: TargetNamespaces;
  observer?: ScanObserver;
  informers: Informers;
  runtime?: RuntimeObserver;
  now?: () => number;
}

/** A workload object the scanner follows: a pod (standing for its workload) or a CronJob. */
interface WorkloadObjectKey {
  readonly kind: 'Pod' | 'CronJob';
  readonly namespace: string;
  readonly name: string;
}

const workloadObjectId = (k: WorkloadObjectKey) => `${k.kind}/${k.namespace}/${k.name}`;

function workloadObjectKey(kind: WorkloadObjectKey['kind'], obj: KubernetesObject): WorkloadObjectKey {
  return { kind, namespace: obj.metadata?.namespace ?? '', name: obj.metadata?.name ?? '' };
}

/** How long an image known only by tag waits for a digest before it is scanned by tag. */
const DIGEST_DISCOVERY_GRACE_MS = 15_000;

interface TrackedWorkload {
  workload: Workload;
  /** Pods that currently stand for this workload (CronJobs have none: their spec is used). */
  pods: Set<string>;
  containers: Map<string, ScannableImage>;
  /** The labels of `trivyOperator.reportResourceLabels` the workload's reports carry. */
  labels: Record<string, string>;
}

/**
 * Event-driven vulnerability and secret scanning: watches pods and CronJobs, keeps one entry per
 * unique image, runs one Job per image when it needs a scan, and writes the result into the
 * reports of every workload container that runs it.
 */
export class ScanController {
  private readonly plan: ScanPlan;
  private readonly jobs: JobRunner;
  private readonly writer: ReportWriter;
  private readonly events: WorkloadEvents;
  private readonly resolver: WorkloadResolver;
  private readonly results: ScanResults;
  private readonly pullSecrets: PullSecrets;
  private readonly workloads = new Map<string, TrackedWorkload>();
  private readonly podWorkload = new Map<string, string>();
  /** The node of each followed pod: where a filesystem scan (trivy.command) of its images can run. */
  private readonly podNode = new Map<string, string>();
  /**
   * registry/repository:tag → digest, learned from running pods. Lets a CronJob (scanned from its
   * spec, which names tags) share the scan of the image its tag currently resolves to.
   */
  private readonly tagDigests = new Map<string, string>();
  /** Images whose result is being written into reports now, and those of them a report of went meanwhile. */
  private readonly filing = new Set<string>();
  private readonly deletedWhileFiling = new Set<string>();
  /** The latest pods, CronJobs and scan Jobs seen by the watches: what reconciles read. */
  private readonly podCache = new Map<string, V1Pod>();
  private readonly cronJobCache = new Map<string, V1CronJob>();
  /** Pods and CronJobs: resolve the workload, note its images, copy known results. */
  private readonly workloadQueue: Controller<WorkloadObjectKey>;
  private readonly watchers: SubscriptionGroup;
  private readonly now: () => number;
  private readonly excludeImages: RegExp[];
  private cronTask: ScheduledTask | undefined;
  private pumpTimer: NodeJS.Timeout | undefined;
  private wakeTimer: NodeJS.Timeout | undefined;
  private started = false;
  private stopped = false;
  /** Ends the API requests of reconciles under way when the scanner stops. */
  private readonly abort = new AbortController();
  private jobsSynced = false;

  constructor(private readonly o: ScanControllerOptions) {
    this.now = o.now ?? Date.now;
    const { operator } = o.config;
    // Validated at start-up (config/settings.ts), so every pattern compiles.
    this.excludeImages = o.config.trivyOperator.excludeImages.flatMap((p) => goPathGlob(p) ?? []);
    this.plan = new ScanPlan(
      {
        ttlMs: operator.scannerReportTtlMs,
        retryDelayMs: operator.scanJobsRetryDelayMs,
        maxRetryDelayMs: 3_600_000,
        onForget: (key) => o.observer?.forgetImage(key),
      },
      this.now,
    );
    this.writer = new ReportWriter(o.kc, this.abort.signal);
    this.events = new WorkloadEvents(o.kc);
    this.watchers = o.informers.group('scanner');
    this.resolver = new WorkloadResolver(o.kc, o.config.targetWorkloads, this.abort.signal);
    this.results = new ScanResults(o.config, this.writer, o.log, this.now);
    this.pullSecrets = new PullSecrets(o.kc, o.config);
    const resyncMs = operator.resyncPeriodMs;
    this.workloadQueue = new Controller<WorkloadObjectKey>({
      name: 'scan-workloads',
      keyOf: workloadObjectId,
      reconcile: (key) => this.reconcileWorkload(key),
      log: o.log,
      ...(o.runtime ? { observer: o.runtime } : {}),
      resync: { everyMs: resyncMs, keys: () => this.workloadKeys() },
    });
    this.jobs = new JobRunner({
      name: 'scan-jobs',
      kc: o.kc,
      informers: o.informers,
      namespace: operator.namespace,
      labelSelector: `${ScanLabel.component}=${SCAN_JOB_COMPONENT}`,
      keyAnnotation: ScanAnnotation.imageKey,
      limit: operator.scanJobsConcurrentLimit,
      container: 'scan',
      finished: (job, result) => this.jobFinished(job, result),
      // Deleted before it finished (by a person, or a node drain): the image waits for its next
      // scan like any other, instead of counting as being scanned forever.
      vanished: (key) => this.plan.release(key),
      onSlotFree: () => {
        this.o.observer?.running(this.jobs.running);
        this.schedulePump();
      },
      resyncMs,
      log: o.log,
      ...(o.runtime ? { runtime: o.runtime } : {}),
      now: this.now,
    });
  }

  /** Keeps the latest object of a watch event in its cache and queues its key. */
  private note<T extends KubernetesObject>(
    kind: WorkloadObjectKey['kind'],
    cache: Map<string, T>,
    type: 'ADDED' | 'MODIFIED' | 'DELETED',
    obj: T,
  ): void {
    const key = workloadObjectKey(kind, obj);
    if (type === 'DELETED') cache.delete(workloadObjectId(key));
    else cache.set(workloadObjectId(key), obj);
    this.workloadQueue.enqueue(key);
  }

  private *workloadKeys(): Iterable<WorkloadObjectKey> {
    for (const pod of this.podCache.values()) yield workloadObjectKey('Pod', pod);
    for (const cj of this.cronJobCache.values()) yield workloadObjectKey('CronJob', cj);
  }

  /** True once workloads, reports and existing scan Jobs have been listed. */
  get synced(): boolean {
    return this.jobsSynced;
  }

  async start(): Promise<void> {
    if (this.started) return;
    this.started = true;
    const log = this.o.log;
    await this.o.namespaces.waitForSync();
    if (this.stopped) return;

    // Existing reports first: what was scanned before a restart is not scanned again.
    const literal = namespaceSelector(this.o.config).literalNamespaces;
    const reports = reportCollections(indexReportKind(this.o.config), literal).map((source) =>
      this.watchers.watch<KubernetesObject>(source, (type, meta) => this.onReport(type, meta), {
        metadataOnly: true,
        pageSize: 500,
      }),
    );
    await Promise.all(reports.map((r) => r.waitForSync()));

    // Watch handlers only note the object and queue its key; the work happens in reconciles.
    const pods = this.watchers.watch<V1Pod>({ path: '/api/v1/pods' }, (type, pod) => {
      if (!isManagedByScanner(pod)) this.note('Pod', this.podCache, type, pod);
    });
    const cronJobs = this.o.config.targetWorkloads.includes('cronjob')
      ? this.watchers.watch<V1CronJob>({ path: '/apis/batch/v1/cronjobs' }, (type, cj) =>
          this.note('CronJob', this.cronJobCache, type, cj),
        )
      : undefined;
    await pods.waitForSync();
    await cronJobs?.waitForSync();
    this.workloadQueue.start();
    // Every workload known before a finished Job's result is filed: it is filed for all of them.
    await this.workloadQueue.idle();
    if (this.stopped) return;

    // Jobs last: a finished Job's result can only be filed once its consumers are known.
    await this.jobs.start();
    this.jobsSynced = true;

    if (this.stopped) return;
    this.cronTask = cron.schedule(this.o.config.operator.rescanSchedule, () => {
      log.info({ images: this.plan.size }, 'scheduled re-scan check');
      this.schedulePump();
    });
    log.info(
      { images: this.plan.size, workloads: this.workloads.size, runningJobs: this.jobs.running },
      'scanner synced',
    );
    this.schedulePump();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.cronTask?.stop();
    clearTimeout(this.pumpTimer);
    clearTimeout(this.wakeTimer);
    await this.watchers.stop();
    // The queues stop taking keys first, so that the requests aborted next are not retried.
    const stopping = Promise.all([this.workloadQueue.stop(), this.jobs.stop()]);
    this.abort.abort();
    await stopping;
  }

  private async reconcileWorkload(key: WorkloadObjectKey): Promise<void> {
    const id = workloadObjectId(key);
    if (key.kind === 'Pod') {
      const pod = this.podCache.get(id);
      if (pod) await this.onPod(pod);
      else await this.dropPod(`${key.namespace}/${key.name}`);
      return;
    }
    const cj = this.cronJobCache.get(id);
    if (cj) await this.onCronJob(cj);
    else this.untrack(workloadKey({ kind: 'CronJob', namespace: key.namespace, name: key.name }));
  }

  // --- workloads ---------------------------------------------------------------------------

  private async onPod(pod: V1Pod): Promise<void> {
    const ns = pod.metadata?.namespace ?? '';
    const podKey = `${ns}/${pod.metadata?.name ?? ''}`;
    if (!this.o.namespaces.has(ns)) return;
    const workload = await this.resolver.resolve(pod);
    // CronJobs are scanned from their own spec, not from each run's pods.
    if (!workload || workload.kind === 'CronJob') return;
    if (this.skippedByLabels(pod.metadata?.labels)) {
      // Labelled to be skipped (perhaps only now): no scans while it is, and its reports stay; its
      // pods are still followed, so that a ReplicaSet's reports go with its last pod as usual.
      const tracked = this.follow(podKey, pod, workload);
      const key = workloadKey(workload);
      for (const container of tracked.containers.keys())
        this.plan.removeConsumer({ workload: key, container });
      return;
    }
    const images = this.withoutExcluded(
      podImages(pod, this.o.config.trivyOperator.skipInitContainers, this.o.log),
    );
    if (images.length === 0) return; // not started yet: its image digests are not known
    await this.learnTagDigests(images);
    const tracked = this.follow(podKey, pod, workload);
    tracked.labels = this.reportLabels(pod.metadata?.labels);
    await this.updateContainers(tracked, images);
  }

  private async onCronJob(cj: V1CronJob): Promise<void> {
    const meta = cj.metadata;
    if (!meta?.name || !meta.namespace || !meta.uid) return;
    const workload: Workload = {
      apiVersion: 'batch/v1',
      kind: 'CronJob',
      namespace: meta.namespace,
      name: meta.name,
      uid: meta.uid,
    };
    const key = workloadKey(workload);
    if (!this.o.namespaces.has(meta.namespace) || this.skippedByLabels(meta.labels)) {
      this.untrack(key);
      return;
    }
    const spec: V1PodSpec | undefined = cj.spec?.jobTemplate.spec?.template.spec;
    if (!spec) return;
    const images = this.withoutExcluded(
      specImages(spec, this.o.config.trivyOperator.skipInitContainers, this.o.log),
    ).map((image) => this.withKnownDigest(image));
    const tracked = this.track(workload);
    tracked.labels = this.reportLabels(meta.labels);
    await this.updateContainers(tracked, images);
  }

  private withKnownDigest(image: ScannableImage): ScannableImage {
    if (image.digest) return image;
    const digest = this.tagDigests.get(tagKey(image));
    return digest ? { ...image, digest, scanRef: `${image.registry}/${image.repository}@${digest}` } : image;
  }

  /** Records tag → digest from a running pod; CronJobs naming a newly resolved tag are re-keyed. */
  private async learnTagDigests(images: ScannableImage[]): Promise<void> {
    for (const image of images) {
      if (!image.digest || !image.tag) continue;
      const tag = tagKey(image);
      if (this.tagDigests.get(tag) === image.digest) continue;
      this.tagDigests.set(tag, image.digest);
      if (this.tagDigests.size > 50_000) this.tagDigests.clear();
      for (const tracked of this.workloads.values()) {
        if (tracked.workload.kind !== 'CronJob') continue;
        const stale = [...tracked.containers.values()].filter(
          (c) => tagKey(c) === tag && c.digest !== image.digest,
        );
        if (stale.length > 0)
          await this.updateContainers(
            tracked,
            stale.map((c) => this.withKnownDigest({ ...c, digest: undefined })),
          );
      }
    }
  }

  /** Records a running pod as one of its workload's (and the node it is on). */
  private follow(podKey: string, pod: V1Pod, workload: Workload): TrackedWorkload {
    this.podWorkload.set(podKey, workloadKey(workload));
    if (pod.spec?.nodeName) this.podNode.set(podKey, pod.spec.nodeName);
    const tracked = this.track(workload);
    tracked.pods.add(podKey);
    return tracked;
  }

  private track(workload: Workload): TrackedWorkload {
    const key = workloadKey(workload);
    let tracked = this.workloads.get(key);
    if (!tracked || tracked.workload.uid !== workload.uid) {
      tracked = { workload, pods: new Set(), containers: new Map(), labels: {} };
      this.workloads.set(key, tracked);
    }
    return tracked;
  }

  private async updateContainers(tracked: TrackedWorkload, images: ScannableImage[]): Promise<void> {
    const wKey = workloadKey(tracked.workload);
    for (const image of images) {
      const consumer: ContainerRef = { workload: wKey, container: image.container };
      const key = imageKeyOf(image.registry, image.repository, image.digest, image.ref);
      tracked.containers.set(image.container, image);
      // Without a digest (a CronJob's spec), wait a little: a pod running the same tag usually
      // reveals the digest, and then both share one scan instead of two.
      this.plan.setConsumer(consumer, key, image.scanRef, {
        notBefore: image.digest ? undefined : this.now() + DIGEST_DISCOVERY_GRACE_MS,
      });
      const entry = this.plan.get(key);
      const known = this.results.knownResult(key);
      if (entry && known && entry.lastSuccessAt === undefined) this.plan.recordSuccess(key, known.scannedAt);
      if (entry && !this.plan.isStale(entry) && !this.results.hasCurrentReport(consumer, key)) {
        // Scanned recently for another workload: copy that result instead of scanning again.
        const copied = await this.results.copyInto(
          { workload: tracked.workload, image, labels: tracked.labels },
          key,
        );
        if (!copied) this.plan.invalidate(key);
      }
    }
    this.schedulePump();
  }

  /**
   * skipResourceByLabels, read from the pods (a CronJob's own labels), which carry a Deployment's
   * labels on its ReplicaSets' behalf. Pods of one workload labelled differently switch it on and
   * off with each event: label the pod template.
   */
  private skippedByLabels(labels: Record<string, string> | undefined): boolean {
    return hasSkipLabel(labels, this.o.config.trivyOperator.skipResourceByLabels);
  }

  /** Containers whose image matches trivyOperator.excludeImages are not scanned or reported. */
  private withoutExcluded(images: ScannableImage[]): ScannableImage[] {
    if (this.excludeImages.length === 0) return images;
    return images.filter((image) => !this.excludeImages.some((glob) => glob.test(image.ref)));
  }

  private async dropPod(podKey: string): Promise<void> {
    const wKey = this.podWorkload.get(podKey);
    const tracked = wKey === undefined ? undefined : this.workloads.get(wKey);
    // The last pod is gone. A ReplicaSet without pods is a previous revision of its Deployment
    // (or scaled to zero): its reports are stale, as Trivy-Operator treats them. Other kinds keep
    // theirs; they go with the workload through the owner reference. Deleted before anything is
    // forgotten, so a failed delete is retried with the pod's key.
    const last = tracked !== undefined && tracked.pods.size === 1 && tracked.pods.has(podKey);
    if (last && tracked.workload.kind === 'ReplicaSet')
      await this.results.deleteReports(tracked.workload, [...tracked.containers.keys()]);
    this.podNode.delete(podKey);
    this.podWorkload.delete(podKey);
    if (!tracked) return;
    tracked.pods.delete(podKey);
    if (tracked.pods.size > 0) return;
    if (tracked.workload.kind === 'Job')
      this.resolver.forgetJob(tracked.workload.namespace, tracked.workload.name);
    this.untrack(workloadKey(tracked.workload));
  }

  private untrack(wKey: string): void {
    const tracked = this.workloads.get(wKey);
    if (!tracked) return;
    for (const container of tracked.containers.keys())
      this.plan.removeConsumer({ workload: wKey, container });
    this.workloads.delete(wKey);
  }

  // --- reports -----------------------------------------------------------------------------

  private onReport(type: 'ADDED' | 'MODIFIED' | 'DELETED', meta: KubernetesObject): void {
    const deletedConsumer = this.results.onReport(type, meta);
    if (!deletedConsumer) return;
    // A report removed by someone else while its container still runs the image: that is how users
    // ask for a re-scan (Trivy-Operator's documented way).
    const key = this.plan.imageOf(deletedConsumer);
    // Deleted while this image's result is being filed: what the filing records afterwards would
    // undo this; re-scan once it is done.
    if (key !== undefined && this.filing.has(key)) {
      this.deletedWhileFiling.add(key);
      this.o.log.info(
        { consumer: deletedConsumer, image: key, afterFiling: true },
        'report deleted; re-scanning',
      );
      return;
    }
    if (key !== undefined && this.results.forgetResult(key)) {
      this.o.log.info({ consumer: deletedConsumer, image: key }, 'report deleted; re-scanning');
      this.plan.invalidate(key);
      this.schedulePump();
    }
  }

  // --- scan Jobs ---------------------------------------------------------------------------

  private schedulePump(): void {
    if (this.stopped || !this.jobsSynced || this.pumpTimer) return;
    this.pumpTimer = setTimeout(() => {
      this.pumpTimer = undefined;
      void this.pump();
    }, 50);
  }

  private async pump(): Promise<void> {
    const due = this.plan.takeDue(this.jobs.free);
    this.o.observer?.queued(this.plan.waitingCount());
    for (const entry of due) {
      // Any consumer will do for credentials: they all run the same image from the same registry.
      // A filesystem scan (trivy.command) needs one whose pod runs, to go to its node.
      const targets = [...entry.consumers.values()]
        .map((c) => this.consumerTarget(c))
        .filter((t) => t !== undefined);
      // A node where a pod running the image is now (none for a CronJob between runs).
      const node =
        this.o.config.trivy.command === 'image'
          ? undefined
          : targets.map((t) => this.nodeOf(t.workload)).find(Boolean);
      const target = targets[0];
      try {
        // A filesystem scan pulls nothing itself: no registry credentials to hand over.
        const credentials =
          target && node === undefined
            ? await this.pullSecrets.forImage(target.workload, target.image.registry, target.image)
            : undefined;
        const manifests = buildScanJob(this.o.config, {
          imageKey: entry.key,
          imageRef: entry.ref,
          registryHost: target?.image.registry ?? '',
          credentials,
          ...(node === undefined ? {} : { node }),
        });
        const outcome = await this.jobs.create(entry.key, manifests);
        const name = manifests.job.metadata?.name ?? '';
        this.plan.markRunning(entry.key);
        this.o.log.info({ image: entry.ref, job: name, adopted: outcome === 'exists' }, 'scan job started');
      } catch (err) {
        this.failed(entry.key, FailureReason.jobError, (err as Error).message);
      }
    }
    this.o.observer?.running(this.jobs.running);
    this.armWake();
  }

  private armWake(): void {
    clearTimeout(this.wakeTimer);
    const next = this.plan.nextWakeAt();
    if (next === undefined) return;
    this.wakeTimer = setTimeout(() => this.schedulePump(), Math.max(0, next - this.now()) + 10);
    this.wakeTimer.unref();
  }

  /**
   * A finished scan Job: its result is filed into the reports. A result that cannot be read or
   * written yet throws: the runner keeps the Job and retries with backoff, so a refused write loses
   * no scan.
   */
  private async jobFinished(
    job: FinishedJob,
    result: () => Promise<JobPodResult | undefined>,
  ): Promise<void> {
    if (job.succeeded) await this.succeeded(job.key, job.name, job.startedAt, result);
    else await this.jobFailed(job.key, job.reason, job.startedAt, result);
  }

  private async succeeded(
    key: string,
    jobName: string,
    startedAt: number,
    readResult: () => Promise<JobPodResult | undefined>,
  ): Promise<void> {
    const result = await readResult();
    if (!result) {
      this.failed(key, FailureReason.jobError, 'the scan pod and its log are gone', startedAt);
      return;
    }
    let json: string;
    let cycloneDx: string | undefined;
    try {
      json = decodeScanLog(result.log);
      cycloneDx = this.o.config.operator.sbomGenerationEnabled ? decodeScanSbom(result.log) : undefined;
    } catch (err) {
      this.failed(key, FailureReason.invalidOutput, (err as Error).message, startedAt);
      return;
    }
    const entry = this.plan.get(key);
    const consumers = entry ? [...entry.consumers.values()] : [];
    this.filing.add(key);
    try {
      const written = await this.results.fileResult(
        key,
        json,
        consumers.map((c) => this.consumerTarget(c)).filter((t) => t !== undefined),
        cycloneDx,
      );
      const image = this.scannedImage(key);
      this.plan.recordSuccess(key);
      const databases = scanDatabasesFromLog(result.log);
      if (databases.vulnerabilities)
        this.o.observer?.dbUpdated(databases.vulnerabilities, TrivyDatabase.vulnerabilities);
      if (databases.javaIndex) this.o.observer?.dbUpdated(databases.javaIndex, TrivyDatabase.javaIndex);
      this.o.observer?.scanFinished({
        key,
        image,
        durationMs: this.now() - startedAt,
        outcome: ScanOutcome.succeeded,
      });
      this.o.log.info({ image: key, job: jobName, reports: written }, 'scan finished');
      await this.fillLateConsumers(key);
      if (this.deletedWhileFiling.delete(key) && this.results.forgetResult(key)) {
        this.o.log.debug({ image: key }, 'scan filed; re-scanning for the report deleted meanwhile');
        this.plan.invalidate(key);
        this.schedulePump();
      }
    } catch (err) {
      if (isLookoutError(err) && err.code === 'TL_TRIVY_OUTPUT_INVALID')
        this.failed(key, FailureReason.invalidOutput, (err as Error).message, startedAt);
      // A report the API server will never take (invalid, too large) is a failed scan; anything
      // else (a refusing webhook, an API server restart, a conflict storm) is retried with the Job.
      else if (isPermanentWriteError(err))
        this.failed(key, FailureReason.jobError, (err as Error).message, startedAt);
      else throw err;
    } finally {
      this.filing.delete(key);
    }
  }

  private async jobFailed(
    key: string,
    jobReason: string | undefined,
    startedAt: number,
    readResult: () => Promise<JobPodResult | undefined>,
  ): Promise<void> {
    const result = await readResult().catch(() => undefined);
    const log = result?.log ?? '';
    const reason = classifyFailure({ log, jobReason, containerReason: result?.reason });
    let summary: string;
    if (reason === FailureReason.timeout && !log)
      summary = `the scan did not finish within ${Math.round(this.o.config.operator.scanJobTimeoutMs / 1000)} s`;
    else if (reason === FailureReason.oomKilled)
      summary = `container ${result?.container ?? 'scan'} was OOMKilled at its memory limit (${this.o.config.trivy.resources.limits.memory ?? 'none'})`;
    else summary = failureSummary(log || jobReason || 'the scan job failed');
    const hint = failureHint(reason);
    if (hint) summary = `${summary} (${hint})`;
    this.failed(key, reason, summary, startedAt);
  }

  private failed(key: string, reason: FailureReason, message: string, startedAt?: number): void {
    const image = this.scannedImage(key);
    const delay = this.plan.recordFailure(key, reason);
    const entry = this.plan.get(key);
    this.o.observer?.scanFinished({
      key,
      image,
      durationMs: startedAt ? this.now() - startedAt : 0,
      outcome: ScanOutcome.failed,
      reason: metricReason[reason],
    });
    this.o.log.warn({ image: key, reason, message, retryInSeconds: Math.round(delay / 1000) }, 'scan failed');
    const notified = new Set<string>();
    for (const consumer of entry?.consumers.values() ?? []) {
      const target = this.consumerTarget(consumer);
      if (!target) continue;
      const wKey = workloadKey(target.workload);
      if (notified.has(wKey)) continue;
      notified.add(wKey);
      const w = target.workload;
      void this.events
        .warn(
          { apiVersion: w.apiVersion, kind: w.kind, namespace: w.namespace, name: w.name, uid: w.uid },
          'ScanFailed',
          `Scan of image ${entry?.ref ?? key} failed (${reason}): ${message}. Retrying in ${Math.round(delay / 1000)} s.`,
        )
        .catch((err: unknown) => this.o.log.warn({ err, workload: wKey }, 'could not record event'));
    }
    this.armWake();
  }

  /**
   * Containers that started running the image while its result was being written were not in the
   * list that was written: give them a copy now, or they would wait for the next TTL.
   */
  private async fillLateConsumers(key: string): Promise<void> {
    for (const consumer of this.plan.get(key)?.consumers.values() ?? []) {
      if (this.results.hasCurrentReport(consumer, key)) continue;
      const target = this.consumerTarget(consumer);
      if (target && !(await this.results.copyInto(target, key))) this.plan.invalidate(key);
    }
  }

  /** The image in the parts the report series use, so scan series join them. */
  private scannedImage(key: string): ScannedImage {
    for (const consumer of this.plan.get(key)?.consumers.values() ?? []) {
      const image = this.consumerTarget(consumer)?.image;
      if (image)
        return {
          registry: image.registry,
          repository: image.repository,
          tag: image.tag,
          digest: image.digest,
        };
    }
    const at = key.indexOf('@');
    const name = at < 0 ? key : key.slice(0, at);
    const slash = name.indexOf('/');
    return {
      registry: name.slice(0, slash),
      repository: name.slice(slash + 1),
      digest: at < 0 ? undefined : key.slice(at + 1),
    };
  }

  /** The node of one of the workload's pods that are followed now, if any. */
  private nodeOf(workload: Workload): string | undefined {
    for (const pod of this.workloads.get(workloadKey(workload))?.pods ?? []) {
      const node = this.podNode.get(pod);
      if (node) return node;
    }
    return undefined;
  }

  private consumerTarget(consumer: ContainerRef): ReportTarget | undefined {
    const tracked = this.workloads.get(consumer.workload);
    const image = tracked?.containers.get(consumer.container);
    return tracked && image ? { workload: tracked.workload, image, labels: tracked.labels } : undefined;
  }

  /** The configured report labels, from the workload's pods (a CronJob's own metadata). */
  private reportLabels(labels: Record<string, string> | undefined): Record<string, string> {
    return reportExtraLabels(
      labels,
      this.o.config.metrics.resourceLabels,
      this.o.config.trivyOperator.additionalReportLabels,
    );
  }
}

function tagKey(image: Pick<ScannableImage, 'registry' | 'repository' | 'tag'>): string {
  return `${image.registry}/${image.repository}:${image.tag}`;
}

function isPermanentWriteError(err: unknown): boolean {
  const status = apiErrorStatus(err);
  return status === 422 || status === 413;
}

function isManagedByScanner(pod: V1Pod): boolean {
  const labels = pod.metadata?.labels ?? {};
  return labels[ScanLabel.component] !== undefined || labels[ReportLabel.managedBy] === 'trivy-operator';
}
