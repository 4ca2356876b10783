import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import type { RestartReason } from '../kube/index.ts';

/**
 * The operator's own health series (process, watches). Kept in a prom-client registry: these are
 * a few dozen series, where its convenience costs nothing.
 */
export class OperatorHealthMetrics {
  readonly registry = new Registry();
  private readonly watchRestarts: Counter<'watch' | 'reason'>;

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'trivy_lookout_' });
    this.watchRestarts = new Counter({
      name: 'trivy_lookout_watch_restarts_total',
      help: 'Watch connections that ended and were restarted, by watched resource and reason.',
      labelNames: ['watch', 'reason'],
      registers: [this.registry],
    });
  }

  watchRestarted(watch: string, reason: RestartReason): void {
    this.watchRestarts.inc({ watch, reason });
  }
}
