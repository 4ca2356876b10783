/**
 * Trivy's `config` JSON → report check items and report objects, on plain data: the IDs, titles,
 * severities and remediation Trivy-Operator users know, failed-only filtering, KCV routing, names,
 * labels, owners, summaries and the size guard.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import {
  AUDITABLE_KINDS,
  auditReportName,
  buildAuditReport,
  fitChecks,
  parseTrivyConfigOutput,
  reportCheckId,
  streamTrivyConfigOutput,
  summarise,
  toChecks,
} from '../../../src/configaudit/index.ts';
import type { Check } from '../../../src/crds/index.ts';
import { isLookoutError } from '../../../src/errors/index.ts';

const fixture = readFileSync(new URL('./fixtures/trivy-config-deployment.json', import.meta.url), 'utf8');
const ALL = ['CRITICAL', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN'] as const;
const kind = (name: string) => {
  const found = AUDITABLE_KINDS[name];
  assert.ok(found, name);
  return found;
};

describe('parseTrivyConfigOutput', () => {
  it('reads the misconfigurations of every file, passes included', () => {
    const byFile = parseTrivyConfigOutput(fixture);
    assert.deepEqual([...byFile.keys()], ['0.json']);
    const items = byFile.get('0.json') ?? [];
    assert.equal(items.length, 7);
    const privileged = items.find((m) => m.id === 'KSV-0017');
    assert.deepEqual(privileged, {
      id: 'KSV-0017',
      namespace: 'builtin.kubernetes.KSV017',
      title: 'Privileged',
      description: privileged?.description,
      message: "Container 'web' of Deployment 'bad' should set 'securityContext.privileged' to false",
      resolution: "Change 'containers[].securityContext.privileged' to 'false'.",
      severity: 'HIGH',
      status: 'FAIL',
    });
    assert.ok((privileged?.description ?? '').length > 20);
  });

  it('rejects output it would have to guess about, naming the problem', () => {
    const cases: [string, RegExp][] = [
      ['not json', /not JSON/],
      ['[]', /top level is not an object/],
      ['{"SchemaVersion":1}', /SchemaVersion 1/],
      ['{"SchemaVersion":2,"Results":{}}', /Results is not a list/],
      ['{"SchemaVersion":2,"Results":[{"Misconfigurations":[]}]}', /has no Target/],
      [
        '{"SchemaVersion":2,"Results":[{"Target":"a","Misconfigurations":[{"ID":"X","Severity":"SEVERE","Status":"FAIL"}]}]}',
        /a Misconfigurations\[0\] \(X\): unknown severity SEVERE/,
      ],
      [
        '{"SchemaVersion":2,"Results":[{"Target":"a","Misconfigurations":[{"ID":"X","Severity":"LOW","Status":"MAYBE"}]}]}',
        /unknown status MAYBE/,
      ],
    ];
    for (const [input, message] of cases) {
      assert.throws(
        () => parseTrivyConfigOutput(input),
        (err: unknown) => isLookoutError(err, 'TL_TRIVY_OUTPUT_INVALID') && message.test(err.message),
        input,
      );
    }
  });

  it('accepts a run with no results (nothing recognised)', () => {
    assert.equal(parseTrivyConfigOutput('{"SchemaVersion":2}').size, 0);
  });
});

describe('reportCheckId', () => {
  it("spells Trivy's own checks as Trivy-Operator v0.32.0 writes them (the check's first alias, AVD-KSV-0017)", () => {
    assert.equal(reportCheckId({ id: 'KSV-0017', namespace: 'builtin.kubernetes.KSV017' }), 'AVD-KSV-0017');
    assert.equal(reportCheckId({ id: 'KCV-0001', namespace: 'builtin.kubernetes.KCV0001' }), 'AVD-KCV-0001');
    assert.equal(
      reportCheckId({ id: 'KSV-01010', namespace: 'builtin.kubernetes.KSV01010' }),
      'AVD-KSV-01010',
    );
    assert.equal(reportCheckId({ id: 'KSV-0124', namespace: 'builtin.kubernetes.KSV0124' }), 'AVD-KSV-0124');
    // Already spelled that way (an older Trivy's AVDID): unchanged.
    assert.equal(
      reportCheckId({ id: 'AVD-KSV-0017', namespace: 'builtin.kubernetes.KSV017' }),
      'AVD-KSV-0017',
    );
  });

  it('keeps the declared ID of custom policies and of IDs of another shape', () => {
    assert.equal(reportCheckId({ id: 'KSV-0107', namespace: 'defsec.kubernetes.KSV107' }), 'KSV-0107');
    assert.equal(reportCheckId({ id: 'CUSTOM001', namespace: 'trivyoperator.team_label' }), 'CUSTOM001');
    assert.equal(
      reportCheckId({ id: 'AVD-KSV-0017', namespace: 'builtin.kubernetes.KSV017' }),
      'AVD-KSV-0017',
    );
  });
});

describe('toChecks', () => {
  const items = parseTrivyConfigOutput(fixture).get('0.json') ?? [];

  it('maps failures and passes field by field, KCV checks set apart', () => {
    const { checks, infraChecks } = toChecks(items, { severities: ALL, failedOnly: false });
    assert.deepEqual(
      checks.map((c) => [c.checkID, c.severity, c.success]),
      [
        ['CUSTOM001', 'HIGH', false],
        ['AVD-KSV-0001', 'MEDIUM', false],
        ['AVD-KSV-0011', 'LOW', false],
        ['AVD-KSV-0014', 'HIGH', false],
        ['AVD-KSV-0017', 'HIGH', false],
        ['AVD-KSV-0008', 'HIGH', true],
      ],
    );
    assert.deepEqual(
      infraChecks.map((c) => c.checkID),
      ['AVD-KCV-0001'],
    );
    const privileged = checks.find((c) => c.checkID === 'AVD-KSV-0017');
    assert.deepEqual(privileged && { ...privileged, description: undefined }, {
      checkID: 'AVD-KSV-0017',
      title: 'Privileged',
      description: undefined,
      severity: 'HIGH',
      category: 'Kubernetes Security Check',
      messages: ["Container 'web' of Deployment 'bad' should set 'securityContext.privileged' to false"],
      remediation: "Change 'containers[].securityContext.privileged' to 'false'.",
      success: false,
    });
    const pass = checks.find((c) => c.checkID === 'AVD-KSV-0008');
    assert.equal(pass?.messages, undefined, 'a pass has no messages');
    assert.equal(pass?.title, 'Access to host IPC namespace');
  });

  it('leaves passes out when only failed checks are recorded, and filters by severity', () => {
    const failed = toChecks(items, { severities: ALL, failedOnly: true }).checks;
    assert.ok(failed.every((c) => !c.success));
    assert.equal(failed.length, 5);
    const high = toChecks(items, { severities: ['HIGH', 'CRITICAL'], failedOnly: true }).checks;
    assert.deepEqual(
      high.map((c) => c.checkID),
      ['CUSTOM001', 'AVD-KSV-0014', 'AVD-KSV-0017'],
    );
  });

  it('drops waived checks and failures that carry no message', () => {
    const base = items[1];
    assert.ok(base);
    const { checks } = toChecks(
      [
        { ...base, status: 'EXCEPTION' },
        { ...base, message: '' },
      ],
      {
        severities: ALL,
        failedOnly: false,
      },
    );
    assert.deepEqual(checks, []);
  });
});

describe('report objects', () => {
  const items = parseTrivyConfigOutput(fixture).get('0.json') ?? [];
  const { checks } = toChecks(items, { severities: ALL, failedOnly: false });

  it('builds a ConfigAuditReport named, labelled and owned as Trivy-Operator does', () => {
    const report = buildAuditReport({
      target: { kind: kind('ReplicaSet'), namespace: 'shop', name: 'bad-7d9c6b8f5c', uid: 'uid-1' },
      specHash: 'spec1',
      policyHash: 'pol1',
      checks,
      scannerVersion: '0.74.0',
      now: new Date('2026-01-02T03:04:05.678Z'),
      extraLabels: { team: 'web', 'trivy-operator.resource.kind': 'spoofed' },
    });
    assert.equal(report.kind, 'ConfigAuditReport');
    assert.deepEqual(report.metadata, {
      name: 'replicaset-bad-7d9c6b8f5c',
      namespace: 'shop',
      labels: {
        team: 'web',
        'trivy-operator.resource.kind': 'ReplicaSet',
        'trivy-operator.resource.namespace': 'shop',
        'trivy-operator.resource.name': 'bad-7d9c6b8f5c',
        'app.kubernetes.io/managed-by': 'trivy-operator',
        'resource-spec-hash': 'spec1',
        'plugin-config-hash': 'pol1',
      },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'bad-7d9c6b8f5c',
          uid: 'uid-1',
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    });
    assert.equal(report.report.updateTimestamp, '2026-01-02T03:04:05Z');
    assert.deepEqual(report.report.scanner, { name: 'Trivy', vendor: 'Aqua Security', version: '0.74.0' });
    assert.deepEqual(report.report.summary, { criticalCount: 0, highCount: 3, mediumCount: 1, lowCount: 1 });
    assert.equal(report.report.checks.length, 6);
  });

  it('writes cluster-scoped RBAC reports without namespace or timestamp, and hashes names that are not labels', () => {
    const report = buildAuditReport({
      target: { kind: kind('ClusterRole'), namespace: '', name: 'system:controller:job', uid: 'u' },
      specHash: 's',
      policyHash: 'p',
      checks: [],
      scannerVersion: '0.74.0',
      now: new Date(0),
    });
    assert.equal(report.kind, 'ClusterRbacAssessmentReport');
    assert.equal(report.metadata.namespace, undefined);
    assert.match(report.metadata.name, /^clusterrole-[bcdfghjklmnpqrstvwxz2456789]+$/);
    assert.equal(report.metadata.labels['trivy-operator.resource.name-hash'] !== undefined, true);
    assert.equal(report.metadata.labels['trivy-operator.resource.namespace'], '');
    assert.deepEqual(report.metadata.annotations, {
      'trivy-operator.resource.name': 'system:controller:job',
    });
    assert.equal(report.report.updateTimestamp, undefined);
    assert.deepEqual(report.report.summary, { criticalCount: 0, highCount: 0, mediumCount: 0, lowCount: 0 });
  });

  it('routes each kind to its report kind', () => {
    assert.equal(kind('Role').report, 'RbacAssessmentReport');
    assert.equal(kind('RoleBinding').report, 'ConfigAuditReport');
    assert.equal(kind('ClusterRoleBinding').report, 'ClusterConfigAuditReport');
    assert.equal(kind('Service').report, 'ConfigAuditReport');
    assert.equal(auditReportName('Service', 'web'), 'service-web');
    assert.equal(
      auditReportName('ConfigMap', 'kube-root-ca.crt'),
      `configmap-${auditReportName('x', 'kube-root-ca.crt').slice(2)}`,
    );
  });

  it('summarises failed checks only', () => {
    const check = (severity: Check['severity'], success: boolean): Check => ({
      checkID: 'X',
      severity,
      success,
    });
    assert.deepEqual(
      summarise([
        check('CRITICAL', false),
        check('CRITICAL', true),
        check('LOW', false),
        check('UNKNOWN', false),
      ]),
      { criticalCount: 1, highCount: 0, mediumCount: 0, lowCount: 1 },
    );
  });

  it('keeps an oversized report within the limit: passes go first, then the least severe, summary whole', () => {
    const big = (id: string, severity: Check['severity'], success: boolean): Check => ({
      checkID: id,
      severity,
      success,
      messages: ['x'.repeat(1000)],
    });
    const many = [
      big('a', 'CRITICAL', false),
      big('b', 'LOW', false),
      big('c', 'HIGH', true),
      big('d', 'MEDIUM', false),
    ];
    const { checks: kept, dropped } = fitChecks(many, 2500);
    assert.equal(dropped, 2);
    assert.deepEqual(
      kept.map((c) => c.checkID),
      ['a', 'd'],
    );
    const report = buildAuditReport({
      target: { kind: kind('Pod'), namespace: 'n', name: 'p', uid: 'u' },
      specHash: 's',
      policyHash: 'p',
      checks: many,
      scannerVersion: 'v',
      now: new Date(0),
      maxBytes: 2500,
    });
    assert.equal(report.report.checks.length, 2);
    assert.deepEqual(report.report.summary, { criticalCount: 1, highCount: 0, mediumCount: 1, lowCount: 1 });
    assert.match(report.metadata.annotations?.['trivy-lookout.dev/trimmed'] ?? '', /dropped 2 of 4 checks/);
  });
});

describe('streamTrivyConfigOutput', () => {
  async function* pieces(text: string, size: number): AsyncGenerator<string> {
    for (let i = 0; i < text.length; i += size) yield text.slice(i, i + size);
  }

  it('yields the same results as the whole-text parser however the text is cut', async () => {
    const whole = parseTrivyConfigOutput(fixture);
    for (const size of [1, 7, 64, 4096, fixture.length]) {
      const streamed = new Map<string, unknown>();
      for await (const [target, items] of streamTrivyConfigOutput(pieces(fixture, size)))
        streamed.set(target, items);
      assert.deepEqual(streamed, whole, `pieces of ${size}`);
    }
  });

  it('handles braces, brackets and escaped quotes inside strings, and checks the envelope', async () => {
    const tricky = JSON.stringify({
      SchemaVersion: 2,
      ArtifactName: 'x "Results": [',
      Results: [
        {
          Target: 'a}.json',
          Misconfigurations: [{ ID: 'X', Severity: 'LOW', Status: 'FAIL', Message: '{"[\\' }],
        },
        { Target: 'b.json' },
      ],
    });
    const got: [string, number][] = [];
    for await (const [target, items] of streamTrivyConfigOutput(pieces(tricky, 3)))
      got.push([target, items.length]);
    assert.deepEqual(got, [
      ['a}.json', 1],
      ['b.json', 0],
    ]);
    await assert.rejects(async () => {
      for await (const _ of streamTrivyConfigOutput(pieces('{"SchemaVersion":1,"Results":[]}', 5))) void _;
    }, /SchemaVersion 1/);
    await assert.rejects(async () => {
      for await (const _ of streamTrivyConfigOutput(pieces('', 5))) void _;
    }, /not JSON/);
  });
});

describe('buildAuditReport metadata as Trivy-Operator writes it', () => {
  const target = (name: string) => ({ kind: kind(name), namespace: 'ns', name: 'x', uid: 'u' });
  const input = { specHash: 's', policyHash: 'p', checks: [], scannerVersion: '0.74.0', now: new Date(0) };

  it('annotates namespaced config-audit and RBAC reports with report-ttl, cluster-scoped ones not', () => {
    const ttl = 'trivy-operator.aquasecurity.github.io/report-ttl';
    for (const name of ['Pod', 'Service', 'Role'])
      assert.equal(
        buildAuditReport({ ...input, target: target(name), ttlMs: 86_400_000 }).metadata.annotations?.[ttl],
        '24h0m0s',
      );
    for (const name of ['ClusterRole', 'PersistentVolume'])
      assert.equal(
        buildAuditReport({ ...input, target: target(name), ttlMs: 86_400_000 }).metadata.annotations,
        undefined,
      );
    assert.equal(
      buildAuditReport({ ...input, target: target('Pod'), ttlMs: null }).metadata.annotations,
      undefined,
    );
  });

  it('leaves an empty remediation out of a check', () => {
    const [check] = toChecks(
      [
        {
          id: 'X1',
          namespace: 'trivyoperator.x',
          title: 't',
          description: 'd',
          message: 'm',
          resolution: '',
          severity: 'LOW',
          status: 'FAIL',
        },
      ],
      { severities: ALL, failedOnly: true },
    ).checks;
    assert.equal(check && 'remediation' in check, false);
  });
});
