/**
 * The node's network: a Linux bridge of our own holding the node IP, pods on it through the CNI
 * bridge plugin, and nothing else. Addresses come from TEST-NET-2 (198.51.100.0/24, RFC 5737):
 * not loopback and not RFC 1918, because go-containerregistry (inside Trivy) silently talks plain
 * HTTP to private and loopback registries, which would make tests of Trivy-Operator's
 * nonSslRegistries/insecureRegistries settings prove nothing; and a bridge we own keeps all
 * traffic on this machine.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { bridgePorts, linkExists, run, tryRun } from './system.ts';

/**
 * The /25 halves of TEST-NET-2, then of TEST-NET-3 (203.0.113.0/24, also documentation-only):
 * `npm start`'s cluster and the test suite's run at once, and a test may add a node of its own.
 * (TEST-NET-1 is out: this machine's eth0 lives there.)
 */
const INSTANCE_NETS = ['198.51.100', '198.51.100', '203.0.113', '203.0.113'];
export const NODE_INSTANCE_COUNT = INSTANCE_NETS.length;

export interface InstanceNetwork {
  index: number;
  /** Bridge device, also the prefix of everything else this instance names on the host. */
  bridge: string;
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
  const bridge = `tlk${index}`;
  return {
    index,
    bridge,
    nodeIp: `${net}.${base + 1}`,
    subnet: `${net}.${base}/25`,
    prefixLength: 25,
    rangeStart: `${net}.${base + 2}`,
    rangeEnd: `${net}.${base + 126}`,
    cniNetwork: `trivy-lookout-${bridge}`,
    cgroupName: `trivy-lookout-${bridge}`,
  };
}

/** The bridge with the node IP, up. Without ports it has no carrier, but its address is local at once. */
export function createBridge(net: InstanceNetwork): void {
  if (linkExists(net.bridge)) deleteBridge(net);
  run('ip', ['link', 'add', net.bridge, 'type', 'bridge']);
  run('ip', ['addr', 'add', `${net.nodeIp}/${net.prefixLength}`, 'dev', net.bridge]);
  run('ip', ['link', 'set', net.bridge, 'up']);
}

/** Deletes the bridge and any pod veth still enslaved to it. */
export function deleteBridge(net: InstanceNetwork): void {
  for (const port of bridgePorts(net.bridge)) tryRun('ip', ['link', 'del', port]);
  if (linkExists(net.bridge)) tryRun('ip', ['link', 'del', net.bridge]);
}

/**
 * The CNI config containerd reads: the bridge plugin on our existing bridge (it already has the
 * gateway address, so no isGateway, which would also switch on IP forwarding host-wide), host-local
 * IPAM keeping its leases in our directory, a default route to the host, and no ipMasq or portmap:
 * pods only talk to the host, and no iptables rule is needed.
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
        hairpinMode: false,
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

/** The chains the kubelet creates on start (kubelet_network_linux.go), in every table it uses. */
export const KUBELET_CHAINS = ['KUBE-FIREWALL', 'KUBE-KUBELET-CANARY', 'KUBE-IPTABLES-HINT'];

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
 * Removes rules that mention any of `needles` (our bridge, our subnet) and, when `chains` is given,
 * those chains with every rule that jumps to them. Deletions go through iptables-restore
 * --noflush with the rule lines exactly as iptables-save printed them, so quoting survives.
 */
export function removeIptablesRules(needles: string[], chains: string[] = []): void {
  for (const family of FAMILIES) {
    const dump = tryRun(family.save, []);
    if (dump === undefined) continue;
    for (const table of parseSave(dump)) {
      const ours = table.chains.filter((c) => chains.includes(c));
      const doomed = table.rules.filter((rule) => {
        const tokens = rule.split(' ');
        const target = tokens[tokens.indexOf('-j') + 1];
        return (
          needles.some((n) => rule.includes(n)) ||
          (target !== undefined && ours.includes(target)) ||
          ours.includes(tokens[1] ?? '')
        );
      });
      if (doomed.length === 0 && ours.length === 0) continue;
      const script = [
        `*${table.name}`,
        ...doomed.map((rule) => `-D ${rule.slice(3)}`),
        ...ours.map((c) => `-X ${c}`),
        'COMMIT',
        '',
      ].join('\n');
      run(family.restore, ['--noflush'], script);
    }
  }
}
