/** Report names, labels, annotations and owner references, as Trivy-Operator writes them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  REPORT_MANAGED_BY,
  isValidLabelValue,
  isValidObjectName,
  nameHash,
  pickReportResourceLabels,
  reportMetadata,
  reportName,
  workloadLabels,
  type WorkloadRef,
} from '../../../src/workloads/index.ts';

const replicaSet: WorkloadRef = {
  kind: 'ReplicaSet',
  namespace: 'shop',
  name: 'web-7d4b9c8f5',
  uid: '6b1f3c2e-2f0a-4c55-9d0e-3b7f1a9e8c21',
  apiVersion: 'apps/v1',
};

describe('reportName', () => {
  it('is <kind>-<name>-<container> in lower case when short enough', () => {
    assert.equal(reportName(replicaSet, 'app'), 'replicaset-web-7d4b9c8f5-app');
    assert.equal(reportName({ kind: 'CronJob', name: 'backup' }, 'dump'), 'cronjob-backup-dump');
  });

  it('keeps a name of exactly 63 characters and hashes one of 64', () => {
    const name63 = `pod-${'a'.repeat(55)}-app`;
    assert.equal(name63.length, 63);
    assert.equal(reportName({ kind: 'Pod', name: 'a'.repeat(55) }, 'app'), name63);
    const long = 'a'.repeat(56);
    assert.equal(reportName({ kind: 'Pod', name: long }, 'app'), `pod-${nameHash(`${long}-app`)}`);
  });

  it('uses Trivy-Operator hash of "<name>-<container>" so it matches reports it wrote', () => {
    const name = 'a-very-long-statefulset-name-that-goes-on-and-on-and-on';
    assert.equal(
      reportName({ kind: 'StatefulSet', name }, 'postgres'),
      `statefulset-${nameHash(`${name}-postgres`)}`,
    );
  });

  it('always gives a valid object name and label value', () => {
    for (const name of ['x', 'my.dotted.app', 'b'.repeat(253)]) {
      const report = reportName({ kind: 'ReplicationController', name }, 'c');
      assert.ok(isValidObjectName(report) && isValidLabelValue(report), report);
    }
  });
});

describe('workloadLabels', () => {
  it('identifies the workload by kind, namespace and name', () => {
    assert.deepEqual(workloadLabels(replicaSet), {
      'trivy-operator.resource.kind': 'ReplicaSet',
      'trivy-operator.resource.namespace': 'shop',
      'trivy-operator.resource.name': 'web-7d4b9c8f5',
    });
  });

  it('uses the name-hash label when the name is not a valid label value', () => {
    const name = 'n'.repeat(64);
    assert.deepEqual(workloadLabels({ kind: 'Pod', namespace: 'shop', name }), {
      'trivy-operator.resource.kind': 'Pod',
      'trivy-operator.resource.namespace': 'shop',
      'trivy-operator.resource.name-hash': nameHash(name),
    });
  });
});

describe('reportMetadata', () => {
  it('gives name, namespace, all labels, the TTL in Go form and a non-blocking controller owner', () => {
    assert.deepEqual(reportMetadata(replicaSet, 'app', { specHash: '7467bf6447', ttlMs: 86_400_000 }), {
      name: 'replicaset-web-7d4b9c8f5-app',
      namespace: 'shop',
      labels: {
        'trivy-operator.resource.kind': 'ReplicaSet',
        'trivy-operator.resource.namespace': 'shop',
        'trivy-operator.resource.name': 'web-7d4b9c8f5',
        'trivy-operator.container.name': 'app',
        'app.kubernetes.io/managed-by': 'trivy-operator',
        'resource-spec-hash': '7467bf6447',
      },
      annotations: { 'trivy-operator.aquasecurity.github.io/report-ttl': '24h0m0s' },
      ownerReferences: [
        {
          apiVersion: 'apps/v1',
          kind: 'ReplicaSet',
          name: 'web-7d4b9c8f5',
          uid: '6b1f3c2e-2f0a-4c55-9d0e-3b7f1a9e8c21',
          controller: true,
          blockOwnerDeletion: false,
        },
      ],
    });
  });

  it("keeps Trivy-Operator's managed-by value, for dashboards that filter on it", () => {
    assert.equal(REPORT_MANAGED_BY, 'trivy-operator');
  });

  it('writes no TTL annotation when reports do not expire', () => {
    assert.deepEqual(reportMetadata(replicaSet, 'app', { specHash: 'h', ttlMs: null }).annotations, {});
    assert.deepEqual(reportMetadata(replicaSet, 'app', { specHash: 'h' }).annotations, {});
    assert.deepEqual(reportMetadata(replicaSet, 'app', { specHash: 'h', ttlMs: 0 }).annotations, {
      'trivy-operator.aquasecurity.github.io/report-ttl': '0s',
    });
  });

  it('puts the real name in an annotation when the label carries its hash', () => {
    const name = 'p'.repeat(70);
    const metadata = reportMetadata({ ...replicaSet, kind: 'Pod', name, apiVersion: 'v1' }, 'app', {
      specHash: 'h',
    });
    assert.equal(metadata.name, `pod-${nameHash(`${name}-app`)}`);
    assert.equal(metadata.labels['trivy-operator.resource.name-hash'], nameHash(name));
    assert.equal(metadata.labels['trivy-operator.resource.name'], undefined);
    assert.deepEqual(metadata.annotations, { 'trivy-operator.resource.name': name });
  });

  it('adds extra labels without letting them override the identifying ones', () => {
    const metadata = reportMetadata(replicaSet, 'app', {
      specHash: 'h',
      extraLabels: { team: 'payments', 'trivy-operator.container.name': 'spoofed' },
    });
    assert.equal(metadata.labels.team, 'payments');
    assert.equal(metadata.labels['trivy-operator.container.name'], 'app');
  });
});

describe('pickReportResourceLabels', () => {
  it('copies only the wanted labels the resource has', () => {
    assert.deepEqual(
      pickReportResourceLabels({ app: 'shop', team: 'a', tier: 'web' }, ['app', 'owner', 'tier']),
      { app: 'shop', tier: 'web' },
    );
    assert.deepEqual(pickReportResourceLabels(undefined, ['app']), {});
    assert.deepEqual(pickReportResourceLabels({ app: 'shop' }, []), {});
  });
});
