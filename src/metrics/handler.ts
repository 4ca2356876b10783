import type { Request, Response } from 'express';
import type { Registry } from 'prom-client';

/** Serves a prom-client registry in the text format Prometheus negotiates. */
export function registryHandler(registry: Registry) {
  return async (_req: Request, res: Response): Promise<void> => {
    const body = await registry.metrics();
    res.setHeader('Content-Type', registry.contentType);
    res.send(body);
  };
}
