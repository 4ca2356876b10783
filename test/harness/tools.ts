import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ErrorCodes, LookoutError } from '../../src/errors/index.ts';

/** The checkout's root, found from this file so scripts work from any working directory. */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Where scripts/setup-tools.sh links the binaries it built or installed. */
export const toolsBinDir = path.join(repoRoot, '.tools', 'bin');

export type ToolName =
  | 'etcd'
  | 'kube-apiserver'
  | 'kube-controller-manager'
  | 'kube-scheduler'
  | 'kubectl'
  | 'helm'
  | 'prometheus'
  // Prometheus 3 with Kubernetes service discovery (Debian's has none), built by setup-tools.sh.
  | 'prometheus-k8s'
  | 'promtool'
  | 'prometheus-alertmanager'
  | 'amtool'
  | 'trivy'
  | 'trivy-test-db'
  // A real node (test/harness/node): Kubernetes' own, and Debian's containerd, runc and registry.
  | 'kubelet'
  | 'kube-proxy'
  | 'containerd'
  | 'containerd-shim-runc-v2'
  | 'ctr'
  | 'runc'
  | 'docker-registry'
  | 'busybox';

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * The path of a tool: the project's own build first (so tests run against the pinned versions),
 * then PATH. Throws a clear error naming the set-up script when neither has it.
 */
export function toolPath(name: ToolName): string {
  const own = path.join(toolsBinDir, name);
  if (isExecutable(own)) return own;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (dir && isExecutable(path.join(dir, name))) return path.join(dir, name);
  }
  throw new LookoutError(
    ErrorCodes.TOOL_MISSING,
    `${name} not found in ${toolsBinDir} or on PATH; run scripts/setup-tools.sh`,
    { details: { tool: name } },
  );
}
