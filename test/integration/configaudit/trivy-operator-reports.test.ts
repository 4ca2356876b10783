/**
 * After a switch from Trivy-Operator: reports it wrote are recognised as current and not audited
 * again. On the real control plane, a Service, a Role and a ConfigMap (applied with kubectl, so it
 * carries the last-applied annotation that Trivy-Operator's cache drops) get reports in Trivy-
 * Operator v0.32.0's form, written with its field manager, whose resource-spec-hash is the one
 * scripts/spec-hash computes in Go the way Trivy-Operator does. The operator must leave those
 * reports alone, while it audits an object without a report and one whose Trivy-Operator report
 * has another spec hash; a change to an adopted object is audited.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import { kubeRequestJson } from '../../../src/kube/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { toolPath } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';
import { goSpecHashes, specHashTool } from '../../unit/configaudit/spec-hash-tool.ts';

const GROUP = { group: 'aquasecurity.github.io', version: 'v1alpha1' };
/** A plugin-config-hash as Trivy-Operator writes one (its checks bundle's): never one of ours. */
const THEIR_POLICY_HASH = '7b9c4d5f8';

interface Meta {
  metadata: { name: string; uid: string; resourceVersion: string; labels?: Record<string, string> };
}

const binary = specHashTool();

describe(
  "Trivy-Operator's reports after a switch (real API server, pinned Trivy)",
  { timeout: 600_000, skip: binary === undefined ? 'Go is needed to compute the expected hashes' : false },
  () => {
    let cluster: TestCluster;
    let operator: OperatorProcess;
    let objects: CustomObjectsApi;
    let core: CoreV1Api;
    let ns: string;
    const written = new Map<string, string>();

    /** Writes a report as Trivy-Operator would, with its field manager; returns its resourceVersion. */
    async function writeTheirReport(
      plural: string,
      prefix: string,
      owner: { apiVersion: string; kind: string } & Meta,
      specHash: string,
    ): Promise<string> {
      const body = {
        apiVersion: 'aquasecurity.github.io/v1alpha1',
        kind: plural === 'rbacassessmentreports' ? 'RbacAssessmentReport' : 'ConfigAuditReport',
        metadata: {
          name: `${prefix}-${owner.metadata.name}`,
          namespace: ns,
          annotations: { 'trivy-operator.aquasecurity.github.io/report-ttl': '24h0m0s' },
          labels: {
            'app.kubernetes.io/managed-by': 'trivy-operator',
            'plugin-config-hash': THEIR_POLICY_HASH,
            'resource-spec-hash': specHash,
            'trivy-operator.resource.kind': owner.kind,
            'trivy-operator.resource.name': owner.metadata.name,
            'trivy-operator.resource.namespace': ns,
          },
          ownerReferences: [
            {
              apiVersion: owner.apiVersion,
              kind: owner.kind,
              name: owner.metadata.name,
              uid: owner.metadata.uid,
              controller: true,
              blockOwnerDeletion: false,
            },
          ],
        },
        report: {
          updateTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
          scanner: { name: 'Trivy', vendor: 'Aqua Security', version: '0.72.0' },
          summary: { criticalCount: 0, highCount: 0, mediumCount: 0, lowCount: 0 },
          checks: [],
        },
      };
      const created = (await objects.createNamespacedCustomObject({
        ...GROUP,
        plural,
        namespace: ns,
        body,
        fieldManager: 'trivy-operator',
      })) as Meta;
      return created.metadata.resourceVersion;
    }

    async function report(plural: string, name: string): Promise<Meta | undefined> {
      try {
        return (await objects.getNamespacedCustomObject({ ...GROUP, plural, namespace: ns, name })) as Meta;
      } catch {
        return undefined;
      }
    }

    before(async () => {
      cluster = await useTestCluster();
      const kc = cluster.kubeConfig();
      core = kc.makeApiClient(CoreV1Api);
      const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
      objects = kc.makeApiClient(CustomObjectsApi);
      const operatorNs = await cluster.createNamespace('trivy-system');
      ns = await cluster.createNamespace('switch');
      for (const name of ['web', 'fresh', 'stale'])
        await core.createNamespacedService({
          namespace: ns,
          body: {
            metadata: { name, labels: { app: name } },
            spec: { ports: [{ port: 80 }], selector: { app: name } },
          },
        });
      await rbac.createNamespacedRole({
        namespace: ns,
        body: {
          metadata: { name: 'reader' },
          rules: [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }],
        },
      });
      execFileSync(
        toolPath('kubectl'),
        ['--kubeconfig', cluster.kubeconfigPath, 'apply', '-n', ns, '-f', '-'],
        {
          input: JSON.stringify({
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: { name: 'settings' },
            data: { a: '1' },
          }),
        },
      );

      const get = (path: string) => kubeRequestJson<Meta & Record<string, unknown>>(kc, { path });
      const web = {
        apiVersion: 'v1',
        kind: 'Service',
        ...(await get(`/api/v1/namespaces/${ns}/services/web`)),
      };
      const stale = {
        apiVersion: 'v1',
        kind: 'Service',
        ...(await get(`/api/v1/namespaces/${ns}/services/stale`)),
      };
      const reader = {
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        ...(await get(`/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles/reader`)),
      };
      const settings = {
        apiVersion: 'v1',
        kind: 'ConfigMap',
        ...(await get(`/api/v1/namespaces/${ns}/configmaps/settings`)),
      };
      const [webHash, readerHash, settingsHash] = goSpecHashes(binary ?? '', [web, reader, settings]);
      written.set('service-web', await writeTheirReport('configauditreports', 'service', web, webHash ?? ''));
      written.set(
        'role-reader',
        await writeTheirReport('rbacassessmentreports', 'role', reader, readerHash ?? ''),
      );
      written.set(
        'configmap-settings',
        await writeTheirReport('configauditreports', 'configmap', settings, settingsHash ?? ''),
      );
      written.set('service-stale', await writeTheirReport('configauditreports', 'service', stale, 'bcdf245'));

      operator = await startOperator(cluster.kubeconfigPath, {
        OPERATOR_NAMESPACE: operatorNs,
        OPERATOR_TARGET_NAMESPACES: ns,
        OPERATOR_LEADER_ELECTION_ENABLED: 'false',
        OPERATOR_CONFIG_AUDIT_TRIVY_BINARY: toolPath('trivy'),
        OPERATOR_TRIVY_SUPPORTED_CONFIG_AUDIT_KINDS: 'Service,ConfigMap,Role',
        OPERATOR_CONFIG_AUDIT_BATCH_DELAY: '200ms',
        OPERATOR_VULNERABILITY_SCANNER_ENABLED: 'false',
        OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED: 'false',
        HTTPS_PROXY: 'http://127.0.0.1:9',
        HTTP_PROXY: 'http://127.0.0.1:9',
        NO_PROXY: '',
      });
      await operator.waitForReady(120_000);
    });

    after(async () => {
      await operator?.stop();
      await cluster?.release();
    });

    it('audits what has no current report, and leaves the current ones Trivy-Operator wrote alone', async () => {
      // Objects are queued together at start-up; once these two are written, the others were looked at.
      await waitUntil('reports of fresh and stale', async () => {
        const fresh = await report('configauditreports', 'service-fresh');
        const stale = await report('configauditreports', 'service-stale');
        return fresh !== undefined && stale?.metadata.resourceVersion !== written.get('service-stale');
      });
      // And one more batch delay, in case the adopted ones were queued after them.
      await new Promise((resolve) => setTimeout(resolve, 2_000));
      for (const [name, plural] of [
        ['service-web', 'configauditreports'],
        ['configmap-settings', 'configauditreports'],
        ['role-reader', 'rbacassessmentreports'],
      ] as const) {
        const current = await report(plural, name);
        assert.equal(current?.metadata.resourceVersion, written.get(name), `${name} was written again`);
        assert.equal(current?.metadata.labels?.['plugin-config-hash'], THEIR_POLICY_HASH);
      }
    });

    it('audits an adopted object again once it changes', async () => {
      await core.patchNamespacedService({
        namespace: ns,
        name: 'web',
        body: [{ op: 'add', path: '/metadata/labels/tier', value: 'front' }],
      });
      await waitUntil('service-web audited again', async () => {
        const current = await report('configauditreports', 'service-web');
        return current !== undefined && current.metadata.resourceVersion !== written.get('service-web');
      });
      const current = await report('configauditreports', 'service-web');
      assert.notEqual(current?.metadata.labels?.['plugin-config-hash'], THEIR_POLICY_HASH);
    });
  },
);
