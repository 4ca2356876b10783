import { createHash } from 'node:crypto';
import { imageKey } from '../workloads/index.ts';

/** Labels and annotations on the objects the scanner creates, so they can be found and adopted. */
export const ScanLabel = {
  /** Marks scan Jobs (and their credentials Secrets) as ours. */
  component: 'trivy-lookout.dev/component',
  /** A label-safe hash of the image key, to find the Job of an image. */
  imageHash: 'trivy-lookout.dev/image-hash',
} as const;

export const ScanAnnotation = {
  /** The image key (digest-based when known): what the result is filed under. */
  imageKey: 'trivy-lookout.dev/image-key',
  /** The reference passed to Trivy. */
  imageRef: 'trivy-lookout.dev/image-ref',
  /** When the scan that produced a report finished (RFC 3339). */
  scannedAt: 'trivy-lookout.dev/scanned-at',
} as const;

export const SCAN_JOB_COMPONENT = 'scan-job';

/** A short, label-value-safe, stable hash. */
export function shortHash(text: string, length = 10): string {
  return createHash('sha256').update(text).digest('hex').slice(0, length);
}

/** One Job per image: the name is derived from the image key so two replicas agree on it. */
export function scanJobName(key: string): string {
  return `scan-vulnerabilityreport-${shortHash(key, 16)}`;
}

/** The key that identifies an image for deduplication: repository plus digest, else the reference. */
export function imageKeyOf(
  registry: string,
  repository: string,
  digest: string | undefined,
  ref: string,
): string {
  return digest ? imageKey(registry, repository, digest) : ref;
}
