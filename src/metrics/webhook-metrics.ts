/**
 * Webhook broadcast health, fed by the notifications module: what was delivered, what failed and
 * why, what was dropped, how many notifications wait, and how long each HTTP attempt took. Kept in
 * the operator's prom-client health registry; every label set here is a small closed set.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** Why a notification was given up on (after its retries, where retries apply). */
export const WebhookFailureReason = {
  /** The receiver answered a status that is not retried (4xx other than 429, or a redirect). */
  rejected: 'rejected',
  /** Still 5xx or 429 after the last retry. */
  httpError: 'http_error',
  /** Still no answer within the timeout after the last retry. */
  timeout: 'timeout',
  /** Still unreachable (connection refused, DNS, TLS) after the last retry. */
  network: 'network',
  /** The report could not be read from the API server to build the payload. */
  reportRead: 'report_read',
} as const;
export type WebhookFailureReason = (typeof WebhookFailureReason)[keyof typeof WebhookFailureReason];

/** Why a notification was never attempted to the end. */
export const WebhookDropReason = {
  /** The queue was full; the oldest waiting notification made room. */
  queueFull: 'queue_full',
  /** The broadcaster stopped (shutdown, lost leadership) with the notification unsent. */
  stopped: 'stopped',
} as const;
export type WebhookDropReason = (typeof WebhookDropReason)[keyof typeof WebhookDropReason];

/** How one HTTP attempt ended. */
export const WebhookAttemptOutcome = {
  success: 'success',
  httpError: 'http_error',
  timeout: 'timeout',
  network: 'network',
} as const;
export type WebhookAttemptOutcome = (typeof WebhookAttemptOutcome)[keyof typeof WebhookAttemptOutcome];

export class WebhookMetrics {
  private readonly sentCounter: Counter<'verb'>;
  private readonly failedCounter: Counter<'reason'>;
  private readonly droppedCounter: Counter<'reason'>;
  private readonly retriesCounter: Counter;
  private readonly queueGauge: Gauge;
  private readonly attemptDuration: Histogram<'outcome'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.sentCounter = new Counter({
      name: 'trivy_lookout_webhook_sent_total',
      help: 'Webhook notifications the receiver accepted (2xx), by verb (update, delete, newFindings).',
      labelNames: ['verb'],
      registers,
    });
    this.failedCounter = new Counter({
      name: 'trivy_lookout_webhook_failed_total',
      help: 'Webhook notifications given up on, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.droppedCounter = new Counter({
      name: 'trivy_lookout_webhook_dropped_total',
      help: 'Webhook notifications dropped unsent, by reason (queue_full, stopped).',
      labelNames: ['reason'],
      registers,
    });
    this.retriesCounter = new Counter({
      name: 'trivy_lookout_webhook_retries_total',
      help: 'Webhook requests repeated after a network error, timeout, 5xx or 429.',
      registers,
    });
    this.queueGauge = new Gauge({
      name: 'trivy_lookout_webhook_queue_depth',
      help: 'Webhook notifications waiting to be sent (not counting those being sent).',
      registers,
    });
    this.attemptDuration = new Histogram({
      name: 'trivy_lookout_webhook_request_duration_seconds',
      help: 'Duration of each webhook HTTP request, by outcome.',
      labelNames: ['outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    // Every label value from the start, so rate() and increase() see the first event of each.
    for (const verb of ['update', 'delete', 'newFindings']) this.sentCounter.inc({ verb }, 0);
    for (const reason of Object.values(WebhookFailureReason)) this.failedCounter.inc({ reason }, 0);
    for (const reason of Object.values(WebhookDropReason)) this.droppedCounter.inc({ reason }, 0);
  }

  sent(verb: string): void {
    this.sentCounter.inc({ verb });
  }

  failed(reason: WebhookFailureReason): void {
    this.failedCounter.inc({ reason });
  }

  dropped(reason: WebhookDropReason, count = 1): void {
    if (count > 0) this.droppedCounter.inc({ reason }, count);
  }

  retried(): void {
    this.retriesCounter.inc();
  }

  queueDepth(waiting: number): void {
    this.queueGauge.set(waiting);
  }

  attempt(outcome: WebhookAttemptOutcome, durationMs: number): void {
    this.attemptDuration.observe({ outcome }, Math.max(0, durationMs) / 1000);
  }
}
