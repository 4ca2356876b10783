/**
 * The webhook broadcast: watches the report kinds, queues a notification when a report's content
 * changes (or it is deleted, if asked), and POSTs them in the background with a few requests at
 * once, a timeout and retries. Runs on the leader only, so replicas do not send twice.
 *
 * It hooks into nothing that writes reports: the report CRDs are the contract, so reports written
 * by any part of the operator (or by another tool) are broadcast alike.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { namespaceSelector, type Config, type NamespaceSelector } from '../config/index.ts';
import { reportCollections, reportCrds, reportObjectPath } from '../crds/index.ts';
import {
  apiErrorMessage,
  isNotFound,
  kubeRequestJson,
  type Informers,
  type Subscription,
  type WatchEventType,
} from '../kube/index.ts';
import { WebhookAttemptOutcome, WebhookDropReason, type WebhookMetrics } from '../metrics/index.ts';
import { contentFingerprint, ReportChanges, type ChangeDetection } from './changes.ts';
import { deliver, type DeliveryResult, type LoadResult } from './delivery.ts';
import {
  deletedReportObject,
  isHistorical,
  isTerminating,
  refKey,
  refOf,
  WEBHOOK_REPORT_KINDS,
  webhookBody,
  WebhookVerb,
  type NewFindingsBody,
  type ReportRef,
  type WebhookReportKind,
} from './payload.ts';
import type { NewFindings } from '../findings/index.ts';
import { postJson } from './post.ts';
import { NotificationQueue, type Notification } from './queue.ts';
import { DEFAULT_RETRY_POLICY, type AttemptResult, type RetryPolicy } from './retry.ts';

export type WebhookObserver = Pick<
  WebhookMetrics,
  'sent' | 'failed' | 'dropped' | 'retried' | 'queueDepth' | 'attempt'
>;

export interface WebhookBroadcasterOptions {
  kc: KubeConfig;
  informers: Informers;
  config: Pick<Config, 'operator' | 'targetNamespaces' | 'excludeNamespaces'>;
  log: Logger;
  observer?: WebhookObserver;
  /** Requests in flight at most (default 4). */
  concurrency?: number;
  retry?: Partial<RetryPolicy>;
  /** How long stop() lets waiting and in-flight notifications finish before dropping them (default 5 s). */
  stopGraceMs?: number;
}

const DEFAULT_CONCURRENCY = 4;
const DROP_LOG_INTERVAL_MS = 30_000;

/** Kinds whose results live in a status subresource need their content hashed (see ChangeDetection). */
function detectionFor(kind: WebhookReportKind): ChangeDetection {
  const crd = reportCrds.find((candidate) => candidate.spec.names.kind === kind);
  return crd?.spec.versions.some((version) => version.subresources.status !== undefined)
    ? 'content'
    : 'generation';
}

export class WebhookBroadcaster {
  private readonly url: string;
  private readonly log: Logger;
  private readonly selector: NamespaceSelector;
  private readonly sendDeleted: boolean;
  private readonly policy: RetryPolicy;
  private readonly concurrency: number;
  private readonly subscriptions: Subscription[] = [];
  private readonly changes = new ReportChanges();
  private readonly queue: NotificationQueue;
  /** Keys of the reports being sent now. */
  private readonly busy = new Set<string>();
  private readonly inFlight = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private accepting = true;
  private dropsSinceLog = 0;
  private lastDropLogAt = -Infinity;
  /**
   * With `webhookSendNewFindingsOnly`: takes a report's newly seen findings from first-seen
   * tracking; VulnerabilityReport changes are then not sent as whole reports.
   */
  readonly newFindings: ((news: NewFindings) => void) | undefined;

  constructor(private readonly o: WebhookBroadcasterOptions) {
    const { operator } = o.config;
    if (!operator.webhookBroadcastURL) throw new Error('webhook broadcast URL is not set');
    this.url = operator.webhookBroadcastURL;
    this.log = o.log;
    this.selector = namespaceSelector(o.config);
    this.sendDeleted = operator.webhookSendDeletedReports;
    this.policy = { ...DEFAULT_RETRY_POLICY, ...o.retry };
    this.concurrency = o.concurrency ?? DEFAULT_CONCURRENCY;
    this.queue = new NotificationQueue(operator.webhookBroadcastQueueSize);
    this.newFindings = operator.webhookSendNewFindingsOnly ? (news) => this.onNewFindings(news) : undefined;
  }

  /** True once every report watch has listed once (the baseline is taken). */
  get synced(): boolean {
    return this.subscriptions.length > 0 && this.subscriptions.every((s) => s.synced);
  }

  /** Reports known (baseline plus what changed since). */
  get reportCount(): number {
    return this.changes.size;
  }

  /** Notifications waiting (not counting those being sent). */
  get waiting(): number {
    return this.queue.size;
  }

  start(): void {
    for (const kind of WEBHOOK_REPORT_KINDS) {
      const detection = detectionFor(kind);
      for (const source of reportCollections(kind, this.selector.literalNamespaces)) {
        const subscription: Subscription = this.o.informers.subscribe(
          'webhook',
          source,
          // Events of the first list arrive before the subscription counts as synced: the baseline.
          (type, obj) => this.onEvent(kind, detection, !subscription.synced, type, obj),
          {
            metadataOnly: detection === 'generation',
            pageSize: detection === 'generation' ? 500 : 20,
          },
        );
        this.subscriptions.push(subscription);
      }
    }
    this.log.info(
      {
        kinds: WEBHOOK_REPORT_KINDS.length,
        sendDeletedReports: this.sendDeleted,
        timeoutMs: this.o.config.operator.webhookBroadcastTimeoutMs,
        queueSize: this.queue.capacity,
        concurrency: this.concurrency,
      },
      'webhook broadcast started',
    );
  }

  /** Resolves true once synced, or false when `timeoutMs` passed first. */
  async waitForSync(timeoutMs: number): Promise<boolean> {
    const synced = Promise.all(this.subscriptions.map((s) => s.waitForSync())).then(() => true);
    return Promise.race([synced, sleep(timeoutMs, false, { ref: false })]);
  }

  /**
   * Stops watching, lets what is queued go out for up to `stopGraceMs`, then aborts the rest
   * (counted as dropped): a successor leader starts from its own baseline.
   */
  async stop(): Promise<void> {
    this.accepting = false;
    await Promise.all(this.subscriptions.splice(0).map((s) => s.unsubscribe()));
    const deadline = Date.now() + (this.o.stopGraceMs ?? 5_000);
    while ((this.queue.size > 0 || this.inFlight.size > 0) && Date.now() < deadline) await sleep(50);
    this.abort.abort();
    const left = this.queue.clear();
    this.o.observer?.queueDepth(0);
    this.o.observer?.dropped(WebhookDropReason.stopped, left.length);
    await Promise.allSettled([...this.inFlight]);
    if (left.length > 0) this.log.warn({ dropped: left.length }, 'webhook stopped with notifications unsent');
  }

  private onEvent(
    kind: WebhookReportKind,
    detection: ChangeDetection,
    baseline: boolean,
    type: WatchEventType,
    obj: KubernetesObject,
  ): void {
    if (!this.accepting) return;
    const namespace = obj.metadata?.namespace;
    if (namespace && !this.selector.matches(namespace)) return;
    const ref = refOf(kind, obj);
    const key = refKey(ref);
    const fingerprint = type === 'DELETED' ? '' : contentFingerprint(obj, detection);
    const change = this.changes.observe(type, key, fingerprint, baseline);
    if (change === 'update') {
      if (kind === 'VulnerabilityReport' && this.newFindings) return;
      // Trivy-Operator skips these too: historical reports are about to go, terminating ones are going.
      if (isHistorical(obj) || isTerminating(obj)) return;
      this.enqueue({ key, ref, verb: WebhookVerb.update });
    } else if (change === 'delete' && this.sendDeleted) {
      this.enqueue({ key, ref, verb: WebhookVerb.delete, deleted: deletedReportObject(kind, obj) });
    }
  }

  private onNewFindings(news: NewFindings): void {
    if (!this.accepting || news.findings.length === 0) return;
    if (!this.selector.matches(news.namespace)) return;
    const first = news.findings[0]!;
    const body: NewFindingsBody = {
      verb: WebhookVerb.newFindings,
      kind: 'VulnerabilityReport',
      namespace: news.namespace,
      name: news.report,
      workload: { kind: first.resourceKind, name: first.resourceName, container: first.containerName },
      image: first.image,
      findings: news.findings.map((f) => ({
        vulnerabilityID: f.vulnerabilityId,
        severity: f.severity,
        resource: f.package,
        installedVersion: f.installedVersion,
        fixedVersion: f.fixedVersion,
        firstSeen: f.firstSeen,
      })),
    };
    const ref: ReportRef = { kind: 'VulnerabilityReport', namespace: news.namespace, name: news.report };
    // Its own key: new findings are not merged into (or replaced by) another message of the report.
    this.enqueue({
      key: `${refKey(ref)}#new`,
      ref,
      verb: WebhookVerb.newFindings,
      body: JSON.stringify(body),
    });
  }

  private enqueue(notification: Notification): void {
    const { dropped } = this.queue.push(notification);
    if (dropped) {
      this.o.observer?.dropped(WebhookDropReason.queueFull);
      this.noteDrop(dropped);
    }
    this.pump();
  }

  /** Warns when the queue overflows, at most every 30 s, with the number dropped since. */
  private noteDrop(dropped: Notification): void {
    this.dropsSinceLog += 1;
    const now = Date.now();
    if (now - this.lastDropLogAt < DROP_LOG_INTERVAL_MS) return;
    this.log.warn(
      { dropped: this.dropsSinceLog, queueSize: this.queue.capacity, oldest: describeRef(dropped) },
      'webhook queue full; dropping the oldest notifications',
    );
    this.lastDropLogAt = now;
    this.dropsSinceLog = 0;
  }

  private pump(): void {
    while (!this.abort.signal.aborted && this.busy.size < this.concurrency) {
      const next = this.queue.take((key) => this.busy.has(key));
      if (!next) break;
      this.busy.add(next.key);
      const running: Promise<void> = this.send(next).finally(() => {
        this.busy.delete(next.key);
        this.inFlight.delete(running);
        this.pump();
      });
      this.inFlight.add(running);
    }
    this.o.observer?.queueDepth(this.queue.size);
  }

  private async send(notification: Notification): Promise<void> {
    const fields = describeRef(notification);
    const signal = this.abort.signal;
    const { operator } = this.o.config;
    let result: DeliveryResult;
    try {
      result = await deliver({
        load: () => this.load(notification),
        post: (body) =>
          postJson(body, {
            url: this.url,
            headers: operator.webhookBroadcastCustomHeaders,
            timeoutMs: operator.webhookBroadcastTimeoutMs,
            signal,
          }),
        sleep: (ms) => sleep(ms, undefined, { signal }).catch(() => {}),
        now: Date.now,
        random: Math.random,
        policy: this.policy,
        signal,
        onAttempt: (attempt, ms) => this.o.observer?.attempt(attemptOutcome(attempt), ms),
        onRetry: (retry, delayMs, cause) => {
          this.o.observer?.retried();
          this.log.debug(
            { ...fields, retry: retry + 1, retryInMs: delayMs, cause: describeAttempt(cause) },
            'webhook request failed; retrying',
          );
        },
      });
    } catch (err) {
      // deliver() does not throw by design; this guards the queue against a bug taking a slot forever.
      this.log.error({ ...fields, err }, 'webhook delivery failed unexpectedly');
      return;
    }
    switch (result.outcome) {
      case 'delivered':
        this.o.observer?.sent(notification.verb);
        this.log.debug({ ...fields, status: result.status, attempts: result.attempts }, 'webhook sent');
        return;
      case 'skipped':
        this.log.debug({ ...fields, reason: result.reason }, 'webhook notification not sent');
        return;
      case 'failed':
        this.o.observer?.failed(result.reason);
        this.log.warn(
          {
            ...fields,
            reason: result.reason,
            attempts: result.attempts,
            ...(result.status === undefined ? {} : { status: result.status }),
            ...(result.error === undefined ? {} : { error: result.error }),
          },
          'webhook notification failed; giving up on it',
        );
        return;
      case 'aborted':
        this.o.observer?.dropped(WebhookDropReason.stopped);
        return;
    }
  }

  /** The body, reading the report now: the newest content is sent, and nothing big waits in the queue. */
  private async load(notification: Notification): Promise<LoadResult> {
    if (notification.verb === WebhookVerb.delete) {
      return { body: webhookBody(notification.deleted ?? {}, WebhookVerb.delete, true) };
    }
    if (notification.body !== undefined) return { body: notification.body };
    let obj: KubernetesObject;
    try {
      obj = await kubeRequestJson<KubernetesObject>(this.o.kc, {
        path: reportObjectPath(notification.ref.kind, notification.ref.namespace, notification.ref.name),
        signal: this.abort.signal,
      });
    } catch (err) {
      if (isNotFound(err)) return { skip: 'report deleted before it was sent' };
      throw new Error(`reading the report: ${apiErrorMessage(err)}`);
    }
    if (isHistorical(obj)) return { skip: 'historical report (TTL 0s)' };
    if (isTerminating(obj)) return { skip: 'report being deleted' };
    return { body: webhookBody(obj, WebhookVerb.update, this.sendDeleted) };
  }
}

function describeRef(notification: Notification): Record<string, string> {
  const ref: ReportRef = notification.ref;
  return {
    kind: ref.kind,
    ...(ref.namespace ? { namespace: ref.namespace } : {}),
    name: ref.name,
    verb: notification.verb,
  };
}

function attemptOutcome(result: AttemptResult): WebhookAttemptOutcome {
  if (result.kind === 'timeout') return WebhookAttemptOutcome.timeout;
  if (result.kind === 'network') return WebhookAttemptOutcome.network;
  return result.status >= 200 && result.status < 300
    ? WebhookAttemptOutcome.success
    : WebhookAttemptOutcome.httpError;
}

function describeAttempt(cause: AttemptResult | 'report_read'): string {
  if (cause === 'report_read') return 'report could not be read';
  if (cause.kind === 'status') return `HTTP ${cause.status}`;
  return cause.kind === 'timeout' ? 'timeout' : cause.error;
}

/**
 * Creates and starts the broadcaster when a webhook URL is configured, and waits (bounded) for
 * its baseline so that reports written right after are seen as new. Never blocks longer than
 * `syncTimeoutMs`: a missing report CRD must not keep the scanner from starting.
 */
export async function startWebhookBroadcaster(
  options: WebhookBroadcasterOptions,
  syncTimeoutMs = 30_000,
): Promise<WebhookBroadcaster | undefined> {
  if (!options.config.operator.webhookBroadcastURL) return undefined;
  const broadcaster = new WebhookBroadcaster(options);
  broadcaster.start();
  if (await broadcaster.waitForSync(syncTimeoutMs)) {
    options.log.info({ reports: broadcaster.reportCount }, 'webhook baseline taken; broadcasting changes');
  } else {
    options.log.warn(
      { waitedMs: syncTimeoutMs },
      'webhook report watches not synced yet; starting anyway (reports written meanwhile may not be sent)',
    );
  }
  return broadcaster;
}
