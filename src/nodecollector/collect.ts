/**
 * Collects a node's NodeInfo from its files and process command lines: the kubelet's effective
 * settings (flags over its config file over the kubelet's own defaults, as the kubelet resolves
 * them), the modes and owners of the files the CIS benchmark names, and, on control-plane nodes, the
 * static pod manifests, kubeconfigs, PKI and etcd data directory. Pure over a HostView.
 */
import path from 'node:path';
import yaml from 'js-yaml';
import type { HostView } from './host.ts';
import {
  MASTER_KEYS,
  NODE_INFO_KIND,
  WORKER_KEYS,
  type InfoValue,
  type NodeInfo,
  type NodeInfoKey,
  type NodeType,
} from './node-info.ts';

/** Where distributions put things; the first that exists wins (a process flag wins over all). */
export const HOST_PATHS = {
  kubeletKubeconfig: [
    '/etc/kubernetes/kubelet.conf',
    '/etc/kubernetes/kubelet-kubeconfig.conf',
    '/var/lib/kubelet/kubeconfig',
    '/etc/kubernetes/kubelet-kubeconfig',
    '/etc/kubernetes/kubelet/kubeconfig',
    '/var/lib/rancher/rke2/agent/kubelet.kubeconfig',
    '/var/lib/rancher/k3s/agent/kubelet.kubeconfig',
  ],
  kubeletConfig: [
    '/var/lib/kubelet/config.yaml',
    '/var/lib/kubelet/config.yml',
    '/etc/kubernetes/kubelet-config.yaml',
    '/etc/kubernetes/kubelet/kubelet-config.json',
    '/etc/kubernetes/kubelet/config',
    '/home/kubernetes/kubelet-config.yaml',
    '/etc/kubernetes/kubelet.yaml',
  ],
  kubeletService: [
    '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf',
    '/etc/systemd/system/kubelet.service',
    '/lib/systemd/system/kubelet.service',
    '/usr/lib/systemd/system/kubelet.service',
  ],
  caFile: ['/etc/kubernetes/pki/ca.crt', '/etc/kubernetes/certs/ca.crt', '/etc/kubernetes/cert/ca.pem'],
  adminConf: ['/etc/kubernetes/admin.conf'],
  apiserverManifest: [
    '/etc/kubernetes/manifests/kube-apiserver.yaml',
    '/etc/kubernetes/manifests/kube-apiserver.yml',
    '/etc/kubernetes/manifests/kube-apiserver.manifest',
    '/var/lib/rancher/rke2/agent/pod-manifests/kube-apiserver.yaml',
  ],
  controllerManagerManifest: [
    '/etc/kubernetes/manifests/kube-controller-manager.yaml',
    '/etc/kubernetes/manifests/kube-controller-manager.yml',
    '/etc/kubernetes/manifests/kube-controller-manager.manifest',
    '/var/lib/rancher/rke2/agent/pod-manifests/kube-controller-manager.yaml',
  ],
  schedulerManifest: [
    '/etc/kubernetes/manifests/kube-scheduler.yaml',
    '/etc/kubernetes/manifests/kube-scheduler.yml',
    '/etc/kubernetes/manifests/kube-scheduler.manifest',
    '/var/lib/rancher/rke2/agent/pod-manifests/kube-scheduler.yaml',
  ],
  etcdManifest: [
    '/etc/kubernetes/manifests/etcd.yaml',
    '/etc/kubernetes/manifests/etcd.yml',
    '/etc/kubernetes/manifests/etcd.manifest',
    '/var/lib/rancher/rke2/agent/pod-manifests/etcd.yaml',
  ],
  controllerManagerKubeconfig: [
    '/etc/kubernetes/controller-manager.conf',
    '/var/lib/kube-controller-manager/kubeconfig',
  ],
  schedulerKubeconfig: ['/etc/kubernetes/scheduler.conf', '/var/lib/kube-scheduler/kubeconfig'],
  etcdDataDir: ['/var/lib/etcd', '/var/lib/etcd/default.etcd', '/var/lib/etcd/data.etcd'],
  pkiDir: '/etc/kubernetes/pki',
} as const;

/** A process of the node: its flags, from `--name=value`, `--name value` or a bare `--name`. */
export function parseFlags(args: readonly string[]): Map<string, string> {
  const flags = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? '';
    const match = /^--?([^=]+)(?:=(.*))?$/s.exec(arg);
    if (!match) continue;
    const name = match[1] ?? '';
    if (match[2] !== undefined) {
      flags.set(name, match[2]);
    } else if (i + 1 < args.length && !(args[i + 1] ?? '').startsWith('-')) {
      flags.set(name, args[i + 1] ?? '');
      i += 1;
    } else {
      flags.set(name, 'true');
    }
  }
  return flags;
}

/** The arguments of the first process running one of `programs` (`hyperkube <sub>` counts too). */
export function findProcess(
  processes: readonly string[][],
  programs: readonly string[],
): string[] | undefined {
  for (const argv of processes) {
    const program = path.basename(argv[0] ?? '');
    if (programs.includes(program)) return argv.slice(1);
    if (program === 'hyperkube' && programs.includes(argv[1] ?? '')) return argv.slice(2);
  }
  return undefined;
}

type Lookup = (config: Record<string, unknown>) => unknown;

interface KubeletSetting {
  key: NodeInfoKey;
  flag: string;
  config?: Lookup;
  /** The kubelet's default when it runs with a config file (KubeletConfiguration v1beta1 defaults). */
  fileDefault?: unknown;
  /** Its default when it runs on flags alone (the deprecated flags' defaults). */
  flagDefault?: unknown;
  /** Comma-separated lists become one value per entry. */
  list?: boolean;
}

const field =
  (...keys: string[]): Lookup =>
  (config) => {
    let value: unknown = config;
    for (const key of keys) {
      if (typeof value !== 'object' || value === null) return undefined;
      value = (value as Record<string, unknown>)[key];
    }
    return value;
  };

const KUBELET_SETTINGS: readonly KubeletSetting[] = [
  {
    key: 'kubeletAnonymousAuthArgumentSet',
    flag: 'anonymous-auth',
    config: field('authentication', 'anonymous', 'enabled'),
    fileDefault: false,
    flagDefault: true,
  },
  {
    key: 'kubeletAuthorizationModeArgumentSet',
    flag: 'authorization-mode',
    config: field('authorization', 'mode'),
    fileDefault: 'Webhook',
    flagDefault: 'AlwaysAllow',
  },
  {
    key: 'kubeletClientCaFileArgumentSet',
    flag: 'client-ca-file',
    config: field('authentication', 'x509', 'clientCAFile'),
  },
  {
    key: 'kubeletReadOnlyPortArgumentSet',
    flag: 'read-only-port',
    config: field('readOnlyPort'),
    fileDefault: 0,
    flagDefault: 10255,
  },
  {
    key: 'kubeletStreamingConnectionIdleTimeoutArgumentSet',
    flag: 'streaming-connection-idle-timeout',
    config: field('streamingConnectionIdleTimeout'),
    fileDefault: '4h0m0s',
    flagDefault: '4h0m0s',
  },
  {
    key: 'kubeletProtectKernelDefaultsArgumentSet',
    flag: 'protect-kernel-defaults',
    config: field('protectKernelDefaults'),
    fileDefault: false,
    flagDefault: false,
  },
  {
    key: 'kubeletMakeIptablesUtilChainsArgumentSet',
    flag: 'make-iptables-util-chains',
    config: field('makeIPTablesUtilChains'),
    fileDefault: true,
    flagDefault: true,
  },
  {
    key: 'kubeletEventQpsArgumentSet',
    flag: 'event-qps',
    config: field('eventRecordQPS'),
    fileDefault: 50,
    flagDefault: 50,
  },
  { key: 'kubeletHostnameOverrideArgumentSet', flag: 'hostname-override' },
  {
    key: 'kubeletRotateCertificatesArgumentSet',
    flag: 'rotate-certificates',
    config: field('rotateCertificates'),
    fileDefault: false,
    flagDefault: false,
  },
  { key: 'kubeletTlsCertFileTlsArgumentSet', flag: 'tls-cert-file', config: field('tlsCertFile') },
  {
    key: 'kubeletTlsPrivateKeyFileArgumentSet',
    flag: 'tls-private-key-file',
    config: field('tlsPrivateKeyFile'),
  },
  {
    key: 'kubeletOnlyUseStrongCryptographic',
    flag: 'tls-cipher-suites',
    config: field('tlsCipherSuites'),
    list: true,
  },
];

/** Check values as the checks compare them: integers as numbers, booleans as "true"/"false". */
function infoValues(value: unknown, list = false): InfoValue[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value.flatMap((v) => infoValues(v));
  if (typeof value === 'boolean') return [String(value)];
  if (typeof value === 'number') return [value];
  if (typeof value === 'string') {
    if (list) return value.split(',').flatMap((v) => infoValues(v.trim()));
    return /^-?\d+$/.test(value) ? [Number(value)] : [value];
  }
  return [JSON.stringify(value)];
}

/** `--feature-gates=A=true,B=false` → the value of one gate. */
function featureGate(flags: Map<string, string>, gate: string): string | undefined {
  for (const entry of (flags.get('feature-gates') ?? '').split(',')) {
    const [name, value] = entry.split('=');
    if (name?.trim() === gate) return value?.trim();
  }
  return undefined;
}

/** 0o644 → 644, as `stat -c %a` prints it and the checks compare it. */
export function modeDigits(mode: number): number {
  return Number((mode & 0o777).toString(8));
}

function idNames(text: string | undefined): Map<number, string> {
  const names = new Map<number, string>();
  for (const line of (text ?? '').split('\n')) {
    const [name, , id] = line.split(':');
    if (name && id !== undefined && /^\d+$/.test(id) && !names.has(Number(id))) names.set(Number(id), name);
  }
  return names;
}

export interface CollectOptions {
  nodeName: string;
  /** From the Node's role labels; undefined = guess from what runs here. */
  nodeType?: NodeType;
  now?: Date;
}

export function collectNodeInfo(host: HostView, options: CollectOptions): NodeInfo {
  const users = idNames(host.readText('/etc/passwd'));
  const groups = idNames(host.readText('/etc/group'));
  const owner = (id: number, names: Map<number, string>) => names.get(id) ?? (id === 0 ? 'root' : String(id));

  const info: Partial<Record<NodeInfoKey, InfoValue[]>> = {};
  const set = (key: NodeInfoKey, values: InfoValue[]) => {
    info[key] = values;
  };
  const firstExisting = (candidates: readonly string[]) => candidates.find((file) => host.stat(file));
  /** Mode and owner of one file (none when it is absent). */
  const statKeys = (file: string | undefined, modeKey: NodeInfoKey, ownerKey: NodeInfoKey) => {
    const s = file === undefined ? undefined : host.stat(file);
    set(modeKey, s ? [modeDigits(s.mode)] : []);
    set(ownerKey, s ? [`${owner(s.uid, users)}:${owner(s.gid, groups)}`] : []);
  };

  const processes = host.processes();
  const kubeletArgs = findProcess(processes, ['kubelet']);
  const kubeletFlags = parseFlags(kubeletArgs ?? []);

  // The kubelet's config file: --config, else where distributions put it.
  const configFile = kubeletFlags.get('config') ?? firstExisting(HOST_PATHS.kubeletConfig);
  let kubeletConfig: Record<string, unknown> | undefined;
  if (configFile !== undefined) {
    const text = host.readText(configFile);
    try {
      const parsed = text === undefined ? undefined : yaml.load(text);
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
        kubeletConfig = parsed as Record<string, unknown>;
    } catch {
      // Not YAML/JSON: its mode and owner are still checked; its settings are unknown.
    }
  }
  // Defaults only when the kubelet's configuration is fully known: a config file that exists but
  // cannot be read must not be taken for one that says nothing.
  const unreadable =
    configFile !== undefined && kubeletConfig === undefined && host.stat(configFile) !== undefined;
  const running = (kubeletArgs !== undefined || kubeletConfig !== undefined) && !unreadable;
  for (const setting of KUBELET_SETTINGS) {
    let value: unknown = kubeletFlags.get(setting.flag);
    if (value === undefined && kubeletConfig && setting.config) value = setting.config(kubeletConfig);
    if (value === undefined && running)
      value = kubeletConfig === undefined ? setting.flagDefault : setting.fileDefault;
    set(setting.key, infoValues(value, setting.list));
  }
  const rotateServer =
    featureGate(kubeletFlags, 'RotateKubeletServerCertificate') ??
    (kubeletConfig ? field('featureGates', 'RotateKubeletServerCertificate')(kubeletConfig) : undefined);
  set('kubeletRotateKubeletServerCertificateArgumentSet', infoValues(rotateServer));

  statKeys(
    kubeletFlags.get('kubeconfig') ?? firstExisting(HOST_PATHS.kubeletKubeconfig),
    'kubeletConfFilePermissions',
    'kubeletConfFileOwnership',
  );
  statKeys(
    configFile,
    'kubeletConfigYamlConfigurationFilePermission',
    'kubeletConfigYamlConfigurationFileOwnership',
  );
  statKeys(
    firstExisting(HOST_PATHS.kubeletService),
    'kubeletServiceFilePermissions',
    'kubeletServiceFileOwnership',
  );
  const clientCa =
    kubeletFlags.get('client-ca-file') ??
    (kubeletConfig ? field('authentication', 'x509', 'clientCAFile')(kubeletConfig) : undefined);
  statKeys(
    typeof clientCa === 'string' && clientCa !== '' ? clientCa : undefined,
    'certificateAuthoritiesFilePermissions',
    'certificateAuthoritiesFileOwnership',
  );
  const proxyFlags = parseFlags(findProcess(processes, ['kube-proxy', 'proxy']) ?? []);
  statKeys(proxyFlags.get('kubeconfig'), 'kubeconfigFileExistsPermissions', 'kubeconfigFileExistsOwnership');

  const type: NodeType =
    options.nodeType ??
    (firstExisting(HOST_PATHS.apiserverManifest) || findProcess(processes, ['kube-apiserver'])
      ? 'master'
      : 'worker');

  if (type === 'master') {
    statKeys(firstExisting(HOST_PATHS.adminConf), 'adminConfFilePermissions', 'adminConfFileOwnership');
    statKeys(
      firstExisting(HOST_PATHS.apiserverManifest),
      'kubeAPIServerSpecFilePermission',
      'kubeAPIServerSpecFileOwnership',
    );
    statKeys(
      firstExisting(HOST_PATHS.controllerManagerManifest),
      'kubeControllerManagerSpecFilePermission',
      'kubeControllerManagerSpecFileOwnership',
    );
    statKeys(
      firstExisting(HOST_PATHS.schedulerManifest),
      'kubeSchedulerSpecFilePermission',
      'kubeSchedulerSpecFileOwnership',
    );
    statKeys(
      firstExisting(HOST_PATHS.etcdManifest),
      'kubeEtcdSpecFilePermission',
      'kubeEtcdSpecFileOwnership',
    );
    statKeys(
      firstExisting(HOST_PATHS.controllerManagerKubeconfig),
      'controllerManagerConfFilePermissions',
      'controllerManagerConfFileOwnership',
    );
    statKeys(
      firstExisting(HOST_PATHS.schedulerKubeconfig),
      'schedulerConfFilePermissions',
      'schedulerConfFileOwnership',
    );
    const etcdFlags = parseFlags(findProcess(processes, ['etcd']) ?? []);
    statKeys(
      etcdFlags.get('data-dir') ?? firstExisting(HOST_PATHS.etcdDataDir),
      'etcdDataDirectoryPermissions',
      'etcdDataDirectoryOwnership',
    );

    // CNI configuration: every entry of /<top>/cni/ (as `stat /*/cni/*`).
    const cniModes: InfoValue[] = [];
    const cniOwners: InfoValue[] = [];
    for (const top of host.list('/') ?? []) {
      for (const entry of host.list(`/${top}/cni`) ?? []) {
        const s = host.stat(`/${top}/cni/${entry}`);
        if (!s) continue;
        cniModes.push(modeDigits(s.mode));
        cniOwners.push(`${owner(s.uid, users)}:${owner(s.gid, groups)}`);
      }
    }
    set('containerNetworkInterfaceFilePermissions', cniModes);
    set('containerNetworkInterfaceFileOwnership', cniOwners);

    // PKI: the owner of everything below it; the modes of keys and of certificates.
    const pkiOwners: InfoValue[] = [];
    const keyModes: InfoValue[] = [];
    const certModes: InfoValue[] = [];
    const walk = (dir: string, depth: number) => {
      for (const entry of host.list(dir) ?? []) {
        const file = `${dir}/${entry}`;
        const s = host.stat(file);
        if (!s) continue;
        pkiOwners.push(`${owner(s.uid, users)}:${owner(s.gid, groups)}`);
        if (s.directory) {
          if (depth < 8) walk(file, depth + 1);
        } else if (entry.endsWith('.key')) keyModes.push(modeDigits(s.mode));
        else if (entry.endsWith('.crt')) certModes.push(modeDigits(s.mode));
      }
    };
    walk(HOST_PATHS.pkiDir, 0);
    set('kubePKIDirectoryFileOwnership', pkiOwners);
    set('kubePKIKeyFilePermissions', keyModes);
    set('kubernetesPKICertificateFilePermissions', certModes);
  }

  const keys: readonly NodeInfoKey[] = type === 'master' ? [...WORKER_KEYS, ...MASTER_KEYS] : WORKER_KEYS;
  return {
    apiVersion: 'v1',
    kind: NODE_INFO_KIND,
    metadata: { name: options.nodeName, creationTimestamp: (options.now ?? new Date()).toISOString() },
    type,
    info: Object.fromEntries(keys.map((key) => [key, { values: info[key] ?? [] }])),
  };
}
