import assert from 'node:assert/strict';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { postJson } from '../../../src/notifications/post.ts';

/** A local receiver: answers per path, records what it got. */
describe('postJson against a local HTTP receiver', () => {
  const received: { path: string; headers: IncomingHttpHeaders; body: string }[] = [];
  let server: http.Server;
  let base: string;
  const hanging: http.ServerResponse[] = [];

  before(async () => {
    server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        received.push({ path: req.url ?? '', headers: req.headers, body });
        if (req.url === '/ok') res.writeHead(204).end();
        else if (req.url === '/busy') res.writeHead(429, { 'retry-after': '3' }).end('slow down');
        else if (req.url === '/moved') res.writeHead(302, { location: '/ok' }).end();
        else if (req.url === '/hang') hanging.push(res);
        else res.writeHead(404).end('no such hook');
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    for (const res of hanging) res.destroy();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  const options = (path: string, timeoutMs = 5_000, signal = new AbortController().signal) => ({
    url: `${base}${path}`,
    headers: { 'X-Api-Key': 'k3y', Authorization: 'Bearer t0k' },
    timeoutMs,
    signal,
  });

  it('POSTs the body as JSON with the custom headers and reports the status', async () => {
    const result = await postJson('{"a":1}', options('/ok'));
    assert.deepEqual(result, { kind: 'status', status: 204, retryAfter: null });
    const got = received.at(-1);
    assert.equal(got?.body, '{"a":1}');
    assert.equal(got?.headers['content-type'], 'application/json');
    assert.equal(got?.headers['x-api-key'], 'k3y');
    assert.equal(got?.headers.authorization, 'Bearer t0k');
  });

  it('passes Retry-After on', async () => {
    assert.deepEqual(await postJson('{}', options('/busy')), {
      kind: 'status',
      status: 429,
      retryAfter: '3',
    });
  });

  it('does not follow redirects (a redirected POST would become a GET)', async () => {
    const before = received.length;
    assert.equal(((await postJson('{}', options('/moved'))) as { status: number }).status, 302);
    assert.equal(received.length, before + 1);
  });

  it('times out a receiver that never answers', async () => {
    assert.deepEqual(await postJson('{}', options('/hang', 300)), { kind: 'timeout' });
  });

  it('reports a stop (abort) as a network outcome, not a timeout', async () => {
    const stop = new AbortController();
    const pending = postJson('{}', options('/hang', 10_000, stop.signal));
    setTimeout(() => stop.abort(), 100);
    assert.equal((await pending).kind, 'network');
  });

  it('reports an unreachable receiver by its error code, never the URL', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const result = await postJson('{}', { ...options('/x'), url: `http://127.0.0.1:${port}/secret-path` });
    assert.deepEqual(result, { kind: 'network', error: 'ECONNREFUSED' });
  });
});
