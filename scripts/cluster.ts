/**
 * `npm run cluster -- up [--dir DIR] [--no-node]`: starts the local control plane with the report
 * CRDs, a real node (containerd + kubelet) and three local registries (HTTP, TLS, Basic auth) on
 * the node's bridge address, and keeps running (Ctrl-C or `npm run cluster -- down` stops it).
 * Prints the kubeconfig path; state.json in DIR names the node and the registries.
 * `npm run cluster -- down [--dir DIR]`: stops a running one.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../test/harness/control-plane.ts';
import { installCrds } from '../test/harness/crds.ts';
import { startNodeStack, type NodeStack } from '../test/harness/node-stack.ts';
import { REAL_NODE_TAINT } from '../test/harness/node/index.ts';
import {
  clearStaleCluster,
  defaultClusterDir,
  isAlive,
  readClusterState,
  stateFile,
  stopCluster,
  type ClusterState,
} from '../test/harness/cluster-state.ts';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    dir: { type: 'string', default: defaultClusterDir },
    // A control plane alone, for machines without containerd or the tests that need no real node.
    'no-node': { type: 'boolean', default: false },
  },
});
const dir = values.dir ?? defaultClusterDir;
const command = positionals[0] ?? 'up';
const say = (line: string) => process.stderr.write(`[cluster] ${line}\n`);

async function up(): Promise<void> {
  const existing = readClusterState(dir);
  if (existing && isAlive(existing.pid)) {
    say(`already running (pid ${existing.pid})`);
    process.stdout.write(`${existing.kubeconfigPath}\n`);
    return;
  }
  clearStaleCluster(dir);
  const started = Date.now();
  const cp = await startControlPlane({ dir, log: say });
  let stack: NodeStack | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping the cluster`);
    // The node before the control plane: the kubelet's Node object is deleted through it.
    await stack?.stop().catch((err: unknown) => say(`stopping the node: ${String(err)}`));
    await cp.stop();
    clearStaleCluster(dir);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  say('installing the report CRDs');
  const crds = installCrds(cp.kubeConfig());
  crds.catch(() => undefined); // awaited below; this only keeps a failure during the node's start handled
  if (!values['no-node']) {
    stack = await startNodeStack({ kubeconfigPath: cp.kubeconfigPath, clusterDir: dir, log: say }).catch(
      async (err: unknown) => {
        await cp.stop();
        throw err;
      },
    );
  }
  await crds;
  const state: ClusterState = {
    pid: process.pid,
    kubeconfigPath: cp.kubeconfigPath,
    server: cp.server,
    ...(stack ? { stack: stack.state() } : {}),
  };
  writeFileSync(stateFile(dir), JSON.stringify(state, null, 2));
  say(
    `ready in ${((Date.now() - started) / 1000).toFixed(1)} s; stop with Ctrl-C or \`npm run cluster -- down\``,
  );
  if (stack) {
    const { node, registries } = stack.state();
    say(`node ${node.name} at ${node.ip} (pods ${node.podSubnet}, tainted ${REAL_NODE_TAINT.key})`);
    for (const r of Object.values(registries)) say(`registry ${r.flavour}: ${r.url}`);
  }
  say(`try: kubectl --kubeconfig ${cp.kubeconfigPath} get nodes`);
  process.stdout.write(`${cp.kubeconfigPath}\n`);
}

async function down(): Promise<void> {
  const stopped = await stopCluster(dir);
  say(stopped ? 'stopped' : 'was not running');
}

const run = command === 'up' ? up : command === 'down' ? down : undefined;
if (!run) {
  say(`unknown command "${command}"; use up or down`);
  process.exit(2);
}
run().catch((err: unknown) => {
  say(err instanceof Error ? (err.stack ?? err.message) : String(err));
  process.exit(1);
});
