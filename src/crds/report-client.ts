/**
 * The one way report objects are written, read and deleted. Every write is a server-side apply
 * (field manager `trivy-lookout`, forced): one request creates or updates, the fields we own are
 * exactly the ones we send, and fields other managers own are kept without our copying them (the
 * first-seen annotation, written by first-seen tracking with a merge patch, is such a field: an
 * Update entry, whatever its manager's name, is another owner than our Apply entry).
 *
 * In this one place too:
 * - conflicts: a forced apply has no field conflicts; a 409 (a racing create, or a body that carries
 *   a resourceVersion or uid precondition) is retried with backoff, a precondition after reading the
 *   object again and letting the caller rebase its body;
 * - size: a `fit` per write cuts the object to the byte budget, its note becomes the trimmed
 *   annotation, and nothing over etcd's limit is sent (REPORT_TOO_LARGE instead of a vague 500);
 * - errors: every failure is a `kubeError` with the operation, the object and the HTTP status;
 * - adopting objects written before: see `adoptionPlan`.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { ErrorCodes, isLookoutError, LookoutError } from '../errors/index.ts';
import {
  backoffDelay,
  isConflict,
  isNotFound,
  kubeError,
  kubeRequestJson,
  type BackoffOptions,
  type KubeRequest,
} from '../kube/index.ts';
// The module itself, not reports/index.ts: size-guard needs only types from crds, so no import cycle runs.
import {
  ETCD_REQUEST_LIMIT_BYTES,
  REPORT_DATA_LIMIT_BYTES,
  TRIMMED_ANNOTATION,
} from '../reports/common/size-guard.ts';
import { reportObjectPath, ReportKind, type ReportKindName } from './types.ts';

/** The field manager of every report write. */
export const REPORT_FIELD_MANAGER = 'trivy-lookout';

/** What the client needs of a report object: which one it is. The rest is sent as it is. */
export interface ReportBody {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: {
    readonly name?: string;
    readonly namespace?: string;
    /** Precondition: the write applies only to this object (a 409 when it was deleted or replaced). */
    readonly uid?: string;
    /** Precondition: the write applies only at this version (a 409 when it changed). */
    readonly resourceVersion?: string;
    readonly annotations?: Readonly<Record<string, string>>;
  };
}

/** A report's data cut to a budget, and what was left out (the trimmed annotation), or null. */
export interface Fitted<T> {
  readonly object: T;
  readonly note: string | null;
}

export interface WriteOptions<T, C = T> {
  /**
   * Cuts the object to at most `maxBytes` of JSON, as sent; called for every write (return the object
   * itself when it fits). Its note becomes the trimmed annotation, which is absent when there is none.
   */
  readonly fit?: (object: T, maxBytes: number) => Fitted<T>;
  /**
   * For a body with a precondition (resourceVersion, uid): after a conflict, the body to write onto the
   * object as it is now, or undefined to write nothing. Without it a precondition conflict is thrown.
   */
  readonly rebase?: (current: C) => T | undefined;
}

export interface Written<T> {
  /** The object as the API server answered (for a status write, the whole object). */
  readonly object: T;
  /** The trimmed annotation written, or null. */
  readonly trimmed: string | null;
}

/** One API request, answered with parsed JSON; kubeRequestJson, or a fake in tests. */
export type ReportRequest = <R>(req: KubeRequest) => Promise<R>;

export interface ReportClientOptions {
  readonly fieldManager?: string;
  /** Attempts at one write when it meets conflicts. */
  readonly attempts?: number;
  readonly backoff?: BackoffOptions;
  readonly sleep?: (ms: number) => Promise<void>;
  /**
   * What `fit` aims at, for the object as sent: etcd's limit less room for what the server and other
   * writers add (managedFields, first-seen stamps).
   */
  readonly budgetBytes?: number;
  /** Objects larger than this are never sent: etcd would refuse them. */
  readonly limitBytes?: number;
  /** Ends every request under way (and none starts after): the client's owner is stopping. */
  readonly signal?: AbortSignal;
}

/** Room kept for the trimmed annotation, which is added after the cut. */
const NOTE_ROOM_BYTES = 1024;
const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 5_000 };

/** A ManagedFieldsEntry as the API server sends it; fieldsV1 is a trie of `f:`/`k:`/`v:`/`.` keys. */
export interface ManagedFieldsEntry {
  manager?: string;
  operation?: string;
  apiVersion?: string;
  time?: string;
  fieldsType?: string;
  fieldsV1?: FieldSet;
  subresource?: string;
}
export interface FieldSet {
  [key: string]: FieldSet;
}

/** The server-side apply request for `body` at `path`. */
export function applyRequest(path: string, body: unknown, fieldManager = REPORT_FIELD_MANAGER): KubeRequest {
  return {
    method: 'PATCH',
    path,
    query: { fieldManager, force: true },
    // Apply takes YAML, and JSON is YAML.
    contentType: 'application/apply-patch+yaml',
    body,
  };
}

const TRIMMED_PATH = ['f:metadata', 'f:annotations', `f:${TRIMMED_ANNOTATION}`];

/**
 * Taking over what earlier writers of a report left, or undefined when there is nothing to take.
 *
 * A forced apply takes the fields it sends from other managers, but a field it does not send stays
 * with whoever set it. Objects written before this client (by our PUTs, whose manager is the user
 * agent `node-fetch` or `trivy-lookout (linux`, by the infra assessment's own apply manager, or by
 * Trivy-Operator) are owned by those managers, so a label, an annotation (a stale trimmed note) or
 * a report field the new report no longer has would stay forever. Checked: it does, on a real API
 * server. So, as client-go's csaupgrade does, their ownership moves into our Apply entry, and the
 * apply that follows removes what we no longer send.
 *
 * What moves: every field of an entry (on the same subresource) that owns part of the data we write
 * (`report`, or `status` on the status subresource): whoever wrote the data wrote the report, and the
 * report is the operator's alone. And the trimmed annotation, which only this client sets, from
 * whoever holds it. Nothing else: entries that only annotate or label a report (first-seen tracking's
 * merge patch, a user's `kubectl label`) keep their fields, and so does whoever owns a
 * ClusterComplianceReport's spec.
 */
export function adoptionPlan(
  entries: readonly ManagedFieldsEntry[],
  o: { fieldManager: string; subresource: string; dataKeys: readonly string[]; apiVersion: string },
): ManagedFieldsEntry[] | undefined {
  const sub = (entry: ManagedFieldsEntry) => entry.subresource ?? '';
  const ours = (entry: ManagedFieldsEntry) =>
    entry.manager === o.fieldManager && entry.operation === 'Apply' && sub(entry) === o.subresource;
  let taken: FieldSet | undefined;
  const kept: ManagedFieldsEntry[] = [];
  for (const entry of entries) {
    const fields = entry.fieldsV1;
    if (ours(entry) || sub(entry) !== o.subresource || !fields) {
      kept.push(entry);
    } else if (o.dataKeys.some((key) => fields[`f:${key}`] !== undefined)) {
      taken = unionFields(taken ?? {}, fields);
    } else if (o.subresource === '' && fieldAt(fields, TRIMMED_PATH)) {
      taken = unionFields(taken ?? {}, fieldsWith(TRIMMED_PATH));
      const rest = fieldsWithout(fields, TRIMMED_PATH);
      if (rest) kept.push({ ...entry, fieldsV1: rest });
    } else {
      kept.push(entry);
    }
  }
  if (!taken) return undefined;
  const index = kept.findIndex(ours);
  const mine = kept[index];
  if (mine) {
    kept[index] = { ...mine, fieldsV1: unionFields(mine.fieldsV1 ?? {}, taken) };
  } else {
    kept.push({
      manager: o.fieldManager,
      operation: 'Apply',
      apiVersion: o.apiVersion,
      fieldsType: 'FieldsV1',
      fieldsV1: taken,
      ...(o.subresource ? { subresource: o.subresource } : {}),
    });
  }
  return kept;
}

function unionFields(a: FieldSet, b: FieldSet): FieldSet {
  const out: FieldSet = { ...a };
  for (const [key, child] of Object.entries(b))
    out[key] = key in out ? unionFields(out[key] ?? {}, child) : child;
  return out;
}

function fieldAt(fields: FieldSet, path: readonly string[]): FieldSet | undefined {
  let node: FieldSet | undefined = fields;
  for (const key of path) node = node?.[key];
  return node;
}

function fieldsWith(path: readonly string[]): FieldSet {
  return path.reduceRight<FieldSet>((child, key) => ({ [key]: child }), {});
}

/** `fields` less the field at `path`, with parents that held only it; undefined when nothing is left. */
function fieldsWithout(fields: FieldSet, path: readonly string[]): FieldSet | undefined {
  const [key, ...rest] = path;
  if (key === undefined || !(key in fields)) return fields;
  const out: FieldSet = { ...fields };
  const child = rest.length === 0 ? undefined : fieldsWithout(fields[key] ?? {}, rest);
  if (child) out[key] = child;
  else delete out[key];
  return Object.keys(out).length === 0 ? undefined : out;
}

const byteLength = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

export class ReportClient {
  readonly fieldManager: string;
  private readonly attempts: number;
  private readonly backoff: BackoffOptions;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly budgetBytes: number;
  private readonly limitBytes: number;

  constructor(
    private readonly request: ReportRequest,
    options: ReportClientOptions = {},
  ) {
    this.fieldManager = options.fieldManager ?? REPORT_FIELD_MANAGER;
    this.attempts = options.attempts ?? 5;
    this.backoff = options.backoff ?? DEFAULT_BACKOFF;
    this.sleep = options.sleep ?? ((ms) => new Promise((resolve) => setTimeout(resolve, ms)));
    this.budgetBytes = options.budgetBytes ?? REPORT_DATA_LIMIT_BYTES;
    this.limitBytes = options.limitBytes ?? ETCD_REQUEST_LIMIT_BYTES;
  }

  /** Creates or updates a report, namespaced or cluster-scoped. Undefined only when `rebase` declined. */
  async apply<T extends ReportBody, C = T>(
    object: T,
    options: WriteOptions<T, C> = {},
  ): Promise<Written<T> | undefined> {
    return this.write(object, '', options);
  }

  /**
   * Writes a report's status subresource (ClusterComplianceReport): only `status` is sent. The status
   * subresource ignores metadata, so the trimmed annotation (the body's, or `fit`'s note) is kept on
   * the object itself, set while there is one and removed after. Undefined when the report does not
   * exist (a status is never created on its own) or `rebase` declined.
   */
  async applyStatus<T extends ReportBody & { status?: unknown }, C = T>(
    object: T,
    options: WriteOptions<T, C> = {},
  ): Promise<Written<T> | undefined> {
    const written = await this.write(object, 'status', options);
    if (!written) return undefined;
    const { apiVersion, kind, metadata } = written.object;
    if ((metadata.annotations?.[TRIMMED_ANNOTATION] ?? null) !== written.trimmed) {
      // The uid: never create the object if it went meanwhile, nor annotate a new one of that name.
      const annotation = {
        apiVersion,
        kind,
        metadata: {
          name: metadata.name,
          uid: metadata.uid,
          ...(written.trimmed === null ? {} : { annotations: { [TRIMMED_ANNOTATION]: written.trimmed } }),
        },
      };
      await this.write(annotation, '', { rebase: () => undefined });
    }
    return written;
  }

  /** A report, or undefined when there is none. */
  async get<T>(kind: ReportKindName, namespace: string | undefined, name: string): Promise<T | undefined> {
    try {
      return await this.request<T>({ path: reportObjectPath(kind, namespace, name) });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw kubeError(err, `read ${kind}`, { namespace, name });
    }
  }

  /** Deletes a report; false when there was none. */
  async delete(kind: ReportKindName, namespace: string | undefined, name: string): Promise<boolean> {
    try {
      await this.request({ method: 'DELETE', path: reportObjectPath(kind, namespace, name) });
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw kubeError(err, `delete ${kind}`, { namespace, name });
    }
  }

  private async write<T extends ReportBody, C>(
    first: T,
    subresource: '' | 'status',
    options: WriteOptions<T, C>,
  ): Promise<Written<T> | undefined> {
    const kind = reportKindOf(first);
    const { name, namespace } = first.metadata;
    if (!name) throw new LookoutError(ErrorCodes.KUBE_API, `write ${kind}: the object has no name`);
    const where = { kind, namespace, name, ...(subresource ? { subresource } : {}) };
    let body: T | undefined = first;
    for (let attempt = 1; body; attempt++) {
      const prepared = this.prepare(kind, body, subresource, options.fit);
      try {
        const object = await this.applyAndAdopt(kind, prepared.object, subresource);
        return { object, trimmed: prepared.note };
      } catch (err) {
        if (isLookoutError(err)) throw err;
        if (subresource && isNotFound(err)) return undefined;
        const precondition = body.metadata.resourceVersion !== undefined || body.metadata.uid !== undefined;
        if (!isConflict(err) || attempt >= this.attempts || (precondition && !options.rebase)) {
          throw kubeError(err, `write ${kind}${subresource ? ` ${subresource}` : ''}`, {
            ...where,
            attempts: attempt,
          });
        }
        await this.sleep(backoffDelay(attempt - 1, this.backoff));
        if (precondition && options.rebase) {
          const current = await this.get<C>(kind, namespace, name);
          body = current === undefined ? undefined : options.rebase(current);
        }
      }
    }
    return undefined;
  }

  /** The object to send: fitted, its trimmed note as the annotation, checked against etcd's limit. */
  private prepare<T extends ReportBody>(
    kind: ReportKindName,
    body: T,
    subresource: string,
    fit: ((object: T, maxBytes: number) => Fitted<T>) | undefined,
  ): Fitted<T> {
    const fitted = fit ? fit(body, this.budgetBytes - NOTE_ROOM_BYTES) : { object: body, note: null };
    const note = fitted.note ?? body.metadata.annotations?.[TRIMMED_ANNOTATION] ?? null;
    let object = fitted.object;
    const { annotations, ...metadata } = object.metadata;
    if (subresource) {
      // Only the data and the preconditions: the subresource ignores the rest of the metadata.
      const { name, namespace, uid, resourceVersion } = metadata;
      const kept = Object.entries({ name, namespace, uid, resourceVersion }).filter(
        ([, v]) => v !== undefined,
      );
      object = { ...object, metadata: Object.fromEntries(kept) };
    } else if (note !== null) {
      object = {
        ...object,
        metadata: { ...metadata, annotations: { ...annotations, [TRIMMED_ANNOTATION]: note } },
      };
    }
    const bytes = byteLength(object);
    if (bytes > this.limitBytes) {
      throw new LookoutError(
        ErrorCodes.REPORT_TOO_LARGE,
        `${kind} ${metadata.namespace ? `${metadata.namespace}/` : ''}${metadata.name} is ${bytes} bytes, over the ${this.limitBytes} bytes etcd takes in one object; not written`,
        {
          details: {
            kind,
            namespace: metadata.namespace,
            name: metadata.name,
            bytes,
            limit: this.limitBytes,
          },
        },
      );
    }
    return { object, note };
  }

  /** One apply; when earlier writers left fields behind (see adoptionPlan), they are adopted and it applies again. */
  private async applyAndAdopt<T extends ReportBody>(
    kind: ReportKindName,
    object: T,
    subresource: '' | 'status',
  ): Promise<T> {
    const { name, namespace } = object.metadata;
    const path = reportObjectPath(kind, namespace, name, subresource || undefined);
    const applied = await this.request<T & { metadata: { managedFields?: ManagedFieldsEntry[] } }>(
      applyRequest(path, object, this.fieldManager),
    );
    const plan = adoptionPlan(applied.metadata.managedFields ?? [], {
      fieldManager: this.fieldManager,
      subresource,
      dataKeys: Object.keys(object).filter((key) => !['apiVersion', 'kind', 'metadata'].includes(key)),
      apiVersion: object.apiVersion,
    });
    if (!plan) return applied;
    // managedFields can be written through the object itself only (a subresource ignores them); at the
    // version just applied, so a write in between makes this a conflict and the write starts over.
    const adopted = await this.request<T>({
      method: 'PATCH',
      path: reportObjectPath(kind, namespace, name),
      query: { fieldManager: this.fieldManager },
      contentType: 'application/merge-patch+json',
      body: { metadata: { resourceVersion: applied.metadata.resourceVersion, managedFields: plan } },
    });
    const again =
      object.metadata.resourceVersion === undefined
        ? object
        : { ...object, metadata: { ...object.metadata, resourceVersion: adopted.metadata.resourceVersion } };
    return this.request<T>(applyRequest(path, again, this.fieldManager));
  }
}

function reportKindOf(object: ReportBody): ReportKindName {
  if (!Object.hasOwn(ReportKind, object.kind)) {
    throw new LookoutError(ErrorCodes.KUBE_API, `not a report kind: ${object.kind}`);
  }
  return object.kind as ReportKindName;
}

/** The client over a kubeconfig's API server. */
export function reportClient(kc: KubeConfig, options?: ReportClientOptions): ReportClient {
  const signal = options?.signal;
  return new ReportClient((req) => kubeRequestJson(kc, signal ? { signal, ...req } : req), options);
}
