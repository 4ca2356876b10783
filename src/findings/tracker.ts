/**
 * The leader's part of first-seen tracking: whenever a report's findings change, decide the stamps
 * (stamps.ts) and write them into the report's annotation with a merge patch, which touches no
 * finding and races with no writer. Writes are retried with backoff; a report deleted meanwhile is
 * dropped. Newly seen findings are handed to `onNewFindings` once their stamps are stored.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { API_GROUP, API_VERSION, ReportKind } from '../crds/index.ts';
import { rfc3339Seconds } from '../reports/index.ts';
import {
  backoffDelay,
  Controller,
  isConflict,
  isNotFound,
  kubeRequestJson,
  type BackoffOptions,
  type RuntimeObserver,
} from '../kube/index.ts';
import { annotationDigest, FIRST_SEEN_ANNOTATION } from './first-seen.ts';
import type { AffectedRow, FindingsIndex, IndexedReport, ReportKey } from './findings-index.ts';
import { decideStamps } from './stamps.ts';

/** A report's findings first seen just now, for the webhook. */
export interface NewFindings {
  readonly namespace: string;
  readonly report: string;
  readonly findings: readonly (AffectedRow & { readonly firstSeen: string })[];
}

export interface FirstSeenTrackerOptions {
  readonly kc: KubeConfig;
  /** The operator namespace (where the baseline marker lives). */
  readonly namespace: string;
  readonly index: FindingsIndex;
  readonly log: Logger;
  /** Resolves once the index holds every report (the exporter's watch has listed). */
  readonly synced: () => Promise<void>;
  readonly onNewFindings?: (news: NewFindings) => void;
  readonly now?: () => number;
  readonly concurrency?: number;
  readonly backoff?: BackoffOptions;
  readonly runtime?: RuntimeObserver;
  /** Stores the annotation; by default a merge patch of the report through the API server. */
  readonly write?: (namespace: string, name: string, annotation: string) => Promise<void>;
  /** Where the baseline is recorded as taken; by default a ConfigMap in the operator namespace. */
  readonly baselineMarker?: BaselineMarker;
}

/**
 * Records that the baseline has been taken on this cluster. Deciding it from the reports alone
 * ("none carries stamps") would go wrong when a leader dies halfway through stamping the baseline:
 * its successor would see some stamps and announce every finding of the rest as new.
 */
export interface BaselineMarker {
  taken(): Promise<boolean>;
  record(): Promise<void>;
}

/** Name of the ConfigMap that records the baseline (in the operator namespace). */
export const BASELINE_CONFIGMAP = 'trivy-lookout-first-seen';

export function configMapBaselineMarker(kc: KubeConfig, namespace: string): BaselineMarker {
  const path = `/api/v1/namespaces/${namespace}/configmaps`;
  return {
    async taken() {
      try {
        await kubeRequestJson(kc, { path: `${path}/${BASELINE_CONFIGMAP}` });
        return true;
      } catch (err) {
        if (isNotFound(err)) return false;
        throw err;
      }
    },
    async record() {
      try {
        await kubeRequestJson(kc, {
          method: 'POST',
          path,
          body: {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            metadata: {
              name: BASELINE_CONFIGMAP,
              labels: { 'app.kubernetes.io/managed-by': 'trivy-lookout' },
            },
            data: {
              baselineTakenAt: new Date().toISOString(),
              about:
                'First-seen tracking took its baseline: findings present then were not announced as new. Delete this ConfigMap and the trivy-lookout.dev/first-seen annotations to take a new one.',
            },
          },
        });
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    },
  };
}

const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 1_000, maxMs: 60_000 };

export class FirstSeenTracker {
  /** One pass per report at a time (a second would decide before the first stored); failed writes retried with backoff. */
  private readonly controller: Controller<ReportKey>;
  /** Digests of annotation values written and not yet seen back through the watch. */
  private readonly written = new Map<ReportKey, string>();
  /** New findings decided but not yet stored, per report: sent once their write succeeds. */
  private readonly unsent = new Map<ReportKey, NewFindings>();
  private running = false;
  private unsubscribe: (() => void) | undefined;
  private readonly marker: BaselineMarker;
  /** Reports to stamp as baseline (not announced) until the baseline is recorded as taken. */
  private baselineKeys: Set<ReportKey> | undefined;
  private recordingBaseline = false;

  constructor(private readonly o: FirstSeenTrackerOptions) {
    this.marker = o.baselineMarker ?? configMapBaselineMarker(o.kc, o.namespace);
    this.controller = new Controller<ReportKey>({
      name: 'first-seen',
      keyOf: (key) => key,
      reconcile: (key) => this.process(key),
      workers: o.concurrency ?? 4,
      backoff: o.backoff ?? DEFAULT_BACKOFF,
      log: o.log,
      ...(o.runtime ? { observer: o.runtime } : {}),
    });
  }

  async start(): Promise<void> {
    this.running = true;
    await this.o.synced();
    const taken = await this.retrying('read the first-seen baseline marker', () => this.marker.taken());
    if (!this.running || taken === undefined) return;
    // On a cluster never tracked, what is there now is the baseline: recorded, never announced.
    // Reports that carry stamps already were stamped by a leader that stopped before it finished.
    if (!taken) {
      this.baselineKeys = new Set(
        [...this.o.index.values()].filter((r) => r.annotation === undefined).map((r) => r.key),
      );
    }
    this.o.log.info(
      { reports: this.o.index.size, baseline: this.baselineKeys?.size ?? 0 },
      taken
        ? 'first-seen tracking resumes from the reports\u2019 annotations'
        : 'first-seen tracking starts: the findings present now are the baseline, not announced',
    );
    this.unsubscribe = this.o.index.subscribe((key, report) => {
      if (report) this.enqueue(key);
      else this.forget(key);
    });
    for (const report of this.o.index.values()) this.enqueue(report.key);
    this.controller.start();
    this.recordBaselineWhenDone();
  }

  /** Runs `action` until it succeeds, with backoff; undefined once the tracker is stopped. */
  private async retrying<T>(what: string, action: () => Promise<T>): Promise<T | undefined> {
    for (let attempt = 0; this.running; attempt++) {
      try {
        return await action();
      } catch (err) {
        const delay = backoffDelay(attempt, this.o.backoff ?? DEFAULT_BACKOFF);
        this.o.log.warn({ err, retryInMs: delay }, `could not ${what}; retrying`);
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
    return undefined;
  }

  /** Once every baseline report is stamped, records the baseline as taken (retrying until it is). */
  private recordBaselineWhenDone(): void {
    if (!this.baselineKeys || this.baselineKeys.size > 0 || this.recordingBaseline || !this.running) return;
    this.recordingBaseline = true;
    void this.retrying('record the first-seen baseline', async () => {
      await this.marker.record();
      this.baselineKeys = undefined;
      this.o.log.info('first-seen baseline taken and recorded');
    }).finally(() => (this.recordingBaseline = false));
  }

  async stop(): Promise<void> {
    this.running = false;
    this.unsubscribe?.();
    await this.controller.stop();
  }

  /** Resolves when nothing is queued or being written (writes waiting for a retry do not count). */
  idle(): Promise<void> {
    return this.controller.idle();
  }

  private enqueue(key: ReportKey): void {
    if (this.running) this.controller.enqueue(key);
  }

  /** The report is gone: what was kept for it goes too (a queued pass finds nothing to do). */
  private forget(key: ReportKey): void {
    this.written.delete(key);
    this.unsent.delete(key);
    this.baselineDone(key);
  }

  private async process(key: ReportKey): Promise<void> {
    const report = this.o.index.get(key);
    if (!report) return;
    const baseline = this.baselineKeys?.has(key) ?? false;
    const nowSeconds = Math.floor((this.o.now ?? Date.now)() / 1000);
    const decision = decideStamps(this.o.index, report, nowSeconds, baseline);
    if (decision.fresh.length > 0) this.rememberNews(report, decision.fresh, nowSeconds);
    const digest = annotationDigest(decision.annotation);
    if (digest === report.annotation) this.written.delete(key);
    if (digest === report.annotation || digest === this.written.get(key)) {
      this.baselineDone(key);
      this.flushNews(key);
      return;
    }
    this.o.index.recordStamps(key, decision.stamps);
    if (decision.omitted > 0) {
      this.o.log.warn(
        { namespace: report.subject.namespace, report: report.subject.report, omitted: decision.omitted },
        'first-seen annotation full: the lowest-severity stamps are kept in memory only',
      );
    }
    // Set before writing: recordStamps above already re-queued this report, and that pass must
    // see the write as done rather than write the same value again.
    this.written.set(key, digest ?? '');
    try {
      await this.write(report, decision.annotation);
      this.baselineDone(key);
      this.flushNews(key);
    } catch (err) {
      // Deleted meanwhile: nothing to stamp or announce. The value stays noted as written, so the
      // pass our own recordStamps queued finds nothing to do; the watch's deletion forgets it.
      if (isNotFound(err)) {
        this.unsent.delete(key);
        this.baselineDone(key);
        return;
      }
      // Anything else is retried by the queue, with backoff.
      this.written.delete(key);
      throw err;
    }
  }

  private baselineDone(key: ReportKey): void {
    if (this.baselineKeys?.delete(key)) this.recordBaselineWhenDone();
  }

  private rememberNews(report: IndexedReport, slots: readonly number[], nowSeconds: number): void {
    const firstSeen = rfc3339Seconds(new Date(nowSeconds * 1000));
    const previous = this.unsent.get(report.key)?.findings ?? [];
    this.unsent.set(report.key, {
      namespace: report.subject.namespace,
      report: report.subject.report,
      findings: [...previous, ...slots.map((slot) => ({ ...this.o.index.row(report, slot), firstSeen }))],
    });
  }

  private flushNews(key: ReportKey): void {
    const news = this.unsent.get(key);
    this.unsent.delete(key);
    if (news && this.o.onNewFindings) this.o.onNewFindings(news);
  }

  private async write(report: IndexedReport, annotation: string): Promise<void> {
    const { namespace, report: name } = report.subject;
    if (this.o.write) return this.o.write(namespace, name, annotation);
    await kubeRequestJson(this.o.kc, {
      method: 'PATCH',
      path: `/apis/${API_GROUP}/${API_VERSION}/namespaces/${namespace}/${ReportKind.VulnerabilityReport.plural}/${name}`,
      // A merge patch under a manager of its own: the scanner's apply of the report leaves it alone.
      query: { fieldManager: 'trivy-lookout-first-seen' },
      contentType: 'application/merge-patch+json',
      body: { metadata: { annotations: { [FIRST_SEEN_ANNOTATION]: annotation } } },
    });
  }
}
