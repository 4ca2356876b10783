/**
 * npm run bench:scan — how many scans and how long it takes to report a cluster of mixed workloads
 * that share images, with real scans: its own control plane, a real node (containerd + kubelet)
 * with the local registries, 9 test images with distinct digests pulled and run there, and the
 * operator as a real process whose scan Jobs run the real Trivy image on the node with the test
 * vulnerability DB (test/fixtures/trivy-db). Measured twice on the same running workloads:
 * Standalone (each Job downloads the DB in an init container), then ClientServer (the Jobs ask a
 * `trivy server` pod on the node, which downloaded the DB once). Prints progress to stderr and,
 * last, one JSON line to stdout: the Standalone figures at top level, ClientServer's under
 * `clientServer`.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AppsV1Api,
  BatchV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Job,
  type V1Pod,
  type V1PodTemplateSpec,
} from '@kubernetes/client-node';
import { ResourceWatcher } from '../src/kube/index.ts';
import { createLogger } from '../src/logging/index.ts';
import { SCAN_JOB_COMPONENT, ScanLabel } from '../src/scanning/names.ts';
import { TRIVY_VERSION_PREFIX } from '../src/scanning/result.ts';
import { startControlPlane } from '../test/harness/control-plane.ts';
import { installCrds } from '../test/harness/crds.ts';
import { expectedFindings, type TestImageName } from '../test/harness/images/index.ts';
import { startNodeStack, type NodeStack } from '../test/harness/node-stack.ts';
import { startOperator, type OperatorProcess } from '../test/harness/operator-process.ts';
import { useRealScans, type PublishedImage, type RealScans } from '../test/harness/real-scans.ts';
import { waitUntil } from '../test/harness/waiting.ts';

const say = (line: string) => process.stderr.write(`[bench:scan] ${line}\n`);
const OPERATOR_NS = 'trivy-system';
const NAMESPACES = ['bench-a', 'bench-b', 'bench-c'];
const TRIVY_SERVER_PORT = 4954;
const REPORTS = { group: 'aquasecurity.github.io', version: 'v1alpha1' } as const;
const round = (n: number) => Math.round(n * 10) / 10;
const mib = (bytes: number) => round(bytes / 1024 / 1024);

/** Resident memory of a process from /proc, in bytes (0 when it is gone). */
function rssBytes(pid: number): number {
  try {
    const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return Number(kb ?? 0) * 1024;
  } catch {
    return 0;
  }
}

/** Pids whose command line contains every one of `parts`. */
function pidsMatching(...parts: string[]): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ');
      if (parts.every((p) => cmdline.includes(p))) found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

interface NodeRss {
  total: number;
  kubelet: number;
  containerd: number;
  shims: number;
  shimCount: number;
}

/** The node's own cost: kubelet + containerd + every shim of this containerd (one per pod). */
function nodeRss(stack: NodeStack): NodeRss {
  const { kubelet, containerd } = stack.node.pids();
  const shimPids = pidsMatching('containerd-shim', stack.node.containerdAddress);
  const k = kubelet ? rssBytes(kubelet) : 0;
  const c = containerd ? rssBytes(containerd) : 0;
  const shims = shimPids.reduce((sum, pid) => sum + rssBytes(pid), 0);
  return { total: k + c + shims, kubelet: k, containerd: c, shims, shimCount: shimPids.length };
}

/** Samples the node's RSS every second until stopped; returns the sample with the highest total. */
function peakNodeRss(stack: NodeStack): { stop(): NodeRss } {
  let peak = nodeRss(stack);
  const sample = () => {
    const now = nodeRss(stack);
    if (now.total > peak.total) peak = now;
  };
  const timer = setInterval(sample, 1000);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return peak;
    },
  };
}

interface PhaseResult {
  scanJobs: number;
  vulnerabilityReports: number;
  secondsToAllReports: number;
  /** From the operator's start to the first report: one scan's latency, before the writing backlog. */
  secondsToFirstReport: number;
  secondsPerScan: number;
  operatorRssMiB: number;
  nodeRssMiB: number;
  /** The same peak by part, and how many shims (pods) there were. */
  nodeRssParts: { kubeletMiB: number; containerdMiB: number; shimsMiB: number; shims: number };
  /** Whether every report holds exactly the test DB's findings for its image. */
  findingsAsExpected: boolean;
  /** Mean seconds per scan pod: starting, downloading the DB, running Trivy. */
  perJob: { podStartSeconds: number | null; dbDownloadSeconds: number | null; trivySeconds: number | null };
}

const cleanups: (() => Promise<void>)[] = [];
async function cleanUp(): Promise<void> {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch((err: unknown) => say(String(err)));
}
process.on('SIGINT', () => void cleanUp().then(() => process.exit(130)));

const dir = mkdtempSync(path.join(os.tmpdir(), 'tl-bench-scan-'));
cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
try {
  const cp = await startControlPlane({ dir, log: say });
  cleanups.push(() => cp.stop());
  const kc = cp.kubeConfig();
  const crds = installCrds(kc);
  crds.catch(() => undefined); // awaited below
  const stack = await startNodeStack({ kubeconfigPath: cp.kubeconfigPath, clusterDir: dir, log: say });
  // Stopped before the control plane: the Node object is deleted through it.
  cleanups.push(() => stack.stop());
  await crds;
  const state = stack.state();
  say(`node ${state.node.name} at ${state.node.ip}; publishing the test images and the test DB`);
  const scans = await useRealScans(state);
  const dbRepository = scans.dbRepositoryFor('bench-scan');
  await scans.publishDb('v1', dbRepository);

  // 9 images with 9 digests: the four test images and variants of them under other repositories.
  const variant = (name: TestImageName, repository: string) => scans.publishImage(name, 'http', repository);
  const IMAGES: PublishedImage[] = [
    scans.images.os,
    scans.images.java,
    scans.images.node,
    scans.images.secret,
    await variant('java', 'bench/api'),
    await variant('node', 'bench/web'),
    await variant('os', 'bench/worker'),
    await variant('secret', 'bench/batch'),
  ];
  const SIDECAR = await variant('os', 'bench/log-shipper');
  const ALL_IMAGES = [...IMAGES, SIDECAR];
  if (new Set(ALL_IMAGES.map((i) => i.digest)).size !== ALL_IMAGES.length)
    throw new Error('the bench images do not have distinct digests');

  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  const batch = kc.makeApiClient(BatchV1Api);
  const objects = kc.makeApiClient(CustomObjectsApi);
  for (const name of [OPERATOR_NS, ...NAMESPACES])
    await core.createNamespace({ body: { metadata: { name } } });
  await waitUntil('default service accounts', async () =>
    (
      await Promise.all(
        NAMESPACES.map((namespace) =>
          core.readNamespacedServiceAccount({ name: 'default', namespace }).then(
            () => true,
            () => false,
          ),
        ),
      )
    ).every(Boolean),
  );

  // 100 workloads, mixed kinds, several containers, images shared across them. One pod each (a
  // node takes 110 pods and its /25 gives ~125 addresses; scan pods need some too).
  const template = (app: string, containers: PublishedImage[]): V1PodTemplateSpec => ({
    metadata: { labels: { app } },
    spec: {
      ...scans.placement,
      terminationGracePeriodSeconds: 1,
      containers: containers.map((image, i) => ({ name: `c${i}`, image: image.ref })),
    },
  });
  let n = 0;
  const pick = () => IMAGES[n++ % IMAGES.length]!;
  const creates: Promise<unknown>[] = [];
  let containers = 0;
  let pods = 0;
  for (let i = 0; i < 100; i++) {
    const namespace = NAMESPACES[i % 3]!;
    const name = `w${i}`;
    const images = i % 4 === 0 ? [pick(), SIDECAR] : i % 7 === 0 ? [pick(), pick(), SIDECAR] : [pick()];
    containers += images.length;
    const selector = { matchLabels: { app: name } };
    const spec = template(name, images);
    if (i < 90) pods++;
    if (i < 45)
      creates.push(
        apps.createNamespacedDeployment({
          namespace,
          body: { metadata: { name }, spec: { replicas: 1, selector, template: spec } },
        }),
      );
    else if (i < 65)
      creates.push(
        apps.createNamespacedStatefulSet({
          namespace,
          body: { metadata: { name }, spec: { serviceName: name, replicas: 1, selector, template: spec } },
        }),
      );
    else if (i < 75)
      creates.push(
        apps.createNamespacedDaemonSet({
          namespace,
          body: { metadata: { name }, spec: { selector, template: spec } },
        }),
      );
    else if (i < 90)
      creates.push(
        core.createNamespacedPod({
          namespace,
          body: { metadata: { name, labels: { app: name } }, spec: spec.spec! },
        }),
      );
    else
      creates.push(
        batch.createNamespacedCronJob({
          namespace,
          body: {
            metadata: { name },
            spec: {
              schedule: '0 0 1 1 *',
              jobTemplate: {
                spec: { template: { ...spec, spec: { ...spec.spec!, restartPolicy: 'Never' } } },
              },
            },
          },
        }),
      );
  }
  const created = Date.now();
  await Promise.all(creates);
  say(`created 100 workloads with ${containers} containers over ${ALL_IMAGES.length} images (${pods} pods)`);
  let lastRunning = -1;
  await waitUntil(
    `all ${pods} pods running on the node`,
    async () => {
      const running = (
        await Promise.all(NAMESPACES.map((namespace) => core.listNamespacedPod({ namespace })))
      ).flatMap((l) => l.items.filter((p) => p.status?.phase === 'Running'));
      if (running.length !== lastRunning && running.length % 10 === 0) say(`pods running: ${running.length}`);
      lastRunning = running.length;
      return running.length >= pods;
    },
    900_000,
    1_000,
  );
  const secondsToRunningPods = round((Date.now() - created) / 1000);
  say(`all pods running after ${secondsToRunningPods} s`);

  // Scan Jobs only: the leader also runs node-collector Jobs.
  const jobs = new Set<string>();
  const jobWatch = new ResourceWatcher<V1Job>(
    kc,
    { path: `/apis/batch/v1/namespaces/${OPERATOR_NS}/jobs`, log: createLogger('silent') },
    {
      onEvent: (type, job) => {
        if (type === 'ADDED' && job.metadata?.labels?.[ScanLabel.component] === SCAN_JOB_COMPONENT)
          jobs.add(job.metadata?.name ?? '');
      },
    },
  );
  jobWatch.start();
  cleanups.push(() => jobWatch.stop());
  await jobWatch.waitForSync();
  const scanPods = watchScanPods(kc, core);
  cleanups.push(() => scanPods.stop());

  const expectedReports = containers;
  const standalone = await measure('Standalone', {});
  const nodeInfo = (await core.readNode({ name: state.node.name })).status?.nodeInfo;
  const trivyVersion = scanPods.trivyVersion() ?? (await reportedScannerVersion(objects));

  let clientServer: Record<string, unknown>;
  try {
    await clearReports();
    const server = await startTrivyServer(core, scans, dbRepository);
    cleanups.push(() => server.stop());
    const result = await measure('ClientServer', {
      OPERATOR_TRIVY_MODE: 'ClientServer',
      OPERATOR_TRIVY_SERVER_URL: server.url,
    });
    clientServer = {
      ...result,
      serverSecondsToReady: server.secondsToReady,
      serverRssMiB: mib(
        pidsMatching('trivy', 'server', `:${TRIVY_SERVER_PORT}`).reduce((s, p) => s + rssBytes(p), 0),
      ),
    };
  } catch (err) {
    say(`ClientServer failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    clientServer = { error: err instanceof Error ? err.message : String(err) };
  }

  const result = {
    workloads: 100,
    containers,
    uniqueImages: ALL_IMAGES.length,
    scanJobs: standalone.scanJobs,
    vulnerabilityReports: standalone.vulnerabilityReports,
    secondsToAllReports: standalone.secondsToAllReports,
    operatorRssMiB: standalone.operatorRssMiB,
    secondsPerScan: standalone.secondsPerScan,
    nodeRssMiB: standalone.nodeRssMiB,
    nodeRssParts: standalone.nodeRssParts,
    containerRuntime: nodeInfo?.containerRuntimeVersion ?? 'unknown',
    trivyVersion: trivyVersion ?? 'unknown',
    mode: 'Standalone',
    secondsToFirstReport: standalone.secondsToFirstReport,
    findingsAsExpected: standalone.findingsAsExpected,
    perJob: standalone.perJob,
    pods,
    secondsToRunningPods,
    clientServer,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);

  /**
   * Starts the operator with `env` on the running workloads and waits until every container has
   * a report: from the operator's start (the cluster already runs, as when it is installed).
   */
  async function measure(mode: string, env: Record<string, string>): Promise<PhaseResult> {
    jobs.clear();
    const peakNode = peakNodeRss(stack);
    const started = Date.now();
    const operator: OperatorProcess = await startOperator(cp.kubeconfigPath, {
      OPERATOR_NAMESPACE: OPERATOR_NS,
      OPERATOR_EXCLUDE_NAMESPACES: `kube-*,${OPERATOR_NS}`,
      OPERATOR_LEADER_ELECTION_ENABLED: 'false',
      ...scans.operatorEnv(dbRepository),
      ...env,
    });
    try {
      await operator.waitForReady(60_000);
      say(`${mode}: operator started; waiting for ${expectedReports} reports`);
      let reports = 0;
      let firstReportAt: number | undefined;
      const deadline = Date.now() + 900_000;
      while (reports < expectedReports) {
        // waitUntil would retry a dead operator until its deadline: fail at once instead.
        if (operator.child.exitCode !== null) throw new Error(`the operator exited:\n${operator.stderr()}`);
        if (Date.now() > deadline)
          throw new Error(`${mode}: ${reports}/${expectedReports} reports after 900 s`);
        const count = (await listReports('vulnerabilityreports')).length;
        if (count > 0) firstReportAt ??= Date.now();
        if (count !== reports) say(`${mode}: reports ${count}/${expectedReports}, scan Jobs ${jobs.size}`);
        reports = count;
        if (reports < expectedReports) await sleep(500);
      }
      const seconds = (Date.now() - started) / 1000;
      const metrics = await fetch(`${operator.baseUrl}/metrics`).then((r) => r.text());
      const metric = (name: string) =>
        [...metrics.matchAll(new RegExp(`^${name}(?:\\{[^}]*\\})? ([\\d.e+-]+)$`, 'gm'))].reduce(
          (s, m) => s + Number(m[1]),
          0,
        );
      const rss = metric('process_resident_memory_bytes');
      const scanSeconds = metric('trivy_lookout_scan_duration_seconds_sum');
      const scanCount = metric('trivy_lookout_scan_duration_seconds_count');
      const failures = metric('trivy_lookout_scan_failures_total');
      const node = peakNode.stop();
      if (failures > 0) say(`${mode}: WARNING: ${failures} failed scans`);
      const result: PhaseResult = {
        scanJobs: jobs.size,
        vulnerabilityReports: reports,
        secondsToAllReports: round(seconds),
        secondsToFirstReport: round(((firstReportAt ?? Date.now()) - started) / 1000),
        secondsPerScan: scanCount ? round(scanSeconds / scanCount) : 0,
        operatorRssMiB: mib(rss),
        nodeRssMiB: mib(node.total),
        nodeRssParts: {
          kubeletMiB: mib(node.kubelet),
          containerdMiB: mib(node.containerd),
          shimsMiB: mib(node.shims),
          shims: node.shimCount,
        },
        findingsAsExpected: await findingsAsExpected(mode),
        perJob: scanPods.takeBreakdown(),
      };
      say(
        `${mode}: per scan pod ${JSON.stringify(result.perJob)}; load average ${os.loadavg().map(round).join(' ')}`,
      );
      say(
        result.scanJobs === ALL_IMAGES.length
          ? `${mode}: one scan per unique image`
          : `${mode}: WARNING: ${result.scanJobs} scans for ${ALL_IMAGES.length} images`,
      );
      return result;
    } finally {
      peakNode.stop();
      await operator.stop();
    }
  }

  async function listReports(plural: string) {
    const list = (await objects.listClusterCustomObject({ ...REPORTS, plural })) as {
      items: {
        metadata: { namespace: string; name: string };
        report: { artifact: { digest?: string }; vulnerabilities?: { vulnerabilityID: string }[] };
      }[];
    };
    return list.items.filter((r) => NAMESPACES.includes(r.metadata.namespace));
  }

  /** Every report holds exactly what the test DB gives for its image (by digest). */
  async function findingsAsExpected(mode: string): Promise<boolean> {
    const byDigest = new Map(ALL_IMAGES.map((i) => [i.digest, i.name]));
    let ok = true;
    for (const r of await listReports('vulnerabilityreports')) {
      const name = byDigest.get(r.report.artifact.digest ?? '');
      const got = (r.report.vulnerabilities ?? []).map((v) => v.vulnerabilityID).sort();
      const want = name ? expectedFindings[name].v1.vulnerabilities.map((v) => v.id).sort() : [];
      if (!name || JSON.stringify(got) !== JSON.stringify(want)) {
        if (ok) say(`${mode}: WARNING: ${r.metadata.namespace}/${r.metadata.name} has ${got.join(',')}`);
        ok = false;
      }
    }
    return ok;
  }

  /** Deletes every report and waits until no scan Job is left, so the next run scans afresh. */
  async function clearReports(): Promise<void> {
    await waitUntil(
      'the scan Jobs to be deleted',
      async () => {
        const list = await batch.listNamespacedJob({
          namespace: OPERATOR_NS,
          labelSelector: `${ScanLabel.component}=${SCAN_JOB_COMPONENT}`,
        });
        for (const job of list.items)
          await batch
            .deleteNamespacedJob({
              name: job.metadata!.name!,
              namespace: OPERATOR_NS,
              propagationPolicy: 'Background',
            })
            .catch(() => undefined);
        return list.items.length === 0;
      },
      120_000,
      1_000,
    );
    for (const plural of ['vulnerabilityreports', 'exposedsecretreports'])
      for (const namespace of NAMESPACES)
        await objects.deleteCollectionNamespacedCustomObject({ ...REPORTS, plural, namespace });
    await waitUntil(
      'the reports to be deleted',
      async () => (await listReports('vulnerabilityreports')).length === 0,
    );
  }
} catch (err) {
  say(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exitCode = 1;
} finally {
  await cleanUp();
}

/** Where a scan pod's time went, from its status (Kubernetes timestamps have 1 s resolution). */
interface ScanPodTimes {
  /** Pod creation to the first container start (scheduling, sandbox, Trivy image pull). */
  startSeconds?: number;
  /** The `download-db` init container (Standalone only). */
  dbDownloadSeconds?: number;
  /** The `scan` container: `trivy image` (pulling the scanned image, Java DB) and `trivy version`. */
  trivySeconds?: number;
}

/**
 * Watches the scan pods: the time each spent starting, downloading the DB and scanning, and the
 * Trivy version the first successful one printed (the scan log's `trivy version` line), read
 * before the operator deletes its Job.
 */
function watchScanPods(kc: KubeConfig, core: CoreV1Api) {
  let pods = new Map<string, ScanPodTimes>();
  let version: string | undefined;
  const reading = new Set<string>();
  // Watch events are plain JSON: timestamps are strings here, not Dates.
  const seconds = (from?: Date | string, to?: Date | string) =>
    from && to ? (new Date(to).getTime() - new Date(from).getTime()) / 1000 : undefined;
  const watch = new ResourceWatcher<V1Pod>(
    kc,
    {
      path: `/api/v1/namespaces/${OPERATOR_NS}/pods`,
      labelSelector: `${ScanLabel.component}=${SCAN_JOB_COMPONENT}`,
      log: createLogger('silent'),
    },
    {
      onEvent: (_type, pod) => {
        const name = pod.metadata?.name ?? '';
        const init = pod.status?.initContainerStatuses?.find((c) => c.name === 'download-db')?.state
          ?.terminated;
        const scan = pod.status?.containerStatuses?.find((c) => c.name === 'scan')?.state?.terminated;
        const times = pods.get(name) ?? {};
        const firstStart = init?.startedAt ?? scan?.startedAt;
        times.startSeconds ??= seconds(pod.metadata?.creationTimestamp, firstStart);
        if (init?.exitCode === 0) times.dbDownloadSeconds ??= seconds(init.startedAt, init.finishedAt);
        if (scan?.exitCode === 0) times.trivySeconds ??= seconds(scan.startedAt, scan.finishedAt);
        pods.set(name, times);
        if (version || scan?.exitCode !== 0 || reading.has(name)) return;
        reading.add(name);
        void core
          .readNamespacedPodLog({ name, namespace: OPERATOR_NS, container: 'scan' })
          .then((log) => {
            const line = String(log)
              .split('\n')
              .find((l) => l.startsWith(TRIVY_VERSION_PREFIX));
            const parsed = line
              ? (JSON.parse(line.slice(TRIVY_VERSION_PREFIX.length)) as { Version?: string })
              : {};
            version ??= parsed.Version;
          })
          .catch(() => undefined);
      },
    },
  );
  watch.start();
  const mean = (field: keyof ScanPodTimes) => {
    const values = [...pods.values()].map((t) => t[field]).filter((v): v is number => v !== undefined);
    return values.length ? round(values.reduce((a, b) => a + b, 0) / values.length) : null;
  };
  return {
    trivyVersion: () => version,
    /** Means over the scan pods seen since the last call, and a fresh start. */
    takeBreakdown() {
      const breakdown = {
        podStartSeconds: mean('startSeconds'),
        dbDownloadSeconds: mean('dbDownloadSeconds'),
        trivySeconds: mean('trivySeconds'),
      };
      pods = new Map();
      return breakdown;
    },
    stop: () => watch.stop(),
  };
}

/** Fallback: the scanner version the reports carry (the Trivy image's tag). */
async function reportedScannerVersion(objects: CustomObjectsApi): Promise<string | undefined> {
  say('the scan logs gave no `trivy version` line; using the reports’ scanner version');
  const list = (await objects.listClusterCustomObject({
    ...REPORTS,
    plural: 'vulnerabilityreports',
    limit: 1,
  })) as {
    items: { report: { scanner: { version: string } } }[];
  };
  return list.items[0]?.report.scanner.version;
}

/**
 * `trivy server` as a pod on the node, running the same Trivy image with the DB from the local
 * registry, reached at its pod IP (no kube-proxy: Service IPs are not routed here).
 */
async function startTrivyServer(core: CoreV1Api, scans: RealScans, dbRepository: string) {
  const started = Date.now();
  const name = 'trivy-server';
  await core.createNamespacedPod({
    namespace: OPERATOR_NS,
    body: {
      metadata: { name, labels: { app: name } },
      spec: {
        ...scans.placement,
        terminationGracePeriodSeconds: 1,
        containers: [
          {
            name: 'server',
            image: scans.images.trivy.ref,
            args: [
              'server',
              '--listen',
              `0.0.0.0:${TRIVY_SERVER_PORT}`,
              '--db-repository',
              dbRepository,
              '--insecure',
              '--cache-dir',
              '/tmp/trivy/.cache',
            ],
          },
        ],
      },
    },
  });
  const ip = await waitUntil(
    'the Trivy server pod IP',
    async () => (await core.readNamespacedPod({ name, namespace: OPERATOR_NS })).status?.podIP,
    120_000,
    500,
  );
  const url = `http://${ip}:${TRIVY_SERVER_PORT}`;
  await waitUntil(
    `the Trivy server at ${url} (DB downloaded)`,
    () =>
      fetch(`${url}/healthz`).then(
        (r) => r.ok,
        () => false,
      ),
    180_000,
    500,
  );
  const secondsToReady = round((Date.now() - started) / 1000);
  say(`Trivy server ready at ${url} after ${secondsToReady} s`);
  return {
    url,
    secondsToReady,
    stop: () =>
      core.deleteNamespacedPod({ name, namespace: OPERATOR_NS }).then(
        () => undefined,
        () => undefined,
      ),
  };
}
