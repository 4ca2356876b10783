/**
 * The findings families with an injected clock: new findings appear when stamped and go after the
 * window; deadlines pass without any report changing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { FindingsIndex, FindingsSeries } from '../../../src/findings/index.ts';
import { LODASH, LOG4J_2, LOG4SHELL, vulnReport, ZLIB } from './support.ts';

const DAY = 86_400_000;
const STAMPED = Date.parse('2026-12-01T00:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');

function setup() {
  let now = STAMPED;
  const index = new FindingsIndex({ tracked: new Set(['CRITICAL', 'HIGH'] as const) });
  const series = new FindingsSeries({
    index,
    newWindowMs: DAY,
    policy: { deadlinesMs: { CRITICAL: 7 * DAY, HIGH: 30 * DAY }, fixableOnly: true },
    now: () => now,
  });
  /** Every family as a scrape writes it, parsed back. */
  const scrape = () =>
    series
      .members()
      .map((m) => gunzipSync(m).toString())
      .join('')
      .split('\n')
      .filter((line) => line && !line.startsWith('#'))
      .map((line) => {
        const [, name = '', labels = '', value = ''] = /^(\w+)\{(.*)\} (\S+)$/.exec(line) ?? [];
        return {
          name,
          labels: Object.fromEntries(
            [...labels.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']),
          ),
          value: Number(value),
        };
      });
  return {
    index,
    series,
    at: (ms: number) => (now = ms),
    newSeries: () => scrape().filter((s) => s.name === 'trivy_lookout_new_vulnerability'),
    samples: (name: string) => scrape().filter((s) => s.name === name),
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
    const series = m.newSeries();
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
    assert.equal(m.newSeries().length, 2, 'still new just before the window ends');
    m.at(STAMPED + DAY + 1000);
    assert.deepEqual(m.newSeries(), [], 'gone after the window, though no report changed');
    // A rescan stamps a new finding: rendered again at once.
    m.index.apply(
      'MODIFIED',
      vulnReport({
        namespace: 'shop',
        workload: 'web',
        vulns: [LOG4SHELL, LODASH, LOG4J_2, ZLIB, { ...ZLIB, id: 'CVE-2026-0001', severity: 'CRITICAL' }],
        firstSeen: firstSeen({
          [iso(STAMPED)]: [LOG4SHELL, LODASH],
          [iso(STAMPED + DAY)]: [{ id: 'CVE-2026-0001', pkg: ZLIB.pkg }],
        }),
      }),
    );
    assert.deepEqual(
      m.newSeries().map((s) => [s.labels.vulnerability_id, s.value]),
      [['CVE-2026-0001', (STAMPED + DAY) / 1000]],
    );
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
              oldest: 'trivy_lookout_oldest_open_vulnerability_timestamp_seconds',
              mean: 'trivy_lookout_open_vulnerability_mean_timestamp_seconds',
            }[what]!;
            const samples = m.samples(name);
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
      // Timestamps: the age is time() minus these, in PromQL.
      oldest: { 'shop/Critical': STAMPED / 1000, 'shop/High': STAMPED / 1000 },
      mean: { 'shop/Critical': STAMPED / 1000, 'shop/High': STAMPED / 1000 },
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
      m
        .samples('trivy_lookout_remediation_deadline_seconds')
        .map((x) => [x.labels.severity, x.value])
        .sort(),
      [
        ['Critical', 7 * 86_400],
        ['High', 30 * 86_400],
      ],
    );
  });
});
