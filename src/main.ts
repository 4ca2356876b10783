/**
 * The operator process: configuration → logger → Kubernetes client → caches → HTTP. Only wiring
 * lives here; every decision is made in the modules it connects.
 */
import type { Server } from 'node:http';
import type { KubeConfig } from '@kubernetes/client-node';
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
import { ComponentList, type Component } from './lifecycle/index.ts';

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

  // Signal handlers go in first thing: a pod stopped while its caches sync still shuts down
  // cleanly (exit 0, Lease released) instead of dying by the default handler.
  // Filled once there is something to run; a signal before that just exits.
  const running: ComponentList[] = [];
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
    for (const list of running) await list.stop();
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

  // Only the leader writes: scans, audits, assessments, compliance, first-seen stamps, the webhook.
  const leader = new ComponentList(
    'leader',
    leaderComponents({ kc, config, log, health, informers, namespaces, reportMetrics, findings }),
    log,
  );
  const election = config.operator.leaderElectionEnabled
    ? new LeaderElection({
        kc,
        namespace: config.operator.namespace,
        name: config.operator.leaderElectionId,
        log: log.child({ component: 'leader-election' }),
        onStartedLeading: () => startLeader(leader, log),
        onStoppedLeading: () => leader.stop(),
      })
    : undefined;

  const { host, port } = config.operator.metricsBindAddress;
  let server: Server | undefined;
  const everywhere = new ComponentList(
    'everywhere',
    [
      { name: 'informers', start: async () => {}, stop: () => informers.stop() },
      {
        name: 'http',
        start: async () => {
          server = await startHttpServer({
            port,
            host: host || undefined,
            log,
            readiness: [
              { name: 'namespace cache', ready: () => namespaces.synced },
              // Without leader election this replica runs the writers and is ready once they are.
              { name: 'leader components', ready: () => leader.idleOrSynced() },
              reportMetrics.readiness,
            ],
            metrics: reportMetrics.handler,
            routes: findings ? [affectedRoute(findings, config, kc, log, reportMetrics)] : [],
          });
        },
        stop: async () => {
          if (server) await closeHttpServer(server);
        },
      },
      {
        name: 'report-metrics',
        start: async () => reportMetrics.start(),
        stop: () => reportMetrics.stop(),
      },
      {
        name: 'namespaces',
        start: () => namespaces.waitForSync(),
        stop: () => namespaces.stop(),
        synced: () => namespaces.synced,
      },
      election
        ? {
            name: 'leader-election',
            start: async () => election.start(),
            stop: () => election.stop(),
          }
        : { name: 'leader components', start: () => startLeader(leader, log), stop: () => leader.stop() },
    ],
    log,
  );
  running.push(everywhere);
  await everywhere.start();
  if (stopping) return;
  log.info(
    { namespaces: namespaces.list().length, leaderElection: Boolean(election) },
    'caches synced; ready',
  );
}

/** A leader that cannot start its writers is of no use: exit, and let another replica lead. */
function startLeader(leader: ComponentList, log: Logger): Promise<void> {
  return leader.start().catch((err: unknown) => {
    log.fatal({ err }, 'leader components failed to start');
    process.exit(1);
  });
}

interface Wiring {
  kc: KubeConfig;
  config: Config;
  log: Logger;
  health: OperatorHealthMetrics;
  informers: Informers;
  namespaces: TargetNamespaces;
  reportMetrics: ReportMetrics;
  findings: ReturnType<typeof findingsForReplica>;
}

/** The leader's components, in start order; each is created when it starts (and anew after a re-election). */
function leaderComponents(w: Wiring): Component[] {
  const { kc, config, log, health, informers, namespaces } = w;
  let webhook: WebhookBroadcaster | undefined;
  const components: Component[] = [];
  // Before anything writes reports: the webhook's baseline is what exists before this leader starts.
  if (config.operator.webhookBroadcastURL)
    components.push({
      name: 'webhook',
      start: async () => {
        webhook = await startWebhookBroadcaster({
          kc,
          informers,
          config,
          log: log.child({ component: 'webhook' }),
          observer: health.webhook,
        });
      },
      stop: async () => {
        await webhook?.stop();
        webhook = undefined;
      },
    });
  const findings = w.findings;
  // First-seen stamps: the leader writes them, every replica reads them back from the reports.
  if (findings)
    components.push(
      restartable('first-seen', () => {
        const tracker = new FirstSeenTracker({
          kc,
          namespace: config.operator.namespace,
          index: findings.index,
          log: log.child({ component: 'first-seen' }),
          synced: () => w.reportMetrics.waitForSync(),
          runtime: health.runtime,
          ...(webhook?.newFindings ? { onNewFindings: webhook.newFindings } : {}),
        });
        // Not awaited: it waits for the exporter's report list, which a large cluster takes a while for.
        return { start: async () => void tracker.start(), stop: () => tracker.stop() };
      }),
    );
  // Image scans (vulnerabilities, exposed secrets, SBOM): none of them switched on, no scanner.
  if (imageReportKinds(config).length > 0)
    components.push(
      restartable('scanner', () => {
        const scanner = new ScanController({
          kc,
          config,
          log: log.child({ component: 'scanner' }),
          namespaces,
          observer: health.scans,
          informers,
          runtime: health.runtime,
        });
        return { start: () => scanner.start(), stop: () => scanner.stop(), synced: () => scanner.synced };
      }),
    );
  // Config audit and RBAC assessment: event-driven, batched through the pinned Trivy binary.
  components.push(
    restartable('config-audit', () => {
      const audit = new ConfigAuditController({
        kc,
        config,
        log: log.child({ component: 'config-audit' }),
        namespaces,
        informers,
        runtime: health.runtime,
      });
      return { start: () => audit.start(), stop: () => audit.stop(), synced: () => audit.synced };
    }),
  );
  // Infra assessment: node-collector Jobs per node, control-plane pods of kube-system.
  if (config.nodeCollector.enabled)
    components.push(
      restartable('infra-assessment', () => {
        const infra = new InfraAssessmentController({
          kc,
          config,
          log: log.child({ component: 'infra-assessment' }),
          informers,
          runtime: health.runtime,
        });
        return { start: () => infra.start(), stop: () => infra.stop(), synced: () => infra.synced };
      }),
    );
  // Compliance reports, on their own schedules.
  if (config.operator.clusterComplianceEnabled)
    components.push(
      restartable('compliance', () => {
        const compliance = new ComplianceController({
          kc,
          informers,
          config,
          log: log.child({ component: 'compliance' }),
          runtime: health.runtime,
        });
        return {
          start: () => compliance.start(),
          stop: () => compliance.stop(),
          synced: () => compliance.synced,
        };
      }),
    );
  return components;
}

/** A component made afresh at each start: controllers are not restarted once stopped. */
function restartable(name: string, create: () => Omit<Component, 'name'>): Component {
  let current: Omit<Component, 'name'> | undefined;
  return {
    name,
    start: () => {
      current = create();
      return current.start();
    },
    stop: async () => {
      await current?.stop();
      current = undefined;
    },
    synced: () => current !== undefined && (current.synced?.() ?? true),
  };
}

function affectedRoute(
  findings: NonNullable<ReturnType<typeof findingsForReplica>>,
  config: Config,
  kc: KubeConfig,
  log: Logger,
  reportMetrics: ReportMetrics,
) {
  return {
    path: '/affected',
    handler: affectedHandler({
      index: findings.index,
      auth: config.findings.affectedEndpointAuth,
      kc,
      log: log.child({ component: 'affected' }),
      ready: () => reportMetrics.synced,
    }),
  };
}

main().catch((err: unknown) => {
  const log: Logger = createLogger('info');
  log.fatal({ err, code: isLookoutError(err) ? err.code : undefined }, 'trivy-lookout failed to start');
  process.exit(1);
});
