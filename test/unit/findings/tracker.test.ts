/**
 * The leader's tracker over an index fed by hand, with the write injected: what it writes, when
 * it treats findings as baseline, how it retries, and what it hands to the webhook.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import pino from 'pino';
import {
  FIRST_SEEN_ANNOTATION,
  FindingsIndex,
  FirstSeenTracker,
  parseFirstSeen,
  type NewFindings,
} from '../../../src/findings/index.ts';
import { KubeHttpError } from '../../../src/kube/index.ts';
import { LODASH, LOG4J_2, LOG4SHELL, vulnReport } from './support.ts';
import type { KubernetesObject } from '@kubernetes/client-node';

const NOW = Date.parse('2026-12-03T04:00:00Z');

function setup(options: { fail?: (attempt: number) => Error | undefined; baselineTaken?: boolean } = {}) {
  let baselineTaken = options.baselineTaken ?? false;
  const index = new FindingsIndex({ tracked: new Set(['CRITICAL', 'HIGH'] as const) });
  const objects = new Map<string, KubernetesObject>();
  const writes: { name: string; annotation: string }[] = [];
  const news: NewFindings[] = [];
  let attempts = 0;
  const put = (obj: KubernetesObject) => {
    const type = objects.has(obj.metadata!.name!) ? 'MODIFIED' : 'ADDED';
    objects.set(obj.metadata!.name!, obj);
    index.apply(type, obj);
  };
  const tracker = new FirstSeenTracker({
    kc: new KubeConfig(),
    namespace: 'trivy-system',
    index,
    baselineMarker: {
      taken: async () => baselineTaken,
      record: async () => {
        baselineTaken = true;
      },
    },
    log: pino({ level: 'silent' }),
    synced: async () => {},
    now: () => NOW,
    backoff: { initialMs: 5, maxMs: 10 },
    onNewFindings: (n) => news.push(n),
    write: async (_namespace, name, annotation) => {
      const failure = options.fail?.(attempts++);
      if (failure) throw failure;
      writes.push({ name, annotation });
      // The write comes back through the watch, as the API server would send it.
      const current = objects.get(name)!;
      setImmediate(() =>
        put({
          ...current,
          metadata: {
            ...current.metadata,
            annotations: { ...current.metadata?.annotations, [FIRST_SEEN_ANNOTATION]: annotation },
          },
        }),
      );
    },
  });
  return { index, tracker, put, writes, news, objects, baselineTaken: () => baselineTaken };
}

const settle = async (tracker: FirstSeenTracker) => {
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 5));
    await tracker.idle();
  }
};

describe('FirstSeenTracker', () => {
  it('on a cluster never tracked, stamps what exists as baseline and announces nothing; a later arrival is new', async () => {
    const t = setup();
    t.put(vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4SHELL] }));
    await t.tracker.start();
    await settle(t.tracker);
    assert.equal(t.writes.length, 1);
    assert.match(t.writes[0]!.annotation, / baseline"/);
    assert.equal(t.news.length, 0);
    assert.equal(t.baselineTaken(), true, 'the baseline is recorded once stamped');

    t.put(vulnReport({ namespace: 'shop', workload: 'cart', repository: 'shop/cart', vulns: [LODASH] }));
    await settle(t.tracker);
    assert.equal(t.writes.length, 2);
    assert.deepEqual(
      t.news.map((n) => [n.report, n.findings.map((f) => [f.vulnerabilityId, f.firstSeen])]),
      [['replicaset-cart-app', [[LODASH.id, '2026-12-03T04:00:00Z']]]],
    );
    await t.tracker.stop();
  });

  it('resumes from annotations after a restart: nothing is rewritten and nothing announced; a rescan with one fixed and one new Critical announces the new one', async () => {
    const t = setup({ baselineTaken: true });
    const stamped = JSON.stringify({ '2026-11-20T08:00:00Z': [`${LOG4SHELL.id} ${LOG4SHELL.pkg}`] });
    t.put(vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4SHELL], firstSeen: stamped }));
    await t.tracker.start();
    await settle(t.tracker);
    assert.equal(t.writes.length, 0);
    t.put(vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4J_2], firstSeen: stamped }));
    await settle(t.tracker);
    assert.equal(t.writes.length, 1);
    assert.deepEqual([...parseFirstSeen(t.writes[0]!.annotation).keys()], [`${LOG4J_2.id} ${LOG4J_2.pkg}`]);
    assert.deepEqual(
      t.news.flatMap((n) => n.findings.map((f) => f.vulnerabilityId)),
      [LOG4J_2.id],
    );
    await t.tracker.stop();
  });

  it('retries a failed write with backoff and announces only once it is stored; a deleted report is dropped', async () => {
    const t = setup({ fail: (n) => (n < 2 ? new KubeHttpError(500, 'etcd unavailable') : undefined) });
    await t.tracker.start();
    t.put(vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4SHELL] }));
    await settle(t.tracker);
    assert.equal(t.writes.length, 1, 'stored on the third attempt');
    assert.equal(t.news.length, 1);
    assert.equal(t.news[0]!.findings.length, 1);

    const gone = setup({ fail: () => new KubeHttpError(404, 'not found') });
    await gone.tracker.start();
    gone.put(vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4SHELL] }));
    await settle(gone.tracker);
    assert.equal(gone.writes.length, 0);
    assert.equal(gone.news.length, 0);
    await t.tracker.stop();
    await gone.tracker.stop();
  });

  it('a leader that died halfway through the baseline: its successor finishes it as baseline, announcing nothing', async () => {
    const t = setup({ baselineTaken: false });
    const stamped = JSON.stringify({ '2026-12-03T03:00:00Z baseline': [`${LOG4SHELL.id} ${LOG4SHELL.pkg}`] });
    t.put(vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4SHELL], firstSeen: stamped }));
    t.put(vulnReport({ namespace: 'shop', workload: 'cart', repository: 'shop/cart', vulns: [LODASH] }));
    await t.tracker.start();
    await settle(t.tracker);
    assert.deepEqual(
      t.writes.map((w) => [w.name, w.annotation]),
      [['replicaset-cart-app', `{"2026-12-03T04:00:00Z baseline":["${LODASH.id} ${LODASH.pkg}"]}`]],
    );
    assert.equal(t.news.length, 0);
    assert.equal(t.baselineTaken(), true);
    await t.tracker.stop();
  });
});
