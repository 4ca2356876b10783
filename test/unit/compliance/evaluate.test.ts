import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  avdCheckId,
  evaluate,
  failedChecksOf,
  normaliseCheckId,
  readComplianceSpec,
  statusOf,
  type FailedCheck,
} from '../../../src/compliance/index.ts';
import { specObject, testSpec } from './support.ts';

const failed = (checkID: string, target: string, extra: Partial<FailedCheck> = {}): FailedCheck => ({
  checkID,
  target,
  severity: 'HIGH',
  ...extra,
});

describe('check IDs', () => {
  it('brings every spelling of a check to one form', () => {
    for (const id of ['KSV017', 'KSV-0017', 'AVD-KSV-0017', 'ksv017', ' KSV0017 ']) {
      assert.equal(normaliseCheckId(id), 'KSV-0017', id);
    }
    assert.equal(normaliseCheckId('KSV113'), 'KSV-0113');
    assert.equal(normaliseCheckId('KCV0001'), 'KCV-0001');
    assert.equal(normaliseCheckId('AVD-KCV-0048'), 'KCV-0048');
    assert.equal(normaliseCheckId('my-custom.check'), 'MY-CUSTOM.CHECK');
  });

  it("writes Trivy-Operator's AVD form", () => {
    assert.equal(avdCheckId('KSV113'), 'AVD-KSV-0113');
    assert.equal(avdCheckId('KSV-0001'), 'AVD-KSV-0001');
    assert.equal(avdCheckId('custom'), 'CUSTOM');
  });
});

describe('readComplianceSpec', () => {
  it('reads the controls with normalised check IDs; a control without checks is manual', () => {
    const spec = testSpec();
    assert.equal(spec.reportName, 'test-spec');
    assert.equal(spec.cron, '0 */6 * * *');
    assert.deepEqual(
      spec.controls.map((c) => [c.id, c.checkIds, c.manual]),
      [
        ['1.0', ['KSV-0017'], false],
        ['1.1', ['KSV-0014'], false],
        ['2.0', ['KSV-0041', 'KSV-0044'], false],
        ['3.0', [], true],
      ],
    );
  });

  it('lists every problem of a broken spec instead of evaluating half of it', () => {
    const broken = specObject();
    const spec = broken.spec as Record<string, unknown>;
    spec.reportType = 'detail';
    spec.cron = '';
    (spec.compliance as Record<string, unknown>).controls = [{ name: 'no id', checks: [{}] }];
    const reading = readComplianceSpec(broken);
    assert.equal(reading.ok, false);
    assert.deepEqual(!reading.ok && reading.problems, [
      'spec.cron is missing',
      'spec.reportType is "detail"; expected "summary" or "all"',
      'spec.compliance.controls[0].id is missing',
      'spec.compliance.controls[0].checks[0].id is missing',
    ]);
  });
});

describe('evaluate', () => {
  it('fails a control when any resource fails any of its checks, whatever the ID spelling', () => {
    const result = evaluate(
      testSpec(),
      [
        failed('KSV017', 'shop/daemonset-log-agent'), // old report spelling
        failed('KSV-0017', 'shop/replicaset-web-1'), // Trivy 0.6x+ spelling
        failed('AVD-KSV-0044', 'clusterrole-admin-all'),
        failed('KSV-0999', 'shop/replicaset-web-1'), // mapped by no control
      ],
      { failEntriesLimit: 10 },
    );
    assert.deepEqual(
      result.controls.map((c) => [c.control.id, c.status, c.failed]),
      [
        ['1.0', 'FAIL', 2],
        ['1.1', 'PASS', 0],
        ['2.0', 'FAIL', 1],
        ['3.0', 'MANUAL', 0],
      ],
    );
    assert.deepEqual([result.passCount, result.failCount, result.manualCount], [1, 2, 1]);
  });

  it('never counts a manual control as passed, even with nothing failing', () => {
    const result = evaluate(testSpec(), [], { failEntriesLimit: 10 });
    assert.deepEqual([result.passCount, result.failCount, result.manualCount], [3, 0, 1]);
  });

  it('summary: counts per control, totalFail left out for manual controls (as Trivy does)', () => {
    const result = evaluate(testSpec('summary'), [failed('KSV017', 'shop/pod-a')], { failEntriesLimit: 10 });
    assert.deepEqual(statusOf(result, '2025-01-01T06:00:00Z'), {
      updateTimestamp: '2025-01-01T06:00:00Z',
      summary: { passCount: 2, failCount: 1 },
      summaryReport: {
        id: 'test-spec',
        title: 'Test standard',
        controlCheck: [
          { id: '1.0', name: 'Privileged containers', severity: 'HIGH', totalFail: 1 },
          { id: '1.1', name: 'Root file system', severity: 'LOW', totalFail: 0 },
          { id: '2.0', name: 'Secrets access', severity: 'CRITICAL', totalFail: 0 },
          { id: '3.0', name: 'CNI supports network policies (Manual)', severity: 'CRITICAL' },
        ],
      },
    });
  });

  it('all: lists the failing resources per control, passed checks for passing ones, none for manual', () => {
    const result = evaluate(
      testSpec('all'),
      [
        failed('KSV017', 'shop/daemonset-log-agent', {
          title: 'Privileged',
          description: 'Privileged containers share namespaces with the host',
          messages: ["Container 'agent' should set 'securityContext.privileged' to false"],
          remediation: 'Set privileged to false',
          category: 'Kubernetes Security Check',
        }),
      ],
      { failEntriesLimit: 10 },
    );
    const status = statusOf(result, '2025-01-01T06:00:00Z');
    assert.deepEqual(status.summary, { passCount: 2, failCount: 1 });
    assert.ok(status.summaryReport, 'the per-control counts are kept next to the detail');
    assert.deepEqual(status.detailReport, {
      id: 'test-spec',
      title: 'Test standard',
      description: 'A standard for tests',
      version: '1.0',
      relatedVersion: ['https://example.com/standard'],
      results: [
        {
          id: '1.0',
          name: 'Privileged containers',
          description: 'No privileged containers',
          status: 'FAIL',
          severity: 'HIGH',
          checks: [
            {
              checkID: 'AVD-KSV-0017',
              target: 'shop/daemonset-log-agent',
              title: 'Privileged',
              description: 'Privileged containers share namespaces with the host',
              severity: 'HIGH',
              category: 'Kubernetes Security Check',
              messages: ["Container 'agent' should set 'securityContext.privileged' to false"],
              remediation: 'Set privileged to false',
              success: false,
            },
          ],
        },
        {
          id: '1.1',
          name: 'Root file system',
          description: 'Read-only root file system',
          status: 'PASS',
          severity: 'LOW',
          checks: [{ checkID: 'AVD-KSV-0014', severity: 'LOW', success: true }],
        },
        {
          id: '2.0',
          name: 'Secrets access',
          status: 'PASS',
          severity: 'CRITICAL',
          checks: [
            { checkID: 'AVD-KSV-0041', severity: 'CRITICAL', success: true },
            { checkID: 'AVD-KSV-0044', severity: 'CRITICAL', success: true },
          ],
        },
        {
          id: '3.0',
          name: 'CNI supports network policies (Manual)',
          description: 'Checked by a person',
          status: 'MANUAL',
          severity: 'CRITICAL',
          checks: [],
        },
      ],
    });
  });

  it('keeps at most failEntriesLimit entries per control but counts every failure', () => {
    const many = Array.from({ length: 25 }, (_, i) => failed('KSV017', `ns/pod-${i}`));
    const result = evaluate(testSpec('all'), many, { failEntriesLimit: 10 });
    const control = result.controls[0];
    assert.equal(control?.failed, 25);
    assert.deepEqual(
      control?.entries.map((e) => e.target),
      Array.from({ length: 10 }, (_, i) => `ns/pod-${i}`),
    );
    assert.equal(result.unlisted, 15);
    // A summary report keeps no entries at all.
    const summary = evaluate(testSpec('summary'), many, { failEntriesLimit: 10 });
    assert.equal(summary.controls[0]?.entries.length, 0);
    assert.equal(summary.controls[0]?.failed, 25);
  });
});

describe('failedChecksOf', () => {
  const report = (namespace: string | undefined, checks: unknown[]) => ({
    kind: namespace ? 'ConfigAuditReport' : 'ClusterRbacAssessmentReport',
    metadata: { name: namespace ? 'daemonset-log-agent' : 'clusterrole-admin-all', namespace },
    report: { summary: {}, checks },
  });

  it('keeps the failed, wanted checks with the report as target', () => {
    const wanted = (id: string) => id === 'KSV-0017' || id === 'KSV-0044';
    const checks = [
      { checkID: 'KSV017', severity: 'HIGH', success: false, messages: ['privileged'], title: 'Privileged' },
      { checkID: 'KSV014', severity: 'LOW', success: false }, // not wanted
      { checkID: 'KSV-0017', severity: 'HIGH', success: true }, // passed
      { severity: 'HIGH', success: false }, // no ID
      'not a check',
    ];
    assert.deepEqual(failedChecksOf(report('shop', checks), wanted), [
      {
        checkID: 'KSV017',
        target: 'shop/daemonset-log-agent',
        severity: 'HIGH',
        title: 'Privileged',
        description: undefined,
        category: undefined,
        remediation: undefined,
        messages: ['privileged'],
      },
    ]);
    assert.deepEqual(
      failedChecksOf(
        report(undefined, [{ checkID: 'AVD-KSV-0044', severity: 'CRITICAL', success: false }]),
        wanted,
      ).map((c) => c.target),
      ['clusterrole-admin-all'],
    );
  });

  it('reads nothing from malformed reports instead of failing the run', () => {
    assert.deepEqual(
      failedChecksOf(null, () => true),
      [],
    );
    assert.deepEqual(
      failedChecksOf({ metadata: {}, report: { checks: 'x' } }, () => true),
      [],
    );
  });
});
