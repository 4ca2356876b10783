export {
  CNI_BIN_DIR,
  REAL_NODE_LABEL,
  REAL_NODE_TAINT,
  realNodePlacement,
  startRealNode,
  type RealNode,
  type RealNodeOptions,
  type RegistryHostConfig,
} from './node.ts';
export { cleanupDeadInstances, cleanupNode, cleanupStaleNode, nodePaths, readNodeRecord } from './cleanup.ts';
export {
  bridgePorts,
  instanceNetwork,
  iptablesRules,
  netnsExists,
  NODE_INSTANCE_COUNT,
  type InstanceNetwork,
} from './network.ts';
export { allClaims, claimEntries, claimIsLive, CLAIMS_DIR } from './instances.ts';
export { PAUSE_IMAGE, pauseImageArchive } from './pause-image.ts';
