/**
 * Everything a real node leaves on the host, and how to take it away again. Used by a clean stop,
 * and by the next start (or `npm run cluster -- down`) after a process that was killed left a node
 * behind: containers keep running under their shims when the kubelet and containerd are gone.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, rmSync } from 'node:fs';
import path from 'node:path';
import {
  allClaims,
  claimIsLive,
  otherLiveInstances,
  readClaim,
  releaseInstance,
  restoreSysctls,
} from './instances.ts';
import { deleteNodeNetwork, instanceNetwork, removeIptablesRules } from './network.ts';
import {
  destroyCgroupTree,
  isAlive,
  killPid,
  processesMatching,
  removeIfEmpty,
  sleepSync,
  symlinksInto,
  unmountAll,
} from './system.ts';

/** Where a node keeps what it owns, all below its run directory. */
export function nodePaths(dir: string) {
  const containerd = path.join(dir, 'containerd');
  const kubelet = path.join(dir, 'kubelet');
  return {
    dir,
    /** Instance index and node name, for the crash cleanup. */
    record: path.join(dir, 'node.json'),
    containerdConfig: path.join(containerd, 'config.toml'),
    containerdRoot: path.join(containerd, 'root'),
    containerdState: path.join(containerd, 'state'),
    containerdSocket: path.join(dir, 'containerd.sock'),
    runcRoot: path.join(containerd, 'runc'),
    /** containerd's registry host configs (config_path): one hosts.toml per registry host. */
    certsDir: path.join(containerd, 'certs.d'),
    cniConfDir: path.join(containerd, 'cni'),
    ipamDir: path.join(containerd, 'cni-ipam'),
    optDir: path.join(containerd, 'opt'),
    kubeletConfig: path.join(kubelet, 'config.yaml'),
    /** The admin kubeconfig as seen from the node's namespace (api-access.ts). */
    nodeKubeconfig: path.join(dir, 'node.kubeconfig'),
    kubeProxyConfig: path.join(dir, 'kube-proxy.yaml'),
    kubeletRoot: path.join(kubelet, 'root'),
    kubeletCertDir: path.join(kubelet, 'pki'),
    podLogsDir: path.join(kubelet, 'pod-logs'),
    volumePluginDir: path.join(kubelet, 'volume-plugins'),
  };
}

export interface NodeRecord {
  index: number;
  nodeName: string;
}

export function readNodeRecord(dir: string): NodeRecord | undefined {
  try {
    return JSON.parse(readFileSync(nodePaths(dir).record, 'utf8')) as NodeRecord;
  } catch {
    return undefined;
  }
}

/** Paths the kubelet writes whatever its --root-dir (the device manager's socket and checkpoint). */
const KUBELET_FIXED = '/var/lib/kubelet';
const CONTAINER_LOG_LINKS = '/var/log/containers';
const CNI_STATE = '/var/lib/cni';
/** containerd 1.6 puts every shim's socket here, whatever its state directory. */
const SHIM_SOCKETS = '/run/containerd/s';

const realDir = (dir: string) => (existsSync(dir) ? realpathSync(dir) : path.resolve(dir));

/** The kubelet, kube-proxy and containerd of this node, from the process group's pid file, if still running. */
function killNodeProcesses(dir: string): void {
  let pids: number[] = [];
  try {
    pids = readFileSync(path.join(dir, 'pids'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return;
  }
  for (const pid of pids) {
    // Only what is still ours: a pid from a killed run may have been reused since.
    let argv0 = '';
    try {
      argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    } catch {
      continue;
    }
    if (/(kubelet|kube-proxy|containerd)$/.test(argv0)) killPid(pid);
  }
}

/** containerd's shims for our socket: they outlive containerd by design. */
function killShims(socket: string): void {
  const isOurShim = (argv: string[]) =>
    path.basename(argv[0] ?? '').startsWith('containerd-shim') &&
    argv[argv.indexOf('-address') + 1] === socket;
  const deadline = Date.now() + 5_000;
  for (;;) {
    const shims = processesMatching(isOurShim);
    if (shims.length === 0 || Date.now() > deadline) return;
    for (const pid of shims) killPid(pid);
    sleepSync(50);
  }
}

/** Each task bundle records its shim's socket address (unix:///run/containerd/s/<hash>). */
function removeShimSockets(stateDir: string): void {
  const tasks = path.join(stateDir, 'io.containerd.runtime.v2.task');
  let namespaces: string[] = [];
  try {
    namespaces = readdirSync(tasks);
  } catch {
    return;
  }
  for (const ns of namespaces) {
    let ids: string[] = [];
    try {
      ids = readdirSync(path.join(tasks, ns));
    } catch {
      continue;
    }
    for (const id of ids) {
      try {
        const address = readFileSync(path.join(tasks, ns, id, 'address'), 'utf8').trim();
        const socket = address.replace(/^unix:\/\//, '');
        if (socket.startsWith(`${SHIM_SOCKETS}/`)) rmSync(socket, { force: true });
      } catch {
        // no address file: the shim never started
      }
    }
  }
}

/**
 * Removes what belongs to the node in `dir`. Process, mount and file leftovers are keyed by the
 * directory, so they are always safe to remove; the instance's network namespace, cgroup tree and host iptables
 * rules only when `ownsInstance` (no live process holds that instance for another directory).
 * Machine-wide kubelet leftovers (its device-plugin socket, the sysctls it changed) go with the
 * last live node. Returns what could not be removed.
 */
export function cleanupNode(
  dirIn: string,
  index: number,
  options: { ownsInstance: boolean; log?: (line: string) => void },
): string[] {
  const log = options.log ?? (() => {});
  const dir = realDir(dirIn);
  const p = nodePaths(dir);
  const net = instanceNetwork(index);
  const problems: string[] = [];

  killNodeProcesses(dir);
  if (options.ownsInstance) {
    const left = destroyCgroupTree(net.cgroupName);
    if (left.length > 0) problems.push(`cgroups left: ${left.join(', ')}`);
  }
  killShims(p.containerdSocket);
  removeShimSockets(p.containerdState);
  removeIfEmpty(SHIM_SOCKETS, path.dirname(SHIM_SOCKETS));

  const mounts = unmountAll(dir);
  if (mounts.length > 0) problems.push(`mounts left: ${mounts.join(', ')}`);

  // libcni caches each sandbox's results in /var/lib/cni whatever the config says: the bridge
  // network's under our network name, and the loopback one (which containerd adds) by sandbox id.
  const results = path.join(CNI_STATE, 'results');
  for (const id of sandboxIds(p)) rmSync(path.join(results, `cni-loopback-${id}-lo`), { force: true });
  if (options.ownsInstance) {
    // The namespace goes with its bridge, the pods' veths and kube-proxy's rules.
    deleteNodeNetwork(net);
    for (const entry of safeReaddir(results)) {
      if (entry.startsWith(`${net.cniNetwork}-`)) rmSync(path.join(results, entry), { force: true });
    }
    rmSync(path.join(CNI_STATE, 'networks', net.cniNetwork), { recursive: true, force: true });
    removeIfEmpty(path.join(CNI_STATE, 'results'), path.join(CNI_STATE, 'networks'), CNI_STATE);
  }
  for (const link of symlinksInto(CONTAINER_LOG_LINKS, `${p.podLogsDir}/`)) rmSync(link, { force: true });
  removeIfEmpty(CONTAINER_LOG_LINKS);

  const last = otherLiveInstances(index).length === 0;
  if (options.ownsInstance) {
    try {
      removeIptablesRules([net.hostLink, net.subnet]);
    } catch (err) {
      problems.push(`iptables: ${String(err)}`);
    }
  }
  if (last) {
    const devicePlugins = path.join(KUBELET_FIXED, 'device-plugins');
    for (const file of ['kubelet.sock', 'kubelet_internal_checkpoint'])
      rmSync(path.join(devicePlugins, file), { force: true });
    removeIfEmpty(devicePlugins, KUBELET_FIXED);
    restoreSysctls();
  }

  const claim = readClaim(index);
  if (
    claim &&
    (claim.dir === dir || claim.dir === dirIn) &&
    (claim.pid === process.pid || !claimIsLive(claim))
  )
    releaseInstance(index);
  if (problems.length > 0) log(`node cleanup of ${dir}: ${problems.join('; ')}`);
  return problems;
}

/** The pod sandboxes containerd's CRI plugin knows of (its root and state folders, one per sandbox). */
function sandboxIds(p: ReturnType<typeof nodePaths>): Set<string> {
  const ids = new Set<string>();
  for (const base of [p.containerdRoot, p.containerdState]) {
    for (const id of safeReaddir(path.join(base, 'io.containerd.grpc.v1.cri', 'sandboxes'))) ids.add(id);
  }
  return ids;
}

function safeReaddir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Cleans the node a killed process left in `dir`. Returns 'live' (and touches nothing) when the
 * node's owner still runs, 'none' when `dir` never held a node.
 */
export function cleanupStaleNode(dir: string, log?: (line: string) => void): 'live' | 'cleaned' | 'none' {
  const record = readNodeRecord(dir);
  if (!record) return 'none';
  const claim = readClaim(record.index);
  const ours = claim !== undefined && (claim.dir === dir || claim.dir === realDir(dir));
  if (ours && claim.pid !== process.pid && isAlive(claim.pid)) return 'live';
  // A claim for another directory means the instance was taken since: leave its network and cgroups.
  cleanupNode(dir, record.index, { ownsInstance: ours || claim === undefined, ...(log ? { log } : {}) });
  return 'cleaned';
}

/**
 * Cleans every node instance whose owning process died (a killed test file's own node, a killed
 * `cluster up`): their containers keep running under their shims until someone does.
 */
export function cleanupDeadInstances(log?: (line: string) => void): void {
  for (const claim of allClaims()) {
    if (claimIsLive(claim)) continue;
    log?.(`cleaning node instance ${claim.index} left by process ${claim.pid} in ${claim.dir}`);
    cleanupNode(claim.dir, claim.index, { ownsInstance: true, ...(log ? { log } : {}) });
    releaseInstance(claim.index);
  }
}
