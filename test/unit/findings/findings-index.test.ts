import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FIRST_SEEN_ANNOTATION, FindingsIndex, reportKey } from '../../../src/findings/index.ts';
import { LODASH, LOG4SHELL, vulnReport, ZLIB } from './support.ts';

const tracked = new Set(['CRITICAL', 'HIGH'] as const);

describe('FindingsIndex', () => {
  it('answers "where does CVE-X run" across namespaces, whatever the case of the ID', () => {
    const index = new FindingsIndex({ tracked });
    index.apply('ADDED', vulnReport({ namespace: 'shop', workload: 'web-7d9c', vulns: [LOG4SHELL, ZLIB] }));
    index.apply(
      'ADDED',
      vulnReport({
        namespace: 'billing',
        workload: 'ledger',
        kind: 'StatefulSet',
        repository: 'billing/ledger',
        tag: '3.1',
        vulns: [LOG4SHELL],
      }),
    );
    index.apply(
      'ADDED',
      vulnReport({ namespace: 'shop', workload: 'cart', repository: 'shop/cart', vulns: [LODASH] }),
    );

    const rows = index.affected('cve-2021-44228');
    assert.deepEqual(
      rows
        .map((r) => [
          r.namespace,
          `${r.resourceKind}/${r.resourceName}`,
          r.containerName,
          r.image,
          r.package,
          r.installedVersion,
          r.fixedVersion,
          r.severity,
        ])
        .sort(),
      [
        [
          'billing',
          'StatefulSet/ledger',
          'app',
          'registry.example.com/billing/ledger:3.1',
          LOG4SHELL.pkg,
          '2.14.1',
          '2.15.0',
          'CRITICAL',
        ],
        [
          'shop',
          'ReplicaSet/web-7d9c',
          'app',
          'registry.example.com/shop/web:1.0',
          LOG4SHELL.pkg,
          '2.14.1',
          '2.15.0',
          'CRITICAL',
        ],
      ],
    );
    assert.deepEqual(
      index.affected('CVE-2021-44228', (ns) => ns === 'shop').map((r) => r.namespace),
      ['shop'],
    );
    assert.deepEqual(index.affected('CVE-1999-0001'), []);
  });

  it('reads the workload name from the annotation when the label carries a hash (long names, as Trivy-Operator writes them)', () => {
    const index = new FindingsIndex({ tracked });
    const report = vulnReport({ namespace: 'shop', workload: 'x', vulns: [LOG4SHELL] });
    const long = 'a'.repeat(70);
    report.metadata!.labels!['trivy-operator.resource.name'] = '';
    report.metadata!.labels!['trivy-operator.resource.name-hash'] = 'abc123';
    report.metadata!.annotations = { 'trivy-operator.resource.name': long };
    index.apply('ADDED', report);
    assert.equal(index.affected(LOG4SHELL.id)[0]?.resourceName, long);
  });

  it('drops reports outside the target namespaces and frees every string of a deleted report', () => {
    const index = new FindingsIndex({ tracked, namespaceFilter: (ns) => ns !== 'kube-system' });
    index.apply('ADDED', vulnReport({ namespace: 'kube-system', workload: 'dns', vulns: [LOG4SHELL] }));
    assert.equal(index.size, 0);
    const report = vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4SHELL, LODASH, ZLIB] });
    index.apply('ADDED', report);
    index.apply('MODIFIED', report);
    assert.ok(index.strings.size > 0);
    index.apply('DELETED', report);
    assert.equal(index.size, 0);
    assert.equal(index.strings.size, 0, 'no string outlives the reports that use it');
  });

  it('keeps known stamps when a writer replaces the report without the annotation', () => {
    const index = new FindingsIndex({ tracked });
    const stamped = vulnReport({
      namespace: 'shop',
      workload: 'web',
      vulns: [LOG4SHELL, LODASH],
      firstSeen: JSON.stringify({
        '2026-12-01T10:00:00Z': [`${LOG4SHELL.id} ${LOG4SHELL.pkg}`, `${LODASH.id} ${LODASH.pkg}`],
      }),
    });
    index.apply('ADDED', stamped);
    // Trivy-Operator rewrites the report: no annotation, one finding fixed.
    const rewritten = vulnReport({ namespace: 'shop', workload: 'web', vulns: [LOG4SHELL] });
    index.apply('MODIFIED', rewritten);
    const report = index.get(reportKey('shop', 'replicaset-web-app'))!;
    assert.equal(report.annotation, undefined);
    assert.deepEqual(
      [...index.stampsOf(report)],
      [
        [
          `${LOG4SHELL.id} ${LOG4SHELL.pkg}`,
          { at: Date.parse('2026-12-01T10:00:00Z') / 1000, baseline: false },
        ],
      ],
    );
    assert.ok(!(rewritten.metadata?.annotations ?? {})[FIRST_SEEN_ANNOTATION]);
  });
});
