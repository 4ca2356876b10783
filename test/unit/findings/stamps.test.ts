import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decideStamps, FindingsIndex, parseFirstSeen, reportKey } from '../../../src/findings/index.ts';
import { LODASH, LOG4J_2, LOG4SHELL, vulnReport, ZLIB } from './support.ts';

const NOW = Date.parse('2026-12-03T04:00:00Z') / 1000;
const EARLIER = Date.parse('2026-11-20T08:00:00Z') / 1000;
const index = () => new FindingsIndex({ tracked: new Set(['CRITICAL', 'HIGH'] as const) });
const keyOf = (v: { id: string; pkg: string }) => `${v.id} ${v.pkg}`;
const annotated = (stamps: Record<string, string[]>) => JSON.stringify(stamps);

describe('decideStamps', () => {
  it('a finding nobody in the namespace and repository has seen is stamped now and is new; untracked severities are not stamped', () => {
    const idx = index();
    idx.apply('ADDED', vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4SHELL, ZLIB] }));
    const report = idx.get(reportKey('shop', 'replicaset-web-app'))!;
    const d = decideStamps(idx, report, NOW, false);
    assert.deepEqual([...d.stamps], [[keyOf(LOG4SHELL), { at: NOW, baseline: false }]]);
    assert.deepEqual(
      d.fresh.map((slot) => idx.row(report, slot).vulnerabilityId),
      [LOG4SHELL.id],
    );
    assert.deepEqual(parseFirstSeen(d.annotation), d.stamps);
  });

  it('a rescan that fixes one Critical and finds another: the new one alone is new, the fixed one leaves the annotation', () => {
    const idx = index();
    idx.apply(
      'ADDED',
      vulnReport({
        namespace: 'shop',
        workload: 'web',
        vulns: [LOG4SHELL],
        firstSeen: annotated({ '2026-11-20T08:00:00Z': [keyOf(LOG4SHELL)] }),
      }),
    );
    idx.apply(
      'MODIFIED',
      vulnReport({
        namespace: 'shop',
        workload: 'web',
        vulns: [LOG4J_2],
        firstSeen: annotated({ '2026-11-20T08:00:00Z': [keyOf(LOG4SHELL)] }),
      }),
    );
    const report = idx.get(reportKey('shop', 'replicaset-web-app'))!;
    const d = decideStamps(idx, report, NOW, false);
    assert.deepEqual([...d.stamps], [[keyOf(LOG4J_2), { at: NOW, baseline: false }]]);
    assert.deepEqual(
      d.fresh.map((slot) => idx.row(report, slot).vulnerabilityId),
      [LOG4J_2.id],
    );
  });

  it('another workload or tag of the same repository in the namespace takes the earliest stamp and is not new; another namespace is', () => {
    const idx = index();
    idx.apply(
      'ADDED',
      vulnReport({
        namespace: 'shop',
        workload: 'web',
        tag: '1.0',
        vulns: [LOG4SHELL],
        firstSeen: annotated({ '2026-11-20T08:00:00Z': [keyOf(LOG4SHELL)] }),
      }),
    );
    idx.apply(
      'ADDED',
      vulnReport({ namespace: 'shop', workload: 'web-canary', tag: '1.1', vulns: [LOG4SHELL, LODASH] }),
    );
    idx.apply(
      'ADDED',
      vulnReport({ namespace: 'shop-staging', workload: 'web', tag: '1.0', vulns: [LOG4SHELL] }),
    );

    const canary = idx.get(reportKey('shop', 'replicaset-web-canary-app'))!;
    const d = decideStamps(idx, canary, NOW, false);
    assert.deepEqual(d.stamps.get(keyOf(LOG4SHELL) as never), { at: EARLIER, baseline: false });
    assert.deepEqual(
      d.fresh.map((slot) => idx.row(canary, slot).vulnerabilityId),
      [LODASH.id],
    );

    const staging = idx.get(reportKey('shop-staging', 'replicaset-web-app'))!;
    assert.deepEqual(decideStamps(idx, staging, NOW, false).fresh.length, 1, 'new where it arrives');
  });

  it('on a cluster never tracked, what is there is stamped as baseline and nothing is new', () => {
    const idx = index();
    idx.apply('ADDED', vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4SHELL, LODASH] }));
    const report = idx.get(reportKey('shop', 'replicaset-web-app'))!;
    const d = decideStamps(idx, report, NOW, true);
    assert.deepEqual(d.fresh, []);
    assert.ok([...d.stamps.values()].every((s) => s.baseline && s.at === NOW));
    assert.match(d.annotation, / baseline"/);
  });

  it('a package listed twice (two paths) is one finding', () => {
    const idx = index();
    idx.apply('ADDED', vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4SHELL, LOG4SHELL] }));
    const report = idx.get(reportKey('shop', 'replicaset-web-app'))!;
    const d = decideStamps(idx, report, NOW, false);
    assert.equal(d.stamps.size, 1);
    assert.equal(d.fresh.length, 1);
  });

  it("a rollout: the old revision's report is deleted before the new tag is scanned; within the retention the new one takes its stamp, after it the finding is new again", () => {
    let now = NOW * 1000;
    const idx = new FindingsIndex({
      tracked: new Set(['CRITICAL', 'HIGH'] as const),
      retainMs: 86_400_000,
      now: () => now,
    });
    const old = vulnReport({
      namespace: 'shop',
      workload: 'web-6f5d',
      tag: '1.4',
      vulns: [LOG4SHELL],
      firstSeen: annotated({ '2026-11-20T08:00:00Z': [keyOf(LOG4SHELL)] }),
    });
    idx.apply('ADDED', old);
    idx.apply('DELETED', old);
    idx.apply(
      'ADDED',
      vulnReport({ namespace: 'shop', workload: 'web-7a8b', tag: '1.5', vulns: [LOG4SHELL] }),
    );
    const next = idx.get(reportKey('shop', 'replicaset-web-7a8b-app'))!;
    const d = decideStamps(idx, next, NOW, false);
    assert.deepEqual(d.fresh, [], 'not new');
    assert.deepEqual(
      d.stamps.get(keyOf(LOG4SHELL) as never),
      { at: EARLIER, baseline: false },
      'same first-seen',
    );
    // Another namespace never sees this scope's departed stamps.
    idx.apply(
      'ADDED',
      vulnReport({ namespace: 'shop-eu', workload: 'web-7a8b', tag: '1.5', vulns: [LOG4SHELL] }),
    );
    const eu = idx.get(reportKey('shop-eu', 'replicaset-web-7a8b-app'))!;
    assert.equal(decideStamps(idx, eu, NOW, false).fresh.length, 1);

    now += 86_400_000 + 1000;
    assert.equal(decideStamps(idx, next, NOW, false).fresh.length, 1, 'forgotten after the retention');
  });
});
