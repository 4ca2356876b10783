/**
 * The operator process: configuration → logger → Kubernetes client → caches → HTTP. Only wiring
 * lives here; every decision is made in the modules it connects.
 */
import type { Server } from 'node:http';
import { parseArgs } from 'node:util';
import { loadConfig, redactConfig, type Config } from './config/index.ts';
import { isLookoutError, ErrorCodes } from './errors/index.ts';
import { closeHttpServer, startHttpServer } from './http/index.ts';
import { LeaderElection, loadKubeConfig } from './kube/index.ts';
import { createLogger, type Logger } from './logging/index.ts';
import { OperatorHealthMetrics, ReportMetrics } from './metrics/index.ts';
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

  // Every replica serves metrics from the report watches; they only read.
  const reportMetrics = new ReportMetrics(kc, config, log.child({ component: 'metrics' }), health);

  // Only the leader scans and writes reports; every replica serves metrics and health.
  let scanner: ScanController | undefined;
  const startScanner = async () => {
    scanner = new ScanController({
      kc,
      config,
      log: log.child({ component: 'scanner' }),
      namespaces,
      observer: health.scans,
      onWatchRestart: (watch, reason) => health.watchRestarted(watch, reason),
    });
    await scanner.start();
  };
  const stopScanner = async () => {
    const current = scanner;
    scanner = undefined;
    await current?.stop();
  };
  const election = config.operator.leaderElectionEnabled
    ? new LeaderElection({
        kc,
        namespace: config.operator.namespace,
        name: config.operator.leaderElectionId,
        log: log.child({ component: 'leader-election' }),
        onStartedLeading: () => {
          startScanner().catch((err: unknown) => {
            log.fatal({ err }, 'scanner failed to start');
            process.exit(1);
          });
        },
        onStoppedLeading: stopScanner,
      })
    : undefined;

  const { host, port } = config.operator.metricsBindAddress;
  const server: Server = await startHttpServer({
    port,
    host: host || undefined,
    log,
    readiness: [
      { name: 'namespace cache', ready: () => namespaces.synced },
      { name: 'scanner caches', ready: () => scanner === undefined || scanner.synced },
      reportMetrics.readiness,
    ],
    metrics: reportMetrics.handler,
  });

  namespaces.start();
  reportMetrics.start();
  await namespaces.waitForSync();
  if (election) {
    election.start();
  } else {
    await startScanner().catch((err: unknown) => {
      log.fatal({ err }, 'scanner failed to start');
      process.exit(1);
    });
  }
  log.info(
    { namespaces: namespaces.list().length, leaderElection: Boolean(election) },
    'caches synced; ready',
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
    if (election) await election.stop();
    else await stopScanner();
    await namespaces.stop();
    await reportMetrics.stop();
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
