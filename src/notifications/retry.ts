/**
 * When to try a webhook request again, and after how long. Pure: the clock and the random source
 * are parameters.
 */
import { backoffDelay } from '../kube/index.ts';

export interface RetryPolicy {
  /** Retries after the first attempt; 0 = one attempt only. */
  readonly maxRetries: number;
  /** Backoff starts around this and doubles per retry (full jitter). */
  readonly initialDelayMs: number;
  readonly maxDelayMs: number;
  /** A receiver's Retry-After is obeyed up to this long. */
  readonly maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 4,
  initialDelayMs: 1_000,
  maxDelayMs: 60_000,
  maxRetryAfterMs: 5 * 60_000,
};

/** How one attempt ended, as far as the retry decision is concerned. */
export type AttemptResult =
  | { readonly kind: 'status'; readonly status: number; readonly retryAfter?: string | null }
  | { readonly kind: 'timeout' }
  | { readonly kind: 'network'; readonly error: string };

export type AttemptVerdict = 'delivered' | 'retry' | 'rejected';

/**
 * 2xx is delivered. Network errors, timeouts, 5xx and 429 may pass, so they are retried; any other
 * status (4xx, and 3xx since redirects are not followed) will not change by repeating the request.
 */
export function classifyAttempt(result: AttemptResult): AttemptVerdict {
  if (result.kind !== 'status') return 'retry';
  const { status } = result;
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 429 || status >= 500) return 'retry';
  return 'rejected';
}

/**
 * Retry-After as milliseconds from `nowMs`: delta-seconds or an HTTP date. Undefined when absent
 * or unreadable (the backoff applies then).
 */
export function parseRetryAfter(value: string | null | undefined, nowMs: number): number | undefined {
  if (value === null || value === undefined) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  const at = Date.parse(text);
  if (Number.isNaN(at) || !/[a-z]/i.test(text)) return undefined;
  return Math.max(0, at - nowMs);
}

/** Wait before retry number `retry` (0-based) after `result`. */
export function retryDelay(
  retry: number,
  result: AttemptResult,
  policy: RetryPolicy,
  nowMs: number,
  random: () => number = Math.random,
): number {
  if (result.kind === 'status') {
    const requested = parseRetryAfter(result.retryAfter, nowMs);
    if (requested !== undefined) return Math.min(requested, policy.maxRetryAfterMs);
  }
  return backoffDelay(retry, { initialMs: policy.initialDelayMs, maxMs: policy.maxDelayMs }, random);
}
