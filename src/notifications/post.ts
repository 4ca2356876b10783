/** One webhook HTTP request (Node's fetch), bounded by a timeout, reporting how it ended. */
import type { AttemptResult } from './retry.ts';

export interface PostOptions {
  readonly url: string;
  /** Custom headers first; Content-Type is always JSON. */
  readonly headers: Readonly<Record<string, string>>;
  readonly timeoutMs: number;
  /** Aborts the request when the broadcaster stops. */
  readonly signal: AbortSignal;
}

export async function postJson(body: string, options: PostOptions): Promise<AttemptResult> {
  const timeout = AbortSignal.timeout(options.timeoutMs);
  try {
    const res = await fetch(options.url, {
      method: 'POST',
      headers: { ...options.headers, 'content-type': 'application/json' },
      body,
      // A redirected POST would silently turn into a GET (301/302); report it instead.
      redirect: 'manual',
      signal: AbortSignal.any([options.signal, timeout]),
    });
    // The answer's body is not needed; discarding it frees the connection for the next request.
    await res.body?.cancel().catch(() => {});
    return { kind: 'status', status: res.status, retryAfter: res.headers.get('retry-after') };
  } catch (err) {
    if (timeout.aborted && !options.signal.aborted) return { kind: 'timeout' };
    return { kind: 'network', error: describe(err) };
  }
}

/** The cause, not the URL: fetch errors are "fetch failed" with the reason in `cause`. */
function describe(err: unknown): string {
  const cause = (err as { cause?: { code?: unknown; message?: unknown } } | undefined)?.cause;
  if (typeof cause?.code === 'string') return cause.code;
  if (typeof cause?.message === 'string') return cause.message;
  return err instanceof Error ? err.name : 'request failed';
}
