import type { Logger } from 'pino';

/** A part of the operator that runs: started in order, stopped in reverse. */
export interface Component {
  readonly name: string;
  /** Resolves once the component runs (its caches synced, where it has any). */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** For /readyz; a component without it is ready once started. */
  synced?(): boolean;
}

/**
 * Runs a list of components: starts them one after another, remembers what has started, and stops
 * that in reverse order. A stop asked for while it starts stops what exists, the one starting
 * included (without waiting for its start, which may wait for an API server that never answers),
 * and starts no more.
 */
export class ComponentList {
  private readonly started: Component[] = [];
  private stopping = false;

  constructor(
    readonly name: string,
    private readonly components: readonly Component[],
    private readonly log: Logger,
  ) {}

  /** True when every component has started and is synced. */
  synced(): boolean {
    return this.started.length === this.components.length && this.started.every((c) => c.synced?.() ?? true);
  }

  /** For /readyz: nothing started (a replica that does not lead), or all of it started and synced. */
  idleOrSynced(): boolean {
    return this.started.length === 0 || this.synced();
  }

  async start(): Promise<void> {
    this.stopping = false;
    for (const component of this.components) {
      if (this.stopping) return;
      this.started.push(component);
      await component.start();
    }
  }

  async stop(): Promise<void> {
    this.stopping = true;
    for (const component of this.started.splice(0).reverse()) {
      const began = Date.now();
      await component.stop();
      // A slow shutdown names its culprit.
      this.log.info({ component: component.name, durationMs: Date.now() - began }, 'stopped');
    }
  }
}
