import type { Readable } from 'node:stream';

/**
 * Yields the newline-separated lines of a stream. A stream error (a reset connection) surfaces as
 * a throw from the loop, which readline's iterator does not guarantee. Long lines (a watch event
 * carrying a 1.5 MiB report) are joined once, not by repeated string concatenation.
 */
export async function* streamLines(stream: Readable): AsyncGenerator<string> {
  let pending: Buffer[] = [];
  for await (const chunk of stream) {
    let buf = chunk as Buffer;
    let newline = buf.indexOf(0x0a);
    while (newline >= 0) {
      pending.push(buf.subarray(0, newline));
      yield Buffer.concat(pending).toString('utf8');
      pending = [];
      buf = buf.subarray(newline + 1);
      newline = buf.indexOf(0x0a);
    }
    if (buf.length > 0) pending.push(buf);
  }
  if (pending.length > 0) yield Buffer.concat(pending).toString('utf8');
}
