/**
 * Writes audit reports, namespaced or cluster-scoped, by create-or-replace with a retry on write
 * conflicts (the same approach as the scanner's report writer).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { isConflict, isNotFound, kubeError, kubeRequestJson } from '../kube/index.ts';
import { reportPath, type AuditReportKind } from './kinds.ts';
import type { AuditReportObject } from './report.ts';

export class AuditReportStore {
  constructor(private readonly kc: KubeConfig) {}

  /**
   * Creates or replaces the report. `known` = we believe it exists: then read-and-replace; else
   * create first (one request for a new report) and fall back to replacing on a conflict.
   */
  async upsert(report: AuditReportObject, known = true): Promise<void> {
    const { name, namespace } = report.metadata;
    const one = reportPath(report.kind, namespace, name);
    if (!known && (await this.create(report))) return;
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const current = await kubeRequestJson<{ metadata?: { resourceVersion?: string } }>(this.kc, {
          path: one,
        });
        await kubeRequestJson(this.kc, {
          method: 'PUT',
          path: one,
          body: {
            ...report,
            metadata: { ...report.metadata, resourceVersion: current.metadata?.resourceVersion },
          },
        });
        return;
      } catch (err) {
        if (isNotFound(err)) {
          if (await this.create(report)) return;
          continue;
        }
        if (!isConflict(err)) throw kubeError(err, `write ${report.kind}`, { namespace, name });
      }
    }
    throw kubeError(new Error('too many conflicting writes'), `write ${report.kind}`, { namespace, name });
  }

  /** Creates the report; false when one of that name exists already (a conflict). */
  private async create(report: AuditReportObject): Promise<boolean> {
    const { name, namespace } = report.metadata;
    try {
      await kubeRequestJson(this.kc, {
        method: 'POST',
        path: reportPath(report.kind, namespace),
        body: report,
      });
      return true;
    } catch (err) {
      if (!isConflict(err)) throw kubeError(err, `create ${report.kind}`, { namespace, name });
      return false;
    }
  }

  async delete(kind: AuditReportKind, namespace: string | undefined, name: string): Promise<void> {
    try {
      await kubeRequestJson(this.kc, { method: 'DELETE', path: reportPath(kind, namespace, name) });
    } catch (err) {
      if (!isNotFound(err)) throw kubeError(err, `delete ${kind}`, { namespace, name });
    }
  }
}
