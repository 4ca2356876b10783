import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KubeConfig, V1Node, V1Pod, V1Taint } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { KubeHttpError, ResourceWatcher, kubeRequestJson } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import { selfSignedCert } from './cert.ts';
import { ImageDigests, type ImageIdFormat } from './images.ts';
import { startLogServer, type LogServer } from './log-server.ts';
import { PodRuntime, type RuntimeContext } from './pod-runtime.ts';
import { ProcessReaper } from './reaper.ts';
import { createStandInTrivy, type StandInTrivy, type StandInTrivyOptions } from './stand-in.ts';
import type { RunSpec, Runner } from './types.ts';

export interface HarnessNodeOptions {
  /** Extra labels (on top of kubernetes.io/os=linux, kubernetes.io/arch=amd64, kubernetes.io/hostname). */
  labels?: Record<string, string>;
  taints?: V1Taint[];
}

export interface HarnessKubeletOptions {
  /** Node names; default `<nodeNamePrefix>-1` … `<nodeNamePrefix>-<nodeCount>`. */
  nodeNames?: string[];
  /** Default 1. */
  nodeCount?: number;
  /** Default `harness-node`. */
  nodeNamePrefix?: string;
  /** Labels and taints for every node. */
  labels?: Record<string, string>;
  taints?: V1Taint[];
  /** Per-node labels and taints, by node name, added to the common ones. */
  nodes?: Record<string, HarnessNodeOptions>;
  /** Default cpu 8, memory 32Gi, pods 250, ephemeral-storage 100Gi. */
  capacity?: Record<string, string>;
  /**
   * Which pods run as processes, and how; the second argument is the default runner (Trivy-image
   * pods with the stand-in Trivy), to fall back on. Default: that runner alone.
   */
  runner?: (pod: V1Pod, standInTrivy: Runner) => RunSpec | undefined;
  /** The stand-in Trivy's images and behaviour (also reachable later through `kubelet.trivy`). */
  trivy?: StandInTrivyOptions;
  /** Image reference → `sha256:…` reported in imageID; others get a stable fake digest. */
  imageDigests?: Record<string, string>;
  /** Default `docker-pullable` (`docker-pullable://nginx@sha256:…`); `containerd` for `docker.io/library/nginx@sha256:…`. */
  imageIdFormat?: ImageIdFormat;
  /** PEM files for the log server; default a fresh self-signed pair (needs openssl). */
  servingCert?: { certFile: string; keyFile: string };
  /** Where pod directories, logs and the stand-in's files go; default a temporary folder removed on stop. */
  workDir?: string;
  /** Node Lease duration; default 40 s like the kubelet. */
  leaseDurationSeconds?: number;
  /** Lease renewal period; default 10 s (the kubelet's: a quarter of the duration). */
  leaseRenewIntervalMs?: number;
  /** Full node status refresh (Ready heartbeat); default 60 s, the lease alone keeps the node alive. */
  statusUpdateIntervalMs?: number;
  /** Wait until the node lifecycle controller has lifted the not-ready taint. Default true. */
  waitUntilSchedulable?: boolean;
  /** Default 60 s. */
  readyTimeoutMs?: number;
  /** Cap on the SIGTERM → SIGKILL wait when pods are deleted; default 5 s. */
  killGraceMs?: number;
  /** How often a container blocked on a missing Secret/ConfigMap retries; default 1 s. */
  configRetryMs?: number;
  /** Where the kubelet reports trouble (status writes failing, etc.); default silent. */
  logger?: Logger;
}

export interface HarnessKubelet {
  readonly nodeNames: readonly string[];
  /** Port of the HTTPS log server, the nodes' `daemonEndpoints.kubeletEndpoint.Port`. */
  readonly port: number;
  readonly workDir: string;
  /** The stand-in Trivy the default runner uses: change images with `setImage`, read `invocations()`. */
  readonly trivy: StandInTrivy;
  readonly digests: ImageDigests;
  /** Makes the runtime (and the stand-in's RepoDigests) report this digest for `ref` from now on. */
  setImageDigest(ref: string, digest: string): void;
  /** The imageID a container running `ref` reports. */
  imageId(ref: string): string;
  /** Container processes running now, across all pods. */
  processCount(): number;
  /** Kills every process, stops the watches, the heartbeat and the log server; deletes the Nodes (default). */
  stop(options?: { deleteNodes?: boolean }): Promise<void>;
}

const NODE_LEASE_NAMESPACE = 'kube-node-lease';
const HOST_IP = '127.0.0.1';
/** Taints the control plane puts on nodes it does not (yet) consider healthy. */
const HEALTH_TAINTS = new Set(['node.kubernetes.io/not-ready', 'node.kubernetes.io/unreachable']);

/** metav1.MicroTime: RFC 3339 with microseconds. */
function microTime(date = new Date()): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

function seconds(date = new Date()): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
}

/**
 * Plays the kubelet for one or more Nodes of a real control plane: registers them, keeps them
 * healthy (node Lease every 10 s, Ready heartbeat), runs the pods bound to them (runner pods as
 * local processes, every other pod reported Running with stable image digests), and serves
 * container logs over HTTPS so `pods/log` works through the API server.
 */
export async function startHarnessKubelet(
  kc: KubeConfig,
  options: HarnessKubeletOptions = {},
): Promise<HarnessKubelet> {
  const ownsWorkDir = options.workDir === undefined;
  const workDir = options.workDir ?? mkdtempSync(path.join(os.tmpdir(), 'harness-kubelet-'));
  mkdirSync(workDir, { recursive: true });
  const logger = options.logger ?? createLogger('silent');
  const nodeNames =
    options.nodeNames ??
    Array.from(
      { length: options.nodeCount ?? 1 },
      (_, i) => `${options.nodeNamePrefix ?? 'harness-node'}-${i + 1}`,
    );
  const capacity = options.capacity ?? {
    cpu: '8',
    memory: '32Gi',
    pods: '250',
    'ephemeral-storage': '100Gi',
  };
  const digests = new ImageDigests(options.imageDigests);
  const imageIdFormat = options.imageIdFormat ?? 'docker-pullable';
  const trivy = createStandInTrivy(path.join(workDir, 'stand-in-trivy'), digests, options.trivy);
  const runner: Runner = options.runner ? (pod) => options.runner?.(pod, trivy.runner) : trivy.runner;
  const reaper = new ProcessReaper(path.join(workDir, 'pids'));
  const pods = new Map<string, PodRuntime>();
  const byName = new Map<string, string>();
  const watchers: ResourceWatcher<V1Pod>[] = [];
  const timers: NodeJS.Timeout[] = [];
  let logServer: LogServer | undefined;
  let stopped = false;

  const ctx: RuntimeContext = {
    kc,
    digests,
    imageIdFormat,
    reaper,
    hostIP: HOST_IP,
    allocatable: capacity,
    basePath: [trivy.binDir],
    baseEnv: trivy.runSpec().env ?? {},
    defaultEntrypoint: (container) => trivy.runSpec().entrypoint?.(container),
    killGraceMs: options.killGraceMs ?? 5_000,
    configRetryMs: options.configRetryMs ?? 1_000,
    log: (message, details) => logger.warn({ component: 'harness-kubelet', ...details }, message),
  };

  const cleanup = async () => {
    stopped = true;
    for (const timer of timers) clearInterval(timer);
    await Promise.all(watchers.map((w) => w.stop()));
    await Promise.all([...pods.values()].map((pod) => pod.killAll(1_000)));
    for (const pod of pods.values()) pod.dispose();
    pods.clear();
    await logServer?.close();
    reaper.dispose();
  };

  try {
    const tls = options.servingCert
      ? {
          cert: readFileSync(options.servingCert.certFile, 'utf8'),
          key: readFileSync(options.servingCert.keyFile, 'utf8'),
        }
      : selfSignedCert(workDir);
    logServer = await startLogServer(tls, (namespace, name, container, previous) => {
      const uid = byName.get(`${namespace}/${name}`);
      const pod = uid === undefined ? undefined : pods.get(uid);
      if (!pod)
        return { status: 404, message: `pod "${name}" in namespace "${namespace}" is not on this node` };
      return pod.logSource(container, previous);
    });
    const port = logServer.port;

    const version = await kubeRequestJson<{ gitVersion?: string }>(kc, { path: '/version' }).catch(
      () => undefined,
    );
    const kubeletVersion = version?.gitVersion ?? 'v1.34.4';
    const readySince = new Map<string, string>();

    const nodeStatus = (name: string) => {
      const heartbeat = seconds();
      const since = readySince.get(name) ?? heartbeat;
      readySince.set(name, since);
      const condition = (type: string, status: string, reason: string, message: string) => ({
        type,
        status,
        reason,
        message,
        lastHeartbeatTime: heartbeat,
        lastTransitionTime: since,
      });
      return {
        addresses: [
          { type: 'InternalIP', address: HOST_IP },
          { type: 'Hostname', address: name },
        ],
        daemonEndpoints: { kubeletEndpoint: { Port: port } },
        capacity,
        allocatable: capacity,
        conditions: [
          condition(
            'MemoryPressure',
            'False',
            'KubeletHasSufficientMemory',
            'kubelet has sufficient memory available',
          ),
          condition('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
          condition(
            'PIDPressure',
            'False',
            'KubeletHasSufficientPID',
            'kubelet has sufficient PID available',
          ),
          condition('Ready', 'True', 'KubeletReady', 'kubelet is posting ready status'),
        ],
        nodeInfo: {
          machineID: 'harness',
          systemUUID: 'harness',
          bootID: `harness-${process.pid}`,
          kernelVersion: os.release(),
          osImage: 'trivy-lookout harness kubelet',
          containerRuntimeVersion: 'containerd://harness',
          kubeletVersion,
          kubeProxyVersion: '',
          operatingSystem: 'linux',
          architecture: 'amd64',
        },
      };
    };

    const patchNodeStatus = (name: string) =>
      kubeRequestJson<V1Node>(kc, {
        method: 'PATCH',
        path: `/api/v1/nodes/${name}/status`,
        contentType: 'application/merge-patch+json',
        body: { status: nodeStatus(name) },
      });

    const nodeUids = new Map<string, string>();
    for (const name of nodeNames) {
      const extra = options.nodes?.[name] ?? {};
      const labels = {
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'kubernetes.io/hostname': name,
        'beta.kubernetes.io/os': 'linux',
        'beta.kubernetes.io/arch': 'amd64',
        ...options.labels,
        ...extra.labels,
      };
      const taints = [...(options.taints ?? []), ...(extra.taints ?? [])];
      let node: V1Node;
      try {
        node = await kubeRequestJson<V1Node>(kc, {
          method: 'POST',
          path: '/api/v1/nodes',
          body: {
            apiVersion: 'v1',
            kind: 'Node',
            metadata: {
              name,
              labels,
              annotations: {
                'node.alpha.kubernetes.io/ttl': '0',
                'trivy-lookout.dev/harness-kubelet': 'true',
              },
            },
            spec: taints.length ? { taints } : {},
            status: nodeStatus(name),
          },
        });
      } catch (err) {
        if (!(err instanceof KubeHttpError && err.code === 409)) throw err;
        // Left by an earlier run: take it over, keeping the taints the control plane manages.
        const existing = await kubeRequestJson<V1Node>(kc, { path: `/api/v1/nodes/${name}` });
        const kept = (existing.spec?.taints ?? []).filter((t) => t.key.startsWith('node.kubernetes.io/'));
        node = await kubeRequestJson<V1Node>(kc, {
          method: 'PATCH',
          path: `/api/v1/nodes/${name}`,
          contentType: 'application/merge-patch+json',
          body: { metadata: { labels }, spec: { taints: [...kept, ...taints], unschedulable: null } },
        });
      }
      // The status subresource is the kubelet's way; a create may or may not have kept it.
      if (node.status?.daemonEndpoints?.kubeletEndpoint?.Port !== port || !node.status?.conditions?.length) {
        node = await patchNodeStatus(name);
      }
      nodeUids.set(name, node.metadata?.uid ?? '');
    }

    const leaseDuration = options.leaseDurationSeconds ?? 40;
    const renewLease = async (name: string) => {
      const leasePath = `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases`;
      const spec = { holderIdentity: name, leaseDurationSeconds: leaseDuration, renewTime: microTime() };
      try {
        await kubeRequestJson(kc, {
          method: 'PATCH',
          path: `${leasePath}/${name}`,
          contentType: 'application/merge-patch+json',
          body: { spec },
        });
      } catch (err) {
        if (!(err instanceof KubeHttpError && err.code === 404)) throw err;
        await kubeRequestJson(kc, {
          method: 'POST',
          path: leasePath,
          body: {
            apiVersion: 'coordination.k8s.io/v1',
            kind: 'Lease',
            metadata: {
              name,
              namespace: NODE_LEASE_NAMESPACE,
              // Owned by the Node, as the kubelet does, so deleting the Node removes it.
              ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name, uid: nodeUids.get(name) ?? '' }],
            },
            spec: { ...spec, acquireTime: spec.renewTime },
          },
        });
      }
    };
    const every = (intervalMs: number, what: string, action: (name: string) => Promise<unknown>) => {
      let busy = false;
      const timer = setInterval(() => {
        if (busy || stopped) return;
        busy = true;
        Promise.all(
          nodeNames.map((name) =>
            action(name).catch((err: unknown) => ctx.log(`${what} failed`, { node: name, err: String(err) })),
          ),
        ).finally(() => {
          busy = false;
        });
      }, intervalMs);
      timer.unref();
      timers.push(timer);
    };
    for (const name of nodeNames) await renewLease(name);
    every(options.leaseRenewIntervalMs ?? 10_000, 'node lease renewal', renewLease);
    every(options.statusUpdateIntervalMs ?? 60_000, 'node status update', patchNodeStatus);

    for (const nodeName of nodeNames) {
      const watcher = new ResourceWatcher<V1Pod>(
        kc,
        {
          path: '/api/v1/pods',
          fieldSelector: `spec.nodeName=${nodeName}`,
          watchTimeoutSeconds: 120,
          backoff: { initialMs: 100, maxMs: 2_000 },
          log: logger,
        },
        {
          onEvent: (type, pod) => {
            if (stopped) return;
            const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
            const uid = pod.metadata?.uid ?? byName.get(key);
            if (type === 'DELETED') {
              const runtime = uid === undefined ? undefined : pods.get(uid);
              if (!runtime) return;
              runtime.dispose();
              pods.delete(runtime.uid);
              if (byName.get(key) === runtime.uid) byName.delete(key);
              return;
            }
            if (!uid || pod.spec?.nodeName !== nodeName) return;
            let runtime = pods.get(uid);
            if (!runtime) {
              let spec;
              try {
                spec = runner(pod);
              } catch (err) {
                ctx.log('runner threw; the pod is only reported running', { pod: key, err: String(err) });
              }
              runtime = new PodRuntime(ctx, pod, workDir, spec);
              pods.set(uid, runtime);
              byName.set(key, uid);
              runtime.start();
            }
            runtime.observe(pod);
          },
        },
      );
      watcher.start();
      watchers.push(watcher);
    }
    await Promise.all(watchers.map((w) => w.waitForSync()));

    if (options.waitUntilSchedulable ?? true) {
      const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
      for (const name of nodeNames) {
        for (;;) {
          const node = await kubeRequestJson<V1Node>(kc, { path: `/api/v1/nodes/${name}` });
          const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
          const tainted = (node.spec?.taints ?? []).some((t) => HEALTH_TAINTS.has(t.key));
          if (ready && !tainted) break;
          if (Date.now() > deadline) {
            throw new Error(
              `node ${name} still not schedulable (taints: ${JSON.stringify(node.spec?.taints ?? [])}); ` +
                'the node lifecycle controller of kube-controller-manager lifts the not-ready taint — is it running?',
            );
          }
          await sleep(200);
        }
      }
    }

    return {
      nodeNames,
      port,
      workDir,
      trivy,
      digests,
      setImageDigest(ref, digest) {
        digests.set(ref, digest);
        trivy.refresh();
      },
      imageId: (ref) => digests.imageId(ref, imageIdFormat),
      processCount: () => [...pods.values()].reduce((sum, pod) => sum + pod.processCount, 0),
      async stop(stopOptions = {}) {
        if (stopped) return;
        await cleanup();
        if (stopOptions.deleteNodes ?? true) {
          for (const name of nodeNames) {
            await kubeRequestJson(kc, { method: 'DELETE', path: `/api/v1/nodes/${name}` }).catch(() => {});
            await kubeRequestJson(kc, {
              method: 'DELETE',
              path: `/apis/coordination.k8s.io/v1/namespaces/${NODE_LEASE_NAMESPACE}/leases/${name}`,
            }).catch(() => {});
          }
        }
        if (ownsWorkDir && !process.env.TL_KEEP_CLUSTER_DIR)
          rmSync(workDir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await cleanup();
    if (ownsWorkDir) rmSync(workDir, { recursive: true, force: true });
    throw err;
  }
}
