/**
 * A fake Kubernetes API server over HTTP on 127.0.0.1, for unit tests of controllers with the real
 * clients (the generated one, kubeRequestJson, the informers' list+watch). Objects are kept by
 * their path; it answers what controllers ask of the API and nothing more:
 *
 * - GET of an object (404 when absent), and of a pod's `log` (text/plain, from `logs`);
 * - GET of a collection (namespaced or across namespaces, `labelSelector` honoured, one page), and
 *   `?watch=true` from a resourceVersion: the events since then, then every change as it happens,
 *   until `timeoutSeconds`; metadata only (PartialObjectMetadata) when the Accept header asks for it;
 * - POST (create; 409 when it exists), PUT (replace), PATCH (server-side apply creates or
 *   replaces; merge and JSON patches change an existing object), DELETE (with the objects it owns,
 *   as the garbage collector would); on `…/status`, PUT and PATCH change only the status of an
 *   object that exists.
 *
 * Requests are recorded in `calls` as `METHOD path` (`WATCH path` for a watch). `failures` answers
 * 500 a number of times; `refuse` answers any status; `hang` never answers (the client must give
 * up). Objects set in `objects` directly are served but make no watch event; `put` and `remove`
 * make them, as the controllers' own writes do.
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

export type WatchEvent = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A request as the fake saw it. */
export interface FakeRequest {
  /** `GET`, `WATCH`, `POST`, `PUT`, `PATCH`, `DELETE`. */
  readonly verb: string;
  readonly path: string;
  readonly query: URLSearchParams;
  readonly contentType: string | undefined;
  /** Metadata only: the Accept header asks for PartialObjectMetadata(List). */
  readonly metadataOnly: boolean;
  readonly body: unknown;
}

export interface FakeAnswer {
  readonly code: number;
  /** Sent as JSON, unless `text` is set. */
  readonly body?: unknown;
  /** Sent as text/plain (a container log). */
  readonly text?: string;
}

interface Rule {
  readonly verb: string;
  readonly path: string | RegExp;
  times: number;
  readonly answer: FakeAnswer | 'hang';
}

/** Where a path points: a collection (no name), an object, or an object's subresource. */
interface Location {
  readonly api: string;
  readonly namespace: string | undefined;
  readonly plural: string;
  readonly name: string | undefined;
  readonly subresource: string | undefined;
}

interface Watch {
  readonly at: Location;
  readonly metadataOnly: boolean;
  readonly selector: (labels: Record<string, string>) => boolean;
  readonly res: http.ServerResponse;
}

interface Change {
  readonly rv: number;
  readonly path: string;
  readonly type: WatchEvent;
  readonly object: KubernetesObject;
}

/** A Status object, as the API server answers a failure. */
export function apiStatus(code: number, reason: string, message: string): FakeAnswer {
  return {
    code,
    body: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code },
  };
}

const PATH =
  /^\/(api\/v1|apis\/[^/]+\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/;

function locate(path: string): Location | undefined {
  const m = PATH.exec(path);
  if (!m) return undefined;
  return { api: m[1] ?? '', namespace: m[2], plural: m[3] ?? '', name: m[4], subresource: m[5] };
}

/** In the collection `at` (a namespace's, or all namespaces'), whatever the object's namespace. */
function inCollection(object: Location, at: Location): boolean {
  return (
    object.name !== undefined &&
    object.subresource === undefined &&
    object.api === at.api &&
    object.plural === at.plural &&
    (at.namespace === undefined || at.namespace === object.namespace)
  );
}

/** Equality-based selectors (`a=b`, `a==b`, `a!=b`, `a`, `!a`), comma-separated. */
function labelSelector(text: string | null): (labels: Record<string, string>) => boolean {
  const terms = (text ?? '')
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean)
    .map((term): ((labels: Record<string, string>) => boolean) => {
      const not = /^([^!=]+)!=(.*)$/.exec(term);
      if (not) return (labels) => labels[not[1] ?? ''] !== not[2];
      const is = /^([^!=]+)==?(.*)$/.exec(term);
      if (is) return (labels) => labels[is[1] ?? ''] === is[2];
      if (term.startsWith('!')) return (labels) => labels[term.slice(1)] === undefined;
      return (labels) => labels[term] !== undefined;
    });
  return (labels) => terms.every((matches) => matches(labels));
}

const labelsOf = (object: KubernetesObject): Record<string, string> => object.metadata?.labels ?? {};

/** What a metadata-only list or watch carries of an object. */
const partial = (object: KubernetesObject): KubernetesObject => ({
  apiVersion: 'meta.k8s.io/v1',
  kind: 'PartialObjectMetadata',
  metadata: object.metadata,
});
const clone = <T>(value: T): T => structuredClone(value);

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** RFC 7386. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clone(patch);
  const out: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

/** RFC 6902, the operations controllers send: add, replace, remove. */
function jsonPatch(target: unknown, ops: unknown): unknown {
  const doc = clone(target) as Record<string, unknown>;
  for (const op of Array.isArray(ops) ? (ops as { op: string; path: string; value?: unknown }[]) : []) {
    const keys = op.path
      .split('/')
      .slice(1)
      .map((k) => k.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = keys.pop() ?? '';
    let parent: Record<string, unknown> = doc;
    for (const key of keys) {
      if (!isRecord(parent[key])) parent[key] = {};
      parent = parent[key] as Record<string, unknown>;
    }
    if (op.op === 'remove') delete parent[last];
    else parent[last] = clone(op.value);
  }
  return doc;
}

export class FakeApiServer {
  /** Every request, `METHOD path` (`WATCH path` for a watch), in the order they came. */
  readonly calls: string[] = [];
  readonly requests: FakeRequest[] = [];
  /** Objects by path, e.g. `/api/v1/namespaces/app/pods/web-1`. */
  readonly objects = new Map<string, KubernetesObject>();
  /** Container logs by the pod's path. */
  readonly logs = new Map<string, string>();
  /** `METHOD path` → how many times it fails (500) before it is answered. */
  readonly failures = new Map<string, number>();
  /** Requests the client gave up on before they were answered (`hang`), `METHOD path`. */
  readonly abandoned: string[] = [];
  private readonly rules: Rule[] = [];
  private readonly changes: Change[] = [];
  private readonly watches = new Set<Watch>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private rv = 1;
  private readonly server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://fake');
      const watch = req.method === 'GET' && ['true', '1'].includes(url.searchParams.get('watch') ?? '');
      const text = Buffer.concat(chunks).toString('utf8');
      const request: FakeRequest = {
        verb: watch ? 'WATCH' : (req.method ?? 'GET'),
        path: url.pathname,
        query: url.searchParams,
        contentType: req.headers['content-type']?.split(';')[0],
        metadataOnly: /;as=PartialObjectMetadata(List)?;/.test(req.headers.accept ?? ''),
        body: text ? (JSON.parse(text) as unknown) : undefined,
      };
      const call = `${request.verb} ${request.path}`;
      this.calls.push(call);
      this.requests.push(request);
      const answer = this.ruleFor(request, call);
      if (answer === 'hang') {
        res.on('close', () => this.abandoned.push(call));
        return;
      }
      if (answer) {
        send(res, answer);
        return;
      }
      if (watch) this.openWatch(request, res);
      else send(res, this.handle(request));
    });
  });

  /** Listens on a free port of 127.0.0.1; a KubeConfig for it. */
  async start(): Promise<KubeConfig> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
      users: [{ name: 'fake' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
      currentContext: 'fake',
    });
    return kc;
  }

  async stop(): Promise<void> {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    for (const w of this.watches) w.res.end();
    this.watches.clear();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  callsTo(prefix: string): string[] {
    return this.calls.filter((call) => call.startsWith(prefix));
  }

  /** The next `times` requests `VERB path` (a pathname, or a pattern) get `answer` instead. */
  refuse(verb: string, path: string | RegExp, answer: FakeAnswer, times = 1): void {
    this.rules.push({ verb, path, times, answer });
  }

  /** The next `times` requests `VERB path` are never answered. */
  hang(verb: string, path: string | RegExp, times = Infinity): void {
    this.rules.push({ verb, path, times, answer: 'hang' });
  }

  get<T extends KubernetesObject>(path: string): T | undefined {
    return this.objects.get(path) as T | undefined;
  }

  /** Objects of a collection path (across namespaces when it names none). */
  list<T extends KubernetesObject>(collection: string, selector?: string): T[] {
    const at = locate(collection);
    if (!at) return [];
    const matches = labelSelector(selector ?? null);
    return [...this.objects]
      .filter(([path, object]) => {
        const where = locate(path);
        return where !== undefined && inCollection(where, at) && matches(labelsOf(object));
      })
      .map(([, object]) => object as T);
  }

  /** Creates or replaces the object at `path` (as a controller's write would), with a watch event. */
  put<T extends KubernetesObject>(path: string, object: T): T {
    const previous = this.objects.get(path);
    const at = locate(path);
    const stored = clone(object);
    stored.metadata = {
      ...stored.metadata,
      ...(at?.namespace ? { namespace: at.namespace } : {}),
      name: stored.metadata?.name ?? at?.name,
      uid: previous?.metadata?.uid ?? stored.metadata?.uid ?? randomUUID(),
      creationTimestamp:
        previous?.metadata?.creationTimestamp ?? stored.metadata?.creationTimestamp ?? new Date(),
      resourceVersion: String(++this.rv),
    };
    this.objects.set(path, stored);
    this.emit(path, previous ? 'MODIFIED' : 'ADDED', stored);
    return stored;
  }

  /** Deletes the object at `path` and what it owns, with watch events; false when there was none. */
  remove(path: string): boolean {
    const object = this.objects.get(path);
    if (!object) return false;
    this.objects.delete(path);
    this.emit(path, 'DELETED', {
      ...object,
      metadata: { ...object.metadata, resourceVersion: String(++this.rv) },
    });
    const uid = object.metadata?.uid;
    for (const [owned, o] of [...this.objects])
      if (uid && o.metadata?.ownerReferences?.some((ref) => ref.uid === uid)) this.remove(owned);
    return true;
  }

  private ruleFor(request: FakeRequest, call: string): FakeAnswer | 'hang' | undefined {
    const failing = this.failures.get(call) ?? 0;
    if (failing > 0) {
      this.failures.set(call, failing - 1);
      return apiStatus(500, 'InternalError', 'etcd is having a moment');
    }
    const rule = this.rules.find(
      (r) =>
        r.times > 0 &&
        r.verb === request.verb &&
        (typeof r.path === 'string' ? r.path === request.path : r.path.test(request.path)),
    );
    if (!rule) return undefined;
    rule.times -= 1;
    return rule.answer;
  }

  private handle(request: FakeRequest): FakeAnswer {
    const { verb, path, body } = request;
    const at = locate(path);
    if (!at) return apiStatus(404, 'NotFound', `the server could not find the requested resource ${path}`);
    const objectPath = at.subresource === undefined ? path : path.slice(0, path.lastIndexOf('/'));
    const existing = this.objects.get(objectPath);
    const notFound = () => apiStatus(404, 'NotFound', `${at.plural} "${at.name ?? ''}" not found`);

    if (at.subresource === 'log') {
      if (verb !== 'GET') return apiStatus(405, 'MethodNotAllowed', 'logs are read-only');
      if (!existing) return notFound();
      const log = this.logs.get(objectPath);
      if (log === undefined) return apiStatus(400, 'BadRequest', `container in pod "${at.name}" is waiting`);
      return { code: 200, text: log };
    }

    if (at.name === undefined) {
      if (verb === 'GET') {
        const items = this.list(path, request.query.get('labelSelector') ?? undefined);
        const list = request.metadataOnly
          ? { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', items: items.map(partial) }
          : { kind: 'List', apiVersion: 'v1', items };
        return { code: 200, body: { ...list, metadata: { resourceVersion: String(this.rv) } } };
      }
      if (verb === 'POST') {
        const object = body as KubernetesObject;
        let name = object.metadata?.name;
        if (!name && object.metadata?.generateName)
          name = `${object.metadata.generateName}${randomUUID().slice(0, 5)}`;
        if (!name) return apiStatus(422, 'Invalid', 'metadata.name: Required value');
        const target = `${path}/${name}`;
        if (this.objects.has(target))
          return apiStatus(409, 'AlreadyExists', `${at.plural} "${name}" already exists`);
        return { code: 201, body: this.put(target, { ...object, metadata: { ...object.metadata, name } }) };
      }
      return apiStatus(405, 'MethodNotAllowed', `${verb} of a collection`);
    }

    if (at.subresource === 'status') {
      // As a real status subresource: only the status changes, of an object that exists.
      if (!existing) return notFound();
      if (verb === 'GET') return { code: 200, body: existing };
      if (verb !== 'PUT' && verb !== 'PATCH')
        return apiStatus(405, 'MethodNotAllowed', `${verb} of a status`);
      const changed =
        verb === 'PUT' || request.contentType === 'application/apply-patch+yaml'
          ? body
          : request.contentType === 'application/json-patch+json'
            ? jsonPatch(existing, body)
            : mergePatch(existing, body);
      const { status } = changed as { status?: unknown };
      return { code: 200, body: this.put(objectPath, { ...existing, status } as KubernetesObject) };
    }

    switch (verb) {
      case 'GET':
        return existing ? { code: 200, body: existing } : notFound();
      case 'PUT':
        return existing ? { code: 200, body: this.put(objectPath, body as KubernetesObject) } : notFound();
      case 'PATCH': {
        if (request.contentType === 'application/apply-patch+yaml') {
          // Server-side apply, forced: what is sent is the object (no other manager's fields here).
          const applied = this.put(objectPath, body as KubernetesObject);
          return { code: existing ? 200 : 201, body: applied };
        }
        if (!existing) return notFound();
        const patched =
          request.contentType === 'application/json-patch+json'
            ? jsonPatch(existing, body)
            : mergePatch(existing, body);
        return { code: 200, body: this.put(objectPath, patched as KubernetesObject) };
      }
      case 'DELETE':
        if (!existing) return notFound();
        this.remove(objectPath);
        return { code: 200, body: existing };
      default:
        return apiStatus(405, 'MethodNotAllowed', `${verb} of an object`);
    }
  }

  private openWatch(request: FakeRequest, res: http.ServerResponse): void {
    const at = locate(request.path);
    if (!at || at.name !== undefined) {
      send(res, apiStatus(404, 'NotFound', `no collection at ${request.path}`));
      return;
    }
    const watch: Watch = {
      at,
      metadataOnly: request.metadataOnly,
      selector: labelSelector(request.query.get('labelSelector')),
      res,
    };
    res.writeHead(200, { 'content-type': 'application/json' });
    const since = Number(request.query.get('resourceVersion') ?? '0');
    if (since > 0) {
      for (const change of this.changes) if (change.rv > since) this.deliver(watch, change);
    } else {
      for (const object of this.list(request.path, request.query.get('labelSelector') ?? undefined))
        this.send(watch, 'ADDED', object);
    }
    this.watches.add(watch);
    const seconds = Number(request.query.get('timeoutSeconds') ?? '0');
    const timer = seconds > 0 ? setTimeout(() => res.end(), seconds * 1000) : undefined;
    if (timer) this.timers.add(timer);
    res.on('close', () => {
      this.watches.delete(watch);
      if (timer) {
        clearTimeout(timer);
        this.timers.delete(timer);
      }
    });
  }

  private emit(path: string, type: WatchEvent, object: KubernetesObject): void {
    const change: Change = { rv: this.rv, path, type, object: clone(object) };
    this.changes.push(change);
    for (const watch of this.watches) this.deliver(watch, change);
  }

  private deliver(watch: Watch, change: Change): void {
    const where = locate(change.path);
    if (!where || !inCollection(where, watch.at) || !watch.selector(labelsOf(change.object))) return;
    this.send(watch, change.type, change.object);
  }

  private send(watch: Watch, type: WatchEvent, object: KubernetesObject): void {
    const sent = watch.metadataOnly ? partial(object) : object;
    watch.res.write(`${JSON.stringify({ type, object: sent })}\n`);
  }
}

function send(res: http.ServerResponse, answer: FakeAnswer): void {
  if (answer.text !== undefined) {
    res.writeHead(answer.code, { 'content-type': 'text/plain' });
    res.end(answer.text);
    return;
  }
  res.writeHead(answer.code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(answer.body ?? {}));
}
