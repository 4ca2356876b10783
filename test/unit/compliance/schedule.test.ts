import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dueAt, isDue, isValidCron, nextCronTime } from '../../../src/compliance/index.ts';

const at = (iso: string) => new Date(iso);

describe('nextCronTime (UTC)', () => {
  it('finds the next match strictly after the given time', () => {
    const every6h = '0 */6 * * *';
    assert.deepEqual(nextCronTime(every6h, at('2025-03-10T05:59:59Z')), at('2025-03-10T06:00:00Z'));
    assert.deepEqual(nextCronTime(every6h, at('2025-03-10T06:00:00Z')), at('2025-03-10T12:00:00Z'));
    assert.deepEqual(nextCronTime(every6h, at('2025-03-10T18:00:01Z')), at('2025-03-11T00:00:00Z'));
    assert.deepEqual(nextCronTime('* * * * *', at('2025-03-10T06:00:30.5Z')), at('2025-03-10T06:01:00Z'));
  });

  it('handles months, days of the week and year ends', () => {
    // 1 Jan 2025 is a Wednesday.
    assert.deepEqual(nextCronTime('30 2 * * sun', at('2025-01-01T00:00:00Z')), at('2025-01-05T02:30:00Z'));
    assert.deepEqual(nextCronTime('0 0 1 jan *', at('2025-06-01T00:00:00Z')), at('2026-01-01T00:00:00Z'));
    assert.deepEqual(nextCronTime('0 0 29 2 *', at('2025-03-01T00:00:00Z')), at('2028-02-29T00:00:00Z'));
    assert.deepEqual(nextCronTime('15 * * * 7', at('2025-01-04T23:50:00Z')), at('2025-01-05T00:15:00Z'));
  });

  it('rejects what node-cron rejects, and never-matching expressions', () => {
    assert.equal(isValidCron('0 */6 * * *'), true);
    assert.equal(isValidCron('every six hours'), false);
    assert.equal(nextCronTime('every six hours', at('2025-01-01T00:00:00Z')), undefined);
    assert.equal(nextCronTime('0 0 31 2 *', at('2025-01-01T00:00:00Z')), undefined);
  });
});

describe('when a report is due (injected clock)', () => {
  const cron = '0 */6 * * *';

  it('counts from creation until the first run, then from the last update', () => {
    const created = { cron, createdAt: at('2025-03-10T07:15:00Z') };
    assert.deepEqual(dueAt(created), at('2025-03-10T12:00:00Z'));
    assert.equal(isDue(created, at('2025-03-10T11:59:59Z')), false);
    assert.equal(isDue(created, at('2025-03-10T12:00:00Z')), true);

    const ran = { ...created, updatedAt: at('2025-03-10T12:00:01Z') };
    assert.deepEqual(dueAt(ran), at('2025-03-10T18:00:00Z'));
    assert.equal(isDue(ran, at('2025-03-10T12:30:00Z')), false);
    assert.equal(isDue(ran, at('2025-03-10T18:00:00Z')), true);
  });

  it('uses the creation time when it is later than the last update (a re-created report)', () => {
    const entry = { cron, createdAt: at('2025-03-10T13:00:00Z'), updatedAt: at('2025-03-01T00:00:00Z') };
    assert.deepEqual(dueAt(entry), at('2025-03-10T18:00:00Z'));
  });

  it('catches up once after downtime: a missed run is due at once, not once per missed tick', () => {
    const entry = { cron, createdAt: at('2025-03-01T00:00:00Z'), updatedAt: at('2025-03-02T06:00:00Z') };
    assert.equal(isDue(entry, at('2025-03-09T09:00:00Z')), true);
    const afterCatchUp = { ...entry, updatedAt: at('2025-03-09T09:00:05Z') };
    assert.equal(isDue(afterCatchUp, at('2025-03-09T09:00:06Z')), false);
  });

  it('follows a changed schedule at once', () => {
    const entry = { cron, createdAt: at('2025-03-10T00:00:00Z'), updatedAt: at('2025-03-10T12:00:00Z') };
    assert.equal(isDue(entry, at('2025-03-10T12:30:00Z')), false);
    assert.equal(isDue({ ...entry, cron: '*/10 * * * *' }, at('2025-03-10T12:30:00Z')), true);
  });
});
