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
  /**
   * The API server's watch cache. Default true (as in a real cluster). `false` starts it with
   * `--watch-cache=false`: every watch and list of every resource is served by etcd itself.
   * `{ disabledFor }` turns it off for those resources only (`--watch-cache-sizes=<resource>#0`;
   * a custom resource is named `<plural>.<group>`, e.g. `vulnerabilityreports.aquasecurity.github.io`).
   * Needed for a real `410 Gone` after `compactEtcd` (see there). `--default-watch-cache-size=0`
   * does not do it: with the cache's dynamic sizing that flag changes nothing.
   */
  watchCache?: boolean | { disabledFor: string[] };
  /**
   * Writes an audit log (JSON lines, `<dir>/audit.log`, policy `<dir>/audit-policy.yaml`) of the
   * requests with these verbs at Metadata level: true means watch and list. Default off. Read it
   * with ./audit-log.ts.
   */
  auditLog?: boolean | { verbs: string[] };
  /**
   * More users with a static token each, in system:masters like the admin, so that a test can give
   * a process an identity of its own (e.g. the operator, to tell its requests in the audit log from
   * the harness's own). Their kubeconfigs: `kubeconfigFor(name)`.
   */
  users?: string[];
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
  /** etcd's client URL (plain HTTP on loopback), e.g. for its gRPC-gateway JSON API under /v3/. */
  readonly etcdUrl: string;
  /** The audit log file when started with `auditLog`. */
  readonly auditLogPath?: string;
  /** A kubeconfig file for one of the `users` the control plane was started with. */
  kubeconfigFor(user: string): string;
  /** Stops and starts kube-apiserver on the same port and storage (watch-survival tests). */
  restartApiServer(): Promise<void>;
  /**
   * Compacts etcd up to its current revision (physically: the old revisions are really gone) through
   * etcd's own JSON API, and returns that revision. Every resourceVersion below it is then "too
   * old" for etcd. Calling it again with no write in between is a no-op.
   *
   * What a client sees depends on the API server's watch cache, which keeps its own window of
   * recent events in memory and knows nothing of a compaction made behind its back (measured with
   * kube-apiserver 1.34, etcd 3.6, 50 writes between the old resourceVersion and the compaction):
   * - Watch cache on (the default): a watch re-opened from the old resourceVersion is served from
   *   the cache, HTTP 200 and the 50 missed MODIFIED events replayed; even a list with
   *   `resourceVersionMatch=Exact` at it answers 200 from the cache. No 410 at all: the cache's
   *   window grows while its events are young, so a test cannot push the old version out of it.
   * - Watch cache off for the resource (`watchCache: false`, or `{ disabledFor: ['configmaps'] }`):
   *   the watch goes to etcd and gets HTTP 200, then one ERROR event whose object is a Status with
   *   code 410, reason Expired, message "The resourceVersion for the provided watch is too old.",
   *   and the server ends the stream. A list with `resourceVersion=<old>&resourceVersionMatch=Exact`
   *   answers HTTP 410 itself; a plain get or a NotOlderThan list answers 200 with the current state.
   * So a test of the 410 path starts its own control plane with the watch cache off for the
   * resource it watches, notes a resourceVersion, makes a write or more, calls this, and re-opens
   * the watch from the old resourceVersion.
   */
  compactEtcd(): Promise<{ revision: number }>;
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
    const userTokens = new Map((options.users ?? []).map((user) => [user, randomBytes(24).toString('hex')]));
    const tokenLines = [
      `${adminToken},admin,admin-uid,"system:masters"`,
      ...[...userTokens].map(([user, token]) => `${token},${user},${user}-uid,"system:masters"`),
    ];
    writeFileSync(path.join(dir, 'tokens.csv'), tokenLines.join('\n') + '\n', { mode: 0o600 });
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
    if (options.watchCache === false) apiserverArgs.push('--watch-cache=false');
    else if (typeof options.watchCache === 'object' && options.watchCache.disabledFor.length > 0)
      apiserverArgs.push(
        `--watch-cache-sizes=${options.watchCache.disabledFor.map((r) => `${r}#0`).join(',')}`,
      );
    let auditLogPath: string | undefined;
    if (options.auditLog) {
      const verbs = options.auditLog === true ? ['watch', 'list'] : options.auditLog.verbs;
      auditLogPath = path.join(dir, 'audit.log');
      const policyPath = path.join(dir, 'audit-policy.yaml');
      writeFileSync(policyPath, auditPolicyYaml(verbs));
      apiserverArgs.push(
        `--audit-policy-file=${policyPath}`,
        `--audit-log-path=${auditLogPath}`,
        '--audit-log-format=json',
        // Each event is written before the request goes on, so a test reads what it just did.
        '--audit-log-mode=blocking',
      );
    }
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

    const etcdUrl = `http://127.0.0.1:${ports.etcdClient}`;
    const compactEtcd = async (): Promise<{ revision: number }> => {
      // Any key will do: the response header carries the store's current revision.
      const range = await etcdCall<{ header?: { revision?: string } }>(etcdUrl, '/v3/kv/range', {
        key: Buffer.from('/registry/').toString('base64'),
        limit: '1',
        keys_only: true,
      });
      const revision = Number(range.header?.revision);
      if (!Number.isSafeInteger(revision) || revision < 1)
        throw new Error(`etcd returned no current revision: ${JSON.stringify(range)}`);
      try {
        await etcdCall(etcdUrl, '/v3/kv/compaction', { revision: String(revision), physical: true });
      } catch (err) {
        // Nothing was written since the last compaction: already compacted up to here.
        if (!String(err).includes('required revision has been compacted')) throw err;
      }
      return { revision };
    };

    const kubeconfigFor = (user: string): string => {
      const token = userTokens.get(user);
      if (token === undefined) throw new Error(`user ${user} was not among the control plane's users`);
      const file = path.join(dir, `kubeconfig-${user.replace(/[^A-Za-z0-9_.-]/g, '_')}`);
      writeFileSync(file, kubeconfigYaml(server, caPem, token, user), { mode: 0o600 });
      return file;
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
      etcdUrl,
      ...(auditLogPath === undefined ? {} : { auditLogPath }),
      kubeconfigFor,
      compactEtcd,
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

export function kubeconfigYaml(server: string, caPem: string, token: string, user = 'admin'): string {
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
    `- name: ${user}`,
    '  user:',
    `    token: ${token}`,
    'contexts:',
    '- name: trivy-lookout-local',
    '  context:',
    '    cluster: trivy-lookout-local',
    `    user: ${user}`,
    'current-context: trivy-lookout-local',
    '',
  ].join('\n');
}

/** Metadata-level events for the given verbs, nothing else (the controllers' writes would swamp it). */
function auditPolicyYaml(verbs: string[]): string {
  return [
    'apiVersion: audit.k8s.io/v1',
    'kind: Policy',
    'rules:',
    '- level: Metadata',
    `  verbs: [${verbs.map((v) => JSON.stringify(v)).join(', ')}]`,
    '- level: None',
    '',
  ].join('\n');
}

/** A call to etcd's gRPC gateway (JSON over HTTP; 64-bit integers are strings). */
async function etcdCall<T = unknown>(etcdUrl: string, route: string, body: unknown): Promise<T> {
  const res = await fetch(etcdUrl + route, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`etcd ${route}: HTTP ${res.status}: ${text}`);
  return JSON.parse(text) as T;
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
