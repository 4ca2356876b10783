import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ScanPlan, type ContainerRef } from '../../../src/scanning/plan.ts';

const c = (workload: string, container: string): ContainerRef => ({ workload, container });

const HOUR = 3_600_000;

function plan(ttlMs: number | null = 24 * HOUR) {
  let now = 1_000_000;
  // Jitter pinned to its ceiling: the delays are the plain doubling.
  const p = new ScanPlan(
    { ttlMs, retryDelayMs: 30_000, maxRetryDelayMs: 3_600_000, random: () => 1 },
    () => now,
  );
  return { p, advance: (ms: number) => (now += ms), now: () => now };
}

describe('ScanPlan', () => {
  it('tells when an image is forgotten: once nothing runs it and no scan of it is under way', () => {
    const forgotten: string[] = [];
    const p = new ScanPlan(
      { ttlMs: HOUR, retryDelayMs: 30_000, maxRetryDelayMs: HOUR, onForget: (key) => forgotten.push(key) },
      () => 0,
    );
    p.setConsumer(c('a', 'c'), 'img', 'ref');
    p.setConsumer(c('b', 'c'), 'img', 'ref');
    p.takeDue(1);
    p.markRunning('img');
    p.removeConsumer(c('a', 'c'));
    p.removeConsumer(c('b', 'c'));
    assert.deepEqual(forgotten, [], 'kept while its scan runs');
    p.recordSuccess('img');
    assert.deepEqual(forgotten, ['img']);
  });

  it('scans an image once however many containers run it', () => {
    const { p } = plan();
    for (let i = 0; i < 50; i++)
      p.setConsumer(c(`ns/ReplicaSet/app-${i}`, 'web'), `img-${i % 3}`, `ref-${i % 3}`);
    const due = p.takeDue(10);
    assert.deepEqual(due.map((e) => e.key).sort(), ['img-0', 'img-1', 'img-2']);
    assert.equal(p.get('img-0')?.consumers.size, 17);
    assert.deepEqual(p.takeDue(10), [], 'queued images are not handed out twice');
  });

  it('respects the number of free slots and reports the rest as waiting', () => {
    const { p } = plan();
    for (let i = 0; i < 5; i++) p.setConsumer(c(`w${i}`, 'c'), `img-${i}`, `ref-${i}`);
    assert.equal(p.takeDue(2).length, 2);
    assert.equal(p.waitingCount(), 3);
  });

  it('re-scans when the TTL has passed, not before', () => {
    const { p, advance } = plan();
    p.setConsumer(c('w', 'c'), 'img', 'ref');
    p.takeDue(1);
    p.markRunning('img');
    p.recordSuccess('img');
    advance(23 * HOUR);
    assert.deepEqual(p.takeDue(1), []);
    advance(HOUR);
    assert.deepEqual(
      p.takeDue(1).map((e) => e.key),
      ['img'],
    );
  });

  it('never re-scans with a null TTL unless invalidated (a deleted report)', () => {
    const { p, advance } = plan(null);
    p.setConsumer(c('w', 'c'), 'img', 'ref');
    p.recordSuccess('img');
    advance(1000 * HOUR);
    assert.deepEqual(p.takeDue(1), []);
    p.invalidate('img');
    assert.equal(p.takeDue(1).length, 1);
  });

  it('backs off exponentially after failures, capped, and resets on success', () => {
    const { p, advance } = plan();
    p.setConsumer(c('w', 'c'), 'img', 'ref');
    const delays = [1, 2, 3, 4, 10].map(() => {
      p.takeDue(1);
      return p.recordFailure('img', 'RegistryAuth');
    });
    assert.deepEqual(delays, [30_000, 60_000, 120_000, 240_000, 480_000]);
    assert.deepEqual(p.takeDue(1), [], 'still backing off');
    assert.equal(p.nextWakeAt(), p.get('img')!.nextAttemptAt);
    advance(480_000);
    assert.equal(p.takeDue(1).length, 1);
    p.recordSuccess('img');
    assert.equal(p.get('img')?.failures, 0);
  });

  it('reports the previous image when a container changes image, and forgets unused images', () => {
    const { p } = plan();
    p.setConsumer(c('w', 'c'), 'old', 'old-ref');
    assert.deepEqual(p.setConsumer(c('w', 'c'), 'old', 'old-ref'), { previousKey: undefined });
    assert.deepEqual(p.setConsumer(c('w', 'c'), 'new', 'new-ref'), { previousKey: 'old' });
    assert.equal(p.get('old'), undefined);
    p.removeConsumer(c('w', 'c'));
    assert.equal(p.size, 0);
  });

  it('keeps an image that is mid-scan until the scan ends, then drops it if unused', () => {
    const { p } = plan();
    p.setConsumer(c('w', 'c'), 'img', 'ref');
    p.takeDue(1);
    p.markRunning('img');
    p.removeConsumer(c('w', 'c'));
    assert.ok(p.get('img'), 'the running scan still has an entry to report to');
    p.recordSuccess('img');
    assert.equal(p.get('img'), undefined);
  });

  it('holds back a new image until its notBefore time (digest discovery grace)', () => {
    const { p, advance, now } = plan();
    p.setConsumer(c('cronjob', 'c'), 'nginx:1.27', 'nginx:1.27', { notBefore: now() + 15_000 });
    assert.deepEqual(p.takeDue(1), []);
    assert.equal(p.nextWakeAt(), now() + 15_000);
    advance(15_000);
    assert.equal(p.takeDue(1).length, 1);
  });
});
