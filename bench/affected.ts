/**
 * npm run bench:affected — "where does CVE-X run?" at 10,000 VulnerabilityReports on the real local
 * control plane (the synthetic reports of bench:metrics, 100 findings each by default, with
 * CVE-2021-44228 added to a known set of them over many namespaces), answered two ways:
 *  - the CLI through the API server: `trivy-lookout affected` as a child process (whole process:
 *    start-up, listing every report, the answer), and in this process the listing and the index
 *    query timed apart;
 *  - the operator's GET /affected from its in-memory index, the operator running as a real process.
 * Progress goes to stderr; stdout ends with one JSON line. Fails when a count is not the expected.
 *
 * BENCH_REPORTS (10000), BENCH_VULNS_PER_REPORT (100), BENCH_CLI_RUNS (3), BENCH_CONCURRENCY (16).
 */
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { CoreV1Api } from '@kubernetes/client-node';
import { readReports } from '../src/cli/affected.ts';
import { kubeRequestJson } from '../src/kube/index.ts';
import { startControlPlane } from '../test/harness/control-plane.ts';
import { installCrds } from '../test/harness/crds.ts';
import { startOperator } from '../test/harness/operator-process.ts';
import { repoRoot } from '../test/harness/tools.ts';
import { waitUntil } from '../test/harness/waiting.ts';
import { NAMESPACES, namespaceOf, syntheticReportJson, vulnerabilityPool } from './synthetic-reports.ts';

const say = (line: string) => process.stderr.write(`[bench:affected] ${line}\n`);

const REPORTS = Number(process.env.BENCH_REPORTS ?? 10_000);
const VULNS_PER_REPORT = Number(process.env.BENCH_VULNS_PER_REPORT ?? 100);
const CLI_RUNS = Number(process.env.BENCH_CLI_RUNS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 16);
const ENDPOINT_CALLS = 5;
const TARGET = 'CVE-2021-44228';
/** Every 199th report runs it: 51 of 10,000, spread over the namespaces. */
const carriesTarget = (i: number) => i % 199 === 3;

const median = (values: number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const ms = (value: number) => Math.round(value * 10) / 10;

interface Report {
  metadata: { namespace: string; name: string };
  report: {
    vulnerabilities: ({ vulnerabilityID: string } & Record<string, unknown>)[];
    summary: { criticalCount: number };
  };
}

/** The i-th synthetic report, with Log4Shell in log4j-core when it is one of the carriers. */
function reportAt(i: number, pool: ReturnType<typeof vulnerabilityPool>): Report {
  const report = JSON.parse(syntheticReportJson(i, pool, VULNS_PER_REPORT)) as Report;
  if (carriesTarget(i)) {
    report.report.vulnerabilities.push({
      vulnerabilityID: TARGET,
      resource: 'org.apache.logging.log4j:log4j-core',
      installedVersion: '2.14.1',
      fixedVersion: '2.15.0, 2.12.2',
      publishedDate: '2021-12-10T10:15:00Z',
      lastModifiedDate: '2023-04-03T20:15:00Z',
      severity: 'CRITICAL',
      title:
        'log4j-core: Remote code execution in Log4j 2.x when logs contain an attacker-controlled string value',
      score: 10,
      primaryLink: 'https://avd.aquasec.com/nvd/cve-2021-44228',
      links: [],
      target: 'Java',
      class: 'lang-pkgs',
      packageType: 'jar',
    });
    report.report.summary.criticalCount += 1;
  }
  return report;
}

async function inParallel(count: number, limit: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: limit }, async () => {
      while (next < count) await fn(next++);
    }),
  );
}

/** Runs the CLI as people do from a checkout; resolves with its wall time and output. */
function runCli(kubeconfig: string): Promise<{ ms: number; stdout: string; stderr: string; code: number }> {
  const started = performance.now();
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', 'affected', TARGET, '-o', 'json', '--kubeconfig', kubeconfig],
      { cwd: repoRoot, env: { PATH: process.env.PATH, HOME: process.env.HOME }, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ ms: performance.now() - started, stdout, stderr, code });
      },
    );
  });
}

const cp = await startControlPlane({ log: say });
try {
  const kc = cp.kubeConfig();
  await installCrds(kc);
  const core = kc.makeApiClient(CoreV1Api);
  const namespaces = [
    ...new Set(Array.from({ length: Math.min(REPORTS, NAMESPACES) }, (_, i) => namespaceOf(i))),
  ];
  for (const name of ['trivy-system', ...namespaces])
    await core.createNamespace({ body: { metadata: { name } } });

  const pool = vulnerabilityPool();
  let expectedWorkloads = 0;
  const targetNamespaces = new Set<string>();
  let bytes = 0;
  const createStarted = performance.now();
  say(
    `creating ${REPORTS} VulnerabilityReports with ${VULNS_PER_REPORT} findings each (${CONCURRENCY} at a time)`,
  );
  await inParallel(REPORTS, CONCURRENCY, async (i) => {
    const report = reportAt(i, pool);
    // Counted from what is written, so a pool ID that happens to equal the target counts too.
    const hits = report.report.vulnerabilities.filter((v) => v.vulnerabilityID === TARGET).length;
    expectedWorkloads += hits;
    if (hits > 0) targetNamespaces.add(report.metadata.namespace);
    bytes += JSON.stringify(report).length;
    await kubeRequestJson(kc, {
      method: 'POST',
      path: `/apis/aquasecurity.github.io/v1alpha1/namespaces/${report.metadata.namespace}/vulnerabilityreports`,
      body: report,
    });
    if ((i + 1) % 1000 === 0) say(`${i + 1} created`);
  });
  const createSeconds = (performance.now() - createStarted) / 1000;
  say(
    `created in ${createSeconds.toFixed(1)} s (${(REPORTS / createSeconds).toFixed(0)}/s, ${(bytes / REPORTS / 1024).toFixed(1)} KiB a report, ${(bytes / 1024 / 1024).toFixed(0)} MiB in all); ${TARGET} in ${expectedWorkloads} workload containers over ${targetNamespaces.size} namespaces`,
  );

  // (a) The CLI through the API server.
  const cliTimes: number[] = [];
  let workloadsFound = -1;
  for (let run = 0; run < CLI_RUNS; run++) {
    const result = await runCli(cp.kubeconfigPath);
    if (result.code !== 0) throw new Error(`the CLI exited ${result.code}: ${result.stderr}`);
    const body = JSON.parse(result.stdout) as { reports: number; workloads: unknown[] };
    if (body.reports !== REPORTS) throw new Error(`the CLI read ${body.reports} reports, ${REPORTS} exist`);
    workloadsFound = body.workloads.length;
    cliTimes.push(result.ms);
    say(`CLI run ${run + 1}: ${result.ms.toFixed(0)} ms, ${workloadsFound} rows (${result.stderr.trim()})`);
  }
  const listStarted = performance.now();
  const index = await readReports(kc, {});
  const listMs = performance.now() - listStarted;
  const queryStarted = performance.now();
  const rows = index.affected(TARGET);
  const queryMs = performance.now() - queryStarted;
  say(
    `in process: listing ${index.size} reports into the index ${listMs.toFixed(0)} ms, the query ${queryMs.toFixed(2)} ms (${rows.length} rows)`,
  );
  if (rows.length !== expectedWorkloads)
    throw new Error(`in process: ${rows.length} rows, ${expectedWorkloads} expected`);

  // (b) The operator's endpoint, from its index.
  say('starting the operator');
  const operatorStarted = performance.now();
  const operator = await startOperator(cp.kubeconfigPath, {
    OPERATOR_AFFECTED_ENDPOINT_AUTH: 'none',
    OPERATOR_LEADER_ELECTION_ENABLED: 'false',
    OPERATOR_LOG_LEVEL: 'warn',
    // Only the reports matter here: no audits (they would run Trivy over the namespaces).
    OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED: 'false',
    OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED: 'false',
    OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED: 'false',
    OPERATOR_CLUSTER_COMPLIANCE_ENABLED: 'false',
  });
  let endpointTimes: number[] = [];
  let endpointFound = -1;
  let indexReadyMs = 0;
  try {
    await operator.waitForReady(600_000);
    const url = `${operator.baseUrl}/affected?vulnerability=${encodeURIComponent(TARGET)}`;
    // 503 until the index holds every report.
    await waitUntil('/affected to answer', async () => (await fetch(url)).status === 200, 600_000, 200);
    indexReadyMs = performance.now() - operatorStarted;
    say(`operator answering after ${(indexReadyMs / 1000).toFixed(1)} s`);
    endpointTimes = [];
    for (let call = 0; call < ENDPOINT_CALLS; call++) {
      const started = performance.now();
      const res = await fetch(url);
      const body = (await res.json()) as { vulnerabilityId?: string; workloads?: unknown[] };
      endpointTimes.push(performance.now() - started);
      if (res.status !== 200 || body.vulnerabilityId !== TARGET)
        throw new Error(`/affected: ${res.status} ${JSON.stringify(body).slice(0, 300)}`);
      endpointFound = body.workloads?.length ?? -1;
      await sleep(50);
    }
    say(`GET /affected: ${endpointTimes.map((t) => t.toFixed(1)).join(', ')} ms, ${endpointFound} rows`);
  } finally {
    await operator.stop();
  }

  const result = {
    reports: REPORTS,
    affectedMs: ms(median(cliTimes)),
    affectedEndpointMs: ms(median(endpointTimes)),
    workloadsFound,
    expectedWorkloads,
    endpointWorkloadsFound: endpointFound,
    namespaces: targetNamespaces.size,
    vulnerabilitiesPerReport: VULNS_PER_REPORT,
    cliRunsMs: cliTimes.map(ms),
    inProcessListMs: ms(listMs),
    inProcessQueryMs: Math.round(queryMs * 100) / 100,
    endpointCallsMs: endpointTimes.map(ms),
    operatorReadyMs: ms(indexReadyMs),
    createSeconds: ms(createSeconds),
  };
  say(
    `CLI through the API server: ${result.affectedMs} ms (median of ${CLI_RUNS}; listing alone ${result.inProcessListMs} ms, query ${result.inProcessQueryMs} ms); operator endpoint: ${result.affectedEndpointMs} ms (median of ${ENDPOINT_CALLS})`,
  );
  process.stdout.write(`${JSON.stringify(result)}\n`);
  if (workloadsFound !== expectedWorkloads || endpointFound !== expectedWorkloads) {
    say(
      `FAILED: found ${workloadsFound} (CLI) and ${endpointFound} (endpoint), expected ${expectedWorkloads}`,
    );
    process.exitCode = 1;
  }
} finally {
  await cp.stop();
}
