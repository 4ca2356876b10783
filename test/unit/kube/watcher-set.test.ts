import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import type { KubernetesObject } from '@kubernetes/client-node';
import { guardEvents } from '../../../src/kube/index.ts';

function capturingLog(): { log: pino.Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

const pod = (namespace: string, name: string): KubernetesObject => ({ metadata: { namespace, name } });

describe('guardEvents', () => {
  it('logs a failing event with watch, object and namespace, and keeps handling the next ones', async () => {
    const { log, lines } = capturingLog();
    const seen: string[] = [];
    const handler = guardEvents<KubernetesObject>('pods', log, async (type, obj) => {
      if (obj.metadata?.name === 'bad') throw new Error('cannot handle');
      await Promise.resolve();
      seen.push(`${type} ${obj.metadata?.name}`);
    });

    await handler('ADDED', pod('shop', 'web'));
    await handler('MODIFIED', pod('shop', 'bad'));
    await handler('DELETED', pod('shop', 'api'));

    assert.deepEqual(seen, ['ADDED web', 'DELETED api']);
    assert.equal(lines.length, 1);
    const [line] = lines;
    assert.equal(line?.msg, 'event handling failed');
    assert.equal(line?.level, 50);
    assert.equal(line?.watch, 'pods');
    assert.equal(line?.object, 'bad');
    assert.equal(line?.namespace, 'shop');
    assert.equal((line?.err as { message?: string }).message, 'cannot handle');
  });

  it('also catches a synchronous throw and an object without metadata', async () => {
    const { log, lines } = capturingLog();
    const handler = guardEvents<KubernetesObject>('nodes', log, () => {
      throw new Error('sync');
    });
    await handler('ADDED', {});
    assert.equal(lines.length, 1);
    assert.equal(lines[0]?.watch, 'nodes');
    assert.equal(lines[0]?.object, undefined);
  });
});
