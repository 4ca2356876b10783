/**
 * Compliance on the real API server, with the controller in this process so the clock and the
 * cron ticks are the test's: the shipped specs, audit reports with known misconfigurations, and
 * what each framework's report says before and after a fix, as the schedule runs.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  COMPLIANCE_INPUT_KINDS,
  ComplianceController,
  nextCronTime,
  type NotedDetailReport,
} from '../../../src/compliance/index.ts';
import { loadConfig } from '../../../src/config/index.ts';
import { API_GROUP, API_VERSION, ReportKind, type ClusterComplianceReport } from '../../../src/crds/index.ts';
import { Informers, kubeRequestJson } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import { TRIMMED_ANNOTATION } from '../../../src/reports/index.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { waitUntil } from '../../harness/waiting.ts';
import { Reports } from '../metrics/support.ts';
import { auditReport, LogCapture, RecordingScheduler, shippedSpec, totalFails } from './support.ts';

const noConfigFile = () => {
  throw new Error('no config file in tests');
};
const HOUR = 3_600_000;

let cluster: TestCluster;
before(async () => {
  cluster = await useTestCluster();
  // Freshly installed CRDs answer 429 ("storage is (re)initializing") for a moment.
  await waitUntil('the report kinds to be served', async () => {
    for (const kind of [...COMPLIANCE_INPUT_KINDS, 'ClusterComplianceReport' as const]) {
      await kubeRequestJson(cluster.kubeConfig(), {
        path: `/apis/${API_GROUP}/${API_VERSION}/${ReportKind[kind].plural}`,
        query: { limit: 1 },
      });
    }
    return true;
  });
});
after(async () => {
  await cluster?.release();
});

async function clusterScopedFailures(cluster: TestCluster): Promise<number> {
  let failures = 0;
  for (const kind of COMPLIANCE_INPUT_KINDS.filter((k) => !ReportKind[k].namespaced)) {
    const list = await kubeRequestJson<{ items: { report?: { checks?: { success?: boolean }[] } }[] }>(
      cluster.kubeConfig(),
      { path: `/apis/${API_GROUP}/${API_VERSION}/${ReportKind[kind].plural}` },
    );
    for (const item of list.items) failures += (item.report?.checks ?? []).filter((c) => !c.success).length;
  }
  return failures;
}

describe('compliance reports on a real API server, on an injected clock', () => {
  const suffix = `${process.pid}`;
  const name = {
    cis: `k8s-cis-1.23-${suffix}`,
    nsa: `k8s-nsa-1.0-${suffix}`,
    baseline: `k8s-pss-baseline-0.1-${suffix}`,
    restricted: `k8s-pss-restricted-0.1-${suffix}`,
  };
  let reports: Reports;
  let namespace: string;
  let controller: ComplianceController;
  const scheduler = new RecordingScheduler();
  const logs = new LogCapture();
  let clock = new Date();
  let isolated = false;

  const get = (report: string) =>
    kubeRequestJson<ClusterComplianceReport>(cluster.kubeConfig(), {
      path: `/apis/${API_GROUP}/${API_VERSION}/clustercompliancereports/${report}`,
    });

  /** Moves the clock to the time the report is next due, and fires the ticks as node-cron would. */
  const runScheduleAt = async (at: Date) => {
    clock = at;
    scheduler.fireAll(at);
    await controller.tick();
  };

  before(async () => {
    reports = new Reports(cluster.kubeConfig());
    namespace = await cluster.createNamespace('compliance');
    const other = await cluster.createNamespace('compliance-other');
    isolated = (await clusterScopedFailures(cluster)) === 0;

    await reports.create(shippedSpec('k8s-cis-1.23', suffix) as never);
    await reports.create(shippedSpec('k8s-nsa-1.0', suffix, { reportType: 'all' }) as never);
    await reports.create(shippedSpec('k8s-pss-baseline-0.1', suffix) as never);
    await reports.create(shippedSpec('k8s-pss-restricted-0.1', suffix) as never);

    // The known misconfigurations, with check IDs in every spelling Trivy versions have written.
    await reports.create(
      auditReport('ConfigAuditReport', 'daemonset-log-agent', namespace, [
        { id: 'KSV017', message: "Container 'agent' should set 'securityContext.privileged' to false" },
        { id: 'KSV-0023', severity: 'MEDIUM' }, // hostPath volume
        { id: 'AVD-KSV-0010' }, // host network
        { id: 'KSV001', success: true }, // passed checks count for nothing
      ]),
    );
    await reports.create(
      auditReport('ConfigAuditReport', 'replicaset-web-6d4cf56db6', namespace, [
        { id: 'KSV012', severity: 'MEDIUM' }, // runs as root
        { id: 'KSV014', severity: 'LOW' }, // writable root file system
      ]),
    );
    await reports.create(
      auditReport('RbacAssessmentReport', 'role-secret-reader', namespace, [
        { id: 'KSV041', severity: 'CRITICAL' },
      ]),
    );
    // Host ports, but in a namespace the operator does not target: must not count.
    await reports.create(auditReport('ConfigAuditReport', 'pod-edge', other, [{ id: 'KSV024' }]));

    clock = new Date();
    controller = new ComplianceController({
      kc: cluster.kubeConfig(),
      informers: new Informers({ kc: cluster.kubeConfig(), log: createLogger('silent') }),
      config: loadConfig({ OPERATOR_TARGET_NAMESPACES: namespace }, noConfigFile),
      log: createLogger('info', logs),
      now: () => clock,
      scheduler: scheduler.scheduler,
      pageSize: 2,
    });
    await controller.start();
  });

  after(async () => {
    await controller?.stop();
    for (const report of Object.values(name)) {
      await reports?.delete('ClusterComplianceReport', report).catch(() => {});
    }
  });

  it('schedules each report on its own spec.cron and evaluates nothing before the first cron time after creation', async () => {
    const schedule = controller.schedule();
    for (const report of Object.values(name)) {
      const created = new Date((await get(report)).metadata.creationTimestamp as unknown as string);
      assert.deepEqual(schedule.get(report), nextCronTime('0 */6 * * *', created), report);
    }
    assert.ok(scheduler.crons().filter((cron) => cron === '0 */6 * * *').length >= 4);

    await controller.tick();
    for (const report of Object.values(name)) assert.equal((await get(report)).status, undefined, report);
  });

  it('at the first cron time, each framework fails exactly the controls the misconfigurations map to', async () => {
    const due = controller.schedule().get(name.cis);
    assert.ok(due);
    await runScheduleAt(due);

    const expected: Record<string, Record<string, number | undefined>> = {
      [name.cis]: {
        '5.2.2': 1, // privileged
        '5.2.3': 1, // host network
        '5.2.7': 1, // root
        '5.2.12': 1, // hostPath
        '5.2.6': 0, // allowPrivilegeEscalation: only a passed check
        '5.2.13': 0, // host ports: only in an untargeted namespace
        '3.1.1': undefined, // manual
      },
      [name.nsa]: { '1.0': 1, '1.1': 1, '1.2': 1, '1.5': 1, '1.7': 0, '3.0': undefined },
      [name.baseline]: { '3': 1, '5': 1, '6': 0 },
      [name.restricted]: { '3': 1, '5': 1, '14': 1, '6': 0, '13': 0 },
    };
    // Controls besides these pass, unless audit reports of other tests in a shared cluster fail them.
    const exactCounts: Record<string, { passCount: number; failCount: number }> = {
      [name.cis]: { failCount: 5, passCount: 116 - 8 - 5 },
      [name.nsa]: { failCount: 4, passCount: 27 - 4 - 4 },
      [name.baseline]: { failCount: 2, passCount: 9 },
      [name.restricted]: { failCount: 3, passCount: 14 },
    };
    for (const [report, controls] of Object.entries(expected)) {
      const written = await get(report);
      assert.equal(written.status?.updateTimestamp, due.toISOString().replace(/\.\d{3}Z$/, 'Z'));
      const fails = totalFails(written);
      for (const [control, count] of Object.entries(controls)) {
        assert.equal(fails.get(control), count, `${report} control ${control}`);
      }
      // The summary counts controls: failed, passed; manual ones are neither.
      const counted = [...fails.values()].filter((v) => v !== undefined) as number[];
      assert.deepEqual(written.status?.summary, {
        passCount: counted.filter((v) => v === 0).length,
        failCount: counted.filter((v) => v > 0).length,
      });
      if (isolated) assert.deepEqual(written.status?.summary, exactCounts[report]);
    }
    // Secrets access, from the Role's RBAC report; in a shared cluster ClusterRoles audited by
    // other tests may fail the same check.
    const secretsAccess = totalFails(await get(name.cis)).get('5.1.2') ?? 0;
    if (isolated) assert.equal(secretsAccess, 1);
    else assert.ok(secretsAccess >= 1);

    // The `all` report lists the failing resources per control and marks manual controls.
    const detail = (await get(name.nsa)).status?.detailReport as NotedDetailReport | undefined;
    const result = (id: string) => detail?.results?.find((r) => r.id === id);
    assert.equal(result('1.2')?.status, 'FAIL');
    assert.deepEqual(
      result('1.2')?.checks.map((c) => [c.checkID, c.target, c.success, c.messages]),
      [
        [
          'AVD-KSV-0017',
          `${namespace}/daemonset-log-agent`,
          false,
          ["Container 'agent' should set 'securityContext.privileged' to false"],
        ],
      ],
    );
    assert.equal(result('1.7')?.status, 'PASS');
    assert.deepEqual(result('1.7')?.checks, [{ checkID: 'AVD-KSV-0001', severity: 'MEDIUM', success: true }]);
    assert.equal(result('3.0')?.status, 'MANUAL');
    assert.deepEqual(result('3.0')?.checks, []);
    assert.equal((await get(name.cis)).status?.detailReport, undefined, 'summary reports carry no detail');
  });

  it('a fixed resource turns its controls to pass at the next scheduled run, and not before', async () => {
    await reports.delete('ConfigAuditReport', 'daemonset-log-agent', namespace);
    await reports.create(
      auditReport('ConfigAuditReport', 'daemonset-log-agent', namespace, [
        { id: 'KSV017', success: true }, // no longer privileged
        { id: 'KSV-0023', severity: 'MEDIUM' },
        { id: 'AVD-KSV-0010' },
        { id: 'KSV001', success: true },
      ]),
    );
    const before = (await get(name.cis)).status?.updateTimestamp;
    const next = controller.schedule().get(name.cis);
    assert.ok(next);
    assert.equal(next.getTime() - clock.getTime(), 6 * HOUR, 'six hours after the last run');

    await runScheduleAt(new Date(next.getTime() - 60_000));
    assert.equal((await get(name.cis)).status?.updateTimestamp, before, 'not due a minute early');
    assert.equal(totalFails(await get(name.cis)).get('5.2.2'), 1);

    await runScheduleAt(next);
    const fixed = { [name.cis]: '5.2.2', [name.nsa]: '1.2', [name.baseline]: '3', [name.restricted]: '3' };
    for (const [report, control] of Object.entries(fixed)) {
      assert.equal(totalFails(await get(report)).get(control), 0, `${report} control ${control} passes`);
    }
    assert.equal(totalFails(await get(name.cis)).get('5.2.12'), 1, 'hostPath is still there');
    assert.equal(
      (await get(name.nsa)).status?.detailReport?.results?.find((r) => r.id === '1.2')?.status,
      'PASS',
    );
  });

  it('a changed spec.cron takes effect without a restart', async () => {
    const lastRun = clock;
    const cisUpdates = logs.updates(name.cis);
    const nsaUpdates = logs.updates(name.nsa);
    await reports.patch('ClusterComplianceReport', name.nsa, undefined, { spec: { cron: '*/10 * * * *' } });
    await waitUntil('the new schedule', () => scheduler.crons().includes('*/10 * * * *'));
    assert.ok(scheduler.history.includes('stop 0 */6 * * *'), 'the old schedule is stopped');
    const due = controller.schedule().get(name.nsa);
    assert.deepEqual(due, nextCronTime('*/10 * * * *', lastRun));

    await runScheduleAt(due as Date);
    assert.equal(logs.updates(name.nsa), nsaUpdates + 1, 'the NSA report ran on its new schedule');
    assert.equal(logs.updates(name.cis), cisUpdates, 'the others kept theirs');
  });

  it('never evaluates a report twice at once: ticks during a run are queued, not run alongside', async () => {
    const at = new Date(clock.getTime() + 6 * HOUR);
    clock = at;
    const counts = Object.values(name).map((report) => logs.updates(report));
    // Every tick source fires, and more ticks arrive while the run is in progress.
    scheduler.fireAll(at);
    await Promise.all([controller.tick(at), controller.tick(at), controller.tick()]);
    assert.deepEqual(
      Object.values(name).map((report) => logs.updates(report)),
      counts.map((count) => count + 1),
    );
  });
});

describe('an `all` compliance report too big for etcd', () => {
  const report = `k8s-nsa-1.0-big-${process.pid}`;
  let reports: Reports;
  let controller: ComplianceController;
  const logs = new LogCapture();

  before(async () => {
    reports = new Reports(cluster.kubeConfig());
    const namespace = await cluster.createNamespace('compliance-big');
    await reports.create(
      shippedSpec('k8s-nsa-1.0', `big-${process.pid}`, { reportType: 'all', cron: '* * * * *' }) as never,
    );
    // 12 reports × 150 failed privileged checks with long messages: about 2.5 MB of detail.
    for (let r = 0; r < 12; r++) {
      const checks = Array.from({ length: 150 }, (_, i) => ({
        id: 'KSV017',
        message: `Container 'c${i}' of pod ${r} should set 'securityContext.privileged' to false ${'.'.repeat(900)}`,
      }));
      await reports.create(auditReport('ConfigAuditReport', `replicaset-big-${r}`, namespace, checks));
    }
    let clock = new Date(Date.now() + 120_000); // past the first minute boundary after creation
    controller = new ComplianceController({
      kc: cluster.kubeConfig(),
      informers: new Informers({ kc: cluster.kubeConfig(), log: createLogger('silent') }),
      config: loadConfig(
        { OPERATOR_TARGET_NAMESPACES: namespace, OPERATOR_COMPLIANCE_FAIL_ENTRIES_LIMIT: '100000' },
        noConfigFile,
      ),
      log: createLogger('info', logs),
      now: () => clock,
      scheduler: () => ({ stop: () => {} }),
      pageSize: 3,
    });
    await controller.start();
    await controller.tick();
    clock = new Date(clock.getTime() + 1000);
  });

  after(async () => {
    await controller?.stop();
    await reports?.delete('ClusterComplianceReport', report).catch(() => {});
  });

  it('is written with the summary whole and the listed failures cut evenly, and says so', async () => {
    const written = await kubeRequestJson<ClusterComplianceReport>(cluster.kubeConfig(), {
      path: `/apis/${API_GROUP}/${API_VERSION}/clustercompliancereports/${report}`,
    });
    assert.ok(written.status, 'the status was written, not refused');
    assert.equal(totalFails(written).get('1.2'), 1800, 'the count is whole');
    assert.equal(written.status.summary?.failCount, 1);
    const listed = written.status.detailReport?.results?.find((r) => r.id === '1.2')?.checks.length ?? 0;
    assert.ok(listed > 0 && listed < 1800, `listed ${listed}`);
    const note = (written.status.detailReport as NotedDetailReport).note;
    assert.match(
      note ?? '',
      new RegExp(
        `^listed ${listed} of 1800 failed results: .* cut to ${listed} per control to fit etcd's limit$`,
      ),
    );
    assert.equal(written.metadata.annotations?.[TRIMMED_ANNOTATION], note);
    assert.ok(Buffer.byteLength(JSON.stringify(written)) < 1.5 * 1024 * 1024);
    assert.ok(
      logs.lines.some((l) => l.msg === 'compliance detail trimmed to fit etcd' && l.report === report),
    );
  });
});
