/**
 * Writes infra assessment reports through the report client (server-side apply; conflicts, size and
 * errors are handled there). Reports written before under this store's own field manager
 * (`trivy-lookout-infra-assessment`) are adopted by the client's manager on their next write.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { reportClient, type ReportClient } from '../crds/index.ts';
import type { InfraReportObject } from './reports.ts';

export class InfraReportStore {
  private readonly reports: ReportClient;

  constructor(kc: KubeConfig) {
    this.reports = reportClient(kc);
  }

  async apply(report: InfraReportObject): Promise<void> {
    await this.reports.apply(report);
  }
}
