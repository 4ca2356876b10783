import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  deliver,
  DEFAULT_RETRY_POLICY,
  type AttemptResult,
  type DeliveryDeps,
  type LoadResult,
} from '../../../src/notifications/index.ts';

/**
 * A fake world: a clock that only moves when deliver() sleeps, a receiver that answers from a
 * script, and a record of every request, wait and retry.
 */
function world(options: {
  answers: AttemptResult[];
  load?: () => Promise<LoadResult>;
  maxRetries?: number;
  abortAfterPosts?: number;
}) {
  let clock = 1_000_000;
  const posted: string[] = [];
  const waits: number[] = [];
  const attempts: { kind: string; ms: number }[] = [];
  const retries: string[] = [];
  const abort = new AbortController();
  const deps: DeliveryDeps = {
    load: options.load ?? (async () => ({ body: '{"kind":"VulnerabilityReport"}' })),
    async post(body) {
      posted.push(body);
      clock += 40; // every request takes 40 ms of fake time
      if (options.abortAfterPosts !== undefined && posted.length >= options.abortAfterPosts) abort.abort();
      return options.answers[posted.length - 1] ?? { kind: 'network', error: 'no more answers' };
    },
    async sleep(ms) {
      waits.push(ms);
      clock += ms;
    },
    now: () => clock,
    random: () => 1, // upper bound of the jitter: deterministic
    policy: { ...DEFAULT_RETRY_POLICY, maxRetries: options.maxRetries ?? 4 },
    signal: abort.signal,
    onAttempt: (result, ms) =>
      attempts.push({ kind: result.kind === 'status' ? `${result.status}` : result.kind, ms }),
    onRetry: (retry, delayMs, cause) =>
      retries.push(`${retry}:${delayMs}:${cause === 'report_read' ? cause : cause.kind}`),
  };
  return { deps, posted, waits, attempts, retries };
}

const ok: AttemptResult = { kind: 'status', status: 200 };
const serverError: AttemptResult = { kind: 'status', status: 500 };

describe('deliver', () => {
  it('sends once when the receiver accepts', async () => {
    const w = world({ answers: [ok] });
    assert.deepEqual(await deliver(w.deps), { outcome: 'delivered', attempts: 1, status: 200 });
    assert.deepEqual(w.posted, ['{"kind":"VulnerabilityReport"}']);
    assert.deepEqual(w.waits, []);
    assert.deepEqual(w.attempts, [{ kind: '200', ms: 40 }]);
  });

  it('retries 500, 500, then delivers: three requests with growing waits, the body read once', async () => {
    let loads = 0;
    const w = world({
      answers: [serverError, serverError, ok],
      load: async () => ({ body: `body-${++loads}` }),
    });
    assert.deepEqual(await deliver(w.deps), { outcome: 'delivered', attempts: 3, status: 200 });
    assert.equal(loads, 1);
    assert.deepEqual(w.posted, ['body-1', 'body-1', 'body-1']);
    assert.deepEqual(w.waits, [1_000, 2_000]);
    assert.deepEqual(w.retries, ['0:1000:status', '1:2000:status']);
  });

  it('gives up after the last retry and names the last failure', async () => {
    const timeouts = world({ answers: Array(5).fill({ kind: 'timeout' }) });
    assert.deepEqual(await deliver(timeouts.deps), { outcome: 'failed', reason: 'timeout', attempts: 5 });
    assert.deepEqual(timeouts.waits, [1_000, 2_000, 4_000, 8_000]);

    const refused = world({
      answers: Array(5).fill({ kind: 'network', error: 'ECONNREFUSED' }),
      maxRetries: 2,
    });
    assert.deepEqual(await deliver(refused.deps), {
      outcome: 'failed',
      reason: 'network',
      attempts: 3,
      error: 'ECONNREFUSED',
    });

    const overloaded = world({ answers: Array(5).fill({ kind: 'status', status: 503 }), maxRetries: 1 });
    assert.deepEqual(await deliver(overloaded.deps), {
      outcome: 'failed',
      reason: 'http_error',
      attempts: 2,
      status: 503,
    });
  });

  it('does not retry a 4xx other than 429', async () => {
    const w = world({ answers: [{ kind: 'status', status: 401 }, ok] });
    assert.deepEqual(await deliver(w.deps), {
      outcome: 'failed',
      reason: 'rejected',
      attempts: 1,
      status: 401,
    });
    assert.equal(w.posted.length, 1);
    assert.deepEqual(w.waits, []);
  });

  it("waits what a 429's Retry-After asks, then delivers", async () => {
    const w = world({ answers: [{ kind: 'status', status: 429, retryAfter: '12' }, ok] });
    assert.equal((await deliver(w.deps)).outcome, 'delivered');
    assert.deepEqual(w.waits, [12_000]);
  });

  it('with zero retries makes exactly one request', async () => {
    const w = world({ answers: [serverError, ok], maxRetries: 0 });
    assert.equal((await deliver(w.deps)).outcome, 'failed');
    assert.equal(w.posted.length, 1);
  });

  it('skips without a request when there is nothing to send (report gone)', async () => {
    const w = world({ answers: [ok], load: async () => ({ skip: 'report deleted' }) });
    assert.deepEqual(await deliver(w.deps), { outcome: 'skipped', reason: 'report deleted' });
    assert.deepEqual(w.posted, []);
  });

  it('retries reading the report, and counts a report it never could read as report_read', async () => {
    let loads = 0;
    const flaky = world({
      answers: [ok],
      load: async () => {
        if (++loads < 3) throw new Error('etcdserver: request timed out');
        return { body: 'late' };
      },
    });
    assert.deepEqual(await deliver(flaky.deps), { outcome: 'delivered', attempts: 1, status: 200 });
    assert.deepEqual(flaky.retries, ['0:1000:report_read', '1:2000:report_read']);
    assert.deepEqual(flaky.posted, ['late']);

    const broken = world({
      answers: [ok],
      maxRetries: 1,
      load: async () => {
        throw new Error('forbidden');
      },
    });
    assert.deepEqual(await deliver(broken.deps), {
      outcome: 'failed',
      reason: 'report_read',
      attempts: 0,
      error: 'forbidden',
    });
    assert.deepEqual(broken.posted, []);
  });

  it('stops at once when aborted, without further requests', async () => {
    const w = world({ answers: [serverError, serverError, ok], abortAfterPosts: 1 });
    assert.deepEqual(await deliver(w.deps), { outcome: 'aborted' });
    assert.equal(w.posted.length, 1);
    assert.deepEqual(w.waits, []);
  });
});
