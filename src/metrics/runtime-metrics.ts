import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ReconcileOutcome, RuntimeObserver, WorkQueueProbe } from '../kube/index.ts';

// Under the names client-go's workqueue and controller-runtime export (label `name` on the queue,
// `controller` on reconciles), so the dashboards and alerts people have for Go operators work here.
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** The controller runtime's queues and reconciles, as health series. */
export class RuntimeMetrics implements RuntimeObserver {
  private readonly probes = new Map<string, WorkQueueProbe>();
  private readonly adds: Counter<'name'>;
  private readonly retries: Counter<'name'>;
  private readonly queueDuration: Histogram<'name'>;
  private readonly workDuration: Histogram<'name'>;
  private readonly reconciles: Counter<'controller' | 'result'>;
  private readonly reconcileErrors: Counter<'controller'>;
  private readonly reconcileTime: Histogram<'controller'>;

  constructor(registry: Registry) {
    const registers = [registry];
    const probes = this.probes;
    new Gauge({
      name: 'workqueue_depth',
      help: 'Current depth of the work queue.',
      labelNames: ['name'],
      registers,
      collect() {
        this.reset();
        for (const [name, probe] of probes) this.set({ name }, probe.depth());
      },
    });
    new Gauge({
      name: 'workqueue_unfinished_work_seconds',
      help: 'Seconds of work in progress not yet observed by work_duration; large values mean stuck workers.',
      labelNames: ['name'],
      registers,
      collect() {
        this.reset();
        for (const [name, probe] of probes) this.set({ name }, probe.unfinished().totalSeconds);
      },
    });
    new Gauge({
      name: 'workqueue_longest_running_processor_seconds',
      help: 'How long the longest-running worker of the queue has been processing its key.',
      labelNames: ['name'],
      registers,
      collect() {
        this.reset();
        for (const [name, probe] of probes) this.set({ name }, probe.unfinished().longestSeconds);
      },
    });
    this.adds = new Counter({
      name: 'workqueue_adds_total',
      help: 'Keys added to the work queue.',
      labelNames: ['name'],
      registers,
    });
    this.retries = new Counter({
      name: 'workqueue_retries_total',
      help: 'Keys put back on the work queue after a failed reconcile.',
      labelNames: ['name'],
      registers,
    });
    this.queueDuration = new Histogram({
      name: 'workqueue_queue_duration_seconds',
      help: 'How long a key waited in the work queue before a worker took it.',
      labelNames: ['name'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: 'workqueue_work_duration_seconds',
      help: 'How long processing a key from the work queue took.',
      labelNames: ['name'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.reconciles = new Counter({
      name: 'controller_runtime_reconcile_total',
      help: 'Reconciles per controller and result (success, error, requeue_after).',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'controller_runtime_reconcile_errors_total',
      help: 'Reconciles that failed and will be retried, per controller.',
      labelNames: ['controller'],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: 'controller_runtime_reconcile_time_seconds',
      help: 'Duration of reconciles per controller.',
      labelNames: ['controller'],
      buckets: DURATION_BUCKETS,
      registers,
    });
  }

  controller(name: string, probe: WorkQueueProbe): ReturnType<RuntimeObserver['controller']> {
    this.probes.set(name, probe);
    // Zero series from the start, so rate() and absent() see the controller before its first event.
    this.adds.inc({ name }, 0);
    this.retries.inc({ name }, 0);
    this.reconcileErrors.inc({ controller: name }, 0);
    return {
      added: () => this.adds.inc({ name }),
      waited: (seconds) => this.queueDuration.observe({ name }, seconds),
      worked: (seconds) => this.workDuration.observe({ name }, seconds),
      retried: () => this.retries.inc({ name }),
      reconciled: (outcome: ReconcileOutcome, seconds: number) => {
        this.reconciles.inc({ controller: name, result: outcome });
        if (outcome === 'error') this.reconcileErrors.inc({ controller: name });
        this.reconcileTime.observe({ controller: name }, seconds);
      },
    };
  }
}
