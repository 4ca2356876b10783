export {
  closeHttpServer,
  createHttpApp,
  startHttpServer,
  type HttpRoute,
  type HttpServerOptions,
  type MetricsHandler,
  type ReadinessCheck,
} from './server.ts';
