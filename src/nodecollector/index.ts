/** The node collector: reads a node's kubelet settings and file modes into Trivy's NodeInfo document. */
export {
  collectNodeInfo,
  findProcess,
  modeDigits,
  parseFlags,
  HOST_PATHS,
  type CollectOptions,
} from './collect.ts';
export { hostView, type FileInfo, type HostView } from './host.ts';
export {
  MASTER_KEYS,
  NODE_INFO_KIND,
  NODE_TYPES,
  WORKER_KEYS,
  type InfoValue,
  type NodeInfo,
  type NodeInfoEntry,
  type NodeInfoKey,
  type NodeType,
} from './node-info.ts';
