import { containerId, type ContainerId, type ContainerRef } from './plan.ts';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { MANAGED_BY_TRIVY_OPERATOR, ReportAnnotation, ReportKind, ReportLabel } from '../crds/index.ts';
import type { SbomReportData } from '../crds/index.ts';
import {
  buildExposedSecretReportData,
  buildSbomReportData,
  buildVulnerabilityReportData,
  clusterSbomReportName,
  parseTrivyImageResult,
  type TrimInfo,
  type TrivyImageResult,
} from '../reports/index.ts';
import { contentHash, isScannableKind, parseImageReference, reportMetadata } from '../workloads/index.ts';
import type { ScannableImage } from './images.ts';
import { ScanAnnotation } from './names.ts';
import type { ClusterReportObject, ReportObject, ReportWriter } from './report-writer.ts';
import { workloadKey, type Workload } from './workload-resolver.ts';

/** One container's image as the scanner needs it. */

/** Where a result goes: one workload container, with the workload labels its reports carry. */
export interface ReportTarget {
  workload: Workload;
  image: ScannableImage;
  /** Workload labels listed in `trivyOperator.reportResourceLabels`, copied onto the reports. */
  labels: Readonly<Record<string, string>>;
}

interface KnownResult {
  scannedAt: number;
  /** A report holding this image's result, to copy from. */
  source: { namespace: string; name: string };
}

const VULN = ReportKind.VulnerabilityReport.plural;
const SECRET = ReportKind.ExposedSecretReport.plural;
const SBOM = ReportKind.SbomReport.plural;
const CLUSTER_SBOM = ReportKind.ClusterSbomReport.plural;

/** The per-container report kinds an image scan writes. */
type ImageReportKind = 'VulnerabilityReport' | 'ExposedSecretReport' | 'SbomReport';
const PLURAL: Record<ImageReportKind, string> = {
  VulnerabilityReport: VULN,
  ExposedSecretReport: SECRET,
  SbomReport: SBOM,
};

/**
 * The report kinds the image scanners switched on write, in a fixed order (Trivy-Operator's
 * operator.vulnerabilityScannerEnabled, exposedSecretScannerEnabled, sbomGenerationEnabled). Empty:
 * no image is scanned.
 */
export function imageReportKinds(config: Config): ImageReportKind[] {
  const { operator } = config;
  return [
    ...(operator.vulnerabilityScannerEnabled ? (['VulnerabilityReport'] as const) : []),
    ...(operator.exposedSecretScannerEnabled ? (['ExposedSecretReport'] as const) : []),
    ...(operator.sbomGenerationEnabled ? (['SbomReport'] as const) : []),
  ];
}

/** The report kind whose objects index the results (the first written): its watch feeds {@link ScanResults.onReport}. */
export function indexReportKind(config: Config): ImageReportKind {
  return imageReportKinds(config)[0] ?? 'VulnerabilityReport';
}

/**
 * Scan results, held in the report objects themselves: this keeps only an index (which report holds
 * which image's result, and when it was made) and reads or writes the reports through the API.
 */
export class ScanResults {
  private readonly known = new Map<string, KnownResult>();
  /** Workload container → image key and report name of its current report. */
  private readonly reportOf = new Map<ContainerId, { key: string; name: string }>();
  /** Reports we delete ourselves, so their DELETED event is not taken for a user's re-scan request. */
  private readonly ownDeletes = new Set<string>();

  constructor(
    private readonly config: Config,
    private readonly writer: ReportWriter,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  knownResult(key: string): KnownResult | undefined {
    return this.known.get(key);
  }

  /** Forgets the result of an image (its report was deleted); true when one was known. */
  forgetResult(key: string): boolean {
    return this.known.delete(key);
  }

  hasCurrentReport(consumer: ContainerRef, key: string): boolean {
    return this.reportOf.get(containerId(consumer))?.key === key;
  }

  /**
   * Parses a finished scan and writes the reports of every switched-on kind for every consumer (and
   * the ClusterSbomReport of the image, when asked). `cycloneDx` is the scan's SBOM, when it made one.
   * Returns how many consumers got reports.
   */
  async fileResult(key: string, json: string, targets: ReportTarget[], cycloneDx?: string): Promise<number> {
    const result = parseTrivyImageResult(json);
    const now = new Date(this.now());
    const kinds = new Set(imageReportKinds(this.config));
    if (kinds.has('SbomReport') && cycloneDx === undefined && (result.results[0]?.packages ?? 0) > 0)
      this.log.warn({ image: key }, 'the scan made no SBOM (trivy convert failed); no SbomReport written');
    let written = 0;
    let source: KnownResult['source'] | undefined;
    for (const target of targets) {
      const { workload, image } = target;
      const imageRef = parseImageReference(image.ref);
      const options = {
        image: { ...imageRef, digest: image.digest ?? imageRef.digest },
        scannerVersion: this.config.trivy.tag,
        now,
      };
      const data: Partial<Record<ImageReportKind, unknown>> = {};
      if (kinds.has('VulnerabilityReport'))
        data.VulnerabilityReport = buildVulnerabilityReportData(result, {
          ...options,
          additionalFields: this.config.trivy.additionalVulnerabilityReportFields,
          severitySource: this.config.trivy.severitySource,
        });
      if (kinds.has('ExposedSecretReport'))
        data.ExposedSecretReport = buildExposedSecretReportData(result, options);
      if (kinds.has('SbomReport') && cycloneDx !== undefined)
        data.SbomReport = this.sbomData(key, result, cycloneDx, options);
      const name = await this.writeReports(target, key, now, data);
      if (data.SbomReport) await this.writeClusterSbom(data.SbomReport as SbomReportData);
      source ??= { namespace: workload.namespace, name };
      written += 1;
    }
    if (source) this.known.set(key, { scannedAt: now.getTime(), source });
    return written;
  }

  /** Copies the result of an image scanned for another workload into this one's reports. */
  async copyInto(target: ReportTarget, key: string): Promise<boolean> {
    const { workload, image } = target;
    const known = this.known.get(key);
    if (!known) return false;
    const data: Partial<Record<ImageReportKind, unknown>> = {};
    for (const kind of imageReportKinds(this.config)) {
      const report = (await this.writer.readReport(
        PLURAL[kind],
        known.source.namespace,
        known.source.name,
      )) as Record<string, unknown> | undefined;
      // An image without packages has no SBOM report; the others are always written.
      if (!report && kind !== 'SbomReport') return false;
      if (report) data[kind] = report;
    }
    // Same digest, possibly another tag or registry alias: the artifact says what this workload runs.
    const artifact = { repository: image.repository, tag: image.tag, digest: image.digest ?? '' };
    for (const [kind, report] of Object.entries(data) as [ImageReportKind, Record<string, unknown>][]) {
      data[kind] = {
        ...report,
        registry: { server: image.registry },
        artifact: { ...(report.artifact as Record<string, unknown>), ...artifact },
      };
    }
    await this.writeReports(target, key, new Date(known.scannedAt), data);
    if (data.SbomReport) await this.writeClusterSbom(data.SbomReport as SbomReportData);
    this.log.info(
      { workload: workloadKey(workload), container: image.container, image: key },
      'report copied from an earlier scan of the same image',
    );
    return true;
  }

  /** Deletes the reports of the workload's containers; throws when the API refuses (the caller retries). */
  async deleteReports(workload: Workload, containers: string[]): Promise<void> {
    for (const container of containers) {
      const meta = reportMetadata(workload, container, { specHash: '', ttlMs: null });
      this.ownDeletes.add(`${meta.namespace}/${meta.name}`);
      for (const kind of imageReportKinds(this.config))
        await this.writer.delete(PLURAL[kind], meta.namespace, meta.name);
    }
  }

  /**
   * Keeps the index current from the report watch (metadata only). Returns the consumer whose report
   * was deleted by someone else, if that is what happened.
   */
  onReport(type: 'ADDED' | 'MODIFIED' | 'DELETED', meta: KubernetesObject): ContainerRef | undefined {
    const m = meta.metadata;
    if (!m?.name || !m.namespace) return undefined;
    const consumer = consumerOfReport(meta);
    const id = consumer && containerId(consumer);
    const key = m.annotations?.[ScanAnnotation.imageKey];
    if (type === 'DELETED') {
      const own = this.ownDeletes.delete(`${m.namespace}/${m.name}`);
      if (id && this.reportOf.get(id)?.name === m.name) this.reportOf.delete(id);
      if (
        key &&
        this.known.get(key)?.source.name === m.name &&
        this.known.get(key)?.source.namespace === m.namespace
      ) {
        if (own) this.known.delete(key);
        else return consumer;
      }
      return own ? undefined : consumer;
    }
    if (!id || !key) return undefined;
    this.reportOf.set(id, { key, name: m.name });
    const scannedAt = Date.parse(m.annotations?.[ScanAnnotation.scannedAt] ?? '');
    if (Number.isFinite(scannedAt)) {
      const current = this.known.get(key);
      if (!current || current.scannedAt < scannedAt)
        this.known.set(key, { scannedAt, source: { namespace: m.namespace, name: m.name } });
    }
    return undefined;
  }

  /** The SBOM report data of an image, or undefined (no packages, or a BOM that cannot be read). */
  private sbomData(
    key: string,
    result: TrivyImageResult,
    cycloneDx: string,
    options: Parameters<typeof buildSbomReportData>[2],
  ): SbomReportData | undefined {
    try {
      return buildSbomReportData(result, cycloneDx, options);
    } catch (err) {
      this.log.warn({ image: key, err: (err as Error).message }, 'unreadable SBOM; no SbomReport written');
      return undefined;
    }
  }

  /** The image's ClusterSbomReport (operator.clusterSbomCacheEnabled), named as Trivy-Operator names it. */
  private async writeClusterSbom(data: SbomReportData): Promise<void> {
    if (!this.config.operator.clusterSbomCacheEnabled) return;
    const name = clusterSbomReportName(data);
    const object: ClusterReportObject = {
      apiVersion: 'aquasecurity.github.io/v1alpha1',
      kind: 'ClusterSbomReport',
      metadata: {
        name,
        labels: { 'resource-image-id': name, [ReportLabel.managedBy]: MANAGED_BY_TRIVY_OPERATOR },
      },
      report: data,
    };
    this.logTrimmed('ClusterSbomReport', name, await this.writer.upsertCluster(CLUSTER_SBOM, object));
  }

  /** The writer cuts a report to fit etcd (and annotates it); the cut is logged here. */
  private logTrimmed(kind: string, name: string, trimmed: TrimInfo | null): void {
    if (trimmed) this.log.warn({ report: name, kind, ...trimmed }, 'report trimmed to fit etcd');
  }

  private async writeReports(
    { workload, image, labels }: ReportTarget,
    key: string,
    scannedAt: Date,
    data: Partial<Record<ImageReportKind, unknown>>,
  ): Promise<string> {
    const metaFor = (ttlMs: number | null) =>
      reportMetadata(workload, image.container, {
        // What the report describes: this container's image at this digest.
        specHash: contentHash({ container: image.container, image: image.ref, digest: image.digest ?? null }),
        ttlMs,
        extraLabels: labels,
      });
    const meta = metaFor(this.config.operator.scannerReportTtlMs);
    for (const [kind, report] of Object.entries(data) as [ImageReportKind, unknown][]) {
      if (report === undefined) continue;
      // As Trivy-Operator: SbomReports carry no report-ttl (only its ClusterSbomReports expire).
      const { annotations: base, ...rest } = kind === 'SbomReport' ? metaFor(null) : meta;
      const annotations = {
        ...base,
        [ScanAnnotation.imageKey]: key,
        [ScanAnnotation.scannedAt]: scannedAt.toISOString(),
      };
      const object: ReportObject = {
        apiVersion: 'aquasecurity.github.io/v1alpha1',
        kind,
        metadata: {
          name: rest.name,
          namespace: rest.namespace,
          labels: rest.labels,
          annotations,
          ownerReferences: rest.ownerReferences,
        },
        report,
      };
      this.logTrimmed(kind, `${rest.namespace}/${rest.name}`, await this.writer.upsert(PLURAL[kind], object));
    }
    this.reportOf.set(containerId({ workload: workloadKey(workload), container: image.container }), {
      key,
      name: meta.name,
    });
    return meta.name;
  }
}

/** The workload container a report belongs to, from its labels. */
function consumerOfReport(meta: KubernetesObject): ContainerRef | undefined {
  const labels = meta.metadata?.labels ?? {};
  const kind = labels[ReportLabel.resourceKind];
  if (!isScannableKind(kind)) return undefined;
  const ns = labels[ReportLabel.resourceNamespace] ?? meta.metadata?.namespace;
  const name =
    labels[ReportLabel.resourceName] ?? meta.metadata?.annotations?.[ReportAnnotation.resourceName];
  const container = labels[ReportLabel.containerName];
  return ns && name && container
    ? { workload: workloadKey({ kind, namespace: ns, name }), container }
    : undefined;
}
