export {
  startHarnessKubelet,
  type HarnessKubelet,
  type HarnessKubeletOptions,
  type HarnessNodeOptions,
} from './kubelet.ts';
export type { RunSpec, Runner } from './types.ts';
export {
  fakeNodeRoot,
  nodeCollectorRunner,
  type FakeNodeRootOptions,
  type NodeCollectorRunnerOptions,
} from './node-collector.ts';
export {
  createStandInTrivy,
  isTrivyImage,
  isTrivyPod,
  standInTrivyPath,
  type ScanBehaviour,
  type StandInInvocation,
  type StandInTrivy,
  type StandInTrivyOptions,
} from './stand-in.ts';
export {
  ImageDigests,
  fakeDigest,
  normalizeImageRef,
  parseImageRef,
  type ImageIdFormat,
  type ImageRef,
} from './images.ts';
