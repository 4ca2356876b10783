import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { backoffDelay } from '../../../src/kube/index.ts';

describe('backoffDelay', () => {
  const options = { initialMs: 500, maxMs: 30_000 };

  it('grows exponentially up to the cap (upper bound with random = 1)', () => {
    const delays = [0, 1, 2, 3, 10, 50].map((attempt) => backoffDelay(attempt, options, () => 1));
    assert.deepEqual(delays, [500, 1000, 2000, 4000, 30_000, 30_000]);
  });

  it('never goes below half the initial delay (lower bound with random = 0)', () => {
    assert.equal(
      backoffDelay(7, options, () => 0),
      250,
    );
  });
});
