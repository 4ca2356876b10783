import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ApiextensionsV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { API_GROUP, API_VERSION, ReportKind, type ReportKindName } from '../../../src/crds/index.ts';
import { apiErrorMessage, apiErrorStatus } from '../../../src/kube/index.ts';
import { kubectl } from '../../harness/kubectl.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { repoRoot } from '../../harness/tools.ts';

interface Sample {
  apiVersion: string;
  kind: ReportKindName;
  metadata: { name: string; namespace?: string };
  [key: string]: unknown;
}

const fixtures = path.join(repoRoot, 'test', 'fixtures', 'reports');
const load = (file: string) => yaml.load(readFileSync(file, 'utf8')) as Sample;

describe('report CRDs on a real API server', () => {
  let cluster: TestCluster;
  let objects: CustomObjectsApi;
  let namespace: string;

  before(async () => {
    cluster = await useTestCluster();
    objects = cluster.kubeConfig().makeApiClient(CustomObjectsApi);
    namespace = await cluster.createNamespace('crds');
  });
  /** Cluster-scoped samples, deleted at the end: later files' exporters would count them. */
  const clusterScoped: { plural: string; name: string }[] = [];
  after(async () => {
    for (const { plural, name } of clusterScoped)
      await objects
        .deleteClusterCustomObject({ group: API_GROUP, version: API_VERSION, plural, name })
        .catch(() => {});
    await cluster?.release();
  });

  async function create(sample: Sample): Promise<Record<string, unknown>> {
    const { plural, namespaced } = ReportKind[sample.kind];
    const body = {
      ...sample,
      metadata: { ...sample.metadata, namespace: namespaced ? namespace : undefined },
    };
    const common = { group: API_GROUP, version: API_VERSION, plural, body };
    if (!namespaced) clusterScoped.push({ plural, name: sample.metadata.name });
    return (
      namespaced
        ? await objects.createNamespacedCustomObject({ ...common, namespace })
        : await objects.createClusterCustomObject(common)
    ) as Record<string, unknown>;
  }

  it('serves all twelve kinds, established, with structural schemas', async () => {
    const api = cluster.kubeConfig().makeApiClient(ApiextensionsV1Api);
    const list = await api.listCustomResourceDefinition();
    const ours = list.items.filter((crd) => crd.spec.group === API_GROUP);
    assert.deepEqual(ours.map((crd) => crd.spec.names.kind).sort(), Object.keys(ReportKind).sort());
    for (const crd of ours) {
      const conditions = Object.fromEntries((crd.status?.conditions ?? []).map((c) => [c.type, c.status]));
      assert.equal(conditions.Established, 'True', crd.metadata?.name);
      assert.notEqual(conditions.NonStructuralSchema, 'True', crd.metadata?.name);
    }
  });

  it('accepts a valid sample of every kind and stores it without pruning a field', async () => {
    const files = readdirSync(fixtures).filter((f) => f.endsWith('.yaml'));
    assert.equal(files.length, 12);
    for (const file of files) {
      const sample = load(path.join(fixtures, file));
      // Cluster-scoped names are global: make them unique to this run.
      if (!ReportKind[sample.kind].namespaced) sample.metadata.name = `${sample.metadata.name}-${namespace}`;
      const stored = await create(sample);
      for (const field of ['report', 'spec'] as const) {
        if (sample[field] !== undefined)
          assert.deepEqual(stored[field], sample[field], `${file}: .${field} changed`);
      }
    }
  });

  it('rejects invalid samples with 422 and says which field is wrong', async () => {
    const expectations: Record<string, RegExp> = {
      'vulnerabilityreport-unknown-severity.yaml': /severity.*Unsupported value: "SEVERE"/,
      'configauditreport-count-as-string.yaml': /report\.summary\.\w+Count.*must be of type integer/,
      'exposedsecretreport-missing-report.yaml': /report: Required value/,
      'rbacassessmentreport-missing-scanner.yaml': /report\.scanner: Required value/,
      'sbomreport-negative-count.yaml': /should be greater than or equal to 0/,
      'clustercompliancereport-bad-cron.yaml': /spec\.cron.*should match/,
    };
    for (const [file, message] of Object.entries(expectations)) {
      const sample = load(path.join(fixtures, 'invalid', file));
      sample.metadata.name = `${sample.metadata.name}-${namespace}`;
      await assert.rejects(create(sample), (err: unknown) => {
        assert.equal(apiErrorStatus(err), 422, `${file}: ${apiErrorMessage(err)}`);
        assert.match(apiErrorMessage(err), message, file);
        return true;
      });
    }
  });

  it('shows the printer columns through kubectl get -A, by short name too', async () => {
    const table = await kubectl(cluster.kubeconfigPath, ['get', 'vulnerabilityreports', '-A']);
    const [header, ...rows] = table.trimEnd().split('\n');
    assert.match(header ?? '', /^NAMESPACE\s+NAME\s+REPOSITORY\s+TAG\s+SCANNER\s+AGE$/);
    const row = rows.find((r) => r.startsWith(namespace));
    assert.match(
      row ?? '',
      /replicaset-web-7d9c6b8f5c-web\s+aquasecurity\/trivy-test-images\s+alpine-39\s+Trivy\s+\d+s/,
    );

    const wide = await kubectl(cluster.kubeconfigPath, ['get', 'vulns', '-n', namespace, '-o', 'wide']);
    assert.match(wide.split('\n')[0] ?? '', /SCANNER\s+AGE\s+CRITICAL\s+HIGH\s+MEDIUM\s+LOW\s+UNKNOWN$/);

    const audits = await kubectl(cluster.kubeconfigPath, [
      'get',
      'configaudit',
      '-n',
      namespace,
      '-o',
      'wide',
    ]);
    assert.match(audits.split('\n')[0] ?? '', /^NAME\s+SCANNER\s+AGE\s+CRITICAL\s+HIGH\s+MEDIUM\s+LOW$/);

    const compliance = await kubectl(cluster.kubeconfigPath, ['get', 'compliance', '-o', 'wide']);
    assert.match(compliance.split('\n')[0] ?? '', /^NAME\s+AGE\s+FAIL\s+PASS$/);
  });
});
