/**
 * The NodeInfo document: what the node collector prints and what Trivy's KCV node checks read
 * (`input.kind == "NodeInfo"`, `input.type`, `input.info.<key>.values`). Keys and value kinds follow
 * the checks bundled with Trivy (trivy-checks `commands/kubernetes/*.yaml`): file modes are numbers
 * written as their octal digits (0o644 → 644), ownership is `user:group`, flags are strings, and
 * integer flag values are numbers (the checks compare `readOnlyPort == 0`, `eventQps < 0`).
 */

export const NODE_INFO_KIND = 'NodeInfo';

/** Control-plane nodes get the master checks as well as the worker ones. */
export const NODE_TYPES = ['master', 'worker'] as const;
export type NodeType = (typeof NODE_TYPES)[number];

export type InfoValue = string | number;

export interface NodeInfoEntry {
  values: InfoValue[];
}

export interface NodeInfo {
  apiVersion: 'v1';
  kind: typeof NODE_INFO_KIND;
  metadata: { name: string; creationTimestamp: string };
  type: NodeType;
  info: Record<string, NodeInfoEntry>;
}

/** Keys checked on every node (kubelet, its files, kube-proxy's kubeconfig). */
export const WORKER_KEYS = [
  'kubeletAnonymousAuthArgumentSet',
  'kubeletAuthorizationModeArgumentSet',
  'kubeletClientCaFileArgumentSet',
  'kubeletReadOnlyPortArgumentSet',
  'kubeletStreamingConnectionIdleTimeoutArgumentSet',
  'kubeletProtectKernelDefaultsArgumentSet',
  'kubeletMakeIptablesUtilChainsArgumentSet',
  'kubeletEventQpsArgumentSet',
  'kubeletHostnameOverrideArgumentSet',
  'kubeletRotateCertificatesArgumentSet',
  'kubeletRotateKubeletServerCertificateArgumentSet',
  'kubeletTlsCertFileTlsArgumentSet',
  'kubeletTlsPrivateKeyFileArgumentSet',
  'kubeletOnlyUseStrongCryptographic',
  'kubeletConfFilePermissions',
  'kubeletConfFileOwnership',
  'kubeletConfigYamlConfigurationFilePermission',
  'kubeletConfigYamlConfigurationFileOwnership',
  'kubeletServiceFilePermissions',
  'kubeletServiceFileOwnership',
  'certificateAuthoritiesFilePermissions',
  'certificateAuthoritiesFileOwnership',
  'kubeconfigFileExistsPermissions',
  'kubeconfigFileExistsOwnership',
] as const;

/** Keys checked on control-plane nodes only (static pod manifests, their kubeconfigs, PKI, etcd). */
export const MASTER_KEYS = [
  'adminConfFilePermissions',
  'adminConfFileOwnership',
  'kubeAPIServerSpecFilePermission',
  'kubeAPIServerSpecFileOwnership',
  'kubeControllerManagerSpecFilePermission',
  'kubeControllerManagerSpecFileOwnership',
  'kubeSchedulerSpecFilePermission',
  'kubeSchedulerSpecFileOwnership',
  'kubeEtcdSpecFilePermission',
  'kubeEtcdSpecFileOwnership',
  'controllerManagerConfFilePermissions',
  'controllerManagerConfFileOwnership',
  'schedulerConfFilePermissions',
  'schedulerConfFileOwnership',
  'containerNetworkInterfaceFilePermissions',
  'containerNetworkInterfaceFileOwnership',
  'etcdDataDirectoryPermissions',
  'etcdDataDirectoryOwnership',
  'kubePKIDirectoryFileOwnership',
  'kubePKIKeyFilePermissions',
  'kubernetesPKICertificateFilePermissions',
] as const;

export type NodeInfoKey = (typeof WORKER_KEYS)[number] | (typeof MASTER_KEYS)[number];
