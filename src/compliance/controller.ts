/**
 * The side of compliance that talks to the cluster. It watches ClusterComplianceReports, keeps a
 * node-cron task per report on that report's own `spec.cron` (replaced when the spec changes, no
 * restart needed), and on each tick evaluates the reports that are due (see schedule.ts) from the
 * audit reports on the API server, then writes their status. Like Trivy-Operator it only updates
 * reports that exist; the specs are installed with the chart or from deploy/compliance/.
 * Reports are reconciled by name on the controller runtime, in batches (one read of the input
 * reports for all that are due), so no report is ever evaluated twice at once, and a status write
 * that fails is retried with backoff instead of waiting for the next tick. Only the leader runs this.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import cron from 'node-cron';
import type { Logger } from 'pino';
import { namespaceSelector, type Config } from '../config/index.ts';
import {
  API_GROUP_VERSION,
  reportClient,
  reportObjectPath,
  type ClusterComplianceReport,
  type ComplianceReportStatus,
  type ReportClient,
} from '../crds/index.ts';
import {
  apiErrorMessage,
  Controller,
  isGone,
  isNotFound,
  kubeRequestJson,
  type Informers,
  type RuntimeObserver,
  type Subscription,
  type WatchEventType,
} from '../kube/index.ts';
import { rfc3339Seconds, TRIMMED_ANNOTATION } from '../reports/index.ts';
import { ComplianceTally } from './evaluate.ts';
import { readFailedChecks } from './inputs.ts';
import { dueAt, isDue, isValidCron, parseTimestamp, type ScheduleEntry } from './schedule.ts';
import { fitStatus, statusBudget } from './size.ts';
import { readComplianceSpec } from './spec.ts';

/** A source of ticks for one cron expression; `at` is the time the tick was scheduled for. */
export type CronScheduler = (cronExpression: string, onTick: (at: Date) => void) => { stop(): void };

/** node-cron, in UTC like the due-time calculation. */
export const nodeCronScheduler: CronScheduler = (cronExpression, onTick) => {
  const task = cron.schedule(cronExpression, (context) => onTick(context.date), { timezone: 'Etc/UTC' });
  return { stop: () => void task.destroy() };
};

export interface ComplianceControllerOptions {
  readonly kc: KubeConfig;
  readonly informers: Informers;
  readonly config: Config;
  readonly log: Logger;
  /** The clock; tests inject one. */
  readonly now?: () => Date;
  /** Where ticks come from; node-cron unless a test drives the ticks itself. */
  readonly scheduler?: CronScheduler;
  /** Input reports per list request. */
  readonly pageSize?: number;
  readonly runtime?: RuntimeObserver;
}

interface Known {
  entry: ScheduleEntry | undefined;
  cron: string;
  ticker: { stop(): void } | undefined;
}

/** Attempts at one evaluation when a list's continue token expires midway (410 Gone). */
const EVALUATION_ATTEMPTS = 2;

export class ComplianceController {
  private readonly known = new Map<string, Known>();
  private readonly now: () => Date;
  private readonly scheduler: CronScheduler;
  private readonly controller: Controller<string>;
  private subscription: Subscription | undefined;
  private readonly abort = new AbortController();
  private readonly namespaceIncluded: (namespace: string) => boolean;
  /** The latest scheduled tick time not yet evaluated; a tick may fire a moment before its time. */
  private tickAt = 0;
  private stopped = false;
  /** Writes the statuses (see `reports`). */
  private client: ReportClient | undefined;

  constructor(private readonly o: ComplianceControllerOptions) {
    this.now = o.now ?? (() => new Date());
    this.scheduler = o.scheduler ?? nodeCronScheduler;
    this.namespaceIncluded = namespaceSelector(o.config).matches;
    this.controller = new Controller<string>({
      name: 'compliance',
      keyOf: (name) => name,
      batch: {
        max: 1_000,
        delayMs: 50,
        groupOf: () => 'compliance',
        reconcile: (names) => this.evaluate(names),
      },
      log: o.log,
      ...(o.runtime ? { observer: o.runtime } : {}),
    });
  }

  get synced(): boolean {
    return this.subscription?.synced ?? false;
  }

  async start(): Promise<void> {
    this.subscription ??= this.o.informers.subscribe<ClusterComplianceReport>(
      'compliance',
      { path: reportObjectPath('ClusterComplianceReport') },
      (type, report) => this.onReport(type, report),
      // `all` reports can be large; a few per page.
      { pageSize: 10 },
    );
    await this.subscription.waitForSync();
    this.controller.start();
    this.o.log.info({ reports: this.known.size }, 'compliance reports synced');
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // The queue stops taking keys first, so that the requests aborted next are not retried.
    const stopping = this.controller.stop();
    this.abort.abort();
    for (const known of this.known.values()) known.ticker?.stop();
    this.known.clear();
    await this.subscription?.unsubscribe();
    await stopping;
  }

  /**
   * Evaluates every report that is due at the current time (or at `at`, the time a cron tick was
   * meant for, if later). Resolves when the queue has been worked off (failed writes wait for
   * their retry).
   */
  tick(at?: Date): Promise<void> {
    if (at) this.tickAt = Math.max(this.tickAt, at.getTime());
    for (const name of this.known.keys()) this.controller.enqueue(name);
    return this.controller.idle();
  }

  /** When each known report is next due (for logs and tests). */
  schedule(): Map<string, Date | undefined> {
    const result = new Map<string, Date | undefined>();
    for (const [name, known] of this.known) result.set(name, known.entry && dueAt(known.entry));
    return result;
  }

  private onReport(type: WatchEventType, report: ClusterComplianceReport): void {
    const name = report.metadata?.name;
    if (!name || this.stopped) return;
    const existing = this.known.get(name);
    if (type === 'DELETED') {
      existing?.ticker?.stop();
      this.known.delete(name);
      return;
    }
    const cronExpression = typeof report.spec?.cron === 'string' ? report.spec.cron.trim() : '';
    const known: Known = existing ?? { entry: undefined, cron: '', ticker: undefined };
    if (!existing || existing.cron !== cronExpression) {
      known.ticker?.stop();
      known.ticker = undefined;
      known.cron = cronExpression;
      if (isValidCron(cronExpression)) {
        known.ticker = this.scheduler(cronExpression, (at) => void this.tick(at));
        this.o.log.info({ report: name, cron: cronExpression }, 'compliance schedule set');
      } else {
        this.o.log.warn(
          { report: name, cron: cronExpression },
          'compliance report has no valid spec.cron; it is not evaluated',
        );
      }
    }
    const createdAt = parseTimestamp(report.metadata?.creationTimestamp) ?? this.now();
    const seen = parseTimestamp(report.status?.updateTimestamp);
    // Our own write may be known before the watch delivers it; never move the last run back.
    const previous = known.entry?.updatedAt;
    const updatedAt = previous && (!seen || previous > seen) ? previous : seen;
    known.entry = isValidCron(cronExpression)
      ? { cron: cronExpression, createdAt, ...(updatedAt ? { updatedAt } : {}) }
      : undefined;
    this.known.set(name, known);
    if (known.entry && isDue(known.entry, this.now())) this.controller.enqueue(name);
  }

  private currentTime(): Date {
    const now = this.now();
    return this.tickAt > now.getTime() ? new Date(this.tickAt) : now;
  }

  /** Evaluates the due reports among `names` together; returns those whose status write failed. */
  private async evaluate(names: string[]): Promise<{ failed: string[] }> {
    const failed: string[] = [];
    if (this.stopped) return { failed };
    const now = this.currentTime();
    const due = names.flatMap((name) => {
      const known = this.known.get(name);
      return known?.entry && isDue(known.entry, now) ? [[name, known] as const] : [];
    });
    if (due.length === 0) return { failed };
    const log = this.o.log;
    const startedAt = Date.now();

    // Fresh objects: the spec may have changed since the watch event that made them due.
    const reports: ClusterComplianceReport[] = [];
    for (const [name] of due) {
      try {
        reports.push(
          await kubeRequestJson<ClusterComplianceReport>(this.o.kc, {
            path: reportObjectPath('ClusterComplianceReport', undefined, name),
            signal: this.abort.signal,
          }),
        );
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
    }
    const specs = reports.flatMap((report) => {
      const reading = readComplianceSpec(report);
      if (reading.ok) return [{ report, spec: reading.spec }];
      log.warn(
        { report: report.metadata?.name, problems: reading.problems },
        'compliance report spec is invalid; not evaluated',
      );
      return [];
    });
    if (specs.length === 0) return { failed };

    const limit = this.o.config.compliance.failEntriesLimit;
    let tallies: ComplianceTally[] = [];
    for (let attempt = 1; ; attempt++) {
      tallies = specs.map(({ spec }) => new ComplianceTally(spec, { failEntriesLimit: limit }));
      const wanted = new Set(tallies.flatMap((tally) => [...tally.checkIds()]));
      try {
        for await (const failed of readFailedChecks(this.o.kc, {
          wanted: (id) => wanted.has(id),
          namespaceIncluded: this.namespaceIncluded,
          pageSize: this.o.pageSize ?? 100,
          signal: this.abort.signal,
        })) {
          for (const tally of tallies) tally.add(failed);
        }
        break;
      } catch (err) {
        // A continue token that expired mid-list: the pages read so far may overlap the next list.
        if (!isGone(err) || attempt >= EVALUATION_ATTEMPTS) throw err;
        log.info('input report list expired midway; reading again');
      }
    }
    if (this.stopped) return { failed };

    const updateTimestamp = rfc3339Seconds(this.now());
    for (const [index, { report, spec }] of specs.entries()) {
      const tally = tallies[index];
      if (!tally) continue;
      const evaluation = tally.result();
      try {
        await this.write(report, (current) => {
          const { status: _old, ...rest } = current;
          return fitStatus(evaluation, updateTimestamp, statusBudget(byteLength(rest)), limit);
        });
      } catch (err) {
        // One report failing to write does not keep the others stale; it is retried alone.
        log.error(
          { report: spec.reportName, err: apiErrorMessage(err) },
          'compliance status write failed; retrying',
        );
        failed.push(report.metadata?.name ?? spec.reportName);
        continue;
      }
      log.info(
        {
          report: spec.reportName,
          reportType: spec.reportType,
          passCount: evaluation.passCount,
          failCount: evaluation.failCount,
          manualCount: evaluation.manualCount,
          durationMs: Date.now() - startedAt,
        },
        'compliance report updated',
      );
    }
    return { failed };
  }

  /**
   * Writes the status (a server-side apply of the status subresource, through the report client) at
   * the version evaluated. When the report changed meanwhile the client reads it again and the status
   * is built again for it (its size budget depends on the object), unless the spec changed: this
   * result is for the old one, and the next tick redoes it. The trimmed annotation, set while the
   * detail is cut for size, travels with the status; the client keeps it on the object itself.
   */
  private async write(
    first: ClusterComplianceReport,
    build: (current: ClusterComplianceReport) => ReturnType<typeof fitStatus>,
  ): Promise<void> {
    const name = first.metadata?.name ?? '';
    const specText = JSON.stringify(first.spec);
    const body = (current: ClusterComplianceReport) => {
      const fitted = build(current);
      const note = fitted.cutForSize ? fitted.note : null;
      return {
        apiVersion: API_GROUP_VERSION,
        kind: 'ClusterComplianceReport' as const,
        metadata: {
          name,
          resourceVersion: current.metadata?.resourceVersion,
          ...(note === null ? {} : { annotations: { [TRIMMED_ANNOTATION]: note } }),
        },
        status: fitted.status,
      };
    };
    const written = await this.reports.applyStatus<ReturnType<typeof body>, ClusterComplianceReport>(
      body(first),
      { rebase: (current) => (JSON.stringify(current.spec) === specText ? body(current) : undefined) },
    );
    if (!written) return;
    this.recordRun(name, written.object.status);
    if (written.trimmed !== null) {
      this.o.log.warn({ report: name, note: written.trimmed }, 'compliance detail trimmed to fit etcd');
    }
  }

  /** The report client, made on first use; stop() ends its requests. */
  private get reports(): ReportClient {
    this.client ??= reportClient(this.o.kc, { signal: this.abort.signal });
    return this.client;
  }

  private recordRun(name: string, status: ComplianceReportStatus): void {
    const known = this.known.get(name);
    const updatedAt = parseTimestamp(status.updateTimestamp);
    if (known?.entry && updatedAt) known.entry = { ...known.entry, updatedAt };
  }
}

const byteLength = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');
