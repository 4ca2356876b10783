import assert from 'node:assert/strict';
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
});
