/**
 * Writes audit reports, namespaced or cluster-scoped, through the report client (one server-side
 * apply creates or updates; conflicts, size and errors are handled there).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { reportClient, type ReportClient } from '../crds/index.ts';
import type { AuditReportKind } from './kinds.ts';
import type { AuditReportObject } from './report.ts';

export class AuditReportStore {
  private readonly reports: ReportClient;

  constructor(kc: KubeConfig) {
    this.reports = reportClient(kc);
  }

  /**
   * Creates or updates the report. `known` (we believe it exists) no longer matters: an apply is one
   * request either way. Kept for the controller's call.
   */
  async upsert(report: AuditReportObject, _known = true): Promise<void> {
    await this.reports.apply(report);
  }

  async delete(kind: AuditReportKind, namespace: string | undefined, name: string): Promise<void> {
    await this.reports.delete(kind, namespace, name);
  }
}
