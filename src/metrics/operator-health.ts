import { collectDefaultMetrics, Counter, Registry } from 'prom-client';
import type { RestartReason } from '../kube/index.ts';
import { RuntimeMetrics } from './runtime-metrics.ts';
import { ScanMetrics } from './scan-metrics.ts';
import { WebhookMetrics } from './webhook-metrics.ts';

/**
 * The operator's own health series (process, watches, scans, the exporter itself). Kept in a
 * prom-client registry: these are a few dozen series, where its convenience costs nothing. The
 * report exporter appends this registry's output to every scrape.
 */
export class OperatorHealthMetrics {
  readonly registry = new Registry();
  /** Scan queue, durations, failures, last successful scan per image, Trivy DB age (the scanner feeds it). */
  readonly scans: ScanMetrics;
  /** Webhook broadcast: sent, failed, dropped, queue depth, request durations (the leader feeds it). */
  readonly webhook: WebhookMetrics;
  /** The controllers' work queues and reconciles (workqueue_*, controller_runtime_*). */
  readonly runtime: RuntimeMetrics;
  private readonly watchRestarts: Counter<'watch' | 'reason'>;

  constructor() {
    // Under their usual names (process_resident_memory_bytes, nodejs_heap_size_used_bytes, …), so
    // the common process and Node.js dashboards and alerts find them; only the project's own
    // families carry the trivy_lookout_ prefix.
    collectDefaultMetrics({ register: this.registry });
    // Gauges named *_total fail `promtool check metrics`; each is the sum of the per-type gauge
    // prom-client also exports (nodejs_active_handles{type} and so on).
    for (const name of ['active_handles_total', 'active_requests_total', 'active_resources_total']) {
      this.registry.removeSingleMetric(`nodejs_${name}`);
    }
    this.watchRestarts = new Counter({
      name: 'trivy_lookout_watch_restarts_total',
      help: 'Watch connections that ended and were restarted, by watched resource and reason.',
      labelNames: ['watch', 'reason'],
      registers: [this.registry],
    });
    this.scans = new ScanMetrics(this.registry);
    this.webhook = new WebhookMetrics(this.registry);
    this.runtime = new RuntimeMetrics(this.registry);
  }

  watchRestarted(watch: string, reason: RestartReason): void {
    this.watchRestarts.inc({ watch, reason });
  }
}
