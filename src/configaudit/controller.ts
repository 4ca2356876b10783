/**
 * Event-driven config audit and RBAC assessment. Watches every audited kind, keeps one hash per
 * object (never the object), and queues an object when its report is missing or carries another
 * spec or policy hash. Queued objects are fetched and audited in batches of one kind by one Trivy
 * run; the results become reports owned by the objects. Custom policies come from a watched
 * ConfigMap; a change re-audits exactly the kinds whose policy hash it changed.
 */
import type { KubeConfig, KubernetesObject, V1ConfigMap, V1ObjectMeta } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { Config } from '../config/index.ts';
import { ReportLabel } from '../crds/index.ts';
import { ErrorCodes, isLookoutError } from '../errors/index.ts';
import {
  backoffDelay,
  isNotFound,
  kubeError,
  kubeRequestJson,
  WorkloadEvents,
  type Informers,
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
import {
  auditedKinds,
  collectionPath,
  objectPath,
  reportPath,
  type AuditedKind,
  type AuditReportKind,
} from './kinds.ts';
import {
  EMPTY_POLICY_SET,
  parsePolicyConfigMap,
  policiesFor,
  policyHash,
  withoutRejected,
  type PolicySet,
} from './policies.ts';
import { AuditQueue, type AuditBatch } from './queue.ts';
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
}

/** Hashes a report carries, keyed by `reportKind/namespace/name`. */
interface ReportHashes {
  readonly spec: string;
  readonly policy: string;
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
  private readonly queue = new AuditQueue();
  private readonly reports = new Map<string, ReportHashes>();
  /** kind → object key → spec hash of every audited object we know. */
  private readonly objects = new Map<string, Map<string, string>>();
  private readonly attempts = new Map<string, number>();
  private readonly watchers: SubscriptionGroup;
  private policySet: PolicySet = EMPTY_POLICY_SET;
  private policyData: string | undefined;
  private readonly policyHashes = new Map<string, string>();
  private engineVersion = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  /** Batches being audited, at most `concurrency` at once. */
  private readonly inFlight = new Set<Promise<void>>();
  private running = 0;
  private readonly concurrency: number;
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
    this.concurrency = config.configAudit.concurrency;
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
  }

  /** True once policies, existing reports and every audited kind have been listed. */
  get synced(): boolean {
    return this.ready;
  }

  /** Objects waiting for an audit. */
  get pending(): number {
    return this.queue.size;
  }

  async start(): Promise<void> {
    const log = this.o.log;
    if (this.kinds.length === 0) {
      this.ready = true;
      log.info('config audit and RBAC assessment are off');
      return;
    }
    await this.o.namespaces.waitForSync();
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
          path: reportPath(report),
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
    this.ready = true;
    log.info(
      {
        trivy: this.engineVersion,
        kinds: this.kinds.map((kind) => kind.kind),
        objects: [...this.objects.values()].reduce((sum, m) => sum + m.size, 0),
        queued: this.queue.size,
        customPolicies: this.policySet.policies.length,
      },
      'config audit synced',
    );
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    for (const timer of this.retryTimers) clearTimeout(timer);
    await this.watchers.stop();
    await Promise.allSettled([...this.inFlight]);
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
      for (const [key, spec] of this.objects.get(kind.kind) ?? []) {
        const { namespace, name } = splitKey(kind, key);
        if (!this.upToDate(kind, namespace, name, spec)) this.queue.add(kind.kind, key);
      }
    }
    this.schedule();
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
    if (!this.ready) return;
    const owner = meta.metadata?.ownerReferences?.find((ref) => ref.controller === true);
    const kind = owner ? this.byKind.get(owner.kind) : undefined;
    if (!owner || !kind) return;
    const key = kind.namespaced ? `${meta.metadata?.namespace ?? ''}/${owner.name}` : owner.name;
    if (this.objects.get(kind.kind)?.has(key)) {
      this.queue.add(kind.kind, key);
      this.schedule();
    }
  }

  private reportId(kind: AuditedKind, namespace: string, name: string): string {
    return `${kind.report}/${kind.namespaced ? namespace : ''}/${auditReportName(kind.kind, name)}`;
  }

  private upToDate(kind: AuditedKind, namespace: string, name: string, spec: string): boolean {
    const hashes = this.reports.get(this.reportId(kind, namespace, name));
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

  private async onObject(kind: AuditedKind, type: string, object: KubernetesObject): Promise<void> {
    const namespace = object.metadata?.namespace ?? '';
    const name = object.metadata?.name ?? '';
    const key = kind.namespaced ? `${namespace}/${name}` : name;
    const known = this.objects.get(kind.kind) ?? new Map<string, string>();
    this.objects.set(kind.kind, known);
    if (type === 'DELETED') {
      known.delete(key);
      this.queue.remove(kind.kind, key);
      return;
    }
    const reason = this.skip(kind, object);
    if (reason !== undefined) {
      known.delete(key);
      this.queue.remove(kind.kind, key);
      // A ReplicaSet scaled to zero by a rollout: its report no longer describes what runs.
      if (reason === SkipReason.noPods && this.reports.has(this.reportId(kind, namespace, name))) {
        await this.store.delete(
          kind.report,
          kind.namespaced ? namespace : undefined,
          auditReportName(kind.kind, name),
        );
      }
      return;
    }
    const spec = auditSpecHash(kind.kind, object);
    known.set(key, spec);
    if (this.upToDate(kind, namespace, name, spec)) return;
    this.queue.add(kind.kind, key);
    this.schedule();
  }

  // --- auditing -----------------------------------------------------------------------------

  private schedule(): void {
    if (this.stopped || !this.ready || this.queue.size === 0) return;
    if (this.running >= this.concurrency) return;
    if (this.queue.size >= this.o.config.configAudit.batchSize) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.pump();
      return;
    }
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.pump();
    }, this.o.config.configAudit.batchDelayMs);
  }

  /**
   * Starts batches until `configAuditConcurrency` Trivy runs are going or the queue is empty. The
   * batch is split evenly over the free slots when the queue holds less than a full batch for
   * each, so that both cores work on the tail of a backlog too.
   */
  private pump(): void {
    while (!this.stopped && this.running < this.concurrency && this.queue.size > 0) {
      const size = this.o.config.configAudit.batchSize;
      const slots = this.concurrency - this.running;
      const share = Math.max(1, Math.min(size, Math.ceil(this.queue.size / slots)));
      const batch = this.queue.take(share);
      if (!batch) return;
      this.running += 1;
      const run = this.audit(batch)
        .catch((err: unknown) => this.failed(batch, err))
        .finally(() => {
          this.running -= 1;
          this.inFlight.delete(run);
          this.schedule();
        });
      this.inFlight.add(run);
    }
  }

  private async audit(batch: AuditBatch): Promise<void> {
    const kind = this.byKind.get(batch.kind);
    if (!kind) return;
    const started = Date.now();
    const { objects: fetched, listed } = await this.fetch(kind, batch.keys);
    const targets: { object: KubernetesObject; spec: string; file: string }[] = [];
    fetched.forEach((object, index) => {
      if (!object || this.skip(kind, object) !== undefined) return;
      const { managedFields: _mf, ...metadata } = object.metadata ?? {};
      // The same manifest whether the object came from a GET or a list (whose items lack kind).
      const {
        apiVersion: _av,
        kind: _kind,
        metadata: _meta,
        ...rest
      } = object as KubernetesObject & Record<string, unknown>;
      const clean = { apiVersion: kind.apiVersion, kind: kind.kind, metadata, ...rest };
      targets.push({ object: clean, spec: auditSpecHash(kind.kind, object), file: `${index}.json` });
    });
    if (targets.length === 0) return;

    const policies = policiesFor(this.policySet, kind.kind, kind.workload);
    const modules = { policies, libraries: policies.length > 0 ? this.policySet.libraries : [] };
    const manifests: Manifest[] = targets.map((t) => ({ file: t.file, object: t.object }));
    const policy = this.policyHashes.get(kind.kind) ?? '';
    const now = new Date();
    const { severity } = this.o.config.trivy;
    const failedOnly = this.o.config.configAudit.recordFailedChecksOnly;
    const wantedLabels = this.o.config.metrics.resourceLabels;
    const byFile = new Map(targets.map((t) => [t.file, t]));
    let written = 0;
    const write = async (
      { object, spec }: (typeof targets)[number],
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
      try {
        await this.store.upsert(report, this.reports.has(this.reportId(kind, target.namespace, target.name)));
      } catch (err) {
        this.o.log.error(
          { err, kind: kind.kind, namespace: target.namespace, name: target.name },
          'report write failed',
        );
        this.retry(kind, [splitKeyOf(kind, target)]);
        return;
      }
      written += 1;
      this.attempts.delete(`${kind.kind}/${splitKeyOf(kind, target)}`);
      this.reports.set(this.reportId(kind, target.namespace, target.name), { spec, policy });
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
    for (const { object } of byFile.values()) {
      const metadata = object.metadata ?? {};
      const target = { namespace: metadata.namespace ?? '', name: metadata.name ?? '' };
      this.o.log.error(
        { code: ErrorCodes.TRIVY_OUTPUT_INVALID, kind: kind.kind, ...target },
        'trivy returned no result for an object; it is retried later',
      );
      this.retry(kind, [splitKeyOf(kind, target)]);
    }
    this.o.log.info(
      {
        kind: kind.kind,
        objects: targets.length,
        listed,
        reports: written,
        ms: Date.now() - started,
        queued: this.queue.size,
      },
      'audited a batch',
    );
  }

  /**
   * The batch's objects as they are now (undefined where one is gone), in the order of `keys`.
   * Where the batch holds most of a namespace's objects of the kind (a first audit, a policy
   * change), that namespace is listed in pages instead: one request per page, not one per object.
   */
  private async fetch(
    kind: AuditedKind,
    keys: readonly string[],
  ): Promise<{ objects: (KubernetesObject | undefined)[]; listed: number }> {
    const byNamespace = new Map<string, string[]>();
    for (const key of keys) {
      const { namespace } = splitKey(kind, key);
      const group = byNamespace.get(namespace);
      if (group) group.push(key);
      else byNamespace.set(namespace, [key]);
    }
    const knownIn = new Map<string, number>();
    for (const key of this.objects.get(kind.kind)?.keys() ?? []) {
      const { namespace } = splitKey(kind, key);
      knownIn.set(namespace, (knownIn.get(namespace) ?? 0) + 1);
    }
    const found = new Map<string, KubernetesObject>();
    const single: string[] = [];
    let listed = 0;
    for (const [namespace, group] of byNamespace) {
      if (group.length >= LIST_AT_LEAST && group.length * 2 >= (knownIn.get(namespace) ?? 0)) {
        await this.listInto(kind, namespace, new Set(group), found);
        listed += group.length;
      } else {
        single.push(...group);
      }
    }
    await mapLimit(single, FETCH_CONCURRENCY, async (key) => {
      const { namespace, name } = splitKey(kind, key);
      try {
        found.set(
          key,
          await kubeRequestJson<KubernetesObject>(this.api, { path: objectPath(kind, namespace, name) }),
        );
      } catch (err) {
        if (!isNotFound(err)) throw kubeError(err, `get ${kind.kind}`, { namespace, name });
      }
    });
    return { objects: keys.map((key) => found.get(key)), listed };
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
        const key = kind.namespaced
          ? `${item.metadata?.namespace ?? ''}/${item.metadata?.name ?? ''}`
          : (item.metadata?.name ?? '');
        if (wanted.has(key)) found.set(key, item);
      }
      token = page.metadata?.continue || undefined;
    } while (token);
  }

  private failed(batch: AuditBatch, err: unknown): void {
    const kind = this.byKind.get(batch.kind);
    if (!kind) return;
    const code = isLookoutError(err) ? err.code : undefined;
    this.o.log.error(
      { err, code, kind: batch.kind, objects: batch.keys.length, first: batch.keys.slice(0, 5) },
      'config audit run failed; the objects are retried later',
    );
    const message = `config audit failed: ${err instanceof Error ? err.message : String(err)}`.slice(0, 1000);
    // One Event per object so `kubectl describe` shows why it has no report; a bounded number.
    for (const key of batch.keys.slice(0, 20)) {
      const { namespace, name } = splitKey(kind, key);
      void this.events
        .warn(
          {
            apiVersion: kind.apiVersion,
            kind: kind.kind,
            namespace: kind.namespaced ? namespace : 'default',
            name,
          },
          'ConfigAuditFailed',
          message,
        )
        .catch(() => {});
    }
    this.retry(kind, batch.keys);
  }

  /** Queues the objects again after a delay that doubles per attempt (from `scanJobsRetryDelay`). */
  private retry(kind: AuditedKind, keys: readonly string[]): void {
    if (this.stopped) return;
    let attempt = 0;
    for (const key of keys) {
      const id = `${kind.kind}/${key}`;
      attempt = Math.max(attempt, this.attempts.get(id) ?? 0);
      this.attempts.set(id, (this.attempts.get(id) ?? 0) + 1);
    }
    const delay = backoffDelay(attempt, {
      initialMs: this.o.config.operator.scanJobsRetryDelayMs,
      maxMs: MAX_RETRY_DELAY_MS,
    });
    const timer = setTimeout(() => {
      this.retryTimers.delete(timer);
      for (const key of keys) if (this.objects.get(kind.kind)?.has(key)) this.queue.add(kind.kind, key);
      this.schedule();
    }, delay);
    timer.unref();
    this.retryTimers.add(timer);
  }
}

function splitKey(kind: AuditedKind, key: string): { namespace: string; name: string } {
  if (!kind.namespaced) return { namespace: '', name: key };
  const slash = key.indexOf('/');
  return { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

function splitKeyOf(kind: AuditedKind, target: Pick<AuditTarget, 'namespace' | 'name'>): string {
  return kind.namespaced ? `${target.namespace}/${target.name}` : target.name;
}
