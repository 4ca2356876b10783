import { open, type FileHandle } from 'node:fs/promises';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/** A container's log as the runtime keeps it: a file that grows while the container runs. */
export interface LogSource {
  file: string;
  /** True while more output may still come (for follow=true). */
  running(): boolean;
}

export type LogLookup = (
  namespace: string,
  pod: string,
  container: string,
  previous: boolean,
) => LogSource | { status: number; message: string };

export interface LogServer {
  readonly port: number;
  close(): Promise<void>;
}

const CHUNK = 64 * 1024;

/** Byte offset where the last `lines` lines start, reading backwards from the end in chunks. */
export async function tailOffset(handle: FileHandle, size: number, lines: number): Promise<number> {
  if (lines <= 0) return size;
  let pos = size;
  let seen = 0;
  const buffer = Buffer.alloc(CHUNK);
  // A final newline ends the last line; it does not start another one.
  let skipLast = true;
  while (pos > 0) {
    const length = Math.min(CHUNK, pos);
    pos -= length;
    await handle.read(buffer, 0, length, pos);
    for (let i = length - 1; i >= 0; i--) {
      if (buffer[i] !== 0x0a) {
        skipLast = false;
        continue;
      }
      if (skipLast) {
        skipLast = false;
        continue;
      }
      seen++;
      if (seen === lines) return pos + i + 1;
    }
  }
  return 0;
}

function intParam(params: URLSearchParams, name: string): number | undefined {
  const raw = params.get(name);
  if (raw === null || raw === '') return undefined;
  const value = Number(raw);
  return Number.isInteger(value) ? value : undefined;
}

/** Writes with backpressure: a client reading tens of MB slowly must not make us buffer them all. */
function write(res: ServerResponse, chunk: Buffer): Promise<void> {
  if (res.write(chunk)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onDrain = () => {
      res.off('close', onClose);
      resolve();
    };
    const onClose = () => {
      res.off('drain', onDrain);
      reject(new Error('client went away'));
    };
    res.once('drain', onDrain);
    res.once('close', onClose);
  });
}

async function streamLog(res: ServerResponse, source: LogSource, params: URLSearchParams): Promise<void> {
  const follow = params.get('follow') === 'true';
  const tailLines = intParam(params, 'tailLines');
  const limitBytes = intParam(params, 'limitBytes');
  const handle = await open(source.file, 'r');
  try {
    const { size } = await handle.stat();
    let pos = tailLines !== undefined && tailLines >= 0 ? await tailOffset(handle, size, tailLines) : 0;
    let remaining = limitBytes !== undefined && limitBytes > 0 ? limitBytes : Infinity;
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    while (remaining > 0 && !res.destroyed) {
      // Checked before reading, so that output written just before the container ended is still sent.
      const more = follow && source.running();
      const chunk = Buffer.allocUnsafe(Math.min(CHUNK, remaining));
      const { bytesRead } = await handle.read(chunk, 0, chunk.length, pos);
      if (bytesRead > 0) {
        pos += bytesRead;
        remaining -= bytesRead;
        await write(res, chunk.subarray(0, bytesRead));
        continue;
      }
      if (!more) break;
      await sleep(100);
    }
    res.end();
  } finally {
    await handle.close();
  }
}

/**
 * The kubelet's log endpoint, `GET /containerLogs/{namespace}/{pod}/{container}`, over HTTPS, as
 * the API server calls it for `pods/log` (follow, tailLines, limitBytes, previous; timestamps and
 * since* are ignored). Errors are plain text with the status the real kubelet uses; the API server
 * turns them into a Status for its client.
 */
export function startLogServer(tls: { cert: string; key: string }, lookup: LogLookup): Promise<LogServer> {
  const server = https.createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
    const url = new URL(req.url ?? '/', 'https://kubelet');
    if (url.pathname === '/healthz') {
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
      return;
    }
    const match = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)\/?$/.exec(url.pathname);
    if (req.method !== 'GET' || !match) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('404 page not found\n');
      return;
    }
    const [namespace, pod, container] = match.slice(1).map(decodeURIComponent) as [string, string, string];
    const found = lookup(namespace, pod, container, url.searchParams.get('previous') === 'true');
    if ('status' in found) {
      res.writeHead(found.status, { 'content-type': 'text/plain' }).end(found.message);
      return;
    }
    streamLog(res, found, url.searchParams).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' }).end(String(err));
      else res.destroy();
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as AddressInfo;
      resolve({
        port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
