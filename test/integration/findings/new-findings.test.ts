/**
 * Findings people act on, end to end on the real control plane: the operator as a real process,
 * a real Prometheus evaluating the shipped rules, the real Alertmanager running the shipped example
 * configuration (receivers pointed at a local Slack/PagerDuty sink), and a webhook receiver.
 *
 * The VulnerabilityReports are written by this test, the way the scanner writes them (replaced in
 * place on a rescan, the first-seen annotation kept): a stand-in, because the cases need exact
 * control over which CVE comes and goes in which rescan, which the test vulnerability DB cannot
 * give for one image. The same chain with real scans on the real node is
 * test/integration/alerting/end-to-end.test.ts.
 *
 * In, in order, and what must come out:
 * 1. a report with CVE-A (Critical) and TEST-H0 (High) exists before the operator's first start →
 *    both stamped as baseline; no notification, no trivy_lookout_new_vulnerability series.
 * 2. a rescan fixes CVE-A and finds CVE-B (Critical) → exactly one Slack message and one PagerDuty
 *    trigger for TrivyNewCriticalVulnerability, naming CVE-B (never CVE-A), and one webhook
 *    `newFindings` message with exactly CVE-B.
 * 3. a rescan finds CVE-C (High) → one Slack message for TrivyNewHighVulnerability; no page.
 * 4. the operator restarts → nothing new is sent, the annotation is unchanged.
 * 5. a workload in another namespace runs CVE-B, known in the first → notified for that namespace.
 * 6. with a 60 s Critical deadline, CVE-B becomes overdue: the overdue series counts it and
 *    TrivyVulnerabilityRemediationOverdue reaches Slack.
 * 7. `/affected` (kubernetes auth): no token → 401; a ServiceAccount allowed to list reports in one
 *    namespace sees that namespace's rows only; one allowed cluster-wide sees both.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import {
  CoreV1Api,
  CustomObjectsApi,
  RbacAuthorizationV1Api,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { FIRST_SEEN_ANNOTATION, parseFirstSeen } from '../../../src/findings/index.ts';
import { type NotificationSink, type ReceivedNotification } from '../../harness/alertmanager.ts';
import { freePort } from '../../harness/ports.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import type { Prometheus } from '../../harness/prometheus.ts';
import { startShippedAlerting, type ShippedAlerting } from '../../harness/alerting.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { waitUntil } from '../../harness/waiting.ts';

const GROUP = 'aquasecurity.github.io';
const VERSION = 'v1alpha1';
const PLURAL = 'vulnerabilityreports';
const WAIT = 120_000;
/** How long "nothing is sent" is watched: several rule evaluations and Alertmanager flushes. */
const QUIET_MS = 20_000;

interface Vuln {
  id: string;
  pkg: string;
  severity: 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW';
  installed: string;
  fixed: string;
}
const CVE_A: Vuln = {
  id: 'CVE-2021-44228',
  pkg: 'org.apache.logging.log4j:log4j-core',
  severity: 'CRITICAL',
  installed: '2.14.1',
  fixed: '2.15.0',
};
const CVE_B: Vuln = {
  id: 'CVE-2021-45046',
  pkg: 'org.apache.logging.log4j:log4j-core',
  severity: 'CRITICAL',
  installed: '2.14.1',
  fixed: '2.16.0',
};
const CVE_C: Vuln = {
  id: 'CVE-2021-23337',
  pkg: 'lodash',
  severity: 'HIGH',
  installed: '4.17.20',
  fixed: '4.17.21',
};
const H0: Vuln = {
  id: 'TEST-2026-0003',
  pkg: 'liblz4-1',
  severity: 'HIGH',
  installed: '1.9.4-1',
  fixed: '1.9.4-1+deb12u99',
};

const NEW_CRITICAL = 'TrivyNewCriticalVulnerability';
const NEW_HIGH = 'TrivyNewHighVulnerability';
const OVERDUE = 'TrivyVulnerabilityRemediationOverdue';

/** A report as the scanner writes one for a ReplicaSet's container. */
function report(
  namespace: string,
  workload: string,
  vulns: Vuln[],
): KubernetesObject & Record<string, unknown> {
  const count = (s: Vuln['severity']) => vulns.filter((v) => v.severity === s).length;
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'VulnerabilityReport',
    metadata: {
      name: `replicaset-${workload}-web`,
      namespace,
      labels: {
        'trivy-operator.resource.kind': 'ReplicaSet',
        'trivy-operator.resource.name': workload,
        'trivy-operator.resource.namespace': namespace,
        'trivy-operator.container.name': 'web',
      },
    },
    report: {
      updateTimestamp: new Date().toISOString(),
      scanner: { name: 'Trivy', vendor: 'Aqua Security', version: '0.74.0' },
      registry: { server: 'registry.example.com' },
      artifact: { repository: 'shop/web', tag: '1.4' },
      os: { family: 'debian', name: '12.11' },
      summary: {
        criticalCount: count('CRITICAL'),
        highCount: count('HIGH'),
        mediumCount: count('MEDIUM'),
        lowCount: count('LOW'),
        unknownCount: 0,
      },
      vulnerabilities: vulns.map((v) => ({
        vulnerabilityID: v.id,
        resource: v.pkg,
        installedVersion: v.installed,
        fixedVersion: v.fixed,
        publishedDate: '2021-12-10T10:15:00Z',
        lastModifiedDate: '2021-12-10T10:15:00Z',
        severity: v.severity,
        title: v.id,
      })),
    },
  };
}

/** Records every POST of the webhook broadcast. */
async function startWebhookReceiver(): Promise<{ url: string; bodies: unknown[]; close(): Promise<void> }> {
  const bodies: unknown[] = [];
  const server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (chunk: Buffer) => (text += chunk.toString()));
    req.on('end', () => {
      bodies.push(JSON.parse(text));
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    bodies,
    close: () => {
      server.closeAllConnections();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}

interface SlackMessage {
  channel?: string;
  attachments: { title: string; text: string }[];
}
interface PagerDutyEvent {
  event_action: string;
  payload: { summary: string };
}
const slackText = (n: ReceivedNotification) =>
  (n.body as SlackMessage).attachments.map((a) => `${a.title}\n${a.text}`).join('\n');

describe('new findings, deadlines and /affected: operator → Prometheus rules → Alertmanager → Slack/PagerDuty, webhook', () => {
  let cluster: TestCluster;
  let objects: CustomObjectsApi;
  let operator: OperatorProcess;
  let operatorEnv: Record<string, string>;
  let alerting: ShippedAlerting | undefined;
  let prometheus: Prometheus;
  let sink: NotificationSink;
  let webhook: Awaited<ReturnType<typeof startWebhookReceiver>>;
  let nsA: string;
  let nsB: string;

  /** Slack messages about an alert in a namespace (title `[FIRING:n] <alert> in namespace <ns>`). */
  const slackAbout = (alert: string, namespace: string) =>
    sink.to('/slack/').filter((n) => slackText(n).includes(`] ${alert} in namespace ${namespace}\n`));
  const pages = () =>
    sink.to('/pagerduty/').filter((n) => (n.body as PagerDutyEvent).event_action === 'trigger');

  async function readReport(namespace: string, name: string): Promise<KubernetesObject> {
    return (await objects.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace,
      plural: PLURAL,
      name,
    })) as KubernetesObject;
  }
  const stampsOf = async (namespace: string, name: string) =>
    parseFirstSeen((await readReport(namespace, name)).metadata?.annotations?.[FIRST_SEEN_ANNOTATION]);

  /** Replaces a report as the scanner does on a rescan: the first-seen annotation is kept. */
  async function rescan(body: KubernetesObject): Promise<void> {
    const current = await readReport(body.metadata!.namespace!, body.metadata!.name!);
    const annotation = current.metadata?.annotations?.[FIRST_SEEN_ANNOTATION];
    await objects.replaceNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: body.metadata!.namespace!,
      plural: PLURAL,
      name: body.metadata!.name!,
      body: {
        ...body,
        metadata: {
          ...body.metadata,
          resourceVersion: current.metadata?.resourceVersion,
          ...(annotation ? { annotations: { [FIRST_SEEN_ANNOTATION]: annotation } } : {}),
        },
      },
    });
  }

  async function create(body: KubernetesObject): Promise<void> {
    await objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: body.metadata!.namespace!,
      plural: PLURAL,
      body,
    });
  }

  before(async () => {
    cluster = await useTestCluster();
    const kc = cluster.kubeConfig();
    objects = kc.makeApiClient(CustomObjectsApi);
    const operatorNs = await cluster.createNamespace('trivy-system');
    // `shop-…` namespaces are routed to the shop team's receivers by the example configuration.
    nsA = await cluster.createNamespace('shop');
    nsB = await cluster.createNamespace('shop');
    // Present before the operator ever ran: the baseline.
    await create(report(nsA, 'web', [CVE_A, H0]));

    webhook = await startWebhookReceiver();
    const port = await freePort();
    operatorEnv = {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: `${nsA},${nsB}`,
      OPERATOR_METRICS_BIND_ADDRESS: `127.0.0.1:${port}`,
      OPERATOR_LEADER_ELECTION_ENABLED: 'false',
      // Reports come from this test: no scanner, audit or compliance needed beside the findings.
      OPERATOR_VULNERABILITY_SCANNER_ENABLED: 'false',
      OPERATOR_EXPOSED_SECRET_SCANNER_ENABLED: 'false',
      OPERATOR_SBOM_GENERATION_ENABLED: 'false',
      OPERATOR_CLUSTER_COMPLIANCE_ENABLED: 'false',
      OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED: 'false',
      OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED: 'false',
      OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED: 'false',
      OPERATOR_REMEDIATION_DEADLINES: 'CRITICAL=60s',
      OPERATOR_WEBHOOK_BROADCAST_URL: webhook.url,
      OPERATOR_WEBHOOK_SEND_NEW_FINDINGS_ONLY: 'true',
    };
    operator = await startOperator(cluster.kubeconfigPath, operatorEnv);
    await operator.waitForReady(60_000);

    alerting = await startShippedAlerting(new URL(operator.baseUrl).host);
    ({ sink, prometheus } = alerting);
  });

  after(async () => {
    await alerting?.stop();
    await operator?.stop();
    await webhook?.close();
    await cluster?.release();
  });

  it('1: what exists at the first start is stamped as baseline and announced nowhere', async () => {
    const stamps = await waitUntil(
      'the baseline stamps on the existing report',
      async () => {
        const s = await stampsOf(nsA, 'replicaset-web-web');
        return s.size === 2 ? s : undefined;
      },
      WAIT,
    );
    assert.ok(
      [...stamps.values()].every((s) => s.baseline),
      JSON.stringify([...stamps]),
    );
    await waitUntil(
      'Prometheus to scrape the operator',
      async () => (await prometheus.query('up{job="trivy-lookout"} == 1')).length > 0,
      WAIT,
    );
    await sleep(QUIET_MS);
    assert.deepEqual(await prometheus.query('trivy_lookout_new_vulnerability'), []);
    assert.deepEqual(sink.received, [], 'nothing notified for what was merely present');
    assert.deepEqual(webhook.bodies, []);
  });

  it('2: a rescan that fixes one Critical and finds another sends exactly one notification, naming the new CVE', async () => {
    await rescan(report(nsA, 'web', [CVE_B, H0]));
    const message = await waitUntil(
      'the Slack message for the new Critical',
      () => slackAbout(NEW_CRITICAL, nsA)[0],
      WAIT,
      500,
    );
    const text = slackText(message);
    assert.ok(text.includes(CVE_B.id), text);
    assert.ok(!text.includes(CVE_A.id), `the fixed CVE is not in it: ${text}`);
    assert.ok(text.includes(`${CVE_B.installed} → ${CVE_B.fixed}`), text);
    assert.ok(text.includes('ReplicaSet/web (web)'), text);
    assert.ok(text.includes('registry.example.com/shop/web:1.4'), text);
    assert.equal((message.body as SlackMessage).channel, '#shop-alerts');
    const page = await waitUntil('the PagerDuty trigger', () => pages()[0], WAIT, 500);
    assert.ok((page.body as PagerDutyEvent).payload.summary.includes(CVE_B.id), JSON.stringify(page.body));

    const stamps = await stampsOf(nsA, 'replicaset-web-web');
    assert.deepEqual([...stamps.keys()].sort(), [`${CVE_B.id} ${CVE_B.pkg}`, `${H0.id} ${H0.pkg}`]);
    assert.equal(stamps.get(`${CVE_B.id} ${CVE_B.pkg}` as never)?.baseline, false);

    const hook = await waitUntil('the webhook newFindings message', () => webhook.bodies[0], WAIT, 500);
    assert.deepEqual(
      {
        ...(hook as Record<string, unknown>),
        findings: (hook as { findings: { firstSeen: string }[] }).findings.map((f) => ({
          ...f,
          firstSeen: 'T',
        })),
      },
      {
        verb: 'newFindings',
        kind: 'VulnerabilityReport',
        namespace: nsA,
        name: 'replicaset-web-web',
        workload: { kind: 'ReplicaSet', name: 'web', container: 'web' },
        image: 'registry.example.com/shop/web:1.4',
        findings: [
          {
            vulnerabilityID: CVE_B.id,
            severity: 'CRITICAL',
            resource: CVE_B.pkg,
            installedVersion: CVE_B.installed,
            fixedVersion: CVE_B.fixed,
            firstSeen: 'T',
          },
        ],
      },
    );
    await sleep(QUIET_MS);
    assert.equal(slackAbout(NEW_CRITICAL, nsA).length, 1, 'exactly one Slack message');
    assert.equal(pages().length, 1, 'exactly one page');
    assert.equal(webhook.bodies.length, 1, 'exactly one webhook message');
  });

  it('3: a new High goes to the chat, not to PagerDuty', async () => {
    await rescan(report(nsA, 'web', [CVE_B, H0, CVE_C]));
    const message = await waitUntil(
      'the Slack message for the new High',
      () => slackAbout(NEW_HIGH, nsA)[0],
      WAIT,
      500,
    );
    assert.ok(slackText(message).includes(CVE_C.id), slackText(message));
    assert.ok(!slackText(message).includes(H0.id), 'the baseline High is not new');
    await sleep(QUIET_MS);
    assert.equal(pages().length, 1, 'no page for a High');
    assert.equal(slackAbout(NEW_CRITICAL, nsA).length, 1, 'the Critical is not sent again');
  });

  it('4: an operator restart sends nothing new and keeps every stamp', async () => {
    const before = await stampsOf(nsA, 'replicaset-web-web');
    // New-finding alerts go to the `*-new-findings` receivers (the overdue alert of step 6 may
    // legitimately fire meanwhile, to the team's usual receivers).
    const newFindingMessages = () => sink.received.filter((n) => n.path.includes('-new-findings'));
    const sent = newFindingMessages().length;
    const hooks = webhook.bodies.length;
    assert.equal(await operator.stop(), 0);
    operator = await startOperator(cluster.kubeconfigPath, operatorEnv);
    await operator.waitForReady(60_000);
    await operator.waitForLog((l) => String(l.msg).startsWith('first-seen tracking resumes'), WAIT);
    await waitUntil(
      'Prometheus to scrape the new process',
      async () => (await prometheus.query('up{job="trivy-lookout"} == 1')).length > 0,
      WAIT,
    );
    await sleep(QUIET_MS);
    assert.equal(
      newFindingMessages().length,
      sent,
      JSON.stringify(newFindingMessages().slice(sent).map(slackTextOrBody)),
    );
    assert.equal(webhook.bodies.length, hooks);
    assert.deepEqual(await stampsOf(nsA, 'replicaset-web-web'), before);
  });

  it('5: a workload running an already-known CVE in another namespace is new there', async () => {
    await create(report(nsB, 'web', [CVE_B]));
    const message = await waitUntil(
      'the Slack message for the other namespace',
      () => slackAbout(NEW_CRITICAL, nsB)[0],
      WAIT,
      500,
    );
    assert.ok(slackText(message).includes(CVE_B.id), slackText(message));
  });

  it('6: past its deadline a Critical is overdue, on /metrics and in an alert', async () => {
    const overdue = await waitUntil(
      'CVE-B to be counted overdue',
      async () => {
        const r = await prometheus.query(
          `max(trivy_lookout_overdue_vulnerabilities{namespace="${nsA}",severity="Critical"}) > 0`,
        );
        return r[0];
      },
      WAIT,
      1_000,
    );
    assert.equal(overdue.value[1], '1');
    const [deadline] = await prometheus.query(
      'max by (severity) (trivy_lookout_remediation_deadline_seconds)',
    );
    assert.deepEqual([deadline?.metric.severity, deadline?.value[1]], ['Critical', '60']);
    const message = await waitUntil(
      'the overdue alert in Slack',
      () => slackAbout(OVERDUE, nsA)[0],
      WAIT,
      500,
    );
    assert.ok(slackText(message).includes(nsA), slackText(message));
  });

  it('7: /affected answers only callers the API server vouches for, about namespaces they may list', async () => {
    const url = `${operator.baseUrl}/affected?vulnerability=${CVE_B.id.toLowerCase()}`;
    assert.equal((await fetch(url)).status, 401);
    assert.equal((await fetch(url, { headers: { authorization: 'Bearer not-a-token' } })).status, 401);

    const kc = cluster.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    const tokenFor = async (name: string) => {
      await core.createNamespacedServiceAccount({ namespace: nsA, body: { metadata: { name } } });
      const t = await core.createNamespacedServiceAccountToken({
        name,
        namespace: nsA,
        body: { spec: { audiences: [], expirationSeconds: 3600 } },
      });
      return t.status?.token ?? '';
    };
    const rule = { apiGroups: [GROUP], resources: [PLURAL], verbs: ['list'] };
    await rbac.createNamespacedRole({
      namespace: nsA,
      body: { metadata: { name: 'vuln-reader' }, rules: [rule] },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: nsA,
      body: {
        metadata: { name: 'vuln-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'vuln-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'team-a', namespace: nsA }],
      },
    });
    const clusterRole = `vuln-reader-${process.pid}`;
    await rbac.createClusterRole({ body: { metadata: { name: clusterRole }, rules: [rule] } });
    await rbac.createClusterRoleBinding({
      body: {
        metadata: { name: clusterRole },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: clusterRole },
        subjects: [{ kind: 'ServiceAccount', name: 'security', namespace: nsA }],
      },
    });
    try {
      const teamA = await tokenFor('team-a');
      const security = await tokenFor('security');
      const ask = async (token: string) => {
        const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 200);
        return (await res.json()) as {
          vulnerabilityId: string;
          workloads: {
            namespace: string;
            resourceName: string;
            installedVersion: string;
            fixedVersion: string;
          }[];
        };
      };
      const own = await ask(teamA);
      assert.equal(own.vulnerabilityId, CVE_B.id);
      assert.deepEqual(
        own.workloads.map((w) => [w.namespace, w.resourceName, w.installedVersion, w.fixedVersion]),
        [[nsA, 'web', CVE_B.installed, CVE_B.fixed]],
      );
      const all = await ask(security);
      assert.deepEqual(all.workloads.map((w) => w.namespace).sort(), [nsA, nsB].sort());
    } finally {
      await rbac.deleteClusterRoleBinding({ name: clusterRole });
      await rbac.deleteClusterRole({ name: clusterRole });
    }
  });
});

function slackTextOrBody(n: ReceivedNotification): string {
  return n.path.startsWith('/slack/') ? slackText(n) : JSON.stringify(n.body);
}
