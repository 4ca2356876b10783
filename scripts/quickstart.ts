/**
 * Brings the whole thing up locally, until Ctrl-C: a real control plane with the report CRDs, a
 * real node (containerd + kubelet) and the local registries beside it, the test images and a TEST
 * vulnerability DB published there, sample workloads running those images on the node, and the
 * operator, whose scan Jobs run the real Trivy image on the node. With --kubeconfig (or
 * KUBECONFIG) it runs the operator against that cluster instead of starting one. With --in-cluster
 * the operator is not a local process: the Helm chart is installed on the local cluster, running the
 * operator image built here (test/harness/operator-image/) on the real node, as in production.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { CoreV1Api, CustomObjectsApi, type V1Pod } from '@kubernetes/client-node';
import { installChartOnNode, installPrometheusOperatorCrds } from '../test/harness/chart-install.ts';
import { startControlPlane, type ControlPlane } from '../test/harness/control-plane.ts';
import { clearStaleCluster } from '../test/harness/cluster-state.ts';
import { installCrds } from '../test/harness/crds.ts';
import {
  fakeNodeRoot,
  nodeCollectorRunner,
  startHarnessKubelet,
  type HarnessKubelet,
} from '../test/harness/kubelet/index.ts';
import { startNodeStack, type NodeStack } from '../test/harness/node-stack.ts';
import { REAL_NODE_TAINT } from '../test/harness/node/index.ts';
import { portIsFree } from '../test/harness/ports.ts';
import { Prometheus } from '../test/harness/prometheus.ts';
import { useRealScans, type RealScans } from '../test/harness/real-scans.ts';
import { repoRoot, toolPath } from '../test/harness/tools.ts';
import {
  createSampleComplianceReports,
  createSampleWorkloads,
  sampleNamespaces,
  testDbAdvisoryCount,
} from './sample-workloads.ts';

const { values } = parseArgs({
  options: {
    kubeconfig: { type: 'string' },
    port: { type: 'string', default: '8080' },
    'in-cluster': { type: 'boolean', default: false },
  },
});
const inCluster = values['in-cluster'] ?? false;
/** The chart's release with --in-cluster (its objects are named `trivy-lookout` after it). */
const RELEASE = 'trivy-lookout';
const OPERATOR_NS = 'trivy-system';
const say = (line: string) => process.stderr.write(`[start] ${line}\n`);
const dir = path.join(repoRoot, '.run', 'quickstart');
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Everything started so far, for Ctrl-C (which may come at any point of the start). */
const running: {
  cp?: ControlPlane;
  stack?: NodeStack;
  kubelet?: HarnessKubelet;
  operator?: ChildProcess;
  prometheus?: Prometheus;
} = {};
let stopping = false;

async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('stopping');
  const { operator, prometheus, kubelet, stack, cp } = running;
  const report = (what: string) => (err: unknown) => say(`stopping ${what}: ${String(err)}`);
  if (operator && operator.exitCode === null && operator.signalCode === null) {
    const exited = new Promise((resolve) => operator.once('exit', resolve));
    operator.kill('SIGTERM');
    await exited;
  }
  await prometheus?.stop().catch(report('Prometheus'));
  await kubelet?.stop().catch(report('the harness kubelet'));
  // The node before the control plane: the kubelet's Node object is deleted through it.
  await stack?.stop().catch(report('the node'));
  await cp?.stop().catch(report('the control plane'));
  // Whatever a failed stop left (mounts, cgroups, the bridge): the same cleanup as after a crash.
  if (cp) clearStaleCluster(dir);
  process.exit(code);
}
process.on('SIGINT', () => void stop(0));
process.on('SIGTERM', () => void stop(0));

interface LocalCluster {
  kubeconfig: string;
  /** The operator's environment for the local process. */
  env: Record<string, string>;
  scans: RealScans;
  dbRepository: string;
}

/** Starts the local cluster with real scans and the sample workloads. */
async function startLocalCluster(): Promise<LocalCluster> {
  clearStaleCluster(dir);
  say('starting a local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)');
  const cp = await startControlPlane({ dir, log: (line) => say(line) });
  running.cp = cp;
  say('installing the report CRDs');
  await installCrds(cp.kubeConfig());
  say('starting a real node (containerd + kubelet) and local registries (HTTP, TLS, Basic auth)');
  const stack = await startNodeStack({ kubeconfigPath: cp.kubeconfigPath, clusterDir: dir, log: say });
  running.stack = stack;
  const { node, registries } = stack.state();
  say(`node ${node.name} at ${node.ip} (tainted ${REAL_NODE_TAINT.key}: only pods placed there run there)`);

  say(
    'publishing the test images, the Trivy image and the test DB to the local registry (built once, cached)',
  );
  const scans = await useRealScans({ node, registries });
  const dbRepository = scans.dbRepositoryFor('quickstart');
  await scans.publishDb('v1', dbRepository);
  say(
    `TEST DATA: scans use a TEST vulnerability DB with ${testDbAdvisoryCount('v1')} advisories ` +
      `(test/fixtures/trivy-db, invented TEST-* IDs and a few trimmed real CVEs), served from ${dbRepository}. ` +
      'Its findings are test data: they say nothing about any real image.',
  );
  say(`scan Jobs run the real Trivy (${scans.images.trivy.ref}) on ${node.name}`);

  // The node collector needs nodes with prepared file systems, which a real node is not: two
  // harness nodes with sample host roots (sample data, labelled as such in their reports' tour).
  // Node 1's kubelet allows anonymous requests and has a world-writable kubeconfig; node 2 is
  // configured well. They run only node-collector pods; every workload is on the real node.
  say('starting two harness nodes with SAMPLE host file systems for the node collector');
  const runCollector = nodeCollectorRunner({
    hostRoots: {
      'harness-node-1': fakeNodeRoot({ anonymousAuth: true, kubeconfigMode: 0o666 }),
      'harness-node-2': fakeNodeRoot({ anonymousAuth: false, kubeconfigMode: 0o600 }),
    },
  });
  running.kubelet = await startHarnessKubelet(cp.kubeConfig(), {
    nodeCount: 2,
    runner: (pod) => runCollector(pod),
  });
  await cp
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name: OPERATOR_NS } } })
    .catch(() => undefined);
  say('creating sample workloads on the real node (namespaces shop, payments, batch, monitoring-agents)');
  await createSampleWorkloads(
    cp.kubeConfig(),
    {
      java: scans.images.java.ref,
      node: scans.images.node.ref,
      secret: scans.images.secret.ref,
      os: scans.images.os.ref,
    },
    scans.placement,
  );
  return { kubeconfig: cp.kubeconfigPath, env: scans.operatorEnv(dbRepository), scans, dbRepository };
}

/**
 * --in-cluster: `helm install` of this checkout's chart with the operator image built here, pushed
 * to the local registry and pulled by the real node; the pod uses in-cluster configuration through
 * the `kubernetes` Service. Returns the pod's address, routable from this machine.
 */
async function installChart(local: LocalCluster): Promise<{ podIP: string; pod: string; image: string }> {
  say(
    'installing the ServiceMonitor and PrometheusRule CRDs (the chart ships both, as with kube-prometheus-stack)',
  );
  await installPrometheusOperatorCrds(local.kubeconfig);
  say(
    'building the operator image from this checkout (cached after the first build; about 2 minutes the first time)',
  );
  say(
    `helm install ${RELEASE} charts/trivy-lookout in ${OPERATOR_NS}, watching ${sampleNamespaces.join(', ')}`,
  );
  const chart = await installChartOnNode({
    kubeconfigPath: local.kubeconfig,
    scans: local.scans,
    release: RELEASE,
    namespace: OPERATOR_NS,
    dbRepository: local.dbRepository,
    workDir: dir,
    values: { targetNamespaces: sampleNamespaces.join(',') },
  });
  const core = running.cp!.kubeConfig().makeApiClient(CoreV1Api);
  const pods = await core.listNamespacedPod({
    namespace: OPERATOR_NS,
    labelSelector: `app.kubernetes.io/instance=${RELEASE}`,
  });
  const pod: V1Pod | undefined = pods.items.find((p) =>
    p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
  if (!pod?.status?.podIP) throw new Error(`no Ready operator pod in ${OPERATOR_NS} after helm install`);
  say(`operator pod ${pod.metadata?.name} Ready at ${pod.status.podIP}, running ${chart.image.ref}`);
  return { podIP: pod.status.podIP, pod: pod.metadata?.name ?? '', image: chart.image.ref };
}

async function main(): Promise<void> {
  if (inCluster && values.kubeconfig) {
    say('--in-cluster installs the chart on the local cluster it starts: leave out --kubeconfig');
    process.exit(2);
  }
  if (inCluster && process.env.KUBECONFIG) say('--in-cluster: ignoring KUBECONFIG, starting a local cluster');
  let kubeconfig = inCluster ? undefined : (values.kubeconfig ?? process.env.KUBECONFIG);
  let scanEnv: Record<string, string> = {};
  let local: LocalCluster | undefined;
  if (!kubeconfig) {
    local = await startLocalCluster();
    ({ kubeconfig, env: scanEnv } = local);
  } else {
    say(`using the cluster in ${kubeconfig}`);
  }
  if (stopping) return;

  let metricsTarget: string;
  let inClusterPod: { podIP: string; pod: string; image: string } | undefined;
  if (local && inCluster) {
    inClusterPod = await installChart(local);
    metricsTarget = `${inClusterPod.podIP}:8080`;
  } else {
    metricsTarget = `127.0.0.1:${startLocalOperator(kubeconfig, scanEnv)}`;
    for (let i = 0; i < 300; i++) {
      const ready = await fetch(`http://${metricsTarget}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) break;
      await sleep(200);
    }
  }
  if (stopping) return;
  await showTheResults(kubeconfig, metricsTarget, inClusterPod);
}

/** The operator as a local process (the default); returns its metrics port. */
function startLocalOperator(kubeconfig: string, scanEnv: Record<string, string>): string {
  const port = values.port ?? '8080';
  say('starting the operator');
  const operator = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'src', 'main.ts'), '--kubeconfig', kubeconfig],
    {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: {
        ...process.env,
        OPERATOR_METRICS_BIND_ADDRESS: `127.0.0.1:${port}`,
        OPERATOR_NAMESPACE: process.env.OPERATOR_NAMESPACE ?? OPERATOR_NS,
        // The config audit runs the pinned Trivy that scripts/setup-tools.sh built.
        OPERATOR_CONFIG_AUDIT_TRIVY_BINARY:
          process.env.OPERATOR_CONFIG_AUDIT_TRIVY_BINARY ?? toolPath('trivy'),
        // Locally: the Trivy image, the DBs and the registries published above.
        ...scanEnv,
      },
    },
  );
  running.operator = operator;
  operator.once('exit', (code) => {
    if (!stopping) {
      say(`the operator exited (${code}); stopping`);
      void stop(code ?? 1);
    }
  });
  return port;
}

/** Waits for the first reports and alerts, then prints where to look. */
async function showTheResults(
  kubeconfig: string,
  metricsTarget: string,
  inClusterPod: { podIP: string; pod: string; image: string } | undefined,
): Promise<void> {
  const cp = running.cp;
  if (cp) {
    const objects = cp.kubeConfig().makeApiClient(CustomObjectsApi);
    say('waiting for the scan Jobs (real Trivy on the real node, a few seconds per image)');
    let last = -1;
    for (let i = 0; i < 600; i++) {
      const list = (await objects
        .listClusterCustomObject({
          group: 'aquasecurity.github.io',
          version: 'v1alpha1',
          plural: 'vulnerabilityreports',
        })
        .catch(() => ({ items: [] }))) as { items: unknown[] };
      if (list.items.length !== last) say(`vulnerability reports so far: ${list.items.length}`);
      last = list.items.length;
      if (last >= 7) break;
      await sleep(1000);
    }
    say('creating the compliance reports (CIS, NSA, Pod Security Standards), evaluated every minute here');
    await createSampleComplianceReports(cp.kubeConfig());
  }
  say('starting Prometheus with the shipped alert rules (alert-rules/*.rules.yaml), scraping the operator');
  const promOptions = {
    targets: [metricsTarget],
    ruleFiles: [path.join(repoRoot, 'alert-rules', '*.rules.yaml')],
    scrapeIntervalSeconds: 5,
  };
  // Prometheus' usual port when it is free (another server there could answer our readiness probe).
  const prometheus = (await portIsFree(9090))
    ? await Prometheus.start({ ...promOptions, port: 9090 }).catch(() => Prometheus.start(promOptions))
    : await Prometheus.start(promOptions);
  running.prometheus = prometheus;
  if (stopping) return;
  say('waiting for Prometheus to evaluate the alert rules on the first scans');
  const firingNow = async () =>
    (await prometheus.alerts().catch(() => [])).filter((a) => a.state === 'firing');
  let firing = await firingNow();
  for (let i = 0; i < 60 && firing.length === 0 && !stopping; i++) {
    await sleep(2000);
    firing = await firingNow();
  }
  if (firing.length > 0) {
    // The first scans' alerts come within seconds of each other; one line per alert name, since a
    // new image can bring dozens of new-CVE alerts.
    await sleep(5000);
    firing = await firingNow();
    const byName = new Map<string, typeof firing>();
    for (const alert of firing) {
      const name = alert.labels.alertname ?? '';
      byName.set(name, [...(byName.get(name) ?? []), alert]);
    }
    for (const [name, alerts] of byName) {
      const first = alerts[0];
      const namespaces = [...new Set(alerts.map((a) => a.labels.namespace ?? 'the cluster'))].join(', ');
      say(
        `alert firing: ${name} (${first?.labels.severity ?? ''})${alerts.length > 1 ? ` ×${alerts.length}` : ''} in ${namespaces}: ${first?.annotations.summary ?? ''}`,
      );
    }
  }
  if (inClusterPod) {
    say(
      `the operator runs in-cluster: Helm release ${RELEASE} in ${OPERATOR_NS}, pod ${inClusterPod.pod}, ` +
        `image ${inClusterPod.image}`,
    );
  }
  say('up. Try:');
  say(`  kubectl --kubeconfig ${kubeconfig} get vulnerabilityreports -A`);
  say(`  kubectl --kubeconfig ${kubeconfig} get configauditreports,rbacassessmentreports -A`);
  say(`  kubectl --kubeconfig ${kubeconfig} get clusterinfraassessmentreports,clustercompliancereports`);
  if (inClusterPod) {
    say(`  curl http://${metricsTarget}/metrics   (the operator pod's IP, routed from this machine)`);
    say(`  kubectl --kubeconfig ${kubeconfig} -n ${OPERATOR_NS} get deploy,pods,svc,servicemonitor`);
    say(
      `  kubectl --kubeconfig ${kubeconfig} -n ${OPERATOR_NS} logs -l app.kubernetes.io/instance=${RELEASE}`,
    );
    say(`  ${toolPath('helm')} --kubeconfig ${kubeconfig} -n ${OPERATOR_NS} get values ${RELEASE}`);
  } else {
    say(`  curl http://${metricsTarget}/metrics`);
  }
  say(`  open ${prometheus.url}/alerts (alerts firing on the findings) or ${prometheus.url}/graph`);
  say('Ctrl-C stops everything.');
}

main().catch((err: unknown) => {
  say(err instanceof Error ? (err.stack ?? err.message) : String(err));
  void stop(1);
});
