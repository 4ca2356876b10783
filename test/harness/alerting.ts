/**
 * The shipped alerting pack, running for real: a Prometheus evaluating alert-rules/ as shipped
 * while it scrapes the operator, sending to an Alertmanager with the example routes, whose Slack
 * and PagerDuty receivers deliver to a local NotificationSink.
 */
import path from 'node:path';
import { Alertmanager, NotificationSink, shippedAlertmanagerConfigForSink } from './alertmanager.ts';
import { Prometheus } from './prometheus.ts';
import { repoRoot } from './tools.ts';

export interface ShippedAlerting {
  readonly sink: NotificationSink;
  readonly alertmanager: Alertmanager;
  readonly prometheus: Prometheus;
  stop(): Promise<void>;
}

/** `target`: the operator's metrics address, host:port. */
export async function startShippedAlerting(target: string): Promise<ShippedAlerting> {
  const sink = await NotificationSink.start();
  // The root's group_wait/group_interval shortened (1 s/2 s); the routes keep their own timers.
  const alertmanager = await Alertmanager.start({ config: shippedAlertmanagerConfigForSink(sink.url) });
  const prometheus = await Prometheus.start({
    targets: [target],
    ruleFiles: [path.join(repoRoot, 'alert-rules', 'trivy-lookout.rules.yaml')],
    alertmanager: alertmanager.address,
  });
  return {
    sink,
    alertmanager,
    prometheus,
    async stop() {
      await prometheus.stop();
      await alertmanager.stop();
      await sink.stop();
    },
  };
}
