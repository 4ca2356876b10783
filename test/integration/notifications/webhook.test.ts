/**
 * The webhook broadcast end to end: the real control plane, the operator as a real process, a
 * local HTTP receiver (node:http) and real scans: workloads on the real node, scanned by the real
 * Trivy (test/harness/real-scans.ts, DB v1). Reports whose content changes are rewritten by real
 * re-scans, after a Pod's container is switched to another test image (the same report object,
 * new findings). The other reports are created and edited straight through the API: the
 * broadcaster watches the report CRDs and does not care who wrote them.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { SCAN_JOB_COMPONENT, ScanLabel } from '../../../src/scanning/names.ts';
import { expectedFindings, severityCounts, type TestImageName } from '../../harness/images/index.ts';
import { writeVariantLayout } from '../../harness/oci/layout.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { useRealScans, type PublishedImage, type RealScans } from '../../harness/real-scans.ts';
import { pushLayout } from '../../harness/registry/index.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { repoRoot } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';
import { familyLines } from '../metrics/support.ts';

const GROUP = 'aquasecurity.github.io';
const VERSION = 'v1alpha1';
const SECRET_HEADER_VALUE = 'k3y-s3cret';
const SECRET_URL_PATH = '/hooks/t0ken-in-path';
/** Real scans on a busy machine: a scan Job, its pod's start and Trivy's run can take minutes. */
const SCAN_TIMEOUT_MS = 240_000;
/** The bare Pod whose container is switched between test images, and its reports' name. */
const APP_POD = 'app';
const APP_REPORT = `pod-${APP_POD}-app`;

interface ReportBody {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  report?: {
    summary?: Record<string, number>;
    artifact?: { repository?: string; tag?: string; digest?: string };
    vulnerabilities?: { vulnerabilityID: string; severity: string }[];
    secrets?: { ruleID: string }[];
  };
  spec?: Record<string, unknown>;
  status?: { summary?: { failCount?: number; passCount?: number } } & Record<string, unknown>;
}

interface Received {
  seq: number;
  headers: IncomingHttpHeaders;
  /** The parsed body as it arrived. */
  body: unknown;
  /** The report it is about, unwrapped from {verb, operatorObject} if need be. */
  object: ReportBody;
  verb?: string;
  status: number | 'hang';
}

/**
 * The receiver: records every request; answers 200 unless a script for the report's name says
 * otherwise (a status per request, or 'hang' to never answer).
 */
class Sink {
  readonly received: Received[] = [];
  private readonly scripts = new Map<string, (number | 'hang')[]>();
  private readonly hanging: http.ServerResponse[] = [];
  private server: http.Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (chunk: Buffer) => (text += chunk.toString()));
      req.on('end', () => {
        const body = JSON.parse(text) as { verb?: string; operatorObject?: ReportBody } & ReportBody;
        const object = body.operatorObject ?? body;
        const answer = this.scripts.get(object.metadata.name)?.shift() ?? 200;
        this.received.push({
          seq: this.received.length,
          headers: req.headers,
          body,
          object,
          ...(body.verb ? { verb: body.verb } : {}),
          status: answer,
        });
        if (req.url !== SECRET_URL_PATH) res.writeHead(404).end();
        else if (answer === 'hang') this.hanging.push(res);
        else res.writeHead(answer, { 'content-type': 'text/plain' }).end('thanks');
      });
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}${SECRET_URL_PATH}`;
  }

  script(name: string, answers: (number | 'hang')[]): void {
    this.scripts.set(name, answers);
  }

  about(name: string, kind?: string): Received[] {
    return this.received.filter(
      (r) => r.object.metadata.name === name && (kind === undefined || r.object.kind === kind),
    );
  }

  since(mark: number): Received[] {
    return this.received.slice(mark);
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve(undefined)));
  }
}

const fixture = <T>(name: string): T =>
  yaml.load(readFileSync(path.join(repoRoot, 'test', 'fixtures', 'reports', name), 'utf8')) as T;

const metricsText = (op: OperatorProcess) => fetch(`${op.baseUrl}/metrics`).then((r) => r.text());

/** The sum of a family's samples whose series carry all of `labels` (0 when there are none). */
function sampleSum(text: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  return familyLines(text, name)
    .filter((line) => wanted.every((pair) => line.includes(pair)))
    .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
}

/** Reads one series' value from /metrics; 0 when the series is absent. */
async function metric(
  op: OperatorProcess,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  return sampleSum(await metricsText(op), name, labels);
}

/** The operator's log lines about webhook notifications, one per line, for failure messages. */
function webhookStory(op: OperatorProcess): string {
  return op
    .logs()
    .filter((l) => typeof l.msg === 'string' && l.msg.startsWith('webhook'))
    .map((l) => JSON.stringify(l))
    .join('\n');
}

async function statusOf(op: OperatorProcess, endpoint: string): Promise<number> {
  return fetch(`${op.baseUrl}${endpoint}`).then(
    (r) => r.status,
    () => 0,
  );
}

describe('webhook broadcast of report changes (real control plane, operator process, local receiver)', () => {
  let cluster: TestCluster;
  let scans: RealScans;
  let dbRepository: string;
  let objects: CustomObjectsApi;
  let apps: AppsV1Api;
  let core: CoreV1Api;
  let batch: BatchV1Api;
  let operatorNs: string;
  let hooksNs: string;
  let appsNs: string;
  /** The Deployment scanned while a receiver hangs: an image (and digest) of this run. */
  let webImage: PublishedImage;
  /** The APP_POD's images: one repository of this run, a tag (and digest) per test image. */
  const appImages = {} as Record<'os' | 'java' | 'secret', string>;
  const sink = new Sink();
  const operators: OperatorProcess[] = [];
  let sentinelCount = 0;

  /**
   * Pushes a test image as `<repository of this run>/app:<name>`, a variant with a digest of its
   * own: the operator scans it rather than copying another test file's report of the same digest.
   * One repository for all tags, so that while the kubelet switches a container from one to the
   * other, the new spec and the old digest still name an image that exists.
   */
  async function publishAppImage(name: TestImageName): Promise<string> {
    const { host, url } = scans.registries.http;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-webhook-'));
    try {
      const variant = writeVariantLayout(scans.images[name].built.layoutDir, dir, `webhook-${process.pid}`);
      const reference = `trivy-lookout-test/webhook-${process.pid}/app:${name}`;
      await pushLayout({ host, url }, variant.dir, reference);
      return `${host}/${reference}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }

  before(async () => {
    cluster = await useTestCluster({ node: true });
    scans = await useRealScans(cluster);
    dbRepository = scans.dbRepositoryFor('webhook');
    await scans.publishDb('v1', dbRepository);
    webImage = await scans.publishImage('node', 'http', `webhook-${process.pid}/web`);
    for (const name of ['os', 'java', 'secret'] as const) appImages[name] = await publishAppImage(name);
    const kc = cluster.kubeConfig();
    objects = kc.makeApiClient(CustomObjectsApi);
    apps = kc.makeApiClient(AppsV1Api);
    core = kc.makeApiClient(CoreV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    operatorNs = await cluster.createNamespace('trivy-system');
    hooksNs = await cluster.createNamespace('hooks');
    appsNs = await cluster.createNamespace('apps');
    await sink.start();
  });

  after(async () => {
    for (const op of operators) await op.stop();
    await sink.stop();
    await cluster?.release();
  });

  async function operator(env: Record<string, string>): Promise<OperatorProcess> {
    const op = await startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: `${hooksNs},${appsNs}`,
      OPERATOR_LEADER_ELECTION_ENABLED: 'false',
      OPERATOR_LOG_LEVEL: 'debug',
      OPERATOR_WEBHOOK_BROADCAST_URL: sink.url,
      OPERATOR_WEBHOOK_BROADCAST_TIMEOUT: '3s', // roomy: a slow answer must not count as a retry
      OPERATOR_WEBHOOK_BROADCAST_CUSTOM_HEADERS: `X-Api-Key:${SECRET_HEADER_VALUE},X-Team:security`,
      OPERATOR_SCAN_JOB_TIMEOUT: '180s', // real scans on a busy machine
      // Only the writers this test needs: other writers' reports would only add noise.
      OPERATOR_CLUSTER_COMPLIANCE_ENABLED: 'false',
      OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED: 'false',
      OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED: 'false',
      // Node reports are cluster-scoped, so the namespace filter cannot keep them out of the counts.
      OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED: 'false',
      ...scans.operatorEnv(dbRepository),
      ...env,
    });
    operators.push(op);
    return op;
  }

  async function stopOperator(op: OperatorProcess): Promise<void> {
    assert.equal(await op.stop(), 0, `clean exit:\n${op.stderr()}`);
    operators.splice(operators.indexOf(op), 1);
  }

  const waitForBaseline = (op: OperatorProcess) =>
    op.waitForLog((line) => line.msg === 'webhook baseline taken; broadcasting changes', 60_000);

  function vulnerabilityReport(name: string, namespace = hooksNs): ReportBody {
    const body = fixture<ReportBody>('vulnerabilityreport.yaml');
    body.metadata = { ...body.metadata, name, namespace };
    return body;
  }

  async function createReport(body: ReportBody, plural = 'vulnerabilityreports'): Promise<ReportBody> {
    return (await objects.createNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: body.metadata.namespace ?? hooksNs,
      plural,
      body,
    })) as ReportBody;
  }

  async function getReport(name: string, plural = 'vulnerabilityreports'): Promise<ReportBody> {
    return (await objects.getNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: hooksNs,
      plural,
      name,
    })) as ReportBody;
  }

  async function updateReport(name: string, change: (report: ReportBody) => void): Promise<ReportBody> {
    const current = await getReport(name);
    change(current);
    return (await objects.replaceNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: hooksNs,
      plural: 'vulnerabilityreports',
      name,
      body: current,
    })) as ReportBody;
  }

  async function deleteReport(name: string): Promise<void> {
    await objects.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: hooksNs,
      plural: 'vulnerabilityreports',
      name,
    });
  }

  const waitForPosts = (what: string, name: string, count: number, timeoutMs = 30_000, kind?: string) =>
    waitUntil(
      what,
      () => (sink.about(name, kind).length >= count ? sink.about(name, kind) : undefined),
      timeoutMs,
      50,
    );

  /**
   * Waits for the APP_POD scan's reports other than the VulnerabilityReport (SBOM generation is on
   * by default, as in Trivy-Operator): each is POSTed on its own, in no fixed order.
   */
  const waitForOtherScanPosts = async (what: string, count: number) => {
    for (const kind of ['ExposedSecretReport', 'SbomReport']) {
      await waitForPosts(`${what} ${kind}`, APP_REPORT, count, SCAN_TIMEOUT_MS, kind);
    }
  };

  /** Switches the APP_POD's container to another image, as `kubectl set image` does. */
  const setAppImage = (image: string) =>
    core.patchNamespacedPod({
      name: APP_POD,
      namespace: hooksNs,
      body: [{ op: 'replace', path: '/spec/containers/0/image', value: image }],
    });

  /** Waits until no scan Job is left: one finishing later would write (and send) a report. */
  const waitForNoScanJobs = () =>
    waitUntil(
      'no scan Job left',
      async () =>
        (
          await batch.listNamespacedJob({
            namespace: operatorNs,
            labelSelector: `${ScanLabel.component}=${SCAN_JOB_COMPONENT}`,
          })
        ).items.length === 0,
      60_000,
      500,
    );

  const vulnIds = (r: Received) =>
    (r.object.report?.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort();
  const expectedIds = (image: TestImageName) =>
    expectedFindings[image].v1.vulnerabilities.map((v) => v.id).sort();

  /**
   * Proves a negative: a new report created after the event under test is sent (its watch event
   * comes after, and the queue is first in first out), then a further second passes. Returns the
   * requests received since `mark`, the sentinel's excluded.
   */
  async function afterSentinel(mark: number): Promise<Received[]> {
    const name = `sentinel-${++sentinelCount}`;
    await createReport(vulnerabilityReport(name));
    await waitForPosts(`the sentinel ${name}`, name, 1);
    await sleep(1_000);
    return sink.since(mark).filter((r) => r.object.metadata.name !== name);
  }

  describe('one operator, deleted reports not sent (Trivy-Operator default)', () => {
    let op: OperatorProcess;

    before(async () => {
      await createReport(vulnerabilityReport('existed-before-start'));
      op = await operator({});
      await op.waitForReady(60_000);
      await waitForBaseline(op);
    });

    it('sends nothing for reports that existed before it started', async () => {
      assert.deepEqual(await afterSentinel(0), []);
    });

    it('POSTs a new report once: the report object as JSON, with the custom headers', async () => {
      const created = await createReport(vulnerabilityReport('new-report'));
      const [post, ...more] = await waitForPosts('the new report', 'new-report', 1);
      assert.ok(post);
      assert.equal(post.headers['content-type'], 'application/json');
      assert.equal(post.headers['x-api-key'], SECRET_HEADER_VALUE);
      assert.equal(post.headers['x-team'], 'security');
      const body = post.body as ReportBody;
      assert.equal(body.apiVersion, `${GROUP}/${VERSION}`);
      assert.equal(body.kind, 'VulnerabilityReport');
      assert.equal(body.metadata.namespace, hooksNs);
      assert.equal(body.metadata.uid, created.metadata.uid);
      assert.deepEqual(body.report, created.report, 'the whole report, findings included');
      assert.equal('verb' in body, false, 'not wrapped while deleted reports are not sent');
      await sleep(1_000);
      assert.deepEqual(more, []);
      assert.equal(sink.about('new-report').length, 1, 'sent exactly once');
      assert.ok((await metric(op, 'trivy_lookout_webhook_sent_total', { verb: 'update' })) >= 2);
    });

    it('does not POST label-only or annotation-only updates', async () => {
      const mark = sink.received.length;
      await updateReport('new-report', (r) => {
        r.metadata.labels = { ...r.metadata.labels, team: 'payments' };
      });
      await updateReport('new-report', (r) => {
        r.metadata.annotations = { ...r.metadata.annotations, 'example.com/note': 'triaged' };
      });
      assert.deepEqual(await afterSentinel(mark), []);
    });

    it('POSTs a content change, with the new content (a real re-scan after a Pod switches images)', async () => {
      // In: a bare Pod running the os image, scanned: its new reports are sent. Then its container
      // is switched to the java image, which the operator scans and writes into the same reports.
      // Out: the VulnerabilityReport sent twice, one object (uid) with the os findings, then java's.
      await core.createNamespacedPod({
        namespace: hooksNs,
        body: {
          metadata: { name: APP_POD },
          spec: {
            ...scans.placement,
            terminationGracePeriodSeconds: 1,
            containers: [{ name: 'app', image: appImages.os }],
          },
        },
      });
      const [first] = await waitForPosts(
        'the os scan',
        APP_REPORT,
        1,
        SCAN_TIMEOUT_MS,
        'VulnerabilityReport',
      );
      assert.ok(first);
      assert.deepEqual(vulnIds(first), expectedIds('os'));
      assert.equal(
        first.object.report?.summary?.criticalCount,
        severityCounts(expectedFindings.os.v1).CRITICAL,
      );
      // Its other reports too, so that no POST of the first scan comes after the change.
      await waitForOtherScanPosts('the os', 1);

      await setAppImage(appImages.java);
      const posts = await waitForPosts(
        'the changed report',
        APP_REPORT,
        2,
        SCAN_TIMEOUT_MS,
        'VulnerabilityReport',
      );
      assert.equal(posts.length, 2);
      const changed = posts[1];
      assert.equal(changed?.object.metadata.uid, first.object.metadata.uid, 'the same report, rewritten');
      assert.equal(changed?.object.report?.artifact?.tag, 'java');
      assert.deepEqual(changed && vulnIds(changed), expectedIds('java'));
      assert.equal(
        changed?.object.report?.summary?.criticalCount,
        severityCounts(expectedFindings.java.v1).CRITICAL,
        'CVE-2021-44228',
      );
      // The rest of the re-scan (its other reports, the Job's removal) before the next test: the
      // SbomReport's POST once came inside the next test's window (CI, a loaded 2-core machine).
      await waitForOtherScanPosts('the changed', 2);
      await waitForNoScanJobs();
    });

    it('does not POST a deletion while operator.webhookSendDeletedReports is off', async () => {
      const mark = sink.received.length;
      await deleteReport('new-report');
      assert.deepEqual(await afterSentinel(mark), []);
    });

    it('retries a receiver that answers 500 twice, and delivers once', async () => {
      const retriesBefore = await metric(op, 'trivy_lookout_webhook_retries_total');
      sink.script('flaky-receiver', [500, 500, 200]);
      await createReport(vulnerabilityReport('flaky-receiver'));
      const posts = await waitForPosts('three attempts', 'flaky-receiver', 3, 30_000);
      assert.deepEqual(
        posts.map((p) => p.status),
        [500, 500, 200],
      );
      await sleep(2_000);
      assert.equal(sink.about('flaky-receiver').length, 3, 'nothing more once delivered');
      assert.equal((await metric(op, 'trivy_lookout_webhook_retries_total')) - retriesBefore, 2);
      assert.equal(await metric(op, 'trivy_lookout_webhook_failed_total', { reason: 'http_error' }), 0);
    });

    it('gives up on a receiver that never answers (timeout, retries) while the operator stays ready and keeps scanning', async () => {
      sink.script('hanging-receiver', ['hang', 'hang', 'hang', 'hang', 'hang', 'hang']);
      await createReport(vulnerabilityReport('hanging-receiver'));
      await waitForPosts('the first attempt', 'hanging-receiver', 1);

      // Meanwhile a real scan: a Deployment's image is scanned and its reports are sent.
      await apps.createNamespacedDeployment({
        namespace: appsNs,
        body: {
          metadata: { name: 'web', namespace: appsNs },
          spec: {
            replicas: 1,
            selector: { matchLabels: { app: 'web' } },
            template: {
              metadata: { labels: { app: 'web' } },
              spec: {
                ...scans.placement,
                terminationGracePeriodSeconds: 1,
                containers: [{ name: 'web', image: webImage.ref }],
              },
            },
          },
        },
      });
      const scanned = await waitUntil(
        'the POST of the scanned VulnerabilityReport',
        () =>
          sink.received.find(
            (r) =>
              r.object.kind === 'VulnerabilityReport' &&
              r.object.metadata.namespace === appsNs &&
              r.status === 200,
          ),
        SCAN_TIMEOUT_MS,
        100,
      );
      assert.equal(scanned.object.metadata.labels?.['trivy-operator.resource.kind'], 'ReplicaSet');
      assert.equal(scanned.object.metadata.labels?.['trivy-operator.container.name'], 'web');
      assert.equal(scanned.object.report?.artifact?.digest, webImage.digest);
      assert.deepEqual(vulnIds(scanned), expectedIds('node'));
      await waitUntil(
        'the POST of the scanned ExposedSecretReport',
        () =>
          sink.received.find(
            (r) => r.object.kind === 'ExposedSecretReport' && r.object.metadata.namespace === appsNs,
          ),
        SCAN_TIMEOUT_MS,
      );
      assert.equal(await statusOf(op, '/healthz'), 200);
      assert.equal(await statusOf(op, '/readyz'), 200);

      // 1 attempt + 4 retries, each cut at the 3 s timeout (up to 15 s of backoff between), then counted as failed.
      await waitUntil(
        'the hanging notification to be given up',
        async () => (await metric(op, 'trivy_lookout_webhook_failed_total', { reason: 'timeout' })) === 1,
        60_000,
      );
      assert.equal(sink.about('hanging-receiver').length, 5);
      assert.ok(
        (await metric(op, 'trivy_lookout_webhook_request_duration_seconds_count', { outcome: 'timeout' })) >=
          5,
      );
      assert.equal(await statusOf(op, '/readyz'), 200);
    });

    it('never logs the custom header values or the URL path', async () => {
      const output = op.stdout() + op.stderr();
      assert.ok(output.includes('webhook sent'), 'debug logs were written');
      assert.ok(!output.includes(SECRET_HEADER_VALUE), 'header value logged');
      assert.ok(!output.includes(SECRET_URL_PATH), 'URL path logged');
    });

    after(async () => {
      if (op) await stopOperator(op);
    });
  });

  describe('two replicas with leader election, deleted reports sent', () => {
    let replicas: OperatorProcess[];
    let leader: OperatorProcess;
    let markBeforeStart = 0;
    const complianceName = `webhook-compliance-${process.pid}`;

    before(async () => {
      await createReport(vulnerabilityReport('changes-while-down'));
      const env = {
        OPERATOR_LEADER_ELECTION_ENABLED: 'true',
        OPERATOR_LEADER_ELECTION_ID: `webhook-lock-${process.pid}`,
        OPERATOR_SEND_DELETED_REPORTS: 'true',
        OPERATOR_TARGET_NAMESPACES: hooksNs,
      };
      markBeforeStart = sink.received.length;
      // The second starts once the first listens: each picks a free port before it binds it.
      const first = await operator(env);
      await first.waitForReady(60_000);
      replicas = [first, await operator(env)];
      leader = await waitUntil('a leader with its webhook baseline', () =>
        replicas.find((op) =>
          op.logs().some((l) => l.msg === 'webhook baseline taken; broadcasting changes'),
        ),
      );
    });

    it('only the leader broadcasts; a restart sends nothing for unchanged reports', async () => {
      assert.deepEqual(await afterSentinel(markBeforeStart), [], 'no resend of the baseline');
      const name = `sentinel-${sentinelCount}`;
      assert.equal(sink.about(name).length, 1, 'sent once, not once per replica');
      const starters = replicas.filter((op) => op.logs().some((l) => l.msg === 'webhook broadcast started'));
      assert.deepEqual(starters, [leader]);
    });

    it('wraps updates as {verb: "update", operatorObject} (a real re-scan after the Pod switches images)', async () => {
      // In: the first operator's Pod (its reports in this baseline) switched to the secret image.
      // Out: its reports sent as wrapped updates, with the secret image's findings.
      const mark = sink.received.length;
      await setAppImage(appImages.secret);
      const update = (kind: string) =>
        waitUntil(
          `the wrapped update of the ${kind}`,
          () => sink.since(mark).find((r) => r.object.metadata.name === APP_REPORT && r.object.kind === kind),
          SCAN_TIMEOUT_MS,
          100,
        );
      const post = await update('VulnerabilityReport');
      assert.equal(post.verb, 'update');
      assert.deepEqual(Object.keys(post.body as object).sort(), ['operatorObject', 'verb']);
      assert.deepEqual(vulnIds(post), expectedIds('secret'));
      assert.equal(post.object.report?.summary?.criticalCount, 0, "java's Critical is gone");
      const secrets = await update('ExposedSecretReport');
      assert.equal(secrets.verb, 'update');
      assert.deepEqual(
        (secrets.object.report?.secrets ?? []).map((x) => x.ruleID).sort(),
        expectedFindings.secret.v1.secrets.map((x) => x.ruleId).sort(),
      );
      assert.equal(
        secrets.object.report?.summary?.criticalCount,
        expectedFindings.secret.v1.secrets.filter((x) => x.severity === 'CRITICAL').length,
      );
      // Nothing of this scan may reach the next operators (the down receiver counts every send).
      await update('SbomReport');
      await waitForNoScanJobs();
    });

    it('POSTs a deletion as {verb: "delete", operatorObject: kind and metadata}', async () => {
      const before = await getReport('changes-while-down');
      await deleteReport('changes-while-down');
      const [post] = await waitForPosts('the deletion', 'changes-while-down', 1);
      assert.equal(post?.verb, 'delete');
      assert.equal(post?.object.apiVersion, `${GROUP}/${VERSION}`);
      assert.equal(post?.object.kind, 'VulnerabilityReport');
      assert.equal(post?.object.metadata.namespace, hooksNs);
      assert.equal(post?.object.metadata.uid, before.metadata.uid);
      assert.equal(post?.headers['x-api-key'], SECRET_HEADER_VALUE);
    });

    it('sends a ClusterComplianceReport when its status changes, not when only its labels do', async () => {
      const body = fixture<ReportBody>('clustercompliancereport.yaml');
      body.metadata = { ...body.metadata, name: complianceName };
      delete body.metadata.namespace;
      const status = body.status;
      const created = (await objects.createClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: 'clustercompliancereports',
        body,
      })) as ReportBody;
      await waitForPosts('the new compliance report', complianceName, 1);
      const replaceStatus = (failCount: number) =>
        objects.replaceClusterCustomObjectStatus({
          group: GROUP,
          version: VERSION,
          plural: 'clustercompliancereports',
          name: complianceName,
          body: { ...created, status: { ...status, summary: { failCount, passCount: 1 } } },
        }) as Promise<ReportBody>;
      const withStatus = await replaceStatus(5);
      const posts = await waitForPosts('the status change', complianceName, 2);
      assert.equal(posts[1]?.object.status?.summary?.failCount, 5);

      const mark = sink.received.length;
      await objects.replaceClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: 'clustercompliancereports',
        name: complianceName,
        body: { ...withStatus, metadata: { ...withStatus.metadata, labels: { reviewed: 'yes' } } },
      });
      // The sentinel is a ClusterComplianceReport too: on the same watch its event comes after the
      // label change's, and the queue is first in first out.
      await objects.createClusterCustomObject({
        group: GROUP,
        version: VERSION,
        plural: 'clustercompliancereports',
        body: { ...body, metadata: { ...body.metadata, name: `${complianceName}-sentinel` } },
      });
      await waitForPosts('the compliance sentinel', `${complianceName}-sentinel`, 1);
      await sleep(1_000);
      assert.deepEqual(
        sink.since(mark).filter((r) => r.object.metadata.name === complianceName),
        [],
      );
    });

    after(async () => {
      for (const name of [complianceName, `${complianceName}-sentinel`])
        await objects
          .deleteClusterCustomObject({
            group: GROUP,
            version: VERSION,
            plural: 'clustercompliancereports',
            name,
          })
          .catch(() => {});
      for (const op of replicas ?? []) await stopOperator(op);
    });
  });

  describe('a receiver that is down', () => {
    let op: OperatorProcess;
    // Holds the port and resets every connection: a receiver that is down, on a port that no other
    // process can take meanwhile (a merely closed port could be reused, and time out instead).
    const refusing = net.createServer((socket) => socket.resetAndDestroy());

    before(async () => {
      await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
      const { port } = refusing.address() as AddressInfo;
      op = await operator({
        OPERATOR_WEBHOOK_BROADCAST_URL: `http://127.0.0.1:${port}${SECRET_URL_PATH}`,
        OPERATOR_WEBHOOK_BROADCAST_QUEUE_SIZE: '2',
        OPERATOR_TARGET_NAMESPACES: hooksNs,
      });
      await op.waitForReady(60_000);
      await waitForBaseline(op);
    });

    it('counts every notification as failed or dropped, and keeps running', async () => {
      for (let i = 0; i < 8; i++) await createReport(vulnerabilityReport(`unreachable-${i}`));
      // 4 are being sent (and retried), 2 wait, the 2 oldest waiting ones make room for newer ones.
      // One scrape per poll, so that the figures agree with each other.
      const counts = async () => {
        const text = await metricsText(op);
        return {
          failed: sampleSum(text, 'trivy_lookout_webhook_failed_total'),
          failedNetwork: sampleSum(text, 'trivy_lookout_webhook_failed_total', { reason: 'network' }),
          dropped: sampleSum(text, 'trivy_lookout_webhook_dropped_total'),
          droppedQueueFull: sampleSum(text, 'trivy_lookout_webhook_dropped_total', { reason: 'queue_full' }),
          sent: sampleSum(text, 'trivy_lookout_webhook_sent_total'),
          queueDepth: sampleSum(text, 'trivy_lookout_webhook_queue_depth'),
        };
      };
      let last: Awaited<ReturnType<typeof counts>> | undefined;
      // Waits for the outcome, not for the exact figure, so that a wrong count fails with the
      // figures and the operator's account of each notification rather than with a timeout.
      await waitUntil(
        'every notification to end',
        async () => {
          last = await counts();
          return last.failed + last.dropped + last.sent >= 8 && last.queueDepth === 0;
        },
        90_000,
        500,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}\ncounts: ${JSON.stringify(last)}\n${webhookStory(op)}`);
      });
      const story = `counts: ${JSON.stringify(last)}\n${webhookStory(op)}`;
      assert.equal(last?.failedNetwork, last?.failed, `every failure is a network error\n${story}`);
      assert.equal(last?.droppedQueueFull, last?.dropped, `every drop is for a full queue\n${story}`);
      assert.equal((last?.failed ?? 0) + (last?.dropped ?? 0), 8, `8 notifications accounted for\n${story}`);
      assert.ok((last?.dropped ?? 0) >= 1, story);
      assert.equal(last?.sent, 0, story);
      assert.ok(op.logs().some((l) => l.msg === 'webhook queue full; dropping the oldest notifications'));
      assert.equal(op.child.exitCode, null, 'still running');
      assert.equal(await statusOf(op, '/healthz'), 200);
      assert.equal(await statusOf(op, '/readyz'), 200);
    });

    after(async () => {
      if (op) await stopOperator(op);
      refusing.close();
    });
  });
});
