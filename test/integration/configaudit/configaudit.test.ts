/**
 * Config audit and RBAC assessment end to end: the real control plane, the operator as a real
 * process with the pinned Trivy binary and no network (every proxy points at a closed port), and
 * the reports it writes through the API server.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  type V1Deployment,
} from '@kubernetes/client-node';
import type { Check } from '../../../src/crds/index.ts';
import { startHarnessKubelet, type HarnessKubelet } from '../../harness/kubelet/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { toolPath } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

interface AuditReport {
  metadata: {
    name: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; uid: string; controller?: boolean }[];
  };
  report: {
    summary: { criticalCount: number; highCount: number; mediumCount: number; lowCount: number };
    checks: Check[];
    scanner: { name: string; version: string };
  };
}

const POLICIES_CM = 'trivy-operator-policies-config';

function teamPolicy(severity: string, message: string): string {
  return `# METADATA
# title: "Team label required"
# description: "Every workload carries a team label."
# scope: package
# schemas:
#   - input: schema["kubernetes"]
# custom:
#   id: TEAM001
#   severity: ${severity}
#   recommended_actions: "Add a team label."
#   input:
#     selector:
#     - type: kubernetes
package trivyoperator.team_label

import rego.v1

deny contains res if {
  not input.metadata.labels.team
  res := result.new(sprintf("%s '%s' ${message}", [input.kind, input.metadata.name]), {})
}
`;
}

describe(
  'config audit and RBAC assessment (real API server, pinned Trivy, offline)',
  { timeout: 600_000 },
  () => {
    let cluster: TestCluster;
    let operator: OperatorProcess;
    let kubelet: HarnessKubelet;
    let operatorNs: string;
    let ns: string;
    let apps: AppsV1Api;
    let core: CoreV1Api;
    let rbac: RbacAuthorizationV1Api;
    let objects: CustomObjectsApi;
    const clusterRole = `secret-admin-${process.pid}`;

    before(async () => {
      cluster = await useTestCluster();
      const kc = cluster.kubeConfig();
      apps = kc.makeApiClient(AppsV1Api);
      core = kc.makeApiClient(CoreV1Api);
      rbac = kc.makeApiClient(RbacAuthorizationV1Api);
      objects = kc.makeApiClient(CustomObjectsApi);
      operatorNs = await cluster.createNamespace('trivy-system');
      ns = await cluster.createNamespace('audit');
      // Pods run (as far as the API server can tell), so rollouts complete and old revisions scale down.
      // Runs no process (scan pods just stay Running): this file checks the audit, not scans, and
      // scans are real only on the real node.
      kubelet = await startHarnessKubelet(kc, {
        nodeNamePrefix: `audit-node-${process.pid}`,
        runner: () => undefined,
      });
      operator = await start();
    });

    after(async () => {
      await operator?.stop();
      await kubelet?.stop();
      await rbac?.deleteClusterRole({ name: clusterRole }).catch(() => {});
      await cluster?.release();
    });

    function start(): Promise<OperatorProcess> {
      return startOperator(cluster.kubeconfigPath, {
        OPERATOR_NAMESPACE: operatorNs,
        OPERATOR_TARGET_NAMESPACES: ns,
        OPERATOR_LEADER_ELECTION_ENABLED: 'false',
        OPERATOR_CONFIG_AUDIT_TRIVY_BINARY: toolPath('trivy'),
        OPERATOR_CONFIG_AUDIT_BATCH_DELAY: '200ms',
        OPERATOR_TRIVY_OPERATOR_REPORT_RECORD_FAILED_CHECKS_ONLY: 'false',
        OPERATOR_TRIVY_OPERATOR_SKIP_RESOURCE_BY_LABELS: 'trivy-lookout.test/no-audit',
        OPERATOR_TRIVY_OPERATOR_ADDITIONAL_REPORT_LABELS: 'team=platform',
        // No network: any download (checks bundle, DB, version check) would fail.
        HTTPS_PROXY: 'http://127.0.0.1:9',
        HTTP_PROXY: 'http://127.0.0.1:9',
        NO_PROXY: '',
      }).then(async (op) => {
        await op.waitForReady(120_000);
        return op;
      });
    }

    const privileged = (name: string, secure: boolean): V1Deployment => ({
      metadata: { name, namespace: ns },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: {
            containers: [
              {
                name: 'web',
                image: 'nginx:1.27',
                securityContext: secure
                  ? {
                      privileged: false,
                      allowPrivilegeEscalation: false,
                      readOnlyRootFilesystem: true,
                      runAsNonRoot: true,
                      capabilities: { drop: ['ALL'] },
                    }
                  : { privileged: true },
              },
            ],
          },
        },
      },
    });

    async function activeReplicaSet(name: string): Promise<{ name: string; uid: string }> {
      return waitUntil(`the active ReplicaSet of ${name}`, async () => {
        const d = await apps.readNamespacedDeployment({ name, namespace: ns });
        const revision = d.metadata?.annotations?.['deployment.kubernetes.io/revision'];
        const sets = await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: `app=${name}` });
        const rs = sets.items.find(
          (s) => s.metadata?.annotations?.['deployment.kubernetes.io/revision'] === revision,
        );
        return rs?.metadata?.name ? { name: rs.metadata.name, uid: rs.metadata.uid ?? '' } : undefined;
      });
    }

    async function report(
      plural: string,
      name: string,
      namespace?: string,
    ): Promise<AuditReport | undefined> {
      const common = { group: 'aquasecurity.github.io', version: 'v1alpha1', plural, name };
      try {
        return (await (namespace
          ? objects.getNamespacedCustomObject({ ...common, namespace })
          : objects.getClusterCustomObject(common))) as AuditReport;
      } catch {
        return undefined;
      }
    }

    const check = (r: AuditReport | undefined, id: string) => r?.report.checks.find((c) => c.checkID === id);

    async function setPolicies(data: Record<string, string>): Promise<void> {
      const body = { metadata: { name: POLICIES_CM, namespace: operatorNs }, data };
      try {
        await core.replaceNamespacedConfigMap({ name: POLICIES_CM, namespace: operatorNs, body });
      } catch {
        await core.createNamespacedConfigMap({ namespace: operatorNs, body });
      }
    }

    it("a privileged Deployment's ReplicaSet gets a ConfigAuditReport failing AVD-KSV-0017 with Trivy's title and severity", async () => {
      await apps.createNamespacedDeployment({ namespace: ns, body: privileged('bad', false) });
      const rs = await activeReplicaSet('bad');
      const r = await waitUntil('the ConfigAuditReport of the ReplicaSet', () =>
        report('configauditreports', `replicaset-${rs.name}`, ns),
      );
      assert.deepEqual(
        ['AVD-KSV-0017', 'AVD-KSV-0014', 'AVD-KSV-0001'].map((id) => {
          const c = check(r, id);
          return [id, c?.title, c?.severity, c?.success, c?.category];
        }),
        [
          ['AVD-KSV-0017', 'Privileged', 'HIGH', false, 'Kubernetes Security Check'],
          ['AVD-KSV-0014', 'Root file system is not read-only', 'HIGH', false, 'Kubernetes Security Check'],
          ['AVD-KSV-0001', 'Can elevate its own privileges', 'MEDIUM', false, 'Kubernetes Security Check'],
        ],
      );
      assert.match(
        check(r, 'AVD-KSV-0017')?.messages?.[0] ?? '',
        new RegExp(`Container 'web' of ReplicaSet '${rs.name}'`),
      );
      assert.equal(check(r, 'AVD-KSV-0008')?.success, true, 'passes are listed when asked for');
      assert.ok(
        r.report.checks.every((c) => !c.checkID.startsWith('AVD-KCV')),
        'no control-plane checks on a workload',
      );
      assert.ok(r.report.summary.highCount >= 3);
      assert.equal(
        r.report.summary.highCount,
        r.report.checks.filter((c) => !c.success && c.severity === 'HIGH').length,
      );
      assert.deepEqual(r.report.scanner.name, 'Trivy');
      assert.equal(r.report.scanner.version, '0.74.0');
      assert.deepEqual(
        r.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid, o.controller]),
        [['ReplicaSet', rs.name, rs.uid, true]],
      );
      assert.equal(r.metadata.labels?.['trivy-operator.resource.kind'], 'ReplicaSet');
      assert.equal(r.metadata.labels?.['trivy-operator.resource.name'], rs.name);
      assert.equal(r.metadata.labels?.['trivy-operator.resource.namespace'], ns);
      assert.ok(r.metadata.labels?.['resource-spec-hash']);
      assert.ok(r.metadata.labels?.['plugin-config-hash']);
    });

    it('fixing the Deployment turns those checks to passed in the new revision and removes the old report', async () => {
      const old = await activeReplicaSet('bad');
      await apps.replaceNamespacedDeployment({ name: 'bad', namespace: ns, body: privileged('bad', true) });
      const rs = await waitUntil('a new revision', async () => {
        const current = await activeReplicaSet('bad');
        return current.name !== old.name ? current : undefined;
      });
      const r = await waitUntil('the report of the fixed revision', () =>
        report('configauditreports', `replicaset-${rs.name}`, ns),
      );
      assert.deepEqual(
        ['AVD-KSV-0017', 'AVD-KSV-0014', 'AVD-KSV-0001'].map((id) => [id, check(r, id)?.success]),
        [
          ['AVD-KSV-0017', true],
          ['AVD-KSV-0014', true],
          ['AVD-KSV-0001', true],
        ],
      );
      await waitUntil('the old revision report to go', async () =>
        (await report('configauditreports', `replicaset-${old.name}`, ns)) === undefined ? true : undefined,
      );
    });

    it('a ClusterRole with * on secrets gets a ClusterRbacAssessmentReport; a Role an RbacAssessmentReport', async () => {
      await rbac.createClusterRole({
        body: {
          metadata: { name: clusterRole },
          rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['*'] }],
        },
      });
      await rbac.createNamespacedRole({
        namespace: ns,
        body: {
          metadata: { name: 'pods-exec', namespace: ns },
          rules: [{ apiGroups: [''], resources: ['pods/exec'], verbs: ['create'] }],
        },
      });
      const cr = await waitUntil('the ClusterRbacAssessmentReport', () =>
        report('clusterrbacassessmentreports', `clusterrole-${clusterRole}`),
      );
      const secrets = check(cr, 'AVD-KSV-0041');
      assert.equal(secrets?.severity, 'CRITICAL');
      assert.equal(secrets?.success, false);
      assert.equal(secrets?.title, 'Manage secrets');
      assert.ok(cr.report.summary.criticalCount >= 1);
      assert.equal(cr.metadata.labels?.['trivy-operator.resource.namespace'], '');
      const role = await waitUntil('the RbacAssessmentReport', () =>
        report('rbacassessmentreports', 'role-pods-exec', ns),
      );
      assert.equal(check(role, 'AVD-KSV-0053')?.success, false, 'exec into pods');
      assert.equal(check(role, 'AVD-KSV-0053')?.severity, 'HIGH');
    });

    it('exports the reports as Trivy-Operator metrics', async () => {
      const rs = await activeReplicaSet('bad');
      const text = await waitUntil('audit metrics', async () => {
        const body = await (await fetch(`${operator.baseUrl}/metrics`)).text();
        return body.includes(`resource_name="${rs.name}"`) && body.includes(`resource_name="${clusterRole}"`)
          ? body
          : undefined;
      });
      assert.match(
        text,
        new RegExp(
          `trivy_resource_configaudits\\{[^}]*resource_name="${rs.name}"[^}]*severity="High"[^}]*\\} \\d+`,
        ),
      );
      assert.match(
        text,
        new RegExp(
          `trivy_clusterrole_clusterrbacassessments\\{[^}]*resource_name="${clusterRole}"[^}]*severity="Critical"[^}]*\\} [1-9]`,
        ),
      );
    });

    it('a custom policy from the ConfigMap shows up in reports, and changing it re-audits exactly its kinds', async () => {
      await core.createNamespacedService({
        namespace: ns,
        body: {
          metadata: { name: 'web', namespace: ns },
          spec: { ports: [{ port: 80 }], selector: { app: 'bad' } },
        },
      });
      const service = await waitUntil('the Service report', () =>
        report('configauditreports', 'service-web', ns),
      );
      const serviceHash = service.metadata.labels?.['plugin-config-hash'];
      const rs = await activeReplicaSet('bad');
      const before = await waitUntil('the RS report', () =>
        report('configauditreports', `replicaset-${rs.name}`, ns),
      );

      await setPolicies({
        'policy.team_label.rego': teamPolicy('MEDIUM', 'has no team label'),
        'policy.team_label.kinds': 'Workload',
      });
      const withPolicy = await waitUntil('the custom check in the RS report', async () => {
        const r = await report('configauditreports', `replicaset-${rs.name}`, ns);
        return check(r, 'TEAM001') ? r : undefined;
      });
      const team = check(withPolicy, 'TEAM001');
      assert.deepEqual(
        [team?.title, team?.severity, team?.success, team?.messages, team?.remediation],
        [
          'Team label required',
          'MEDIUM',
          false,
          [`ReplicaSet '${rs.name}' has no team label`],
          'Add a team label.',
        ],
      );
      assert.notEqual(
        withPolicy.metadata.labels?.['plugin-config-hash'],
        before.metadata.labels?.['plugin-config-hash'],
      );
      assert.ok(check(withPolicy, 'AVD-KSV-0017'), 'built-in checks are still there');

      await setPolicies({
        'policy.team_label.rego': teamPolicy('HIGH', 'must name its team'),
        'policy.team_label.kinds': 'Workload',
      });
      const changed = await waitUntil('the changed policy applied', async () => {
        const r = await report('configauditreports', `replicaset-${rs.name}`, ns);
        return check(r, 'TEAM001')?.severity === 'HIGH' ? r : undefined;
      });
      assert.deepEqual(check(changed, 'TEAM001')?.messages, [`ReplicaSet '${rs.name}' must name its team`]);
      const serviceAfter = await report('configauditreports', 'service-web', ns);
      assert.equal(
        serviceAfter?.metadata.labels?.['plugin-config-hash'],
        serviceHash,
        'a Service is not affected by a Workload policy',
      );
      assert.equal(check(serviceAfter, 'TEAM001'), undefined);
    });

    it('a broken policy gives a clear error and an Event, and the built-in checks and good policies still run', async () => {
      await setPolicies({
        'policy.team_label.rego': teamPolicy('HIGH', 'must name its team'),
        'policy.team_label.kinds': 'Workload',
        'policy.broken.rego': 'package trivyoperator.broken\n\ndeny[res] {\n  this is not rego\n}\n',
        'policy.broken.kinds': '*',
      });
      const line = await operator.waitForLog(
        (l) => l.code === 'TL_POLICY_INVALID' && l.key === 'policy.broken.rego',
        120_000,
      );
      assert.match(String(line.problem), /policy\.broken\.rego was rejected by Trivy: .*rego_parse_error/);
      const event = await waitUntil('the PolicyRejected Event', async () => {
        const list = await core.listNamespacedEvent({ namespace: operatorNs });
        return list.items.find((e) => e.reason === 'PolicyRejected' && e.involvedObject.name === POLICIES_CM);
      });
      assert.match(event.message ?? '', /policy\.broken\.rego/);

      await core.createNamespacedPod({
        namespace: ns,
        body: {
          metadata: { name: 'lonely', namespace: ns },
          spec: { containers: [{ name: 'c', image: 'nginx:1.27', securityContext: { privileged: true } }] },
        },
      });
      const pod = await waitUntil(
        'the Pod report',
        () => report('configauditreports', 'pod-lonely', ns),
        120_000,
      );
      assert.equal(check(pod, 'AVD-KSV-0017')?.success, false);
      assert.equal(check(pod, 'TEAM001')?.success, false);
    });

    it('many objects of a namespace created at once all get reports (a batch of most of them is listed)', async () => {
      const names = Array.from({ length: 30 }, (_, i) => `many-${i}`);
      const created = await Promise.all(
        names.map((name) =>
          core.createNamespacedService({
            namespace: ns,
            body: { metadata: { name }, spec: { ports: [{ port: 80 }], selector: { app: name } } },
          }),
        ),
      );
      for (const service of created) {
        const name = service.metadata?.name ?? '';
        const r = await waitUntil(`the ConfigAuditReport of ${name}`, () =>
          report('configauditreports', `service-${name}`, ns),
        );
        assert.equal(r.metadata.ownerReferences?.[0]?.uid, service.metadata?.uid);
        assert.ok(r.report.checks.length > 0);
      }
      // Created at once, they are usually one batch, which holds most of the namespace's Services
      // and so lists them: any batch of 20 or more here must have been listed whole.
      const batches = operator.logs().filter((l) => l.msg === 'audited a batch' && l.kind === 'Service');
      for (const batch of batches.filter((l) => Number(l.objects) >= 20))
        assert.equal(batch.listed, batch.objects, JSON.stringify(batch));
    });

    it("skips objects with a skipResourceByLabels key and labels the others' reports with additionalReportLabels", async () => {
      // In: a Service carrying the skip label (any value), then a plain one. Out: the plain one's
      // report has the additional label; by then the first was seen, and it has no report.
      await core.createNamespacedService({
        namespace: ns,
        body: {
          metadata: { name: 'skipped', labels: { 'trivy-lookout.test/no-audit': '' } },
          spec: { ports: [{ port: 80 }] },
        },
      });
      await core.createNamespacedService({
        namespace: ns,
        body: { metadata: { name: 'audited-after' }, spec: { ports: [{ port: 80 }] } },
      });
      const r = await waitUntil('the report of the plain Service', () =>
        report('configauditreports', 'service-audited-after', ns),
      );
      assert.equal(r.metadata.labels?.team, 'platform');
      assert.equal(await report('configauditreports', 'service-skipped', ns), undefined);
    });

    it('after a restart, nothing already audited is audited again', async () => {
      // The audit covers every ClusterRole in the shared cluster: stop only once it is idle (its
      // newest batch left nothing queued, no run failed since, and 2 s passed without another).
      await waitUntil(
        'the config audit to go idle',
        () => {
          const lines = operator.logs();
          const lastBatch = lines.findLastIndex((l) => l.msg === 'audited a batch');
          const lastFailure = lines.findLastIndex((l) => String(l.msg).startsWith('config audit run failed'));
          const batch = lines[lastBatch];
          return (
            batch !== undefined &&
            batch.queued === 0 &&
            lastFailure < lastBatch &&
            Date.now() - Date.parse(String(batch.time)) > 2_000
          );
        },
        120_000,
      );
      await operator.stop();
      operator = await start();
      const synced = await operator.waitForLog((l) => l.msg === 'config audit synced', 120_000);
      assert.equal(synced.queued, 0);
    });
  },
);
