/**
 * The exporter on a real API server, for the integration tests: the real ReportMetrics and HTTP
 * server, reports created through the API, scrapes over loopback.
 */
import http, { type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import type { KubeConfig } from '@kubernetes/client-node';
import { loadConfig } from '../../../src/config/index.ts';
import { API_GROUP, API_VERSION, ReportKind, type ReportKindName } from '../../../src/crds/index.ts';
import { closeHttpServer, startHttpServer } from '../../../src/http/index.ts';
import { Informers, kubeRequestJson } from '../../../src/kube/index.ts';
import { createLogger } from '../../../src/logging/index.ts';
import { OperatorHealthMetrics, ReportMetrics } from '../../../src/metrics/index.ts';

export interface RunningExporter {
  readonly port: number;
  readonly metrics: ReportMetrics;
  stop(): Promise<void>;
}

/** Starts ReportMetrics with settings given as environment variables, served on a free loopback port. */
export async function startExporter(kc: KubeConfig, env: Record<string, string>): Promise<RunningExporter> {
  const config = loadConfig(env, () => {
    throw new Error('no config file in tests');
  });
  const log = createLogger('silent');
  const health = new OperatorHealthMetrics();
  const informers = new Informers({ kc, log, watchTimeoutSeconds: 60 });
  const metrics = new ReportMetrics(informers, config, log, health, { pageSize: 2 });
  const server: Server = await startHttpServer({
    port: 0,
    host: '127.0.0.1',
    log,
    readiness: [metrics.readiness],
    metrics: metrics.handler,
  });
  return {
    port: (server.address() as AddressInfo).port,
    metrics,
    async stop() {
      await metrics.stop();
      await informers.stop();
      await closeHttpServer(server);
    },
  };
}

export interface Scrape {
  status: number;
  contentType: string | null;
  text: string;
}

/** GET /metrics (or another path) with node:http, which leaves the body as sent; gzip is decoded here. */
export function scrape(
  port: number,
  headers: Record<string, string> = {},
  path = '/metrics',
): Promise<Scrape> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const body = Buffer.concat(chunks);
          const gzip = res.headers['content-encoding'] === 'gzip';
          resolve({
            status: res.statusCode ?? 0,
            contentType: res.headers['content-type'] ?? null,
            text: (gzip ? gunzipSync(body) : body).toString('utf8'),
          });
        });
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** The sample lines of one family, optionally only those containing `filter`. */
export function familyLines(text: string, name: string, filter = ''): string[] {
  return text
    .split('\n')
    .filter((line) => (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) && line.includes(filter));
}

export { eventually } from '../../harness/waiting.ts';

function collectionPath(kind: ReportKindName, namespace?: string): string {
  const { plural, namespaced } = ReportKind[kind];
  return namespaced
    ? `/apis/${API_GROUP}/${API_VERSION}/namespaces/${namespace ?? ''}/${plural}`
    : `/apis/${API_GROUP}/${API_VERSION}/${plural}`;
}

type KubeObject = { kind: string; metadata: { name: string; namespace?: string } } & Record<string, unknown>;

/** Report CRUD through the API server, as Trivy-Operator or our report writer would do it. */
export class Reports {
  constructor(private readonly kc: KubeConfig) {}

  create(report: KubeObject): Promise<KubeObject> {
    const kind = report.kind as ReportKindName;
    return kubeRequestJson(this.kc, {
      method: 'POST',
      path: collectionPath(kind, report.metadata.namespace),
      body: report,
    });
  }

  /** JSON merge patch (lists are replaced whole). */
  patch(
    kind: ReportKindName,
    name: string,
    namespace: string | undefined,
    patch: unknown,
  ): Promise<KubeObject> {
    return kubeRequestJson(this.kc, {
      method: 'PATCH',
      path: `${collectionPath(kind, namespace)}/${name}`,
      body: patch,
      contentType: 'application/merge-patch+json',
    });
  }

  /** Writes `status` through the status subresource (compliance reports ignore it on create). */
  patchStatus(kind: ReportKindName, name: string, status: unknown): Promise<KubeObject> {
    return kubeRequestJson(this.kc, {
      method: 'PATCH',
      path: `${collectionPath(kind)}/${name}/status`,
      body: { status },
      contentType: 'application/merge-patch+json',
    });
  }

  async delete(kind: ReportKindName, name: string, namespace?: string): Promise<void> {
    await kubeRequestJson(this.kc, { method: 'DELETE', path: `${collectionPath(kind, namespace)}/${name}` });
  }
}
