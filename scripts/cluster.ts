/**
 * `npm run cluster -- up [--dir DIR]`: starts the local control plane with the report CRDs and
 * keeps running (Ctrl-C or `npm run cluster -- down` stops it). Prints the kubeconfig path.
 * `npm run cluster -- down [--dir DIR]`: stops a running one.
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { startControlPlane } from '../test/harness/control-plane.ts';
import { installCrds } from '../test/harness/crds.ts';
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
  options: { dir: { type: 'string', default: defaultClusterDir } },
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
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    say(`${signal}: stopping the control plane`);
    await cp.stop();
    clearStaleCluster(dir);
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  say('installing the report CRDs');
  await installCrds(cp.kubeConfig());
  const state: ClusterState = { pid: process.pid, kubeconfigPath: cp.kubeconfigPath, server: cp.server };
  writeFileSync(stateFile(dir), JSON.stringify(state));
  say(
    `ready in ${((Date.now() - started) / 1000).toFixed(1)} s; stop with Ctrl-C or \`npm run cluster -- down\``,
  );
  say(`try: kubectl --kubeconfig ${cp.kubeconfigPath} get crds`);
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
