import type { Server } from 'node:http';
import express, { type Express, type Request, type Response } from 'express';
import type { Logger } from 'pino';

/** Something that must be true before the operator takes traffic (a cache synced, a lease known). */
export interface ReadinessCheck {
  name: string;
  ready(): boolean;
}

/** Serves the scrape endpoint; the metrics module provides it so the HTTP layer knows nothing of series. */
export type MetricsHandler = (req: Request, res: Response) => void | Promise<void>;

/** A further GET endpoint served beside the built-in ones (e.g. /affected). */
export interface HttpRoute {
  path: string;
  handler: MetricsHandler;
}

export interface HttpServerOptions {
  port: number;
  host?: string;
  log: Logger;
  readiness: readonly ReadinessCheck[];
  metrics?: MetricsHandler;
  routes?: readonly HttpRoute[];
}

export function createHttpApp(options: Omit<HttpServerOptions, 'port' | 'host'>): Express {
  const app = express();
  app.disable('x-powered-by');
  // Liveness: the event loop answers. Nothing that depends on the API server, or a flaky network
  // would get the pod restarted for no benefit.
  app.get('/healthz', (_req, res) => {
    res.type('text/plain').send('ok');
  });
  app.get('/readyz', (_req, res) => {
    const pending = options.readiness.filter((check) => !check.ready()).map((check) => check.name);
    if (pending.length === 0) {
      res.type('text/plain').send('ok');
      return;
    }
    res
      .status(503)
      .type('text/plain')
      .send(`not ready: ${pending.join(', ')}\n`);
  });
  if (options.metrics) {
    const handler = options.metrics;
    app.get('/metrics', (req, res, next) => {
      Promise.resolve(handler(req, res)).catch(next);
    });
  }
  for (const route of options.routes ?? []) {
    app.get(route.path, (req, res, next) => {
      Promise.resolve(route.handler(req, res)).catch(next);
    });
  }
  return app;
}

/** Starts listening; resolves once the port is bound so start-up errors (port in use) surface. */
export function startHttpServer(options: HttpServerOptions): Promise<Server> {
  const app = createHttpApp(options);
  return new Promise((resolve, reject) => {
    const server = app.listen(options.port, options.host ?? '0.0.0.0');
    server.once('listening', () => {
      const paths = ['/metrics', '/healthz', '/readyz', ...(options.routes ?? []).map((r) => r.path)];
      options.log.info({ port: options.port }, `http server listening (${paths.join(', ')})`);
      resolve(server);
    });
    server.once('error', reject);
  });
}

export function closeHttpServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
