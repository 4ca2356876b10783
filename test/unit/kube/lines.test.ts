import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { describe, it } from 'node:test';
import { streamLines } from '../../../src/kube/lines.ts';

async function collect(stream: Readable): Promise<string[]> {
  const lines: string[] = [];
  for await (const line of streamLines(stream)) lines.push(line);
  return lines;
}

describe('streamLines', () => {
  it('splits lines across chunk boundaries, including multi-byte characters split in two', async () => {
    const text = Buffer.from('{"a":1}\n{"b":"é"}\n{"c"');
    const chunks = [
      text.subarray(0, 3),
      text.subarray(3, 16),
      text.subarray(16, 17),
      text.subarray(17),
      Buffer.from(':3}\n'),
    ];
    assert.deepEqual(await collect(Readable.from(chunks)), ['{"a":1}', '{"b":"é"}', '{"c":3}']);
  });

  it('yields a last line without a trailing newline', async () => {
    assert.deepEqual(await collect(Readable.from([Buffer.from('x\ny')])), ['x', 'y']);
  });

  it('surfaces a stream error as a throw from the loop', async () => {
    const stream = new Readable({ read() {} });
    stream.push(Buffer.from('first\n'));
    setImmediate(() => stream.destroy(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
    await assert.rejects(collect(stream), /aborted/);
  });
});
