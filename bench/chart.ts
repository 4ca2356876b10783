/**
 * npm run bench:chart — the chart as users install it, measured: its own control plane and real
 * node (containerd + kubelet + kube-proxy) with the local registries, the operator image built
 * here without Docker (or taken from the cache), `helm install` of this checkout's chart with
 * `replicas: 2` on the real node, and the quick start's sample workloads (four namespaces, the
 * test images) scanned by real scan Jobs with the test DB. Every figure is observed on the
 * running cluster and containers, none is read from the chart: the pods' Ready conditions, the
 * Deployment's ready replicas, the reports, the pods' logs, and the containers' main processes in
 * /proc (through containerd). Progress on stderr; last, one JSON line on stdout.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppsV1Api, BatchV1Api, CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { createSampleWorkloads, sampleNamespaces } from '../scripts/sample-workloads.ts';
import {
  installChartOnNode,
  installPrometheusOperatorCrds,
  observeContainer,
  type ObservedContainer,
} from '../test/harness/chart-install.ts';
import { startControlPlane } from '../test/harness/control-plane.ts';
import { installCrds } from '../test/harness/crds.ts';
import { startNodeStack } from '../test/harness/node-stack.ts';
import { buildOperatorImage } from '../test/harness/operator-image/index.ts';
import { useRealScans } from '../test/harness/real-scans.ts';
import { waitUntil } from '../test/harness/waiting.ts';

const say = (line: string) => process.stderr.write(`[bench:chart] ${line}\n`);
const RELEASE = 'trivy-lookout';
const RELEASE_NS = 'trivy-system';
const REPLICAS = 2;
const REPORTS = { group: 'aquasecurity.github.io', version: 'v1alpha1' } as const;
const round = (n: number) => Math.round(n * 10) / 10;
const seconds = (from: number, to: number) => round((to - from) / 1000);

const cleanups: (() => Promise<void>)[] = [];
let cleaning: Promise<void> | undefined;
function cleanUp(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: unknown) => say(String(err)));
  })();
  return cleaning;
}
process.on('SIGINT', () => {
  say('interrupted; stopping what the bench started');
  void cleanUp().then(() => process.exit(130));
});

const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-bench-chart-'));
cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
try {
  // The image first, on a quiet machine: a cached image costs its inputs' hashing, a changed src/
  // a `tsc` and one new layer, a cold cache the Debian packages, Node 24 and npm ci as well.
  say('building the operator image (or taking it from the cache)');
  const buildStarted = Date.now();
  const built = await buildOperatorImage();
  const imageBuildSeconds = seconds(buildStarted, Date.now());
  say(`image ${built.reference} in ${imageBuildSeconds} s (${round(built.size / 1024 / 1024)} MiB)`);

  const cp = await startControlPlane({ dir, log: say });
  cleanups.push(() => cp.stop());
  const kc = cp.kubeConfig();
  await installCrds(kc);
  const stack = await startNodeStack({ kubeconfigPath: cp.kubeconfigPath, clusterDir: dir, log: say });
  // Stopped before the control plane: the Node object is deleted through it.
  cleanups.push(() => stack.stop());
  await installPrometheusOperatorCrds(cp.kubeconfigPath);
  const state = stack.state();
  say(`node ${state.node.name} at ${state.node.ip}; publishing the test images and the test DB`);
  const scans = await useRealScans(state);
  const dbRepository = scans.dbRepositoryFor('bench-chart');
  await scans.publishDb('v1', dbRepository);

  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const objects = kc.makeApiClient(CustomObjectsApi);

  // The workloads run before the chart comes, as in a cluster the chart is installed into.
  say(`creating the sample workloads in ${sampleNamespaces.join(', ')}`);
  await createSampleWorkloads(
    kc,
    {
      java: scans.images.java.ref,
      node: scans.images.node.ref,
      secret: scans.images.secret.ref,
      os: scans.images.os.ref,
    },
    scans.placement,
  );
  const expectedReports = await containerCount();
  await waitUntil(
    'the sample pods running on the node',
    async () => {
      const pods = await Promise.all(
        sampleNamespaces.map((namespace) => core.listNamespacedPod({ namespace })),
      );
      const items = pods.flatMap((l) => l.items);
      return items.length > 0 && items.every((p) => p.status?.phase === 'Running');
    },
    300_000,
    1_000,
  );
  say(`sample pods running; ${expectedReports} workload containers to report`);

  await core.createNamespace({ body: { metadata: { name: RELEASE_NS } } });
  const operatorPods = async (): Promise<V1Pod[]> =>
    (
      await core.listNamespacedPod({
        namespace: RELEASE_NS,
        labelSelector: `app.kubernetes.io/instance=${RELEASE}`,
      })
    ).items.filter((p) => !p.metadata?.deletionTimestamp);
  const isReady = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

  // `helm install` starts by recording the release (a Secret, status pending-install) before it
  // creates anything; installChartOnNode pushes the image first, which is not the install's time.
  const calledAt = Date.now();
  const timing = (async () => {
    let installStarted: number | undefined;
    for (;;) {
      if (installStarted === undefined) {
        const secrets = await core
          .listNamespacedSecret({ namespace: RELEASE_NS, labelSelector: `owner=helm,name=${RELEASE}` })
          .catch(() => ({ items: [] }));
        if (secrets.items.length > 0) installStarted = Date.now();
      }
      if (installStarted !== undefined) {
        const pods = await operatorPods().catch(() => []);
        if (pods.filter(isReady).length >= REPLICAS) return { installStarted, ready: Date.now() };
      }
      if (Date.now() - calledAt > 600_000) throw new Error(`${REPLICAS} Ready operator pods after 600 s`);
      await sleep(200);
    }
  })();
  timing.catch(() => undefined); // awaited below
  say(`helm install ${RELEASE} with replicas: ${REPLICAS}, targetNamespaces: ${sampleNamespaces.join(',')}`);
  const chart = await installChartOnNode({
    kubeconfigPath: cp.kubeconfigPath,
    scans,
    release: RELEASE,
    namespace: RELEASE_NS,
    dbRepository,
    workDir: dir,
    // The image timed above: src/ may have changed since, which would build another one here.
    image: built,
    values: { replicas: REPLICAS, targetNamespaces: sampleNamespaces.join(',') },
  });
  const { installStarted, ready } = await timing;
  const podReadySeconds = seconds(installStarted, ready);
  say(
    `${REPLICAS} pods of ${chart.image.ref} Ready ${podReadySeconds} s after helm install started ` +
      `(the push before it: ${seconds(calledAt, installStarted)} s)`,
  );
  // Where the time went, from the pods' own timestamps (whole seconds): scheduling and the image
  // pull until the container started, then the readiness probe (first after 5 s, then every 10 s).
  for (const pod of await operatorPods()) {
    const at = (t?: Date | string) => (t ? new Date(t).getTime() : NaN);
    const started = at(pod.status?.containerStatuses?.[0]?.state?.running?.startedAt);
    const readyAt = at(pod.status?.conditions?.find((c) => c.type === 'Ready')?.lastTransitionTime);
    say(
      `${pod.metadata?.name}: created ${seconds(installStarted, at(pod.metadata?.creationTimestamp))} s in, ` +
        `container started ${seconds(at(pod.metadata?.creationTimestamp), started)} s after, ` +
        `Ready ${seconds(started, readyAt)} s after that`,
    );
  }

  let lastCount = -1;
  const reports = await waitUntil(
    `${expectedReports} vulnerability reports in the sample namespaces`,
    async () => {
      const count = await reportCount();
      if (count !== lastCount) say(`vulnerability reports: ${count}/${expectedReports}`);
      lastCount = count;
      return count >= expectedReports ? count : undefined;
    },
    600_000,
    1_000,
  );
  say(`all reports ${seconds(installStarted, Date.now())} s after helm install started`);

  // The chart's fullname helper drops the chart name when the release contains it: found by label.
  const deployments = await apps.listNamespacedDeployment({
    namespace: RELEASE_NS,
    labelSelector: `app.kubernetes.io/instance=${RELEASE}`,
  });
  const deployment = deployments.items[0];
  if (deployments.items.length !== 1 || !deployment)
    throw new Error(`${deployments.items.length} Deployments of the release`);
  const pods = await operatorPods();
  const seen: ObservedContainer[] = [];
  let forbiddenRequests = 0;
  for (const pod of pods) {
    const name = pod.metadata?.name ?? '';
    const status = pod.status?.containerStatuses?.[0];
    if (status?.image !== chart.image.ref)
      throw new Error(`${name} runs ${status?.image}, not ${chart.image.ref}`);
    const container = await observeContainer(state.node, status.containerID ?? '');
    seen.push(container);
    const log = String(await core.readNamespacedPodLog({ name, namespace: RELEASE_NS }));
    const forbidden = log.split('\n').filter((l) => /forbidden/i.test(l));
    forbiddenRequests += forbidden.length;
    for (const line of forbidden.slice(0, 5)) say(`${name}: ${line}`);
    say(
      `${name}: uid ${container.uid}, gid ${container.gid}, read-only root ${container.readOnlyRootFilesystem}, ` +
        `capabilities ${container.capEff}, seccomp ${container.seccomp}, RSS ${round(container.rssMiB)} MiB, ` +
        `${forbidden.length} forbidden in ${log.split('\n').length} log lines`,
    );
  }
  const same = <T>(values: T[]): T | null =>
    values.length > 0 && values.every((v) => v === values[0]) ? values[0]! : null;
  const result = {
    imageBuildSeconds,
    podReadySeconds,
    replicasReady: deployment.status?.readyReplicas ?? 0,
    reportsWritten: reports,
    forbiddenRequests,
    // The larger of the two: the leader's, which ran the scans and the config audit.
    operatorRssMiB: round(Math.max(...seen.map((c) => c.rssMiB))),
    runAsUser: same(seen.map((c) => c.uid)),
    readOnlyRootFilesystem: seen.length > 0 && seen.every((c) => c.readOnlyRootFilesystem),
  };
  say(`load average ${os.loadavg().map(round).join(' ')}`);
  process.stdout.write(`${JSON.stringify(result)}\n`);

  /** Containers of the sample workloads: one vulnerability report each. */
  async function containerCount(): Promise<number> {
    let n = 0;
    for (const namespace of sampleNamespaces) {
      for (const d of (await apps.listNamespacedDeployment({ namespace })).items)
        n += d.spec?.template.spec?.containers.length ?? 0;
      for (const d of (await apps.listNamespacedDaemonSet({ namespace })).items)
        n += d.spec?.template.spec?.containers.length ?? 0;
      for (const d of (await apps.listNamespacedStatefulSet({ namespace })).items)
        n += d.spec?.template.spec?.containers.length ?? 0;
      for (const c of (await batch.listNamespacedCronJob({ namespace })).items)
        n += c.spec?.jobTemplate.spec?.template.spec?.containers.length ?? 0;
    }
    return n;
  }

  async function reportCount(): Promise<number> {
    const list = (await objects.listClusterCustomObject({ ...REPORTS, plural: 'vulnerabilityreports' })) as {
      items: { metadata: { namespace: string } }[];
    };
    return list.items.filter((r) => sampleNamespaces.includes(r.metadata.namespace)).length;
  }
} catch (err) {
  say(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
} finally {
  await cleanUp();
}
