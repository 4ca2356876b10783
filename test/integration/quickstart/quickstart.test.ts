/**
 * The quick start as a newcomer runs it: `bash scripts/start.sh` brings up the control plane, a
 * real node with local registries, sample workloads on that node, the operator with real Trivy
 * scan Jobs and a TEST vulnerability DB, and Prometheus. What must come out: reports with exactly
 * the test DB's findings for the sample images (log4j's CVE-2021-44228 in the java image, the two
 * planted AWS secrets), metrics, a firing alert, config audit, node-collector and compliance
 * reports; and after Ctrl-C nothing left: no process, mount, bridge or node claim of its run.
 * (The node collector still runs on two harness nodes with sample host file systems: a real node
 * cannot be given a badly configured kubelet to find.) With `--in-cluster` the same start installs
 * the Helm chart instead of running the operator as a local process: its pod runs the operator image
 * built here, writes the reports and serves /metrics at its pod IP; Ctrl-C again leaves nothing.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { expectedFindings } from '../../harness/images/index.ts';
import {
  allClaims,
  claimIsLive,
  instanceNetwork,
  netnsExists,
  type InstanceNetwork,
} from '../../harness/node/index.ts';
import { freePort } from '../../harness/ports.ts';
import { kubectl } from '../../harness/kubectl.ts';
import { repoRoot } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

const runDir = path.join(repoRoot, '.run', 'quickstart');

/**
 * Processes of this quick start: the script itself (`start.sh` execs it, so it keeps the spawned
 * pid), those whose command line mentions its folder (etcd, apiserver, the node's containerd,
 * kubelet and shims via `-address <dir>/node/containerd.sock`, the registries, the operator), and
 * the watchdogs waiting on its pid (the harness kubelet's and Prometheus'). Not those of other
 * test runs on the machine, which have harness kubelets of their own.
 */
function leftovers(pid: number | undefined): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter(
      (line) =>
        line.includes(runDir) ||
        (pid !== undefined && (line.trim().startsWith(`${pid} `) || line.includes(`kill -0 ${pid} `))),
    );
}

/** Mount points below the quick start's folder (container root file systems, netns, volumes). */
function leftoverMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter((line) => line.includes(runDir));
}

function linkExists(name: string): boolean {
  try {
    execFileSync('ip', ['link', 'show', name], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** `bash scripts/start.sh …` as its own process group, as a terminal runs it. */
function startQuickStart(args: string[]) {
  const child = spawn('bash', ['scripts/start.sh', ...args], {
    cwd: repoRoot,
    env: { ...process.env, KUBECONFIG: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, exited, output: () => output };
}

/** Ctrl-C (a terminal signals the whole foreground process group); resolves to the exit code. */
async function interrupt(child: ChildProcess, exited: Promise<number | null>): Promise<unknown> {
  if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGINT');
  return Promise.race([
    exited,
    // Unref'd: a pending timer would hold the test process for its whole length.
    new Promise((r) => setTimeout(() => r('timeout'), 120_000).unref()),
  ]);
}

/** After the quick start exited: no process, mount, link, namespace or node claim of its run. */
async function assertNothingLeft(pid: number | undefined, nodeNet: InstanceNetwork | undefined) {
  await waitUntil('every process to be gone', () => leftovers(pid).length === 0 || undefined, 15_000).catch(
    () => {
      assert.deepEqual(leftovers(pid), [], 'processes left behind');
    },
  );
  assert.deepEqual(leftoverMounts(), [], 'mounts left behind');
  assert.ok(nodeNet, 'the node network was recorded');
  // Once released, the instance may be claimed at once by another run on this machine (a test
  // file, a benchmark), which then owns a link and namespace of the same name.
  const reclaimed = allClaims().some(
    (c) => c.index === nodeNet.index && !c.dir.startsWith(runDir) && claimIsLive(c),
  );
  if (!reclaimed) {
    assert.equal(linkExists(nodeNet.hostLink), false, `the node link ${nodeNet.hostLink} is gone`);
    assert.equal(netnsExists(nodeNet), false, `the node namespace ${nodeNet.netns} is gone`);
  }
  assert.equal(
    allClaims().filter((c) => c.dir.startsWith(runDir)).length,
    0,
    'the node instance is released',
  );
}

interface VulnReport {
  metadata: { name: string; namespace: string };
  report: {
    vulnerabilities?: { vulnerabilityID: string; severity: string; resource: string }[];
    secrets?: { ruleID: string; severity: string }[];
    scanner: { name: string };
    registry: { server: string };
  };
}

describe('the quick start (npm start), driven as a newcomer would', () => {
  it(
    'scans the sample workloads for real, brings up metrics and Prometheus, and Ctrl-C leaves nothing behind',
    { timeout: 480_000 },
    async () => {
      let nodeNet: InstanceNetwork | undefined;
      const port = await freePort();
      const { child, exited, output: out } = startQuickStart(['--port', String(port)]);
      let output = '';
      try {
        await waitUntil(
          '"up. Try:"',
          () => out().includes('[start] up. Try:') || child.exitCode !== null,
          360_000,
          500,
        );
        output = out();
        assert.equal(child.exitCode, null, output);
        // Real scans with a test DB, labelled as test data; nothing replayed.
        assert.match(output, /TEST DATA: scans use a TEST vulnerability DB with [1-9]\d* advisories/);
        assert.doesNotMatch(output, /replay/i);
        const claim = allClaims().find((c) => c.dir.startsWith(runDir));
        assert.ok(claim, 'the quick start claimed a real node instance');
        nodeNet = instanceNetwork(claim.index);

        const kubeconfig = /--kubeconfig (\S+) get vulnerabilityreports/.exec(output)?.[1];
        assert.ok(kubeconfig, output);
        const list = async (kind: string) =>
          (
            JSON.parse(await kubectl(kubeconfig, ['get', kind, '-A', '-o', 'json'])) as {
              items: VulnReport[];
            }
          ).items;
        const reports = await list('vulnerabilityreports');
        assert.ok(reports.length >= 7, reports.map((r) => r.metadata.name).join('\n'));
        // storefront runs the java test image: exactly the test DB's findings, log4shell among them.
        const storefront = reports.find(
          (r) => r.metadata.namespace === 'shop' && /^replicaset-storefront-.*-web$/.test(r.metadata.name),
        );
        assert.ok(storefront, reports.map((r) => r.metadata.name).join('\n'));
        assert.equal(storefront.report.scanner.name, 'Trivy');
        assert.deepEqual(
          (storefront.report.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort(),
          expectedFindings.java.v1.vulnerabilities.map((v) => v.id).sort(),
        );
        const log4shell = storefront.report.vulnerabilities?.find(
          (v) => v.vulnerabilityID === 'CVE-2021-44228',
        );
        assert.equal(log4shell?.severity, 'CRITICAL');
        assert.equal(log4shell?.resource, 'org.apache.logging.log4j:log4j-core');
        // payments-api runs the secret test image: its two planted AWS keys, found by the scan Job.
        const secrets = await waitUntil(
          "payments-api's exposed secret report",
          async () =>
            (await list('exposedsecretreports')).find(
              (r) =>
                r.metadata.namespace === 'payments' &&
                /^replicaset-payments-api-.*-api$/.test(r.metadata.name),
            ),
          60_000,
          1_000,
        );
        assert.deepEqual(
          (secrets.report.secrets ?? []).map((x) => `${x.ruleID}/${x.severity}`).sort(),
          expectedFindings.secret.v1.secrets.map((x) => `${x.ruleId}/${x.severity}`).sort(),
        );

        const metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text());
        assert.match(metrics, /^trivy_image_vulnerabilities\{.*namespace="shop".*\} \d+/m);

        const promUrl = /open (http:\/\/127\.0\.0\.1:\d+)\/alerts/.exec(output)?.[1];
        assert.ok(promUrl, output);
        await waitUntil(
          'Prometheus to scrape the operator',
          async () => {
            const body = (await fetch(`${promUrl}/api/v1/query?query=up`).then((r) => r.json())) as {
              data: { result: { value: [number, string] }[] };
            };
            return body.data.result.some((r) => r.value[1] === '1');
          },
          60_000,
          1_000,
        );
        // The shipped rules are loaded: the payments image carries two CRITICAL secrets, which fire
        // the critical-severity exposed-secrets alert at once, and the sample images' Critical CVEs
        // are new in their namespaces (nothing was there before), which fires the new-CVE page.
        const firingCritical = async () => {
          const body = (await fetch(`${promUrl}/api/v1/alerts`).then((r) => r.json())) as {
            data: { alerts: { labels: Record<string, string>; state: string }[] };
          };
          return new Set(
            body.data.alerts
              .filter((a) => a.state === 'firing' && a.labels.severity === 'critical')
              .map((a) => a.labels.alertname),
          );
        };
        await waitUntil(
          'the exposed-secrets and new-CVE alerts to fire',
          async () => {
            const names = await firingCritical();
            return names.has('TrivyExposedSecrets') && names.has('TrivyNewCriticalVulnerability');
          },
          60_000,
          1_000,
        );
        // The quick start names what fires, one line per alert name.
        assert.match(output, /alert firing: Trivy\w+ \(critical\)/);

        // The config audit ran the real Trivy checks: the privileged sample DaemonSet fails AVD-KSV-0017.
        const audit = await waitUntil(
          "the log-agent DaemonSet's config audit report",
          async () =>
            JSON.parse(
              await kubectl(kubeconfig, [
                'get',
                'configauditreport',
                '-n',
                'monitoring-agents',
                'daemonset-log-agent',
                '-o',
                'json',
              ]),
            ) as { report: { checks: { checkID: string; success: boolean }[] } },
          60_000,
          1_000,
        );
        assert.ok(
          audit.report.checks.some((c) => c.checkID === 'AVD-KSV-0017' && !c.success),
          JSON.stringify(audit.report.checks.map((c) => c.checkID)),
        );
        // The sample node with anonymous kubelet auth fails AVD-KCV-0079; compliance reports get evaluated.
        const node = JSON.parse(
          await kubectl(kubeconfig, [
            'get',
            'clusterinfraassessmentreport',
            'node-harness-node-1',
            '-o',
            'json',
          ]),
        ) as { report: { checks: { checkID: string; success: boolean }[] } };
        assert.ok(node.report.checks.some((c) => c.checkID === 'AVD-KCV-0079' && !c.success));
        await waitUntil(
          'the compliance reports to be evaluated (one-minute schedule in the quick start)',
          async () => {
            const list = JSON.parse(
              await kubectl(kubeconfig, ['get', 'clustercompliancereports', '-o', 'json']),
            ) as { items: { status?: { summary?: { failCount: number } } }[] };
            return list.items.length === 4 && list.items.every((r) => r.status?.summary !== undefined);
          },
          90_000,
          2_000,
        );
      } finally {
        const code = await interrupt(child, exited);
        assert.equal(code, 0, out().slice(-3000));
        assert.doesNotMatch(out(), /shutdown took too long/, 'the operator shuts down cleanly on Ctrl-C');
      }
      await assertNothingLeft(child.pid, nodeNet);
    },
  );

  it(
    '--in-cluster installs the chart: the operator image runs on the node, reports and serves /metrics, and Ctrl-C leaves nothing behind',
    { timeout: 600_000 },
    async () => {
      let nodeNet: InstanceNetwork | undefined;
      const { child, exited, output: out } = startQuickStart(['--in-cluster']);
      try {
        // The operator image is built (or taken from the cache) before helm install.
        await waitUntil(
          '"up. Try:"',
          () => out().includes('[start] up. Try:') || child.exitCode !== null,
          480_000,
          500,
        );
        const output = out();
        assert.equal(child.exitCode, null, output);
        assert.match(output, /helm install trivy-lookout charts\/trivy-lookout in trivy-system/);
        assert.doesNotMatch(output, /starting the operator$/m, 'no local operator process');
        const claim = allClaims().find((c) => c.dir.startsWith(runDir));
        assert.ok(claim, 'the quick start claimed a real node instance');
        nodeNet = instanceNetwork(claim.index);

        const kubeconfig = /--kubeconfig (\S+) get vulnerabilityreports/.exec(output)?.[1];
        const image = /the operator runs in-cluster: .*, image (\S+)$/m.exec(output)?.[1];
        const metricsUrl = /curl (http:\/\/\S+\/metrics)/.exec(output)?.[1];
        assert.ok(kubeconfig && image && metricsUrl, output);
        assert.match(image, /\/trivy-lookout\/operator:/);
        const pods = JSON.parse(
          await kubectl(kubeconfig, [
            'get',
            'pods',
            '-n',
            'trivy-system',
            '-l',
            'app.kubernetes.io/instance=trivy-lookout',
            '-o',
            'json',
          ]),
        ) as {
          items: {
            status: {
              podIP: string;
              conditions: { type: string; status: string }[];
              containerStatuses: { image: string; restartCount: number }[];
            };
          }[];
        };
        assert.equal(pods.items.length, 1);
        const pod = pods.items[0]!;
        assert.equal(pod.status.containerStatuses[0]?.image, image, 'the pod runs the image built here');
        assert.ok(pod.status.conditions.some((c) => c.type === 'Ready' && c.status === 'True'));
        assert.equal(metricsUrl, `http://${pod.status.podIP}:8080/metrics`);

        // The in-cluster operator's scan Jobs wrote the sample workloads' reports.
        const reports = (
          JSON.parse(await kubectl(kubeconfig, ['get', 'vulnerabilityreports', '-A', '-o', 'json'])) as {
            items: VulnReport[];
          }
        ).items;
        const storefront = reports.find(
          (r) => r.metadata.namespace === 'shop' && /^replicaset-storefront-.*-web$/.test(r.metadata.name),
        );
        assert.ok(storefront, reports.map((r) => r.metadata.name).join('\n'));
        assert.deepEqual(
          (storefront.report.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort(),
          expectedFindings.java.v1.vulnerabilities.map((v) => v.id).sort(),
        );
        // The URL it printed answers from this machine, with those reports' series.
        const metrics = await fetch(metricsUrl).then((r) => r.text());
        assert.match(metrics, /^trivy_image_vulnerabilities\{.*namespace="shop".*\} \d+/m);
      } finally {
        const code = await interrupt(child, exited);
        assert.equal(code, 0, out().slice(-3000));
      }
      await assertNothingLeft(child.pid, nodeNet);
    },
  );
});
