/**
 * The report exporter: watches every report kind the enabled families need, keeps each report's
 * series pre-rendered in a SeriesStore, and serves them with the operator's health series appended.
 * Runs on every replica (no leader election): it only reads.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { namespaceSelector, type Config } from '../config/index.ts';
import { reportCollections, type ReportKindName } from '../crds/index.ts';
import type { FindingsIndex } from '../findings/index.ts';
import type { MetricsHandler, ReadinessCheck } from '../http/index.ts';
import type { InformerSource, Informers, Subscription } from '../kube/index.ts';
import { ExporterMetrics } from './exporter-metrics.ts';
import { buildLayout, familyOptionsFromConfig } from './families.ts';
import type { OperatorHealthMetrics } from './operator-health.ts';
import { createScrapeHandler } from './scrape.ts';
import { SeriesStore } from './store.ts';

export interface ReportMetricsOptions {
  /**
   * Reports per list page (default 100). Per request the API server pays a lot: at 10,000 reports
   * 20 per page took 131 s to list, 100 per page 18 s (docs/benchmarks.md). A report can be up to
   * 1.5 MiB (etcd's limit), so a page, and the one fetched ahead, stay well under 150 MiB each.
   */
  pageSize?: number;
  /** Also fed every VulnerabilityReport event (watched even when no vulnerability family is on). */
  findings?: FindingsIndex;
  /** Further gauge families, as gzip members, served after the report families. */
  families?: () => readonly Buffer[];
}

/** Longest stretch of report rendering before the watch handler yields to the event loop. */
const RENDER_SLICE_MS = 10;

export class ReportMetrics {
  readonly store: SeriesStore;
  /** Express handler for GET /metrics. */
  readonly handler: MetricsHandler;
  /** For /readyz: true once every report watch has delivered its first full list. */
  readonly readiness: ReadinessCheck;
  private readonly subscriptions: Subscription[] = [];
  private readonly kinds: Set<ReportKindName>;
  private readonly collections: { kind: ReportKindName; source: InformerSource }[];
  private readonly pageSize: number;
  private readonly findings: FindingsIndex | undefined;
  private sliceStart = performance.now();

  constructor(
    private readonly informers: Informers,
    config: Pick<Config, 'operator' | 'metrics' | 'targetNamespaces' | 'excludeNamespaces'>,
    private readonly log: Logger,
    health: OperatorHealthMetrics,
    options: ReportMetricsOptions = {},
  ) {
    const layout = buildLayout(familyOptionsFromConfig(config));
    if (layout.droppedResourceLabels.length > 0) {
      log.warn(
        { labels: layout.droppedResourceLabels },
        'resource labels not exported: their metric label names clash with other labels',
      );
    }
    const exporter = new ExporterMetrics(health.registry, () => this.store);
    const selector = namespaceSelector(config);
    const events = exporter.storeEvents((family, series, reports) =>
      log.warn({ family, series, reports }, 'reports emit the same series; exporting the first one only'),
    );
    this.store = new SeriesStore(layout, {
      namespaceFilter: selector.matches,
      events: {
        ...events,
        renderFailed: (kind, key, err) => {
          events.renderFailed?.(kind, key, err);
          log.error(
            { err, kind, report: key },
            'rendering a report into series failed; its series are dropped',
          );
        },
      },
    });

    this.findings = options.findings;
    this.kinds = new Set(layout.kinds);
    if (this.findings) this.kinds.add('VulnerabilityReport');
    this.collections = [...this.kinds].flatMap((kind) =>
      reportCollections(kind, selector.literalNamespaces).map((source) => ({ kind, source })),
    );
    this.pageSize = options.pageSize ?? 100;

    this.handler = createScrapeHandler({
      // Until every watch has listed once, report series would be partial (wrong sums, false
      // disappearances): a scrape is held until then (bounded) and otherwise fails with 503.
      snapshot: () => (this.synced ? this.store.snapshot() : undefined),
      ...(options.families ? { families: options.families } : {}),
      waitForSnapshot: (ms) => this.waitForSync(ms),
      health: health.registry,
      observe: (seconds, format, encoding) => exporter.scrapeFinished(seconds, format, encoding),
      log,
    });
    this.readiness = { name: 'report metrics caches', ready: () => this.synced };
  }

  get synced(): boolean {
    return this.subscriptions.length > 0 && this.subscriptions.every((s) => s.synced);
  }

  start(): void {
    const started = performance.now();
    if (this.subscriptions.length > 0) return;
    for (const { kind, source } of this.collections)
      this.subscriptions.push(
        this.informers.subscribe('report-metrics', source, (type, obj) => this.onEvent(kind, type, obj), {
          pageSize: this.pageSize,
        }),
      );
    void this.waitForSync().then(() => {
      // Re-compressing blocks of reports together starts once the first list is in, never during it.
      this.store.startPacking();
      this.log.info(
        {
          reports: Object.fromEntries(this.store.layout.kinds.map((k) => [k, this.store.reportCount(k)])),
          durationMs: Math.round(performance.now() - started),
        },
        'report metrics complete: every report watch has listed',
      );
    });
  }

  /** Resolves once every watch has listed, or after `timeoutMs` when given. */
  async waitForSync(timeoutMs?: number): Promise<void> {
    const synced = Promise.all(this.subscriptions.map((s) => s.waitForSync()));
    if (timeoutMs === undefined) {
      await synced;
      return;
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([synced, new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
    clearTimeout(timer);
  }

  async stop(): Promise<void> {
    this.store.stopPacking();
    await Promise.all(this.subscriptions.splice(0).map((s) => s.unsubscribe()));
  }

  private async onEvent(
    kind: ReportKindName,
    type: 'ADDED' | 'MODIFIED' | 'DELETED',
    obj: KubernetesObject,
  ): Promise<void> {
    if (this.store.layout.kinds.includes(kind)) this.store.apply(kind, type, obj);
    if (kind === 'VulnerabilityReport') this.findings?.apply(type, obj);
    // A list page of large reports is rendered back to back; let scrapes and probes in between.
    if (performance.now() - this.sliceStart >= RENDER_SLICE_MS) {
      await yieldToEventLoop();
      this.sliceStart = performance.now();
    }
  }
}
