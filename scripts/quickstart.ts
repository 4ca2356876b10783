/**
 * Brings the whole thing up locally: a real control plane with the report CRDs, and the operator
 * running against it, until Ctrl-C. With --kubeconfig (or KUBECONFIG) it runs the operator against
 * that cluster instead of starting one.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { startControlPlane, type ControlPlane } from '../test/harness/control-plane.ts';
import { clearStaleCluster } from '../test/harness/cluster-state.ts';
import { installCrds } from '../test/harness/crds.ts';
import {
  fakeNodeRoot,
  nodeCollectorRunner,
  startHarnessKubelet,
  type HarnessKubelet,
} from '../test/harness/kubelet/index.ts';
import {
  createSampleComplianceReports,
  createSampleWorkloads,
  sampleScanResults,
} from './sample-workloads.ts';
import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import { repoRoot, toolPath } from '../test/harness/tools.ts';
import { Prometheus } from '../test/harness/prometheus.ts';
import { portIsFree } from '../test/harness/ports.ts';

const { values } = parseArgs({
  options: { kubeconfig: { type: 'string' }, port: { type: 'string', default: '8080' } },
});
const say = (line: string) => process.stderr.write(`[start] ${line}\n`);

async function main(): Promise<void> {
  let cp: ControlPlane | undefined;
  let kubelet: HarnessKubelet | undefined;
  // Assigned late but read by the Ctrl-C handler, which may run before Prometheus exists.
  // eslint-disable-next-line prefer-const
  let prometheus: Prometheus | undefined;
  let kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG;
  if (!kubeconfig) {
    const dir = path.join(repoRoot, '.run', 'quickstart');
    clearStaleCluster(dir);
    say('starting a local control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)');
    cp = await startControlPlane({ dir, log: (line) => say(line) });
    say('installing the report CRDs');
    await installCrds(cp.kubeConfig());
    kubeconfig = cp.kubeconfigPath;
    say('starting the harness kubelet (no container runtime here: it runs scan pods as local processes)');
    say(
      'SAMPLE DATA: scans replay recorded Trivy results for the sample images; nothing is pulled or scanned for real',
    );
    // Sample node file systems for the node collector: node 1's kubelet allows anonymous requests
    // and has a world-writable kubeconfig, node 2 is configured well.
    const runCollector = nodeCollectorRunner({
      hostRoots: {
        'harness-node-1': fakeNodeRoot({ anonymousAuth: true, kubeconfigMode: 0o666 }),
        'harness-node-2': fakeNodeRoot({ anonymousAuth: false, kubeconfigMode: 0o600 }),
      },
    });
    kubelet = await startHarnessKubelet(cp.kubeConfig(), {
      nodeCount: 2,
      runner: (pod, trivy) => runCollector(pod) ?? trivy(pod),
      trivy: {
        images: Object.fromEntries(
          Object.entries(sampleScanResults).map(([image, report]) => [image, { report }]),
        ),
      },
    });
    await cp
      .kubeConfig()
      .makeApiClient(CoreV1Api)
      .createNamespace({ body: { metadata: { name: 'trivy-system' } } })
      .catch(() => undefined);
    say('creating sample workloads (namespaces shop, payments, batch, monitoring-agents)');
    await createSampleWorkloads(cp.kubeConfig());
  } else {
    say(`using the cluster in ${kubeconfig}`);
  }

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
        OPERATOR_NAMESPACE: process.env.OPERATOR_NAMESPACE ?? 'trivy-system',
        // The config audit runs the pinned Trivy that scripts/setup-tools.sh built.
        OPERATOR_CONFIG_AUDIT_TRIVY_BINARY:
          process.env.OPERATOR_CONFIG_AUDIT_TRIVY_BINARY ?? toolPath('trivy'),
      },
    },
  );

  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say('stopping');
    if (operator.exitCode === null) {
      operator.kill('SIGTERM');
      await new Promise((resolve) => operator.once('exit', resolve));
    }
    await prometheus?.stop();
    await kubelet?.stop();
    await cp?.stop();
    process.exit(code);
  };
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  operator.once('exit', (code) => {
    if (!stopping) {
      say(`the operator exited (${code}); stopping`);
      void stop(code ?? 1);
    }
  });

  for (let i = 0; i < 300; i++) {
    const ready = await fetch(`http://127.0.0.1:${port}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  if (cp) {
    const objects = cp.kubeConfig().makeApiClient(CustomObjectsApi);
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
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    say('creating the compliance reports (CIS, NSA, Pod Security Standards), evaluated every minute here');
    await createSampleComplianceReports(cp.kubeConfig());
  }
  say('starting Prometheus with the shipped alert rules (alert-rules/*.rules.yaml), scraping the operator');
  const promOptions = {
    targets: [`127.0.0.1:${port}`],
    ruleFiles: [path.join(repoRoot, 'alert-rules', '*.rules.yaml')],
    scrapeIntervalSeconds: 5,
  };
  // Prometheus' usual port when it is free (another server there could answer our readiness probe).
  prometheus = (await portIsFree(9090))
    ? await Prometheus.start({ ...promOptions, port: 9090 }).catch(() => Prometheus.start(promOptions))
    : await Prometheus.start(promOptions);
  say('waiting for Prometheus to evaluate the alert rules on the first scans');
  for (let i = 0; i < 60; i++) {
    const firing = (await prometheus.alerts().catch(() => [])).filter((a) => a.state === 'firing');
    if (firing.length > 0) {
      for (const alert of firing) {
        say(
          `alert firing: ${alert.labels.alertname} (${alert.labels.severity}) in ${alert.labels.namespace ?? 'the cluster'}: ${alert.annotations.summary ?? ''}`,
        );
      }
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
  say('up. Try:');
  say(`  kubectl --kubeconfig ${kubeconfig} get vulnerabilityreports -A`);
  say(`  kubectl --kubeconfig ${kubeconfig} get configauditreports,rbacassessmentreports -A`);
  say(`  kubectl --kubeconfig ${kubeconfig} get clusterinfraassessmentreports,clustercompliancereports`);
  say(`  curl http://127.0.0.1:${port}/metrics`);
  say(`  open ${prometheus.url}/alerts (alerts firing on the sample findings) or ${prometheus.url}/graph`);
  say('Ctrl-C stops everything.');
}

main().catch((err: unknown) => {
  say(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
