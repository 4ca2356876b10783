/**
 * The operator process: configuration → logger → Kubernetes client → caches → HTTP. Only wiring
 * lives here; every decision is made in the modules it connects.
 */
import type { Server } from 'node:http';
import { parseArgs } from 'node:util';
import { loadConfig, redactConfig, type Config } from './config/index.ts';
import { isLookoutError, ErrorCodes } from './errors/index.ts';
import { closeHttpServer, startHttpServer } from './http/index.ts';
import { loadKubeConfig } from './kube/index.ts';
import { createLogger, type Logger } from './logging/index.ts';
import { OperatorHealthMetrics, registryHandler } from './metrics/index.ts';
import { ScanController } from './scanning/index.ts';
import { TargetNamespaces } from './workloads/index.ts';

function readConfigOrExit(): Config {
  try {
    return loadConfig(process.env);
  } catch (err) {
    if (isLookoutError(err, ErrorCodes.CONFIG_INVALID) || isLookoutError(err, ErrorCodes.CONFIG_FILE)) {
      // Plain lines, one per bad setting: this is read by a person looking at a crash-looping pod.
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { kubeconfig: { type: 'string' } } });
  const config = readConfigOrExit();
  const log = createLogger(config.operator.logLevel);
  log.info({ config: redactConfig(config) }, 'starting trivy-lookout');

  const kc = loadKubeConfig(values.kubeconfig);
  log.info({ server: kc.getCurrentCluster()?.server }, 'using Kubernetes API server');

  const health = new OperatorHealthMetrics();
  const namespaces = new TargetNamespaces(kc, config, log, (reason) =>
    health.watchRestarted('namespaces', reason),
  );

  const scanner = new ScanController({
    kc,
    config,
    log: log.child({ component: 'scanner' }),
    namespaces,
    onWatchRestart: (watch, reason) => health.watchRestarted(watch, reason),
  });

  const { host, port } = config.operator.metricsBindAddress;
  const server: Server = await startHttpServer({
    port,
    host: host || undefined,
    log,
    readiness: [
      { name: 'namespace cache', ready: () => namespaces.synced },
      { name: 'scanner caches', ready: () => scanner.synced },
    ],
    metrics: registryHandler(health.registry),
  });

  namespaces.start();
  void scanner.start().then(
    () => log.info({ namespaces: namespaces.list().length }, 'caches synced; ready'),
    (err: unknown) => {
      log.fatal({ err }, 'scanner failed to start');
      process.exit(1);
    },
  );

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    const forced = setTimeout(() => {
      log.error('shutdown took too long; exiting');
      process.exit(1);
    }, 20_000);
    forced.unref();
    await scanner.stop();
    await namespaces.stop();
    await closeHttpServer(server);
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  const log: Logger = createLogger('info');
  log.fatal({ err, code: isLookoutError(err) ? err.code : undefined }, 'trivy-lookout failed to start');
  process.exit(1);
});
