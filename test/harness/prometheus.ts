import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import yaml from 'js-yaml';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './ports.ts';
import { ProcessGroup, waitForReadyEndpoint, type ManagedProcess } from './processes.ts';
import { toolPath } from './tools.ts';

export interface PromSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusOptions {
  /** host:port targets scraped as job `trivy-lookout`. */
  targets?: string[];
  /**
   * Scrape configs of its own, beside or instead of `targets`. With these it runs the Prometheus 3
   * built with Kubernetes service discovery (`prometheus-k8s`), as kube-prometheus-stack's does:
   * Debian's Prometheus is built without it.
   */
  scrapeConfigs?: Record<string, unknown>[];
  /** Rule files to load (globs allowed, as Prometheus takes them). */
  ruleFiles?: string[];
  scrapeIntervalSeconds?: number;
  evaluationIntervalSeconds?: number;
  /** host:port of an Alertmanager to send alerts to. */
  alertmanager?: string;
  /** Fixed listen port; a free one when omitted. */
  port?: number;
  /** Labels added to every scraped series, as a multi-cluster setup adds `cluster`. */
  targetLabels?: Record<string, string>;
}

/** A real Prometheus (Debian's package) on loopback, with its own temporary storage. */
export class Prometheus {
  private constructor(
    private readonly group: ProcessGroup,
    private readonly process: ManagedProcess,
    readonly port: number,
    private readonly dir: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: PrometheusOptions): Promise<Prometheus> {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-prometheus-'));
    const port = options.port ?? (await freePort());
    const interval = options.scrapeIntervalSeconds ?? 1;
    const config = path.join(dir, 'prometheus.yml');
    const lines = [
      'global:',
      `  scrape_interval: ${interval}s`,
      `  scrape_timeout: ${interval}s`,
      `  evaluation_interval: ${options.evaluationIntervalSeconds ?? interval}s`,
      ...(options.ruleFiles?.length ? ['rule_files:', ...options.ruleFiles.map((f) => `  - '${f}'`)] : []),
      ...(options.alertmanager
        ? [
            'alerting:',
            '  alertmanagers:',
            '    - static_configs:',
            `        - targets: ['${options.alertmanager}']`,
          ]
        : []),
      'scrape_configs:',
      ...(options.targets
        ? [
            '  - job_name: trivy-lookout',
            '    static_configs:',
            `      - targets: [${options.targets.map((t) => `'${t}'`).join(', ')}]`,
            ...(options.targetLabels
              ? [
                  '        labels:',
                  ...Object.entries(options.targetLabels).map(([k, v]) => `          ${k}: '${v}'`),
                ]
              : []),
          ]
        : []),
      ...(options.scrapeConfigs?.length
        ? [yaml.dump(options.scrapeConfigs).replace(/^/gm, '  ').trimEnd()]
        : []),
      '',
    ];
    writeFileSync(config, lines.join('\n'));
    const group = new ProcessGroup(dir);
    const binary = toolPath(options.scrapeConfigs ? 'prometheus-k8s' : 'prometheus');
    const process = group.start('prometheus', binary, [
      `--config.file=${config}`,
      `--storage.tsdb.path=${path.join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
    ]);
    const prometheus = new Prometheus(group, process, port, dir);
    await waitForReadyEndpoint(process, `${prometheus.url}/-/ready`, () => prometheus.stop());
    return prometheus;
  }

  async query(expr: string): Promise<PromSample[]> {
    const res = await fetch(`${this.url}/api/v1/query?query=${encodeURIComponent(expr)}`);
    const body = (await res.json()) as { status: string; data: { result: PromSample[] }; error?: string };
    if (body.status !== 'success') throw new Error(`query ${expr} failed: ${body.error}`);
    return body.data.result;
  }

  /** Alerts currently pending or firing. */
  async alerts(): Promise<
    { labels: Record<string, string>; annotations: Record<string, string>; state: string }[]
  > {
    const res = await fetch(`${this.url}/api/v1/alerts`);
    const body = (await res.json()) as {
      data: {
        alerts: { labels: Record<string, string>; annotations: Record<string, string>; state: string }[];
      };
    };
    return body.data.alerts;
  }

  async targetHealth(): Promise<{ health: string; lastError: string }[]> {
    const res = await fetch(`${this.url}/api/v1/targets`);
    const body = (await res.json()) as { data: { activeTargets: { health: string; lastError: string }[] } };
    return body.data.activeTargets;
  }

  async stop(): Promise<void> {
    await this.group.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }

  log(): string {
    return ProcessGroup.tail(this.process);
  }
}
