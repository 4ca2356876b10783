/**
 * Delivering one notification: build the body (reading the report once), POST it, retry what may
 * pass later. Every side effect is a parameter, so the policy is tested with a fake clock.
 */
import { WebhookFailureReason } from '../metrics/index.ts';
import { classifyAttempt, retryDelay, type AttemptResult, type RetryPolicy } from './retry.ts';

/** The body to send, or why there is nothing to send (the report is gone, or historical). */
export type LoadResult = { readonly body: string } | { readonly skip: string };

export interface DeliveryDeps {
  /** Builds the body; throws when the report cannot be read now (retried like a failed request). */
  load(): Promise<LoadResult>;
  /** One HTTP attempt, bounded by its own timeout; never throws. */
  post(body: string): Promise<AttemptResult>;
  /** Waits; resolves early once `signal` is aborted. */
  sleep(ms: number): Promise<void>;
  now(): number;
  random(): number;
  readonly policy: RetryPolicy;
  /** Aborted when the broadcaster stops: no further attempt or wait. */
  readonly signal: AbortSignal;
  onAttempt?(result: AttemptResult, durationMs: number): void;
  onRetry?(retry: number, delayMs: number, cause: AttemptResult | 'report_read'): void;
}

export type DeliveryResult =
  | { readonly outcome: 'delivered'; readonly attempts: number; readonly status: number }
  | { readonly outcome: 'skipped'; readonly reason: string }
  | {
      readonly outcome: 'failed';
      readonly reason: WebhookFailureReason;
      readonly attempts: number;
      /** HTTP status of the last answer, if there was one. */
      readonly status?: number;
      readonly error?: string;
    }
  | { readonly outcome: 'aborted' };

function failureReason(result: AttemptResult): WebhookFailureReason {
  if (result.kind === 'timeout') return WebhookFailureReason.timeout;
  if (result.kind === 'network') return WebhookFailureReason.network;
  return WebhookFailureReason.httpError;
}

export async function deliver(deps: DeliveryDeps): Promise<DeliveryResult> {
  const { policy, signal } = deps;
  let body: string | undefined;
  let attempts = 0;
  for (let retry = 0; ; retry++) {
    if (signal.aborted) return { outcome: 'aborted' };
    if (body === undefined) {
      try {
        const loaded = await deps.load();
        if ('skip' in loaded) return { outcome: 'skipped', reason: loaded.skip };
        body = loaded.body;
      } catch (err) {
        if (signal.aborted) return { outcome: 'aborted' };
        const error = err instanceof Error ? err.message : String(err);
        if (retry >= policy.maxRetries) {
          return { outcome: 'failed', reason: WebhookFailureReason.reportRead, attempts, error };
        }
        const delay = retryDelay(retry, { kind: 'network', error }, policy, deps.now(), deps.random);
        deps.onRetry?.(retry, delay, 'report_read');
        await deps.sleep(delay);
        continue;
      }
    }

    const started = deps.now();
    const result = await deps.post(body);
    attempts += 1;
    if (signal.aborted) return { outcome: 'aborted' };
    deps.onAttempt?.(result, deps.now() - started);
    const verdict = classifyAttempt(result);
    const status = result.kind === 'status' ? result.status : undefined;
    if (verdict === 'delivered') return { outcome: 'delivered', attempts, status: status ?? 0 };
    if (verdict === 'rejected') {
      return { outcome: 'failed', reason: WebhookFailureReason.rejected, attempts, status };
    }
    if (retry >= policy.maxRetries) {
      return {
        outcome: 'failed',
        reason: failureReason(result),
        attempts,
        ...(status === undefined ? {} : { status }),
        ...(result.kind === 'network' ? { error: result.error } : {}),
      };
    }
    const delay = retryDelay(retry, result, policy, deps.now(), deps.random);
    deps.onRetry?.(retry, delay, result);
    await deps.sleep(delay);
  }
}
