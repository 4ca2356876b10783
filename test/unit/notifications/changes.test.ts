import assert from 'node:assert/strict';
import { reportObjectPath } from '../../../src/crds/index.ts';
import { describe, it } from 'node:test';
import type { KubernetesObject } from '@kubernetes/client-node';
import {
  contentFingerprint,
  deletedReportObject,
  isHistorical,
  ReportChanges,
  webhookBody,
} from '../../../src/notifications/index.ts';

type Obj = KubernetesObject & Record<string, unknown>;

const vuln = (generation: number, labels: Record<string, string> = {}, uid = 'u1'): Obj => ({
  apiVersion: 'meta.k8s.io/v1',
  kind: 'PartialObjectMetadata',
  metadata: { name: 'replicaset-web-abc-nginx', namespace: 'shop', uid, generation, labels },
});

const compliance = (status: unknown, spec: unknown = { cron: '0 */6 * * *' }): Obj => ({
  apiVersion: 'aquasecurity.github.io/v1alpha1',
  kind: 'ClusterComplianceReport',
  metadata: { name: 'k8s-cis-1.23', uid: 'c1', generation: 1, resourceVersion: '10', labels: {} },
  spec,
  status,
});

describe('contentFingerprint', () => {
  it('follows the generation (and uid) of metadata-only objects, not their labels', () => {
    assert.equal(
      contentFingerprint(vuln(1), 'generation'),
      contentFingerprint(vuln(1, { team: 'a' }), 'generation'),
    );
    assert.notEqual(contentFingerprint(vuln(1), 'generation'), contentFingerprint(vuln(2), 'generation'));
    // Deleted and re-created while not watched: same generation, new uid.
    assert.notEqual(
      contentFingerprint(vuln(1), 'generation'),
      contentFingerprint(vuln(1, {}, 'u2'), 'generation'),
    );
  });

  it('hashes everything outside metadata for status-subresource kinds', () => {
    const base = compliance({ summary: { failCount: 1, passCount: 9 } });
    const relabelled = { ...base, metadata: { ...base.metadata, labels: { x: 'y' }, resourceVersion: '11' } };
    assert.equal(contentFingerprint(base, 'content'), contentFingerprint(relabelled, 'content'));
    const changed = compliance({ summary: { failCount: 2, passCount: 8 } });
    assert.notEqual(contentFingerprint(base, 'content'), contentFingerprint(changed, 'content'));
    const respecced = compliance(base.status, { cron: '0 * * * *' });
    assert.notEqual(contentFingerprint(base, 'content'), contentFingerprint(respecced, 'content'));
  });
});

describe('ReportChanges', () => {
  it('takes the first list as the baseline: nothing to send for it', () => {
    const changes = new ReportChanges();
    assert.equal(changes.observe('ADDED', 'a', 'u:1', true), undefined);
    assert.equal(changes.observe('ADDED', 'b', 'u:1', true), undefined);
    assert.equal(changes.size, 2);
  });

  it('sends new reports and content changes, not repeats or metadata-only updates', () => {
    const changes = new ReportChanges();
    changes.observe('ADDED', 'a', 'u:1', true);
    assert.equal(changes.observe('ADDED', 'b', 'u:1', false), 'update');
    assert.equal(changes.observe('MODIFIED', 'a', 'u:1', false), undefined);
    assert.equal(changes.observe('MODIFIED', 'a', 'u:2', false), 'update');
    assert.equal(changes.observe('MODIFIED', 'a', 'u:2', false), undefined);
  });

  it('reports deletions of known reports and forgets them', () => {
    const changes = new ReportChanges();
    changes.observe('ADDED', 'a', 'u:1', true);
    assert.equal(changes.observe('DELETED', 'a', '', false), 'delete');
    assert.equal(changes.observe('DELETED', 'a', '', false), undefined);
    assert.equal(changes.size, 0);
    assert.equal(changes.observe('ADDED', 'a', 'v:1', false), 'update');
  });
});

describe('payload', () => {
  const report = {
    apiVersion: 'aquasecurity.github.io/v1alpha1',
    kind: 'VulnerabilityReport',
    metadata: { name: 'r', namespace: 'shop' },
    report: { summary: { criticalCount: 1 } },
  };

  it('is the report object itself, as Trivy-Operator sends it', () => {
    assert.deepEqual(JSON.parse(webhookBody(report, 'update', false)), report);
  });

  it('is wrapped as {verb, operatorObject} when deleted reports are sent too', () => {
    assert.deepEqual(JSON.parse(webhookBody(report, 'update', true)), {
      verb: 'update',
      operatorObject: report,
    });
    assert.deepEqual(JSON.parse(webhookBody(report, 'delete', true)), {
      verb: 'delete',
      operatorObject: report,
    });
  });

  it('describes a deleted report by kind and metadata, without managedFields', () => {
    const gone = deletedReportObject('ExposedSecretReport', {
      apiVersion: 'meta.k8s.io/v1',
      kind: 'PartialObjectMetadata',
      metadata: {
        name: 'r',
        namespace: 'shop',
        uid: 'u1',
        labels: { 'trivy-operator.resource.kind': 'ReplicaSet' },
        managedFields: [{ manager: 'trivy-lookout' }],
      },
    });
    assert.deepEqual(gone, {
      apiVersion: 'aquasecurity.github.io/v1alpha1',
      kind: 'ExposedSecretReport',
      metadata: {
        name: 'r',
        namespace: 'shop',
        uid: 'u1',
        labels: { 'trivy-operator.resource.kind': 'ReplicaSet' },
      },
    });
  });

  it('knows historical reports by their zero TTL', () => {
    const ttl = (value: string) => ({
      metadata: { annotations: { 'trivy-operator.aquasecurity.github.io/report-ttl': value } },
    });
    assert.equal(isHistorical(ttl('0s')), true);
    assert.equal(isHistorical(ttl('0')), true);
    assert.equal(isHistorical(ttl('24h0m0s')), false);
    assert.equal(isHistorical(ttl('garbage')), false);
    assert.equal(isHistorical({ metadata: {} }), false);
  });

  it('reads reports by their API path, namespaced or not', () => {
    assert.equal(
      reportObjectPath('ConfigAuditReport', 'shop', 'replicaset-web'),
      '/apis/aquasecurity.github.io/v1alpha1/namespaces/shop/configauditreports/replicaset-web',
    );
    assert.equal(
      reportObjectPath('ClusterComplianceReport', undefined, 'k8s-cis-1.23'),
      '/apis/aquasecurity.github.io/v1alpha1/clustercompliancereports/k8s-cis-1.23',
    );
  });
});
