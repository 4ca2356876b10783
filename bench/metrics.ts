/**
 * `npm run bench:metrics`: the exporter at 10,000 vulnerability reports × 100 vulnerabilities, with
 * default families and with per-CVE series (`trivy_vulnerability_id`, 1,000,000 series), and, for
 * per-CVE, a plain prom-client implementation of the same families.
 *
 * Processes, so that no memory figure includes another side:
 *  - this one serves the reports as a paginated list (and an idle watch) the way the API server
 *    does, generated on the fly, then scrapes the exporter over HTTP as Prometheus does
 *    (OpenMetrics Accept header, with and without gzip) and checks the body;
 *  - exporter (one per mode): the real ReportMetrics (watcher, paging, JSON parsing, rendering,
 *    gzip) pointed at that list, timed from start() until every report is in ("start-up"; the
 *    process's own start and a real API server's work come on top, see docs/benchmarks.md), then
 *    served by the project's HTTP app; it measures its RSS and event-loop lag;
 *  - naive: prom-client Gauges, one `set` per series, then `registry.metrics()`.
 * Prints, per mode: start-up, scrape ms (gzip/plain), response bytes (gzip/plain), gzip bytes of
 * the whole body in one stream, gzip bytes before the blocks are packed, samples per family, RSS.
 * Ends with one JSON line (the per-CVE run's figures, as before, plus the new fields):
 * {"reports","series","scrapeMs","naiveScrapeMs","speedup","rssMiB","maxEventLoopLagMs","gzipBytes",
 *  "wholeBodyGzipBytes","startupSeconds","startupSecondsVulnId",…}. BENCH_NAIVE=0 skips prom-client.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { gunzipSync, gzipSync } from 'node:zlib';
import { KubeConfig } from '@kubernetes/client-node';
import { Gauge, Registry } from 'prom-client';
import { loadConfig } from '../src/config/index.ts';
import type { Vulnerability } from '../src/crds/index.ts';
import { findingsForReplica } from '../src/findings/index.ts';
import { createHttpApp } from '../src/http/index.ts';
import { Informers } from '../src/kube/index.ts';
import { createLogger } from '../src/logging/index.ts';
import {
  buildLayout,
  FAMILIES,
  familyOptionsFromConfig,
  OperatorHealthMetrics,
  ReportMetrics,
  type FamilyOptions,
} from '../src/metrics/index.ts';
import { syntheticReportJson, vulnerabilityPool } from './synthetic-reports.ts';

const REPORTS = Number(process.env.BENCH_REPORTS ?? 10_000);
const VULNS_PER_REPORT = Number(process.env.BENCH_VULNS_PER_REPORT ?? 100);
const SCRAPES = 5;
const PLAIN_SCRAPES = 3;
/** Prometheus 2.x's scrape Accept header. */
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

/** The settings of a run: the defaults, with per-CVE series on or off, and one resource label. */
function envFor(vulnId: boolean): Record<string, string> {
  return {
    // BENCH_NEW_FINDINGS=false measures the exporter without the findings index, for comparison.
    OPERATOR_NEW_FINDINGS_ENABLED: process.env.BENCH_NEW_FINDINGS ?? 'true',
    OPERATOR_METRICS_VULN_ID_ENABLED: String(vulnId),
    OPERATOR_TRIVY_OPERATOR_REPORT_RESOURCE_LABELS: 'app',
  };
}

function optionsFor(vulnId: boolean): FamilyOptions {
  return familyOptionsFromConfig(
    loadConfig(envFor(vulnId), () => {
      throw new Error('no config file in the benchmark');
    }),
  );
}

// ---- the list this process serves, as the API server would ----------------------------------------

const LIST_PATH = '/apis/aquasecurity.github.io/v1alpha1/vulnerabilityreports';

/** Serves REPORTS reports as paginated lists (continue = next index), other kinds empty, idle watches. */
async function serveReports(): Promise<{ server: http.Server; url: string }> {
  const pool = vulnerabilityPool();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    if (url.searchParams.get('watch') === 'true') {
      // An idle watch: open until the client goes.
      res.writeHead(200, { 'content-type': 'application/json' });
      res.flushHeaders();
      return;
    }
    const limit = Number(url.searchParams.get('limit') ?? 500);
    const start = Number(url.searchParams.get('continue') || 0);
    const end = url.pathname === LIST_PATH ? Math.min(REPORTS, start + limit) : start;
    const items: string[] = [];
    for (let i = start; i < end; i++) items.push(syntheticReportJson(i, pool, VULNS_PER_REPORT, firstSeenAt));
    const cont = end < REPORTS && url.pathname === LIST_PATH ? String(end) : '';
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      `{"kind":"List","apiVersion":"v1","metadata":{"resourceVersion":"1","continue":"${cont}"},"items":[${items.join(',')}]}`,
    );
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

// ---- the exporter process -----------------------------------------------------------------------

type ExporterMessage =
  | { type: 'ready'; port: number; startupMs: number; rssMiB: number; storedMiB: number }
  | { type: 'packed'; packMs: number; storedMiB: number }
  | { type: 'stats'; maxLagMs: number; rssMiB: number; peakRssMiB: number };

/**
 * First-seen stamps on every report, as the leader leaves them: an image's High/Critical findings
 * stamped 0–364 days before the run, so one image in 365 is new (within 24h), and the older ones
 * pass their deadlines (7 days Critical, 30 days High).
 */
const firstSeenAt = (image: number): number => Math.floor(Date.now() / 1000) - (image % 365) * 86_400 - 60;

async function runExporter(): Promise<void> {
  const [, , , apiUrl = '', vulnId = 'false'] = process.argv;
  let peakRss = process.memoryUsage.rss();
  const rssSampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 10);
  rssSampler.unref();

  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'bench', server: apiUrl, skipTLSVerify: true }],
    users: [{ name: 'bench' }],
    contexts: [{ name: 'bench', cluster: 'bench', user: 'bench' }],
    currentContext: 'bench',
  });
  const config = loadConfig(envFor(vulnId === 'true'), () => {
    throw new Error('no config file in the benchmark');
  });
  const log = createLogger('silent');
  const health = new OperatorHealthMetrics();
  // As the operator runs it: the findings index is fed by the same watch (operator.newFindingsEnabled).
  const findings = findingsForReplica(config);
  const informers = new Informers({ kc, log });
  const metrics = new ReportMetrics(
    informers,
    config,
    log,
    health,
    findings ? { findings: findings.index, families: () => findings.series.members() } : {},
  );
  const started = performance.now();
  metrics.start();
  await metrics.waitForSync();
  const startupMs = performance.now() - started;
  // Packing is driven here, so the first scrapes show the unpacked store.
  metrics.store.stopPacking();

  const app = createHttpApp({ log, readiness: [], metrics: metrics.handler });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const port = (server.address() as AddressInfo).port;

  const lag = monitorEventLoopDelay({ resolution: 1 });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'pack') {
      const begun = performance.now();
      metrics.store.packFor(Infinity);
      const reply: ExporterMessage = {
        type: 'packed',
        packMs: performance.now() - begun,
        storedMiB: metrics.store.bytes / 2 ** 20,
      };
      process.send?.(reply);
    } else if (message.type === 'scrape-start') {
      lag.reset();
      lag.enable();
      peakRss = process.memoryUsage.rss();
    } else if (message.type === 'scrape-end') {
      lag.disable();
      const reply: ExporterMessage = {
        type: 'stats',
        maxLagMs: lag.max / 1e6,
        rssMiB: process.memoryUsage.rss() / 2 ** 20,
        peakRssMiB: peakRss / 2 ** 20,
      };
      process.send?.(reply);
    } else if (message.type === 'exit') {
      void metrics.stop().then(() => process.exit(0));
    }
  });
  const ready: ExporterMessage = {
    type: 'ready',
    port,
    startupMs,
    rssMiB: peakRss / 2 ** 20,
    storedMiB: metrics.store.bytes / 2 ** 20,
  };
  process.send?.(ready);
}

// ---- the naive process --------------------------------------------------------------------------

async function runNaive(): Promise<void> {
  const registry = new Registry();
  const pool = vulnerabilityPool();
  const layout = buildLayout(optionsFor(true));
  const names = (id: 'imageVulnerabilities' | 'vulnerabilityId') =>
    layout.families.find((f) => f.id === id)?.labelNames ?? [];
  const summary = new Gauge({
    name: FAMILIES.imageVulnerabilities.name,
    help: FAMILIES.imageVulnerabilities.help,
    labelNames: names('imageVulnerabilities'),
    registers: [registry],
  });
  const detail = new Gauge({
    name: FAMILIES.vulnerabilityId.name,
    help: FAMILIES.vulnerabilityId.help,
    labelNames: names('vulnerabilityId'),
    registers: [registry],
  });
  let setMs = 0;
  const first = Number(process.argv[3] ?? 0);
  const end = Number(process.argv[4] ?? REPORTS);
  for (let i = first; i < end; i++) {
    const report = JSON.parse(syntheticReportJson(i, pool, VULNS_PER_REPORT)) as {
      metadata: { name: string; namespace: string; labels: Record<string, string> };
      report: {
        registry: { server: string };
        artifact: { repository: string; tag: string; digest: string };
        summary: Record<string, number>;
        vulnerabilities: Vulnerability[];
      };
    };
    const started = performance.now();
    const { metadata, report: r } = report;
    const image = {
      namespace: metadata.namespace,
      name: metadata.name,
      resource_kind: metadata.labels['trivy-operator.resource.kind'] ?? '',
      resource_name: metadata.labels['trivy-operator.resource.name'] ?? '',
      container_name: metadata.labels['trivy-operator.container.name'] ?? '',
      image_registry: r.registry.server,
      image_repository: r.artifact.repository,
      image_tag: r.artifact.tag,
      image_digest: r.artifact.digest,
      k8s_label_app: metadata.labels.app ?? '',
    };
    const severities = ['Critical', 'High', 'Medium', 'Low', 'Unknown'];
    ['criticalCount', 'highCount', 'mediumCount', 'lowCount', 'unknownCount'].forEach((field, s) =>
      summary.set({ ...image, severity: severities[s] }, r.summary[field] ?? 0),
    );
    for (const v of r.vulnerabilities) {
      detail.set(
        {
          ...image,
          installed_version: v.installedVersion,
          fixed_version: v.fixedVersion,
          published_date: v.publishedDate,
          last_modified_date: v.lastModifiedDate,
          resource: v.resource,
          severity: v.severity.charAt(0) + v.severity.slice(1).toLowerCase(),
          package_type: v.packageType,
          pkg_path: '',
          target: v.target,
          class: v.class,
          vuln_id: v.vulnerabilityID,
          vuln_title: v.title,
          vuln_score: String(v.score),
        },
        1,
      );
    }
    setMs += performance.now() - started;
  }
  global.gc?.();
  const started = performance.now();
  const text = await registry.metrics();
  const renderMs = performance.now() - started;
  process.send?.({
    type: 'naive',
    setMs,
    renderMs,
    textMiB: Buffer.byteLength(text) / 2 ** 20,
    rssMiB: process.memoryUsage.rss() / 2 ** 20,
  });
}

// ---- the orchestrating process ------------------------------------------------------------------

interface NaiveResult {
  setMs: number;
  renderMs: number;
  textMiB: number;
  rssMiB: number;
}

function child(role: string, extraArgs: string[] = [], args: string[] = []): ChildProcess {
  return fork(fileURLToPath(import.meta.url), [role, ...args], {
    execArgv: [...process.execArgv, ...extraArgs],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
}

function nextMessage<T>(proc: ChildProcess): Promise<T> {
  return new Promise((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`child exited with ${code}`));
    proc.once('exit', onExit);
    proc.once('message', (message) => {
      proc.off('exit', onExit);
      resolve(message as T);
    });
  });
}

function scrape(
  port: number,
  gzip: boolean,
): Promise<{ ms: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path: '/metrics',
        headers: { accept: PROMETHEUS_ACCEPT, 'accept-encoding': gzip ? 'gzip' : 'identity' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ ms: performance.now() - started, body: Buffer.concat(chunks), headers: res.headers }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
  });
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;
const mib = (bytes: number) => `${round(bytes / 2 ** 20, 2)} MiB`;

/** Samples per family name in exposition text. */
function samplesPerFamily(text: Buffer): Map<string, number> {
  const counts = new Map<string, number>();
  for (let at = 0; at < text.length;) {
    const end = text.indexOf(10 /* \n */, at);
    const stop = end < 0 ? text.length : end;
    if (text[at] !== 35 /* # */ && stop > at) {
      let nameEnd = at;
      while (nameEnd < stop && text[nameEnd] !== 123 /* { */ && text[nameEnd] !== 32 /* space */) nameEnd++;
      const name = text.toString('latin1', at, nameEnd);
      counts.set(name, (counts.get(name) ?? 0) + 1);
    }
    at = stop + 1;
  }
  return counts;
}

interface ModeResult {
  startupSeconds: number;
  series: number;
  gzipMs: number;
  plainMs: number;
  gzipBytes: number;
  unpackedGzipBytes: number;
  plainBytes: number;
  wholeBodyGzipBytes: number;
  packSeconds: number;
  rssMiB: number;
  maxEventLoopLagMs: number;
  samples: Record<string, number>;
}

async function runMode(apiUrl: string, vulnId: boolean): Promise<ModeResult> {
  const label = vulnId ? 'per-CVE on' : 'default families';
  console.log(`\n== ${label}: ${REPORTS} reports × ${VULNS_PER_REPORT} vulnerabilities`);
  const exporter = child('exporter', [], [apiUrl, String(vulnId)]);
  const ready = await nextMessage<Extract<ExporterMessage, { type: 'ready' }>>(exporter);
  console.log(
    `start-up: every report listed, parsed, rendered and compressed in ${round(ready.startupMs / 1000, 2)} s; ${round(ready.storedMiB)} MiB of compressed series, peak RSS ${round(ready.rssMiB)} MiB`,
  );
  let maxLagMs = 0;
  let peakRssMiB = ready.rssMiB;
  const timed = async (gzip: boolean) => {
    exporter.send({ type: 'scrape-start' });
    const result = await scrape(ready.port, gzip);
    exporter.send({ type: 'scrape-end' });
    const stats = await nextMessage<Extract<ExporterMessage, { type: 'stats' }>>(exporter);
    maxLagMs = Math.max(maxLagMs, stats.maxLagMs);
    peakRssMiB = Math.max(peakRssMiB, stats.peakRssMiB);
    return { ...result, stats };
  };
  const unpacked = await timed(true);
  console.log(
    `before packing (one gzip member per report, as until now): ${round(unpacked.ms)} ms, ${mib(unpacked.body.length)} gzip`,
  );
  exporter.send({ type: 'pack' });
  const packed = await nextMessage<Extract<ExporterMessage, { type: 'packed' }>>(exporter);
  console.log(
    `packing blocks of reports (background work after start-up): ${round(packed.packMs / 1000, 2)} s of CPU, ${round(packed.storedMiB)} MiB stored`,
  );
  const gzipTimes: number[] = [];
  let last: Awaited<ReturnType<typeof timed>> | undefined;
  for (let i = 0; i < SCRAPES; i++) {
    last = await timed(true);
    gzipTimes.push(last.ms);
    console.log(
      `gzip scrape ${i + 1}: ${round(last.ms)} ms, ${mib(last.body.length)}, max event-loop lag ${round(last.stats.maxLagMs)} ms, peak RSS ${round(last.stats.peakRssMiB)} MiB`,
    );
  }
  const plainTimes: number[] = [];
  let plain: Awaited<ReturnType<typeof timed>> | undefined;
  for (let i = 0; i < PLAIN_SCRAPES; i++) {
    plain = await timed(false);
    plainTimes.push(plain.ms);
    console.log(`plain scrape ${i + 1}: ${round(plain.ms)} ms, ${mib(plain.body.length)}`);
  }
  exporter.send({ type: 'exit' });
  if (!last || !plain) throw new Error('no scrape');

  const text = gunzipSync(last.body);
  if (!text.subarray(-6).equals(Buffer.from('# EOF\n')))
    throw new Error('OpenMetrics body does not end with # EOF');
  if (last.headers['content-type'] !== 'application/openmetrics-text; version=1.0.0; charset=utf-8')
    throw new Error(`unexpected Content-Type ${last.headers['content-type']}`);
  const gunzippedBefore = gunzipSync(unpacked.body);
  const cut = (body: Buffer) => body.subarray(0, body.indexOf('# HELP process_'));
  if (!cut(gunzippedBefore).equals(cut(text))) throw new Error('packing changed the report series');
  const samples = samplesPerFamily(text);
  const series = [...samples.values()].reduce((sum, n) => sum + n, 0);
  const detail = samples.get(FAMILIES.vulnerabilityId.name) ?? 0;
  if (vulnId && detail !== REPORTS * VULNS_PER_REPORT)
    throw new Error(`${detail} trivy_vulnerability_id series, ${REPORTS * VULNS_PER_REPORT} expected`);
  const started = performance.now();
  const wholeBodyGzipBytes = gzipSync(plain.body, { level: 6 }).length;
  console.log(
    `whole body through one gzip -6 stream: ${mib(wholeBodyGzipBytes)} (${round(performance.now() - started)} ms here); served gzip is ${round(last.body.length / wholeBodyGzipBytes, 2)}× that (${round(unpacked.body.length / wholeBodyGzipBytes, 2)}× before packing)`,
  );
  const group = (name: string) =>
    name.startsWith('trivy_lookout_')
      ? [
          'trivy_lookout_namespace_vulnerabilities',
          'trivy_lookout_image_vulnerabilities',
          'trivy_lookout_image_containers',
        ].includes(name)
        ? 'aggregates'
        : 'exporter health'
      : name.startsWith('trivy_')
        ? "Trivy-Operator's families"
        : 'process and Node.js';
  const groups = new Map<string, number>();
  for (const [name, count] of samples) groups.set(group(name), (groups.get(group(name)) ?? 0) + count);
  console.log(`samples: ${series} in all`);
  for (const [name, count] of [...groups].sort((a, b) => b[1] - a[1])) {
    console.log(`  ${name}: ${count}`);
    for (const [family, n] of [...samples]
      .filter(([f]) => group(f) === name && name !== 'exporter health' && name !== 'process and Node.js')
      .sort((a, b) => b[1] - a[1]))
      console.log(`    ${family}: ${n}`);
  }
  return {
    startupSeconds: ready.startupMs / 1000,
    series,
    gzipMs: median(gzipTimes),
    plainMs: median(plainTimes),
    gzipBytes: last.body.length,
    unpackedGzipBytes: unpacked.body.length,
    plainBytes: plain.body.length,
    wholeBodyGzipBytes,
    packSeconds: packed.packMs / 1000,
    rssMiB: peakRssMiB,
    maxEventLoopLagMs: maxLagMs,
    samples: Object.fromEntries(groups),
  };
}

async function main(): Promise<void> {
  const { server, url } = await serveReports();
  const plainDefault = await runMode(url, false);
  const vulnId = await runMode(url, true);
  server.close();
  server.closeAllConnections();

  let naiveScrapeMs = NaN;
  if (process.env.BENCH_NAIVE !== '0') {
    console.log('\nplain prom-client, per-CVE on (Gauge.set per series, then registry.metrics()) …');
    // One process cannot render it: the trivy_vulnerability_id family alone is longer than the
    // longest string V8 can build (512 MiB), where prom-client joins a family's lines. So the plain
    // approach renders two halves of the reports in two processes, and their times are added.
    const halves: NaiveResult[] = [];
    for (const [first, last] of [
      [0, Math.floor(REPORTS / 2)],
      [Math.floor(REPORTS / 2), REPORTS],
    ] as const) {
      const naive = child('naive', ['--max-old-space-size=12288'], [String(first), String(last)]);
      halves.push(await nextMessage<NaiveResult>(naive));
      naive.kill();
    }
    const result = {
      setMs: halves.reduce((sum, half) => sum + half.setMs, 0),
      renderMs: halves.reduce((sum, half) => sum + half.renderMs, 0),
      textMiB: halves.reduce((sum, half) => sum + half.textMiB, 0),
      rssMiB: Math.max(...halves.map((half) => half.rssMiB)),
    };
    naiveScrapeMs = result.renderMs;
    console.log(
      `prom-client: set ${round(result.setMs / 1000, 2)} s, render ${round(result.renderMs / 1000, 2)} s, ${round(result.textMiB)} MiB of text, RSS ${round(result.rssMiB)} MiB per half`,
    );
  }

  console.log(
    JSON.stringify({
      reports: REPORTS,
      series: vulnId.series,
      scrapeMs: round(vulnId.gzipMs),
      naiveScrapeMs: round(naiveScrapeMs),
      speedup: round(naiveScrapeMs / vulnId.gzipMs),
      rssMiB: round(vulnId.rssMiB),
      maxEventLoopLagMs: round(vulnId.maxEventLoopLagMs),
      gzipBytes: vulnId.gzipBytes,
      wholeBodyGzipBytes: vulnId.wholeBodyGzipBytes,
      startupSeconds: round(plainDefault.startupSeconds, 2),
      startupSecondsVulnId: round(vulnId.startupSeconds, 2),
      plainScrapeMs: round(vulnId.plainMs),
      plainBytes: vulnId.plainBytes,
      unpackedGzipBytes: vulnId.unpackedGzipBytes,
      packSeconds: round(vulnId.packSeconds, 2),
      samples: vulnId.samples,
      default: {
        series: plainDefault.series,
        scrapeMs: round(plainDefault.gzipMs),
        plainScrapeMs: round(plainDefault.plainMs),
        gzipBytes: plainDefault.gzipBytes,
        unpackedGzipBytes: plainDefault.unpackedGzipBytes,
        plainBytes: plainDefault.plainBytes,
        wholeBodyGzipBytes: plainDefault.wholeBodyGzipBytes,
        packSeconds: round(plainDefault.packSeconds, 2),
        rssMiB: round(plainDefault.rssMiB),
        samples: plainDefault.samples,
      },
    }),
  );
}

const role = process.argv[2];
const run = role === 'exporter' ? runExporter : role === 'naive' ? runNaive : main;
run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
