/**
 * Writes infra assessment reports with server-side apply: one request creates or updates, with no
 * read-modify-write conflicts, and the fields we own are exactly the ones we send.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION, ReportKind } from '../crds/index.ts';
import { isNotFound, kubeError, kubeRequestJson } from '../kube/index.ts';
import type { InfraReportKind, InfraReportObject } from './reports.ts';

const FIELD_MANAGER = 'trivy-lookout-infra-assessment';

export function infraReportPath(kind: InfraReportKind, namespace: string | undefined, name?: string): string {
  const ns =
    kind === 'InfraAssessmentReport' && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  const one = name === undefined ? '' : `/${encodeURIComponent(name)}`;
  return `/apis/${API_GROUP}/${API_VERSION}${ns}/${ReportKind[kind].plural}${one}`;
}

export class InfraReportStore {
  constructor(private readonly kc: KubeConfig) {}

  async apply(report: InfraReportObject): Promise<void> {
    const { name, namespace } = report.metadata;
    try {
      await kubeRequestJson(this.kc, {
        method: 'PATCH',
        path: infraReportPath(report.kind, namespace, name),
        query: { fieldManager: FIELD_MANAGER, force: true },
        contentType: 'application/apply-patch+yaml',
        body: report,
      });
    } catch (err) {
      throw kubeError(err, `write ${report.kind}`, { namespace, name });
    }
  }

  async delete(kind: InfraReportKind, namespace: string | undefined, name: string): Promise<void> {
    try {
      await kubeRequestJson(this.kc, { method: 'DELETE', path: infraReportPath(kind, namespace, name) });
    } catch (err) {
      if (!isNotFound(err)) throw kubeError(err, `delete ${kind}`, { namespace, name });
    }
  }
}
