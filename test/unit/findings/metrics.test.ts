/**
 * The findings families with an injected clock: new findings appear when stamped and go after the
 * window; deadlines pass without any report changing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Registry } from 'prom-client';
import { FindingsIndex, registerFindingsMetrics } from '../../../src/findings/index.ts';
import { LODASH, LOG4J_2, LOG4SHELL, vulnReport, ZLIB } from './support.ts';

const DAY = 86_400_000;
const STAMPED = Date.parse('2026-12-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function setup() {
  let now = STAMPED;
  const index = new FindingsIndex({ tracked: new Set(['CRITICAL', 'HIGH'] as const) });
  const registry = new Registry();
  registerFindingsMetrics({
    index,
    registry,
    newWindowMs: DAY,
    policy: { deadlinesMs: { CRITICAL: 7 * DAY, HIGH: 30 * DAY }, fixableOnly: true },
    now: () => now,
  });
  return {
    index,
    at: (ms: number) => (now = ms),
    async samples(name: string) {
      const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
      return (metric?.values ?? []).map((v) => ({
        labels: v.labels as Record<string, string>,
        value: v.value,
      }));
    },
  };
}

const firstSeen = (stamps: Record<string, { id: string; pkg: string }[]>) =>
  JSON.stringify(
    Object.fromEntries(Object.entries(stamps).map(([k, vs]) => [k, vs.map((v) => `${v.id} ${v.pkg}`)])),
  );

describe('findings metrics', () => {
  it('trivy_lookout_new_vulnerability: one series per workload container and new High/Critical finding, for the window only, never for baseline', async () => {
    const m = setup();
    m.index.apply(
      'ADDED',
      vulnReport({
        namespace: 'shop',
        workload: 'web',
        vulns: [LOG4SHELL, LODASH, LOG4J_2, ZLIB],
        firstSeen: firstSeen({
          [iso(STAMPED)]: [LOG4SHELL, LODASH],
          [`${iso(STAMPED - 3 * DAY)} baseline`]: [LOG4J_2],
        }),
      }),
    );
    m.index.apply('ADDED', vulnReport({ namespace: 'shop', workload: 'unstamped', vulns: [LOG4SHELL] }));
    const series = await m.samples('trivy_lookout_new_vulnerability');
    assert.deepEqual(series.map((s) => [s.labels.vulnerability_id, s.labels.severity, s.value]).sort(), [
      [LODASH.id, 'High', STAMPED / 1000],
      [LOG4SHELL.id, 'Critical', STAMPED / 1000],
    ]);
    assert.deepEqual(series.find((s) => s.labels.vulnerability_id === LOG4SHELL.id)?.labels, {
      namespace: 'shop',
      resource_kind: 'ReplicaSet',
      resource_name: 'web',
      container_name: 'app',
      image_registry: 'registry.example.com',
      image_repository: 'shop/web',
      image_tag: '1.0',
      vulnerability_id: LOG4SHELL.id,
      severity: 'Critical',
      package: LOG4SHELL.pkg,
      installed_version: '2.14.1',
      fixed_version: '2.15.0',
    });
    m.at(STAMPED + DAY - 1000);
    assert.equal(
      (await m.samples('trivy_lookout_new_vulnerability')).length,
      2,
      'still new just before the window ends',
    );
    m.at(STAMPED + DAY + 1000);
    assert.deepEqual(await m.samples('trivy_lookout_new_vulnerability'), [], 'gone after the window');
  });

  it('remediation: counted once per namespace and repository, overdue after the deadline, fixable only', async () => {
    const m = setup();
    const stamps = firstSeen({ [iso(STAMPED)]: [LOG4SHELL, LODASH] });
    // Two workloads of one repository: one finding each, not two.
    m.index.apply(
      'ADDED',
      vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4SHELL, LODASH], firstSeen: stamps }),
    );
    m.index.apply(
      'ADDED',
      vulnReport({ namespace: 'shop', workload: 'web-canary', vulns: [LOG4SHELL], firstSeen: stamps }),
    );
    // No fix: no deadline with remediationFixableOnly.
    m.index.apply(
      'ADDED',
      vulnReport({
        namespace: 'shop',
        workload: 'cart',
        repository: 'shop/cart',
        vulns: [{ ...LOG4J_2, fixed: '' }],
        firstSeen: firstSeen({ [iso(STAMPED)]: [LOG4J_2] }),
      }),
    );
    const rows = async () =>
      Object.fromEntries(
        await Promise.all(
          ['open', 'overdue', 'oldest', 'mean'].map(async (what) => {
            const name = {
              open: 'trivy_lookout_open_vulnerabilities',
              overdue: 'trivy_lookout_overdue_vulnerabilities',
              oldest: 'trivy_lookout_oldest_open_vulnerability_age_seconds',
              mean: 'trivy_lookout_open_vulnerability_mean_age_seconds',
            }[what]!;
            const samples = await m.samples(name);
            return [
              what,
              Object.fromEntries(samples.map((s) => [`${s.labels.namespace}/${s.labels.severity}`, s.value])),
            ];
          }),
        ),
      );
    m.at(STAMPED + 6 * DAY);
    assert.deepEqual(await rows(), {
      open: { 'shop/Critical': 1, 'shop/High': 1 },
      overdue: { 'shop/Critical': 0, 'shop/High': 0 },
      oldest: { 'shop/Critical': 6 * 86_400, 'shop/High': 6 * 86_400 },
      mean: { 'shop/Critical': 6 * 86_400, 'shop/High': 6 * 86_400 },
    });
    m.at(STAMPED + 8 * DAY);
    assert.deepEqual(
      (await rows()).overdue,
      { 'shop/Critical': 1, 'shop/High': 0 },
      'the Critical is past its 7 days',
    );
    m.at(STAMPED + 31 * DAY);
    assert.deepEqual((await rows()).overdue, { 'shop/Critical': 1, 'shop/High': 1 });
    // Fixed in both workloads: nothing open, no series.
    m.index.apply(
      'MODIFIED',
      vulnReport({ namespace: 'shop', workload: 'web', vulns: [], firstSeen: stamps }),
    );
    m.index.apply(
      'MODIFIED',
      vulnReport({ namespace: 'shop', workload: 'web-canary', vulns: [], firstSeen: stamps }),
    );
    assert.deepEqual((await rows()).open, {});
    assert.deepEqual(
      await m
        .samples('trivy_lookout_remediation_deadline_seconds')
        .then((s) => s.map((x) => [x.labels.severity, x.value]).sort()),
      [
        ['Critical', 7 * 86_400],
        ['High', 30 * 86_400],
      ],
    );
  });
});
