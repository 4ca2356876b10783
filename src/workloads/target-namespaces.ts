import type { KubeConfig, V1Namespace } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { namespaceSelector, type Config } from '../config/index.ts';
import { ResourceWatcher, type RestartReason } from '../kube/index.ts';

/**
 * The namespaces whose workloads the operator looks after: the cluster's namespaces filtered by
 * `targetNamespaces` / `excludeNamespaces` globs, kept current by a watch (a namespace created
 * later that matches a glob is picked up without a restart). Holds names only.
 */
export class TargetNamespaces {
  private readonly names = new Set<string>();
  private readonly watcher: ResourceWatcher<V1Namespace>;
  private readonly selector;

  constructor(
    kc: KubeConfig,
    config: Pick<Config, 'targetNamespaces' | 'excludeNamespaces'>,
    log: Logger,
    onRestart?: (reason: RestartReason) => void,
  ) {
    this.selector = namespaceSelector(config);
    this.watcher = new ResourceWatcher<V1Namespace>(
      kc,
      { path: '/api/v1/namespaces', log: log.child({ watch: 'namespaces' }) },
      {
        onEvent: (type, ns) => {
          const name = ns.metadata?.name;
          if (!name) return;
          if (type === 'DELETED' || !this.selector.matches(name)) this.names.delete(name);
          else this.names.add(name);
        },
        onRestart,
      },
    );
  }

  get synced(): boolean {
    return this.watcher.synced;
  }

  has(namespace: string): boolean {
    return this.names.has(namespace);
  }

  list(): string[] {
    return [...this.names].sort();
  }

  start(): void {
    this.watcher.start();
  }

  waitForSync(): Promise<void> {
    return this.watcher.waitForSync();
  }

  stop(): Promise<void> {
    return this.watcher.stop();
  }
}
