/**
 * The alerting pack end to end, with real parts only: workloads on the real node, the operator as a
 * real process whose scan Jobs run the real Trivy there against the test vulnerability DB (this
 * file's own DB repository), a real Prometheus scraping the operator with the shipped rules, and a
 * real Alertmanager running the shipped example configuration, whose Slack and PagerDuty receivers
 * point at a local sink instead of the internet.
 *
 * The images, variants of the test images (same layers, own config and digest) pushed under this
 * file's own repositories (`alerting-<pid>/…`), so no other test file's scan (with another DB) is
 * reused for them:
 * - `catalog:2.0` = the test `os` image: High/Medium/Low test advisories, no Critical (CLEAN);
 * - `web:1.4` = the test `java` image: log4j-core 2.14.1, CVE-2021-44228 Critical (VULNERABLE);
 * - `web:1.5` = the test `node` image: lodash, no Critical (FIXED: a new tag of the same repository);
 * - `ledger:3.1` = the `java` image again, for the new-DB scenario: 1 Critical with DB v1, 2 with DB
 *   v2 (CVE-2021-45046 added), nothing else changed.
 *
 * In: a namespace whose first workload has no Critical; then a Deployment of web:1.4. Out: a
 * Slack-format notification to the team's channel and a PagerDuty trigger, both naming the namespace
 * and the image; after the window has passed and the Deployment moved to web:1.5, the resolved
 * notifications, and nothing fires for the new tag.
 * In: a running ledger:3.1 (its arrival alert resolved), then DB v2 published to the DB repository.
 * Out: the next rescan (report TTL, as production rescans) reports CVE-2021-45046, /metrics counts 2
 * Criticals, and TrivyNewCriticalVulnerabilities fires again, now because the image has more
 * Criticals than a window earlier ("now has 2"), reaching Slack with namespace and image.
 *
 * Timing: the shipped rule compares with one hour earlier (`offset 1h`). This test loads the shipped
 * rule file with that window shortened to 20 s and nothing else changed; the hour itself is proven by
 * the promtool unit tests in alert-rules/tests. The operator runs with a 60 s report TTL checked every
 * 5 s, so that the new DB reaches running images the way it does in production, by a rescan that
 * replaces the report in place (deleting the report would remove the image's series until its
 * rescan finishes, and a rescan slower than the window would then compare with nothing).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CustomObjectsApi, type V1Deployment } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { Alertmanager, NotificationSink, type ReceivedNotification } from '../../harness/alertmanager.ts';
import { expectedFindings, severityCounts, type TestImageName } from '../../harness/images/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { writeVariantLayout } from '../../harness/oci/layout.ts';
import { Prometheus } from '../../harness/prometheus.ts';
import { useRealScans, type RealScans } from '../../harness/real-scans.ts';
import { pushLayout } from '../../harness/registry/index.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { repoRoot } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

const WINDOW = '20s';
const REPORT_TTL = '60s';
const RESCAN_SCHEDULE = '*/5 * * * * *';
// Scans are real Trivy Jobs (~5-10 s, much more on a busy machine): every wait is generous.
const SCAN_WAIT = 480_000;
const NOTIFY_WAIT = 180_000;

/** The shipped rule file with its one-hour comparison window shortened for a test that can't wait an hour. */
export function rulesWithWindow(rulesText: string, window: string): string {
  const shortened = rulesText.replaceAll('offset 1h', `offset ${window}`);
  if (shortened === rulesText) throw new Error('the rule file has no `offset 1h` any more: update this test');
  return shortened;
}

type Receiver = {
  name: string;
  slack_configs?: Record<string, unknown>[];
  pagerduty_configs?: Record<string, unknown>[];
};

/**
 * The shipped example Alertmanager configuration with its receivers pointed at the sink
 * (`/slack/<receiver>`, `/pagerduty/<receiver>`) and its grouping timers shortened; routes,
 * inhibition, templates and message formats stay as shipped.
 */
export function exampleConfigForSink(configText: string, sinkUrl: string): string {
  const config = yaml.load(configText) as {
    route: Record<string, unknown>;
    receivers: Receiver[];
    templates: string[];
  };
  config.templates = config.templates.map((t) => path.join(repoRoot, 'alertmanager', t));
  Object.assign(config.route, { group_wait: '1s', group_interval: '2s', repeat_interval: '1h' });
  for (const receiver of config.receivers) {
    for (const slack of receiver.slack_configs ?? []) slack.api_url = `${sinkUrl}/slack/${receiver.name}`;
    for (const pd of receiver.pagerduty_configs ?? []) pd.url = `${sinkUrl}/pagerduty/${receiver.name}`;
  }
  return yaml.dump(config);
}

interface SlackMessage {
  channel?: string;
  attachments: { title: string; text: string }[];
}
interface PagerDutyEvent {
  routing_key: string;
  event_action: string;
  payload: { summary: string; severity: string };
}
interface Report {
  report: {
    summary: Record<string, number>;
    vulnerabilities?: { vulnerabilityID: string; severity: string }[];
  };
}

const slackText = (n: ReceivedNotification) => {
  const m = n.body as SlackMessage;
  return m.attachments.map((a) => `${a.title}\n${a.text}`).join('\n');
};

const NEW_CRITICALS = 'TrivyNewCriticalVulnerabilities';

describe('alerting pack end to end: real scans → operator → Prometheus rules → Alertmanager → Slack/PagerDuty', () => {
  let cluster: TestCluster;
  let scans: RealScans;
  let dbRepository: string;
  let operator: OperatorProcess;
  let prometheus: Prometheus;
  let alertmanager: Alertmanager;
  let sink: NotificationSink;
  let apps: AppsV1Api;
  let objects: CustomObjectsApi;
  // `shop-…` namespaces are routed to the shop team's receivers by the example configuration.
  let ns: string;
  let ledgerNs: string;
  let rulesDir: string;
  let CLEAN: string;
  let VULNERABLE: string;
  let FIXED: string;
  let LEDGER: string;

  /**
   * Pushes a variant of a test image (same layers, a config and digest of its own) under this file's
   * own repository and tag: containerd and the operator see a new image, scanned by this file's
   * operator with this file's DB, whatever other files of the shared cluster scanned.
   */
  async function publishAs(image: TestImageName, repository: string, tag: string): Promise<string> {
    const http = scans.registries.http;
    const reference = `trivy-lookout-test/alerting-${process.pid}/${repository}:${tag}`;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-alerting-image-'));
    try {
      const variant = writeVariantLayout(scans.images[image].built.layoutDir, dir, reference);
      await pushLayout({ host: http.host, url: http.url }, variant.dir, reference);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return `${http.host}/${reference}`;
  }

  before(async () => {
    cluster = await useTestCluster({ node: true });
    scans = await useRealScans(cluster);
    dbRepository = scans.dbRepositoryFor(`alerting-${process.pid}`);
    await scans.publishDb('v1', dbRepository);
    CLEAN = await publishAs('os', 'catalog', '2.0');
    VULNERABLE = await publishAs('java', 'web', '1.4');
    FIXED = await publishAs('node', 'web', '1.5');
    LEDGER = await publishAs('java', 'ledger', '3.1');

    const kc = cluster.kubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    objects = kc.makeApiClient(CustomObjectsApi);
    const operatorNs = await cluster.createNamespace('trivy-system');
    ns = await cluster.createNamespace('shop');
    ledgerNs = await cluster.createNamespace('shop-ledger');
    operator = await startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: `${ns},${ledgerNs}`,
      OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
      OPERATOR_SCAN_JOB_TIMEOUT: '120s',
      OPERATOR_SCANNER_REPORT_TTL: REPORT_TTL,
      OPERATOR_RESCAN_SCHEDULE: RESCAN_SCHEDULE,
      OPERATOR_LEADER_ELECTION_ENABLED: 'false',
      // Only image scans feed these rules; the other scanners would only load the machine.
      OPERATOR_CLUSTER_COMPLIANCE_ENABLED: 'false',
      OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED: 'false',
      OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED: 'false',
      OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED: 'false',
      ...scans.operatorEnv(dbRepository),
    });
    await operator.waitForReady(60_000);

    sink = await NotificationSink.start();
    alertmanager = await Alertmanager.start({
      config: exampleConfigForSink(
        readFileSync(path.join(repoRoot, 'alertmanager', 'alertmanager.yaml'), 'utf8'),
        sink.url,
      ),
    });
    rulesDir = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-rules-'));
    const rules = path.join(rulesDir, 'trivy-lookout.rules.yaml');
    writeFileSync(
      rules,
      rulesWithWindow(
        readFileSync(path.join(repoRoot, 'alert-rules', 'trivy-lookout.rules.yaml'), 'utf8'),
        WINDOW,
      ),
    );
    prometheus = await Prometheus.start({
      targets: [new URL(operator.baseUrl).host],
      ruleFiles: [rules],
      alertmanager: alertmanager.address,
    });
  });

  after(async () => {
    await prometheus?.stop();
    await alertmanager?.stop();
    await sink?.stop();
    await operator?.stop();
    await cluster?.release();
    if (rulesDir) rmSync(rulesDir, { recursive: true, force: true });
  });

  function deployment(namespace: string, name: string, image: string): V1Deployment {
    return {
      metadata: { name, namespace },
      spec: {
        replicas: 1,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { ...scans.placement, terminationGracePeriodSeconds: 2, containers: [{ name, image }] },
        },
      },
    };
  }

  /** The ReplicaSet of the Deployment's current revision (its reports are named after it). */
  function activeReplicaSet(namespace: string, name: string): Promise<string> {
    return waitUntil(
      `the current ReplicaSet of ${name}`,
      async () => {
        const d = await apps.readNamespacedDeployment({ name, namespace });
        const revision = d.metadata?.annotations?.['deployment.kubernetes.io/revision'];
        const sets = await apps.listNamespacedReplicaSet({ namespace, labelSelector: `app=${name}` });
        return sets.items.find(
          (rs) => rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] === revision,
        )?.metadata?.name;
      },
      120_000,
    );
  }

  async function vulnerabilityReport(namespace: string, name: string): Promise<Report | undefined> {
    try {
      return (await objects.getNamespacedCustomObject({
        group: 'aquasecurity.github.io',
        version: 'v1alpha1',
        namespace,
        plural: 'vulnerabilityreports',
        name,
      })) as Report;
    } catch {
      return undefined;
    }
  }

  const vulnIds = (report: Report) =>
    (report.report.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort();
  const expectedIds = (image: TestImageName, db: 'v1' | 'v2') =>
    expectedFindings[image][db].vulnerabilities.map((v) => v.id).sort();

  /** The image's labels as the exporter sets them (`registry/repository:tag`). */
  function imageSelector(ref: string): string {
    const slash = ref.indexOf('/');
    const colon = ref.lastIndexOf(':');
    return `image_registry="${ref.slice(0, slash)}",image_repository="${ref.slice(slash + 1, colon)}",image_tag="${ref.slice(colon + 1)}"`;
  }
  const criticalsOf = (namespace: string, ref: string, offset = '') =>
    prometheus.query(
      `max(trivy_image_vulnerabilities{namespace="${namespace}",${imageSelector(ref)},severity="Critical"}${offset ? ` offset ${offset}` : ''})`,
    );

  /** An expression over the last `seconds`, one point a second. */
  async function rangeQuery(
    expr: string,
    seconds: number,
  ): Promise<{ metric: Record<string, string>; values: [number, string][] }[]> {
    const end = Date.now() / 1000;
    const params = new URLSearchParams({
      query: expr,
      start: String(end - seconds),
      end: String(end),
      step: '1',
    });
    const body = (await fetch(`${prometheus.url}/api/v1/query_range?${params}`).then((r) => r.json())) as {
      status: string;
      data: { result: { metric: Record<string, string>; values: [number, string][] }[] };
    };
    assert.equal(body.status, 'success', expr);
    return body.data.result;
  }

  /** Slack messages for TrivyNewCriticalVulnerabilities in a namespace, with their place in the sink. */
  const slackFor = (namespace: string, status: 'FIRING' | 'RESOLVED', after = -1) =>
    sink.received.findIndex(
      (n, i) =>
        i > after &&
        n.path.startsWith('/slack/slack-shop') &&
        slackText(n).includes(`${NEW_CRITICALS} in namespace ${namespace}\n`) &&
        slackText(n).startsWith(`[${status}`),
    );

  it('a workload deployed with a Critical CVE pages the team and posts to its Slack channel, naming namespace and image', async () => {
    // The namespace's existing workload, without Criticals, so Prometheus has history from before the
    // new image: on a fresh install (no history) nothing would be "new".
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment(ns, 'catalog', CLEAN) });
    await waitUntil(
      'Prometheus to hold the exporter series from before the comparison window',
      async () =>
        (await prometheus.query(`count(trivy_image_vulnerabilities{namespace="${ns}"} offset ${WINDOW})`))
          .length > 0,
      SCAN_WAIT,
      1_000,
    );
    assert.deepEqual(await criticalsOf(ns, CLEAN).then((r) => r.map((s) => s.value[1])), ['0']);
    assert.equal(sink.received.length, 0, 'nothing is notified for what is merely present');

    await apps.createNamespacedDeployment({ namespace: ns, body: deployment(ns, 'web', VULNERABLE) });
    const rs = await activeReplicaSet(ns, 'web');
    const report = await waitUntil(
      'the report of web:1.4',
      () => vulnerabilityReport(ns, `replicaset-${rs}-web`),
      SCAN_WAIT,
      1_000,
    );
    assert.deepEqual(vulnIds(report), expectedIds('java', 'v1'), 'exactly what DB v1 says of log4j 2.14.1');
    assert.equal(report.report.summary.criticalCount, severityCounts(expectedFindings.java.v1).CRITICAL);

    const firing = await waitUntil(
      'a Slack notification for TrivyNewCriticalVulnerabilities',
      () => {
        const i = slackFor(ns, 'FIRING');
        return i >= 0 ? sink.received[i] : undefined;
      },
      NOTIFY_WAIT,
      500,
    );
    const message = firing.body as SlackMessage;
    assert.equal(message.channel, '#shop-alerts');
    const text = slackText(firing);
    assert.match(text, new RegExp(`\\[FIRING:1\\] ${NEW_CRITICALS} in namespace ${ns}`));
    assert.ok(text.includes(`Namespace: \`${ns}\``), text);
    assert.ok(text.includes(`Image: \`${VULNERABLE}\``), text);
    assert.ok(text.includes('*CRITICAL*'), text);
    assert.ok(text.includes('now has 1 Critical vulnerabilities'), text);
    assert.ok(text.includes(`docs/runbooks/${NEW_CRITICALS}.md`), text);
    assert.ok(!text.includes('catalog'), 'the image without Criticals is not in the notification');

    const page = await waitUntil('a PagerDuty trigger', () =>
      sink.to('/pagerduty/pagerduty-shop').find((n) => (n.body as PagerDutyEvent).event_action === 'trigger'),
    );
    const event = page.body as PagerDutyEvent;
    assert.equal(event.routing_key, 'REPLACE_WITH_SHOP_PAGERDUTY_ROUTING_KEY');
    assert.ok(event.payload.summary.includes(`${NEW_CRITICALS} in ${ns}`), event.payload.summary);
    assert.ok(event.payload.summary.includes(`alerting-${process.pid}/web:1.4`), event.payload.summary);
    // Routed to the shop team only: the security team's receivers got nothing.
    assert.equal(
      sink.to('/slack/slack-security').length + sink.to('/pagerduty/pagerduty-security').length,
      0,
    );
  });

  it('after the rollout to a fixed tag the resolution reaches Slack and PagerDuty, and the new tag of the same repository fires nothing', async () => {
    // The alert for a new image lasts one window (here 20 s, shipped 1 h) and resolves by itself, or
    // earlier when the image is replaced: this checks the resolution is delivered, the vulnerable
    // tag's series are gone with its ReplicaSet, and the fixed tag is not "new".
    await apps.patchNamespacedDeployment({
      namespace: ns,
      name: 'web',
      body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: FIXED }],
    });
    await waitUntil(
      'the fixed image to be scanned',
      async () => (await criticalsOf(ns, FIXED)).length > 0,
      SCAN_WAIT,
      1_000,
    );
    assert.deepEqual(await criticalsOf(ns, FIXED).then((r) => r.map((s) => s.value[1])), ['0']);
    const resolved = await waitUntil(
      'a resolved Slack notification',
      () => {
        const i = slackFor(ns, 'RESOLVED');
        return i >= 0 ? sink.received[i] : undefined;
      },
      NOTIFY_WAIT,
      500,
    );
    assert.ok(slackText(resolved).includes(`Image: \`${VULNERABLE}\``), slackText(resolved));
    await waitUntil('a PagerDuty resolve', () =>
      sink.to('/pagerduty/pagerduty-shop').find((n) => (n.body as PagerDutyEvent).event_action === 'resolve'),
    );
    await waitUntil(
      'the series of web:1.4 to be gone with its ReplicaSet',
      async () => (await criticalsOf(ns, VULNERABLE)).length === 0,
      SCAN_WAIT,
      1_000,
    );
    // The new tag of a repository already in the namespace is not "new": nothing fires again.
    assert.deepEqual(
      (await prometheus.alerts()).filter(
        (a) => a.labels.alertname === NEW_CRITICALS && a.labels.namespace === ns,
      ),
      [],
    );
    assert.equal(slackFor(ns, 'FIRING', sink.received.indexOf(resolved)), -1, 'no new FIRING message');
  });

  it('new DB: a running image whose Criticals grow with DB v2 alerts again after its rescan, naming namespace and image', async () => {
    // A workload already running, scanned with DB v1: one Critical (CVE-2021-44228).
    await apps.createNamespacedDeployment({
      namespace: ledgerNs,
      body: deployment(ledgerNs, 'ledger', LEDGER),
    });
    const rs = await activeReplicaSet(ledgerNs, 'ledger');
    const reportName = `replicaset-${rs}-ledger`;
    const v1 = await waitUntil(
      'the ledger report from DB v1',
      () => vulnerabilityReport(ledgerNs, reportName),
      SCAN_WAIT,
      1_000,
    );
    assert.deepEqual(vulnIds(v1), expectedIds('java', 'v1'));
    // Its arrival is "new" by the rule's second branch (a repository not in the namespace a window
    // earlier); that alert resolves once the image has been there for the whole window, and then
    // its Criticals are the same as a window earlier: nothing is new any more.
    const arrival = await waitUntil(
      'the resolved arrival alert of ledger',
      () => {
        const i = slackFor(ledgerNs, 'RESOLVED');
        return i >= 0 ? i : undefined;
      },
      SCAN_WAIT,
      500,
    );
    assert.ok(slackFor(ledgerNs, 'FIRING') < arrival, 'its arrival fired before it resolved');
    await waitUntil(
      'one Critical a window earlier in Prometheus',
      async () => (await criticalsOf(ledgerNs, LEDGER, WINDOW)).map((s) => s.value[1]).join() === '1',
      NOTIFY_WAIT,
      1_000,
    );

    // The DB mirror is updated, as Trivy-Operator users update theirs; scan Jobs download it, and
    // the report TTL makes the operator rescan the running image with it.
    await scans.publishDb('v2', dbRepository);
    const v2 = await waitUntil(
      'the ledger report from DB v2 after its TTL',
      async () => {
        const r = await vulnerabilityReport(ledgerNs, reportName);
        return r && vulnIds(r).includes('CVE-2021-45046') ? r : undefined;
      },
      SCAN_WAIT,
      1_000,
    );
    assert.deepEqual(vulnIds(v2), expectedIds('java', 'v2'));
    assert.equal(v2.report.summary.criticalCount, 2);
    await waitUntil('two Criticals for the ledger container in /metrics', async () => {
      const text = await fetch(`${operator.baseUrl}/metrics`).then((r) => r.text());
      return text
        .split('\n')
        .some(
          (l) =>
            l.startsWith('trivy_image_vulnerabilities{') &&
            l.includes(`namespace="${ledgerNs}"`) &&
            l.includes('container_name="ledger"') &&
            l.includes('severity="Critical"') &&
            l.endsWith(' 2'),
        );
    });

    const firing = await waitUntil(
      'a Slack notification for the new Critical',
      () => {
        const i = slackFor(ledgerNs, 'FIRING', arrival);
        return i >= 0 ? sink.received[i] : undefined;
      },
      NOTIFY_WAIT,
      500,
    );
    const text = slackText(firing);
    assert.match(text, new RegExp(`\\[FIRING:1\\] ${NEW_CRITICALS} in namespace ${ledgerNs}`));
    assert.ok(text.includes(`Namespace: \`${ledgerNs}\``), text);
    assert.ok(text.includes(`Image: \`${LEDGER}\``), text);
    assert.ok(text.includes('now has 2 Critical vulnerabilities'), text);
    // And it fired by the rule's first branch: more Criticals than a window earlier (2 > 1), the
    // series continuous through the rescan, not a repository "arriving" again.
    const firstBranch = await rangeQuery(
      `max by (namespace, image_registry, image_repository, image_tag) (trivy_image_vulnerabilities{namespace="${ledgerNs}",severity="Critical"})` +
        ` > max by (namespace, image_registry, image_repository, image_tag) (trivy_image_vulnerabilities{namespace="${ledgerNs}",severity="Critical"} offset ${WINDOW})`,
      180,
    );
    assert.ok(
      firstBranch.some((s) => s.values.some(([, v]) => v === '2')),
      `2 > 1 held in Prometheus: ${JSON.stringify(firstBranch)}`,
    );
    // Paged again too: a trigger after the arrival's resolution.
    const page = await waitUntil('a new PagerDuty trigger for the ledger namespace', () =>
      sink.received
        .slice(arrival + 1)
        .filter((n) => n.path.startsWith('/pagerduty/pagerduty-shop'))
        .map((n) => n.body as PagerDutyEvent)
        .find(
          (e) =>
            e.event_action === 'trigger' && e.payload.summary.includes(`${NEW_CRITICALS} in ${ledgerNs}`),
        ),
    );
    assert.ok(page.payload.summary.includes(`alerting-${process.pid}/ledger:3.1`), page.payload.summary);
  });
});
