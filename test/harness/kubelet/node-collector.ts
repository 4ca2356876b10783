import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { V1Pod } from '@kubernetes/client-node';
import { repoRoot } from '../tools.ts';
import type { RunSpec } from './types.ts';

/** The label the operator puts on node-collector pods. */
const COMPONENT_LABEL = 'trivy-lookout.dev/component';

export interface NodeCollectorRunnerOptions {
  /** Node name → the directory that plays that node's `/` (prepared by the test). */
  hostRoots: Record<string, string>;
  /** Where the stand-in image layout goes; default a temporary directory. */
  workDir?: string;
}

/**
 * Runs node-collector pods as the operator image would: `node dist/nodecollector/main.js` in a
 * stand-in of the image's /app (an ES-module package whose `dist/nodecollector/main.js` loads
 * `src/nodecollector/main.ts` through tsx), with the node's hostPath volumes and the collector's
 * host root pointing at the test's fake node directory. Other pods: undefined.
 */
export function nodeCollectorRunner(
  options: NodeCollectorRunnerOptions,
): (pod: V1Pod) => RunSpec | undefined {
  const app = options.workDir ?? mkdtempSync(path.join(os.tmpdir(), 'node-collector-image-'));
  mkdirSync(path.join(app, 'dist', 'nodecollector'), { recursive: true });
  writeFileSync(path.join(app, 'package.json'), '{"type":"module"}\n');
  const entry = pathToFileURL(path.join(repoRoot, 'src', 'nodecollector', 'main.ts')).href;
  writeFileSync(
    path.join(app, 'dist', 'nodecollector', 'main.js'),
    `await import(${JSON.stringify(entry)});\n`,
  );
  const tsx = import.meta.resolve('tsx');
  return (pod) => {
    if (pod.metadata?.labels?.[COMPONENT_LABEL] !== 'node-collector') return undefined;
    const hostRoot = options.hostRoots[pod.spec?.nodeName ?? ''];
    if (hostRoot === undefined) return undefined;
    return {
      pathPrepend: [path.dirname(process.execPath)],
      env: { NODE_OPTIONS: `--import=${tsx}`, NODE_COLLECTOR_HOST_ROOT: hostRoot },
      hostRoot,
      workingDir: app,
    };
  };
}

export interface FakeNodeRootOptions {
  /** The kubelet config file's `authentication.anonymous.enabled` (true fails KCV0079). */
  anonymousAuth: boolean;
  /** Mode of /etc/kubernetes/kubelet.conf (0o666 fails KCV0073, 0o600 passes it). */
  kubeconfigMode: number;
}

/**
 * A directory playing a worker node's `/` for the node collector: a kubelet process (in /proc) with
 * its config file and kubeconfig, set up to pass or fail known KCV checks.
 */
export function fakeNodeRoot(options: FakeNodeRootOptions): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fake-node-'));
  const write = (file: string, content: string, mode = 0o644) => {
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
    chmodSync(path.join(root, file), mode);
  };
  write(
    '/proc/1234/cmdline',
    [
      '/usr/bin/kubelet',
      '--config=/var/lib/kubelet/config.yaml',
      '--kubeconfig=/etc/kubernetes/kubelet.conf',
      '',
    ].join('\0'),
  );
  write(
    '/var/lib/kubelet/config.yaml',
    [
      'apiVersion: kubelet.config.k8s.io/v1beta1',
      'kind: KubeletConfiguration',
      'authentication:',
      '  anonymous:',
      `    enabled: ${options.anonymousAuth}`,
      'authorization:',
      '  mode: Webhook',
      '',
    ].join('\n'),
    0o600,
  );
  write('/etc/kubernetes/kubelet.conf', 'apiVersion: v1\nkind: Config\n', options.kubeconfigMode);
  return root;
}
