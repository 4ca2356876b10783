import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo, type Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startOperator } from '../../harness/operator-process.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';

describe('the operator process against the local control plane', () => {
  let cluster: TestCluster;
  before(async () => {
    cluster = await useTestCluster();
  });
  after(async () => cluster?.release());

  it('becomes ready once its caches are synced, answers health and metrics, and stops on SIGTERM', async () => {
    const operator = await startOperator(cluster.kubeconfigPath);
    try {
      await operator.waitForReady();
      await operator.waitForLog((line) => line.msg === 'caches synced; ready');

      const healthz = await fetch(`${operator.baseUrl}/healthz`);
      assert.equal(healthz.status, 200);
      assert.equal(await healthz.text(), 'ok');

      const metrics = await fetch(`${operator.baseUrl}/metrics`);
      assert.equal(metrics.status, 200);
      assert.match(metrics.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
      assert.match(await metrics.text(), /^process_resident_memory_bytes \d+/m);

      // A namespace created after start-up is picked up by the watch.
      const ns = await cluster.createNamespace('late');
      assert.ok(ns);
    } finally {
      const code = await operator.stop();
      assert.equal(code, 0, operator.stderr());
      assert.ok(
        operator.logs().some((line) => line.msg === 'stopped'),
        'logs a clean stop',
      );
    }
  });

  it('refuses bad configuration at start-up with one line per bad setting, exit code 2', async () => {
    const operator = await startOperator(cluster.kubeconfigPath, {
      OPERATOR_SCAN_JOB_TIMEOUT: '5 minutes',
      OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT: '-3',
      OPERATOR_TRIVY_MODE: 'Remote',
    });
    const code = await operator.exited;
    assert.equal(code, 2);
    const lines = operator.stderr().trimEnd().split('\n');
    const about = (setting: string) => lines.filter((line) => line.includes(setting));
    assert.equal(about('OPERATOR_SCAN_JOB_TIMEOUT').length, 1, operator.stderr());
    assert.match(about('OPERATOR_SCAN_JOB_TIMEOUT')[0] ?? '', /"5 minutes".*duration/);
    assert.equal(about('OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT').length, 1, operator.stderr());
    assert.equal(about('OPERATOR_TRIVY_MODE').length, 1, operator.stderr());
    assert.match(about('OPERATOR_TRIVY_MODE')[0] ?? '', /Standalone.*ClientServer|ClientServer.*Standalone/);
    assert.equal(operator.stdout(), '', 'nothing starts before configuration is valid');
  });

  it('exits with a clear message when the API server cannot be reached', async () => {
    const operator = await startOperator('/nonexistent/kubeconfig');
    const code = await operator.exited;
    assert.equal(code, 1);
    const fatal = operator.logs().find((line) => line.level === 60);
    assert.ok(fatal, operator.stdout() + operator.stderr());
    assert.equal(fatal.code, 'TL_KUBE_CONFIG');
  });

  it('shuts down cleanly on SIGTERM while its caches are still syncing (exit 0, not killed by the signal)', async () => {
    // An API server that accepts connections and never answers, as an overloaded one does: the
    // real one cannot be made to stall without stalling every other test of the shared cluster.
    // In: SIGTERM once the HTTP server listens, the caches still waiting for their first list.
    // Out: a logged clean stop and exit code 0 (before the fix: no handler yet, killed by the signal).
    const sockets = new Set<Socket>();
    const blackHole = net.createServer((socket) => {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
    });
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-stalled-api-'));
    const kubeconfig = path.join(dir, 'kubeconfig');
    writeFileSync(
      kubeconfig,
      [
        'apiVersion: v1',
        'kind: Config',
        'clusters:',
        `- name: stalled\n  cluster:\n    server: https://127.0.0.1:${(blackHole.address() as AddressInfo).port}\n    insecure-skip-tls-verify: true`,
        'users:',
        '- name: stalled\n  user:\n    token: not-used',
        'contexts:',
        '- name: stalled\n  context:\n    cluster: stalled\n    user: stalled',
        'current-context: stalled',
      ].join('\n'),
    );
    try {
      const operator = await startOperator(kubeconfig, { OPERATOR_NAMESPACE: 'trivy-system' });
      await operator.waitForLog((line) => String(line.msg).startsWith('http server listening'));
      const ready = await fetch(`${operator.baseUrl}/readyz`);
      assert.equal(ready.status, 503, 'still syncing');
      operator.child.kill('SIGTERM');
      assert.equal(await operator.exited, 0, operator.stdout() + operator.stderr());
      assert.ok(operator.logs().some((line) => line.msg === 'stopped'));
      assert.ok(!operator.logs().some((line) => line.msg === 'caches synced; ready'));
    } finally {
      for (const socket of sockets) socket.destroy();
      blackHole.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
