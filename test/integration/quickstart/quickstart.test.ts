import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import path from 'node:path';
import { describe, it } from 'node:test';
import { freePort } from '../../harness/ports.ts';
import { kubectl } from '../../harness/kubectl.ts';
import { repoRoot } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

/** Processes whose command line mentions the quick start's own folder (its etcd, apiserver …). */
function leftovers(): string[] {
  const out = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' });
  const marker = path.join(repoRoot, '.run', 'quickstart');
  return out
    .split('\n')
    .filter((line) => line.includes(marker) || /scripts\/quickstart\.ts|harness-kubelet-/.test(line));
}

describe('the quick start (npm start), driven as a newcomer would', () => {
  it(
    'brings up reports, metrics and Prometheus, and Ctrl-C leaves no process behind',
    { timeout: 300_000 },
    async () => {
      const port = await freePort();
      const child = spawn('bash', ['scripts/start.sh', '--port', String(port)], {
        cwd: repoRoot,
        env: { ...process.env, KUBECONFIG: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      try {
        await waitUntil(
          '"up. Try:"',
          () => output.includes('[start] up. Try:') || child.exitCode !== null,
          240_000,
          500,
        );
        assert.equal(child.exitCode, null, output);
        assert.match(output, /SAMPLE DATA/, 'sample data is labelled as such');

        const kubeconfig = /--kubeconfig (\S+) get vulnerabilityreports/.exec(output)?.[1];
        assert.ok(kubeconfig, output);
        const reports = await kubectl(kubeconfig, ['get', 'vulnerabilityreports', '-A', '--no-headers']);
        assert.ok(reports.trim().split('\n').length >= 7, reports);

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
        // The shipped rules are loaded: the sample payments image carries a secret, which fires the
        // critical-severity exposed-secrets alert at once (the new-CRITICAL alert needs an hour of history).
        const alert = await waitUntil(
          'a firing critical alert',
          async () => {
            const body = (await fetch(`${promUrl}/api/v1/alerts`).then((r) => r.json())) as {
              data: { alerts: { labels: Record<string, string>; state: string }[] };
            };
            return body.data.alerts.find((a) => a.state === 'firing' && a.labels.severity === 'critical');
          },
          60_000,
          1_000,
        );
        assert.equal(alert.labels.alertname, 'TrivyExposedSecrets');
        assert.match(output, /alert firing: TrivyExposedSecrets \(critical\)/);

        // The config audit ran the real Trivy checks: the privileged sample DaemonSet fails KSV017.
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
          audit.report.checks.some((c) => c.checkID === 'KSV017' && !c.success),
          JSON.stringify(audit.report.checks.map((c) => c.checkID)),
        );
        // The sample node with anonymous kubelet auth fails KCV0079; compliance reports get evaluated.
        const node = JSON.parse(
          await kubectl(kubeconfig, [
            'get',
            'clusterinfraassessmentreport',
            'node-harness-node-1',
            '-o',
            'json',
          ]),
        ) as { report: { checks: { checkID: string; success: boolean }[] } };
        assert.ok(node.report.checks.some((c) => c.checkID === 'KCV0079' && !c.success));
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
        // Ctrl-C in a terminal signals the whole foreground process group.
        if (child.exitCode === null && child.pid) process.kill(-child.pid, 'SIGINT');
        const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 60_000))]);
        assert.equal(code, 0, output.slice(-3000));
        assert.doesNotMatch(output, /shutdown took too long/, 'the operator shuts down cleanly on Ctrl-C');
      }
      await waitUntil('every process to be gone', () => leftovers().length === 0 || undefined, 15_000).catch(
        () => {
          assert.deepEqual(leftovers(), [], 'processes left behind');
        },
      );
    },
  );
});
