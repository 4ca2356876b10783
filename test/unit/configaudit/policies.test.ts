/**
 * Custom policies from the ConfigMap, the per-kind policy hash, and which kinds are audited: plain
 * data in, plain data out.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  auditedKinds,
  parsePolicyConfigMap,
  policiesFor,
  policyHash,
  withoutRejected,
} from '../../../src/configaudit/index.ts';

const rego = (pkg: string) => `package ${pkg}\n\ndeny contains res if { false; res := 1 }\n`;

describe('parsePolicyConfigMap', () => {
  it("reads Trivy-Operator's layout: policy.<name>.rego + .kinds, library.<name>.rego", () => {
    const set = parsePolicyConfigMap({
      'policy.team_label.rego': rego('trivyoperator.team_label'),
      'policy.team_label.kinds': 'Workload',
      'policy.svc.rego': rego('trivyoperator.svc'),
      'policy.svc.kinds': 'Service, Ingress',
      'library.helpers.rego': rego('trivyoperator.lib.helpers'),
      'unrelated.key': 'ignored',
    });
    assert.deepEqual(
      set.policies.map((p) => [p.key, p.kinds]),
      [
        ['policy.svc.rego', ['Service', 'Ingress']],
        ['policy.team_label.rego', ['Workload']],
      ],
    );
    assert.deepEqual(
      set.libraries.map((l) => l.key),
      ['library.helpers.rego'],
    );
    assert.deepEqual(set.problems, []);
  });

  it('rejects each malformed entry on its own with a message that says what to fix', () => {
    const set = parsePolicyConfigMap({
      'policy.good.rego': rego('trivyoperator.good'),
      'policy.good.kinds': '*',
      'policy.nokinds.rego': rego('trivyoperator.nokinds'),
      'policy.orphan.kinds': 'Pod',
      'policy.wrongpkg.rego': rego('mycompany.checks'),
      'policy.wrongpkg.kinds': 'Pod',
      'policy.nopkg.rego': 'deny { true }',
      'policy.nopkg.kinds': 'Pod',
    });
    assert.deepEqual(
      set.policies.map((p) => p.key),
      ['policy.good.rego'],
    );
    const messages = Object.fromEntries(set.problems.map((p) => [p.key, p.message]));
    assert.match(messages['policy.nokinds.rego'] ?? '', /has no policy\.nokinds\.kinds/);
    assert.match(messages['policy.orphan.kinds'] ?? '', /has no policy\.orphan\.rego/);
    assert.match(
      messages['policy.wrongpkg.rego'] ?? '',
      /package mycompany\.checks; custom policies must be under trivyoperator/,
    );
    assert.match(messages['policy.nopkg.rego'] ?? '', /has no `package` line/);
  });

  it('an empty or missing ConfigMap is an empty set', () => {
    assert.deepEqual(parsePolicyConfigMap(undefined), { policies: [], libraries: [], problems: [] });
  });
});

describe('policy hash per kind', () => {
  const set = parsePolicyConfigMap({
    'policy.team.rego': rego('trivyoperator.team'),
    'policy.team.kinds': 'Workload',
    'policy.svc.rego': rego('trivyoperator.svc'),
    'policy.svc.kinds': 'Service',
    'library.lib.rego': rego('trivyoperator.lib'),
  });

  it('selects policies by kind, * and Workload', () => {
    assert.deepEqual(
      policiesFor(set, 'ReplicaSet', true).map((p) => p.key),
      ['policy.team.rego'],
    );
    assert.deepEqual(
      policiesFor(set, 'Service', false).map((p) => p.key),
      ['policy.svc.rego'],
    );
    assert.deepEqual(policiesFor(set, 'ConfigMap', false), []);
  });

  it('changes for exactly the kinds a policy change affects', () => {
    const changed = parsePolicyConfigMap({
      'policy.team.rego': rego('trivyoperator.team') + '# v2\n',
      'policy.team.kinds': 'Workload',
      'policy.svc.rego': rego('trivyoperator.svc'),
      'policy.svc.kinds': 'Service',
      'library.lib.rego': rego('trivyoperator.lib'),
    });
    const hash = (s: typeof set, kind: string, workload: boolean) => policyHash('0.74.0', s, kind, workload);
    assert.notEqual(hash(set, 'Pod', true), hash(changed, 'Pod', true));
    assert.notEqual(hash(set, 'CronJob', true), hash(changed, 'CronJob', true));
    assert.equal(hash(set, 'Service', false), hash(changed, 'Service', false));
    assert.equal(hash(set, 'ConfigMap', false), hash(changed, 'ConfigMap', false));
    // A kind without custom policies hashes the same as with no ConfigMap at all.
    assert.equal(hash(set, 'ConfigMap', false), hash(parsePolicyConfigMap({}), 'ConfigMap', false));
    // A new Trivy (new embedded checks) changes every kind.
    assert.notEqual(hash(set, 'ConfigMap', false), policyHash('0.75.0', set, 'ConfigMap', false));
  });

  it('drops rejected modules and keeps the reason', () => {
    const rest = withoutRejected(set, [{ key: 'policy.svc.rego', message: 'broken' }]);
    assert.deepEqual(
      rest.policies.map((p) => p.key),
      ['policy.team.rego'],
    );
    assert.deepEqual(rest.problems, [{ key: 'policy.svc.rego', message: 'broken' }]);
  });
});

describe('auditedKinds', () => {
  const base = {
    supportedKinds: ['Workload', 'Service', 'Role', 'ClusterRole', 'ClusterRoleBinding'] as const,
    targetWorkloads: ['pod', 'replicaset'] as const,
    configAuditEnabled: true,
    rbacAssessmentEnabled: true,
  };

  it('expands Workload to the target workloads', () => {
    assert.deepEqual(
      auditedKinds(base).map((k) => k.kind),
      ['Pod', 'ReplicaSet', 'Service', 'Role', 'ClusterRole', 'ClusterRoleBinding'],
    );
  });

  it('the two switches turn their report kinds off independently', () => {
    assert.deepEqual(
      auditedKinds({ ...base, rbacAssessmentEnabled: false }).map((k) => k.kind),
      ['Pod', 'ReplicaSet', 'Service', 'ClusterRoleBinding'],
    );
    assert.deepEqual(
      auditedKinds({ ...base, configAuditEnabled: false }).map((k) => k.kind),
      ['Role', 'ClusterRole'],
    );
  });
});
