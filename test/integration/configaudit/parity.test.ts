/**
 * Report parity with Trivy-Operator v0.32.0 on the real control plane: the operator as a real
 * process with its defaults (no kinds, TTL or failed-only setting given) audits a fixed set of
 * resources (privileged, host-access and hardened Pods, a Service, a risky Role and ClusterRole,
 * a ConfigMap and a RoleBinding), and each report must have the form of the fixture
 * `fixtures/trivy-operator-v0.32.0-reports.json` (its source and version are in the file): the
 * kinds audited by default, names, label keys, the report-ttl annotation, owner references,
 * check IDs spelled `AVD-KSV-0017`, and which fields a check carries (no empty `remediation`).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api, type V1Pod } from '@kubernetes/client-node';
import { startHarnessKubelet, type HarnessKubelet } from '../../harness/kubelet/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { toolPath } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

interface Expected {
  kind: string;
  name: string;
  annotations: Record<string, string>;
  labelKeys: string[];
  owner: { apiVersion: string; kind: string; controller: boolean; blockOwnerDeletion: boolean };
  failedIncludes?: string[];
  failedExcludes?: string[];
  checkKeys?: string[];
  reportKeys: string[];
}

interface Fixture {
  source: string;
  reports: Expected[];
  notAudited: { kind: string; name: string; why: string }[];
}

interface Report {
  metadata: {
    name: string;
    namespace?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: {
      apiVersion: string;
      kind: string;
      name: string;
      controller?: boolean;
      blockOwnerDeletion?: boolean;
    }[];
  };
  report: Record<string, unknown> & {
    checks: (Record<string, unknown> & { checkID: string; success: boolean; remediation?: string })[];
    summary: Record<string, number>;
  };
}

const fixture = JSON.parse(
  readFileSync(new URL('./fixtures/trivy-operator-v0.32.0-reports.json', import.meta.url), 'utf8'),
) as Fixture;

const PLURAL: Record<string, string> = {
  ConfigAuditReport: 'configauditreports',
  RbacAssessmentReport: 'rbacassessmentreports',
  ClusterRbacAssessmentReport: 'clusterrbacassessmentreports',
};

const pod = (name: string, securityContext: object, spec: Partial<V1Pod['spec']> = {}): V1Pod => ({
  metadata: { name, labels: { app: name } },
  spec: { containers: [{ name: 'app', image: 'nginx:1.27', securityContext }], ...spec },
});

describe(
  'config-audit reports in the form of Trivy-Operator v0.32.0 (real API server, pinned Trivy)',
  { timeout: 600_000 },
  () => {
    let cluster: TestCluster;
    let operator: OperatorProcess;
    let kubelet: HarnessKubelet;
    let ns: string;
    let objects: CustomObjectsApi;
    let rbac: RbacAuthorizationV1Api;
    const clusterRole = 'parity-secrets';

    before(async () => {
      cluster = await useTestCluster();
      const kc = cluster.kubeConfig();
      const core = kc.makeApiClient(CoreV1Api);
      rbac = kc.makeApiClient(RbacAuthorizationV1Api);
      objects = kc.makeApiClient(CustomObjectsApi);
      const operatorNs = await cluster.createNamespace('trivy-system');
      ns = await cluster.createNamespace('parity');
      kubelet = await startHarnessKubelet(kc, {
        nodeNamePrefix: `parity-node-${process.pid}`,
        runner: () => undefined,
      });
      const hardened = {
        privileged: false,
        allowPrivilegeEscalation: false,
        readOnlyRootFilesystem: true,
        runAsNonRoot: true,
        runAsUser: 10001,
        runAsGroup: 10001,
        capabilities: { drop: ['ALL'] },
        seccompProfile: { type: 'RuntimeDefault' },
      };
      for (const body of [
        pod('privileged', { privileged: true }),
        pod('host-admin', { capabilities: { add: ['SYS_ADMIN'] } }, { hostPID: true }),
        pod('hardened', hardened, { automountServiceAccountToken: false }),
      ])
        await core.createNamespacedPod({ namespace: ns, body });
      await core.createNamespacedService({
        namespace: ns,
        body: { metadata: { name: 'web' }, spec: { ports: [{ port: 80 }], selector: { app: 'web' } } },
      });
      await core.createNamespacedConfigMap({
        namespace: ns,
        body: { metadata: { name: 'settings' }, data: { password: 'hunter2' } },
      });
      await rbac.createNamespacedRole({
        namespace: ns,
        body: {
          metadata: { name: 'pod-exec' },
          rules: [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] }],
        },
      });
      await rbac.createNamespacedRoleBinding({
        namespace: ns,
        body: {
          metadata: { name: 'pod-exec' },
          roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'pod-exec' },
          subjects: [{ kind: 'ServiceAccount', name: 'default', namespace: ns }],
        },
      });
      await rbac.createClusterRole({
        body: {
          metadata: { name: clusterRole },
          rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['*'] }],
        },
      });
      operator = await startOperator(cluster.kubeconfigPath, {
        OPERATOR_NAMESPACE: operatorNs,
        OPERATOR_TARGET_NAMESPACES: ns,
        OPERATOR_LEADER_ELECTION_ENABLED: 'false',
        OPERATOR_CONFIG_AUDIT_TRIVY_BINARY: toolPath('trivy'),
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
      await kubelet?.stop();
      await rbac?.deleteClusterRole({ name: clusterRole }).catch(() => {});
      await cluster?.release();
    });

    async function read(kind: string, name: string): Promise<Report | undefined> {
      const plural = PLURAL[kind] ?? '';
      const common = { group: 'aquasecurity.github.io', version: 'v1alpha1', plural, name };
      try {
        return (await (kind.startsWith('Cluster')
          ? objects.getClusterCustomObject(common)
          : objects.getNamespacedCustomObject({ ...common, namespace: ns }))) as Report;
      } catch {
        return undefined;
      }
    }

    it(`fixture: ${fixture.source.slice(0, 60)}…`, () => {
      assert.ok(fixture.reports.length >= 6);
    });

    for (const expected of fixture.reports) {
      it(`${expected.kind} ${expected.name}: Trivy-Operator's name, labels, annotations, owner, IDs and fields`, async () => {
        const report = await waitUntil(
          `${expected.kind} ${expected.name}`,
          () => read(expected.kind, expected.name),
          240_000,
        );
        const { metadata } = report;
        assert.deepEqual(Object.keys(metadata.labels ?? {}).sort(), expected.labelKeys);
        assert.equal(metadata.labels?.['app.kubernetes.io/managed-by'], 'trivy-operator');
        assert.deepEqual(metadata.annotations ?? {}, expected.annotations);
        const owner = metadata.ownerReferences?.[0];
        assert.deepEqual(
          owner && {
            apiVersion: owner.apiVersion,
            kind: owner.kind,
            controller: owner.controller,
            blockOwnerDeletion: owner.blockOwnerDeletion,
          },
          expected.owner,
        );
        assert.deepEqual(Object.keys(report.report).sort(), expected.reportKeys);
        const checks = report.report.checks;
        // Defaults: failed checks only, each ID spelled as Trivy-Operator's GetResultID spells it.
        assert.ok(
          checks.every((c) => !c.success),
          'reportRecordFailedChecksOnly is on by default',
        );
        assert.ok(
          checks.every((c) => /^AVD-KSV-\d{4,5}$/.test(c.checkID)),
          `IDs: ${checks.map((c) => c.checkID).join(', ')}`,
        );
        const failed = new Set(checks.map((c) => c.checkID));
        for (const id of expected.failedIncludes ?? []) assert.ok(failed.has(id), `${id} fails`);
        for (const id of expected.failedExcludes ?? []) assert.ok(!failed.has(id), `${id} does not fail`);
        for (const check of checks) {
          const keys = Object.keys(check).sort();
          const wanted = (expected.checkKeys ?? []).filter(
            (k) => k !== 'remediation' || check.remediation !== undefined,
          );
          assert.deepEqual(keys, wanted, `fields of ${check.checkID}`);
          assert.notEqual(check.remediation, '', 'an empty remediation is left out');
        }
        const summary = report.report.summary;
        const counted =
          summary.criticalCount! + summary.highCount! + summary.mediumCount! + summary.lowCount!;
        assert.equal(counted, checks.length, 'the summary counts the failed checks');
      });
    }

    it('leaves the kinds outside Trivy-Operator’s default supportedConfigAuditKinds unaudited', async () => {
      // By the time every expected report exists, the batch with these objects would have run too.
      await waitUntil(
        'every expected report',
        async () => {
          const found = await Promise.all(fixture.reports.map((r) => read(r.kind, r.name)));
          return found.every(Boolean);
        },
        240_000,
      );
      for (const { kind, name, why } of fixture.notAudited)
        assert.equal(await read(kind, name), undefined, why);
    });
  },
);
