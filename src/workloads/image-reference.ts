/**
 * Image references as written in pod specs, split into registry, repository, tag and digest with
 * Docker's defaults (`nginx` is `index.docker.io/library/nginx:latest`), as Trivy-Operator reports them.
 */
import { ErrorCodes, LookoutError } from '../errors/index.ts';

export interface ImageReference {
  /** Registry host[:port], e.g. `index.docker.io`, `ghcr.io`, `localhost:5000`. */
  readonly registry: string;
  /** Repository within the registry, e.g. `library/nginx`. */
  readonly repository: string;
  /** Tag; `latest` when the reference has neither tag nor digest, undefined with a digest only. */
  readonly tag?: string;
  /** `sha256:…` when the reference pins one. */
  readonly digest?: string;
}

export const DOCKER_HUB_REGISTRY = 'index.docker.io';
const DOCKER_HUB_ALIASES: readonly string[] = ['docker.io', DOCKER_HUB_REGISTRY];

const DIGEST = /^(?:sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const TAG = /^\w[\w.-]{0,127}$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const REGISTRY_HOST =
  /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::\d{1,5})?$/;

function invalid(reference: string, why: string): LookoutError {
  return new LookoutError(
    ErrorCodes.SCAN_FAILED,
    `image reference ${JSON.stringify(reference)} is invalid: ${why}`,
    {
      details: { image: reference },
    },
  );
}

/**
 * Splits an image reference. The first path component is the registry when it contains `.` or `:`
 * or is `localhost` (Docker's rule, which the kubelet follows); `docker.io` is spelled
 * `index.docker.io`, and a one-component Docker Hub repository gets `library/`. Throws a
 * {@link LookoutError} (SCAN_FAILED) for a reference no runtime could pull.
 */
export function parseImageReference(reference: string): ImageReference {
  if (reference === '') throw invalid(reference, 'it is empty');
  const at = reference.indexOf('@');
  const namePart = at === -1 ? reference : reference.slice(0, at);
  const digest = at === -1 ? undefined : reference.slice(at + 1);
  if (digest !== undefined && !DIGEST.test(digest)) {
    throw invalid(reference, `${JSON.stringify(digest)} is not a sha256 or sha512 digest`);
  }

  const lastSlash = namePart.lastIndexOf('/');
  const colon = namePart.indexOf(':', lastSlash + 1);
  const name = colon === -1 ? namePart : namePart.slice(0, colon);
  const tag = colon === -1 ? undefined : namePart.slice(colon + 1);
  if (tag !== undefined && !TAG.test(tag))
    throw invalid(reference, `${JSON.stringify(tag)} is not a valid tag`);

  const firstSlash = name.indexOf('/');
  const first = firstSlash === -1 ? '' : name.slice(0, firstSlash);
  const hasRegistry = first !== '' && (first.includes('.') || first.includes(':') || first === 'localhost');
  let registry = hasRegistry ? first : DOCKER_HUB_REGISTRY;
  let repository = hasRegistry ? name.slice(firstSlash + 1) : name;
  if (!REGISTRY_HOST.test(registry))
    throw invalid(reference, `${JSON.stringify(registry)} is not a registry host`);
  if (DOCKER_HUB_ALIASES.includes(registry)) {
    registry = DOCKER_HUB_REGISTRY;
    if (!repository.includes('/')) repository = `library/${repository}`;
  }
  if (repository === '' || !repository.split('/').every((part) => PATH_COMPONENT.test(part))) {
    throw invalid(
      reference,
      `${JSON.stringify(repository)} is not a repository (lower-case letters, digits and separators . _ - /)`,
    );
  }
  if (repository.length > 255) throw invalid(reference, 'the repository name is longer than 255 characters');

  return {
    registry,
    repository,
    ...(tag !== undefined || digest === undefined ? { tag: tag ?? 'latest' } : {}),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** The full reference, `registry/repository[:tag][@digest]`, for passing to Trivy or logging. */
export function formatImageReference(image: ImageReference): string {
  return `${image.registry}/${image.repository}${image.tag ? `:${image.tag}` : ''}${image.digest ? `@${image.digest}` : ''}`;
}

/**
 * The key images are deduplicated by: repository and digest, so every tag and every workload running
 * the same image content share one scan.
 */
export function imageKey(registry: string, repository: string, digest: string): string {
  return `${registry}/${repository}@${digest}`;
}
