/**
 * Webhook broadcast of report changes (Trivy-Operator's `operator.webhookBroadcast*` settings):
 * start it on the leader with startWebhookBroadcaster, stop it with the scanner.
 */
export {
  startWebhookBroadcaster,
  WebhookBroadcaster,
  type WebhookBroadcasterOptions,
  type WebhookObserver,
} from './broadcaster.ts';
export { contentFingerprint, ReportChanges, type Change, type ChangeDetection } from './changes.ts';
export { deliver, type DeliveryDeps, type DeliveryResult, type LoadResult } from './delivery.ts';
export {
  deletedReportObject,
  isHistorical,
  refKey,
  WEBHOOK_REPORT_KINDS,
  webhookBody,
  WebhookVerb,
  type ReportRef,
  type WebhookReportKind,
} from './payload.ts';
export { NotificationQueue, type Notification, type PushResult } from './queue.ts';
export {
  classifyAttempt,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  retryDelay,
  type AttemptResult,
  type AttemptVerdict,
  type RetryPolicy,
} from './retry.ts';
