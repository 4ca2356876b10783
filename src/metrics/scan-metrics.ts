/**
 * Scan health, fed by the scanner: queue depth, running scans, durations, failures by reason, when
 * each image was last scanned successfully, and the age of the Trivy DB. Kept in the operator's
 * prom-client health registry; these are a few series per image at most.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

export const ScanOutcome = {
  succeeded: 'succeeded',
  failed: 'failed',
} as const;
export type ScanOutcome = (typeof ScanOutcome)[keyof typeof ScanOutcome];

/** Why a scan failed; a closed set so the failure counter's cardinality stays bounded. */
export const ScanFailureReason = {
  /** The Job ran past its deadline (`operator.scanJobTimeout`) or Trivy's own timeout. */
  timeout: 'timeout',
  /** The image could not be pulled (not found, ErrImagePull, ImagePullBackOff). */
  imagePull: 'image_pull',
  /** The registry refused the credentials. */
  registryAuth: 'registry_auth',
  /** Trivy exited with an error. */
  trivyError: 'trivy_error',
  /** Trivy's output could not be decoded or parsed. */
  invalidOutput: 'invalid_output',
  /** The scan pod was killed (OOMKilled, evicted, node lost). */
  podKilled: 'pod_killed',
  /** The scan Job could not be created. */
  jobCreate: 'job_create',
  /** The report could not be written (API error, too large). */
  reportWrite: 'report_write',
  other: 'other',
} as const;
export type ScanFailureReason = (typeof ScanFailureReason)[keyof typeof ScanFailureReason];

/** The databases Trivy downloads: the vulnerability DB and the Java index DB. */
export const TrivyDatabase = {
  vulnerabilities: 'trivy-db',
  javaIndex: 'trivy-java-db',
} as const;
export type TrivyDatabase = (typeof TrivyDatabase)[keyof typeof TrivyDatabase];

/** An image as the report metrics label it, so the series join with `trivy_image_vulnerabilities`. */
export interface ScannedImage {
  /** Registry host, e.g. `index.docker.io` (as the report's `registry.server`). */
  registry: string;
  /** Repository, e.g. `library/nginx` (as the report's `artifact.repository`). */
  repository: string;
  tag?: string;
  digest?: string;
}

export interface ScanFinished {
  /** The scanner's identity of the image (one per scan); what {@link ScanMetrics.forgetImage} takes. */
  key: string;
  image: ScannedImage;
  durationMs: number;
  outcome: ScanOutcome;
  /** Required for failures; ignored for successes. */
  reason?: ScanFailureReason;
  /** When the scan finished; defaults to now. */
  finishedAt?: Date | number;
}

const IMAGE_LABELS = ['image_registry', 'image_repository', 'image_tag', 'image_digest'] as const;
type ImageLabelName = (typeof IMAGE_LABELS)[number];

function imageLabels(image: ScannedImage): Record<ImageLabelName, string> {
  return {
    image_registry: image.registry,
    image_repository: image.repository,
    image_tag: image.tag ?? '',
    image_digest: image.digest ?? '',
  };
}

function seconds(at: Date | number): number {
  return (typeof at === 'number' ? at : at.getTime()) / 1000;
}

export class ScanMetrics {
  private readonly queuedGauge: Gauge;
  private readonly runningGauge: Gauge;
  private readonly duration: Histogram<'outcome'>;
  private readonly failures: Counter<'reason'>;
  private readonly lastSuccess: Gauge<ImageLabelName>;
  private readonly failing: Gauge<ImageLabelName | 'reason'>;
  /** Per image key: the labels its series carry and the reason its latest scan failed, if it did. */
  private readonly images = new Map<string, ImageSeries>();
  /** Build time (Unix seconds) per database. */
  private readonly databases = new Map<TrivyDatabase, number>();

  constructor(registry: Registry) {
    const registers = [registry];
    this.queuedGauge = new Gauge({
      name: 'trivy_lookout_scans_queued',
      help: 'Images waiting for a scan Job.',
      registers,
    });
    this.runningGauge = new Gauge({
      name: 'trivy_lookout_scans_running',
      help: 'Scan Jobs running now.',
      registers,
    });
    this.duration = new Histogram({
      name: 'trivy_lookout_scan_duration_seconds',
      help: 'Time from scan Job creation to result, by outcome.',
      labelNames: ['outcome'],
      buckets: [5, 10, 20, 30, 60, 120, 180, 300, 600, 1200],
      registers,
    });
    this.failures = new Counter({
      name: 'trivy_lookout_scan_failures_total',
      help: 'Scans that failed, by reason.',
      labelNames: ['reason'],
      registers,
    });
    // Every reason from the start, so rate() and increase() see the first failure of each.
    for (const reason of Object.values(ScanFailureReason)) this.failures.inc({ reason }, 0);
    this.lastSuccess = new Gauge({
      name: 'trivy_lookout_image_last_successful_scan_timestamp_seconds',
      help: 'When each image was last scanned successfully (Unix time).',
      labelNames: [...IMAGE_LABELS],
      registers,
    });
    this.failing = new Gauge({
      name: 'trivy_lookout_image_scan_failing',
      help: 'The latest scan of an image failed (1, with the reason); absent once one succeeds or nothing runs it.',
      labelNames: [...IMAGE_LABELS, 'reason'],
      registers,
    });
    const databases = () => this.databases;
    new Gauge({
      name: 'trivy_lookout_trivy_db_updated_timestamp_seconds',
      help: 'When each Trivy database in use was built (Unix time), by database; absent until known.',
      labelNames: ['db'],
      registers,
      collect() {
        this.reset();
        for (const [db, at] of databases()) this.set({ db }, at);
      },
    });
    new Gauge({
      name: 'trivy_lookout_trivy_db_age_seconds',
      help: 'Age of each Trivy database in use, by database; absent until known.',
      labelNames: ['db'],
      registers,
      collect() {
        this.reset();
        const now = Date.now() / 1000;
        for (const [db, at] of databases()) this.set({ db }, Math.max(0, now - at));
      },
    });
  }

  /** Images waiting for a scan, now. */
  queued(count: number): void {
    this.queuedGauge.set(count);
  }

  /** Scan Jobs running, now. */
  running(count: number): void {
    this.runningGauge.set(count);
  }

  scanFinished(scan: ScanFinished): void {
    this.duration.observe({ outcome: scan.outcome }, Math.max(0, scan.durationMs) / 1000);
    const known = this.images.get(scan.key);
    const labels = imageLabels(scan.image);
    const same = known !== undefined && sameLabels(known.labels, labels);
    // Labels can change for one key (a tag learnt later); the old series must not linger.
    if (known && !same) this.removeSeries(known);
    const entry: ImageSeries = { labels, failing: same ? known.failing : undefined };
    if (scan.outcome === ScanOutcome.succeeded) {
      if (entry.failing !== undefined) this.failing.remove({ ...labels, reason: entry.failing });
      entry.failing = undefined;
      this.lastSuccess.set(labels, seconds(scan.finishedAt ?? Date.now()));
    } else {
      const reason = scan.reason ?? ScanFailureReason.other;
      this.failures.inc({ reason });
      if (entry.failing !== undefined && entry.failing !== reason) {
        this.failing.remove({ ...labels, reason: entry.failing });
      }
      entry.failing = reason;
      this.failing.set({ ...labels, reason }, 1);
    }
    this.images.set(scan.key, entry);
  }

  /** The build time of a Trivy database the scans use (its metadata `UpdatedAt`). */
  dbUpdated(at: Date | number, db: TrivyDatabase = TrivyDatabase.vulnerabilities): void {
    this.databases.set(db, seconds(at));
  }

  /** Drops an image's series once no workload runs it, so the series set stays bounded. */
  forgetImage(key: string): void {
    const known = this.images.get(key);
    if (!known) return;
    this.removeSeries(known);
    this.images.delete(key);
  }

  private removeSeries(known: ImageSeries): void {
    this.lastSuccess.remove(known.labels);
    if (known.failing !== undefined) this.failing.remove({ ...known.labels, reason: known.failing });
  }
}

interface ImageSeries {
  labels: Record<ImageLabelName, string>;
  failing?: string;
}

function sameLabels(a: Record<ImageLabelName, string>, b: Record<ImageLabelName, string>): boolean {
  return IMAGE_LABELS.every((name) => a[name] === b[name]);
}
