/**
 * The node's network: a network namespace of its own per node, holding containerd, the kubelet,
 * kube-proxy, a bridge with the node IP and the pods' veths, joined to the host by one veth pair.
 * The namespace is what lets several clusters run on one machine with Services: kube-proxy owns
 * its iptables chains (KUBE-SERVICES …) outright, so each node's rules must live apart.
 *
 * Addresses are neither loopback nor RFC 1918, because go-containerregistry (inside Trivy)
 * silently talks plain HTTP to such registries, which would make tests of Trivy-Operator's
 * nonSslRegistries/insecureRegistries settings prove nothing. Pods get TEST-NET-2/3 addresses
 * (RFC 5737); the host end of the link, where registries listen and the API server is reached,
 * gets 198.18.<n>.1 (RFC 2544's benchmarking range). Nothing is routed off this machine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { linkExists, run, tryRun } from './system.ts';

/**
 * The /25 halves of TEST-NET-2, then of TEST-NET-3 (203.0.113.0/24, also documentation-only):
 * `npm start`'s cluster and the test suite's run at once, and a test may add a node of its own.
 * (TEST-NET-1 is out: this machine's eth0 lives there.)
 */
const INSTANCE_NETS = ['198.51.100', '198.51.100', '203.0.113', '203.0.113'];
export const NODE_INSTANCE_COUNT = INSTANCE_NETS.length;

export interface InstanceNetwork {
  index: number;
  /** The node's network namespace (`ip netns` name). */
  netns: string;
  /** The host's end of the link into the namespace; also the prefix of what this instance names on the host. */
  hostLink: string;
  /** The host's address on the link: registries listen here, and the API server is reached here. */
  hostIp: string;
  /** The namespace's address on the link: the host routes the pod subnet through it. */
  linkIp: string;
  /** Bridge device inside the namespace. */
  bridge: string;
  /** The bridge's address: the kubelet's node IP and the pods' gateway. */
  nodeIp: string;
  /** The pods' subnet, CIDR. */
  subnet: string;
  prefixLength: number;
  rangeStart: string;
  rangeEnd: string;
  /** CNI network name: host-local's and libcni's cache entries are keyed by it. */
  cniNetwork: string;
  /** The kubelet's cgroupRoot, created under every hierarchy. */
  cgroupName: string;
}

export function instanceNetwork(index: number): InstanceNetwork {
  if (!Number.isInteger(index) || index < 0 || index >= NODE_INSTANCE_COUNT) {
    throw new Error(`node instance ${index} out of range 0..${NODE_INSTANCE_COUNT - 1}`);
  }
  const net = INSTANCE_NETS[index] ?? '';
  const base = (index % 2) * 128;
  const hostLink = `tlk${index}`;
  return {
    index,
    netns: `trivy-lookout-${hostLink}`,
    hostLink,
    hostIp: `198.18.${index}.1`,
    linkIp: `198.18.${index}.2`,
    bridge: 'cni0',
    nodeIp: `${net}.${base + 1}`,
    subnet: `${net}.${base}/25`,
    prefixLength: 25,
    rangeStart: `${net}.${base + 2}`,
    rangeEnd: `${net}.${base + 126}`,
    cniNetwork: `trivy-lookout-${hostLink}`,
    cgroupName: `trivy-lookout-${hostLink}`,
  };
}

/** The namespace's path, for `nsenter --net=`. */
export const netnsPath = (net: InstanceNetwork) => `/run/netns/${net.netns}`;

/** Runs a command inside the node's network namespace only (mounts stay the host's, which containerd and the kubelet share). */
export function inNetns(net: InstanceNetwork, command: string, args: string[]): string[] {
  return [`--net=${netnsPath(net)}`, '--', command, ...args];
}

/**
 * The namespace, its link to the host and the bridge:
 * - host: `hostLink` with hostIp/30, a route to the pod subnet via linkIp, and route_localnet on
 *   that link only (the API server listens on loopback; see forwardApiServer);
 * - namespace: `eth0` with linkIp/30 and the default route to the host, the bridge with the node
 *   IP, and IP forwarding (per namespace: the host's own setting is untouched).
 */
export function createNodeNetwork(net: InstanceNetwork): void {
  deleteNodeNetwork(net);
  const ns = (args: string[]) => run('ip', ['-n', net.netns, ...args]);
  run('ip', ['netns', 'add', net.netns]);
  run('ip', ['link', 'add', net.hostLink, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', net.netns]);
  run('ip', ['addr', 'add', `${net.hostIp}/30`, 'dev', net.hostLink]);
  run('ip', ['link', 'set', net.hostLink, 'up']);
  writeFileSync(`/proc/sys/net/ipv4/conf/${net.hostLink}/route_localnet`, '1');
  ns(['link', 'set', 'lo', 'up']);
  ns(['addr', 'add', `${net.linkIp}/30`, 'dev', 'eth0']);
  ns(['link', 'set', 'eth0', 'up']);
  ns(['route', 'add', 'default', 'via', net.hostIp]);
  ns(['link', 'add', net.bridge, 'type', 'bridge']);
  ns(['addr', 'add', `${net.nodeIp}/${net.prefixLength}`, 'dev', net.bridge]);
  ns(['link', 'set', net.bridge, 'up']);
  run('nsenter', inNetns(net, 'sysctl', ['-qw', 'net.ipv4.ip_forward=1']));
  run('ip', ['route', 'add', net.subnet, 'via', net.linkIp, 'dev', net.hostLink]);
}

/** Removes the namespace (with its bridge and every veth in it) and the host's end of the link. */
export function deleteNodeNetwork(net: InstanceNetwork): void {
  if (netnsExists(net)) tryRun('ip', ['netns', 'delete', net.netns]);
  if (linkExists(net.hostLink)) tryRun('ip', ['link', 'del', net.hostLink]);
}

export function netnsExists(net: InstanceNetwork): boolean {
  return (tryRun('ip', ['netns', 'list']) ?? '').split('\n').some((l) => l.split(' ')[0] === net.netns);
}

/** Interfaces enslaved to the node's bridge (the pods' veths), seen from inside the namespace. */
export function bridgePorts(net: InstanceNetwork): string[] {
  const out = tryRun('ip', ['-n', net.netns, '-o', 'link', 'show', 'master', net.bridge]) ?? '';
  return out
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0])
    .filter((n): n is string => Boolean(n));
}

/**
 * Lets the node and its pods reach an API server that listens on the host's loopback: TCP to
 * `port` at any host address, arriving over this node's link, is sent to 127.0.0.1 (route_localnet
 * on the link allows it). The rule names the link, so the instance's cleanup removes it.
 */
export function forwardApiServer(net: InstanceNetwork, port: number): void {
  // prettier-ignore
  run('iptables', ['-t', 'nat', '-A', 'PREROUTING', '-i', net.hostLink, '-p', 'tcp', '-m', 'addrtype', '--dst-type', 'LOCAL', '--dport', String(port), '-j', 'DNAT', '--to-destination', `127.0.0.1:${port}`]);
}

/**
 * The CNI config containerd reads: the bridge plugin on the namespace's bridge (it already has the
 * gateway address), host-local IPAM keeping its leases in our directory, a default route via the
 * node IP, and no ipMasq or portmap: pods talk to each other and, through the namespace's routing,
 * to the host; Services are kube-proxy's.
 */
export function writeCniConfig(net: InstanceNetwork, confDir: string, ipamDataDir: string): void {
  mkdirSync(confDir, { recursive: true });
  mkdirSync(ipamDataDir, { recursive: true });
  const conf = {
    cniVersion: '1.0.0',
    name: net.cniNetwork,
    plugins: [
      {
        type: 'bridge',
        bridge: net.bridge,
        isGateway: false,
        isDefaultGateway: false,
        ipMasq: false,
        // A pod reaching itself through a Service comes back in on its own port.
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          dataDir: ipamDataDir,
          ranges: [
            [{ subnet: net.subnet, rangeStart: net.rangeStart, rangeEnd: net.rangeEnd, gateway: net.nodeIp }],
          ],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
    ],
  };
  writeFileSync(path.join(confDir, `10-${net.cniNetwork}.conflist`), JSON.stringify(conf, null, 2));
}

interface Family {
  save: string;
  restore: string;
}
const FAMILIES: Family[] = [
  { save: 'iptables-save', restore: 'iptables-restore' },
  { save: 'ip6tables-save', restore: 'ip6tables-restore' },
];

/** One table of an iptables-save dump: its chain names and rule lines. */
interface Table {
  name: string;
  chains: string[];
  rules: string[];
}

function parseSave(dump: string): Table[] {
  const tables: Table[] = [];
  let current: Table | undefined;
  for (const line of dump.split('\n')) {
    if (line.startsWith('*')) {
      current = { name: line.slice(1).trim(), chains: [], rules: [] };
      tables.push(current);
    } else if (current && line.startsWith(':')) {
      current.chains.push(line.slice(1).split(' ')[0] ?? '');
    } else if (current && line.startsWith('-A ')) {
      current.rules.push(line);
    }
  }
  return tables;
}

/** iptables rules (both families) as iptables-save prints them, without counters: for leftover checks. */
export function iptablesRules(): string[] {
  const out: string[] = [];
  for (const family of FAMILIES) {
    const dump = tryRun(family.save, []);
    if (dump === undefined) continue;
    for (const table of parseSave(dump)) {
      for (const chain of table.chains) out.push(`${family.save} ${table.name} :${chain}`);
      for (const rule of table.rules) out.push(`${family.save} ${table.name} ${rule}`);
    }
  }
  return out;
}

/**
 * Removes rules that mention any of `needles` (our link, our subnet). Deletions go through
 * iptables-restore --noflush with the rule lines exactly as iptables-save printed them, so quoting
 * survives.
 */
export function removeIptablesRules(needles: string[]): void {
  for (const family of FAMILIES) {
    const dump = tryRun(family.save, []);
    if (dump === undefined) continue;
    for (const table of parseSave(dump)) {
      const doomed = table.rules.filter((rule) => needles.some((n) => rule.includes(n)));
      if (doomed.length === 0) continue;
      const script = [`*${table.name}`, ...doomed.map((rule) => `-D ${rule.slice(3)}`), 'COMMIT', ''].join(
        '\n',
      );
      run(family.restore, ['--noflush'], script);
    }
  }
}
