/**
 * The chart installed as users install it: `helm install` of this checkout's chart, the operator
 * image built here (operator-image/) pulled from a local registry by the real node, scan Jobs with
 * the real Trivy, and kube-prometheus-stack's CRDs so that its ServiceMonitor and PrometheusRules
 * exist. Shared by the chart's integration test, `npm run bench:chart` and `npm start -- --in-cluster`.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { chartDir, helmOk } from './helm.ts';
import { kubectl } from './kubectl.ts';
import type { NodeInfo } from './node-stack.ts';
import {
  publishOperatorImage,
  type BuiltOperatorImage,
  type PublishedOperatorImage,
} from './operator-image/index.ts';
import type { RealScans } from './real-scans.ts';
import { repoRoot, toolPath } from './tools.ts';

const execFileAsync = promisify(execFile);

/** prometheus-operator's ServiceMonitor and PrometheusRule CRDs, fetched by scripts/setup-tools.sh. */
export const prometheusOperatorCrdsDir = path.join(repoRoot, '.tools', 'prometheus-operator-crds');

/** Installs the monitoring.coreos.com CRDs kube-prometheus-stack brings (server-side: they are large). */
export async function installPrometheusOperatorCrds(kubeconfigPath: string): Promise<void> {
  const files = readdirSync(prometheusOperatorCrdsDir).filter((f) => f.endsWith('.yaml'));
  if (files.length === 0)
    throw new Error(`no CRDs in ${prometheusOperatorCrdsDir}: run scripts/setup-tools.sh`);
  for (const file of files) {
    await kubectl(kubeconfigPath, [
      'apply',
      '--server-side',
      '--force-conflicts',
      '-f',
      path.join(prometheusOperatorCrdsDir, file),
    ]);
  }
  await kubectl(kubeconfigPath, [
    'wait',
    '--for=condition=Established',
    '--timeout=60s',
    'crd/servicemonitors.monitoring.coreos.com',
    'crd/prometheusrules.monitoring.coreos.com',
  ]);
}

/**
 * Values for the chart on the real node: the operator image from the plain-HTTP registry, the pods
 * and the scan Jobs placed on the node, and the Trivy image, DBs and registries of `scans` (the
 * same settings real-scans.ts gives a local operator, under their Helm names), plus the
 * kube-prometheus-stack add-on values from the README.
 */
export function realNodeChartValues(
  scans: RealScans,
  image: PublishedOperatorImage,
  dbRepository: string,
): Record<string, unknown> {
  const env = scans.operatorEnv(dbRepository);
  const hostMap = (hosts: string) => Object.fromEntries(hosts.split(',').map((h, i) => [`r${i}`, h]));
  return {
    image: { repository: image.repository, tag: image.tag, pullPolicy: 'IfNotPresent' },
    nodeSelector: scans.placement.nodeSelector,
    tolerations: scans.placement.tolerations,
    trivy: {
      repository: env.OPERATOR_TRIVY_REPOSITORY,
      tag: env.OPERATOR_TRIVY_TAG,
      dbRepository,
      javaDbRepository: scans.javaDbRepository,
      dbRepositoryInsecure: true,
      nonSslRegistries: hostMap(env.OPERATOR_TRIVY_NON_SSL_REGISTRIES ?? ''),
      insecureRegistries: hostMap(env.OPERATOR_TRIVY_INSECURE_REGISTRIES ?? ''),
    },
    // The node collector (infra assessment) runs the operator image too.
    nodeCollector: { imageRef: image.ref },
    trivyOperator: {
      scanJobTolerations: scans.placement.tolerations,
      scanJobNodeSelector: scans.placement.nodeSelector,
    },
    serviceMonitor: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
    prometheusRule: { enabled: true, labels: { release: 'kube-prometheus-stack' } },
  };
}

export interface InstalledChart {
  release: string;
  namespace: string;
  image: PublishedOperatorImage;
  /** `helm upgrade` with more values (merged over the install's, as `--reuse-values` would). */
  upgrade(values: Record<string, unknown>, extraArgs?: string[]): Promise<void>;
  uninstall(): Promise<void>;
}

/**
 * Publishes the operator image (built or cached) and `helm install`s the chart on the real node,
 * waiting until the Deployment is available. `values` go over realNodeChartValues.
 */
export async function installChartOnNode(options: {
  kubeconfigPath: string;
  scans: RealScans;
  release: string;
  namespace: string;
  dbRepository: string;
  values?: Record<string, unknown>;
  workDir: string;
  timeout?: string;
  /** An image built before (buildOperatorImage); else it is built here, from the checkout as it is now. */
  image?: BuiltOperatorImage;
}): Promise<InstalledChart> {
  const { kubeconfigPath, release, namespace } = options;
  const image = await publishOperatorImage(
    options.scans.registries.http,
    options.image ? { image: options.image } : {},
  );
  let values = mergeValues(
    realNodeChartValues(options.scans, image, options.dbRepository),
    options.values ?? {},
  );
  const timeout = options.timeout ?? '300s';
  let revision = 0;
  const apply = async (verb: 'install' | 'upgrade', extraArgs: string[] = []) => {
    revision += 1;
    const file = path.join(options.workDir, `${release}-values-${revision}.yaml`);
    writeFileSync(file, yaml.dump(values));
    await helmOk(
      [
        verb,
        release,
        chartDir,
        '--namespace',
        namespace,
        '-f',
        file,
        '--wait',
        '--timeout',
        timeout,
        ...extraArgs,
      ],
      { kubeconfigPath },
    );
  };
  await apply('install');
  return {
    release,
    namespace,
    image,
    async upgrade(more, extraArgs) {
      values = mergeValues(values, more);
      await apply('upgrade', extraArgs);
    },
    async uninstall() {
      await helmOk(['uninstall', release, '--namespace', namespace, '--wait', '--timeout', timeout], {
        kubeconfigPath,
      });
    },
  };
}

function mergeValues(base: Record<string, unknown>, over: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const current = out[key];
    out[key] =
      isPlainObject(current) && isPlainObject(value) ? mergeValues(current, value) : (value as unknown);
  }
  return out;
}

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

interface ServiceMonitorSpec {
  metadata: { name: string; namespace: string };
  spec: {
    namespaceSelector?: { matchNames?: string[] };
    selector: { matchLabels?: Record<string, string> };
    endpoints: { port?: string; path?: string; scheme?: string; honorLabels?: boolean; interval?: string }[];
  };
}

const sanitize = (name: string) => name.replace(/[^a-zA-Z0-9_]/g, '_');

/**
 * The scrape config prometheus-operator generates for a ServiceMonitor with matchLabels and named
 * ports (the relabelling in its pkg/prometheus/promcfg.go, generateServiceMonitorConfig, v0.85.0):
 * endpoints of Services carrying every selected label, the endpoint port by name, the path and
 * scheme, and the namespace/service/pod/container/endpoint target labels and `job` = Service name.
 * So the test's Prometheus finds exactly the targets kube-prometheus-stack's would.
 */
export function serviceMonitorScrapeConfigs(
  monitor: ServiceMonitorSpec,
  kubeconfigPath: string,
  scrapeInterval = '2s',
): Record<string, unknown>[] {
  const { metadata, spec } = monitor;
  return spec.endpoints.map((ep, i) => ({
    job_name: `serviceMonitor/${metadata.namespace}/${metadata.name}/${i}`,
    honor_labels: ep.honorLabels ?? false,
    scrape_interval: ep.interval ?? scrapeInterval,
    scrape_timeout: ep.interval ?? scrapeInterval,
    metrics_path: ep.path ?? '/metrics',
    scheme: ep.scheme ?? 'http',
    kubernetes_sd_configs: [
      {
        role: 'endpoints',
        kubeconfig_file: kubeconfigPath,
        namespaces: { names: spec.namespaceSelector?.matchNames ?? [metadata.namespace] },
      },
    ],
    relabel_configs: [
      ...Object.entries(spec.selector.matchLabels ?? {}).map(([k, v]) => ({
        action: 'keep',
        source_labels: [
          `__meta_kubernetes_service_label_${sanitize(k)}`,
          `__meta_kubernetes_service_labelpresent_${sanitize(k)}`,
        ],
        regex: `(${v});true`,
      })),
      ...(ep.port
        ? [{ action: 'keep', source_labels: ['__meta_kubernetes_endpoint_port_name'], regex: ep.port }]
        : []),
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
      { source_labels: ['__meta_kubernetes_service_name'], target_label: 'job' },
      ...(ep.port ? [{ target_label: 'endpoint', replacement: ep.port }] : []),
    ],
  }));
}

/** What the kernel says about a running container's main process: not what its spec asked for. */
export interface ObservedContainer {
  pid: number;
  uid: number;
  gid: number;
  readOnlyRootFilesystem: boolean;
  rssMiB: number;
  /** Effective capabilities (hex mask, 0 = none). */
  capEff: string;
  /** 2 = seccomp filter mode. */
  seccomp: number;
  noNewPrivs: boolean;
}

/**
 * Finds the container's main process through containerd on the node (`containerID` as in the pod
 * status, `containerd://…`) and reads its credentials, root mount and memory from /proc.
 */
export async function observeContainer(node: NodeInfo, containerID: string): Promise<ObservedContainer> {
  const id = containerID.replace(/^containerd:\/\//, '');
  const { stdout } = await execFileAsync(toolPath('ctr'), [
    '--address',
    node.containerdAddress,
    '-n',
    'k8s.io',
    'tasks',
    'ls',
  ]);
  const line = stdout.split('\n').find((l) => l.startsWith(`${id} `));
  const pid = Number(line?.trim().split(/\s+/)[1]);
  if (!pid) throw new Error(`container ${id} has no running task on ${node.name}`);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const field = (name: string) => new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status)?.[1]?.trim() ?? '';
  const root = readFileSync(`/proc/${pid}/mountinfo`, 'utf8')
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[4] === '/');
  return {
    pid,
    uid: Number(field('Uid').split(/\s+/)[1]),
    gid: Number(field('Gid').split(/\s+/)[1]),
    readOnlyRootFilesystem: (root?.[5] ?? '').split(',').includes('ro'),
    rssMiB: Number(field('VmRSS').split(/\s+/)[0]) / 1024,
    capEff: field('CapEff').replace(/^0+(?=.)/, ''),
    seccomp: Number(field('Seccomp')),
    noNewPrivs: field('NoNewPrivs') === '1',
  };
}
