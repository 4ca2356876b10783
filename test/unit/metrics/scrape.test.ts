import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { closeHttpServer, startHttpServer } from '../../../src/http/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import {
  buildLayout,
  createScrapeHandler,
  holdBudgetMs,
  OperatorHealthMetrics,
  SeriesStore,
  type Snapshot,
} from '../../../src/metrics/index.ts';
import { ALL_FAMILIES, familyLines, fixture, promtoolCheck, snapshotText } from './support.ts';

const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

interface Response {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A raw request (no automatic decompression), so the test sees exactly what was sent. */
function get(port: number, headers: Record<string, string>): Promise<Response> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: '/metrics', headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

describe('the /metrics handler over real HTTP', () => {
  const store = new SeriesStore(buildLayout(ALL_FAMILIES));
  const health = new OperatorHealthMetrics();
  let synced = true;
  let server: http.Server;
  let port: number;

  before(async () => {
    for (const name of [
      'vulnerabilityreport',
      'exposedsecretreport',
      'configauditreport',
      'rbacassessmentreport',
      'clusterrbacassessmentreport',
      'infraassessmentreport',
      'clustercompliancereport',
    ]) {
      const report = fixture(name);
      store.upsert(report.kind as 'VulnerabilityReport', report);
    }
    server = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      log: createLogger('silent'),
      readiness: [],
      metrics: createScrapeHandler({
        snapshot: (): Snapshot | undefined => (synced ? store.snapshot() : undefined),
        health: health.registry,
      }),
    });
    port = (server.address() as AddressInfo).port;
  });
  after(async () => closeHttpServer(server));

  it('serves the 0.0.4 text format by default, which promtool accepts without a single complaint', async () => {
    const res = await get(port, {});
    assert.equal(res.status, 200);
    assert.equal(res.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(res.headers['content-encoding'], undefined);
    const text = res.body.toString('utf8');
    assert.ok(text.startsWith(snapshotText(store.snapshot())), 'report families come first, as stored');
    assert.match(text, /\n# TYPE trivy_lookout_watch_restarts_total counter\n/);
    const { status, output } = promtoolCheck(text);
    assert.equal(status, 0, output);
    assert.equal(output, '');
  });

  it('sends gzip when accepted: concatenated members that decode to the same text', async () => {
    const plain = await get(port, { 'accept-encoding': 'identity' });
    const gzip = await get(port, { 'accept-encoding': 'gzip' });
    assert.equal(gzip.headers['content-encoding'], 'gzip');
    assert.match(gzip.headers.vary ?? '', /Accept-Encoding/);
    const decoded = gunzipSync(gzip.body).toString('utf8');
    // The health part holds live values (CPU, memory); compare the report families exactly.
    const cut = (text: string) => text.slice(0, text.indexOf('# HELP process_'));
    assert.equal(cut(decoded), cut(plain.body.toString('utf8')));
    assert.ok(cut(decoded).length > 1000);
  });

  it('speaks OpenMetrics to Prometheus, ending with # EOF and without blank lines', async () => {
    const res = await get(port, { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip' });
    assert.equal(res.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    const text = gunzipSync(res.body).toString('utf8');
    assert.ok(text.endsWith('\n# EOF\n'));
    assert.equal(text.indexOf('# EOF'), text.length - 6);
    assert.doesNotMatch(text, /\n\n/);
    assert.match(text, /\n# TYPE trivy_lookout_watch_restarts counter\n/);
    assert.equal(familyLines(text, 'trivy_image_vulnerabilities').length, 5);
  });

  it('answers 503, never a body without the report families, while the report caches are not synced', async () => {
    synced = false;
    try {
      const res = await get(port, {});
      assert.equal(res.status, 503);
      assert.ok(!res.body.toString('utf8').includes('trivy_'));
    } finally {
      synced = true;
    }
  });

  it('holds a scrape that arrives before the sync, up to a second before the scraper’s timeout', async () => {
    let complete = false;
    const waiters: (() => void)[] = [];
    const held = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      log: createLogger('silent'),
      readiness: [],
      metrics: createScrapeHandler({
        snapshot: () => (complete ? store.snapshot() : undefined),
        waitForSnapshot: (ms) =>
          new Promise((resolve) => {
            waiters.push(resolve);
            setTimeout(resolve, ms);
          }),
        health: health.registry,
      }),
    });
    try {
      const heldPort = (held.address() as AddressInfo).port;
      // Never synced within the budget (0.5 s timeout → 0.4 s hold): a failed scrape, not an empty one.
      const timedOut = await get(heldPort, { 'x-prometheus-scrape-timeout-seconds': '0.5' });
      assert.equal(timedOut.status, 503);
      assert.equal(timedOut.headers['retry-after'], '5');
      // Synced while held: the held scrape gets every report family.
      const pending = get(heldPort, { 'x-prometheus-scrape-timeout-seconds': '10' });
      await new Promise((resolve) => setTimeout(resolve, 100));
      complete = true;
      for (const wake of waiters.splice(0)) wake();
      const res = await pending;
      assert.equal(res.status, 200);
      assert.equal(familyLines(res.body.toString('utf8'), 'trivy_image_vulnerabilities').length, 5);
    } finally {
      await closeHttpServer(held);
    }
  });

  it('bounds the hold by the scrape timeout Prometheus sends, else by the default', () => {
    assert.equal(holdBudgetMs('10', 10_000), 9_000);
    assert.equal(holdBudgetMs('5', 10_000), 4_000);
    assert.equal(holdBudgetMs('0.5', 10_000), 400);
    assert.equal(holdBudgetMs('30', 10_000), 10_000);
    assert.equal(holdBudgetMs(undefined, 10_000), 10_000);
    assert.equal(holdBudgetMs('nonsense', 7_000), 7_000);
  });

  it('survives a client that hangs up mid-scrape', async () => {
    const big = new SeriesStore(buildLayout(ALL_FAMILIES));
    const report = fixture('vulnerabilityreport');
    for (let i = 0; i < 3000; i++) {
      report.metadata.name = `report-${i}`;
      big.upsert('VulnerabilityReport', report);
    }
    const bigServer = await startHttpServer({
      port: 0,
      host: '127.0.0.1',
      log: createLogger('silent'),
      readiness: [],
      metrics: createScrapeHandler({ snapshot: () => big.snapshot() }),
    });
    try {
      const bigPort = (bigServer.address() as AddressInfo).port;
      await new Promise<void>((resolve) => {
        const req = http.get({ host: '127.0.0.1', port: bigPort, path: '/metrics' }, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', () => resolve());
      });
      // The server still answers, in full.
      const res = await get(bigPort, {});
      assert.equal(familyLines(res.body.toString('utf8'), 'trivy_vulnerability_id').length, 12_000);
    } finally {
      await closeHttpServer(bigServer);
    }
  });
});
