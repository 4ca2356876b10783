import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  classifyAttempt,
  DEFAULT_RETRY_POLICY,
  parseRetryAfter,
  retryDelay,
  type AttemptResult,
} from '../../../src/notifications/index.ts';

const status = (code: number, retryAfter?: string): AttemptResult => ({
  kind: 'status',
  status: code,
  ...(retryAfter === undefined ? {} : { retryAfter }),
});

describe('classifyAttempt', () => {
  it('delivers on 2xx', () => {
    for (const code of [200, 201, 202, 204]) assert.equal(classifyAttempt(status(code)), 'delivered');
  });

  it('retries network errors, timeouts, 5xx and 429', () => {
    assert.equal(classifyAttempt({ kind: 'network', error: 'ECONNREFUSED' }), 'retry');
    assert.equal(classifyAttempt({ kind: 'timeout' }), 'retry');
    for (const code of [500, 502, 503, 504, 429])
      assert.equal(classifyAttempt(status(code)), 'retry', `${code}`);
  });

  it('does not retry other 4xx, nor redirects (which are not followed)', () => {
    for (const code of [400, 401, 403, 404, 413, 422, 301, 302, 307]) {
      assert.equal(classifyAttempt(status(code)), 'rejected', `${code}`);
    }
  });
});

describe('parseRetryAfter', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');

  it('reads delta-seconds', () => {
    assert.equal(parseRetryAfter('120', now), 120_000);
    assert.equal(parseRetryAfter(' 0 ', now), 0);
  });

  it('reads an HTTP date, never negative', () => {
    assert.equal(parseRetryAfter('Wed, 01 Jan 2025 00:00:30 GMT', now), 30_000);
    assert.equal(parseRetryAfter('Tue, 31 Dec 2024 23:00:00 GMT', now), 0);
  });

  it('ignores what it cannot read', () => {
    for (const value of [null, undefined, '', 'soon', '-5', '1.5']) {
      assert.equal(parseRetryAfter(value, now), undefined, String(value));
    }
  });
});

describe('retryDelay', () => {
  const policy = {
    ...DEFAULT_RETRY_POLICY,
    initialDelayMs: 1_000,
    maxDelayMs: 8_000,
    maxRetryAfterMs: 60_000,
  };
  const now = 0;

  it('backs off exponentially with jitter up to the cap', () => {
    const upper = [0, 1, 2, 3, 4, 10].map((retry) =>
      retryDelay(retry, { kind: 'timeout' }, policy, now, () => 1),
    );
    assert.deepEqual(upper, [1_000, 2_000, 4_000, 8_000, 8_000, 8_000]);
    const lower = [0, 3].map((retry) => retryDelay(retry, { kind: 'timeout' }, policy, now, () => 0));
    assert.deepEqual(lower, [500, 500]);
  });

  it("obeys the receiver's Retry-After on 429 and 503, up to the limit", () => {
    assert.equal(
      retryDelay(0, status(429, '7'), policy, now, () => 0),
      7_000,
    );
    assert.equal(
      retryDelay(3, status(503, '2'), policy, now, () => 1),
      2_000,
    );
    assert.equal(
      retryDelay(0, status(429, '3600'), policy, now, () => 0),
      60_000,
    );
  });

  it('falls back to the backoff when Retry-After is absent or unreadable', () => {
    assert.equal(
      retryDelay(1, status(503), policy, now, () => 1),
      2_000,
    );
    assert.equal(
      retryDelay(1, status(503, 'later'), policy, now, () => 1),
      2_000,
    );
  });
});
