import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION } from '../crds/index.ts';
import { FIRST_SEEN_ANNOTATION } from '../findings/index.ts';
import { isConflict, isNotFound, kubeError } from '../kube/index.ts';

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

/** Creates or replaces namespaced report objects, retrying on a write conflict. */
export class ReportWriter {
  private readonly api: CustomObjectsApi;

  constructor(kc: KubeConfig) {
    this.api = kc.makeApiClient(CustomObjectsApi);
  }

  async upsert(plural: string, report: ReportObject): Promise<void> {
    const { name, namespace } = report.metadata;
    const common = { group: API_GROUP, version: API_VERSION, namespace, plural };
    await this.replaceOrCreate(
      plural,
      report,
      { namespace, name },
      {
        get: () => this.api.getNamespacedCustomObject({ ...common, name }),
        replace: (body) => this.api.replaceNamespacedCustomObject({ ...common, name, body }),
        create: (body) => this.api.createNamespacedCustomObject({ ...common, body }),
      },
    );
  }

  /** Creates or replaces a cluster-scoped report object (ClusterSbomReport), retrying on a conflict. */
  async upsertCluster(plural: string, report: ClusterReportObject): Promise<void> {
    const { name } = report.metadata;
    const common = { group: API_GROUP, version: API_VERSION, plural };
    await this.replaceOrCreate(
      plural,
      report,
      { name },
      {
        get: () => this.api.getClusterCustomObject({ ...common, name }),
        replace: (body) => this.api.replaceClusterCustomObject({ ...common, name, body }),
        create: (body) => this.api.createClusterCustomObject({ ...common, body }),
      },
    );
  }

  /**
   * Replaces the object at the version just read, or creates it when there is none; a conflict
   * (someone wrote in between, or created it first) starts over, up to five times.
   */
  private async replaceOrCreate<T extends ReportObject | ClusterReportObject>(
    plural: string,
    report: T,
    where: Record<string, string>,
    api: { get(): Promise<unknown>; replace(body: T): Promise<unknown>; create(body: T): Promise<unknown> },
  ): Promise<void> {
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        const current = (await api.get()) as T;
        // First-seen stamps belong to the findings' history, not to this scan: keep them, and let
        // first-seen tracking adjust them to the new findings.
        const firstSeen = current.metadata.annotations?.[FIRST_SEEN_ANNOTATION];
        await api.replace({
          ...report,
          metadata: {
            ...report.metadata,
            ...(firstSeen === undefined
              ? {}
              : { annotations: { ...report.metadata.annotations, [FIRST_SEEN_ANNOTATION]: firstSeen } }),
            resourceVersion: current.metadata.resourceVersion,
          },
        });
        return;
      } catch (err) {
        if (isNotFound(err)) {
          try {
            await api.create(report);
            return;
          } catch (createErr) {
            if (!isConflict(createErr)) throw kubeError(createErr, `create ${plural}`, where);
            continue;
          }
        }
        if (!isConflict(err)) throw kubeError(err, `write ${plural}`, where);
      }
    }
    throw kubeError(new Error('too many conflicting writes'), `write ${plural}`, where);
  }

  /** The `.report` of an existing object, to copy the result of an image scanned for another workload. */
  async readReport(plural: string, namespace: string, name: string): Promise<unknown> {
    try {
      const obj = (await this.api.getNamespacedCustomObject({
        group: API_GROUP,
        version: API_VERSION,
        namespace,
        plural,
        name,
      })) as ReportObject;
      return obj.report;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw kubeError(err, `read ${plural}`, { namespace, name });
    }
  }

  async delete(plural: string, namespace: string, name: string): Promise<void> {
    try {
      await this.api.deleteNamespacedCustomObject({
        group: API_GROUP,
        version: API_VERSION,
        namespace,
        plural,
        name,
      });
    } catch (err) {
      if (!isNotFound(err)) throw kubeError(err, `delete ${plural}`, { namespace, name });
    }
  }
}
