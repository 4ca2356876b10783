import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ComponentList, type Component } from '../../../src/lifecycle/index.ts';

const silent = pino({ level: 'silent' });

function recording(names: string[], log: string[], hang?: string): Component[] {
  return names.map((name) => ({
    name,
    start: () => {
      log.push(`start ${name}`);
      // A start that waits for an API server that never answers.
      return name === hang ? new Promise<void>(() => {}) : Promise.resolve();
    },
    stop: async () => {
      log.push(`stop ${name}`);
    },
  }));
}

describe('ComponentList', () => {
  it('starts in order and stops in reverse', async () => {
    const log: string[] = [];
    const list = new ComponentList('test', recording(['informers', 'http', 'scanner'], log), silent);
    assert.equal(list.idleOrSynced(), true, 'nothing started: a replica that does not lead is ready');
    await list.start();
    assert.equal(list.synced(), true);
    await list.stop();
    assert.deepEqual(log, [
      'start informers',
      'start http',
      'start scanner',
      'stop scanner',
      'stop http',
      'stop informers',
    ]);
  });

  it('a stop while a start hangs stops what exists, the hanging one included, and starts no more', async () => {
    const log: string[] = [];
    const list = new ComponentList(
      'test',
      recording(['informers', 'namespaces', 'leader'], log, 'namespaces'),
      silent,
    );
    void list.start();
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(list.synced(), false);
    await list.stop();
    assert.deepEqual(log, ['start informers', 'start namespaces', 'stop namespaces', 'stop informers']);
  });

  it('is not synced while a started component is not', async () => {
    let ready = false;
    const list = new ComponentList(
      'test',
      [{ name: 'scanner', start: async () => {}, stop: async () => {}, synced: () => ready }],
      silent,
    );
    await list.start();
    assert.equal(list.idleOrSynced(), false);
    ready = true;
    assert.equal(list.idleOrSynced(), true);
  });
});
