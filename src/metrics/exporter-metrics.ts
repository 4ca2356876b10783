/**
 * The exporter's own health series, in the operator's prom-client registry: render duration,
 * warnings about malformed reports, duplicate and conflicting series, series and reports held,
 * report age, and compressed bytes held.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { ReportKindName } from '../crds/index.ts';
import type { ExpositionFormat } from './exposition.ts';
import type { ContentEncoding } from './scrape.ts';
import type { SeriesStore, StoreEvents } from './store.ts';

export class ExporterMetrics {
  private readonly renderDuration: Histogram<'format' | 'encoding'>;
  private readonly warnings: Counter<'kind' | 'warning'>;
  private readonly duplicates: Counter<'family' | 'scope'>;

  constructor(registry: Registry, store: () => SeriesStore | undefined) {
    const registers = [registry];
    this.renderDuration = new Histogram({
      name: 'trivy_lookout_metrics_render_duration_seconds',
      help: 'Time to write one /metrics response, by format and content encoding.',
      labelNames: ['format', 'encoding'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.warnings = new Counter({
      name: 'trivy_lookout_report_warnings_total',
      help: 'Malformed fields met while rendering reports into series (the series are still written), by report kind and problem.',
      labelNames: ['kind', 'warning'],
      registers,
    });
    this.duplicates = new Counter({
      name: 'trivy_lookout_metrics_duplicate_series_total',
      help: 'Series dropped because their label set was already emitted, within one report (scope=report) or by another report (scope=reports).',
      labelNames: ['family', 'scope'],
      registers,
    });
    new Gauge({
      name: 'trivy_lookout_metrics_series',
      help: 'Series each report-derived family has now.',
      labelNames: ['family'],
      registers,
      collect() {
        this.reset();
        const current = store();
        for (const family of current?.layout.families ?? [])
          this.set({ family: family.spec.name }, current?.seriesCount(family.id) ?? 0);
      },
    });
    new Gauge({
      name: 'trivy_lookout_metrics_series_conflicts',
      help: 'Label sets that more than one report emits now; only the first report is exported for each.',
      labelNames: ['family'],
      registers,
      collect() {
        this.reset();
        const current = store();
        for (const family of current?.layout.families ?? []) {
          if (family.spec.identity === 'content')
            this.set({ family: family.spec.name }, current?.conflictCount(family.id) ?? 0);
        }
      },
    });
    new Gauge({
      name: 'trivy_lookout_reports',
      help: 'Reports the exporter holds series for, by kind.',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        const current = store();
        for (const kind of current?.layout.kinds ?? []) this.set({ kind }, current?.reportCount(kind) ?? 0);
      },
    });
    new Gauge({
      name: 'trivy_lookout_report_max_age_seconds',
      help: 'Time since the least recently updated report of each kind was written.',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        const current = store();
        const now = Date.now();
        for (const kind of current?.layout.kinds ?? []) {
          const age = current?.maxReportAgeSeconds(kind, now);
          if (age !== undefined) this.set({ kind }, age);
        }
      },
    });
    new Gauge({
      name: 'trivy_lookout_metrics_stored_bytes',
      help: 'Compressed pre-rendered series held in memory.',
      registers,
      collect() {
        this.set(store()?.bytes ?? 0);
      },
    });
  }

  /** Store callbacks that feed the counters. */
  storeEvents(onConflict?: StoreEvents['conflict']): StoreEvents {
    return {
      warnings: (kind: ReportKindName, warning, count) => this.warnings.inc({ kind, warning }, count),
      duplicates: (family, scope, count) => this.duplicates.inc({ family, scope }, count),
      renderFailed: (kind) => this.warnings.inc({ kind, warning: 'render_error' }),
      conflict: onConflict,
    };
  }

  scrapeFinished(seconds: number, format: ExpositionFormat, encoding: ContentEncoding): void {
    this.renderDuration.observe({ format, encoding }, seconds);
  }
}
