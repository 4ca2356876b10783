/**
 * The alerting pack end to end, with real parts only: the operator on the local control plane (the
 * harness kubelet plays the nodes and replays recorded Trivy results), a real Prometheus scraping it
 * with the shipped rules, and a real Alertmanager running the shipped example configuration, whose
 * Slack and PagerDuty receivers point at a local sink instead of the internet.
 *
 * In: a namespace whose first workload has no Critical vulnerability; then a Deployment whose image
 * has one (CVE-2024-45491). Out: a Slack-format notification to the team's channel and a PagerDuty
 * trigger, both naming the namespace and the image; after the Deployment moves to a fixed image, a
 * resolved notification.
 *
 * Timing: the shipped rule compares with one hour earlier (`offset 1h`). This test loads the shipped
 * rule file with that window shortened to 20 s and nothing else changed; the hour itself is proven by
 * the promtool unit tests in alert-rules/tests.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, type V1Deployment } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { Alertmanager, NotificationSink, type ReceivedNotification } from '../../harness/alertmanager.ts';
import { startHarnessKubelet, type HarnessKubelet } from '../../harness/kubelet/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { Prometheus } from '../../harness/prometheus.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { repoRoot } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

const fixture = (name: string) => path.join(repoRoot, 'test', 'fixtures', 'trivy', name);
const CLEAN = 'ghcr.io/shop/catalog:2.0'; // High/Medium/Low, no Critical
const VULNERABLE = 'ghcr.io/shop/web:1.4'; // one Critical: CVE-2024-45491
const FIXED = 'ghcr.io/shop/web:1.5'; // no Critical
const WINDOW = '20s';

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

const slackText = (n: ReceivedNotification) => {
  const m = n.body as SlackMessage;
  return m.attachments.map((a) => `${a.title}\n${a.text}`).join('\n');
};

describe('alerting pack end to end: operator → Prometheus rules → Alertmanager → Slack/PagerDuty', () => {
  let cluster: TestCluster;
  let kubelet: HarnessKubelet;
  let operator: OperatorProcess;
  let prometheus: Prometheus;
  let alertmanager: Alertmanager;
  let sink: NotificationSink;
  let apps: AppsV1Api;
  let ns: string;
  let rulesDir: string;

  before(async () => {
    cluster = await useTestCluster();
    const kc = cluster.kubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    const operatorNs = await cluster.createNamespace('trivy-system');
    // `shop-…` is routed to the shop team's receivers by the example configuration.
    ns = await cluster.createNamespace('shop');
    kubelet = await startHarnessKubelet(kc, {
      nodeNamePrefix: `alerting-node-${process.pid}`,
      trivy: {
        images: {
          [CLEAN]: { report: fixture('alpine-3.19.json') },
          [VULNERABLE]: { report: fixture('sample-nginx-critical.json') },
          [FIXED]: { report: fixture('alpine-3.19.json') },
        },
      },
    });
    operator = await startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: ns,
      OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
      OPERATOR_LEADER_ELECTION_ENABLED: 'false',
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
    await kubelet?.stop();
    await cluster?.release();
    if (rulesDir) rmSync(rulesDir, { recursive: true, force: true });
  });

  function deployment(name: string, image: string): V1Deployment {
    return {
      metadata: { name, namespace: ns },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: name } },
        template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image }] } },
      },
    };
  }

  const criticalsOf = async (repository: string, tag: string) =>
    prometheus.query(
      `max(trivy_image_vulnerabilities{namespace="${ns}",image_repository="${repository}",image_tag="${tag}",severity="Critical"})`,
    );

  it('a workload deployed with a Critical CVE pages the team and posts to its Slack channel, naming namespace and image', async () => {
    // The namespace's existing workload, without Criticals, so Prometheus has history from before the
    // new image: on a fresh install (no history) nothing would be "new".
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('catalog', CLEAN) });
    await waitUntil(
      'Prometheus to hold the exporter series from before the comparison window',
      async () =>
        (await prometheus.query(`count(trivy_image_vulnerabilities{namespace="${ns}"} offset ${WINDOW})`))
          .length > 0,
      120_000,
      1_000,
    );
    assert.equal(sink.received.length, 0, 'nothing is notified for what is merely present');

    await apps.createNamespacedDeployment({ namespace: ns, body: deployment('web', VULNERABLE) });
    const slack = await waitUntil(
      'a Slack notification for TrivyNewCriticalVulnerabilities',
      () =>
        sink
          .to('/slack/slack-shop')
          .find(
            (n) =>
              slackText(n).includes('TrivyNewCriticalVulnerabilities') && slackText(n).includes('FIRING'),
          ),
      120_000,
      500,
    );
    const message = slack.body as SlackMessage;
    assert.equal(message.channel, '#shop-alerts');
    const text = slackText(slack);
    assert.match(text, new RegExp(`\\[FIRING:1\\] TrivyNewCriticalVulnerabilities in namespace ${ns}`));
    assert.ok(text.includes(`Namespace: \`${ns}\``), text);
    assert.ok(text.includes(`Image: \`${VULNERABLE}\``), text);
    assert.ok(text.includes('*CRITICAL*'), text);
    assert.ok(text.includes('docs/runbooks/TrivyNewCriticalVulnerabilities.md'), text);
    assert.ok(!text.includes('catalog'), 'the image without Criticals is not in the notification');

    const page = await waitUntil('a PagerDuty trigger', () =>
      sink.to('/pagerduty/pagerduty-shop').find((n) => (n.body as PagerDutyEvent).event_action === 'trigger'),
    );
    const event = page.body as PagerDutyEvent;
    assert.equal(event.routing_key, 'REPLACE_WITH_SHOP_PAGERDUTY_ROUTING_KEY');
    assert.ok(
      event.payload.summary.includes(`TrivyNewCriticalVulnerabilities in ${ns}`),
      event.payload.summary,
    );
    assert.ok(event.payload.summary.includes('shop/web:1.4'), event.payload.summary);
    // Routed to the shop team only: the security team's receivers got nothing.
    assert.equal(
      sink.to('/slack/slack-security').length + sink.to('/pagerduty/pagerduty-security').length,
      0,
    );
  });

  it('moving the workload to a fixed image resolves the alert and says so in Slack and PagerDuty', async () => {
    await apps.patchNamespacedDeployment({
      namespace: ns,
      name: 'web',
      body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: FIXED }],
    });
    await waitUntil(
      'the fixed image to be scanned',
      async () => (await criticalsOf('shop/web', '1.5')).length > 0,
      120_000,
      1_000,
    );
    const resolved = await waitUntil(
      'a resolved Slack notification',
      () =>
        sink
          .to('/slack/slack-shop')
          .find(
            (n) =>
              slackText(n).includes('TrivyNewCriticalVulnerabilities') && slackText(n).includes('RESOLVED'),
          ),
      120_000,
      500,
    );
    assert.ok(slackText(resolved).includes(`Image: \`${VULNERABLE}\``), slackText(resolved));
    await waitUntil('a PagerDuty resolve', () =>
      sink.to('/pagerduty/pagerduty-shop').find((n) => (n.body as PagerDutyEvent).event_action === 'resolve'),
    );
    // The new tag of a repository already in the namespace is not "new": nothing fires again.
    assert.deepEqual(
      (await prometheus.alerts()).filter((a) => a.labels.alertname === 'TrivyNewCriticalVulnerabilities'),
      [],
    );
  });
});
