/**
 * Writes infra assessment reports with server-side apply: one request creates or updates, with no
 * read-modify-write conflicts, and the fields we own are exactly the ones we send. (The config
 * audit's store replaces whole objects instead; see AuditReportStore.)
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { reportPath } from '../configaudit/index.ts';
import { kubeError, kubeRequestJson } from '../kube/index.ts';
import type { InfraReportObject } from './reports.ts';

const FIELD_MANAGER = 'trivy-lookout-infra-assessment';

export class InfraReportStore {
  constructor(private readonly kc: KubeConfig) {}

  async apply(report: InfraReportObject): Promise<void> {
    const { name, namespace } = report.metadata;
    try {
      await kubeRequestJson(this.kc, {
        method: 'PATCH',
        path: reportPath(report.kind, namespace, name),
        query: { fieldManager: FIELD_MANAGER, force: true },
        contentType: 'application/apply-patch+yaml',
        body: report,
      });
    } catch (err) {
      throw kubeError(err, `write ${report.kind}`, { namespace, name });
    }
  }
}
