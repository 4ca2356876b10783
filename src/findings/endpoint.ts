/**
 * `GET /affected?vulnerability=CVE-2021-44228[&namespace=shop]`: which workload containers run a
 * vulnerability, from the index, as JSON. Which workloads are exploitable is exactly what an
 * attacker inside the cluster would like to know, so by default only callers the API server
 * vouches for get an answer, and only about namespaces where they could list the reports anyway:
 * a bearer token checked with a TokenReview, then a SubjectAccessReview for `list
 * vulnerabilityreports` (cluster-wide, else per namespace). Decisions are cached briefly.
 */
import { createHash } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Request, Response } from 'express';
import type { Logger } from 'pino';
import { DNS_LABEL, type AffectedEndpointAuth } from '../config/index.ts';
import { API_GROUP, ReportKind } from '../crds/index.ts';
import { kubeRequestJson } from '../kube/index.ts';
import type { AffectedRow, FindingsIndex } from './findings-index.ts';
import { isVulnerabilityId, normalizeVulnerabilityId } from './subject.ts';

/** How long an identity and its permissions are trusted before asking the API server again. */
const DECISION_TTL_MS = 60_000;
const MAX_CACHED_CALLERS = 1_000;

/** The answer's body. */
export interface AffectedResponse {
  readonly vulnerabilityId: string;
  readonly workloads: readonly AffectedRow[];
}

export interface AffectedEndpointOptions {
  readonly index: FindingsIndex;
  readonly auth: AffectedEndpointAuth;
  readonly kc: KubeConfig;
  readonly log: Logger;
  /** False until the index holds every report: an answer then could miss workloads. */
  readonly ready: () => boolean;
}

/** A caller's permissions, once the API server has said who it is. */
interface Caller {
  readonly user: { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> };
  readonly expires: number;
  allNamespaces?: boolean;
  readonly namespaces: Map<string, boolean>;
}

export function affectedHandler(o: AffectedEndpointOptions): (req: Request, res: Response) => Promise<void> {
  const callers = new Map<string, Caller>();

  async function identify(token: string): Promise<Caller | undefined> {
    const hash = createHash('sha256').update(token).digest('base64url');
    const cached = callers.get(hash);
    if (cached && cached.expires > Date.now()) return cached;
    const review = await kubeRequestJson<{ status?: { authenticated?: boolean; user?: Caller['user'] } }>(
      o.kc,
      {
        method: 'POST',
        path: '/apis/authentication.k8s.io/v1/tokenreviews',
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
      },
    );
    if (!review.status?.authenticated || !review.status.user) return undefined;
    if (callers.size >= MAX_CACHED_CALLERS) callers.clear();
    const caller: Caller = {
      user: review.status.user,
      expires: Date.now() + DECISION_TTL_MS,
      namespaces: new Map(),
    };
    callers.set(hash, caller);
    return caller;
  }

  async function mayList(caller: Caller, namespace: string | undefined): Promise<boolean> {
    if (namespace === undefined && caller.allNamespaces !== undefined) return caller.allNamespaces;
    const known = namespace === undefined ? undefined : caller.namespaces.get(namespace);
    if (known !== undefined) return known;
    const { username, uid, groups, extra } = caller.user;
    const review = await kubeRequestJson<{ status?: { allowed?: boolean } }>(o.kc, {
      method: 'POST',
      path: '/apis/authorization.k8s.io/v1/subjectaccessreviews',
      body: {
        apiVersion: 'authorization.k8s.io/v1',
        kind: 'SubjectAccessReview',
        spec: {
          user: username,
          uid,
          groups,
          extra,
          resourceAttributes: {
            group: API_GROUP,
            resource: ReportKind.VulnerabilityReport.plural,
            verb: 'list',
            ...(namespace === undefined ? {} : { namespace }),
          },
        },
      },
    });
    const allowed = review.status?.allowed === true;
    if (namespace === undefined) caller.allNamespaces = allowed;
    else caller.namespaces.set(namespace, allowed);
    return allowed;
  }

  return async (req, res) => {
    const id = typeof req.query.vulnerability === 'string' ? req.query.vulnerability.trim() : '';
    const namespace = typeof req.query.namespace === 'string' ? req.query.namespace : undefined;
    if (!isVulnerabilityId(id)) {
      res.status(400).json({ error: 'give the vulnerability ID as ?vulnerability=CVE-2021-44228' });
      return;
    }
    if (namespace !== undefined && !DNS_LABEL.test(namespace)) {
      res.status(400).json({ error: 'namespace is not a valid namespace name' });
      return;
    }
    if (!o.ready()) {
      res.status(503).json({ error: 'the vulnerability reports are still being listed; retry shortly' });
      return;
    }
    let rows = o.index.affected(id, namespace === undefined ? undefined : (ns) => ns === namespace);
    if (o.auth === 'kubernetes') {
      const header = req.get('authorization') ?? '';
      const token = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
      if (!token) {
        res
          .status(401)
          .set('WWW-Authenticate', 'Bearer')
          .json({ error: 'a Kubernetes bearer token is required' });
        return;
      }
      let caller: Caller | undefined;
      try {
        caller = await identify(token);
        if (!caller) {
          res
            .status(401)
            .set('WWW-Authenticate', 'Bearer')
            .json({ error: 'the API server did not accept the token' });
          return;
        }
        if (!(await mayList(caller, undefined))) {
          const allowed = new Map<string, boolean>();
          for (const ns of new Set(rows.map((r) => r.namespace))) allowed.set(ns, await mayList(caller, ns));
          rows = rows.filter((r) => allowed.get(r.namespace) === true);
        }
      } catch (err) {
        o.log.warn({ err }, '/affected: could not check the caller with the API server');
        res.status(503).json({ error: 'could not check the caller with the API server; retry shortly' });
        return;
      }
      o.log.debug(
        { user: caller.user.username, vulnerabilityId: id, rows: rows.length },
        '/affected answered',
      );
    }
    const body: AffectedResponse = { vulnerabilityId: normalizeVulnerabilityId(id), workloads: rows };
    res.set('Cache-Control', 'no-store').json(body);
  };
}
