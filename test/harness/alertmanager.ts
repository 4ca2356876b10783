import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';
import { ProcessGroup, waitForReadyEndpoint, type ManagedProcess } from './processes.ts';
import yaml from 'js-yaml';
import { readFileSync } from 'node:fs';
import { repoRoot, toolPath } from './tools.ts';

/** One request a notification receiver got (Slack webhook or PagerDuty Events API). */
export interface ReceivedNotification {
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
}

/**
 * A local HTTP endpoint standing in for Slack's incoming webhooks and PagerDuty's Events API: it
 * answers what those services answer (Slack `ok`, PagerDuty 202) and records every request.
 */
export class NotificationSink {
  private constructor(
    private readonly server: Server,
    readonly received: ReceivedNotification[],
  ) {}

  static async start(): Promise<NotificationSink> {
    const received: ReceivedNotification[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {
          // Kept as text: a malformed notification is itself worth seeing in a failure message.
        }
        received.push({ path: req.url ?? '', headers: req.headers, body });
        if (req.url?.startsWith('/pagerduty')) {
          res.writeHead(202, { 'content-type': 'application/json' });
          res.end('{"status":"success","message":"Event processed"}');
        } else {
          res.writeHead(200, { 'content-type': 'text/plain' });
          res.end('ok');
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return new NotificationSink(server, received);
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** Requests to one path prefix, e.g. `/slack/slack-shop`. */
  to(prefix: string): ReceivedNotification[] {
    return this.received.filter((n) => n.path.startsWith(prefix));
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

export interface AlertmanagerOptions {
  /** The whole configuration, as YAML text. */
  config: string;
  port?: number;
}

/** A real Alertmanager (Debian's package) on loopback, clustering off, with its own storage. */
export class Alertmanager {
  private constructor(
    private readonly group: ProcessGroup,
    private readonly process: ManagedProcess,
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** host:port, as Prometheus' alerting configuration takes it. */
  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(options: AlertmanagerOptions): Promise<Alertmanager> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-alertmanager-'));
    const port = options.port ?? (await freePort());
    const config = path.join(dir, 'alertmanager.yml');
    writeFileSync(config, options.config);
    const group = new ProcessGroup(dir);
    const process = group.start('alertmanager', toolPath('prometheus-alertmanager'), [
      `--config.file=${config}`,
      `--storage.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // An empty address turns the gossip cluster off: one instance, no port to collide on.
      '--cluster.listen-address=',
    ]);
    const alertmanager = new Alertmanager(group, process, port, dir);
    await waitForReadyEndpoint(process, `${alertmanager.url}/-/ready`, () => alertmanager.stop());
    return alertmanager;
  }

  /** Alerts Alertmanager currently holds (API v2). */
  async alerts(): Promise<{ labels: Record<string, string>; status: { state: string } }[]> {
    const res = await fetch(`${this.url}/api/v2/alerts`);
    return (await res.json()) as { labels: Record<string, string>; status: { state: string } }[];
  }

  log(): string {
    return ProcessGroup.tail(this.process, 60);
  }

  async stop(): Promise<void> {
    await this.group.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

type SinkReceiver = {
  name: string;
  slack_configs?: Record<string, unknown>[];
  pagerduty_configs?: Record<string, unknown>[];
};

/**
 * The shipped example configuration (alertmanager/alertmanager.yaml) with its receivers pointed at
 * a NotificationSink (`/slack/<receiver>`, `/pagerduty/<receiver>`) and the root's grouping timers
 * shortened; routes (and their own timers), inhibition, templates and messages stay as shipped.
 */
export function shippedAlertmanagerConfigForSink(sinkUrl: string): string {
  const config = yaml.load(
    readFileSync(path.join(repoRoot, 'alertmanager', 'alertmanager.yaml'), 'utf8'),
  ) as {
    route: Record<string, unknown>;
    receivers: SinkReceiver[];
    templates: string[];
  };
  config.templates = config.templates.map((t) => path.join(repoRoot, 'alertmanager', t));
  Object.assign(config.route, { group_wait: '1s', group_interval: '2s', repeat_interval: '1h' });
  for (const receiver of config.receivers) {
    for (const slack of receiver.slack_configs ?? []) slack.api_url = `${sinkUrl}/slack/${receiver.name}`;
    for (const pd of receiver.pagerduty_configs ?? []) pd.url = `${sinkUrl}/pagerduty/${receiver.name}`;
  }
  return yaml.dump(config);
}
