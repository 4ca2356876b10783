import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import { ProcessGroup, waitWhileRunning, type ManagedProcess } from './processes.ts';
import { freePorts } from './ports.ts';
import { toolPath } from './tools.ts';

export interface ControlPlaneOptions {
  /** Folder for certificates, data and logs; a temporary one (removed on stop) when omitted. */
  dir?: string;
  /** kube-controller-manager gives garbage collection, namespaces, service accounts, Jobs. Default on. */
  controllerManager?: boolean;
  /** kube-scheduler binds pods to nodes. Default on. */
  scheduler?: boolean;
  /** Progress lines (start-up can take a while on a cold machine). */
  log?: (line: string) => void;
  startTimeoutMs?: number;
}

export interface ControlPlane {
  readonly dir: string;
  readonly server: string;
  readonly kubeconfigPath: string;
  /** PEM of the API server's CA, for clients that verify TLS. */
  readonly caPem: string;
  /** Bearer token of the cluster admin (system:masters). */
  readonly adminToken: string;
  /** Files the harness kubelet can reuse as its serving certificate (not verified by the apiserver). */
  readonly servingCert: { certFile: string; keyFile: string };
  kubeConfig(): KubeConfig;
  /** Stops and starts kube-apiserver on the same port and storage (watch-survival tests). */
  restartApiServer(): Promise<void>;
  stop(): Promise<void>;
}

interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiserver: number;
}

/**
 * Starts etcd, kube-apiserver, and optionally kube-controller-manager and kube-scheduler on
 * loopback, with TLS, an admin token and a service-account signing key, and waits until the API
 * server reports ready. Everything it starts is stopped by `stop()`, on process exit, and by a
 * watchdog if this process is killed.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const log = options.log ?? (() => {});
  const ownsDir = options.dir === undefined;
  const dir = options.dir ?? mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-cp-'));
  mkdirSync(dir, { recursive: true });
  const certDir = path.join(dir, 'pki');
  mkdirSync(certDir, { recursive: true });
  const group = new ProcessGroup(dir);
  const onExit = () => group.killNow();
  process.once('exit', onExit);

  try {
    const [etcdClient = 0, etcdPeer = 0, apiserverPort = 0] = await freePorts(3);
    const ports: Ports = { etcdClient, etcdPeer, apiserver: apiserverPort };
    const server = `https://127.0.0.1:${ports.apiserver}`;
    const adminToken = randomBytes(24).toString('hex');
    writeFileSync(path.join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,"system:masters"\n`, {
      mode: 0o600,
    });
    writeServiceAccountKeys(certDir);

    log('starting etcd');
    const etcd = group.start('etcd', toolPath('etcd'), [
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=http://127.0.0.1:${ports.etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${ports.etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-cluster=default=http://127.0.0.1:${ports.etcdPeer}`,
      '--unsafe-no-fsync=true',
      '--log-level=warn',
    ]);

    log('starting kube-apiserver');
    const apiserverArgs = [
      `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
      `--secure-port=${ports.apiserver}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      // Loopback means nothing inside a pod: a real node publishes the `kubernetes` Service's
      // endpoint itself (node/api-access.ts), and the API server must not overwrite it.
      '--endpoint-reconciler-type=none',
      `--cert-dir=${certDir}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      '--allow-privileged=true',
      '--authorization-mode=RBAC',
      `--token-auth-file=${path.join(dir, 'tokens.csv')}`,
      `--service-account-issuer=${server}`,
      `--service-account-key-file=${path.join(certDir, 'sa.pub')}`,
      `--service-account-signing-key-file=${path.join(certDir, 'sa.key')}`,
      // The harness kubelet serves logs on the node's InternalIP (loopback).
      '--kubelet-preferred-address-types=InternalIP',
      '--v=1',
    ];
    let apiserver = group.start('kube-apiserver', toolPath('kube-apiserver'), apiserverArgs);

    const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);
    const certFile = path.join(certDir, 'apiserver.crt');
    const keyFile = path.join(certDir, 'apiserver.key');
    await waitWhileRunning('the API server certificate', deadline, [etcd, apiserver], async () =>
      existsSync(certFile),
    );
    const caPem = readFileSync(certFile, 'utf8');
    await waitWhileRunning('kube-apiserver /readyz', deadline, [etcd, apiserver], () =>
      isReady(server, caPem, adminToken),
    );
    log(`kube-apiserver ready at ${server}`);

    const kubeconfigPath = path.join(dir, 'kubeconfig');
    writeFileSync(kubeconfigPath, kubeconfigYaml(server, caPem, adminToken), { mode: 0o600 });

    const watched: ManagedProcess[] = [etcd, apiserver];
    if (options.controllerManager ?? true) {
      log('starting kube-controller-manager');
      watched.push(
        group.start('kube-controller-manager', toolPath('kube-controller-manager'), [
          `--kubeconfig=${kubeconfigPath}`,
          `--service-account-private-key-file=${path.join(certDir, 'sa.key')}`,
          `--root-ca-file=${certFile}`,
          '--leader-elect=false',
          '--secure-port=0',
          '--controllers=*',
          // Jobs finish in a local test in seconds; make the controllers react promptly.
          '--concurrent-job-syncs=10',
          '--v=1',
        ]),
      );
    }
    if (options.scheduler ?? true) {
      log('starting kube-scheduler');
      watched.push(
        group.start('kube-scheduler', toolPath('kube-scheduler'), [
          `--kubeconfig=${kubeconfigPath}`,
          '--leader-elect=false',
          '--secure-port=0',
          '--v=1',
        ]),
      );
    }
    // A crash of any component right after start shows up within a second or two.
    await sleep(1_000);
    for (const proc of watched) {
      if (proc.hasExited()) {
        throw new Error(`${proc.name} exited during start-up:\n${ProcessGroup.tail(proc)}`);
      }
    }

    const stop = async () => {
      await group.stop();
      process.removeListener('exit', onExit);
      if (ownsDir && !process.env.TL_KEEP_CLUSTER_DIR) rmSync(dir, { recursive: true, force: true });
    };

    const restartApiServer = async () => {
      apiserver.child.kill('SIGTERM');
      await apiserver.exited;
      apiserver = group.start('kube-apiserver', toolPath('kube-apiserver'), apiserverArgs);
      await waitWhileRunning(
        'kube-apiserver /readyz after restart',
        Date.now() + 60_000,
        [etcd, apiserver],
        () => isReady(server, caPem, adminToken),
      );
    };

    return {
      dir,
      server,
      kubeconfigPath,
      caPem,
      adminToken,
      servingCert: { certFile, keyFile },
      kubeConfig: () => {
        const kc = new KubeConfig();
        kc.loadFromFile(kubeconfigPath);
        return kc;
      },
      restartApiServer,
      stop,
    };
  } catch (err) {
    await group.stop(3_000);
    process.removeListener('exit', onExit);
    throw err;
  }
}

function writeServiceAccountKeys(certDir: string): void {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(path.join(certDir, 'sa.key'), privateKey.export({ type: 'pkcs1', format: 'pem' }), {
    mode: 0o600,
  });
  writeFileSync(path.join(certDir, 'sa.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
}

export function kubeconfigYaml(server: string, caPem: string, token: string): string {
  const ca = Buffer.from(caPem).toString('base64');
  return [
    'apiVersion: v1',
    'kind: Config',
    'clusters:',
    '- name: trivy-lookout-local',
    '  cluster:',
    `    server: ${server}`,
    `    certificate-authority-data: ${ca}`,
    'users:',
    '- name: admin',
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: trivy-lookout-local',
    '  context:',
    '    cluster: trivy-lookout-local',
    '    user: admin',
    'current-context: trivy-lookout-local',
    '',
  ].join('\n');
}

function isReady(server: string, caPem: string, token: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = https.get(
      `${server}/readyz`,
      { ca: caPem, headers: { authorization: `Bearer ${token}` }, timeout: 2_000 },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
  });
}
