import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { freePorts } from '../ports.ts';
import { ProcessGroup, waitWhileRunning, type ManagedProcess } from '../processes.ts';
import { toolPath, toolsBinDir } from '../tools.ts';
import {
  cleanupDeadInstances,
  cleanupNode,
  cleanupStaleNode,
  nodePaths,
  type NodeRecord,
} from './cleanup.ts';
import { claimInstance, otherLiveInstances, saveSysctls } from './instances.ts';
import {
  createNodeNetwork,
  deleteNodeNetwork,
  forwardApiServer,
  inNetns,
  instanceNetwork,
  NODE_INSTANCE_COUNT,
  removeIptablesRules,
  writeCniConfig,
  type InstanceNetwork,
} from './network.ts';
import { publishApiServerEndpoint, withdrawApiServerEndpoint, writeNodeKubeconfig } from './api-access.ts';
import { PAUSE_IMAGE, pauseImageArchive } from './pause-image.ts';
import { createRootCgroup, destroyCgroupTree } from './system.ts';

const execFileAsync = promisify(execFile);

/** Debian's CNI plugins (containernetworking-plugins); TL_CNI_BIN_DIR for another place. */
export const CNI_BIN_DIR =
  process.env.TL_CNI_BIN_DIR ??
  ['/usr/lib/cni', '/opt/cni/bin'].find((d) => existsSync(path.join(d, 'bridge')));

/**
 * Every real node carries this taint, so the pods of tests written for the harness kubelet (images
 * that exist nowhere) never land on it. Pods meant for it tolerate it: see `realNodePlacement`.
 */
export const REAL_NODE_TAINT = {
  key: 'trivy-lookout.dev/real-node',
  value: 'true',
  effect: 'NoSchedule',
} as const;
export const REAL_NODE_LABEL = 'trivy-lookout.dev/real-node';

/** Pod spec fields that put a pod on the real node `nodeName` (and nowhere else). */
export function realNodePlacement(nodeName: string) {
  return {
    nodeSelector: { 'kubernetes.io/hostname': nodeName },
    tolerations: [
      { key: REAL_NODE_TAINT.key, operator: 'Equal', value: REAL_NODE_TAINT.value, effect: 'NoSchedule' },
    ],
  };
}

export interface RealNodeOptions {
  /** Admin kubeconfig of the control plane (the kubelet uses it too: see kubeletConfig). */
  kubeconfigPath: string;
  /** Run directory (containerd root and state, kubelet dirs, logs); a temporary one when omitted. */
  dir?: string;
  /** Default `real-node-<instance>`. */
  nodeName?: string;
  /** Progress lines. */
  log?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface RegistryHostConfig {
  /** host:port as image references name it. */
  host: string;
  scheme: 'http' | 'https';
  /** PEM file containerd verifies the registry's certificate with. */
  caFile?: string;
}

export interface RealNode {
  readonly nodeName: string;
  /** The node's address (its bridge in its network namespace): the kubelet serves on it. */
  readonly nodeIp: string;
  /** The host's address on the node's link: what pods and containerd reach the host's registries on. */
  readonly hostIp: string;
  /** The pods' subnet (CIDR). */
  readonly podSubnet: string;
  /** Which of the machine's node instances (0 or 1) this is. */
  readonly instance: number;
  readonly dir: string;
  /** containerd's socket (for `ctr --address`). */
  readonly containerdAddress: string;
  readonly kubeletPort: number;
  /** Lets containerd pull from a registry: writes its hosts.toml (config_path), read on every pull. */
  trustRegistry(registry: RegistryHostConfig): void;
  /** The kubelet's, kube-proxy's and containerd's pids, for measurements. */
  pids(): { kubelet?: number; kubeProxy?: number; containerd?: number };
  /** Stops everything and removes every trace on the host, then deletes the Node object. */
  stop(): Promise<void>;
}

/**
 * Starts a real node in a network namespace of its own: containerd (CRI, own root/state/socket
 * below `dir`) with the CNI bridge plugin, the kubelet v1.34 registering `nodeName` with the
 * control plane, and kube-proxy (iptables mode) giving its pods Services, the `kubernetes` one
 * included. Returns once the Node is Ready and schedulable and kube-proxy has synced its rules.
 * See test/harness/node/README.md.
 */
export async function startRealNode(options: RealNodeOptions): Promise<RealNode> {
  const log = options.log ?? (() => {});
  const started = Date.now();
  const ownsDir = options.dir === undefined;
  const dir = path.resolve(options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-node-')));
  mkdirSync(dir, { recursive: true });
  const p = nodePaths(dir);
  if (p.containerdSocket.length + '.ttrpc'.length > 100) {
    throw new Error(`node dir ${dir} is too long for containerd's unix socket; use a shorter path`);
  }
  if (!CNI_BIN_DIR) throw new Error('CNI plugins not found (/usr/lib/cni); run scripts/setup-tools.sh');
  if (cleanupStaleNode(dir, log) === 'live') throw new Error(`a running node already uses ${dir}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });

  const index = claimFreeInstance(dir, log);
  const net = instanceNetwork(index);
  const nodeName = options.nodeName ?? `real-node-${index}`;
  writeFileSync(p.record, JSON.stringify({ index, nodeName } satisfies NodeRecord));

  const group = new ProcessGroup(dir);
  let cleaned = false;
  const cleanupNow = () => {
    if (cleaned) return;
    cleaned = true;
    group.killNow();
    cleanupNode(dir, index, { ownsInstance: true, log });
  };
  // The last resort when the process exits without stop(): nothing here can wait.
  const onExit = () => cleanupNow();
  process.once('exit', onExit);

  try {
    // Whatever a process that lost its claim file left on this instance is ours to remove now.
    destroyCgroupTree(net.cgroupName);
    deleteNodeNetwork(net);
    removeIptablesRules([net.hostLink, net.subnet]);
    if (otherLiveInstances(index).length === 0) saveSysctls();

    createRootCgroup(net.cgroupName);
    createNodeNetwork(net);
    writeCniConfig(net, p.cniConfDir, p.ipamDir);
    // The kubelet and kube-proxy reach the API server from inside the namespace.
    const apiPort = writeNodeKubeconfig(options.kubeconfigPath, p.nodeKubeconfig, net.hostIp);
    if (apiPort !== undefined) forwardApiServer(net, apiPort);
    mkdirSync(p.certsDir, { recursive: true });

    const env = { ...process.env, PATH: `${toolsBinDir}:${process.env.PATH ?? ''}:/usr/sbin:/sbin` };
    const archive = pauseImageArchive(log);
    writeFileSync(p.containerdConfig, containerdConfig(p, net));
    log(`starting containerd (node instance ${index}, namespace ${net.netns}, node IP ${net.nodeIp})`);
    // nsenter joins the namespace and execs: the pid is the daemon's own.
    const containerd = group.start(
      'containerd',
      'nsenter',
      inNetns(net, toolPath('containerd'), ['--config', p.containerdConfig]),
      env,
    );
    const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
    await waitWhileRunning('containerd', deadline, [containerd], async () => {
      if (!existsSync(p.containerdSocket)) return false;
      return ctr(p.containerdSocket, ['version']).then(
        () => true,
        () => false,
      );
    });
    await ctr(p.containerdSocket, ['-n', 'k8s.io', 'images', 'import', await archive]);

    const [kubeletPort = 0, healthzPort = 0] = await freePorts(2);
    for (const d of [p.kubeletRoot, p.kubeletCertDir, p.podLogsDir, p.volumePluginDir])
      mkdirSync(d, { recursive: true });
    writeFileSync(p.kubeletConfig, kubeletConfig(p, net, kubeletPort, healthzPort));
    log(`starting kubelet ${nodeName} on ${net.nodeIp}:${kubeletPort}`);
    const kubelet = group.start(
      'kubelet',
      'nsenter',
      inNetns(net, toolPath('kubelet'), [
        `--config=${p.kubeletConfig}`,
        `--kubeconfig=${p.nodeKubeconfig}`,
        `--root-dir=${p.kubeletRoot}`,
        `--cert-dir=${p.kubeletCertDir}`,
        `--hostname-override=${nodeName}`,
        `--node-ip=${net.nodeIp}`,
        `--node-labels=${REAL_NODE_LABEL}=true`,
        '--v=1',
      ]),
      env,
    );
    writeFileSync(p.kubeProxyConfig, kubeProxyConfig(p, net, nodeName));
    const kubeProxy = group.start(
      'kube-proxy',
      'nsenter',
      inNetns(net, toolPath('kube-proxy'), [`--config=${p.kubeProxyConfig}`, '--v=1']),
      env,
    );

    const kc = new KubeConfig();
    kc.loadFromFile(options.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await waitWhileRunning(`node ${nodeName} Ready`, deadline, [containerd, kubelet, kubeProxy], async () => {
      const node = await core.readNode({ name: nodeName }).catch(() => undefined);
      return node !== undefined && isSchedulable(node);
    });
    const endpoint =
      apiPort === undefined ? undefined : await publishApiServerEndpoint(kc, net.hostIp, apiPort);
    // Pods may use Services from their first second: wait for kube-proxy's first full sync.
    await waitWhileRunning('kube-proxy rules', deadline, [kubeProxy], () => kubeProxySynced(net));
    log(`node ${nodeName} ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);

    let stopping: Promise<void> | undefined;
    const stop = async () => {
      stopping ??= (async () => {
        // The kubelet first: it would restart the containers killed next.
        await stopProcess(kubelet, 10_000);
        if (endpoint) await withdrawApiServerEndpoint(kc, endpoint);
        destroyCgroupTree(net.cgroupName);
        await group.stop(10_000);
        cleanupNow();
        process.removeListener('exit', onExit);
        // Nothing left for a crash cleanup to find.
        rmSync(p.record, { force: true });
        await core.deleteNode({ name: nodeName }).catch(() => undefined);
        if (ownsDir) rmSync(dir, { recursive: true, force: true });
      })();
      return stopping;
    };

    return {
      nodeName,
      nodeIp: net.nodeIp,
      hostIp: net.hostIp,
      podSubnet: net.subnet,
      instance: index,
      dir,
      containerdAddress: p.containerdSocket,
      kubeletPort,
      trustRegistry: (registry) => writeHostsToml(p.certsDir, registry),
      pids: () => ({
        kubelet: kubelet.child.pid,
        kubeProxy: kubeProxy.child.pid,
        containerd: containerd.child.pid,
      }),
      stop,
    };
  } catch (err) {
    await group.stop(3_000);
    cleanupNow();
    process.removeListener('exit', onExit);
    if (ownsDir) rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** Takes a free instance, after cleaning the ones whose owners died. */
function claimFreeInstance(dir: string, log: (line: string) => void): number {
  cleanupDeadInstances(log);
  const { index } = claimInstance(dir);
  if (index !== undefined) return index;
  throw new Error(
    `every real-node instance on this machine (${NODE_INSTANCE_COUNT}) is in use ` +
      '(see /run/trivy-lookout/node-*.json): stop another cluster (`npm run cluster -- down`) first',
  );
}

function isSchedulable(node: V1Node): boolean {
  const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
  // The node lifecycle controller lifts this taint a moment after Ready; until then nothing schedules.
  const notReadyTaint = (node.spec?.taints ?? []).some((t) => t.key.startsWith('node.kubernetes.io/'));
  return ready && !notReadyTaint;
}

async function ctr(socket: string, args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(toolPath('ctr'), ['--address', socket, ...args], {
    timeout: 60_000,
    maxBuffer: 16 * 1024 * 1024,
  });
  return stdout;
}

async function stopProcess(proc: ManagedProcess, graceMs: number): Promise<void> {
  if (proc.hasExited()) return;
  proc.child.kill('SIGTERM');
  const result = await Promise.race([proc.exited, sleep(graceMs, 'timeout' as const)]);
  if (result === 'timeout') {
    proc.child.kill('SIGKILL');
    await proc.exited;
  }
}

const q = (s: string) => JSON.stringify(s);

/**
 * containerd 1.6 (config version 2). `restrict_oom_score_adj` is what makes pods run at all here:
 * these machines deny lowering oom_score_adj, which CRI otherwise asks for every sandbox.
 * Sockets, runc state and network namespaces stay below the run directory; only the shims'
 * sockets go to /run/containerd/s (fixed in 1.6), removed by the cleanup.
 */
function containerdConfig(p: ReturnType<typeof nodePaths>, _net: InstanceNetwork): string {
  const cri = 'plugins."io.containerd.grpc.v1.cri"';
  return [
    'version = 2',
    `root = ${q(p.containerdRoot)}`,
    `state = ${q(p.containerdState)}`,
    // Snapshotters that cannot work here only log errors at start.
    'disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]',
    '',
    '[grpc]',
    `  address = ${q(p.containerdSocket)}`,
    '[ttrpc]',
    `  address = ${q(`${p.containerdSocket}.ttrpc`)}`,
    '',
    '[plugins."io.containerd.internal.v1.opt"]',
    `  path = ${q(p.optDir)}`,
    `[${cri}]`,
    `  sandbox_image = ${q(PAUSE_IMAGE)}`,
    '  restrict_oom_score_adj = true',
    '  netns_mounts_under_state_dir = true',
    '  stream_server_address = "127.0.0.1"',
    '  stream_server_port = "0"',
    `[${cri}.containerd]`,
    '  snapshotter = "overlayfs"',
    '  default_runtime_name = "runc"',
    `[${cri}.containerd.runtimes.runc]`,
    '  runtime_type = "io.containerd.runc.v2"',
    `  runtime_path = ${q(toolPath('containerd-shim-runc-v2'))}`,
    `[${cri}.containerd.runtimes.runc.options]`,
    `  BinaryName = ${q(toolPath('runc'))}`,
    `  Root = ${q(p.runcRoot)}`,
    '  SystemdCgroup = false',
    `[${cri}.cni]`,
    `  bin_dir = ${q(CNI_BIN_DIR ?? '/usr/lib/cni')}`,
    `  conf_dir = ${q(p.cniConfDir)}`,
    '  max_conf_num = 1',
    `[${cri}.registry]`,
    `  config_path = ${q(p.certsDir)}`,
    '',
  ].join('\n');
}

/**
 * The kubelet as real-node.md found it to work here: cgroupfs on cgroup v1, its own directories,
 * images never garbage-collected (the imported pause image has no registry to come back from),
 * eviction only when the machine is really out of memory or disk, and anonymous AlwaysAllow
 * authorization because the harness API server calls the kubelet without a client certificate.
 */
function kubeletConfig(
  p: ReturnType<typeof nodePaths>,
  net: InstanceNetwork,
  port: number,
  healthz: number,
): string {
  return [
    'apiVersion: kubelet.config.k8s.io/v1beta1',
    'kind: KubeletConfiguration',
    `address: ${net.nodeIp}`,
    `port: ${port}`,
    'readOnlyPort: 0',
    'healthzBindAddress: 127.0.0.1',
    `healthzPort: ${healthz}`,
    'authentication:',
    '  anonymous:',
    '    enabled: true',
    '  webhook:',
    '    enabled: false',
    'authorization:',
    '  mode: AlwaysAllow',
    'cgroupDriver: cgroupfs',
    // Its own cgroup root per instance: two nodes on one machine must not share kubepods.
    `cgroupRoot: /${net.cgroupName}`,
    'failCgroupV1: false',
    'failSwapOn: false',
    `containerRuntimeEndpoint: unix://${p.containerdSocket}`,
    `podLogsDir: ${q(p.podLogsDir)}`,
    `volumePluginDir: ${q(p.volumePluginDir)}`,
    'imageGCHighThresholdPercent: 100',
    'imageGCLowThresholdPercent: 99',
    'evictionHard:',
    '  memory.available: 100Mi',
    '  nodefs.available: 1%',
    '  nodefs.inodesFree: 1%',
    '  imagefs.available: 1%',
    '  imagefs.inodesFree: 1%',
    'registerWithTaints:',
    `- key: ${REAL_NODE_TAINT.key}`,
    `  value: ${q(REAL_NODE_TAINT.value)}`,
    `  effect: ${REAL_NODE_TAINT.effect}`,
    // Tests pull several images at once; one at a time would only make them wait.
    'serializeImagePulls: false',
    'resolvConf: /etc/resolv.conf',
    '',
  ].join('\n');
}

/**
 * kube-proxy in iptables mode, inside the node's namespace (its chains are the namespace's alone).
 * Conntrack tunables are left as they are (0 = untouched): most are machine-wide and read-only
 * from a namespace. Its oomScoreAdj stays 0, as these machines refuse lowering it.
 */
function kubeProxyConfig(p: ReturnType<typeof nodePaths>, net: InstanceNetwork, nodeName: string): string {
  return [
    'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
    'kind: KubeProxyConfiguration',
    'mode: iptables',
    'clientConnection:',
    `  kubeconfig: ${q(p.nodeKubeconfig)}`,
    `hostnameOverride: ${q(nodeName)}`,
    `clusterCIDR: ${net.subnet}`,
    'healthzBindAddress: 127.0.0.1:10256',
    'metricsBindAddress: 127.0.0.1:10249',
    'oomScoreAdj: 0',
    'nodePortAddresses: [primary]',
    'conntrack:',
    '  maxPerCore: 0',
    '  min: 0',
    '  tcpEstablishedTimeout: 0s',
    '  tcpCloseWaitTimeout: 0s',
    '  udpTimeout: 0s',
    '  udpStreamTimeout: 0s',
    'iptables:',
    '  localhostNodePorts: false',
    '  minSyncPeriod: 0s',
    '',
  ].join('\n');
}

/** kube-proxy has written its Service chains, the `kubernetes` Service's among them. */
async function kubeProxySynced(net: InstanceNetwork): Promise<boolean> {
  const dump = await execFileAsync('nsenter', inNetns(net, 'iptables-save', ['-t', 'nat'])).then(
    (r) => r.stdout,
    () => '',
  );
  return dump.includes('default/kubernetes:https cluster IP') && dump.includes('-j KUBE-SEP-');
}

/**
 * containerd's per-host registry config: plain HTTP, or HTTPS verified with the registry's CA.
 * containerd 1.6 refuses a hosts.toml without a [host] table ("invalid `host` tree"), so the
 * registry is named both as the host and as the server (the fallback, otherwise https://host).
 */
function writeHostsToml(certsDir: string, registry: RegistryHostConfig): void {
  const hostDir = path.join(certsDir, registry.host);
  mkdirSync(hostDir, { recursive: true });
  const url = `${registry.scheme}://${registry.host}`;
  const ca = registry.caFile ? [`ca = ${q(registry.caFile)}`] : [];
  const lines = [
    `server = ${q(url)}`,
    ...ca,
    '',
    `[host.${q(url)}]`,
    '  capabilities = ["pull", "resolve"]',
    ...ca.map((l) => `  ${l}`),
  ];
  writeFileSync(path.join(hostDir, 'hosts.toml'), `${lines.join('\n')}\n`);
}
