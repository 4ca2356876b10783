import { execFile } from 'node:child_process';
import path from 'node:path';
import { load, loadAll } from 'js-yaml';
import { repoRoot, toolPath } from './tools.ts';

/** The chart in this checkout. */
export const chartDir = path.join(repoRoot, 'charts', 'trivy-lookout');

export interface HelmResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs the real helm; never throws on a non-zero exit (tests look at the code and stderr). */
export function helm(args: string[], options: { kubeconfigPath?: string } = {}): Promise<HelmResult> {
  const kube = options.kubeconfigPath ? ['--kubeconfig', options.kubeconfigPath] : [];
  return new Promise((resolve) => {
    execFile(
      toolPath('helm'),
      [...args, ...kube],
      {
        maxBuffer: 64 * 1024 * 1024,
        // Keep helm's own cache and config out of the user's home.
        env: {
          PATH: process.env.PATH,
          HOME: process.env.HOME,
          HELM_CACHE_HOME: path.join(repoRoot, '.run', 'helm', 'cache'),
          HELM_CONFIG_HOME: path.join(repoRoot, '.run', 'helm', 'config'),
          HELM_DATA_HOME: path.join(repoRoot, '.run', 'helm', 'data'),
        },
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Runs helm and fails with its stderr when it exits non-zero. */
export async function helmOk(args: string[], options: { kubeconfigPath?: string } = {}): Promise<string> {
  const result = await helm(args, options);
  if (result.code !== 0) throw new Error(`helm ${args.join(' ')} failed (${result.code}):\n${result.stderr}`);
  return result.stdout;
}

export interface RenderedObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [field: string]: unknown;
}

/** Parses a multi-document YAML stream as `helm template` prints it, skipping empty documents. */
export function parseManifests(yaml: string): RenderedObject[] {
  return loadAll(yaml).filter((doc): doc is RenderedObject => doc !== null && typeof doc === 'object');
}

/** `helm template` of the chart with the given extra args, parsed. */
export async function renderChart(
  releaseName: string,
  namespace: string,
  args: string[] = [],
): Promise<RenderedObject[]> {
  return parseManifests(await helmOk(['template', releaseName, chartDir, '--namespace', namespace, ...args]));
}

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: { secretKeyRef?: { key: string } };
}

/**
 * The environment the operator would see in a rendered chart: the operator container's plain
 * values, plus those it takes from the chart's Secret.
 */
export function renderedOperatorEnv(objects: RenderedObject[]): Record<string, string> {
  const deployment = objects.find((o) => o.kind === 'Deployment') as
    { spec?: { template?: { spec?: { containers?: { name: string; env?: EnvVar[] }[] } } } } | undefined;
  const container = deployment?.spec?.template?.spec?.containers?.find((c) => c.name === 'operator');
  if (!container) throw new Error('the rendered chart has no Deployment with an operator container');
  const secret = objects.find((o) => o.kind === 'Secret') as
    { stringData?: Record<string, string> } | undefined;
  const env: Record<string, string> = {};
  for (const entry of container.env ?? []) {
    if (entry.value !== undefined) env[entry.name] = entry.value;
    else if (entry.valueFrom?.secretKeyRef) {
      if (!secret) throw new Error(`${entry.name} comes from a Secret the chart did not render`);
      env[entry.name] = secret.stringData?.[entry.valueFrom.secretKeyRef.key] ?? '';
    }
  }
  return env;
}

/** Reads one YAML document (for values files written by tests). */
export function parseYaml(text: string): unknown {
  return load(text);
}
