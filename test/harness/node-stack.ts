/**
 * A real node plus the three local registries (plain HTTP, TLS, Basic auth) on the host's
 * address on the node's link, with containerd trusting each: what `npm run cluster -- up` and the shared test
 * cluster start beside the control plane. Its state is plain JSON so another process (a test
 * file using the shared cluster) can reach everything.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cleanupDeadInstances, cleanupStaleNode, startRealNode, type RealNode } from './node/index.ts';
import {
  REGISTRY_FLAVOURS,
  startRegistry,
  type Registry,
  type RegistryEndpoint,
  type RegistryFlavour,
} from './registry/index.ts';

export interface NodeInfo {
  name: string;
  /** The node's address (its bridge, inside its network namespace): the kubelet, the pods' gateway. */
  ip: string;
  /** The host's address on the node's link: the registries, and anything else on the host pods reach. */
  hostIp: string;
  podSubnet: string;
  instance: number;
  dir: string;
  /** containerd's socket, for `ctr --address … -n k8s.io`. */
  containerdAddress: string;
}

export interface RegistryInfo extends RegistryEndpoint {
  flavour: RegistryFlavour;
  scheme: 'http' | 'https';
  /** The TLS registry's self-signed certificate, as a file. */
  caFile?: string;
}

export interface NodeStackState {
  node: NodeInfo;
  registries: Record<RegistryFlavour, RegistryInfo>;
}

export interface NodeStack {
  readonly node: RealNode;
  readonly registries: Record<RegistryFlavour, Registry>;
  state(): NodeStackState;
  stop(): Promise<void>;
}

/** The node's and the registries' folders below a cluster's run directory. */
export function nodeStackDirs(clusterDir: string) {
  return {
    node: path.join(clusterDir, 'node'),
    registry: (flavour: RegistryFlavour) => path.join(clusterDir, 'registries', flavour),
  };
}

export async function startNodeStack(options: {
  kubeconfigPath: string;
  clusterDir: string;
  log?: (line: string) => void;
}): Promise<NodeStack> {
  const log = options.log ?? (() => {});
  const dirs = nodeStackDirs(options.clusterDir);
  const node = await startRealNode({ kubeconfigPath: options.kubeconfigPath, dir: dirs.node, log });
  const started: Registry[] = [];
  try {
    const registries = await Promise.all(
      REGISTRY_FLAVOURS.map(async (flavour) => {
        const registry = await startRegistry({
          flavour,
          host: node.hostIp,
          dir: dirs.registry(flavour),
          log,
        });
        started.push(registry);
        node.trustRegistry({
          host: registry.host,
          scheme: registry.scheme,
          ...(registry.caFile ? { caFile: registry.caFile } : {}),
        });
        return [flavour, registry] as const;
      }),
    );
    const byFlavour = Object.fromEntries(registries) as Record<RegistryFlavour, Registry>;
    return {
      node,
      registries: byFlavour,
      state: () => ({
        node: {
          name: node.nodeName,
          ip: node.nodeIp,
          hostIp: node.hostIp,
          podSubnet: node.podSubnet,
          instance: node.instance,
          dir: node.dir,
          containerdAddress: node.containerdAddress,
        },
        registries: Object.fromEntries(
          REGISTRY_FLAVOURS.map((f) => [f, registryInfo(byFlavour[f])]),
        ) as Record<RegistryFlavour, RegistryInfo>,
      }),
      async stop() {
        await Promise.all(started.map((r) => r.stop()));
        await node.stop();
      },
    };
  } catch (err) {
    await Promise.all(started.map((r) => r.stop()));
    await node.stop();
    throw err;
  }
}

function registryInfo(r: Registry): RegistryInfo {
  return {
    flavour: r.flavour,
    scheme: r.scheme,
    host: r.host,
    url: r.url,
    ...(r.credentials ? { credentials: r.credentials } : {}),
    ...(r.caFile ? { caFile: r.caFile } : {}),
  };
}

/** Registry endpoints from recorded state, with each CA read back from its file. */
export function registriesFromState(state: NodeStackState): Record<RegistryFlavour, RegistryInfo> {
  return Object.fromEntries(
    Object.entries(state.registries).map(([flavour, info]) => [
      flavour,
      { ...info, ...(info.caFile ? { caPem: readFileSync(info.caFile, 'utf8') } : {}) },
    ]),
  ) as Record<RegistryFlavour, RegistryInfo>;
}

/**
 * After a killed run: the node's host state (the registries die with their watchdogs), and that
 * of any other node whose process died (a killed test file's own node).
 */
export function clearStaleNodeStack(clusterDir: string, log?: (line: string) => void): void {
  cleanupStaleNode(nodeStackDirs(clusterDir).node, log);
  cleanupDeadInstances(log);
}
