import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { readClusterState } from './cluster-state.ts';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from './control-plane.ts';
import { installCrds } from './crds.ts';
import {
  registriesFromState,
  startNodeStack,
  type NodeInfo,
  type NodeStack,
  type NodeStackState,
  type RegistryInfo,
} from './node-stack.ts';
import type { RegistryFlavour } from './registry/index.ts';

export interface TestCluster {
  readonly kubeconfigPath: string;
  readonly server: string;
  /**
   * The real node (containerd + kubelet v1.34), when the cluster has one: the shared cluster
   * always does (unless started with --no-node), a file's own cluster when asked for
   * (`useTestCluster({ node: true })`). It is tainted: see realNodePlacement in ./node.
   */
  readonly node?: NodeInfo;
  /** The local registries on the node's bridge address, by flavour (with the node). */
  readonly registries?: Record<RegistryFlavour, RegistryInfo>;
  kubeConfig(): KubeConfig;
  /** The control plane, when this file started its own (not the shared one): see `controlPlane` below. */
  readonly controlPlane?: ControlPlane;
  /** Creates a fresh namespace (waiting for its default ServiceAccount) so tests never share state. */
  createNamespace(prefix: string): Promise<string>;
  /**
   * Stops the cluster if this test file started it. A shared cluster is left running, minus the
   * namespaces this file created: their workloads would otherwise keep loading the control plane
   * and land on later files' harness nodes.
   */
  release(): Promise<void>;
}

export interface TestClusterOptions {
  /**
   * This file needs the real node and the registries. The shared cluster has them already; a
   * file's own cluster (or a shared one started with --no-node) then starts them too, which costs
   * a few seconds. Default false.
   */
  node?: boolean;
  /**
   * A cluster of this file's own, started with these control plane options (an audit log, users
   * of its own, …), even when a shared cluster runs. Its control plane is `cluster.controlPlane`.
   */
  controlPlane?: ControlPlaneOptions;
}

/**
 * The cluster for an integration test file. When the test script has started one shared cluster
 * (env TL_TEST_CLUSTER_DIR, written by `npm run cluster -- up`), tests reuse it; otherwise each
 * file starts its own, so a single test file can also be run on its own.
 */
export async function useTestCluster(options: TestClusterOptions = {}): Promise<TestCluster> {
  const shared = process.env.TL_TEST_CLUSTER_DIR;
  if (shared && existsSync(path.join(shared, 'kubeconfig')) && !options.controlPlane) {
    const kubeconfigPath = path.join(shared, 'kubeconfig');
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    let stackState = readClusterState(shared)?.stack;
    let own: NodeStack | undefined;
    if (!stackState && options.node) {
      const clusterDir = mkdtempSync(path.join(os.tmpdir(), 'tl-stack-'));
      const stack = await startNodeStack({ kubeconfigPath, clusterDir });
      own = {
        ...stack,
        stop: async () => {
          await stack.stop();
          rmSync(clusterDir, { recursive: true, force: true });
        },
      };
      stackState = stack.state();
    }
    return wrap(kubeconfigPath, kc, stackState, async (created) => {
      const core = kc.makeApiClient(CoreV1Api);
      // Not waited for: the namespace controller finishes while the next file starts.
      for (const name of created)
        await core.deleteNamespace({ name, propagationPolicy: 'Background' }).catch(() => {});
      await own?.stop();
    });
  }
  const cp = await startControlPlane(options.controlPlane);
  let stack: NodeStack | undefined;
  try {
    const crds = installCrds(cp.kubeConfig());
    crds.catch(() => undefined); // awaited below
    if (options.node) stack = await startNodeStack({ kubeconfigPath: cp.kubeconfigPath, clusterDir: cp.dir });
    await crds;
  } catch (err) {
    await stack?.stop();
    await cp.stop();
    throw err;
  }
  return wrap(
    cp.kubeconfigPath,
    cp.kubeConfig(),
    stack?.state(),
    async () => {
      await stack?.stop();
      await cp.stop();
    },
    cp,
  );
}

let counter = 0;

function wrap(
  kubeconfigPath: string,
  kc: KubeConfig,
  stack: NodeStackState | undefined,
  release: (createdNamespaces: string[]) => Promise<void>,
  controlPlane?: ControlPlane,
): TestCluster {
  const core = kc.makeApiClient(CoreV1Api);
  const created: string[] = [];
  return {
    kubeconfigPath,
    server: kc.getCurrentCluster()?.server ?? '',
    ...(stack ? { node: stack.node, registries: registriesFromState(stack) } : {}),
    ...(controlPlane ? { controlPlane } : {}),
    kubeConfig: () => {
      const copy = new KubeConfig();
      copy.loadFromString(readFileSync(kubeconfigPath, 'utf8'));
      return copy;
    },
    async createNamespace(prefix: string) {
      counter += 1;
      const name = `${prefix}-${process.pid}-${counter}`.toLowerCase().slice(0, 63);
      await core.createNamespace({ body: { metadata: { name } } });
      created.push(name);
      // Pods are refused until the controller manager has created the default ServiceAccount.
      for (let i = 0; i < 200; i++) {
        try {
          await core.readNamespacedServiceAccount({ name: 'default', namespace: name });
          return name;
        } catch {
          await sleep(100);
        }
      }
      throw new Error(
        `namespace ${name}: default ServiceAccount never appeared (is kube-controller-manager running?)`,
      );
    },
    release: () => release(created),
  };
}
