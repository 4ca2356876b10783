import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export type Query = Record<string, string | number | boolean | undefined>;

export interface KubeRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  /** API path, e.g. /api/v1/namespaces/default/pods */
  path: string;
  query?: Query;
  body?: unknown;
  contentType?: string;
  /** Overrides the Accept header, e.g. to ask for PartialObjectMetadata. */
  accept?: string;
  signal?: AbortSignal;
  /** Socket idle timeout; a watch relies on its own stall detection instead. */
  timeoutMs?: number;
}

/** An API failure shaped like the client's own errors (`.code`, `.body`), so one normaliser serves both. */
export class KubeHttpError extends Error {
  constructor(
    readonly code: number,
    readonly body: string,
  ) {
    super(`HTTP ${code}`);
    this.name = 'KubeHttpError';
  }
}

/**
 * Opens a request with the kubeconfig's credentials and returns the response stream. Used where the
 * generated client would buffer or deserialise too much: paged lists of huge reports and watches,
 * whose lines we parse one at a time. Non-2xx answers are read and thrown as KubeHttpError.
 */
const USER_AGENT = `trivy-lookout (${process.platform}/${process.arch}) node/${process.versions.node}`;

export async function openKubeRequest(kc: KubeConfig, req: KubeRequest): Promise<IncomingMessage> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(cluster.server.replace(/\/$/, '') + req.path);
  for (const [key, value] of Object.entries(req.query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, String(value));
  }
  const options: https.RequestOptions = {
    method: req.method ?? 'GET',
    // Named in the API server's audit log and request metrics, as client-go's user agent names its binary.
    headers: { accept: req.accept ?? 'application/json', 'user-agent': USER_AGENT },
  };
  await kc.applyToHTTPSOptions(options);
  const payload = req.body === undefined ? undefined : JSON.stringify(req.body);
  if (payload !== undefined) {
    options.headers = {
      ...options.headers,
      'content-type': req.contentType ?? 'application/json',
      'content-length': Buffer.byteLength(payload),
    };
  }
  if (req.signal) options.signal = req.signal;
  const transport = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const request = transport.request(url, options, (res) => {
      const status = res.statusCode ?? 0;
      if (status >= 200 && status < 300) {
        resolve(res);
        return;
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => reject(new KubeHttpError(status, Buffer.concat(chunks).toString('utf8'))));
      res.on('error', reject);
    });
    if (req.timeoutMs)
      request.setTimeout(req.timeoutMs, () => request.destroy(new Error('request timed out')));
    request.on('error', reject);
    request.end(payload);
  });
}

/** A request whose JSON answer is read whole: for small objects and one page of a list. */
export async function kubeRequestJson<T>(kc: KubeConfig, req: KubeRequest): Promise<T> {
  const res = await openKubeRequest(kc, { timeoutMs: 60_000, ...req });
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const text = Buffer.concat(chunks).toString('utf8');
  return (text ? JSON.parse(text) : undefined) as T;
}
