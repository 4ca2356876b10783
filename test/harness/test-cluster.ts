import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { startControlPlane } from './control-plane.ts';
import { installCrds } from './crds.ts';

export interface TestCluster {
  readonly kubeconfigPath: string;
  readonly server: string;
  kubeConfig(): KubeConfig;
  /** Creates a fresh namespace (waiting for its default ServiceAccount) so tests never share state. */
  createNamespace(prefix: string): Promise<string>;
  /**
   * Stops the cluster if this test file started it. A shared cluster is left running, minus the
   * namespaces this file created: their workloads would otherwise keep loading the control plane
   * and land on later files' harness nodes.
   */
  release(): Promise<void>;
}

/**
 * The cluster for an integration test file. When the test script has started one shared cluster
 * (env TL_TEST_CLUSTER_DIR, written by `npm run cluster -- up`), tests reuse it; otherwise each
 * file starts its own, so a single test file can also be run on its own.
 */
export async function useTestCluster(): Promise<TestCluster> {
  const shared = process.env.TL_TEST_CLUSTER_DIR;
  if (shared && existsSync(path.join(shared, 'kubeconfig'))) {
    const kubeconfigPath = path.join(shared, 'kubeconfig');
    const kc = new KubeConfig();
    kc.loadFromFile(kubeconfigPath);
    return wrap(kubeconfigPath, kc, async (created) => {
      const core = kc.makeApiClient(CoreV1Api);
      // Not waited for: the namespace controller finishes while the next file starts.
      for (const name of created)
        await core.deleteNamespace({ name, propagationPolicy: 'Background' }).catch(() => {});
    });
  }
  const cp = await startControlPlane();
  try {
    await installCrds(cp.kubeConfig());
  } catch (err) {
    await cp.stop();
    throw err;
  }
  return wrap(cp.kubeconfigPath, cp.kubeConfig(), () => cp.stop());
}

let counter = 0;

function wrap(
  kubeconfigPath: string,
  kc: KubeConfig,
  release: (createdNamespaces: string[]) => Promise<void>,
): TestCluster {
  const core = kc.makeApiClient(CoreV1Api);
  const created: string[] = [];
  return {
    kubeconfigPath,
    server: kc.getCurrentCluster()?.server ?? '',
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
