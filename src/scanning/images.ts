/**
 * The images a pod or a CronJob's spec runs, parsed, with what is needed to pull them: what the
 * scanner plans its scans from. Pure, apart from a log line for a reference that cannot be parsed.
 */
import type { V1Pod, V1PodSpec } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { containerImages, imageDigestsFromPodStatus, parseImageReference } from '../workloads/index.ts';

/** An image a workload container runs, parsed, with the pull secrets and ServiceAccount to fetch it. */
export interface ScannableImage {
  container: string;
  /** The image as written in the pod spec. */
  ref: string;
  registry: string;
  repository: string;
  tag: string;
  digest: string | undefined;
  /** What Trivy is asked to scan: repository@digest when the digest is known. */
  scanRef: string;
  pullSecrets: string[];
  serviceAccount: string;
}

/** The images of a running pod, by the digests its kubelet reports; containers not started yet are left out. */
export function podImages(pod: V1Pod, skipInit: boolean, log: Logger): ScannableImage[] {
  const spec = pod.spec;
  if (!spec) return [];
  const digests = imageDigestsFromPodStatus(pod.status);
  return specImages(spec, skipInit, log).flatMap((image) => {
    const digest = digests[image.container];
    if (!digest) return [];
    return [{ ...image, digest, scanRef: `${image.registry}/${image.repository}@${digest}` }];
  });
}

/** The images of a pod spec (regular and, unless skipped, init containers; not ephemeral ones). */
export function specImages(spec: V1PodSpec, skipInit: boolean, log: Logger): ScannableImage[] {
  const pullSecrets = (spec.imagePullSecrets ?? []).map((s) => s.name ?? '').filter(Boolean);
  return containerImages(spec, { includeInit: !skipInit, includeEphemeral: false }).flatMap(
    ({ container, image }) => {
      let parsed;
      try {
        parsed = parseImageReference(image);
      } catch (err) {
        // Kubernetes accepted it, so it is odd but real; nothing can be scanned without a reference.
        log.warn(
          { container, image, err: (err as Error).message },
          'unparsable image reference; not scanned',
        );
        return [];
      }
      return [
        {
          container,
          ref: image,
          registry: parsed.registry,
          repository: parsed.repository,
          tag: parsed.tag ?? '',
          digest: parsed.digest,
          scanRef: image,
          pullSecrets,
          serviceAccount: spec.serviceAccountName ?? 'default',
        },
      ];
    },
  );
}
