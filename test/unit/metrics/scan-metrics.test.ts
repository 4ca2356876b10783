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
    const key = 'index.docker.io/library/nginx@sha256:abc';
    scans.scanFinished({
      key,
      image,
      durationMs: 42_000,
      outcome: ScanOutcome.succeeded,
      finishedAt: 1_750_000_000_000,
    });
    scans.scanFinished({
      key,
      image,
      durationMs: 300_000,
      outcome: ScanOutcome.failed,
      reason: ScanFailureReason.timeout,
    });
    scans.scanFinished({ key, image, durationMs: 1_000, outcome: ScanOutcome.failed });
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

    // The latest failure (reason other) replaced the timeout one: one failing series per image.
    assert.deepEqual(lines(text, 'trivy_lookout_image_scan_failing{'), [
      `trivy_lookout_image_scan_failing{${labels},reason="other"} 1`,
    ]);

    scans.forgetImage(key);
    const after = await registry.metrics();
    assert.deepEqual(lines(after, 'trivy_lookout_image_last_successful_scan_timestamp_seconds{'), []);
    assert.deepEqual(lines(after, 'trivy_lookout_image_scan_failing{'), []);
  });

  it("clears an image's failing series when a scan of it succeeds, and moves series when its labels change", async () => {
    const registry = new Registry();
    const scans = new ScanMetrics(registry);
    const key = 'ghcr.io/acme/api@sha256:def';
    const api = { registry: 'ghcr.io', repository: 'acme/api', tag: '', digest: 'sha256:def' };
    scans.scanFinished({
      key,
      image: api,
      durationMs: 1,
      outcome: ScanOutcome.failed,
      reason: ScanFailureReason.registryAuth,
    });
    assert.deepEqual(lines(await registry.metrics(), 'trivy_lookout_image_scan_failing{'), [
      'trivy_lookout_image_scan_failing{image_registry="ghcr.io",image_repository="acme/api",image_tag="",image_digest="sha256:def",reason="registry_auth"} 1',
    ]);
    // The tag became known and the retry succeeded: no failing series, one last-success series.
    scans.scanFinished({
      key,
      image: { ...api, tag: '2.1' },
      durationMs: 1,
      outcome: ScanOutcome.succeeded,
      finishedAt: 1_000,
    });
    const text = await registry.metrics();
    assert.deepEqual(lines(text, 'trivy_lookout_image_scan_failing{'), []);
    assert.deepEqual(lines(text, 'trivy_lookout_image_last_successful_scan_timestamp_seconds{'), [
      'trivy_lookout_image_last_successful_scan_timestamp_seconds{image_registry="ghcr.io",image_repository="acme/api",image_tag="2.1",image_digest="sha256:def"} 1',
    ]);
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
