export {
  closeHttpServer,
  createHttpApp,
  startHttpServer,
  type HttpServerOptions,
  type MetricsHandler,
  type ReadinessCheck,
} from './server.ts';
