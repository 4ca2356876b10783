import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CustomObjectsApi, type V1Job } from '@kubernetes/client-node';
import { kubeRequestJson, ResourceWatcher } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import { SCAN_JOB_COMPONENT, ScanLabel } from '../../../src/scanning/names.ts';
import { startHarnessKubelet, type HarnessKubelet } from '../../harness/kubelet/index.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { repoRoot } from '../../harness/tools.ts';
import { waitUntil } from '../../harness/waiting.ts';

const alpine = path.join(repoRoot, 'test', 'fixtures', 'trivy', 'alpine-3.19.json');
const IMAGES = ['ghcr.io/ha/one:1', 'ghcr.io/ha/two:1', 'ghcr.io/ha/three:1'];

describe('two replicas: one leader scans, the other takes over when it dies', () => {
  let cluster: TestCluster;
  let kubelet: HarnessKubelet;
  let operatorNs: string;
  let ns: string;
  let apps: AppsV1Api;
  let objects: CustomObjectsApi;
  const replicas: OperatorProcess[] = [];
  const jobs: string[] = [];
  let jobWatch: ResourceWatcher<V1Job>;

  before(async () => {
    cluster = await useTestCluster();
    const kc = cluster.kubeConfig();
    apps = kc.makeApiClient(AppsV1Api);
    objects = kc.makeApiClient(CustomObjectsApi);
    operatorNs = await cluster.createNamespace('trivy-ha');
    ns = await cluster.createNamespace('ha-apps');
    kubelet = await startHarnessKubelet(kc, {
      nodeNamePrefix: `ha-node-${process.pid}`,
      trivy: { images: Object.fromEntries(IMAGES.map((image) => [image, { report: alpine, delayMs: 300 }])) },
    });
    jobWatch = new ResourceWatcher<V1Job>(
      kc,
      { path: `/apis/batch/v1/namespaces/${operatorNs}/jobs`, log: createLogger('silent') },
      {
        // Scan Jobs only: the leader also runs node-collector Jobs for every node in the cluster.
        onEvent: (type, job) =>
          void (
            type === 'ADDED' &&
            job.metadata?.labels?.[ScanLabel.component] === SCAN_JOB_COMPONENT &&
            jobs.push(job.metadata?.name ?? '')
          ),
      },
    );
    jobWatch.start();
    await jobWatch.waitForSync();
  });

  after(async () => {
    await Promise.all(replicas.map((r) => r.stop()));
    await jobWatch?.stop();
    await kubelet?.stop();
    await cluster?.release();
  });

  const start = async () => {
    const replica = await startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: ns,
      OPERATOR_LEADER_ELECTION_ENABLED: 'true',
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
  const isLeader = (r: OperatorProcess) => r.logs().some((l) => l.msg === 'became leader');
  const alive = (r: OperatorProcess) => r.child.exitCode === null && r.child.signalCode === null;
  const deploy = async (name: string, image: string) => {
    await apps.createNamespacedDeployment({
      namespace: ns,
      body: {
        metadata: { name },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: name } },
          template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'main', image }] } },
        },
      },
    });
  };
  const reportsFor = async (app: string) => {
    const list = (await objects.listNamespacedCustomObject({
      group: 'aquasecurity.github.io',
      version: 'v1alpha1',
      namespace: ns,
      plural: 'vulnerabilityreports',
    })) as { items: { metadata: { name: string } }[] };
    return list.items.filter((r) => r.metadata.name.startsWith(`replicaset-${app}-`)).length;
  };

  it('elects exactly one leader; both serve metrics; only the leader scans', async () => {
    const [a, b] = [await start(), await start()];
    await waitUntil('a leader', () => isLeader(a!) || isLeader(b!), 30_000);
    assert.equal([a!, b!].filter(isLeader).length, 1);
    for (const r of [a!, b!]) assert.equal((await fetch(`${r.baseUrl}/metrics`)).status, 200);
    await deploy('first', IMAGES[0]!);
    await waitUntil('the first report', async () => (await reportsFor('first')) === 1, 60_000);
    assert.equal(jobs.length, 1);
    const leader = [a!, b!].find(isLeader)!;
    const follower = [a!, b!].find((r) => !isLeader(r))!;
    assert.ok(leader.logs().some((l) => l.msg === 'scan job started'));
    assert.ok(!follower.logs().some((l) => l.msg === 'scan job started'), 'the follower never scans');
  });

  it('hands over within the lease duration when the leader is killed, without duplicate Jobs or lost reports', async () => {
    const leader = replicas.find(isLeader)!;
    const follower = replicas.find((r) => r !== leader && !isLeader(r))!;
    // Renewed at or after this; the follower may take over 15 s (the lease) after the last renewal.
    const renewedBefore = Date.parse((await lease()).renewTime ?? '');
    leader.child.kill('SIGKILL');
    // The bound is the lease (15 s) plus the follower's retry (2 s), with room for a slow machine.
    await waitUntil('the follower to take over', () => isLeader(follower), 30_000, 100);
    const acquired = Date.parse((await lease()).acquireTime ?? '');
    assert.ok(
      acquired - renewedBefore >= 15_000,
      `taken over ${(acquired - renewedBefore) / 1000} s after a renewal; the lease is valid for 15 s`,
    );
    await deploy('second', IMAGES[1]!);
    await waitUntil('the second report', async () => (await reportsFor('second')) === 1, 60_000);
    assert.equal(await reportsFor('first'), 1, 'no report lost');
    assert.deepEqual(new Set(jobs).size, 2, 'one Job per image, none twice');
  });

  it('releases the lease on graceful shutdown, so a successor takes over at once', async () => {
    const leader = replicas.find((r) => isLeader(r) && alive(r))!;
    assert.equal(await leader.stop(), 0);
    assert.ok(leader.logs().some((l) => l.msg === 'released the lease'));
    assert.equal((await lease()).holderIdentity, '', 'the lease is free for a successor at once');
    const next = await start();
    // Well under the 15 s an unreleased lease would need to expire.
    await waitUntil('the new replica to lead', () => isLeader(next), 10_000, 100);
    await deploy('third', IMAGES[2]!);
    await waitUntil('the third report', async () => (await reportsFor('third')) === 1, 60_000);
  });
});
