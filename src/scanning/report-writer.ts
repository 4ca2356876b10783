/**
 * The scanner's reports through the report client (src/crds/report-client.ts): applied, cut to fit
 * etcd by the kind's own rule (findings lowest severity first, an SBOM's components last listed
 * first), read and deleted. The first-seen annotation is not copied: it belongs to first-seen
 * tracking's field manager, and an apply keeps what another manager owns.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import {
  ReportKind,
  reportClient,
  type ReportClient,
  type ReportKindName,
  type SbomReportData,
} from '../crds/index.ts';
import {
  fitReportToLimit,
  fitSbomToLimit,
  trimmedAnnotation,
  TRIMMED_ANNOTATION,
  type FitResult,
  type TrimInfo,
} from '../reports/index.ts';

export interface ReportObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    ownerReferences?: unknown[];
    resourceVersion?: string;
  };
  report: unknown;
}

/** A cluster-scoped report object: no namespace, no owner. */
export interface ClusterReportObject {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    resourceVersion?: string;
  };
  report: unknown;
}

type ReportData = Parameters<typeof fitReportToLimit>[0];

/** How each kind's `.report` is cut to a byte budget. */
const FITS: Partial<Record<string, (data: unknown, maxBytes: number) => FitResult<unknown>>> = {
  VulnerabilityReport: (data, maxBytes) => fitReportToLimit(data as ReportData, maxBytes),
  ExposedSecretReport: (data, maxBytes) => fitReportToLimit(data as ReportData, maxBytes),
  SbomReport: (data, maxBytes) => fitSbomToLimit(data as SbomReportData, maxBytes),
  ClusterSbomReport: (data, maxBytes) => fitSbomToLimit(data as SbomReportData, maxBytes),
};

const KIND_OF_PLURAL = new Map<string, ReportKindName>(
  Object.entries(ReportKind).map(([kind, info]) => [info.plural, kind as ReportKindName]),
);

function kindOfPlural(plural: string): ReportKindName {
  const kind = KIND_OF_PLURAL.get(plural);
  if (!kind) throw new Error(`not a report plural: ${plural}`);
  return kind;
}

const byteLength = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** Writes, reads and deletes the scanner's report objects. */
export class ReportWriter {
  private readonly reports: ReportClient;

  /** `signal` ends the writes under way: the scanner stops. */
  constructor(kc: KubeConfig, signal?: AbortSignal) {
    this.reports = reportClient(kc, signal ? { signal } : {});
  }

  /** Creates or updates a namespaced report, cut to fit etcd; returns what was cut, or null. */
  async upsert(_plural: string, report: ReportObject): Promise<TrimInfo | null> {
    return this.write(report);
  }

  /** Creates or updates a cluster-scoped report (ClusterSbomReport), cut to fit etcd. */
  async upsertCluster(_plural: string, report: ClusterReportObject): Promise<TrimInfo | null> {
    return this.write(report);
  }

  private async write(report: ReportObject | ClusterReportObject): Promise<TrimInfo | null> {
    const fitData = FITS[report.kind];
    let trimmed: TrimInfo | null = null;
    await this.reports.apply(report, {
      fit: fitData
        ? (object, maxBytes) => {
            // The data gets what the rest of the object leaves of the budget.
            const rest = byteLength({ ...object, report: null });
            const fitted = fitData(object.report, maxBytes - rest);
            trimmed = fitted.trimmed;
            const note = trimmedAnnotation(fitted.trimmed)[TRIMMED_ANNOTATION] ?? null;
            return { object: { ...object, report: fitted.data }, note };
          }
        : undefined,
    });
    return trimmed;
  }

  /** The `.report` of an existing object, to copy the result of an image scanned for another workload. */
  async readReport(plural: string, namespace: string, name: string): Promise<unknown> {
    const object = await this.reports.get<ReportObject>(kindOfPlural(plural), namespace, name);
    return object?.report;
  }

  async delete(plural: string, namespace: string, name: string): Promise<void> {
    await this.reports.delete(kindOfPlural(plural), namespace, name);
  }
}
