import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { clearStaleNodeStack, type NodeStackState } from './node-stack.ts';
import { repoRoot } from './tools.ts';

/** Where `npm run cluster -- up` keeps its state, so `down` and the test script can find it. */
export const defaultClusterDir = path.join(repoRoot, '.run', 'cluster');

export interface ClusterState {
  pid: number;
  kubeconfigPath: string;
  server: string;
  /** The real node and the registries beside the control plane (absent with `up --no-node`). */
  stack?: NodeStackState;
}

export function stateFile(dir: string): string {
  return path.join(dir, 'state.json');
}

export function readClusterState(dir: string): ClusterState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(dir), 'utf8')) as ClusterState;
  } catch {
    return undefined;
  }
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Kills whatever a previous, crashed run left in `dir` (pids recorded by the process groups: the
 * control plane's, and the node's and registries' in their subfolders), takes the real node's
 * traces off the host (mounts, cgroups, bridge, iptables rules: see test/harness/node), and clears it.
 */
export function clearStaleCluster(dir: string): void {
  for (const pidFile of pidFiles(dir)) {
    for (const line of readFileSync(pidFile, 'utf8').split('\n')) {
      const pid = Number(line);
      if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) process.kill(pid, 'SIGKILL');
    }
  }
  clearStaleNodeStack(dir, (line) => process.stderr.write(`${line}\n`));
  rmSync(dir, { recursive: true, force: true });
}

/** `pids` files up to two folders deep (the node's is dir/node/pids, a registry's dir/registries/<flavour>/pids). */
function pidFiles(dir: string, depth = 2): string[] {
  const found = existsSync(path.join(dir, 'pids')) ? [path.join(dir, 'pids')] : [];
  if (depth === 0) return found;
  let entries;
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return found;
  }
  for (const e of entries) if (e.isDirectory()) found.push(...pidFiles(path.join(dir, e.name), depth - 1));
  return found;
}

/** Asks the `up` process to stop everything and waits until it has. */
export async function stopCluster(dir: string, timeoutMs = 60_000): Promise<boolean> {
  const state = readClusterState(dir);
  if (!state || !isAlive(state.pid)) {
    clearStaleCluster(dir);
    return false;
  }
  process.kill(state.pid, 'SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (isAlive(state.pid) && Date.now() < deadline) await sleep(200);
  if (isAlive(state.pid)) process.kill(state.pid, 'SIGKILL');
  clearStaleCluster(dir);
  return true;
}
