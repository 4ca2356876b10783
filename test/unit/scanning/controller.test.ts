/**
 * The scan controller on the controller runtime, against a fake API server (test/unit/support):
 * the real informers list and watch pods, CronJobs, scan Jobs and VulnerabilityReports from it, the
 * real Job runner creates and deletes Jobs there, and reports are applied to it. The test plays the
 * kubelet and the Job controller (a scan pod with a log made of a real Trivy result, the Job's
 * Complete condition) and whoever else changes things behind the controller's back.
 *
 * Why a fake: these cases need an API server that refuses, holds or drops one chosen request at one
 * chosen moment, and a stop in the middle of a list, which a real one does not do on demand. The
 * same controller runs against the real control plane in test/integration/scanning/runtime.test.ts and real-node.test.ts.
 *
 * 1. Two Deployments' pods run the same image digest → one scan Job; once it completes, each
 *    workload container gets its reports, then the Job is deleted.
 * 2. An admission webhook refuses the report twice → the finished Job is kept and its result filed
 *    again with backoff, no second scan; the Job goes only after the write went through; the
 *    runtime observer counts the retries.
 * 3. The running scan Job is deleted by someone → a new Job for the image, without a failure's
 *    backoff.
 * 4. The API fails a pod's owner lookup (its Job) → the pod is reconciled again with backoff until
 *    its report is written; another pod meanwhile is not held up.
 * 5. Stopped while the caches sync (the pods list never answers) → stop() returns at once, the
 *    request is abandoned, nothing is started afterwards, and no timer is left.
 *
 * 6. The API server holds an owner lookup, or a report write of a finished scan → stop() returns
 *    within a second (the scanner aborts its requests), and the finished Job is kept.
 *
 * Found on the way: start() did not return when stopped while the pods and CronJobs lists were both
 * pending; stop() waited up to the runtime's 10 s cap for a request the server held. Both fixed.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import type { KubeConfig, KubernetesObject, V1Job, V1Pod } from '@kubernetes/client-node';
import pino from 'pino';
import { loadConfig } from '../../../src/config/index.ts';
import { ReportLabel } from '../../../src/crds/index.ts';
import { Informers } from '../../../src/kube/index.ts';
import {
  ScanAnnotation,
  ScanController,
  scanJobName,
  type ScanObserver,
} from '../../../src/scanning/index.ts';
import { TRIVY_CYCLONEDX_PREFIX, TRIVY_VERSION_PREFIX } from '../../../src/scanning/result.ts';
import type { TargetNamespaces } from '../../../src/workloads/index.ts';
import { apiStatus, FakeApiServer } from '../support/fake-api.ts';
import { completeJob, CountingRuntime, liveTimers, until } from '../support/runtime.ts';

const log = pino({ level: process.env.TL_TEST_LOG ?? 'silent' });

const OPERATOR_NS = 'trivy-system';
const APP_NS = 'shop';
const JOBS = `/apis/batch/v1/namespaces/${OPERATOR_NS}/jobs`;
const REPORTS = `/apis/aquasecurity.github.io/v1alpha1/namespaces/${APP_NS}`;
const VULNS = `${REPORTS}/vulnerabilityreports`;
const SECRETS = `${REPORTS}/exposedsecretreports`;
const SBOMS = `${REPORTS}/sbomreports`;

const IMAGE = 'registry.example.com/shop/app:1.4';
const DIGEST = 'sha256:9b2a7c4e1f3d5a6b8c0e2f4a6c8e0a2c4e6a8c0e2a4c6e8a0c2e4a6c8e0a2c4e';
const IMAGE_KEY = `registry.example.com/shop/app@${DIGEST}`;
const OTHER_IMAGE = 'registry.example.com/shop/batch:7';
const OTHER_DIGEST = 'sha256:1c3e5a7c9e1a3c5e7a9c1e3a5c7e9a1c3e5a7c9e1a3c5e7a9c1e3a5c7e9a1c3e';

const fixture = (name: string) =>
  readFileSync(new URL(`../../fixtures/trivy-real/${name}`, import.meta.url), 'utf8');
/** Trivy v0.74.0 on the test image `secret`: 3 vulnerabilities, 2 exposed secrets, 3 packages. */
const TRIVY_JSON = fixture('trivy-v0.74.0.test-image-secret.test-db-v1.json');
const CYCLONEDX = fixture('trivy-v0.74.0.test-image-secret.test-db-v1.cyclonedx.json');

/**
 * The scan container's log as SCAN_SCRIPT prints it: the result gzipped and base64'd (wrapped at
 * 76 columns, as base64(1) does), the CycloneDX line, the `trivy version` line.
 */
const SCAN_LOG = [
  gzipSync(TRIVY_JSON)
    .toString('base64')
    .replace(/(.{76})/g, '$1\n')
    .trimEnd(),
  `${TRIVY_CYCLONEDX_PREFIX}${gzipSync(CYCLONEDX).toString('base64')}`,
  `${TRIVY_VERSION_PREFIX}${JSON.stringify({
    Version: '0.74.0',
    VulnerabilityDB: { Version: 2, UpdatedAt: '2026-01-02T00:00:00Z', NextUpdate: '2026-01-03T00:00:00Z' },
  })}`,
  '',
].join('\n');

interface PodOptions {
  /** The controller: a ReplicaSet of a Deployment, or a Job. */
  owner: { kind: 'ReplicaSet' | 'Job'; name: string };
  name: string;
  image?: string;
  digest?: string;
  container?: string;
}

/** A running pod whose container has pulled its image (so its digest is known). */
function runningPod({ owner, name, image = IMAGE, digest = DIGEST, container = 'app' }: PodOptions): V1Pod {
  const repository = image.slice(0, image.lastIndexOf(':'));
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name,
      namespace: APP_NS,
      uid: `uid-${name}`,
      labels: { app: owner.name },
      ownerReferences: [
        {
          apiVersion: owner.kind === 'Job' ? 'batch/v1' : 'apps/v1',
          kind: owner.kind,
          name: owner.name,
          uid: `uid-${owner.name}`,
          controller: true,
        },
      ],
    },
    spec: { nodeName: 'node-1', containers: [{ name: container, image }] },
    status: {
      phase: 'Running',
      containerStatuses: [
        {
          name: container,
          image,
          imageID: `${repository}@${digest}`,
          ready: true,
          restartCount: 0,
          state: { running: { startedAt: new Date() } },
        },
      ],
    },
  };
}

const podPath = (pod: V1Pod) => `/api/v1/namespaces/${APP_NS}/pods/${pod.metadata?.name}`;

/** What the kubelet and the Job controller do for a scan that succeeded: its pod, its log, the Job's condition. */
function completeScan(api: FakeApiServer, jobName: string, scanLog = SCAN_LOG): void {
  completeJob(api, {
    namespace: OPERATOR_NS,
    job: jobName,
    container: 'scan',
    image: 'mirror.gcr.io/aquasec/trivy:0.74.0',
    log: scanLog,
  });
}

type ScanFinished = Parameters<ScanObserver['scanFinished']>[0];

/** The scan series: each finished scan, as the metrics would count it. */
function scanRecorder(): ScanObserver & { finished: ScanFinished[] } {
  const finished: ScanFinished[] = [];
  return {
    finished,
    queued: () => {},
    running: () => {},
    scanFinished: (scan) => void finished.push(scan),
    forgetImage: () => {},
    dbUpdated: () => {},
  };
}

interface Report extends KubernetesObject {
  report: {
    artifact: { repository?: string; digest?: string };
    vulnerabilities?: unknown[];
    secrets?: unknown[];
    components?: unknown;
  };
}

describe('ScanController', () => {
  let api: FakeApiServer;
  let informers: Informers | undefined;
  let controller: ScanController | undefined;

  interface Started {
    kc: KubeConfig;
    runtime: CountingRuntime;
    scans: ReturnType<typeof scanRecorder>;
    /** The controller's start(), not awaited. */
    starting: Promise<void>;
  }

  /**
   * Starts the controller on a new fake: `existing` are there before the first list, `prepare`
   * readies the fake's answers.
   */
  async function start(
    env: Record<string, string> = {},
    existing: [string, KubernetesObject][] = [],
    prepare: (api: FakeApiServer) => void = () => {},
  ): Promise<Started> {
    api = new FakeApiServer();
    const kc = await api.start();
    for (const [path, object] of existing) api.put(path, object);
    prepare(api);
    informers = new Informers({ kc, log, watchTimeoutSeconds: 1, backoff: { initialMs: 20, maxMs: 200 } });
    const config = loadConfig(
      {
        OPERATOR_NAMESPACE: OPERATOR_NS,
        OPERATOR_SCAN_JOB_RETRY_AFTER: '100ms',
        ...env,
      },
      () => {
        throw new Error('no file');
      },
    );
    const runtime = new CountingRuntime();
    const scans = scanRecorder();
    controller = new ScanController({
      kc,
      config,
      log,
      namespaces: { waitForSync: () => Promise.resolve(), has: () => true } as unknown as TargetNamespaces,
      observer: scans,
      informers,
      runtime,
    });
    return { kc, runtime, scans, starting: controller.start() };
  }

  afterEach(async () => {
    await controller?.stop();
    await informers?.stop();
    controller = undefined;
    informers = undefined;
    await api.stop();
  });

  const scanJobs = () => api.list<V1Job>(JOBS);
  const jobCreates = () => api.callsTo(`POST ${JOBS}`);
  const reportApplies = (collection: string, name: string) => api.callsTo(`PATCH ${collection}/${name}`);

  /**
   * Stops the controller while the fake API server holds a request: 'stopped' when stop() returned
   * within a second. The server is stopped afterwards (its held connection closes), so the stop ends
   * either way.
   */
  async function stopWhileHeld(): Promise<'stopped' | 'still waiting'> {
    const stopping = controller?.stop() ?? Promise.resolve();
    const outcome = await Promise.race([
      stopping.then(() => 'stopped' as const),
      sleep(1_000).then(() => 'still waiting' as const),
    ]);
    await api.stop();
    await stopping;
    return outcome;
  }

  it('scans an image two Deployments run once, files the result into both workloads, then deletes the Job', async () => {
    const web = runningPod({
      owner: { kind: 'ReplicaSet', name: 'web-5d9f8c7b6' },
      name: 'web-5d9f8c7b6-x7k2p',
    });
    const apiPod = runningPod({
      owner: { kind: 'ReplicaSet', name: 'api-7c8b9d6f5' },
      name: 'api-7c8b9d6f5-m4n8q',
    });
    const { runtime, scans, starting } = await start({}, [[podPath(web), web]]);
    await starting;
    assert.equal(controller?.synced, true);
    // The second pod starts after the scanner synced: it arrives by the watch.
    api.put(podPath(apiPod), apiPod);
    await until('both pods reconciled', () => runtime.of('scan-workloads').success >= 2);
    await until('the scan Job', () => jobCreates().length === 1);

    const job = scanJobs()[0];
    assert.ok(job, 'the scan Job');
    assert.equal(job.metadata?.name, scanJobName(IMAGE_KEY));
    assert.equal(job.metadata?.annotations?.[ScanAnnotation.imageKey], IMAGE_KEY);
    completeScan(api, scanJobName(IMAGE_KEY));
    await until('the Job deleted', () => api.callsTo(`DELETE ${JOBS}/`).length === 1);

    for (const rs of ['web-5d9f8c7b6', 'api-7c8b9d6f5']) {
      const name = `replicaset-${rs}-app`;
      assert.equal(reportApplies(VULNS, name).length, 1, `one apply of ${name}`);
      const report = api.get<Report>(`${VULNS}/${name}`);
      assert.ok(report, `VulnerabilityReport ${name}`);
      assert.deepEqual(report.metadata?.ownerReferences?.[0]?.name, rs);
      assert.equal(report.metadata?.labels?.[ReportLabel.resourceKind], 'ReplicaSet');
      assert.equal(report.metadata?.labels?.[ReportLabel.containerName], 'app');
      assert.equal(report.metadata?.annotations?.[ScanAnnotation.imageKey], IMAGE_KEY);
      assert.equal(report.report.artifact.digest, DIGEST);
      assert.equal(report.report.artifact.repository, 'shop/app');
      assert.equal(report.report.vulnerabilities?.length, 3);
      assert.equal(api.get<Report>(`${SECRETS}/${name}`)?.report.secrets?.length, 2);
      assert.ok(api.get<Report>(`${SBOMS}/${name}`)?.report.components, `SbomReport ${name}`);
    }
    // Deleted once its result was filed, not before.
    const deletedAt = api.calls.indexOf(`DELETE ${JOBS}/${scanJobName(IMAGE_KEY)}`);
    const lastWrite = api.calls.findLastIndex((c) => c.startsWith(`PATCH ${REPORTS}/`));
    assert.ok(lastWrite < deletedAt, `the last report write (${api.calls[lastWrite]}) after the delete`);
    assert.deepEqual(scanJobs(), []);
    assert.deepEqual(
      scans.finished.map((s) => [s.key, s.outcome]),
      [[IMAGE_KEY, 'succeeded']],
    );

    // Nothing more to do: no second scan, no more writes.
    const calls = api.calls.filter((c) => !c.startsWith('WATCH ')).length;
    await sleep(300);
    assert.equal(jobCreates().length, 1);
    assert.deepEqual(
      api.calls.filter((c) => !c.startsWith('WATCH ')).slice(calls),
      [],
      'no request once the reports are written',
    );
  });

  it('keeps the finished Job while the report is refused, files it once allowed, then deletes the Job', async () => {
    const pod = runningPod({
      owner: { kind: 'ReplicaSet', name: 'web-5d9f8c7b6' },
      name: 'web-5d9f8c7b6-x7k2p',
    });
    const name = 'replicaset-web-5d9f8c7b6-app';
    const { runtime, scans, starting } = await start({}, [[podPath(pod), pod]]);
    await starting;
    api.refuse(
      'PATCH',
      `${VULNS}/${name}`,
      apiStatus(
        403,
        'Forbidden',
        'admission webhook "reports.policy.example.com" denied the request: reports are frozen',
      ),
      2,
    );
    await until('the scan Job', () => jobCreates().length === 1);
    completeScan(api, scanJobName(IMAGE_KEY));

    await until('the Job deleted', () => api.callsTo(`DELETE ${JOBS}/`).length === 1);
    assert.equal(reportApplies(VULNS, name).length, 3, 'refused twice, then written');
    const written = api.calls.lastIndexOf(`PATCH ${VULNS}/${name}`);
    const refused = api.calls.indexOf(`PATCH ${VULNS}/${name}`);
    const deleted = api.calls.indexOf(`DELETE ${JOBS}/${scanJobName(IMAGE_KEY)}`);
    assert.ok(written < deleted, 'the Job is deleted only after the write went through');
    // Each retry read the kept Job's result again: three reads of its log.
    assert.equal(api.callsTo(`GET /api/v1/namespaces/${OPERATOR_NS}/pods/`).length, 3);
    assert.ok(
      api.calls.slice(refused, deleted).every((c) => !c.startsWith(`DELETE ${JOBS}`)),
      'the Job stays while its result is not filed',
    );
    assert.equal(api.get<Report>(`${VULNS}/${name}`)?.report.vulnerabilities?.length, 3);
    assert.equal(jobCreates().length, 1, 'no second scan');

    const jobs = runtime.of('scan-jobs');
    assert.equal(jobs.error, 2, 'two failed reconciles of the Job');
    assert.ok(jobs.retried >= 2, `retried with backoff (${jobs.retried})`);
    // A refused write is not a failed scan: no failure counted, no Event.
    assert.deepEqual(
      scans.finished.map((s) => s.outcome),
      ['succeeded'],
    );
    assert.deepEqual(api.callsTo('POST /api/v1/namespaces/'), []);
  });

  it('starts a new Job for the image when the running one is deleted by someone', async () => {
    const pod = runningPod({
      owner: { kind: 'ReplicaSet', name: 'web-5d9f8c7b6' },
      name: 'web-5d9f8c7b6-x7k2p',
    });
    // A failure's backoff would be an hour: the new Job must not wait for it.
    const { scans, starting } = await start({ OPERATOR_SCAN_JOB_RETRY_AFTER: '1h' }, [[podPath(pod), pod]]);
    await starting;
    await until('the scan Job', () => jobCreates().length === 1);

    const jobName = scanJobName(IMAGE_KEY);
    assert.ok(api.remove(`${JOBS}/${jobName}`), 'deleted behind the controller’s back');
    await until('a new scan Job', () => jobCreates().length === 2);
    assert.deepEqual(
      scanJobs().map((j) => [j.metadata?.name, j.metadata?.annotations?.[ScanAnnotation.imageKey]]),
      [[jobName, IMAGE_KEY]],
    );

    completeScan(api, jobName);
    await until('the Job deleted', () => api.callsTo(`DELETE ${JOBS}/`).length === 1);
    assert.ok(api.get(`${VULNS}/replicaset-web-5d9f8c7b6-app`), 'the report');
    assert.deepEqual(
      scans.finished.map((s) => s.outcome),
      ['succeeded'],
    );
    assert.equal(jobCreates().length, 2);
  });

  it('retries a pod whose owner cannot be looked up, without holding up other pods', async () => {
    const batchJob = `/apis/batch/v1/namespaces/${APP_NS}/jobs/nightly-export`;
    const batch = runningPod({
      owner: { kind: 'Job', name: 'nightly-export' },
      name: 'nightly-export-h2j4k',
      image: OTHER_IMAGE,
      digest: OTHER_DIGEST,
      container: 'export',
    });
    const web = runningPod({
      owner: { kind: 'ReplicaSet', name: 'web-5d9f8c7b6' },
      name: 'web-5d9f8c7b6-x7k2p',
    });
    const { runtime, starting } = await start();
    await starting;
    // A Job of its own (no CronJob): looked up to know that, and the API fails twice.
    api.objects.set(batchJob, {
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: { name: 'nightly-export', namespace: APP_NS, uid: 'uid-nightly-export' },
    });
    api.failures.set(`GET ${batchJob}`, 2);

    api.put(podPath(batch), batch);
    await until('the first failed lookup', () => runtime.of('scan-workloads').error === 1);
    // Meanwhile another pod: reconciled at once.
    api.put(podPath(web), web);
    await until('the web scan Job', () => api.get(`${JOBS}/${scanJobName(IMAGE_KEY)}`) !== undefined);
    completeScan(api, scanJobName(IMAGE_KEY));
    await until('the web report', () => api.get(`${VULNS}/replicaset-web-5d9f8c7b6-app`) !== undefined);

    const otherKey = `registry.example.com/shop/batch@${OTHER_DIGEST}`;
    await until('the batch scan Job', () => api.get(`${JOBS}/${scanJobName(otherKey)}`) !== undefined);
    assert.equal(api.callsTo(`GET ${batchJob}`).length, 3, 'failed twice, then found');
    const workloads = runtime.of('scan-workloads');
    assert.equal(workloads.error, 2);
    assert.ok(workloads.retried >= 2, `retried with backoff (${workloads.retried})`);
    completeScan(api, scanJobName(otherKey));
    await until('the batch report', () => api.get(`${VULNS}/job-nightly-export-export`) !== undefined);
    const report = api.get<Report>(`${VULNS}/job-nightly-export-export`);
    assert.equal(report?.metadata?.ownerReferences?.[0]?.kind, 'Job');
    assert.equal(report?.report.artifact.digest, OTHER_DIGEST);
    assert.equal(jobCreates().length, 2);
  });

  it("retries deleting a ReplicaSet's reports when its last pod goes and the API refuses the delete", async () => {
    // In: a scanned ReplicaSet whose last pod is deleted, and the first two DELETEs of its
    // VulnerabilityReport answered 500. Out: the pod's key is retried with backoff until all its
    // reports are gone; nothing is left behind for the 24 h TTL.
    const web = runningPod({
      owner: { kind: 'ReplicaSet', name: 'web-5d9f8c7b6' },
      name: 'web-5d9f8c7b6-x7k2p',
    });
    const { runtime, starting } = await start({}, [[podPath(web), web]]);
    await starting;
    await until('the scan Job', () => jobCreates().length === 1);
    completeScan(api, scanJobName(IMAGE_KEY));
    const name = 'replicaset-web-5d9f8c7b6-app';
    await until('the reports', () => api.get(`${SBOMS}/${name}`) !== undefined);

    api.failures.set(`DELETE ${VULNS}/${name}`, 2);
    const before = runtime.of('scan-workloads').error;
    api.remove(podPath(web));
    await until('the reports deleted', () =>
      [VULNS, SECRETS, SBOMS].every((plural) => api.get(`${plural}/${name}`) === undefined),
    );
    assert.equal(api.callsTo(`DELETE ${VULNS}/${name}`).length, 3, 'refused twice, then deleted');
    assert.equal(runtime.of('scan-workloads').error - before, 2);
  });

  it('stop() while the caches sync returns at once and leaves nothing running', async () => {
    const timersBefore = liveTimers();
    const pod = runningPod({
      owner: { kind: 'ReplicaSet', name: 'web-5d9f8c7b6' },
      name: 'web-5d9f8c7b6-x7k2p',
    });
    const { starting } = await start({}, [[podPath(pod), pod]], (fake) => fake.hang('GET', '/api/v1/pods'));
    await until('the pods list', () => api.calls.includes('GET /api/v1/pods'));
    assert.equal(controller?.synced, false);

    const stopAt = performance.now();
    await controller?.stop();
    const stopMs = performance.now() - stopAt;
    assert.ok(stopMs < 500, `stop() took ${Math.round(stopMs)} ms`);
    // Whether start() itself returns then is the next test's (todo) question: not awaited here.
    void starting;
    assert.equal(controller?.synced, false, 'never synced');
    await until('the list abandoned', () => api.abandoned.includes('GET /api/v1/pods'), 1_000);

    // Nothing started after the stop: no Jobs listed or created, no pod reconciled.
    const calls = api.calls.length;
    await sleep(200);
    assert.deepEqual(api.calls.slice(calls), []);
    assert.deepEqual(api.callsTo(`GET ${JOBS}`), []);
    assert.deepEqual(api.callsTo('POST '), []);
    await informers?.stop();
    assert.equal(liveTimers(), timersBefore, 'no timer left');
  });

  it('start() returns when it is stopped while the pods and CronJobs lists are both pending', async () => {
    const { starting } = await start({}, [], (fake) => {
      fake.hang('GET', '/api/v1/pods');
      fake.hang('GET', '/apis/batch/v1/cronjobs');
    });
    await until(
      'both lists',
      () => api.calls.includes('GET /api/v1/pods') && api.calls.includes('GET /apis/batch/v1/cronjobs'),
    );
    await controller?.stop();
    const outcome = await Promise.race([
      starting.then(() => 'returned'),
      sleep(1_000).then(() => 'still pending'),
    ]);
    assert.equal(outcome, 'returned');
  });

  it('stop() does not wait for an API request that never returns (an owner lookup the server holds)', async () => {
    const batchJob = `/apis/batch/v1/namespaces/${APP_NS}/jobs/nightly-export`;
    const batch = runningPod({
      owner: { kind: 'Job', name: 'nightly-export' },
      name: 'nightly-export-h2j4k',
    });
    const { starting } = await start({}, [], (fake) => fake.hang('GET', batchJob));
    await starting;
    api.put(podPath(batch), batch);
    await until('the lookup', () => api.callsTo(`GET ${batchJob}`).length === 1);

    assert.equal(await stopWhileHeld(), 'stopped');
  });

  it('stop() does not wait for a report write the server holds, and keeps the finished Job', async () => {
    // In: a scan Job finished; the API server holds the VulnerabilityReport's apply. Out: stop()
    // returns within a second; the Job is not deleted, so the next leader files its result.
    const pod = runningPod({
      owner: { kind: 'ReplicaSet', name: 'web-5d9f8c7b6' },
      name: 'web-5d9f8c7b6-x7k2p',
    });
    const name = 'replicaset-web-5d9f8c7b6-app';
    const { starting } = await start({}, [[podPath(pod), pod]], (fake) =>
      fake.hang('PATCH', `${VULNS}/${name}`),
    );
    await starting;
    await until('the scan Job', () => jobCreates().length === 1);
    completeScan(api, scanJobName(IMAGE_KEY));
    await until('the report apply', () => reportApplies(VULNS, name).length === 1);

    assert.equal(await stopWhileHeld(), 'stopped');
    assert.deepEqual(api.callsTo(`DELETE ${JOBS}/`), [], 'the finished Job is kept');
  });
});
