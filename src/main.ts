/**
 * The operator process: configuration → logger → Kubernetes client → caches → HTTP. Only wiring
 * lives here; every decision is made in the modules it connects.
 */
import type { Server } from 'node:http';
import { parseArgs } from 'node:util';
import { ignoredTrivyOperatorVariables, loadConfig, redactConfig, type Config } from './config/index.ts';
import { isLookoutError, ErrorCodes } from './errors/index.ts';
import { ComplianceController } from './compliance/index.ts';
import { ConfigAuditController } from './configaudit/index.ts';
import { affectedHandler, findingsForReplica, FirstSeenTracker } from './findings/index.ts';
import { closeHttpServer, startHttpServer } from './http/index.ts';
import { InfraAssessmentController } from './infraassessment/index.ts';
import { Informers, LeaderElection, loadKubeConfig } from './kube/index.ts';
import { createLogger, type Logger } from './logging/index.ts';
import { startWebhookBroadcaster, type WebhookBroadcaster } from './notifications/index.ts';
import { OperatorHealthMetrics, ReportMetrics } from './metrics/index.ts';
import { imageReportKinds, ScanController } from './scanning/index.ts';
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

  /** Stops one component, logging how long it took (a slow shutdown names its culprit). */
  const stopComponent = async (name: string, component: { stop(): Promise<void> } | undefined) => {
    if (!component) return;
    const started = Date.now();
    await component.stop();
    log.info({ component: name, durationMs: Date.now() - started }, 'stopped');
  };
  // What has been started so far, in order; a shutdown stops it in reverse. Signal handlers go in
  // first thing, so a pod stopped while its caches sync still shuts down cleanly (exit 0, Lease
  // released) instead of dying by the default handler.
  const started: { name: string; stop(): Promise<void> }[] = [];
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
    for (const component of started.reverse()) await stopComponent(component.name, component);
    log.info('stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  log.info({ config: redactConfig(config) }, 'starting trivy-lookout');
  for (const { name, reason } of ignoredTrivyOperatorVariables(process.env)) {
    log.warn({ variable: name, reason }, 'Trivy-Operator setting has no effect here');
  }

  const kc = loadKubeConfig(values.kubeconfig);
  log.info({ server: kc.getCurrentCluster()?.server }, 'using Kubernetes API server');

  const health = new OperatorHealthMetrics();
  // One list+watch per resource for the whole process, shared by every component below.
  const informers = new Informers({
    kc,
    log: log.child({ component: 'informers' }),
    onRestart: (watch, reason) => health.watchRestarted(watch, reason),
  });
  started.push({ name: 'informers', stop: () => informers.stop() });
  const namespaces = new TargetNamespaces(informers, config);

  // Every replica indexes the vulnerability reports' findings from the exporter's own watch.
  const findings = findingsForReplica(config);
  // Every replica serves metrics from the report watches; they only read.
  const reportMetrics = new ReportMetrics(
    informers,
    config,
    log.child({ component: 'metrics' }),
    health,
    findings ? { findings: findings.index, families: () => findings.series.members() } : {},
  );

  // Only the leader scans and writes reports; every replica serves metrics and health.
  let scanner: ScanController | undefined;
  let webhook: WebhookBroadcaster | undefined;
  let compliance: ComplianceController | undefined;
  let audit: ConfigAuditController | undefined;
  let infra: InfraAssessmentController | undefined;
  let tracker: FirstSeenTracker | undefined;
  const startScanner = async () => {
    // Before anything writes reports: the webhook's baseline is what exists before this leader starts.
    webhook = await startWebhookBroadcaster({
      kc,
      config,
      log: log.child({ component: 'webhook' }),
      observer: health.webhook,
      informers,
    });
    // First-seen stamps: the leader writes them, every replica reads them back from the reports.
    if (findings) {
      tracker = new FirstSeenTracker({
        kc,
        namespace: config.operator.namespace,
        index: findings.index,
        log: log.child({ component: 'first-seen' }),
        synced: () => reportMetrics.waitForSync(),
        ...(webhook?.newFindings ? { onNewFindings: webhook.newFindings } : {}),
      });
      void tracker.start();
    }
    // Image scans (vulnerabilities, exposed secrets, SBOM): none of them switched on, no scanner.
    if (imageReportKinds(config).length > 0) {
      scanner = new ScanController({
        kc,
        config,
        log: log.child({ component: 'scanner' }),
        namespaces,
        observer: health.scans,
        informers,
        runtime: health.runtime,
      });
      await scanner.start();
    }
    // Config audit and RBAC assessment: event-driven, batched through the pinned Trivy binary.
    audit = new ConfigAuditController({
      kc,
      config,
      log: log.child({ component: 'config-audit' }),
      namespaces,
      informers,
    });
    await audit.start();
    // Infra assessment: node-collector Jobs per node, control-plane pods of kube-system.
    if (config.nodeCollector.enabled) {
      infra = new InfraAssessmentController({
        kc,
        config,
        log: log.child({ component: 'infra-assessment' }),
        informers,
      });
      await infra.start();
    }
    // Compliance reports are written by the leader too, on their own schedules.
    if (config.operator.clusterComplianceEnabled) {
      compliance = new ComplianceController({
        kc,
        config,
        log: log.child({ component: 'compliance' }),
        informers,
      });
      await compliance.start();
    }
  };
  const stopScanner = async () => {
    const current = { scanner, audit, infra, compliance, webhook, tracker };
    tracker = undefined;
    scanner = undefined;
    audit = undefined;
    infra = undefined;
    compliance = undefined;
    webhook = undefined;
    await Promise.all([
      stopComponent('config-audit', current.audit),
      stopComponent('infra-assessment', current.infra),
      stopComponent('compliance', current.compliance),
      stopComponent('scanner', current.scanner),
      stopComponent('first-seen', current.tracker),
    ]);
    // Last, so the writers' final reports can still go out.
    await stopComponent('webhook', current.webhook);
  };
  const election = config.operator.leaderElectionEnabled
    ? new LeaderElection({
        kc,
        namespace: config.operator.namespace,
        name: config.operator.leaderElectionId,
        log: log.child({ component: 'leader-election' }),
        onStartedLeading: () =>
          startScanner().catch((err: unknown) => {
            log.fatal({ err }, 'scanner failed to start');
            process.exit(1);
          }),
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
      { name: 'config audit caches', ready: () => audit === undefined || audit.synced },
      reportMetrics.readiness,
    ],
    metrics: reportMetrics.handler,
    routes: findings
      ? [
          {
            path: '/affected',
            handler: affectedHandler({
              index: findings.index,
              auth: config.findings.affectedEndpointAuth,
              kc,
              log: log.child({ component: 'affected' }),
              ready: () => reportMetrics.synced,
            }),
          },
        ]
      : [],
  });

  started.push({ name: 'http', stop: () => closeHttpServer(server) });

  namespaces.start();
  started.push({ name: 'namespaces', stop: () => namespaces.stop() });
  reportMetrics.start();
  started.push({ name: 'report-metrics', stop: () => reportMetrics.stop() });
  await namespaces.waitForSync();
  if (stopping) return;
  if (election) {
    started.push({ name: 'leader-election', stop: () => election.stop() });
    election.start();
  } else {
    started.push({ name: 'leader components', stop: stopScanner });
    await startScanner().catch((err: unknown) => {
      log.fatal({ err }, 'scanner failed to start');
      process.exit(1);
    });
  }
  log.info(
    { namespaces: namespaces.list().length, leaderElection: Boolean(election) },
    'caches synced; ready',
  );
}

main().catch((err: unknown) => {
  const log: Logger = createLogger('info');
  log.fatal({ err, code: isLookoutError(err) ? err.code : undefined }, 'trivy-lookout failed to start');
  process.exit(1);
});
