import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import {
  OperatorHealthMetrics,
  ScanFailureReason,
  ScanMetrics,
  ScanOutcome,
  TrivyDatabase,
} from '../../../src/metrics/index.ts';
import { promtoolCheck } from './support.ts';

const lines = (text: string, prefix: string) => text.split('\n').filter((line) => line.startsWith(prefix));

describe('ScanMetrics', () => {
  const image = {
    registry: 'index.docker.io',
    repository: 'library/nginx',
    tag: '1.27',
    digest: 'sha256:abc',
  };
  const labels =
    'image_registry="index.docker.io",image_repository="library/nginx",image_tag="1.27",image_digest="sha256:abc"';

  it('records queue depth, running scans, durations, failures and last successes', async () => {
    const registry = new Registry();
    const scans = new ScanMetrics(registry);
    scans.queued(7);
    scans.running(3);
    scans.scanFinished({
      image,
      durationMs: 42_000,
      outcome: ScanOutcome.succeeded,
      finishedAt: 1_750_000_000_000,
    });
    scans.scanFinished({
      image,
      durationMs: 300_000,
      outcome: ScanOutcome.failed,
      reason: ScanFailureReason.timeout,
    });
    scans.scanFinished({ image, durationMs: 1_000, outcome: ScanOutcome.failed });
    const text = await registry.metrics();

    assert.deepEqual(lines(text, 'trivy_lookout_scans_'), [
      'trivy_lookout_scans_queued 7',
      'trivy_lookout_scans_running 3',
    ]);
    assert.deepEqual(lines(text, 'trivy_lookout_image_last_successful_scan_timestamp_seconds{'), [
      `trivy_lookout_image_last_successful_scan_timestamp_seconds{${labels}} 1750000000`,
    ]);
    const failures = lines(text, 'trivy_lookout_scan_failures_total{');
    assert.equal(
      failures.length,
      Object.keys(ScanFailureReason).length,
      'every reason is present from the start',
    );
    assert.ok(failures.includes('trivy_lookout_scan_failures_total{reason="timeout"} 1'));
    assert.ok(failures.includes('trivy_lookout_scan_failures_total{reason="other"} 1'));
    assert.ok(failures.includes('trivy_lookout_scan_failures_total{reason="image_pull"} 0'));
    assert.ok(text.includes('trivy_lookout_scan_duration_seconds_count{outcome="succeeded"} 1'));
    assert.ok(text.includes('trivy_lookout_scan_duration_seconds_bucket{le="60",outcome="succeeded"} 1'));
    assert.ok(text.includes('trivy_lookout_scan_duration_seconds_count{outcome="failed"} 2'));

    scans.forgetImage(image);
    assert.deepEqual(
      lines(await registry.metrics(), 'trivy_lookout_image_last_successful_scan_timestamp_seconds{'),
      [],
    );
  });

  it('exports the Trivy DB build time and age only once known', async () => {
    const registry = new Registry();
    const scans = new ScanMetrics(registry);
    assert.deepEqual(lines(await registry.metrics(), 'trivy_lookout_trivy_db_'), []);
    const builtAt = Date.now() - 3 * 3600_000;
    scans.dbUpdated(new Date(builtAt));
    scans.dbUpdated(builtAt - 3600_000, TrivyDatabase.javaIndex);
    const text = await registry.metrics();
    assert.deepEqual(lines(text, 'trivy_lookout_trivy_db_updated_timestamp_seconds{'), [
      `trivy_lookout_trivy_db_updated_timestamp_seconds{db="trivy-db"} ${builtAt / 1000}`,
      `trivy_lookout_trivy_db_updated_timestamp_seconds{db="trivy-java-db"} ${builtAt / 1000 - 3600}`,
    ]);
    const age = Number(lines(text, 'trivy_lookout_trivy_db_age_seconds{db="trivy-db"}')[0]?.split(' ')[1]);
    assert.ok(age >= 3 * 3600 && age < 3 * 3600 + 60, String(age));
  });

  it('lives in the operator health registry, whose output promtool accepts', async () => {
    const health = new OperatorHealthMetrics();
    health.scans.running(1);
    health.watchRestarted('vulnerabilityreports', 'gone');
    const text = await health.registry.metrics();
    assert.ok(text.includes('trivy_lookout_scans_running 1'));
    const { status, output } = promtoolCheck(text);
    assert.equal(status, 0, output);
  });
});
