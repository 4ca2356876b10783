/**
 * The compliance controller on the controller runtime, against a fake API server
 * (test/unit/support): the real informers list and watch ClusterComplianceReports from it, the
 * evaluation lists the audit reports there, and statuses are applied to its status subresource. The
 * clock and the cron ticks are the test's: a fixed "now", and a scheduler whose ticks are fired by
 * hand, so what is due never depends on when the test runs.
 *
 * Why a fake: these cases need an API server that refuses, holds or drops one chosen request at one
 * chosen moment, and a stop in the middle of a list, which a real one does not do on demand. The
 * same controller runs against the real control plane in test/integration/compliance/.
 *
 * 1. A report with no status yet (due), a ConfigAuditReport and an RbacAssessmentReport failing two
 *    of its controls, one in a namespace not targeted → one status apply, summary fail 2 / pass 1 /
 *    per-control counts from the targeted inputs only; nothing more after our own write's event.
 * 2. Three reports created together → one batch: each input kind listed once, each report read once
 *    and given its own status.
 * 3. The status write of one of two due reports refused twice (403 from a webhook) → that one is
 *    retried alone with backoff (two errors counted) until written, without a cron tick; the other
 *    is written once.
 * 4. At start, one report updated within its cron period and one a period ago → only the stale one
 *    is evaluated; at the next cron tick both are, in one batch.
 * 5. A report deleted before its batch runs → never read nor written; a report deleted after its
 *    first run → its cron task stops and a later tick writes nothing for it.
 * 6. A status write answered 404 (the report deleted after it was read) → taken as gone: no error
 *    counted, no retry.
 * 7. Stopped while the reports list never answers → stop() returns at once, start() returns, the list
 *    is abandoned, nothing is requested afterwards, and no timer is left.
 * 8. The API server holds the report's read, or its status write → stop() returns within a second,
 *    and no status is written.
 *
 * Found on the way: the report read and the status write were made without the controller's abort
 * signal (only the input lists had it), so stop() waited up to the runtime's 10 s cap for a request
 * the server held (8). Fixed in src/compliance/controller.ts.
 */
import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import pino from 'pino';
import {
  COMPLIANCE_INPUT_KINDS,
  ComplianceController,
  type CronScheduler,
} from '../../../src/compliance/index.ts';
import { loadConfig } from '../../../src/config/index.ts';
import {
  reportObjectPath,
  type ClusterComplianceReport,
  type ComplianceControl,
} from '../../../src/crds/index.ts';
import { Informers } from '../../../src/kube/index.ts';
import { apiStatus, FakeApiServer } from '../support/fake-api.ts';
import { CountingRuntime, liveTimers, until } from '../support/runtime.ts';
import { specObject } from './support.ts';

const log = pino({ level: process.env.TL_TEST_LOG ?? 'silent' });

const GROUP = '/apis/aquasecurity.github.io/v1alpha1';
const REPORTS = reportObjectPath('ClusterComplianceReport');
const reportPath = (name: string) => reportObjectPath('ClusterComplianceReport', undefined, name);
const statusPath = (name: string) => `${reportPath(name)}/status`;
/** The six input collections, as the evaluation lists them (across namespaces). */
const INPUT_LISTS = COMPLIANCE_INPUT_KINDS.map((kind) => reportObjectPath(kind));

// The test's "now": the reports' cron runs every 6 hours, so the last tick was 06:00, the next 12:00.
const NOW = new Date('2026-03-10T10:00:00Z');
const CREATED = '2026-03-09T00:00:00Z';

/**
 * A ClusterComplianceReport over the shared test spec (or `controls`), created on CREATED, last run
 * at `updated` if given.
 */
function complianceReport(
  name: string,
  o: { reportType?: 'summary' | 'all'; updated?: string; controls?: ComplianceControl[] } = {},
): ClusterComplianceReport {
  const object = specObject(o.reportType) as unknown as ClusterComplianceReport;
  object.metadata = { name, creationTimestamp: CREATED as unknown as Date };
  object.spec.compliance.id = name;
  if (o.controls) object.spec.compliance.controls = o.controls;
  if (o.updated) object.status = { updateTimestamp: o.updated } as ClusterComplianceReport['status'];
  return object;
}

/** An audit report with the given checks, as Trivy writes them (`success: false` for a failure). */
function auditReport(
  plural: string,
  namespace: string,
  name: string,
  checks: { id: string; success?: boolean }[],
): [string, KubernetesObject] {
  return [
    `${GROUP}/namespaces/${namespace}/${plural}/${name}`,
    {
      apiVersion: 'aquasecurity.github.io/v1alpha1',
      kind: plural === 'configauditreports' ? 'ConfigAuditReport' : 'RbacAssessmentReport',
      metadata: { name, namespace },
      report: {
        checks: checks.map(({ id, success = false }) => ({ checkID: id, severity: 'HIGH', success })),
      },
    } as KubernetesObject,
  ];
}

/**
 * What the tests' clusters hold: control 1.0 (KSV-0017) fails on a workload, 2.0 (KSV-0041) on a
 * Role, 1.1 (KSV-0014) passes in the targeted namespace and fails only in one that is not targeted.
 */
const INPUTS: [string, KubernetesObject][] = [
  auditReport('configauditreports', 'app', 'replicaset-web-6d4cf56db6', [
    { id: 'KSV017' },
    { id: 'KSV014', success: true },
  ]),
  auditReport('rbacassessmentreports', 'app', 'role-secret-reader', [{ id: 'AVD-KSV-0041' }]),
  auditReport('configauditreports', 'elsewhere', 'replicaset-edge-5c8d', [{ id: 'KSV-0014' }]),
];

/** Tick sources fired by hand, as node-cron would fire them. */
class HandScheduler {
  readonly active = new Map<number, { cron: string; fire: (at: Date) => void }>();
  private next = 0;

  readonly scheduler: CronScheduler = (cron, onTick) => {
    const id = this.next++;
    this.active.set(id, { cron, fire: onTick });
    return { stop: () => void this.active.delete(id) };
  };

  fireAll(at: Date): void {
    for (const { fire } of [...this.active.values()]) fire(at);
  }
}

interface StatusBody {
  status: {
    updateTimestamp: string;
    summary: { passCount: number; failCount: number };
    summaryReport: { controlCheck: { id: string; totalFail?: number }[] };
    detailReport?: unknown;
  };
}

describe('ComplianceController', () => {
  let api: FakeApiServer;
  let informers: Informers | undefined;
  let controller: ComplianceController | undefined;
  let clock: Date;

  interface Started {
    kc: KubeConfig;
    runtime: CountingRuntime;
    ticks: HandScheduler;
    /** The controller's start(), not awaited. */
    starting: Promise<void>;
  }

  /** Starts the controller on a new fake holding `existing`; `prepare` readies the fake's answers. */
  async function start(
    existing: [string, KubernetesObject][] = [],
    prepare: (api: FakeApiServer) => void = () => {},
  ): Promise<Started> {
    api = new FakeApiServer();
    const kc = await api.start();
    for (const [path, object] of existing) api.put(path, object);
    prepare(api);
    clock = NOW;
    informers = new Informers({ kc, log, watchTimeoutSeconds: 30, backoff: { initialMs: 20, maxMs: 200 } });
    const runtime = new CountingRuntime();
    const ticks = new HandScheduler();
    controller = new ComplianceController({
      kc,
      informers,
      config: loadConfig({ OPERATOR_NAMESPACE: 'trivy-system', OPERATOR_TARGET_NAMESPACES: 'app' }, () => {
        throw new Error('no file');
      }),
      log,
      now: () => clock,
      scheduler: ticks.scheduler,
      runtime,
    });
    return { kc, runtime, ticks, starting: controller.start() };
  }

  afterEach(async () => {
    await controller?.stop();
    await informers?.stop();
    controller = undefined;
    informers = undefined;
    await api.stop();
  });

  /** Requests other than watches, from index `from` on. */
  const requestsSince = (from = 0) => api.calls.slice(from).filter((c) => !c.startsWith('WATCH '));
  const statusWrites = (name: string) => api.callsTo(`PATCH ${statusPath(name)}`);
  /** The body of the last status apply of `name`. */
  const lastStatusSent = (name: string): StatusBody['status'] => {
    const request = api.requests.findLast((r) => r.verb === 'PATCH' && r.path === statusPath(name));
    assert.ok(request, `a status write of ${name}`);
    assert.equal(request.contentType, 'application/apply-patch+yaml');
    return (request.body as StatusBody).status;
  };
  const totals = (status: StatusBody['status']) =>
    Object.fromEntries(status.summaryReport.controlCheck.map((c) => [c.id, c.totalFail]));

  it('writes the status of a due report from the targeted inputs, once', async () => {
    const { runtime, starting } = await start([...INPUTS, [reportPath('cis'), complianceReport('cis')]]);
    await starting;
    assert.equal(controller?.synced, true);
    await until('the status', () => statusWrites('cis').length === 1);

    assert.deepEqual(requestsSince(), [
      `GET ${REPORTS}`,
      `GET ${reportPath('cis')}`,
      ...INPUT_LISTS.map((path) => `GET ${path}`),
      `PATCH ${statusPath('cis')}`,
    ]);
    const status = lastStatusSent('cis');
    assert.equal(status.updateTimestamp, '2026-03-10T10:00:00Z');
    assert.deepEqual(status.summary, { failCount: 2, passCount: 1 });
    // 1.1 failed only in a namespace the operator does not target; 3.0 is manual (no count).
    assert.deepEqual(totals(status), { '1.0': 1, '1.1': 0, '2.0': 1, '3.0': undefined });
    assert.equal(status.detailReport, undefined, 'a summary report has no detail');
    const stored = api.get<ClusterComplianceReport>(reportPath('cis'));
    assert.deepEqual(stored?.status?.summary, { failCount: 2, passCount: 1 });
    assert.equal(stored?.spec.cron, '0 */6 * * *', 'the spec is kept');

    // Our own write comes back by the watch: the report is current now, so nothing more is done.
    const calls = api.calls.length;
    await sleep(300);
    assert.deepEqual(requestsSince(calls), []);
    assert.deepEqual(runtime.of('compliance'), { success: 1, error: 0, requeue_after: 0, retried: 0 });
    assert.equal(controller?.schedule().get('cis')?.toISOString(), '2026-03-10T12:00:00.000Z');
  });

  it('evaluates reports created together in one batch, reading the inputs once', async () => {
    const { runtime, starting } = await start(INPUTS);
    await starting;
    const oneControl: ComplianceControl[] = [
      { id: '5.1', name: 'Root file system', checks: [{ id: 'KSV014' }], severity: 'LOW' },
    ];
    api.put(reportPath('cis'), complianceReport('cis'));
    api.put(reportPath('nsa'), complianceReport('nsa', { reportType: 'all' }));
    api.put(reportPath('pss'), complianceReport('pss', { controls: oneControl }));

    await until('three statuses', () =>
      ['cis', 'nsa', 'pss'].every((name) => statusWrites(name).length === 1),
    );
    for (const path of INPUT_LISTS) assert.equal(api.callsTo(`GET ${path}`).length, 1, `one list of ${path}`);
    for (const name of ['cis', 'nsa', 'pss'])
      assert.equal(api.callsTo(`GET ${reportPath(name)}`).length, 1, `one read of ${name}`);

    assert.deepEqual(lastStatusSent('cis').summary, { failCount: 2, passCount: 1 });
    const nsa = lastStatusSent('nsa');
    assert.deepEqual(nsa.summary, { failCount: 2, passCount: 1 });
    assert.ok(nsa.detailReport, 'an `all` report has the detail');
    assert.deepEqual(lastStatusSent('pss').summary, { failCount: 0, passCount: 1 });
    await sleep(200);
    assert.equal(runtime.of('compliance').success, 3);
    assert.equal(api.callsTo(`PATCH ${GROUP}/`).length, 3, 'nothing else written');
  });

  it('retries a refused status write alone, with backoff, without waiting for a tick', async () => {
    const { runtime, ticks, starting } = await start(
      [...INPUTS, [reportPath('cis'), complianceReport('cis')], [reportPath('nsa'), complianceReport('nsa')]],
      (fake) =>
        fake.refuse(
          'PATCH',
          statusPath('cis'),
          apiStatus(403, 'Forbidden', 'admission webhook "reports.policy.example.com" denied the request'),
          2,
        ),
    );
    await starting;
    await until('cis written', () => statusWrites('cis').length === 3, 8_000);
    await sleep(100);

    assert.equal(statusWrites('cis').length, 3, 'refused twice, then written');
    assert.deepEqual(api.get<ClusterComplianceReport>(reportPath('cis'))?.status?.summary, {
      failCount: 2,
      passCount: 1,
    });
    // The other report of the first batch was written then, and not again.
    assert.equal(statusWrites('nsa').length, 1);
    assert.equal(api.callsTo(`GET ${reportPath('nsa')}`).length, 1);
    // Each retry evaluates cis again, from the report and inputs as they are then.
    assert.equal(api.callsTo(`GET ${reportPath('cis')}`).length, 3);
    assert.equal(api.callsTo(`GET ${INPUT_LISTS[0]}`).length, 3);

    const counts = runtime.of('compliance');
    assert.equal(counts.error, 2, 'two failed reconciles of cis');
    assert.ok(counts.retried >= 2, `retried with backoff (${counts.retried})`);
    assert.equal(counts.success, 2, 'nsa in the first batch, cis in its third');
    assert.equal(ticks.active.size, 2, 'a cron task per report, none fired');
  });

  it('at start evaluates only the report whose cron tick passed since its last run; the next tick both', async () => {
    // current: last run 07:00, next due 12:00. stale: last run 05:00, due since 06:00. Now is 10:00.
    const { runtime, ticks, starting } = await start([
      ...INPUTS,
      [reportPath('current'), complianceReport('current', { updated: '2026-03-10T07:00:00Z' })],
      [reportPath('stale'), complianceReport('stale', { updated: '2026-03-10T05:00:00Z' })],
    ]);
    await starting;
    await until('stale written', () => statusWrites('stale').length === 1);
    await sleep(200);
    assert.deepEqual(statusWrites('current'), []);
    assert.deepEqual(api.callsTo(`GET ${reportPath('current')}`), [], 'current is not even read');
    assert.deepEqual(
      [...(controller?.schedule() ?? [])].map(([name, at]) => [name, at?.toISOString()]),
      [
        ['current', '2026-03-10T12:00:00.000Z'],
        ['stale', '2026-03-10T12:00:00.000Z'],
      ],
    );

    // The 12:00 tick: both are due, and go in one batch (one list of the inputs for both).
    clock = new Date('2026-03-10T12:00:00Z');
    const lists = api.callsTo(`GET ${INPUT_LISTS[0]}`).length;
    ticks.fireAll(clock);
    await until(
      'both written',
      () => statusWrites('current').length === 1 && statusWrites('stale').length === 2,
    );
    assert.equal(api.callsTo(`GET ${INPUT_LISTS[0]}`).length, lists + 1);
    assert.equal(lastStatusSent('current').updateTimestamp, '2026-03-10T12:00:00Z');
    assert.equal(runtime.of('compliance').error, 0);
  });

  it('reads and writes nothing for a deleted report, and stops its cron task', async () => {
    const { ticks, starting } = await start([...INPUTS, [reportPath('kept'), complianceReport('kept')]]);
    await starting;
    await until('kept written', () => statusWrites('kept').length === 1);

    // Created and deleted before its batch runs (it waits 50 ms for others to join).
    api.put(reportPath('brief'), complianceReport('brief'));
    api.remove(reportPath('brief'));
    // Deleted after its first run.
    api.put(reportPath('gone'), complianceReport('gone'));
    await until('gone written', () => statusWrites('gone').length === 1);
    assert.equal(ticks.active.size, 2);
    api.remove(reportPath('gone'));
    await until('its cron task stopped', () => ticks.active.size === 1);

    clock = new Date('2026-03-10T12:00:00Z');
    ticks.fireAll(clock);
    await until('kept written again', () => statusWrites('kept').length === 2);
    await controller?.tick(clock);
    await sleep(100);
    assert.deepEqual(api.callsTo(`GET ${reportPath('brief')}`), []);
    assert.deepEqual(statusWrites('brief'), []);
    assert.equal(api.callsTo(`GET ${reportPath('gone')}`).length, 1);
    assert.equal(statusWrites('gone').length, 1);
    assert.equal(api.get(reportPath('gone')), undefined, 'no status write recreated it');
    assert.deepEqual([...(controller?.schedule().keys() ?? [])], ['kept']);
  });

  it('takes a 404 on the status write as the report gone: no error, no retry', async () => {
    // The API server answers 404 to a status write of a report deleted after it was read.
    const { runtime, starting } = await start(
      [...INPUTS, [reportPath('cis'), complianceReport('cis')]],
      (fake) =>
        fake.refuse(
          'PATCH',
          statusPath('cis'),
          apiStatus(404, 'NotFound', 'clustercompliancereports "cis" not found'),
        ),
    );
    await starting;
    await until('the write', () => statusWrites('cis').length === 1);
    api.remove(reportPath('cis'));
    await sleep(300);
    assert.equal(statusWrites('cis').length, 1);
    assert.deepEqual(runtime.of('compliance'), { success: 1, error: 0, requeue_after: 0, retried: 0 });
  });

  it('stop() while the caches sync returns at once and leaves nothing running', async () => {
    const timersBefore = liveTimers();
    const { starting } = await start([...INPUTS, [reportPath('cis'), complianceReport('cis')]], (fake) =>
      fake.hang('GET', REPORTS),
    );
    await until('the reports list', () => api.calls.includes(`GET ${REPORTS}`));
    assert.equal(controller?.synced, false);

    const stopAt = performance.now();
    await controller?.stop();
    const stopMs = performance.now() - stopAt;
    assert.ok(stopMs < 500, `stop() took ${Math.round(stopMs)} ms`);
    // The race's own timer is cancelled, so that it does not count as left behind below.
    const giveUp = new AbortController();
    const outcome = await Promise.race([
      starting.then(() => 'returned'),
      sleep(1_000, 'still pending', { signal: giveUp.signal }),
    ]);
    giveUp.abort();
    assert.equal(outcome, 'returned', 'start() is let go');
    assert.equal(controller?.synced, false, 'never synced');
    await until('the list abandoned', () => api.abandoned.includes(`GET ${REPORTS}`), 1_000);

    // Nothing started after the stop: no report read, no input listed, nothing written.
    const calls = api.calls.length;
    await sleep(200);
    assert.deepEqual(api.calls.slice(calls), []);
    assert.deepEqual(api.calls, [`GET ${REPORTS}`]);
    await informers?.stop();
    assert.equal(liveTimers(), timersBefore, 'no timer left');
  });

  for (const held of ['the report read', 'the status write'] as const) {
    it(`stop() does not wait for ${held} the server holds`, async () => {
      // In: a due report; the API server never answers ${held}. Out: stop() returns within a
      // second (not after the runtime's 10 s cap); nothing is written, so the next leader runs it.
      const { starting } = await start([...INPUTS, [reportPath('cis'), complianceReport('cis')]], (fake) =>
        held === 'the report read'
          ? fake.hang('GET', reportPath('cis'))
          : fake.hang('PATCH', statusPath('cis')),
      );
      await starting;
      const call = held === 'the report read' ? `GET ${reportPath('cis')}` : `PATCH ${statusPath('cis')}`;
      await until(held, () => api.calls.includes(call));

      const stopping = controller?.stop() ?? Promise.resolve();
      const giveUp = new AbortController();
      const outcome = await Promise.race([
        stopping.then(() => 'stopped'),
        sleep(1_000, 'still waiting', { signal: giveUp.signal }),
      ]);
      giveUp.abort();
      // Closing the server ends the held request, so a stop still waiting ends too.
      await api.stop();
      await stopping;
      assert.equal(outcome, 'stopped');
      assert.equal(api.get<ClusterComplianceReport>(reportPath('cis'))?.status, undefined);
    });
  }
});
