/**
 * The alerting pack end to end, with real parts only: workloads on the real node, the operator as a
 * real process whose scan Jobs run the real Trivy there against the test vulnerability DB (this
 * file's own DB repository), a real Prometheus scraping the operator with the shipped rule file as
 * it is, and a real Alertmanager running the shipped example configuration (grouping timers
 * shortened; routes, the new-findings receivers and their 72h repeat as shipped), whose Slack and
 * PagerDuty receivers point at a local sink instead of the internet.
 *
 * The images, variants of the test images (same layers, own config and digest) pushed under this
 * file's own repositories (`alerting-<pid>/…`), so no other test file's scan (with another DB) is
 * reused for them:
 * - `web:1.4` = the test `java` image: log4j-core 2.14.1, CVE-2021-44228 Critical;
 * - `web:1.5` = the test `node` image: lodash 4.17.20 (a Medium with DB v1), a new tag of web;
 * - `ledger:3.1` = the `java` image again: CVE-2021-44228 with DB v1, and CVE-2021-45046 (Critical)
 *   too with DB v2.
 * Every test image also has the Debian base's High, TEST-2026-0003 in liblz4-1. The operator starts
 * before any report exists, so nothing is a baseline: every High and Critical a namespace gets for
 * an image repository is new there (test/harness/images/expected.ts says which).
 *
 * In, in order, and what must come out (the new-findings receivers of the `shop` team, nothing to
 * any other receiver, never a "resolved"):
 * a. web:1.4 deployed in `shop-…` → exactly one TrivyNewCriticalVulnerability Slack message and one
 *    PagerDuty trigger naming CVE-2021-44228, log4j-core 2.14.1 → 2.15.0, the image and the
 *    workload, and one TrivyNewHighVulnerability Slack message for TEST-2026-0003 (no page). Then
 *    the rollout to web:1.5, a new tag of the same repository, sends nothing: its High carries the
 *    first-seen of web:1.4.
 * b. ledger:3.1 running in `shop-ledger-…` (its arrival announced like a.), then DB v2 published:
 *    the report TTL rescans it as production rescans running images, and exactly one new
 *    TrivyNewCriticalVulnerability message and one page follow, naming CVE-2021-45046 and nothing
 *    already announced (CVE-2021-44228 of the same repository).
 * c. the operator process stopped and started again with the same settings → nothing is sent for
 *    60 s after Prometheus scraped the new process, through the new process' own TTL rescans, and
 *    every report's first-seen annotation is what it was.
 * d. ledger:3.1 deployed into another namespace, `shop-eu-…` → its Criticals (both known in
 *    shop-ledger) and its High are new there: one Critical message and one page naming both
 *    CVEs, one High message.
 *
 * Timing: the operator runs with a 60 s report TTL checked every 5 s, so that DB v2 reaches the
 * running image the way it does in production, by a rescan that replaces the report in place (its
 * annotation kept). Prometheus scrapes and evaluates every second; the shipped rules need no
 * shortening (no window of their own: the operator's newFindingsWindow, 24h, is longer than this
 * test). Alertmanager waits 1 s before a group's first message and 2 s between its updates.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CustomObjectsApi, type V1Deployment } from '@kubernetes/client-node';
import { FIRST_SEEN_ANNOTATION } from '../../../src/findings/index.ts';
import {
  type Alertmanager,
  type NotificationSink,
  type ReceivedNotification,
} from '../../harness/alertmanager.ts';
import { expectedFindings, type Severity, type TestImageName } from '../../harness/images/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { writeVariantLayout } from '../../harness/oci/layout.ts';
import { freePort } from '../../harness/ports.ts';
import type { Prometheus } from '../../harness/prometheus.ts';
import { startShippedAlerting, type ShippedAlerting } from '../../harness/alerting.ts';
import { useRealScans, type RealScans } from '../../harness/real-scans.ts';
import { pushLayout } from '../../harness/registry/index.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { waitUntil } from '../../harness/waiting.ts';

const REPORT_TTL = '60s';
const RESCAN_SCHEDULE = '*/5 * * * * *';
// Scans are real Trivy Jobs (~5-10 s, much more on a busy machine): every wait is generous.
const SCAN_WAIT = 480_000;
const NOTIFY_WAIT = 180_000;
/** How long, after the expected messages, nothing more may arrive: many evaluations and flushes. */
const QUIET_MS = 20_000;
/** How long after the restarted operator was scraped nothing may arrive. */
const RESTART_QUIET_MS = 60_000;

const NEW_CRITICAL = 'TrivyNewCriticalVulnerability';
const NEW_HIGH = 'TrivyNewHighVulnerability';
const LOG4J = 'org.apache.logging.log4j:log4j-core';

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
  metadata: { name: string; namespace: string; annotations?: Record<string, string> };
  report: {
    updateTimestamp: string;
    vulnerabilities?: { vulnerabilityID: string; severity: string; resource: string }[];
  };
}

/** A notification in short: receiver, alert, the finding ids it lists, and as one comparable line. */
interface Sent {
  receiver: string;
  /** Slack: the title's status (`FIRING:1`); PagerDuty: the event action. */
  status: string;
  alertname: string;
  ids: string[];
  line: string;
  /** The whole text (Slack title and text, PagerDuty summary). */
  text: string;
  body: unknown;
}

function sent(n: ReceivedNotification): Sent {
  const receiver = n.path.split('/')[2] ?? n.path;
  if (n.path.startsWith('/slack/')) {
    const m = n.body as SlackMessage;
    const title = m.attachments.map((a) => a.title).join(' | ');
    const text = m.attachments.map((a) => `${a.title}\n${a.text}`).join('\n');
    // One block per alert: `*CRITICAL* New Critical vulnerability <id> in <package> (<namespace>)`.
    const ids = [...text.matchAll(/^\*[A-Z]+\* New (?:Critical|High) vulnerability (\S+) in /gm)]
      .map((x) => x[1]!)
      .sort();
    const [, status = '', alertname = ''] = /^\[([^\]]+)\] (\S+)/.exec(title) ?? [];
    return {
      receiver,
      status,
      alertname,
      ids,
      line: `${receiver} ${title}: ${ids.join(', ')}`,
      text,
      body: n.body,
    };
  }
  const e = n.body as PagerDutyEvent;
  const summary = e.payload?.summary ?? '';
  // `<alertname> in <namespace>: <id> <Severity> (<link>): …; … | <id> <Severity> …`
  const ids = [...summary.matchAll(/\b((?:CVE|GHSA|TEST)-[\w-]+) (?:Critical|High)\b/g)]
    .map((x) => x[1]!)
    .sort();
  const head = summary.slice(0, Math.max(0, summary.indexOf(':')));
  return {
    receiver,
    status: e.event_action,
    alertname: head.split(' ')[0] ?? '',
    ids,
    line: `${receiver} ${e.event_action} ${head}: ${ids.join(', ')}`,
    text: summary,
    body: n.body,
  };
}

/** The new High/Critical ids of an image with a DB version: what arrives new in a namespace. */
const newIds = (image: TestImageName, db: 'v1' | 'v2', severity: Severity) =>
  expectedFindings[image][db].vulnerabilities
    .filter((v) => v.severity === severity)
    .map((v) => v.id)
    .sort();

/**
 * The lines the shop team's new-findings receivers get when these findings are new in a namespace:
 * one Slack message per alert (Critical, High) listing them, and a page for the Criticals.
 */
function announced(namespace: string, critical: string[], high: string[]): string[] {
  const lines: string[] = [];
  if (critical.length > 0) {
    lines.push(
      `slack-shop-new-findings [FIRING:${critical.length}] ${NEW_CRITICAL} in namespace ${namespace}: ${critical.join(', ')}`,
      `pagerduty-shop-new-findings trigger ${NEW_CRITICAL} in ${namespace}: ${critical.join(', ')}`,
    );
  }
  if (high.length > 0) {
    lines.push(
      `slack-shop-new-findings [FIRING:${high.length}] ${NEW_HIGH} in namespace ${namespace}: ${high.join(', ')}`,
    );
  }
  return lines.sort();
}

describe('alerting pack end to end: real scans → operator → Prometheus rules → Alertmanager → Slack/PagerDuty', () => {
  let cluster: TestCluster;
  let scans: RealScans;
  let dbRepository: string;
  let operator: OperatorProcess;
  let operatorEnv: Record<string, string>;
  /** The operator's fixed metrics address: the restarted process serves Prometheus' one target. */
  let metricsUrl: string;
  let alerting: ShippedAlerting | undefined;
  let prometheus: Prometheus;
  let alertmanager: Alertmanager;
  let sink: NotificationSink;
  let apps: AppsV1Api;
  let objects: CustomObjectsApi;
  // `shop-…` namespaces are routed to the shop team's receivers by the example configuration.
  let ns: string;
  let ledgerNs: string;
  let euNs: string;
  let VULNERABLE: string;
  let NEW_TAG: string;
  let LEDGER: string;
  /** First-seen (unix s) of web's High in ns, from the alert's series. */
  let webHighFirstSeen: number;
  /** The ledger's report in ledgerNs. */
  let ledgerReport: string;
  /** Web's ReplicaSet with web:1.4. */
  let webRs: string;

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

  async function startTheOperator(): Promise<void> {
    operator = await startOperator(cluster.kubeconfigPath, operatorEnv);
    assert.equal(operator.baseUrl, metricsUrl);
    await operator.waitForReady(60_000);
  }

  before(async () => {
    cluster = await useTestCluster({ node: true });
    scans = await useRealScans(cluster);
    dbRepository = scans.dbRepositoryFor(`alerting-${process.pid}`);
    await scans.publishDb('v1', dbRepository);
    VULNERABLE = await publishAs('java', 'web', '1.4');
    NEW_TAG = await publishAs('node', 'web', '1.5');
    LEDGER = await publishAs('java', 'ledger', '3.1');

    const kc = cluster.kubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    objects = kc.makeApiClient(CustomObjectsApi);
    const operatorNs = await cluster.createNamespace('trivy-system');
    ns = await cluster.createNamespace('shop');
    ledgerNs = await cluster.createNamespace('shop-ledger');
    euNs = await cluster.createNamespace('shop-eu');
    const port = await freePort();
    metricsUrl = `http://127.0.0.1:${port}`;
    operatorEnv = {
      OPERATOR_METRICS_BIND_ADDRESS: `127.0.0.1:${port}`,
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: [ns, ledgerNs, euNs].join(','),
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
    };
    await startTheOperator();

    alerting = await startShippedAlerting(new URL(metricsUrl).host);
    ({ sink, alertmanager, prometheus } = alerting);
  });

  after(async () => {
    await alerting?.stop();
    await operator?.stop();
    await cluster?.release();
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

  /**
   * The ReplicaSet of the Deployment's current revision running `image` (its reports are named after
   * it): right after a rollout the Deployment's revision may still name the previous one.
   */
  function activeReplicaSet(namespace: string, name: string, image: string): Promise<string> {
    return waitUntil(
      `the current ReplicaSet of ${name} with ${image}`,
      async () => {
        const d = await apps.readNamespacedDeployment({ name, namespace });
        const revision = d.metadata?.annotations?.['deployment.kubernetes.io/revision'];
        const sets = await apps.listNamespacedReplicaSet({ namespace, labelSelector: `app=${name}` });
        return sets.items.find(
          (rs) =>
            rs.metadata?.annotations?.['deployment.kubernetes.io/revision'] === revision &&
            rs.spec?.template?.spec?.containers[0]?.image === image,
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

  async function vulnerabilityReports(namespace: string): Promise<Report[]> {
    const list = (await objects.listNamespacedCustomObject({
      group: 'aquasecurity.github.io',
      version: 'v1alpha1',
      namespace,
      plural: 'vulnerabilityreports',
    })) as { items: Report[] };
    return list.items;
  }

  /** Deploys and waits for the report of its current ReplicaSet, with exactly `ids` (sorted). */
  async function deployAndScan(
    namespace: string,
    name: string,
    image: string,
    ids: string[],
  ): Promise<{ rs: string; report: Report }> {
    await apps.createNamespacedDeployment({ namespace, body: deployment(namespace, name, image) });
    const rs = await activeReplicaSet(namespace, name, image);
    const report = await waitUntil(
      `the report of ${namespace}/${rs}`,
      () => vulnerabilityReport(namespace, `replicaset-${rs}-${name}`),
      SCAN_WAIT,
      1_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${scanStory()}`);
    });
    assert.deepEqual(vulnIds(report), ids, `what the DB says of ${name}`);
    return { rs, report };
  }

  const vulnIds = (report: Report) =>
    (report.report.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort();
  const expectedIds = (image: TestImageName, db: 'v1' | 'v2') =>
    expectedFindings[image][db].vulnerabilities.map((v) => v.id).sort();

  /** The operator's account of its scans, for a failure message. */
  const scanStory = () =>
    operator
      .logs()
      .filter((l) => typeof l.msg === 'string' && /scan|report|first-seen/.test(l.msg))
      .slice(-40)
      .map((l) => JSON.stringify(l))
      .join('\n');

  /** Everything the sink got from `mark` on, as lines. */
  const linesSince = (mark: number) =>
    sink.received
      .slice(mark)
      .map((n) => sent(n).line)
      .sort();

  /**
   * Waits for `count` notifications from `mark` on, then QUIET_MS more, and returns every line: the
   * caller compares them all, so a duplicate, a "resolved" or another receiver's message fails.
   */
  async function settle(mark: number, count: number, what: string): Promise<string[]> {
    await waitUntil(
      `${count} notifications for ${what}`,
      () => sink.received.length - mark >= count,
      NOTIFY_WAIT,
      500,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}; got:\n${linesSince(mark).join('\n')}\n${alertmanager.log()}`);
    });
    await sleep(QUIET_MS);
    return linesSince(mark);
  }

  /** The one message since `mark` whose line starts with `prefix`. */
  const message = (mark: number, prefix: string): Sent => {
    const found = sink.received
      .slice(mark)
      .map(sent)
      .filter((s) => s.line.startsWith(prefix));
    assert.equal(found.length, 1, `one message starting "${prefix}": ${linesSince(mark).join('\n')}`);
    return found[0]!;
  };

  /** The first-seen (unix s) series of a finding in a namespace, one value per workload container. */
  const firstSeenSeries = async (namespace: string, id: string) =>
    (
      await prometheus.query(
        `max by (image_tag, resource_name) (trivy_lookout_new_vulnerability{namespace="${namespace}",vulnerability_id="${id}"})`,
      )
    ).map((s) => ({ tag: s.metric.image_tag, workload: s.metric.resource_name, at: Number(s.value[1]) }));

  it('a: a workload with a Critical CVE arrives: one page and one Slack message naming CVE, package, versions, image and workload; its High goes to chat only', async () => {
    const mark = sink.received.length;
    const { rs } = await deployAndScan(ns, 'web', VULNERABLE, expectedIds('java', 'v1'));
    webRs = rs;
    const critical = newIds('java', 'v1', 'CRITICAL');
    const high = newIds('java', 'v1', 'HIGH');
    assert.deepEqual(critical, ['CVE-2021-44228']);
    assert.deepEqual(high, ['TEST-2026-0003']);
    const expected = announced(ns, critical, high);
    assert.deepEqual(await settle(mark, expected.length, `web:1.4 in ${ns}`), expected);

    const slack = message(mark, `slack-shop-new-findings [FIRING:1] ${NEW_CRITICAL}`);
    assert.equal((slack.body as SlackMessage).channel, '#shop-alerts');
    for (const part of [
      `*CRITICAL* New Critical vulnerability CVE-2021-44228 in ${LOG4J} (${ns})`,
      `Namespace: \`${ns}\``,
      'Vulnerability: <https://avd.aquasec.com/nvd/cve-2021-44228|CVE-2021-44228> (Critical)',
      `Package: \`${LOG4J}\` 2.14.1 → 2.15.0`,
      `Image: \`${VULNERABLE}\``,
      `Workloads: ReplicaSet/${rs} (web)`,
      `docs/runbooks/${NEW_CRITICAL}.md`,
    ])
      assert.ok(slack.text.includes(part), `Slack message has "${part}":\n${slack.text}`);

    const page = message(mark, `pagerduty-shop-new-findings trigger ${NEW_CRITICAL}`);
    assert.equal((page.body as PagerDutyEvent).routing_key, 'REPLACE_WITH_SHOP_PAGERDUTY_ROUTING_KEY');
    for (const part of [
      `${NEW_CRITICAL} in ${ns}: CVE-2021-44228 Critical (https://avd.aquasec.com/nvd/cve-2021-44228)`,
      `${LOG4J} 2.14.1 → 2.15.0`,
      `image ${VULNERABLE}`,
      `workloads ReplicaSet/${rs} (web)`,
    ])
      assert.ok(page.text.includes(part), `page has "${part}": ${page.text}`);

    // The base's High, in chat only (no PagerDuty line for it above).
    const lz4 = scans.images.java.built.debPackages.find((p) => p.package === 'liblz4-1');
    assert.ok(lz4, 'the base has liblz4-1');
    const chat = message(mark, `slack-shop-new-findings [FIRING:1] ${NEW_HIGH}`);
    for (const part of [
      `*WARNING* New High vulnerability TEST-2026-0003 in liblz4-1 (${ns})`,
      'Vulnerability: TEST-2026-0003 (High)',
      `Package: \`liblz4-1\` ${lz4.version} → 1.9.4-1+deb12u99`,
      `Image: \`${VULNERABLE}\``,
      `Workloads: ReplicaSet/${rs} (web)`,
    ])
      assert.ok(chat.text.includes(part), `chat message has "${part}":\n${chat.text}`);

    const series = await firstSeenSeries(ns, 'TEST-2026-0003');
    assert.equal(series.length, 1, JSON.stringify(series));
    webHighFirstSeen = series[0]!.at;
  });

  it('a: the rollout to a new tag of the same repository sends nothing: its High carries the first-seen of the old tag', async () => {
    const mark = sink.received.length;
    const oldReport = `replicaset-${webRs}-web`;
    await apps.patchNamespacedDeployment({
      namespace: ns,
      name: 'web',
      body: [{ op: 'replace', path: '/spec/template/spec/containers/0/image', value: NEW_TAG }],
    });
    try {
      // When the old tag's report goes (with its ReplicaSet's last pod) and the new one comes.
      const rs = await activeReplicaSet(ns, 'web', NEW_TAG);
      let oldGoneAt: number | undefined;
      const newReport = await waitUntil(
        'the report of the new tag',
        async () => {
          if (oldGoneAt === undefined && !(await vulnerabilityReport(ns, oldReport))) oldGoneAt = Date.now();
          return vulnerabilityReport(ns, `replicaset-${rs}-web`);
        },
        SCAN_WAIT,
        500,
      );
      const newAt = Date.now();
      assert.deepEqual(vulnIds(newReport), expectedIds('node', 'v1'));
      // Web's High again, for the new ReplicaSet and tag.
      await waitUntil(
        'the new tag in trivy_lookout_new_vulnerability',
        async () => (await firstSeenSeries(ns, 'TEST-2026-0003')).some((s) => s.workload === rs),
        NOTIFY_WAIT,
        1_000,
      );
      await sleep(QUIET_MS);
      assert.deepEqual(linesSince(mark), [], 'nothing is sent');
      // Not new: the first-seen web:1.4 had (docs/findings.md: "a new tag or a rollout of the same
      // repository brings nothing new").
      const series = await firstSeenSeries(ns, 'TEST-2026-0003');
      const stamped = (await vulnerabilityReport(ns, `replicaset-${rs}-web`))?.metadata.annotations?.[
        FIRST_SEEN_ANNOTATION
      ];
      assert.deepEqual(
        series.find((s) => s.workload === rs),
        { tag: '1.5', workload: rs, at: webHighFirstSeen },
        `web:1.4's report was ${
          oldGoneAt === undefined
            ? 'still there'
            : `deleted ${(newAt - oldGoneAt) / 1000} s before web:1.5's appeared`
        }; web:1.5's first-seen annotation: ${stamped}`,
      );
    } finally {
      // Gone before DB v2 is published, so that only the ledger's rescan brings something new.
      await apps.deleteNamespacedDeployment({ namespace: ns, name: 'web', propagationPolicy: 'Foreground' });
      await waitUntil(
        `the reports of ${ns} to be gone with web`,
        async () => (await vulnerabilityReports(ns)).length === 0,
        NOTIFY_WAIT,
        1_000,
      );
    }
  });

  it('b: DB v2 adds CVE-2021-45046 to the running ledger image: its TTL rescan sends exactly one new notification and page, naming that CVE only', async () => {
    // The ledger running, scanned with DB v1: its arrival is announced like web's.
    let mark = sink.received.length;
    const { rs } = await deployAndScan(ledgerNs, 'ledger', LEDGER, expectedIds('java', 'v1'));
    ledgerReport = `replicaset-${rs}-ledger`;
    const arrival = announced(ledgerNs, newIds('java', 'v1', 'CRITICAL'), newIds('java', 'v1', 'HIGH'));
    assert.deepEqual(await settle(mark, arrival.length, `ledger:3.1 in ${ledgerNs}`), arrival);

    // The DB mirror is updated, as Trivy-Operator users update theirs; scan Jobs download it, and
    // the report TTL makes the operator rescan the running image with it.
    mark = sink.received.length;
    await scans.publishDb('v2', dbRepository);
    const v2 = await waitUntil(
      'the ledger report from DB v2 after its TTL',
      async () => {
        const r = await vulnerabilityReport(ledgerNs, ledgerReport);
        return r && vulnIds(r).includes('CVE-2021-45046') ? r : undefined;
      },
      SCAN_WAIT,
      1_000,
    );
    assert.deepEqual(vulnIds(v2), expectedIds('java', 'v2'));
    const added = newIds('java', 'v2', 'CRITICAL').filter(
      (id) => !newIds('java', 'v1', 'CRITICAL').includes(id),
    );
    assert.deepEqual(added, ['CVE-2021-45046']);
    assert.deepEqual(newIds('java', 'v2', 'HIGH'), newIds('java', 'v1', 'HIGH'), 'no new High');

    const lines = await settle(mark, 2, `CVE-2021-45046 in ${ledgerNs}`);
    // One Slack message and one page, both about new Criticals of the ledger namespace…
    const news = sink.received.slice(mark).map(sent);
    assert.deepEqual(
      news.map((n) => `${n.receiver} ${n.alertname}`).sort(),
      [`pagerduty-shop-new-findings ${NEW_CRITICAL}`, `slack-shop-new-findings ${NEW_CRITICAL}`],
      lines.join('\n'),
    );
    assert.ok(
      news.every((n) => n.ids.includes('CVE-2021-45046') && n.text.includes(ledgerNs)),
      lines.join('\n'),
    );
    const slack = message(mark, 'slack-shop-new-findings');
    for (const part of [
      `*CRITICAL* New Critical vulnerability CVE-2021-45046 in ${LOG4J} (${ledgerNs})`,
      `Package: \`${LOG4J}\` 2.14.1 → 2.16.0`,
      `Image: \`${LEDGER}\``,
      `Workloads: ReplicaSet/${rs} (ledger)`,
    ])
      assert.ok(slack.text.includes(part), `Slack message has "${part}":\n${slack.text}`);
    // …naming it only: CVE-2021-44228, announced for this namespace and repository at its arrival,
    // is not sent again.
    assert.deepEqual(lines, announced(ledgerNs, added, []), `the messages:\n${slack.text}`);
  });

  it('c: an operator restart sends nothing new, through its own rescans, and leaves the first-seen stamps as they were', async () => {
    const stamps = async () =>
      Object.fromEntries(
        (await Promise.all([ns, ledgerNs, euNs].map((n) => vulnerabilityReports(n))))
          .flat()
          .map((r) => [
            `${r.metadata.namespace}/${r.metadata.name}`,
            r.metadata.annotations?.[FIRST_SEEN_ANNOTATION],
          ]),
      );
    const stampsBefore = await stamps();
    assert.deepEqual(Object.keys(stampsBefore), [`${ledgerNs}/${ledgerReport}`]);
    assert.ok(stampsBefore[`${ledgerNs}/${ledgerReport}`], 'the ledger report is stamped');
    const newSeries = async () =>
      (
        await prometheus.query(
          'max by (namespace, image_repository, image_tag, resource_name, vulnerability_id, package, installed_version, fixed_version) (trivy_lookout_new_vulnerability)',
        )
      )
        .map((s) => `${JSON.stringify(s.metric)} ${s.value[1]}`)
        .sort();
    const seriesBefore = await newSeries();
    // The ledger's new findings (web's went with it), all still within the window.
    assert.equal(
      seriesBefore.length,
      expectedFindings.java.v2.vulnerabilities.filter((v) => ['CRITICAL', 'HIGH'].includes(v.severity))
        .length,
    );
    // The ledger's alerts (web's, without series since web went, end when keep_firing_for does).
    const firing = async () =>
      (await prometheus.alerts())
        .filter(
          (a) =>
            [NEW_CRITICAL, NEW_HIGH].includes(a.labels.alertname ?? '') &&
            a.labels.namespace === ledgerNs &&
            a.state === 'firing',
        )
        .map((a) => `${JSON.stringify(a.labels)} since ${(a as { activeAt?: string }).activeAt}`)
        .sort();
    const firingBefore = await firing();
    assert.equal(firingBefore.length, 3, firingBefore.join('\n'));

    const mark = sink.received.length;
    assert.equal(await operator.stop(), 0, 'the operator stops cleanly');
    const restartedAt = Date.now();
    await startTheOperator();
    await waitUntil(
      'Prometheus to scrape the new process and its new-finding series',
      async () =>
        Number((await prometheus.query('max(process_start_time_seconds)'))[0]?.value[1] ?? 0) * 1000 >=
          restartedAt - 1_000 && (await newSeries()).length === seriesBefore.length,
      NOTIFY_WAIT,
      500,
    );
    const scrapedAt = Date.now();
    assert.deepEqual(await newSeries(), seriesBefore, 'the same series, first-seen values and all');

    // The new process' own TTL rescan replaces the ledger report (stamps kept), within the quiet time.
    await waitUntil(
      'a rescan of the ledger by the new process',
      async () => {
        const r = await vulnerabilityReport(ledgerNs, ledgerReport);
        return r !== undefined && Date.parse(r.report.updateTimestamp) > restartedAt;
      },
      SCAN_WAIT,
      1_000,
    );
    const left = RESTART_QUIET_MS - (Date.now() - scrapedAt);
    if (left > 0) await sleep(left);

    assert.deepEqual(linesSince(mark), [], 'nothing sent after the restart');
    assert.deepEqual(await stamps(), stampsBefore, 'first-seen annotations unchanged');
    assert.deepEqual(await newSeries(), seriesBefore);
    // keep_firing_for bridged the scrapes missed while the operator was down: the same alerts, firing
    // since before the restart.
    assert.deepEqual(await firing(), firingBefore);
  });

  it('d: a known CVE deployed into a new namespace is new there: one page and one message per severity for that namespace', async () => {
    const mark = sink.received.length;
    const { rs } = await deployAndScan(euNs, 'ledger', LEDGER, expectedIds('java', 'v2'));
    const critical = newIds('java', 'v2', 'CRITICAL');
    assert.deepEqual(critical, ['CVE-2021-44228', 'CVE-2021-45046']);
    const expected = announced(euNs, critical, newIds('java', 'v2', 'HIGH'));
    assert.deepEqual(await settle(mark, expected.length, `ledger:3.1 in ${euNs}`), expected);
    const slack = message(mark, `slack-shop-new-findings [FIRING:2] ${NEW_CRITICAL}`);
    for (const part of [
      `*CRITICAL* New Critical vulnerability CVE-2021-44228 in ${LOG4J} (${euNs})`,
      `*CRITICAL* New Critical vulnerability CVE-2021-45046 in ${LOG4J} (${euNs})`,
      `Image: \`${LEDGER}\``,
      `Workloads: ReplicaSet/${rs} (ledger)`,
    ])
      assert.ok(slack.text.includes(part), `Slack message has "${part}":\n${slack.text}`);
    // First seen here now, not when the ledger namespace first saw it.
    const [here] = await firstSeenSeries(euNs, 'CVE-2021-44228');
    const [there] = await firstSeenSeries(ledgerNs, 'CVE-2021-44228');
    assert.ok(here && there && here.at > there.at, `${JSON.stringify(here)} after ${JSON.stringify(there)}`);
  });
});
