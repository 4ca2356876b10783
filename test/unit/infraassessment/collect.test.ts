/**
 * The node collector on a fake host root: what goes in is files and /proc command lines, what
 * comes out is the NodeInfo values Trivy's KCV node checks compare.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import {
  MASTER_KEYS,
  WORKER_KEYS,
  collectNodeInfo,
  hostView,
  modeDigits,
  parseFlags,
} from '../../../src/nodecollector/index.ts';

const roots: string[] = [];
after(() => roots.forEach((root) => rmSync(root, { recursive: true, force: true })));

/** A host root with the given files (path → content, or [content, mode]) and processes. */
function fakeHost(files: Record<string, string | [string, number]>, processes: string[][] = []): string {
  const root = mkdtempSync(path.join(os.tmpdir(), 'fake-host-'));
  roots.push(root);
  for (const [file, spec] of Object.entries(files)) {
    const [content, mode] = typeof spec === 'string' ? [spec, 0o644] : spec;
    mkdirSync(path.dirname(path.join(root, file)), { recursive: true });
    writeFileSync(path.join(root, file), content);
    chmodSync(path.join(root, file), mode);
  }
  processes.forEach((argv, i) => {
    mkdirSync(path.join(root, 'proc', String(100 + i)), { recursive: true });
    writeFileSync(path.join(root, 'proc', String(100 + i), 'cmdline'), `${argv.join('\0')}\0`);
  });
  return root;
}

const me = `${os.userInfo().uid === 0 ? 'root' : String(os.userInfo().uid)}:${os.userInfo().gid === 0 ? 'root' : String(os.userInfo().gid)}`;
const values = (info: ReturnType<typeof collectNodeInfo>, key: string) => info.info[key]?.values;

describe('node collector', () => {
  it('reads the kubelet config file named by --config, flags win over it, and integer values are numbers', () => {
    const root = fakeHost(
      {
        '/etc/kubelet/custom.yaml': [
          [
            'apiVersion: kubelet.config.k8s.io/v1beta1',
            'kind: KubeletConfiguration',
            'authentication:',
            '  anonymous: {enabled: true}',
            '  x509: {clientCAFile: /etc/kubernetes/pki/ca.crt}',
            'authorization: {mode: AlwaysAllow}',
            'readOnlyPort: 10255',
            'tlsCipherSuites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, TLS_RSA_WITH_RC4_128_SHA]',
            'featureGates: {RotateKubeletServerCertificate: true}',
          ].join('\n'),
          0o640,
        ],
        '/etc/kubernetes/kubelet.conf': ['kubeconfig', 0o666],
        '/etc/kubernetes/pki/ca.crt': ['ca', 0o644],
        '/etc/systemd/system/kubelet.service.d/10-kubeadm.conf': ['[Service]', 0o600],
      },
      [
        ['/usr/sbin/sshd', '-D'],
        [
          '/usr/bin/kubelet',
          '--config=/etc/kubelet/custom.yaml',
          '--authorization-mode',
          'Webhook',
          '--event-qps=0',
        ],
      ],
    );
    const info = collectNodeInfo(hostView(root), { nodeName: 'n1', nodeType: 'worker', now: new Date(0) });
    assert.equal(info.kind, 'NodeInfo');
    assert.equal(info.type, 'worker');
    assert.deepEqual(info.metadata, { name: 'n1', creationTimestamp: '1970-01-01T00:00:00.000Z' });
    assert.deepEqual(Object.keys(info.info).sort(), [...WORKER_KEYS].sort(), 'worker keys only');
    assert.deepEqual(values(info, 'kubeletAnonymousAuthArgumentSet'), ['true']);
    assert.deepEqual(values(info, 'kubeletAuthorizationModeArgumentSet'), ['Webhook'], 'the flag wins');
    assert.deepEqual(values(info, 'kubeletClientCaFileArgumentSet'), ['/etc/kubernetes/pki/ca.crt']);
    assert.deepEqual(values(info, 'kubeletReadOnlyPortArgumentSet'), [10255]);
    assert.deepEqual(values(info, 'kubeletEventQpsArgumentSet'), [0]);
    assert.deepEqual(values(info, 'kubeletOnlyUseStrongCryptographic'), [
      'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256',
      'TLS_RSA_WITH_RC4_128_SHA',
    ]);
    assert.deepEqual(values(info, 'kubeletRotateKubeletServerCertificateArgumentSet'), ['true']);
    // Unset in both: the KubeletConfiguration defaults the kubelet itself applies.
    assert.deepEqual(values(info, 'kubeletStreamingConnectionIdleTimeoutArgumentSet'), ['4h0m0s']);
    assert.deepEqual(values(info, 'kubeletMakeIptablesUtilChainsArgumentSet'), ['true']);
    assert.deepEqual(values(info, 'kubeletProtectKernelDefaultsArgumentSet'), ['false']);
    assert.deepEqual(values(info, 'kubeletHostnameOverrideArgumentSet'), []);
    assert.deepEqual(values(info, 'kubeletTlsCertFileTlsArgumentSet'), []);
    // File modes as `stat -c %a` prints them, owners as user:group.
    assert.deepEqual(values(info, 'kubeletConfFilePermissions'), [666]);
    assert.deepEqual(values(info, 'kubeletConfFileOwnership'), [me]);
    assert.deepEqual(values(info, 'kubeletConfigYamlConfigurationFilePermission'), [640]);
    assert.deepEqual(values(info, 'kubeletServiceFilePermissions'), [600]);
    assert.deepEqual(values(info, 'certificateAuthoritiesFilePermissions'), [644]);
    // No kube-proxy runs here.
    assert.deepEqual(values(info, 'kubeconfigFileExistsPermissions'), []);
  });

  it('without a config file, the kubelet flag defaults apply (anonymous auth on, AlwaysAllow, port 10255)', () => {
    const root = fakeHost({}, [
      ['kubelet', '--kubeconfig=/var/lib/kubelet/kubeconfig', '--hostname-override=x'],
    ]);
    const info = collectNodeInfo(hostView(root), { nodeName: 'n2' });
    assert.equal(info.type, 'worker', 'no control-plane manifests or processes');
    assert.deepEqual(values(info, 'kubeletAnonymousAuthArgumentSet'), ['true']);
    assert.deepEqual(values(info, 'kubeletAuthorizationModeArgumentSet'), ['AlwaysAllow']);
    assert.deepEqual(values(info, 'kubeletReadOnlyPortArgumentSet'), [10255]);
    assert.deepEqual(values(info, 'kubeletHostnameOverrideArgumentSet'), ['x']);
    assert.deepEqual(values(info, 'kubeletConfFilePermissions'), [], 'the named kubeconfig does not exist');
  });

  it('does not apply defaults when the kubelet config file exists but cannot be read', () => {
    const root = fakeHost({ '/var/lib/kubelet/config.yaml': '{ this is: [not yaml' }, [
      ['kubelet', '--config=/var/lib/kubelet/config.yaml'],
    ]);
    const info = collectNodeInfo(hostView(root), { nodeName: 'n4', nodeType: 'worker' });
    assert.deepEqual(
      values(info, 'kubeletAnonymousAuthArgumentSet'),
      [],
      'unknown, not the flag default "true"',
    );
    assert.deepEqual(
      values(info, 'kubeletConfigYamlConfigurationFilePermission'),
      [644],
      'its mode is still checked',
    );
  });

  it('with no kubelet at all, reports nothing rather than guessing', () => {
    const info = collectNodeInfo(hostView(fakeHost({})), { nodeName: 'n3', nodeType: 'worker' });
    for (const key of WORKER_KEYS) assert.deepEqual(values(info, key), [], key);
  });

  it('on a control-plane node adds manifests, kubeconfigs, PKI, CNI, etcd data dir and kube-proxy', () => {
    const root = fakeHost(
      {
        '/etc/kubernetes/manifests/kube-apiserver.yaml': ['x', 0o600],
        '/etc/kubernetes/manifests/etcd.yaml': ['x', 0o644],
        '/etc/kubernetes/admin.conf': ['x', 0o600],
        '/etc/kubernetes/scheduler.conf': ['x', 0o640],
        '/etc/kubernetes/pki/ca.crt': ['x', 0o644],
        '/etc/kubernetes/pki/ca.key': ['x', 0o600],
        '/etc/kubernetes/pki/etcd/server.key': ['x', 0o640],
        '/etc/cni/net.d/10-bridge.conf': ['x', 0o644],
        '/var/lib/etcd-data/member': ['x', 0o600],
        '/var/lib/kube-proxy/kubeconfig.conf': ['x', 0o644],
      },
      [
        ['kube-apiserver', '--anonymous-auth=false'],
        ['etcd', '--data-dir', '/var/lib/etcd-data'],
        ['/usr/local/bin/kube-proxy', '--kubeconfig=/var/lib/kube-proxy/kubeconfig.conf'],
      ],
    );
    const info = collectNodeInfo(hostView(root), { nodeName: 'cp' });
    assert.equal(info.type, 'master', 'guessed from the apiserver manifest');
    assert.deepEqual(Object.keys(info.info).sort(), [...WORKER_KEYS, ...MASTER_KEYS].sort());
    assert.deepEqual(values(info, 'kubeAPIServerSpecFilePermission'), [600]);
    assert.deepEqual(values(info, 'kubeEtcdSpecFilePermission'), [644]);
    assert.deepEqual(values(info, 'kubeSchedulerSpecFilePermission'), [], 'no scheduler manifest');
    assert.deepEqual(values(info, 'adminConfFilePermissions'), [600]);
    assert.deepEqual(values(info, 'schedulerConfFilePermissions'), [640]);
    assert.deepEqual(values(info, 'kubePKIKeyFilePermissions'), [600, 640]);
    assert.deepEqual(values(info, 'kubernetesPKICertificateFilePermissions'), [644]);
    assert.equal(
      values(info, 'kubePKIDirectoryFileOwnership')?.length,
      4,
      'ca.crt, ca.key, etcd/, etcd/server.key',
    );
    assert.deepEqual(values(info, 'containerNetworkInterfaceFilePermissions'), [755], 'the net.d directory');
    assert.deepEqual(values(info, 'etcdDataDirectoryPermissions'), [755], '--data-dir of the etcd process');
    assert.deepEqual(values(info, 'kubeconfigFileExistsPermissions'), [644], "kube-proxy's --kubeconfig");
  });

  it('parses flags in every form kubelets are started with', () => {
    assert.deepEqual(
      [...parseFlags(['--a=1', '--b', '2', '--c', '--d=x=y', '-v', '3', 'positional', '--e'])],
      [
        ['a', '1'],
        ['b', '2'],
        ['c', 'true'],
        ['d', 'x=y'],
        ['v', '3'],
        ['e', 'true'],
      ],
    );
    assert.equal(modeDigits(0o100644), 644);
    assert.equal(modeDigits(0o600), 600);
  });
});
