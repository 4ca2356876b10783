import type { V1Namespace } from '@kubernetes/client-node';
import { namespaceSelector, type Config } from '../config/index.ts';
import type { Informers, Subscription } from '../kube/index.ts';

/**
 * The namespaces whose workloads the operator looks after: the cluster's namespaces filtered by
 * `targetNamespaces` / `excludeNamespaces` globs, kept current by a watch (a namespace created
 * later that matches a glob is picked up without a restart). Holds names only.
 */
export class TargetNamespaces {
  private readonly names = new Set<string>();
  private subscription: Subscription | undefined;
  private readonly selector;

  constructor(
    private readonly informers: Informers,
    config: Pick<Config, 'targetNamespaces' | 'excludeNamespaces'>,
  ) {
    this.selector = namespaceSelector(config);
  }

  get synced(): boolean {
    return this.subscription?.synced ?? false;
  }

  has(namespace: string): boolean {
    return this.names.has(namespace);
  }

  list(): string[] {
    return [...this.names].sort();
  }

  start(): void {
    this.subscription ??= this.informers.subscribe<V1Namespace>(
      'target-namespaces',
      { path: '/api/v1/namespaces' },
      (type, ns) => {
        const name = ns.metadata?.name;
        if (!name) return;
        if (type === 'DELETED' || !this.selector.matches(name)) this.names.delete(name);
        else this.names.add(name);
      },
      { metadataOnly: true },
    );
  }

  async waitForSync(): Promise<void> {
    this.start();
    await this.subscription?.waitForSync();
  }

  async stop(): Promise<void> {
    await this.subscription?.unsubscribe();
    this.subscription = undefined;
  }
}
