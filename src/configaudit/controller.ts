/**
 * Event-driven config audit and RBAC assessment. Watches every audited kind, keeps one hash per
 * object (never the object), and queues an object when its report is missing or carries another
 * spec or policy hash. Queued objects are taken in batches of one kind by the controller runtime,
 * fetched, and audited by one Trivy run; the results become reports owned by the objects. Custom
 * policies come from a watched ConfigMap; a change re-audits exactly the kinds whose policy hash
 * it changed.
 */
import type { KubeConfig, KubernetesObject, V1ConfigMap, V1ObjectMeta } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { ReportLabel, reportObjectPath } from '../crds/index.ts';
import { ErrorCodes, isLookoutError } from '../errors/index.ts';
import {
  Controller,
  isNotFound,
  kubeError,
  kubeRequestJson,
  WorkloadEvents,
  type Informers,
  type RuntimeObserver,
  type SubscriptionGroup,
} from '../kube/index.ts';
import {
  SCANNER_MANAGED_BY_VALUES,
  SkipReason,
  hasSkipLabel,
  asWorkload,
  contentHash,
  reportExtraLabels,
  skipReason,
  type TargetNamespaces,
  type WorkloadObject,
  type WorkloadObjectKind,
} from '../workloads/index.ts';
import { toChecks } from './checks.ts';
import { withReusedConnections } from './connections.ts';
import { TrivyConfigEngine, type Manifest } from './engine.ts';
import type { TrivyMisconfiguration } from './trivy-output.ts';
import { auditedKinds, collectionPath, objectPath, type AuditedKind, type AuditReportKind } from './kinds.ts';
import {
  EMPTY_POLICY_SET,
  parsePolicyConfigMap,
  policiesFor,
  policyHash,
  withoutRejected,
  type PolicySet,
} from './policies.ts';
import { auditReportName, buildAuditReport, type AuditTarget } from './report.ts';
import { AuditReportStore } from './report-store.ts';
import { specHashOf } from './spec-hash.ts';

export interface ConfigAuditControllerOptions {
  kc: KubeConfig;
  config: Config;
  log: Logger;
  namespaces: TargetNamespaces;
  informers: Informers;
  /** The engine; default: the Trivy binary of `operator.configAuditTrivyBinary`. */
  engine?: TrivyConfigEngine;
  /** Counts the queue and the reconciles (the workqueue and controller-runtime metrics). */
  runtime?: RuntimeObserver;
}

/** Hashes a report carries, keyed by `reportKind/namespace/name`. */
interface ReportHashes {
  readonly spec: string;
  readonly policy: string;
}

/** An audited object: the work queue's key. */
interface AuditKey {
  readonly kind: string;
  /** '' for a cluster-scoped kind. */
  readonly namespace: string;
  readonly name: string;
}

function auditKeyId(key: AuditKey): string {
  return `${key.kind}/${key.namespace}/${key.name}`;
}

function auditKeyOf(kind: AuditedKind, metadata: V1ObjectMeta | undefined): AuditKey {
  return {
    kind: kind.kind,
    namespace: kind.namespaced ? (metadata?.namespace ?? '') : '',
    name: metadata?.name ?? '',
  };
}

/** The spec hash of every audited object we know, by kind, namespace and name. */
class SpecHashes {
  private readonly byKind = new Map<string, Map<string, Map<string, string>>>();
  private count = 0;

  get size(): number {
    return this.count;
  }

  get(key: AuditKey): string | undefined {
    return this.byKind.get(key.kind)?.get(key.namespace)?.get(key.name);
  }

  set(key: AuditKey, spec: string): void {
    let namespaces = this.byKind.get(key.kind);
    if (!namespaces) {
      namespaces = new Map();
      this.byKind.set(key.kind, namespaces);
    }
    let names = namespaces.get(key.namespace);
    if (!names) {
      names = new Map();
      namespaces.set(key.namespace, names);
    }
    if (!names.has(key.name)) this.count += 1;
    names.set(key.name, spec);
  }

  delete(key: AuditKey): void {
    const namespaces = this.byKind.get(key.kind);
    const names = namespaces?.get(key.namespace);
    if (!names?.delete(key.name)) return;
    this.count -= 1;
    if (names.size === 0) namespaces?.delete(key.namespace);
  }

  /** Objects of the kind in the namespace. */
  countIn(kind: string, namespace: string): number {
    return this.byKind.get(kind)?.get(namespace)?.size ?? 0;
  }

  /** Every object of the kind (of every kind without one) with its spec hash. */
  *entries(kind?: string): Generator<[AuditKey, string]> {
    for (const [kindName, namespaces] of this.byKind) {
      if (kind !== undefined && kindName !== kind) continue;
      for (const [namespace, names] of namespaces)
        for (const [name, spec] of names) yield [{ kind: kindName, namespace, name }, spec];
    }
  }
}

const FETCH_CONCURRENCY = 8;
/** A batch with at least this many objects of one namespace (and half of those there) lists it. */
const LIST_AT_LEAST = 20;
const LIST_PAGE_SIZE = 500;
const MAX_RETRY_DELAY_MS = 3_600_000;

/**
 * The object's `resource-spec-hash`: Trivy-Operator's own (spec-hash.ts) for the kinds and values
 * whose Go printing is reproduced, so that the reports it wrote stay current after a switch;
 * otherwise ours, of everything checks can see (not status, not what the API server bumps).
 */
export function auditSpecHash(kind: string, object: KubernetesObject & { status?: unknown }): string {
  const theirs = specHashOf(kind, object as Record<string, unknown>);
  if (theirs !== undefined) return theirs;
  // kind and apiVersion are left out: list items lack them, watch events and GETs carry them.
  const { status: _status, metadata, kind: _kind, apiVersion: _apiVersion, ...rest } = object;
  const {
    resourceVersion: _rv,
    managedFields: _mf,
    generation: _gen,
    ...stable
  } = (metadata ?? {}) as V1ObjectMeta;
  return contentHash({ ...rest, metadata: stable });
}

/** The field manager Trivy-Operator's writes carry (its binary's name, client-go's default). */
const TRIVY_OPERATOR_MANAGER = 'trivy-operator';

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await fn(items[index] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

export class ConfigAuditController {
  private readonly kinds: AuditedKind[];
  private readonly byKind: Map<string, AuditedKind>;
  private readonly engine: TrivyConfigEngine;
  /** For single requests (objects, reports): o.kc over keep-alive connections. */
  private readonly api: KubeConfig;
  private readonly store: AuditReportStore;
  private readonly events: WorkloadEvents;
  /** Audits queued objects in batches of one kind; retries failed ones with backoff. */
  private readonly controller: Controller<AuditKey>;
  private readonly reports = new Map<string, ReportHashes>();
  /** Every audited object we know (not skipped), with its spec hash. */
  private readonly objects = new SpecHashes();
  /** Workloads without pods (a ReplicaSet scaled to zero) whose report is to be deleted, by key id. */
  private readonly retiring = new Map<string, AuditKey>();
  private readonly watchers: SubscriptionGroup;
  private policySet: PolicySet = EMPTY_POLICY_SET;
  private policyData: string | undefined;
  private readonly policyHashes = new Map<string, string>();
  private engineVersion = '';
  private stopped = false;
  private ready = false;

  constructor(private readonly o: ConfigAuditControllerOptions) {
    const { config } = o;
    this.kinds = auditedKinds({
      supportedKinds: config.configAudit.supportedKinds,
      targetWorkloads: config.targetWorkloads,
      configAuditEnabled: config.configAudit.enabled,
      rbacAssessmentEnabled: config.configAudit.rbacAssessmentEnabled,
    });
    this.byKind = new Map(this.kinds.map((kind) => [kind.kind, kind]));
    this.engine =
      o.engine ??
      new TrivyConfigEngine({
        binary: config.configAudit.trivyBinary,
        timeoutMs: config.trivy.timeoutMs,
        log: o.log.child({ engine: 'trivy' }),
      });
    this.api = withReusedConnections(o.kc);
    this.store = new AuditReportStore(this.api);
    this.events = new WorkloadEvents(o.kc);
    this.watchers = o.informers.group('config-audit');
    this.controller = new Controller<AuditKey>({
      name: 'config-audit',
      keyOf: auditKeyId,
      batch: {
        max: config.configAudit.batchSize,
        delayMs: config.configAudit.batchDelayMs,
        // One kind per batch: Trivy decides whether a check applies by looking at all inputs of a
        // run, so mixing kinds would report, say, ClusterRole checks as passed on a Deployment.
        groupOf: (key) => key.kind,
        reconcile: (keys, signal) => this.reconcile(keys, signal),
      },
      workers: config.configAudit.concurrency,
      backoff: { initialMs: config.operator.scanJobsRetryDelayMs, maxMs: MAX_RETRY_DELAY_MS },
      // Whatever was missed (a report deleted or changed behind our back) is put right.
      resync: { everyMs: config.operator.resyncPeriodMs, keys: () => this.knownKeys() },
      log: o.log,
      ...(o.runtime ? { observer: o.runtime } : {}),
    });
  }

  /** True once policies, existing reports and every audited kind have been listed. */
  get synced(): boolean {
    return this.ready;
  }

  /** Objects waiting for an audit. */
  get pending(): number {
    return this.controller.depth;
  }

  async start(): Promise<void> {
    const log = this.o.log;
    if (this.kinds.length === 0) {
      this.ready = true;
      log.info('config audit and RBAC assessment are off');
      return;
    }
    await this.o.namespaces.waitForSync();
    if (this.stopped) return;
    this.engineVersion = await this.engine.version().catch((err: unknown) => {
      // Without its engine the audit cannot run; say so plainly, keep the rest of the operator up.
      log.error(
        { err, code: ErrorCodes.AUDIT_FAILED, binary: this.o.config.configAudit.trivyBinary },
        'cannot run trivy; config audit and RBAC assessment are disabled until restart',
      );
      return '';
    });
    if (this.engineVersion === '' || this.stopped) {
      this.ready = true;
      return;
    }

    // Policies first, so the first policy hashes are final; then existing reports, so whatever
    // is current after a restart is not audited again; then the objects.
    const policies = this.watchers.watch<V1ConfigMap>(
      {
        path: `/api/v1/namespaces/${this.o.config.operator.namespace}/configmaps`,
        fieldSelector: `metadata.name=${this.o.config.configAudit.policiesConfigMap}`,
      },
      (type, cm) => this.onPolicies(type === 'DELETED' ? undefined : cm.data),
    );
    await policies.waitForSync();
    if (this.policyData === undefined) await this.onPolicies(undefined);

    const reportKinds = new Set(this.kinds.map((kind) => kind.report));
    const reportWatches = [...reportKinds].map((report) =>
      this.watchers.watch<KubernetesObject>(
        {
          path: reportObjectPath(report),
        },
        (type, meta) => this.onReport(report, type, meta),
        { metadataOnly: true, pageSize: 500 },
      ),
    );
    await Promise.all(reportWatches.map((w) => w.waitForSync()));

    const objectWatches = this.kinds.map((kind) =>
      this.watchers.watch<KubernetesObject>(
        {
          path: collectionPath(kind),
        },
        (type, obj) => this.onObject(kind, type, obj),
      ),
    );
    await Promise.all(objectWatches.map((w) => w.waitForSync()));
    // Stopped while starting: the watches delivered nothing, and nothing is to be audited.
    if (this.stopped) return;
    this.ready = true;
    log.info(
      {
        trivy: this.engineVersion,
        kinds: this.kinds.map((kind) => kind.kind),
        objects: this.objects.size,
        queued: this.controller.depth,
        customPolicies: this.policySet.policies.length,
      },
      'config audit synced',
    );
    this.controller.start();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    // Takes no more batches and waits for the running Trivy runs and their report writes.
    await this.controller.stop();
    await this.watchers.stop();
    await this.engine.close();
  }

  // --- policies -----------------------------------------------------------------------------

  private async onPolicies(data: Record<string, string> | undefined): Promise<void> {
    const text = JSON.stringify(Object.entries(data ?? {}).sort(([a], [b]) => a.localeCompare(b)));
    if (text === this.policyData) return;
    this.policyData = text;
    const log = this.o.log;
    const parsed = parsePolicyConfigMap(data);
    const rejected = await this.engine.rejectedModules(parsed);
    const set = withoutRejected(parsed, rejected);
    const configMap = this.o.config.configAudit.policiesConfigMap;
    for (const problem of set.problems) {
      log.error(
        { code: ErrorCodes.POLICY_INVALID, configMap, key: problem.key, problem: problem.message },
        'custom policy rejected; the built-in checks and the other policies still run',
      );
      await this.events
        .warn(
          {
            apiVersion: 'v1',
            kind: 'ConfigMap',
            namespace: this.o.config.operator.namespace,
            name: configMap,
          },
          'PolicyRejected',
          problem.message,
        )
        .catch((err: unknown) => log.warn({ err }, 'could not record the PolicyRejected event'));
    }
    this.policySet = set;
    log.info(
      {
        configMap,
        policies: set.policies.map((p) => p.key),
        libraries: set.libraries.map((l) => l.key),
        rejected: set.problems.length,
      },
      'custom policies loaded',
    );
    // Re-audit the objects of every kind whose policy hash changed.
    for (const kind of this.kinds) {
      const hash = policyHash(this.engineVersion, set, kind.kind, kind.workload);
      if (this.policyHashes.get(kind.kind) === hash) continue;
      const first = !this.policyHashes.has(kind.kind);
      this.policyHashes.set(kind.kind, hash);
      if (first) continue;
      for (const [key, spec] of this.objects.entries(kind.kind))
        if (!this.upToDate(kind, key, spec)) this.controller.enqueue(key);
    }
  }

  // --- reports and objects ------------------------------------------------------------------

  private onReport(report: AuditReportKind, type: string, meta: KubernetesObject): void {
    const id = `${report}/${meta.metadata?.namespace ?? ''}/${meta.metadata?.name ?? ''}`;
    if (type === 'DELETED') {
      this.reports.delete(id);
      // A deleted report of a known object is written again (as the scanner does).
      this.requeueOwner(meta);
      return;
    }
    const labels = meta.metadata?.labels ?? {};
    // A report Trivy-Operator wrote has its plugin-config-hash (a hash of the Rego text of the
    // checks bundle it loaded), which cannot be ours. It is adopted as written with the checks in
    // force now: current while its resource-spec-hash is (the same computation as Trivy-Operator's),
    // audited again when the object or the custom policies change.
    const writtenByTrivyOperator =
      meta.metadata?.managedFields?.some((entry) => entry.manager === TRIVY_OPERATOR_MANAGER) === true &&
      !meta.metadata.managedFields.some((entry) => entry.manager !== TRIVY_OPERATOR_MANAGER);
    const kind = labels[ReportLabel.resourceKind];
    const adopted = writtenByTrivyOperator && kind !== undefined ? this.policyHashes.get(kind) : undefined;
    this.reports.set(id, {
      spec: labels[ReportLabel.resourceSpecHash] ?? '',
      policy: adopted ?? labels[ReportLabel.pluginConfigHash] ?? '',
    });
  }

  private requeueOwner(meta: KubernetesObject): void {
    const owner = meta.metadata?.ownerReferences?.find((ref) => ref.controller === true);
    const kind = owner ? this.byKind.get(owner.kind) : undefined;
    if (!owner || !kind) return;
    const key = auditKeyOf(kind, { namespace: meta.metadata?.namespace, name: owner.name });
    if (this.objects.get(key) !== undefined) this.controller.enqueue(key);
  }

  private reportId(kind: AuditedKind, key: AuditKey): string {
    return `${kind.report}/${key.namespace}/${auditReportName(kind.kind, key.name)}`;
  }

  private upToDate(kind: AuditedKind, key: AuditKey, spec: string): boolean {
    const hashes = this.reports.get(this.reportId(kind, key));
    return hashes !== undefined && hashes.spec === spec && hashes.policy === this.policyHashes.get(kind.kind);
  }

  /** Why the object is not audited, or undefined. */
  private skip(kind: AuditedKind, object: KubernetesObject): string | undefined {
    const metadata = object.metadata ?? {};
    if (kind.namespaced && !this.o.namespaces.has(metadata.namespace ?? '')) return 'NamespaceNotTargeted';
    const managedBy = metadata.labels?.[ReportLabel.managedBy];
    if (managedBy !== undefined && SCANNER_MANAGED_BY_VALUES.includes(managedBy))
      return SkipReason.managedByScanner;
    if (metadata.deletionTimestamp) return SkipReason.beingDeleted;
    // On every audited kind: Trivy-Operator's configauditreport controller (resource.go) calls
    // SkipProcessing with them for any resource.
    if (hasSkipLabel(metadata.labels, this.o.config.trivyOperator.skipResourceByLabels))
      return SkipReason.skipLabel;
    if (kind.workload) {
      const workload = asWorkload(kind.kind as WorkloadObjectKind, object as WorkloadObject);
      return skipReason(workload, { targetWorkloads: this.o.config.targetWorkloads });
    }
    return undefined;
  }

  /** Notes the object's spec hash and queues it when its report is not current; no API calls. */
  private onObject(kind: AuditedKind, type: string, object: KubernetesObject): void {
    const key = auditKeyOf(kind, object.metadata);
    const id = auditKeyId(key);
    this.retiring.delete(id);
    const reason = type === 'DELETED' ? undefined : this.skip(kind, object);
    if (type === 'DELETED' || reason !== undefined) {
      // Still queued, it is found gone (nothing to do) when its turn comes.
      this.objects.delete(key);
      // A ReplicaSet scaled to zero by a rollout: its report no longer describes what runs.
      if (reason === SkipReason.noPods && this.reports.has(this.reportId(kind, key))) {
        this.retiring.set(id, key);
        this.controller.enqueue(key);
      }
      return;
    }
    const spec = auditSpecHash(kind.kind, object);
    this.objects.set(key, spec);
    if (!this.upToDate(kind, key, spec)) this.controller.enqueue(key);
  }

  /** What the resync queues again: every object we know, and every report still to delete. */
  private *knownKeys(): Generator<AuditKey> {
    for (const [key] of this.objects.entries()) yield key;
    yield* this.retiring.values();
  }

  // --- reconciling --------------------------------------------------------------------------

  /**
   * Brings a batch of objects of one kind up to date: deletes the reports of workloads left
   * without pods and audits the objects whose report is not current, both as the model says now.
   * A key that is up to date or gone by now needs nothing. Returns the keys to retry alone.
   */
  private async reconcile(keys: AuditKey[], signal: AbortSignal): Promise<{ failed: AuditKey[] }> {
    const kind = this.byKind.get(keys[0]?.kind ?? '');
    if (!kind) return { failed: [] };
    // Stopping: whatever is left stays undone.
    if (signal.aborted) return { failed: keys };
    const retire: AuditKey[] = [];
    const stale: AuditKey[] = [];
    for (const key of keys) {
      const spec = this.objects.get(key);
      if (spec !== undefined) {
        if (!this.upToDate(kind, key, spec)) stale.push(key);
      } else if (this.retiring.has(auditKeyId(key))) retire.push(key);
    }
    const failed = await this.retire(kind, retire);
    if (stale.length > 0) {
      try {
        failed.push(...(await this.audit(kind, stale, signal)));
      } catch (err) {
        this.failed(kind, stale, err);
        // Each is retried alone, with its own backoff; those written meanwhile are current then.
        failed.push(...stale);
      }
    }
    return { failed };
  }

  /** Deletes the reports of workloads left without pods; returns the keys whose delete failed. */
  private async retire(kind: AuditedKind, keys: readonly AuditKey[]): Promise<AuditKey[]> {
    const failed: AuditKey[] = [];
    await mapLimit(keys, FETCH_CONCURRENCY, async (key) => {
      const reportId = this.reportId(kind, key);
      if (this.reports.has(reportId)) {
        const deleted = await this.reportRequest(key, 'delete', failed, () =>
          this.store.delete(
            kind.report,
            kind.namespaced ? key.namespace : undefined,
            auditReportName(kind.kind, key.name),
          ),
        );
        if (!deleted) return;
        this.reports.delete(reportId);
      }
      this.retiring.delete(auditKeyId(key));
    });
    return failed;
  }

  /** One report request for the key; a failure is logged and the key noted in `failed` for a retry. */
  private async reportRequest(
    key: AuditKey,
    what: 'write' | 'delete',
    failed: AuditKey[],
    request: () => Promise<void>,
  ): Promise<boolean> {
    try {
      await request();
      return true;
    } catch (err) {
      const { kind, namespace, name } = key;
      this.o.log.error({ err, kind, namespace, name }, `report ${what} failed; it is retried later`);
      failed.push(key);
      return false;
    }
  }

  /**
   * Fetches the objects, audits those still there and not current in one Trivy run, and writes
   * their reports. Returns the keys to retry (a failed write, no result from Trivy); throws when
   * the batch failed as a whole (a fetch, the Trivy run).
   */
  private async audit(
    kind: AuditedKind,
    keys: readonly AuditKey[],
    signal: AbortSignal,
  ): Promise<AuditKey[]> {
    const started = Date.now();
    const { objects: fetched, listed } = await this.fetch(kind, keys);
    if (signal.aborted) return [...keys];
    const targets: { key: AuditKey; object: KubernetesObject; spec: string; file: string }[] = [];
    fetched.forEach((object, index) => {
      const key = keys[index];
      if (!object || !key || this.skip(kind, object) !== undefined) return;
      const spec = auditSpecHash(kind.kind, object);
      // The watch was behind: the report already describes the object as it is.
      if (this.upToDate(kind, key, spec)) return;
      const { managedFields: _mf, ...metadata } = object.metadata ?? {};
      // The same manifest whether the object came from a GET or a list (whose items lack kind).
      const {
        apiVersion: _av,
        kind: _kind,
        metadata: _meta,
        ...rest
      } = object as KubernetesObject & Record<string, unknown>;
      const clean = { apiVersion: kind.apiVersion, kind: kind.kind, metadata, ...rest };
      targets.push({ key, object: clean, spec, file: `${index}.json` });
    });
    if (targets.length === 0) return [];

    const policies = policiesFor(this.policySet, kind.kind, kind.workload);
    const modules = { policies, libraries: policies.length > 0 ? this.policySet.libraries : [] };
    const manifests: Manifest[] = targets.map((t) => ({ file: t.file, object: t.object }));
    const policy = this.policyHashes.get(kind.kind) ?? '';
    const now = new Date();
    const { severity } = this.o.config.trivy;
    const failedOnly = this.o.config.configAudit.recordFailedChecksOnly;
    const wantedLabels = this.o.config.metrics.resourceLabels;
    const byFile = new Map(targets.map((t) => [t.file, t]));
    const failed: AuditKey[] = [];
    let written = 0;
    const write = async (
      { key, object, spec }: (typeof targets)[number],
      items: TrivyMisconfiguration[],
    ): Promise<void> => {
      const metadata = object.metadata ?? {};
      const target: AuditTarget = {
        kind,
        namespace: metadata.namespace ?? '',
        name: metadata.name ?? '',
        uid: metadata.uid ?? '',
      };
      // KCV (control-plane) checks are left out of audit reports, as Trivy-Operator does; infra
      // assessment evaluates control-plane pods itself.
      const { checks } = toChecks(items, { severities: severity, failedOnly });
      const extraLabels = reportExtraLabels(
        metadata.labels,
        wantedLabels,
        this.o.config.trivyOperator.additionalReportLabels,
      );
      const report = buildAuditReport({
        target,
        specHash: spec,
        policyHash: policy,
        checks,
        scannerVersion: this.engineVersion,
        now,
        extraLabels,
        ttlMs: this.o.config.operator.scannerReportTtlMs,
      });
      const reportId = this.reportId(kind, key);
      const known = this.reports.has(reportId);
      if (!(await this.reportRequest(key, 'write', failed, () => this.store.upsert(report, known)))) return;
      written += 1;
      this.reports.set(reportId, { spec, policy });
    };
    // Reports are written while Trivy's output streams in, a bounded number at a time.
    const writes = new Set<Promise<void>>();
    await this.engine.runEach(manifests, modules, { includePasses: !failedOnly }, async (file, items) => {
      const entry = byFile.get(file);
      if (!entry) return;
      byFile.delete(file);
      const done: Promise<void> = write(entry, items).finally(() => writes.delete(done));
      writes.add(done);
      if (writes.size >= FETCH_CONCURRENCY) await Promise.race(writes);
    });
    await Promise.all(writes);
    for (const { key } of byFile.values()) {
      this.o.log.error(
        { code: ErrorCodes.TRIVY_OUTPUT_INVALID, kind: kind.kind, namespace: key.namespace, name: key.name },
        'trivy returned no result for an object; it is retried later',
      );
      failed.push(key);
    }
    this.o.log.info(
      {
        kind: kind.kind,
        objects: targets.length,
        listed,
        reports: written,
        ms: Date.now() - started,
        queued: this.controller.depth,
      },
      'audited a batch',
    );
    return failed;
  }

  /**
   * The objects as they are now (undefined where one is gone), in the order of `keys`. Where the
   * keys hold most of a namespace's objects of the kind (a first audit, a policy change), that
   * namespace is listed in pages instead: one request per page, not one per object.
   */
  private async fetch(
    kind: AuditedKind,
    keys: readonly AuditKey[],
  ): Promise<{ objects: (KubernetesObject | undefined)[]; listed: number }> {
    const byNamespace = new Map<string, AuditKey[]>();
    for (const key of keys) {
      const group = byNamespace.get(key.namespace);
      if (group) group.push(key);
      else byNamespace.set(key.namespace, [key]);
    }
    const found = new Map<string, KubernetesObject>();
    const single: AuditKey[] = [];
    let listed = 0;
    for (const [namespace, group] of byNamespace) {
      if (group.length >= LIST_AT_LEAST && group.length * 2 >= this.objects.countIn(kind.kind, namespace)) {
        await this.listInto(kind, namespace, new Set(group.map(auditKeyId)), found);
        listed += group.length;
      } else {
        single.push(...group);
      }
    }
    await mapLimit(single, FETCH_CONCURRENCY, async (key) => {
      const { namespace, name } = key;
      try {
        found.set(
          auditKeyId(key),
          await kubeRequestJson<KubernetesObject>(this.api, { path: objectPath(kind, namespace, name) }),
        );
      } catch (err) {
        if (!isNotFound(err)) throw kubeError(err, `get ${kind.kind}`, { namespace, name });
      }
    });
    return { objects: keys.map((key) => found.get(auditKeyId(key))), listed };
  }

  /** Lists the kind in the namespace (all of it for a cluster-scoped kind), keeping the wanted keys. */
  private async listInto(
    kind: AuditedKind,
    namespace: string,
    wanted: ReadonlySet<string>,
    found: Map<string, KubernetesObject>,
  ): Promise<void> {
    let token: string | undefined;
    do {
      let page: { metadata?: { continue?: string }; items?: KubernetesObject[] };
      try {
        page = await kubeRequestJson(this.api, {
          path: collectionPath(kind, kind.namespaced ? namespace : undefined),
          query: { limit: LIST_PAGE_SIZE, continue: token },
        });
      } catch (err) {
        throw kubeError(err, `list ${kind.kind}`, kind.namespaced ? { namespace } : {});
      }
      for (const item of page.items ?? []) {
        const id = auditKeyId(auditKeyOf(kind, item.metadata));
        if (wanted.has(id)) found.set(id, item);
      }
      token = page.metadata?.continue || undefined;
    } while (token);
  }

  /** Says why a batch failed as a whole: in the log, and in an Event on (some of) its objects. */
  private failed(kind: AuditedKind, keys: readonly AuditKey[], err: unknown): void {
    const code = isLookoutError(err) ? err.code : undefined;
    this.o.log.error(
      { err, code, kind: kind.kind, objects: keys.length, first: keys.slice(0, 5).map(auditKeyId) },
      'config audit run failed; the objects are retried later',
    );
    const message = `config audit failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 1000);
    // One Event per object so `kubectl describe` shows why it has no report; a bounded number.
    for (const key of keys.slice(0, 20)) {
      void this.events
        .warn(
          {
            apiVersion: kind.apiVersion,
            kind: kind.kind,
            namespace: kind.namespaced ? key.namespace : 'default',
            name: key.name,
          },
          'ConfigAuditFailed',
          message,
        )
        .catch(() => {});
    }
  }
}
