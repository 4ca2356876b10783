/**
 * The pod spec of each workload kind, the images its containers run, and the digests the kubelet
 * reports for them.
 */
import type { V1PodSpec, V1PodStatus } from '@kubernetes/client-node';
import type { WorkloadObject } from './kinds.ts';

/** The pod spec a workload runs (for a Pod its own spec, else its pod template's). */
export function podSpecOf(object: WorkloadObject): V1PodSpec | undefined {
  switch (object.kind) {
    case 'Pod':
      return object.spec;
    case 'CronJob':
      return object.spec?.jobTemplate?.spec?.template?.spec;
    default:
      return object.spec?.template?.spec;
  }
}

export type ContainerKind = 'container' | 'init' | 'ephemeral';

export interface ContainerImage {
  readonly container: string;
  readonly image: string;
  readonly kind: ContainerKind;
}

export interface ContainerImageOptions {
  /** Include init containers (default true; false for `trivyOperator.skipInitContainers`). */
  readonly includeInit?: boolean;
  /** Include ephemeral (debug) containers (default true, as Trivy-Operator). */
  readonly includeEphemeral?: boolean;
}

/** Each container of the spec with its image: regular containers first, then init, then ephemeral. */
export function containerImages(
  spec: V1PodSpec | undefined,
  options: ContainerImageOptions = {},
): ContainerImage[] {
  if (!spec) return [];
  const images: ContainerImage[] = [];
  const add = (containers: { name: string; image?: string }[] | undefined, kind: ContainerKind): void => {
    for (const container of containers ?? []) {
      // The API server requires an image on every container; a missing one has nothing to scan.
      if (container.image) images.push({ container: container.name, image: container.image, kind });
    }
  };
  add(spec.containers, 'container');
  if (options.includeInit ?? true) add(spec.initContainers, 'init');
  if (options.includeEphemeral ?? true) add(spec.ephemeralContainers, 'ephemeral');
  return images;
}

/** A content digest as it appears after `@` in an image reference. */
const REPO_DIGEST = /@((?:sha256:[a-f0-9]{64})|(?:sha512:[a-f0-9]{128}))$/;

/**
 * The digest from a container status' `imageID`, when it names a registry manifest:
 * `docker-pullable://repo@sha256:…` (dockershim), `repo@sha256:…` (containerd, CRI-O). An ID without
 * a repository (`docker://sha256:…`, `sha256:…`) is a local image config ID, not something a
 * registry serves, so it gives no digest.
 */
export function digestFromImageID(imageID: string | undefined): string | undefined {
  return imageID ? REPO_DIGEST.exec(imageID)?.[1] : undefined;
}

/**
 * Container name → digest of the image it runs, from a Pod's status (regular, init and ephemeral
 * containers). Containers that have not pulled their image yet are absent.
 */
export function imageDigestsFromPodStatus(status: V1PodStatus | undefined): Record<string, string> {
  const digests: Record<string, string> = {};
  for (const statuses of [
    status?.containerStatuses,
    status?.initContainerStatuses,
    status?.ephemeralContainerStatuses,
  ]) {
    for (const containerStatus of statuses ?? []) {
      const digest = digestFromImageID(containerStatus.imageID);
      if (digest) digests[containerStatus.name] = digest;
    }
  }
  return digests;
}
