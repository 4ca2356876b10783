/**
 * The /metrics handler. Until the report watches have listed once, a scrape is held (up to a bound
 * just under the scraper's timeout) and then, if still incomplete, answered 503: never a 200 whose
 * body lacks the finding series, which Prometheus would read as "every finding disappeared" (stale
 * markers, `absent()` firing). A held scrape that completes keeps Prometheus' view continuous
 * across a restart; a 503 is an honest failed scrape (`up` 0). See docs/benchmarks.md.
 *
 * A scrape takes a snapshot of the stored members (references only) and
 * streams them family by family. With gzip the members are written as they are: concatenated gzip
 * members form one valid gzip stream, so nothing is recompressed and the cost is proportional to the
 * bytes written. Without gzip each member is inflated on the way out. Either way the writer respects
 * backpressure and yields to the event loop every few milliseconds, so watches and health probes
 * keep being served during a large scrape.
 */
import { performance } from 'node:perf_hooks';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { MetricsHandler } from '../http/index.ts';
import {
  acceptsGzip,
  CONTENT_TYPES,
  ExpositionFormat,
  negotiateFormat,
  promTextToOpenMetrics,
} from './exposition.ts';
import type { Snapshot } from './store.ts';

/** Bytes gathered before one socket write: few syscalls, little memory per scrape. */
const BATCH_BYTES = 256 * 1024;
/** Longest stretch of synchronous work before the writer lets other callbacks run. */
const SLICE_MS = 8;

export type ContentEncoding = 'gzip' | 'identity';

export interface ScrapeHandlerOptions {
  /** The report families to write; called once per scrape. Undefined while caches are not synced. */
  snapshot(): Snapshot | undefined;
  /**
   * Resolves once snapshot() can answer (the watches have listed), or after `ms`; a scrape that
   * arrives before is held this long. Without it an incomplete store is answered 503 at once.
   */
  waitForSnapshot?(ms: number): Promise<void>;
  /**
   * Longest hold when the scraper does not say its timeout (Prometheus sends
   * X-Prometheus-Scrape-Timeout-Seconds; the hold ends a second before it). Default 10 s.
   */
  maxHoldMs?: number;
  /** Further gauge families as gzip members (valid in both formats), after the report families. */
  families?: () => readonly Buffer[];
  /** Series appended after the report families (the operator's own health metrics). */
  health?: Registry;
  /** Called after each completed scrape, for the exporter's own render-duration metric. */
  observe?(seconds: number, format: ExpositionFormat, encoding: ContentEncoding): void;
  log?: Logger;
}

class ClientGone extends Error {}

/** Buffers output into batches, writes them with backpressure, and time-slices the work. */
class Sink {
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private sliceStart = performance.now();
  private closed = false;

  constructor(
    private readonly res: Response,
    private readonly gzip: boolean,
  ) {
    res.once('close', () => {
      this.closed = true;
    });
  }

  /** Adds one gzip member (inflated when the client did not ask for gzip); true when a flush is due. */
  member(member: Buffer): boolean {
    const data = this.gzip ? member : gunzipSync(member);
    this.batch.push(data);
    this.batchBytes += data.length;
    return this.batchBytes >= BATCH_BYTES || performance.now() - this.sliceStart >= SLICE_MS;
  }

  text(text: string): void {
    const data = this.gzip ? gzipSync(Buffer.from(text, 'utf8')) : Buffer.from(text, 'utf8');
    this.batch.push(data);
    this.batchBytes += data.length;
  }

  async flush(): Promise<void> {
    if (this.closed) throw new ClientGone();
    if (this.batch.length > 0) {
      // Corked writes go out as one writev: no copy into a joined buffer, so a scrape allocates
      // next to nothing (large transient buffers would provoke full garbage collections).
      this.res.cork();
      let more = true;
      for (const data of this.batch) more = this.res.write(data);
      this.res.uncork();
      this.batch = [];
      this.batchBytes = 0;
      if (!more) await this.drain();
    }
    if (performance.now() - this.sliceStart >= SLICE_MS) await yieldToEventLoop();
    if (this.closed) throw new ClientGone();
    this.sliceStart = performance.now();
  }

  private drain(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.res.off('drain', done);
        this.res.off('close', done);
        resolve();
      };
      this.res.on('drain', done);
      this.res.on('close', done);
    });
  }
}

/** Default longest hold of a scrape that arrives before the report watches have listed. */
export const DEFAULT_MAX_HOLD_MS = 10_000;

/**
 * How long a scrape that arrives before the watches have listed may wait: until a second before
 * the scraper gives up (Prometheus says when in X-Prometheus-Scrape-Timeout-Seconds), at most
 * `max`, so its answer, complete or 503, still arrives.
 */
export function holdBudgetMs(timeoutHeader: string | string[] | undefined, max: number): number {
  const seconds = Number(Array.isArray(timeoutHeader) ? timeoutHeader[0] : timeoutHeader);
  if (!Number.isFinite(seconds) || seconds <= 0) return max;
  const ms = seconds * 1000;
  // Leave a second for writing the body (or a fifth of a short timeout).
  return Math.max(0, Math.min(max, ms - Math.min(1000, ms / 5)));
}

export function createScrapeHandler(options: ScrapeHandlerOptions): MetricsHandler {
  return async (req: Request, res: Response): Promise<void> => {
    const started = performance.now();
    const format = negotiateFormat(req.headers.accept);
    const gzip = acceptsGzip(req.headers['accept-encoding']);
    let snapshot = options.snapshot();
    if (!snapshot && options.waitForSnapshot) {
      const budget = holdBudgetMs(
        req.headers['x-prometheus-scrape-timeout-seconds'],
        options.maxHoldMs ?? DEFAULT_MAX_HOLD_MS,
      );
      await options.waitForSnapshot(budget);
      snapshot = options.snapshot();
    }
    if (!snapshot) {
      // A failed scrape, not an empty one: Prometheus marks the target down instead of reading
      // "no findings". Retry-After for other clients.
      res.status(503);
      res.setHeader('Content-Type', 'text/plain; charset=utf-8');
      res.setHeader('Cache-Control', 'no-store');
      res.setHeader('Retry-After', '5');
      res.end('report series incomplete: the report watches have not listed yet\n');
      return;
    }
    res.status(200);
    res.setHeader('Content-Type', CONTENT_TYPES[format]);
    res.setHeader('Cache-Control', 'no-store');
    res.setHeader('Vary', 'Accept, Accept-Encoding');
    if (gzip) res.setHeader('Content-Encoding', 'gzip');
    const sink = new Sink(res, gzip);
    try {
      for (const family of snapshot.families) {
        if (sink.member(family.header)) await sink.flush();
        for (const member of family.members()) {
          if (sink.member(member)) await sink.flush();
        }
      }
      for (const member of options.families?.() ?? []) {
        if (sink.member(member)) await sink.flush();
      }
      let tail = options.health ? await options.health.metrics() : '';
      if (format === ExpositionFormat.openMetrics) tail = `${promTextToOpenMetrics(tail)}# EOF\n`;
      if (tail) sink.text(tail);
      await sink.flush();
      res.end();
      options.observe?.((performance.now() - started) / 1000, format, gzip ? 'gzip' : 'identity');
    } catch (err) {
      if (err instanceof ClientGone) return;
      // Headers are gone: a truncated body must not look complete, so the connection is cut.
      options.log?.error({ err }, 'metrics scrape failed');
      res.destroy(err instanceof Error ? err : undefined);
    }
  };
}
