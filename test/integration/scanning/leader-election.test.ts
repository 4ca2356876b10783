/**
 * Leader election with real scans: two operator replicas (real processes) share one Lease; only the
 * leader's scan Jobs run, on the real node, with the real Trivy image against the test DB. Scans are
 * counted as the scan Jobs created in the operator namespace (by UID, so a re-listing watch does
 * not count one twice), and every report must hold exactly the findings the image implies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { kubeRequestJson } from '../../../src/kube/index.ts';
import { expectedFindings } from '../../harness/images/index.ts';
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

/** The operator's lease timing (src/kube/leader-election.ts): valid 15 s, renewed every 5 s. */
const LEASE_MS = 15_000;
const RENEW_MS = 5_000;
/** A real scan takes 5-10 s; room for pulls and a busy machine. */
const REPORT_TIMEOUT = 300_000;

interface Report {
  metadata: { name: string };
  report: { vulnerabilities?: { vulnerabilityID: string }[] };
}

describe('two replicas: one leader scans, the other takes over when it dies', () => {
  let cluster: TestCluster;
  let scans: RealScans;
  let dbRepository: string;
  let operatorNs: string;
  let ns: string;
  let apps: AppsV1Api;
  let objects: CustomObjectsApi;
  /** Three images with digests of their own: each is a new scan, whatever else the cluster scanned. */
  const images: Record<'first' | 'second' | 'third', PublishedImage> = {} as never;
  const replicas: OperatorProcess[] = [];
  /** Scan Jobs created in the operator namespace: UID → the image it scans. */
  let scanJobs: Awaited<ReturnType<typeof watchScanJobs>>;

  before(async () => {
    cluster = await useTestCluster({ node: true });
    scans = await useRealScans(cluster);
    dbRepository = scans.dbRepositoryFor('leader-election');
    await scans.publishDb('v1', dbRepository);
    for (const app of ['first', 'second', 'third'] as const)
      images[app] = await scans.publishImage('os', 'http', `leader-election-${process.pid}/${app}`);
    const kc = cluster.kubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    objects = kc.makeApiClient(CustomObjectsApi);
    operatorNs = await cluster.createNamespace('trivy-ha');
    ns = await cluster.createNamespace('ha-apps');
    scanJobs = await watchScanJobs(cluster, operatorNs);
  });

  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await scanJobs?.stop();
    await cluster?.release();
  });

  const start = async () => {
    const replica = await startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: ns,
      ...IMAGE_SCANNING_ONLY,
      OPERATOR_LEADER_ELECTION_ENABLED: 'true',
      OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
      // The deadline runs while the scan pod waits for room on the shared node: no retry for that.
      OPERATOR_SCAN_JOB_TIMEOUT: '600s',
      ...scans.operatorEnv(dbRepository),
    });
    replicas.push(replica);
    await replica.waitForReady(60_000);
    return replica;
  };
  const lease = async () =>
    (
      await kubeRequestJson<{ spec: { holderIdentity?: string; acquireTime?: string; renewTime?: string } }>(
        cluster.kubeConfig(),
        { path: `/apis/coordination.k8s.io/v1/namespaces/${operatorNs}/leases/trivy-lookout-lock` },
      )
    ).spec;
  const leaderLog = (r: OperatorProcess) => r.logs().find((l) => l.msg === 'became leader');
  const isLeader = (r: OperatorProcess) => leaderLog(r) !== undefined;
  const alive = (r: OperatorProcess) => r.child.exitCode === null && r.child.signalCode === null;
  const scansStarted = (r: OperatorProcess) => r.logs().filter((l) => l.msg === 'scan job started').length;
  /** Scan Jobs a replica created itself (an existing one of the image is logged as adopted). */
  const jobsCreatedBy = (r: OperatorProcess) =>
    r.logs().filter((l) => l.msg === 'scan job started' && l.adopted !== true).length;
  /** Scan Jobs of one image (its reference as the Job names it: repository@digest). */
  const jobsFor = (image: PublishedImage) =>
    [...scanJobs.jobs.values()].filter((ref) => ref.endsWith(`@${image.digest}`)).length;

  const deploy = async (app: keyof typeof images) => {
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name: app },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app } },
          template: {
            metadata: { labels: { app } },
            spec: {
              ...scans.placement,
              terminationGracePeriodSeconds: 2,
              containers: [{ name: 'main', image: images[app].ref }],
            },
          },
        },
      },
    });
  };
  const reportsFor = async (app: string): Promise<Report[]> => {
    const list = (await objects.listNamespacedCustomObject({
      group: 'aquasecurity.github.io',
      version: 'v1alpha1',
      namespace: ns,
      plural: 'vulnerabilityreports',
    })) as { items: Report[] };
    return list.items.filter((r) => r.metadata.name.startsWith(`replicaset-${app}-`));
  };
  /** Waits for the one report of `app`, and checks it holds exactly the os image's findings. */
  const waitReport = async (app: string) => {
    const [report] = await waitUntil(
      `the report of ${app}`,
      async () => {
        const reports = await reportsFor(app);
        return reports.length > 0 ? reports : undefined;
      },
      REPORT_TIMEOUT,
      500,
    );
    assert.deepEqual(
      (report!.report.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort(),
      expectedFindings.os.v1.vulnerabilities.map((v) => v.id).sort(),
      `${app}: exactly the findings of the os image`,
    );
    assert.equal((await reportsFor(app)).length, 1, `one report for ${app}`);
  };

  it('elects exactly one leader; both serve metrics; only the leader scans', async () => {
    // In: two replicas, then one workload. Out: one leader, one scan Job started by it, one report.
    const [a, b] = [await start(), await start()];
    await waitUntil('a leader', () => isLeader(a) || isLeader(b), 60_000);
    assert.equal([a, b].filter(isLeader).length, 1);
    for (const r of [a, b]) assert.equal((await fetch(`${r.baseUrl}/metrics`)).status, 200);
    await deploy('first');
    await waitReport('first');
    assert.equal(jobsFor(images.first), 1, `one scan Job: ${JSON.stringify([...scanJobs.jobs.values()])}`);
    assert.equal(scanJobs.jobs.size, 1);
    const leader = [a, b].find(isLeader)!;
    const follower = [a, b].find((r) => !isLeader(r))!;
    assert.equal(scansStarted(leader), 1, 'the leader started the scan Job');
    assert.equal(scansStarted(follower), 0, 'the follower never scans');
  });

  it('hands over within the lease duration when the leader is killed mid-scan, without duplicate Jobs or lost reports', async () => {
    // In: a scan Job running for `second` when its leader is SIGKILLed. Out: the follower takes over
    // only once the lease has expired, adopts that Job (no second one) and writes its report; the
    // report of `first` stays.
    const leader = replicas.find(isLeader)!;
    const follower = replicas.find((r) => r !== leader && !isLeader(r))!;
    await deploy('second');
    await waitUntil('the scan Job of second', () => jobsFor(images.second) > 0, REPORT_TIMEOUT, 100);
    // Renewed at or after this; the follower may take over 15 s (the lease) after the last renewal.
    const renewedBefore = Date.parse((await lease()).renewTime ?? '');
    leader.child.kill('SIGKILL');
    // The lease (15 s) plus the follower's retry (2 s), with room for a slow machine.
    await waitUntil('the follower to take over', () => isLeader(follower), 60_000, 100);
    const acquired = Date.parse((await lease()).acquireTime ?? '');
    assert.ok(
      acquired - renewedBefore >= LEASE_MS,
      `taken over ${(acquired - renewedBefore) / 1000} s after a renewal; the lease is valid for 15 s`,
    );
    await waitReport('second');
    assert.equal(jobsCreatedBy(follower), 0, "the dead leader's Job was adopted, not created again");
    // The report can be visible before the line that logs it has reached us through the pipe.
    await follower.waitForLog(
      (l) => l.msg === 'scan finished' && String(l.image).includes(images.second.digest),
      30_000,
    );
    assert.equal(jobsFor(images.second), 1, 'one Job for second, none twice');
    assert.equal((await reportsFor('first')).length, 1, 'no report lost');
    assert.equal(scanJobs.jobs.size, 2, `no other scan: ${JSON.stringify([...scanJobs.jobs.values()])}`);
  });

  it('releases the lease on graceful shutdown, so a standby takes over at once', async () => {
    // In: a standby replica, then SIGTERM to the leader. Out: the leader releases the lease, the
    // standby leads long before an unreleased lease could have expired, and scans the next workload.
    const leader = replicas.find((r) => isLeader(r) && alive(r))!;
    const standby = await start();
    assert.ok(!isLeader(standby), 'the lease is held: the new replica waits');
    assert.equal(await leader.stop(), 0);
    const released = leader.logs().find((l) => l.msg === 'released the lease');
    assert.ok(released, 'the leader released the lease on its way out');
    await waitUntil('the standby to lead', () => isLeader(standby), 60_000, 100);
    // Unreleased, the lease (renewed at most 5 s before the release) would hold for at least
    // 10 s more; the standby retries every 2 s.
    const waited = Date.parse(String(leaderLog(standby)!.time)) - Date.parse(String(released.time));
    assert.ok(
      waited < LEASE_MS - RENEW_MS,
      `led ${waited / 1000} s after the release, before the lease could have expired`,
    );
    await deploy('third');
    await waitReport('third');
    assert.equal(jobsCreatedBy(standby), 1, 'the new leader scans');
    assert.equal(jobsFor(images.third), 1);
    assert.equal(scanJobs.jobs.size, 3, `one Job per image: ${JSON.stringify([...scanJobs.jobs.values()])}`);
  });
});
