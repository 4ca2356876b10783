import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  NotificationQueue,
  refKey,
  type Notification,
  type ReportRef,
} from '../../../src/notifications/index.ts';

const ref = (name: string): ReportRef => ({ kind: 'VulnerabilityReport', namespace: 'shop', name });
const update = (name: string): Notification => ({ key: refKey(ref(name)), ref: ref(name), verb: 'update' });
const remove = (name: string): Notification => ({
  key: refKey(ref(name)),
  ref: ref(name),
  verb: 'delete',
  deleted: { metadata: { name, namespace: 'shop' } },
});
const idle = () => false;
const names = (queue: NotificationQueue) => {
  const out: string[] = [];
  for (let item = queue.take(idle); item; item = queue.take(idle)) out.push(`${item.verb}:${item.ref.name}`);
  return out;
};

describe('NotificationQueue', () => {
  it('hands notifications out oldest first', () => {
    const queue = new NotificationQueue(10);
    for (const name of ['a', 'b', 'c']) queue.push(update(name));
    assert.equal(queue.size, 3);
    assert.deepEqual(names(queue), ['update:a', 'update:b', 'update:c']);
    assert.equal(queue.size, 0);
  });

  it('keeps one waiting update per report: the report is read when sent, so a second adds nothing', () => {
    const queue = new NotificationQueue(10);
    assert.deepEqual(queue.push(update('a')), { added: true });
    queue.push(update('b'));
    assert.deepEqual(queue.push(update('a')), { added: false });
    assert.deepEqual(names(queue), ['update:a', 'update:b']);
    // Once taken (being sent), a new change of the same report queues again.
    queue.push(update('a'));
    const taken = queue.take(idle);
    assert.equal(taken?.ref.name, 'a');
    assert.deepEqual(queue.push(update('a')), { added: true });
    assert.equal(queue.size, 1);
  });

  it('replaces a waiting update by the deletion of the same report, and queues a re-creation after it', () => {
    const queue = new NotificationQueue(10);
    queue.push(update('a'));
    queue.push(update('b'));
    queue.push(remove('a'));
    queue.push(update('a'));
    assert.deepEqual(names(queue), ['update:b', 'delete:a', 'update:a']);
  });

  it('drops the oldest when full and says which', () => {
    const queue = new NotificationQueue(2);
    queue.push(update('a'));
    queue.push(update('b'));
    const result = queue.push(update('c'));
    assert.equal(result.added, true);
    assert.equal(result.dropped?.ref.name, 'a');
    assert.equal(queue.size, 2);
    // The dropped update no longer counts as waiting: a new change of `a` is queued (dropping `b`).
    assert.equal(queue.push(update('a')).dropped?.ref.name, 'b');
    assert.deepEqual(names(queue), ['update:c', 'update:a']);
  });

  it('never hands out a report that is being sent, and skips to the next one', () => {
    const queue = new NotificationQueue(10);
    queue.push(update('a'));
    queue.push(remove('b'));
    queue.push(update('c'));
    const busy = new Set([refKey(ref('a')), refKey(ref('b'))]);
    assert.equal(queue.take((key) => busy.has(key))?.ref.name, 'c');
    assert.equal(
      queue.take((key) => busy.has(key)),
      undefined,
    );
    busy.clear();
    assert.deepEqual(names(queue), ['update:a', 'delete:b']);
  });

  it('clear() returns everything waiting', () => {
    const queue = new NotificationQueue(10);
    queue.push(update('a'));
    queue.push(remove('b'));
    assert.deepEqual(
      queue.clear().map((n) => n.ref.name),
      ['a', 'b'],
    );
    assert.equal(queue.size, 0);
    assert.deepEqual(queue.push(update('a')), { added: true });
  });

  it('refuses a capacity below one', () => {
    assert.throws(() => new NotificationQueue(0), RangeError);
  });
});
