import { existsSync, readFileSync } from 'node:fs';

/**
 * One API request as the API server's audit log (`startControlPlane({ auditLog: true })`) tells it:
 * the events of its stages merged into one, by auditID.
 */
export interface AuditedRequest {
  auditID: string;
  verb: string;
  /** Plural resource name, e.g. `configmaps`, `vulnerabilityreports`. */
  resource: string;
  /** API group; '' for the core group. */
  apiGroup: string;
  subresource?: string;
  namespace?: string;
  /** The object's name, also when it comes from a `metadata.name=` field selector. */
  name?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** The resourceVersion the client asked for (a watch resumes from it). */
  resourceVersion?: string;
  requestURI: string;
  /** The authenticated user name: `admin`, a harness `users` entry, `system:apiserver` … */
  user: string;
  /**
   * The User-Agent header; '' when the client sent none. Seen so far: the operator's requests
   * (made with node:https) send none; @kubernetes/client-node's generated API and Watch send
   * `node-fetch/1.0 (+https://github.com/bitinn/node-fetch)`; the controller manager's informers
   * `kube-controller-manager/v1.34.4 (linux/amd64) kubernetes/$Format/shared-informers`. A user
   * agent is easily shared or changed: to pick out one process, give it one of the control
   * plane's `users` and filter by `user`.
   */
  userAgent: string;
  /** The first stage logged: RequestReceived, or ResponseStarted when the policy omits the first. */
  stage: string;
  /** The HTTP status from the latest stage that carries one (a watch: 200 once it streams). */
  code?: number;
  /** ResponseComplete was logged: the request is over (for a watch: its stream has ended). */
  completed: boolean;
  receivedAt: string;
  /** When the API server logged ResponseComplete (for a watch: when its stream ended), if it has. */
  completedAt?: string;
}

export interface AuditFilter {
  /** Exact user name. */
  user?: string;
  /** A substring of the User-Agent, or a pattern; `/^$/` picks requests that sent none. */
  userAgent?: string | RegExp;
  verb?: string | string[];
  /** Plural resource name (any group unless `apiGroup` is given). */
  resource?: string;
  apiGroup?: string;
  /** Exact namespace; `null` picks requests across all namespaces (or of cluster-scoped resources). */
  namespace?: string | null;
}

/** Where the audit log is: a control plane started with `auditLog`, or the file itself. */
export type AuditLogSource = string | { readonly auditLogPath?: string | undefined };

interface AuditEvent {
  auditID?: string;
  stage?: string;
  verb?: string;
  requestURI?: string;
  user?: { username?: string };
  userAgent?: string;
  objectRef?: {
    resource?: string;
    apiGroup?: string;
    namespace?: string;
    name?: string;
    subresource?: string;
  };
  responseStatus?: { code?: number };
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
}

function logPath(source: AuditLogSource): string {
  const file = typeof source === 'string' ? source : source.auditLogPath;
  if (!file) throw new Error('no audit log: start the control plane with `auditLog: true`');
  return file;
}

/**
 * Every request in the audit log that matches `filter`, once each (the stages of one request
 * share an auditID), in the order the API server received them. Read it again for news: the API
 * server writes each event before the request goes on, so what a test just did is already there.
 */
export function auditedRequests(source: AuditLogSource, filter: AuditFilter = {}): AuditedRequest[] {
  const file = logPath(source);
  if (!existsSync(file)) return [];
  const byId = new Map<string, AuditedRequest>();
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let event: AuditEvent;
    try {
      event = JSON.parse(line) as AuditEvent;
    } catch {
      continue; // a line still being written
    }
    if (!event.auditID) continue;
    let request = byId.get(event.auditID);
    if (!request) {
      request = fromEvent(event.auditID, event);
      byId.set(event.auditID, request);
    }
    if (event.responseStatus?.code !== undefined) request.code = event.responseStatus.code;
    if (event.stage === 'ResponseComplete') {
      request.completed = true;
      if (event.stageTimestamp) request.completedAt = event.stageTimestamp;
    }
  }
  return [...byId.values()].filter((request) => matches(request, filter));
}

/** The watch requests in the audit log that match `filter` (see `auditedRequests`). */
export function watchRequests(
  source: AuditLogSource,
  filter: Omit<AuditFilter, 'verb'> = {},
): AuditedRequest[] {
  return auditedRequests(source, { ...filter, verb: 'watch' });
}

/** What a watch (or list) is of: resource, namespace and selectors. */
export interface WatchTarget {
  /** e.g. `configmaps in ns-1 labelSelector=app=x`, `vulnerabilityreports.aquasecurity.github.io in all namespaces` */
  key: string;
  resource: string;
  apiGroup: string;
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** How many requests were made for it (each reconnect of a watch is one more). */
  count: number;
  requests: AuditedRequest[];
}

/** Groups requests by what they watch, in the order each target was first seen. */
export function groupByTarget(requests: AuditedRequest[]): WatchTarget[] {
  const groups = new Map<string, WatchTarget>();
  for (const request of requests) {
    const key = targetKey(request);
    let group = groups.get(key);
    if (!group) {
      group = {
        key,
        resource: request.resource,
        apiGroup: request.apiGroup,
        ...(request.namespace === undefined ? {} : { namespace: request.namespace }),
        ...(request.labelSelector === undefined ? {} : { labelSelector: request.labelSelector }),
        ...(request.fieldSelector === undefined ? {} : { fieldSelector: request.fieldSelector }),
        count: 0,
        requests: [],
      };
      groups.set(key, group);
    }
    group.count += 1;
    group.requests.push(request);
  }
  return [...groups.values()];
}

/**
 * Pairs of requests that were in progress at the same time for longer than `graceMs` (a request
 * not yet complete lasts until now). A client that closes a watch and opens the next one at once
 * may be seen by the API server to do so in the other order, for the moment it takes the server to
 * notice the closed connection: `graceMs` absorbs that, while two watches held open together
 * overlap for as long as both live.
 */
export function overlappingRequests(
  requests: AuditedRequest[],
  graceMs = 1_000,
  now = Date.now(),
): { first: AuditedRequest; second: AuditedRequest; overlapMs: number }[] {
  const spans = requests
    .map((request) => ({
      request,
      start: Date.parse(request.receivedAt),
      end: request.completedAt === undefined ? now : Date.parse(request.completedAt),
    }))
    .sort((a, b) => a.start - b.start);
  const overlaps: { first: AuditedRequest; second: AuditedRequest; overlapMs: number }[] = [];
  for (const [i, a] of spans.entries()) {
    for (const b of spans.slice(i + 1)) {
      const overlapMs = Math.min(a.end, b.end) - b.start;
      if (overlapMs > graceMs) overlaps.push({ first: a.request, second: b.request, overlapMs });
    }
  }
  return overlaps;
}

/** `groupByTarget` as a plain `{ key: count }` record, handy for `assert.deepEqual`. */
export function countByTarget(requests: AuditedRequest[]): Record<string, number> {
  return Object.fromEntries(groupByTarget(requests).map((group) => [group.key, group.count]));
}

export function targetKey(
  request: Pick<AuditedRequest, 'resource' | 'apiGroup' | 'namespace' | 'labelSelector' | 'fieldSelector'>,
): string {
  const parts = [
    request.apiGroup ? `${request.resource}.${request.apiGroup}` : request.resource,
    request.namespace === undefined ? 'in all namespaces' : `in ${request.namespace}`,
  ];
  if (request.labelSelector !== undefined) parts.push(`labelSelector=${request.labelSelector}`);
  if (request.fieldSelector !== undefined) parts.push(`fieldSelector=${request.fieldSelector}`);
  return parts.join(' ');
}

function fromEvent(auditID: string, event: AuditEvent): AuditedRequest {
  const requestURI = event.requestURI ?? '';
  const query = new URL(requestURI, 'https://audit.invalid').searchParams;
  const ref = event.objectRef ?? {};
  const optional = (key: string, value: string | null | undefined) =>
    value === null || value === undefined || value === '' ? {} : { [key]: value };
  return {
    auditID,
    verb: event.verb ?? '',
    resource: ref.resource ?? '',
    apiGroup: ref.apiGroup ?? '',
    ...optional('subresource', ref.subresource),
    ...optional('namespace', ref.namespace),
    ...optional('name', ref.name),
    ...optional('labelSelector', query.get('labelSelector')),
    ...optional('fieldSelector', query.get('fieldSelector')),
    ...optional('resourceVersion', query.get('resourceVersion')),
    requestURI,
    user: event.user?.username ?? '',
    userAgent: event.userAgent ?? '',
    stage: event.stage ?? '',
    completed: false,
    receivedAt: event.requestReceivedTimestamp ?? '',
  };
}

function matches(request: AuditedRequest, filter: AuditFilter): boolean {
  if (filter.user !== undefined && request.user !== filter.user) return false;
  if (filter.userAgent !== undefined) {
    const ok =
      typeof filter.userAgent === 'string'
        ? request.userAgent.includes(filter.userAgent)
        : filter.userAgent.test(request.userAgent);
    if (!ok) return false;
  }
  if (filter.verb !== undefined) {
    const verbs = Array.isArray(filter.verb) ? filter.verb : [filter.verb];
    if (!verbs.includes(request.verb)) return false;
  }
  if (filter.resource !== undefined && request.resource !== filter.resource) return false;
  if (filter.apiGroup !== undefined && request.apiGroup !== filter.apiGroup) return false;
  if (filter.namespace !== undefined && (request.namespace ?? null) !== filter.namespace) return false;
  return true;
}
