import { existsSync } from 'node:fs';
import { KubeConfig } from '@kubernetes/client-node';
import { ErrorCodes, LookoutError } from '../errors/index.ts';

const inClusterTokenFile = '/var/run/secrets/kubernetes.io/serviceaccount/token';

/**
 * Credentials for the API server: an explicit kubeconfig file, else in-cluster service account,
 * else the usual KUBECONFIG / ~/.kube/config. Fails clearly when none names a cluster.
 */
export function loadKubeConfig(kubeconfigPath?: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    if (kubeconfigPath) kc.loadFromFile(kubeconfigPath);
    else if (process.env.KUBERNETES_SERVICE_HOST && existsSync(inClusterTokenFile)) kc.loadFromCluster();
    else kc.loadFromDefault();
  } catch (err) {
    throw new LookoutError(
      ErrorCodes.KUBE_CONFIG,
      `cannot load Kubernetes credentials${kubeconfigPath ? ` from ${kubeconfigPath}` : ''}: ${(err as Error).message}`,
      { cause: err },
    );
  }
  const cluster = kc.getCurrentCluster();
  if (!cluster?.server) {
    throw new LookoutError(
      ErrorCodes.KUBE_CONFIG,
      'no Kubernetes cluster configured: run in a pod, set KUBECONFIG, or pass --kubeconfig',
    );
  }
  return kc;
}
