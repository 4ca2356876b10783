/**
 * How a node in its own network namespace, and its pods, reach the harness API server, which
 * listens on the host's loopback only (so nothing outside this machine can):
 * - the kubelet and kube-proxy get a kubeconfig naming the host's address on the node's link,
 *   still verifying the certificate for the original name (it carries 127.0.0.1 as an IP SAN);
 * - the host sends TCP to that port arriving over the link on to loopback (network.ts,
 *   forwardApiServer);
 * - pods find the API server as in production, through the `kubernetes` Service, whose endpoint
 *   the harness publishes here: the control plane runs with `--endpoint-reconciler-type=none`
 *   because the address it would advertise (loopback) means nothing inside a pod.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { DiscoveryV1Api, type KubeConfig, type V1EndpointSlice } from '@kubernetes/client-node';
import yaml from 'js-yaml';

interface KubeconfigFile {
  clusters?: { name: string; cluster: Record<string, unknown> & { server?: string } }[];
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/**
 * Writes the node's copy of the admin kubeconfig. When the API server listens on loopback, the
 * copy points at `hostIp` and the port is returned (to be forwarded); otherwise it is unchanged.
 */
export function writeNodeKubeconfig(adminPath: string, outPath: string, hostIp: string): number | undefined {
  const config = yaml.load(readFileSync(adminPath, 'utf8')) as KubeconfigFile;
  let port: number | undefined;
  for (const { cluster } of config.clusters ?? []) {
    if (!cluster.server) continue;
    const url = new URL(cluster.server);
    if (!LOOPBACK.has(url.hostname)) continue;
    port = Number(url.port || 443);
    cluster['tls-server-name'] = url.hostname === 'localhost' ? 'localhost' : '127.0.0.1';
    url.hostname = hostIp;
    cluster.server = url.origin;
  }
  writeFileSync(outPath, yaml.dump(config), { mode: 0o600 });
  return port;
}

const SLICE = { name: 'kubernetes', namespace: 'default' } as const;
const MANAGED_BY = 'trivy-lookout-harness';

function isLocalAddress(ip: string): boolean {
  return Object.values(os.networkInterfaces()).some((list) => (list ?? []).some((a) => a.address === ip));
}

/**
 * Makes the `kubernetes` Service's endpoint `hostIp:port`, unless it already names another
 * address of this host (another node of the same cluster published it; any host address works
 * for every node, since the forwarding matches any local destination). Returns what this node
 * published, for withdrawApiServerEndpoint.
 */
export async function publishApiServerEndpoint(
  kc: KubeConfig,
  hostIp: string,
  port: number,
): Promise<{ hostIp: string } | undefined> {
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const existing = await discovery.readNamespacedEndpointSlice(SLICE).catch(() => undefined);
  const current = existing?.endpoints?.[0]?.addresses?.[0];
  if (current && current !== hostIp && isLocalAddress(current)) return undefined;
  const body: V1EndpointSlice = {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      ...SLICE,
      labels: {
        'kubernetes.io/service-name': 'kubernetes',
        'endpointslice.kubernetes.io/managed-by': MANAGED_BY,
      },
    },
    addressType: 'IPv4',
    endpoints: [{ addresses: [hostIp], conditions: { ready: true } }],
    ports: [{ name: 'https', port, protocol: 'TCP' }],
  };
  if (existing) {
    await discovery.replaceNamespacedEndpointSlice({
      ...SLICE,
      body: { ...body, metadata: { ...body.metadata, resourceVersion: existing.metadata?.resourceVersion } },
    });
  } else {
    await discovery.createNamespacedEndpointSlice({ namespace: SLICE.namespace, body });
  }
  return { hostIp };
}

/** Removes the endpoint this node published, if it still names this node's host address. */
export async function withdrawApiServerEndpoint(
  kc: KubeConfig,
  published: { hostIp: string },
): Promise<void> {
  const discovery = kc.makeApiClient(DiscoveryV1Api);
  const existing = await discovery.readNamespacedEndpointSlice(SLICE).catch(() => undefined);
  if (existing?.endpoints?.[0]?.addresses?.[0] !== published.hostIp) return;
  await discovery.deleteNamespacedEndpointSlice(SLICE).catch(() => undefined);
}
