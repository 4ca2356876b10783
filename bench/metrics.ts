/**
 * `npm run bench:metrics`: the exporter against a plain prom-client implementation of the same
 * families, at 10,000 vulnerability reports × 100 vulnerabilities (1,000,000 `trivy_vulnerability_id`
 * series plus the summaries).
 *
 * Three processes, so that neither memory figure includes the other side:
 *  - exporter: the project's SeriesStore fed with the reports (the same store the watches feed),
 *    served by the project's HTTP app; it measures its own RSS and event-loop lag;
 *  - this process: scrapes it over HTTP as Prometheus does (OpenMetrics Accept header, gzip) and
 *    checks the body;
 *  - naive: prom-client Gauges, one `set` per series, then `registry.metrics()`.
 * Ends with one JSON line: {"reports","series","scrapeMs","naiveScrapeMs","speedup","rssMiB","maxEventLoopLagMs"}.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { Gauge, Registry } from 'prom-client';
import type { Vulnerability } from '../src/crds/index.ts';
import { createHttpApp } from '../src/http/index.ts';
import { createLogger } from '../src/logging/index.ts';
import {
  buildLayout,
  createScrapeHandler,
  FAMILIES,
  OperatorHealthMetrics,
  SeriesStore,
  type FamilyOptions,
} from '../src/metrics/index.ts';

const REPORTS = Number(process.env.BENCH_REPORTS ?? 10_000);
const VULNS_PER_REPORT = Number(process.env.BENCH_VULNS_PER_REPORT ?? 100);
const NAMESPACES = 100;
const IMAGES = 1_000;
const VULN_POOL = 20_000;
const SCRAPES = 5;
/** Prometheus 2.x's scrape Accept header. */
const PROMETHEUS_ACCEPT =
  'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

const OPTIONS: FamilyOptions = {
  findings: true,
  vulnId: true,
  exposedSecretInfo: false,
  configAuditInfo: false,
  rbacAssessmentInfo: false,
  infraAssessmentInfo: false,
  imageInfo: false,
  clusterComplianceInfo: false,
  aggregates: true,
  resourceLabels: ['app'],
  resourceLabelsPrefix: 'k8s_label_',
};

// ---- deterministic synthetic reports ------------------------------------------------------------

function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'buffer',
  'overflow',
  'in',
  'parser',
  'allows',
  'remote',
  'attackers',
  'to',
  'cause',
  'denial',
];
const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'MEDIUM', 'LOW', 'LOW', 'UNKNOWN'] as const;

interface PoolVuln {
  severity: string;
  /** The vulnerability's JSON, without its closing brace (the report adds its target). */
  json: string;
}

function vulnerabilityPool(): PoolVuln[] {
  const random = prng(42);
  const pool: PoolVuln[] = [];
  for (let i = 0; i < VULN_POOL; i++) {
    const year = 2015 + Math.floor(random() * 10);
    const words = Array.from(
      { length: 6 + Math.floor(random() * 6) },
      () => WORDS[Math.floor(random() * WORDS.length)],
    );
    const id = `CVE-${year}-${String(1000 + Math.floor(random() * 50_000)).padStart(5, '0')}`;
    const severity = SEVERITIES[i % SEVERITIES.length] ?? 'UNKNOWN';
    const vuln = {
      vulnerabilityID: id,
      resource: `lib${WORDS[i % WORDS.length]}${i % 700}`,
      installedVersion: `${1 + (i % 5)}.${i % 17}.${i % 9}-${i % 4}+deb12u1`,
      fixedVersion: random() < 0.7 ? `${1 + (i % 5)}.${i % 17}.${(i % 9) + 1}-1+deb12u2` : '',
      publishedDate: `${year}-0${1 + (i % 9)}-1${i % 10}T10:15:00Z`,
      lastModifiedDate: `${year + 1}-0${1 + (i % 9)}-2${i % 10}T12:30:00Z`,
      severity,
      title: `${WORDS[i % WORDS.length]}: ${words.join(' ')}`,
      score: Math.round(random() * 100) / 10,
      primaryLink: `https://avd.aquasec.com/nvd/${id.toLowerCase()}`,
      links: [],
      class: 'os-pkgs',
      packageType: 'debian',
    };
    pool.push({ severity, json: JSON.stringify(vuln).slice(0, -1) });
  }
  return pool;
}

/**
 * The i-th report as the JSON text a watch event carries (containers of the same image carry the
 * same findings, as real reports do). Parsed with JSON.parse like the watcher does, so the garbage
 * it leaves is the garbage a real watch leaves.
 */
function syntheticReportJson(i: number, pool: readonly PoolVuln[]): string {
  const image = i % IMAGES;
  const random = prng(image + 1);
  const counts = { criticalCount: 0, highCount: 0, mediumCount: 0, lowCount: 0, unknownCount: 0 };
  const start = Math.floor(random() * (VULN_POOL - VULNS_PER_REPORT));
  const target = JSON.stringify(`registry.example.com/team/service-${image}:1.${image % 10}.0 (debian 12.8)`);
  const vulnerabilities: string[] = [];
  for (let v = 0; v < VULNS_PER_REPORT; v++) {
    const vuln = pool[start + v] as PoolVuln;
    counts[`${vuln.severity.toLowerCase()}Count` as keyof typeof counts] += 1;
    vulnerabilities.push(`${vuln.json},"target":${target}}`);
  }
  const namespace = `team-${String(i % NAMESPACES).padStart(3, '0')}`;
  const workload = `service-${image}-${i}`;
  const metadata = {
    name: `replicaset-${workload}-7d9c6b8f5c-app`,
    namespace,
    labels: {
      'app.kubernetes.io/managed-by': 'trivy-operator',
      'trivy-operator.resource.kind': 'ReplicaSet',
      'trivy-operator.resource.name': `${workload}-7d9c6b8f5c`,
      'trivy-operator.resource.namespace': namespace,
      'trivy-operator.container.name': 'app',
      app: workload,
    },
  };
  const report = {
    updateTimestamp: new Date(Date.UTC(2025, 5, 1, 0, 0, i % 86_400)).toISOString(),
    scanner: { name: 'Trivy', vendor: 'Aqua Security', version: '0.67.2' },
    registry: { server: 'registry.example.com' },
    artifact: {
      repository: `team/service-${image}`,
      tag: `1.${image % 10}.0`,
      digest: `sha256:${image.toString(16).padStart(64, '0')}`,
    },
    os: { family: 'debian', name: '12.8' },
    summary: { ...counts, noneCount: 0 },
  };
  const head = JSON.stringify({
    apiVersion: 'aquasecurity.github.io/v1alpha1',
    kind: 'VulnerabilityReport',
    metadata,
  });
  const body = JSON.stringify(report).slice(0, -1);
  return `${head.slice(0, -1)},"report":${body},"vulnerabilities":[${vulnerabilities.join(',')}]}}`;
}

// ---- the exporter process -----------------------------------------------------------------------

type ExporterMessage =
  | { type: 'ready'; port: number; ingestMs: number; storedMiB: number; rssMiB: number }
  | { type: 'stats'; maxLagMs: number; rssMiB: number; peakRssMiB: number };

async function runExporter(): Promise<void> {
  let peakRss = process.memoryUsage.rss();
  const rssSampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }, 10);
  rssSampler.unref();

  const layout = buildLayout(OPTIONS);
  const store = new SeriesStore(layout);
  const pool = vulnerabilityPool();
  const started = performance.now();
  for (let i = 0; i < REPORTS; i++) {
    store.upsert('VulnerabilityReport', JSON.parse(syntheticReportJson(i, pool)));
    // The sampling timer cannot run during this synchronous loop.
    if (i % 100 === 0) peakRss = Math.max(peakRss, process.memoryUsage.rss());
  }
  const ingestMs = performance.now() - started;
  global.gc?.();

  const health = new OperatorHealthMetrics();
  const app = createHttpApp({
    log: createLogger('silent'),
    readiness: [],
    metrics: createScrapeHandler({ snapshot: () => store.snapshot(), health: health.registry }),
  });
  const server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;

  const lag = monitorEventLoopDelay({ resolution: 1 });
  process.on('message', (message: { type: string }) => {
    if (message.type === 'scrape-start') {
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
      server.close();
      process.exit(0);
    }
  });
  const ready: ExporterMessage = {
    type: 'ready',
    port,
    ingestMs,
    storedMiB: store.bytes / 2 ** 20,
    rssMiB: peakRss / 2 ** 20,
  };
  process.send?.(ready);
}

// ---- the naive process --------------------------------------------------------------------------

async function runNaive(): Promise<void> {
  const registry = new Registry();
  const pool = vulnerabilityPool();
  const layout = buildLayout(OPTIONS);
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
    const report = JSON.parse(syntheticReportJson(i, pool)) as {
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

function scrape(port: number): Promise<{ ms: number; body: Buffer; headers: http.IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = http.get(
      {
        host: '127.0.0.1',
        port,
        path: '/metrics',
        headers: { accept: PROMETHEUS_ACCEPT, 'accept-encoding': 'gzip' },
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

async function main(): Promise<void> {
  console.log(`generating and ingesting ${REPORTS} reports × ${VULNS_PER_REPORT} vulnerabilities …`);
  const exporter = child('exporter');
  const ready = await nextMessage<Extract<ExporterMessage, { type: 'ready' }>>(exporter);
  console.log(
    `exporter: ingested in ${round(ready.ingestMs / 1000, 2)} s, ${round(ready.storedMiB)} MiB of compressed series, peak RSS ${round(ready.rssMiB)} MiB`,
  );

  const times: number[] = [];
  let maxLagMs = 0;
  let peakRssMiB = ready.rssMiB;
  let last: Awaited<ReturnType<typeof scrape>> | undefined;
  for (let i = 0; i < SCRAPES; i++) {
    exporter.send({ type: 'scrape-start' });
    last = await scrape(ready.port);
    exporter.send({ type: 'scrape-end' });
    const stats = await nextMessage<Extract<ExporterMessage, { type: 'stats' }>>(exporter);
    times.push(last.ms);
    maxLagMs = Math.max(maxLagMs, stats.maxLagMs);
    peakRssMiB = Math.max(peakRssMiB, stats.peakRssMiB);
    console.log(
      `scrape ${i + 1}: ${round(last.ms)} ms, ${round(last.body.length / 2 ** 20)} MiB gzip, max event-loop lag ${round(stats.maxLagMs)} ms, peak RSS ${round(stats.peakRssMiB)} MiB`,
    );
  }
  exporter.send({ type: 'exit' });

  if (!last) throw new Error('no scrape');
  const text = gunzipSync(last.body);
  let series = 0;
  for (let at = 0; at < text.length;) {
    const end = text.indexOf(10 /* \n */, at);
    if (text[at] !== 35 /* # */) series += 1;
    at = end < 0 ? text.length : end + 1;
  }
  const expectedDetail = REPORTS * VULNS_PER_REPORT;
  if (!text.subarray(-6).equals(Buffer.from('# EOF\n')))
    throw new Error('OpenMetrics body does not end with # EOF');
  if (last.headers['content-type'] !== 'application/openmetrics-text; version=1.0.0; charset=utf-8')
    throw new Error(`unexpected Content-Type ${last.headers['content-type']}`);
  console.log(
    `body: ${round(text.length / 2 ** 20)} MiB of text, ${series} series (${expectedDetail} trivy_vulnerability_id expected)`,
  );

  console.log('plain prom-client (Gauge.set per series, then registry.metrics()) …');
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
  console.log(
    `prom-client: set ${round(result.setMs / 1000, 2)} s, render ${round(result.renderMs / 1000, 2)} s, ${round(result.textMiB)} MiB of text, RSS ${round(result.rssMiB)} MiB per half`,
  );

  const scrapeMs = median(times);
  console.log(
    JSON.stringify({
      reports: REPORTS,
      series,
      scrapeMs: round(scrapeMs),
      naiveScrapeMs: round(result.renderMs),
      speedup: round(result.renderMs / scrapeMs),
      rssMiB: round(peakRssMiB),
      maxEventLoopLagMs: round(maxLagMs),
    }),
  );
}

const role = process.argv[2];
const run = role === 'exporter' ? runExporter : role === 'naive' ? runNaive : main;
run().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
