import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  evaluate,
  fitStatus,
  type FailedCheck,
  type NotedDetailReport,
} from '../../../src/compliance/index.ts';
import { testSpec } from './support.ts';

const size = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** `count` failures of each automated control, with long messages, as a big cluster would have. */
function manyFailures(count: number): FailedCheck[] {
  const checks: FailedCheck[] = [];
  for (let i = 0; i < count; i++) {
    for (const checkID of ['KSV017', 'KSV014', 'KSV041']) {
      checks.push({
        checkID,
        target: `namespace-${i % 50}/replicaset-workload-${i}`,
        severity: 'HIGH',
        title: 'A check title',
        description: 'x'.repeat(300),
        messages: [`Container 'c-${i}' fails ${checkID}: ${'y'.repeat(200)}`],
      });
    }
  }
  return checks;
}

describe('fitStatus', () => {
  it('leaves a status that fits alone', () => {
    const evaluation = evaluate(testSpec('all'), manyFailures(3), { failEntriesLimit: 10 });
    const fitted = fitStatus(evaluation, '2025-01-01T06:00:00Z', 1_000_000, 10);
    assert.equal(fitted.note, null);
    assert.equal(fitted.cutForSize, false);
    assert.equal(fitted.status.detailReport?.results?.[0]?.checks.length, 3);
  });

  it('notes the entries left out by failEntriesLimit', () => {
    const evaluation = evaluate(testSpec('all'), manyFailures(25), { failEntriesLimit: 10 });
    const fitted = fitStatus(evaluation, '2025-01-01T06:00:00Z', 1_000_000, 10);
    assert.equal(fitted.cutForSize, false);
    assert.equal(
      fitted.note,
      'listed 30 of 75 failed results: at most 10 per control (compliance.failEntriesLimit)',
    );
    assert.equal((fitted.status.detailReport as NotedDetailReport).note, fitted.note);
  });

  it('cuts the listed entries evenly to fit, keeping summary and per-control counts whole', () => {
    const evaluation = evaluate(testSpec('all'), manyFailures(400), { failEntriesLimit: 1000 });
    const whole = fitStatus(evaluation, '2025-01-01T06:00:00Z', 100_000_000, 1000);
    const limit = 60_000;
    assert.ok(size(whole.status) > limit, 'the input is over the limit');

    const fitted = fitStatus(evaluation, '2025-01-01T06:00:00Z', limit, 1000);
    assert.ok(size(fitted.status) <= limit, `${size(fitted.status)} bytes fit in ${limit}`);
    assert.equal(fitted.cutForSize, true);
    assert.deepEqual(fitted.status.summary, whole.status.summary);
    assert.deepEqual(fitted.status.summaryReport, whole.status.summaryReport);
    const lengths = (fitted.status.detailReport?.results ?? []).map((r) => r.checks.length);
    const cap = Math.max(...lengths);
    assert.ok(cap > 0 && cap < 400, `cap ${cap}`);
    // Failing controls are all cut to the same number; passing/manual ones are untouched.
    assert.deepEqual(lengths, [cap, cap, cap, 0]);
    assert.match(
      fitted.note ?? '',
      new RegExp(
        `^listed ${cap * 3} of 1200 failed results: .*; cut to ${cap} per control to fit etcd's limit$`,
      ),
    );
    // The cap is the largest that fits: one more entry per control would not.
    const oneMore = evaluate(testSpec('all'), manyFailures(400), { failEntriesLimit: cap + 1 });
    assert.ok(size(fitStatus(oneMore, '2025-01-01T06:00:00Z', 100_000_000, cap + 1).status) > limit - 1024);
  });

  it('drops the per-control detail when not even that fits, and still writes the counts', () => {
    const evaluation = evaluate(testSpec('all'), manyFailures(10), { failEntriesLimit: 10 });
    const fitted = fitStatus(evaluation, '2025-01-01T06:00:00Z', 1_500, 10);
    assert.equal(fitted.cutForSize, true);
    assert.equal(fitted.status.detailReport?.results, undefined);
    assert.deepEqual(fitted.status.summary, { passCount: 0, failCount: 3 });
    assert.match(fitted.note ?? '', /^listed none of 30 failed results/);
  });

  it('never cuts a summary report', () => {
    const evaluation = evaluate(testSpec('summary'), manyFailures(400), { failEntriesLimit: 10 });
    const fitted = fitStatus(evaluation, '2025-01-01T06:00:00Z', 10, 10);
    assert.equal(fitted.note, null);
    assert.equal(fitted.status.summaryReport?.controlCheck?.[0]?.totalFail, 400);
  });
});
