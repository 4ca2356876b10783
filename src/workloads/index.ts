/**
 * Workloads as plain data: their kinds and identity, who owns their reports, which are skipped, the
 * images they run, hashes, and the names and labels of their reports. No API calls here.
 */
export { TargetNamespaces } from './target-namespaces.ts';
export {
  SCANNABLE_KINDS,
  WORKLOAD_API_VERSION,
  asWorkload,
  isScannableKind,
  isWorkloadObjectKind,
  workloadKey,
  workloadRef,
} from './kinds.ts';
export type { ScannableKind, WorkloadObject, WorkloadObjectKind, WorkloadRef } from './kinds.ts';
export {
  DEPLOYMENT_REVISION_ANNOTATION,
  LOOKOUT_MANAGED_BY,
  SCANNER_MANAGED_BY_VALUES,
  SkipReason,
  activeReplicaSetOf,
  controllerOf,
  isActiveReplicaSet,
  isTargetKind,
  reportOwner,
  hasSkipLabel,
  skipReason,
  targetWorkloads,
} from './owners.ts';
export type { SkipOptions, WorkloadLookup } from './owners.ts';
export { containerImages, digestFromImageID, imageDigestsFromPodStatus, podSpecOf } from './containers.ts';
export type { ContainerImage, ContainerImageOptions, ContainerKind } from './containers.ts';
export {
  DOCKER_HUB_REGISTRY,
  formatImageReference,
  imageKey,
  parseImageReference,
} from './image-reference.ts';
export type { ImageReference } from './image-reference.ts';
export { canonicalJson, contentHash, nameHash, resourceSpecHash } from './hash.ts';
export {
  REPORT_MANAGED_BY,
  isValidLabelValue,
  isValidObjectName,
  ownerReferenceTo,
  pickReportResourceLabels,
  reportExtraLabels,
  reportMetadata,
  reportName,
  workloadLabels,
} from './report-metadata.ts';
export type { ReportMetadata, ReportMetadataOptions } from './report-metadata.ts';
