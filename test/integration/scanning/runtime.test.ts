/**
 * The controller runtime of the scanner on a real node, with real Trivy scans (as
 * real-node.test.ts): the operator runs as a process under a user of its own on a control plane of
 * this file's own that writes an audit log of watches, with a 20 s resync and the webhook
 * broadcaster on (a local sink).
 *
 * 1. A report write the API server rejects. In: a validating admission webhook (served by the
 *    test) refuses every CREATE and UPDATE of VulnerabilityReports in the workload namespace from
 *    before the workload exists until 30 s after its first refusal. Out: the finished scan Job is
 *    kept meanwhile, and the report appears once the webhook allows again, without a restart of the
 *    operator and within minutes (not the 24 h TTL), from the one scan Job of that image; the
 *    scan-jobs queue counts the retries and reconcile errors on /metrics.
 * 2. Things deleted behind the operator's back. In: a scan Job deleted (propagationPolicy
 *    Background) as soon as it is created; later, once that scan is filed, the report of the still
 *    running workload. Out: a new scan Job for the image and the report; then a re-scan (a Job of its
 *    own) and the report written anew. The same deletion while the scan's results are still being
 *    written (between a container's VulnerabilityReport and its ExposedSecretReport): re-scanned
 *    once the filing ends.
 * 3. One watch per target. Out: in the audit log, no (resource, namespace, selector) the operator
 *    watches ever has two of its watch requests open at once, however many components read it:
 *    VulnerabilityReports, read by the exporter, the scanner and the webhook broadcaster (each shown
 *    to have read them: a metric series, a re-scan, a notification), are one target; every target's
 *    requests are accounted for by its informer's relists and restarts.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, BatchV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { startAdmissionWebhook, type AdmissionWebhook } from '../../harness/admission-webhook.ts';
import {
  groupByTarget,
  overlappingRequests,
  watchRequests,
  type WatchTarget,
} from '../../harness/audit-log.ts';
import type { ControlPlane } from '../../harness/control-plane.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import {
  IMAGE_SCANNING_ONLY,
  useRealScans,
  watchScanJobs,
  type PublishedImage,
  type RealScans,
} from '../../harness/real-scans.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { waitUntil } from '../../harness/waiting.ts';

const GROUP = 'aquasecurity.github.io';
const VERSION = 'v1alpha1';

interface Report {
  metadata: { name: string; uid: string; creationTimestamp?: string; annotations?: Record<string, string> };
  report: { artifact: { digest?: string }; summary: Record<string, number> };
}

/** The value of one series of a Prometheus text exposition, or undefined when it is absent. */
function metricValue(text: string, name: string, labels: Record<string, string>): number | undefined {
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labelText = line.slice(name.length + 1, close);
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`)))
      return Number(line.slice(close + 1).trim());
  }
  return undefined;
}

/** Sum of every series of a family whose labels include `labels`. */
function metricSum(text: string, name: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const close = line.lastIndexOf('}');
    const labelText = line.slice(name.length + 1, close);
    if (Object.entries(labels).every(([key, value]) => labelText.includes(`${key}="${value}"`)))
      sum += Number(line.slice(close + 1).trim());
  }
  return sum;
}

/** The informer name (src/kube/informers.ts) of an audited watch target: `plural[@ns][{selection}]`. */
function informerNameOf(target: WatchTarget): string {
  const selection = [target.labelSelector, target.fieldSelector].filter(Boolean).join(',');
  return `${target.resource}${target.namespace ? `@${target.namespace}` : ''}${selection ? `{${selection}}` : ''}`;
}

describe('the scanner on the controller runtime: rejected writes, deleted Jobs and reports, one watch per target', () => {
  let cluster: TestCluster;
  let cp: ControlPlane;
  let scans: RealScans;
  let operator: OperatorProcess | undefined;
  let webhook: AdmissionWebhook | undefined;
  let operatorNs: string;
  let ns: string;
  let apps: AppsV1Api;
  let batch: BatchV1Api;
  let objects: CustomObjectsApi;
  let scanJobs: Awaited<ReturnType<typeof watchScanJobs>>;
  let sink: http.Server;
  const notifications: { kind: string; namespace?: string; name: string }[] = [];
  const images = {} as Record<'frozen' | 'interrupted' | 'racing', PublishedImage>;

  before(async () => {
    cluster = await useTestCluster({ node: true, controlPlane: { auditLog: true, users: ['operator'] } });
    cp = cluster.controlPlane!;
    scans = await useRealScans(cluster);
    const dbRepository = scans.dbRepositoryFor(`runtime-${process.pid}`);
    // Images of this file's own (a digest each), so that each count of scan Jobs is this file's.
    for (const name of ['frozen', 'interrupted', 'racing'] as const)
      images[name] = await scans.publishImage('os', 'http', `runtime-${process.pid}/${name}`);
    await scans.publishDb('v1', dbRepository);
    const kc = cluster.kubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    batch = kc.makeApiClient(BatchV1Api);
    objects = kc.makeApiClient(CustomObjectsApi);
    operatorNs = await cluster.createNamespace('runtime-operator');
    ns = await cluster.createNamespace('runtime-apps');
    scanJobs = await watchScanJobs(cluster, operatorNs);

    // The webhook broadcaster's receiver: notes what it is sent.
    sink = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        try {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
            kind?: string;
            metadata?: { name?: string; namespace?: string };
          };
          notifications.push({
            kind: body.kind ?? '',
            name: body.metadata?.name ?? '',
            ...(body.metadata?.namespace ? { namespace: body.metadata.namespace } : {}),
          });
        } catch {
          // not a report: ignored
        }
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => sink.listen(0, '127.0.0.1', () => resolve()));

    operator = await startOperator(cp.kubeconfigFor('operator'), {
      ...IMAGE_SCANNING_ONLY,
      ...scans.operatorEnv(dbRepository),
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: ns,
      OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
      OPERATOR_SCAN_JOB_TIMEOUT: '600s',
      OPERATOR_RESYNC_PERIOD: '20s',
      OPERATOR_WEBHOOK_BROADCAST_URL: `http://127.0.0.1:${(sink.address() as AddressInfo).port}/reports`,
      // The informers' relists are logged at debug level: the watch accounting below reads them.
      OPERATOR_LOG_LEVEL: 'debug',
    });
    await operator.waitForReady(120_000);
    await operator.waitForLog((line) => line.msg === 'scanner synced', 60_000);
  });

  after(async () => {
    // TL_OPERATOR_LOG=<file> keeps the operator's log (e.g. of a failed run).
    if (operator && process.env.TL_OPERATOR_LOG)
      writeFileSync(process.env.TL_OPERATOR_LOG, operator.stdout() + operator.stderr());
    await operator?.stop();
    await webhook?.stop().catch(() => undefined);
    await scanJobs?.stop();
    await new Promise<void>((resolve) => (sink ? sink.close(() => resolve()) : resolve()));
    if (apps) await apps.deleteCollectionNamespacedDeployment({ namespace: ns }).catch(() => undefined);
    await cluster?.release();
  });

  const deploy = (name: string, image: string) =>
    apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name, namespace: ns },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: {
            metadata: { labels: { app: name } },
            spec: {
              ...scans.placement,
              terminationGracePeriodSeconds: 2,
              containers: [{ name: 'main', image }],
            },
          },
        },
      },
    });

  const replicaSetOf = (name: string) =>
    waitUntil(
      `the ReplicaSet of ${name}`,
      async () =>
        (await apps.listNamespacedReplicaSet({ namespace: ns, labelSelector: `app=${name}` })).items[0]
          ?.metadata?.name,
      60_000,
    );

  const getReport = async (name: string): Promise<Report | undefined> => {
    try {
      return (await objects.getNamespacedCustomObject({
        group: GROUP,
        version: VERSION,
        namespace: ns,
        plural: 'vulnerabilityreports',
        name,
      })) as Report;
    } catch {
      return undefined;
    }
  };

  /** UIDs of the scan Jobs created for an image, in the order they were seen. */
  const jobsOf = (image: PublishedImage) =>
    [...scanJobs.jobs].filter(([, ref]) => ref.endsWith(`@${image.digest}`)).map(([uid]) => uid);

  const jobStarts = (image: PublishedImage) =>
    (operator?.logs() ?? []).filter(
      (line) => line.msg === 'scan job started' && String(line.image).endsWith(`@${image.digest}`),
    );

  const metrics = async () => (await fetch(`${operator?.baseUrl}/metrics`)).text();

  it('a report write refused for 30 s is retried with backoff from the kept scan Job until it goes through', async (t) => {
    const image = images.frozen;
    const pid = operator?.child.pid;
    webhook = await startAdmissionWebhook(cluster.kubeConfig(), {
      rules: [
        {
          apiGroups: [GROUP],
          apiVersions: [VERSION],
          resources: ['vulnerabilityreports'],
          operations: ['CREATE', 'UPDATE'],
        },
      ],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
    });
    webhook.deny('vulnerability reports are frozen by the test');
    const before = await metrics();
    const retriesBefore = metricValue(before, 'workqueue_retries_total', { name: 'scan-jobs' }) ?? 0;
    const errorsBefore =
      metricValue(before, 'controller_runtime_reconcile_errors_total', { controller: 'scan-jobs' }) ?? 0;

    await deploy('frozen', image.ref);
    const rs = await replicaSetOf('frozen');
    const reportName = `replicaset-${rs}-main`;
    await waitUntil('the first refused report write', () => webhook!.counts().denied >= 1, 420_000, 200);
    const firstDenial = Date.now();
    // The scan is over and its Job kept while its result cannot be written.
    const [jobUid] = jobsOf(image);
    const job = scanJobs.objects.get(jobUid ?? '');
    assert.ok(job?.metadata?.name, 'the scan Job of the image was seen');
    const jobName = job.metadata.name;

    await sleep(30_000);
    const kept = await batch.readNamespacedJob({ name: jobName, namespace: operatorNs });
    assert.equal(kept.metadata?.uid, jobUid);
    assert.ok(
      kept.status?.conditions?.some((c) => c.type === 'Complete' && c.status === 'True'),
      'the kept Job finished its scan',
    );
    assert.equal(await getReport(reportName), undefined);
    const refused = webhook.calls.filter((c) => !c.allowed);
    assert.ok(refused.length >= 2, `retried while refused: ${refused.length} refusal(s) in 30 s`);
    assert.ok(refused.every((c) => c.user === 'operator' && c.resource === 'vulnerabilityreports'));
    assert.ok(refused.every((c) => c.namespace === ns && c.name === reportName));
    webhook.allow();
    const allowedAt = Date.now();

    const report = await waitUntil(
      `VulnerabilityReport ${reportName}`,
      () => getReport(reportName),
      360_000,
      500,
    );
    const delayS = (Date.now() - allowedAt) / 1000;
    assert.equal(report.report.artifact.digest, image.digest);
    assert.ok(
      Object.values(report.report.summary).some((count) => count > 0),
      JSON.stringify(report.report.summary),
    );
    // Without a restart of the operator.
    assert.equal(operator?.child.exitCode, null);
    assert.equal(operator?.child.pid, pid);
    // The kept Job is deleted once its result is filed.
    await waitUntil(
      'the scan Job deleted after filing',
      async () =>
        batch.readNamespacedJob({ name: jobName, namespace: operatorNs }).then(
          () => false,
          () => true,
        ),
      60_000,
      500,
    );

    // One scan for the image, however many times its result was refused.
    assert.deepEqual(jobsOf(image), [jobUid]);
    assert.equal(jobStarts(image).length, 1);
    const failures = (operator?.logs() ?? []).filter(
      (line) => line.msg === 'reconcile failed; will retry' && line.controller === 'scan-jobs',
    );
    assert.ok(failures.length >= refused.length, `${failures.length} failed reconciles`);
    assert.ok(
      failures.every(
        (line) =>
          line.key === jobName && String(line.err).includes('vulnerability reports are frozen by the test'),
      ),
      JSON.stringify(failures[0]),
    );
    const text = await metrics();
    const retries =
      (metricValue(text, 'workqueue_retries_total', { name: 'scan-jobs' }) ?? 0) - retriesBefore;
    const errors =
      (metricValue(text, 'controller_runtime_reconcile_errors_total', { controller: 'scan-jobs' }) ?? 0) -
      errorsBefore;
    assert.ok(retries >= refused.length, `workqueue_retries_total{name="scan-jobs"} grew by ${retries}`);
    assert.ok(errors >= refused.length, `controller_runtime_reconcile_errors_total grew by ${errors}`);
    assert.ok(
      (metricValue(text, 'controller_runtime_reconcile_total', {
        controller: 'scan-jobs',
        result: 'error',
      }) ?? 0) >= refused.length,
    );
    // Well within the longest backoff (5 min) and the resync (20 s) after the webhook let go.
    assert.ok(delayS < 360, `report ${delayS} s after allow`);
    t.diagnostic(
      `refused ${refused.length}× over ${Math.round((allowedAt - firstDenial) / 1000)} s; report ${delayS.toFixed(1)} s after allow`,
    );
    await webhook.stop();
    webhook = undefined;
  });

  it('a scan Job deleted before it finishes is replaced, and a deleted report of a running workload is written anew', async () => {
    const image = images.interrupted;
    await deploy('interrupted', image.ref);
    const rs = await replicaSetOf('interrupted');
    const reportName = `replicaset-${rs}-main`;

    const [firstUid] = await waitUntil(
      'the first scan Job of the image',
      () => {
        const uids = jobsOf(image);
        return uids.length > 0 ? uids : undefined;
      },
      180_000,
      50,
    );
    const jobName = scanJobs.objects.get(firstUid!)?.metadata?.name ?? '';
    await batch.deleteNamespacedJob({
      name: jobName,
      namespace: operatorNs,
      propagationPolicy: 'Background',
    });
    await operator!.waitForLog(
      (line) => /deleted before it finished/.test(String(line.msg)) && line.job === jobName,
      60_000,
    );
    // A new Job of the same name (one per image), another object.
    const [, secondUid] = await waitUntil(
      'a new scan Job for the image',
      () => {
        const uids = jobsOf(image);
        return uids.length >= 2 ? uids : undefined;
      },
      60_000,
      200,
    );
    assert.notEqual(secondUid, firstUid);
    assert.equal(scanJobs.objects.get(secondUid!)?.metadata?.name, jobName);
    const report = await waitUntil(
      `VulnerabilityReport ${reportName}`,
      () => getReport(reportName),
      360_000,
      500,
    );
    assert.equal(report.report.artifact.digest, image.digest);
    assert.equal(jobsOf(image).length, 2);

    // The report of a workload that still runs the image is deleted by someone: a re-scan. (Once
    // the scan is filed and its Job gone: a deletion during the filing is the last test.)
    await operator!.waitForLog(
      (line) => line.msg === 'scan finished' && String(line.image).endsWith(`@${image.digest}`),
      60_000,
    );
    await waitUntil(
      'the second scan Job deleted after filing',
      async () =>
        batch.readNamespacedJob({ name: jobName, namespace: operatorNs }).then(
          (job) => job.metadata?.uid !== secondUid,
          () => true,
        ),
      60_000,
      500,
    );
    await objects.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: 'vulnerabilityreports',
      name: reportName,
    });
    await operator!.waitForLog(
      (line) => line.msg === 'report deleted; re-scanning' && String(line.image).endsWith(`@${image.digest}`),
      60_000,
    );
    const again = await waitUntil(
      `VulnerabilityReport ${reportName} written anew`,
      async () => {
        const current = await getReport(reportName);
        return current && current.metadata.uid !== report.metadata.uid ? current : undefined;
      },
      360_000,
      500,
    );
    assert.equal(again.report.artifact.digest, image.digest);
    assert.equal(jobsOf(image).length, 3, 'a scan Job of its own for the re-scan');
    // The image of the first test was not scanned again meanwhile.
    assert.equal(jobsOf(images.frozen).length, 1);
  });

  it('a report deleted while the results of its scan are still being written is written anew', async () => {
    const image = images.racing;
    // The scanner writes a container's VulnerabilityReport, then its ExposedSecretReport: the
    // webhook holds the second write, so the test acts between the two, deterministically.
    const holder = await startAdmissionWebhook(cluster.kubeConfig(), {
      rules: [
        {
          apiGroups: [GROUP],
          apiVersions: [VERSION],
          resources: ['exposedsecretreports'],
          operations: ['CREATE', 'UPDATE'],
        },
      ],
      namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': ns } },
      timeoutSeconds: 20,
    });
    webhook = holder;
    holder.hold();
    await deploy('racing', image.ref);
    const reportName = `replicaset-${await replicaSetOf('racing')}-main`;
    await waitUntil('the ExposedSecretReport write held', () => holder.holding >= 1, 360_000, 50);
    const first = await getReport(reportName);
    assert.ok(first, 'the VulnerabilityReport is written before the ExposedSecretReport');
    await objects.deleteNamespacedCustomObject({
      group: GROUP,
      version: VERSION,
      namespace: ns,
      plural: 'vulnerabilityreports',
      name: reportName,
    });
    await operator!.waitForLog(
      (line) => line.msg === 'report deleted; re-scanning' && String(line.image).endsWith(`@${image.digest}`),
      15_000,
    );
    holder.release();
    await holder.stop();
    webhook = undefined;
    await waitUntil(
      `VulnerabilityReport ${reportName} written anew`,
      async () => {
        const current = await getReport(reportName);
        return current && current.metadata.uid !== first.metadata.uid ? current : undefined;
      },
      60_000,
      500,
    );
  });

  it('every target the operator watches has one watch at a time; VulnerabilityReports one target for three readers', async (t) => {
    // The three readers of VulnerabilityReports each read them: the exporter (a series of the
    // report), the webhook broadcaster (a notification), the scanner (the re-scan above).
    const text = await metrics();
    assert.ok(
      text
        .split('\n')
        .some((l) => l.startsWith('trivy_image_vulnerabilities{') && l.includes(`namespace="${ns}"`)),
      'the exporter has series of the reports',
    );
    await waitUntil(
      'a VulnerabilityReport notification',
      () => notifications.some((n) => n.kind === 'VulnerabilityReport' && n.namespace === ns),
      60_000,
    );

    const watches = watchRequests(cp, { user: 'operator' });
    const targets = groupByTarget(watches);
    assert.deepEqual(
      targets.filter((g) => g.resource === 'vulnerabilityreports').map((g) => g.key),
      [`vulnerabilityreports.${GROUP} in ${ns}`],
    );
    // The same for the other report kinds and the workloads: one target each.
    const keys = targets.map((g) => g.key);
    assert.equal(new Set(keys).size, keys.length);
    for (const key of [
      'namespaces in all namespaces',
      'pods in all namespaces',
      `jobs.batch in ${operatorNs} labelSelector=trivy-lookout.dev/component=scan-job`,
    ])
      assert.ok(keys.includes(key), `${key} in ${keys.join('; ')}`);

    // Never two requests of one target open at once (a closed watch's end is logged a moment after
    // the client has left: 2 s of grace for that).
    const overlaps = targets.flatMap((g) =>
      overlappingRequests(g.requests, 2_000).map(
        (o) =>
          `${g.key}: ${o.first.receivedAt}→${o.first.completedAt ?? 'open'} and ${o.second.receivedAt}→${o.second.completedAt ?? 'open'} (${o.overlapMs} ms)`,
      ),
    );
    assert.deepEqual(overlaps, []);
    for (const g of targets)
      assert.ok(g.requests.filter((r) => !r.completed).length <= 1, `${g.key}: more than one open`);

    // Each target's requests: its first watch, one after each relist for a late subscriber, and
    // one after each restart (server-side timeouts, 5-10 min) that /metrics counted.
    const logs = operator!.logs();
    const accounting = targets.map((g) => {
      const name = informerNameOf(g);
      const relists = logs.filter((l) => l.msg === 'late subscriber; relisting' && l.watch === name).length;
      const restarts = metricSum(text, 'trivy_lookout_watch_restarts_total', { watch: name });
      return { target: g.key, name, requests: g.count, bound: 1 + relists + restarts };
    });
    assert.deepEqual(
      accounting.filter((a) => a.requests > a.bound),
      [],
    );
    t.diagnostic(
      accounting
        .map((a) => `${a.name}: ${a.requests} watch request(s), at most ${a.bound} expected`)
        .join('\n'),
    );
  });
});
