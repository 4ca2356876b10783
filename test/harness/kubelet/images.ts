import { createHash } from 'node:crypto';

/** An image reference split the way container runtimes read it. */
export interface ImageRef {
  /** Registry host, `docker.io` when the reference names none. */
  domain: string;
  /** Repository path inside the registry (`library/nginx` for `nginx`). */
  path: string;
  tag: string | undefined;
  /** `sha256:…` when the reference pins one. */
  digest: string | undefined;
}

/**
 * Parses a reference by Docker's rules: the first component is a registry only if it has a dot or a
 * colon or is `localhost`; Docker Hub's one-component names live under `library/`; no tag and no
 * digest means `latest`. The stand-in Trivy (plain JS) mirrors this function; keep them alike.
 */
export function parseImageRef(ref: string): ImageRef {
  let rest = ref.trim();
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const slash = rest.indexOf('/');
  const first = slash >= 0 ? rest.slice(0, slash) : '';
  let domain = 'docker.io';
  let path = rest;
  if (slash >= 0 && (first.includes('.') || first.includes(':') || first === 'localhost')) {
    domain = first;
    path = rest.slice(slash + 1);
  }
  if (domain === 'index.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (!tag && !digest) tag = 'latest';
  return { domain, path, tag, digest };
}

/** `docker.io/library/nginx` */
export function repositoryOf(ref: ImageRef): string {
  return `${ref.domain}/${ref.path}`;
}

/** The fully qualified spelling (`docker.io/library/nginx:1.16`), so every spelling of one image is one key. */
export function normalizeImageRef(ref: string): string {
  const parsed = parseImageRef(ref);
  return `${repositoryOf(parsed)}${parsed.tag ? `:${parsed.tag}` : ''}${parsed.digest ? `@${parsed.digest}` : ''}`;
}

/** Docker's short "familiar" name: `nginx` for Docker Hub library images, `user/app` for other Hub images. */
export function familiarRepository(ref: ImageRef): string {
  if (ref.domain !== 'docker.io') return repositoryOf(ref);
  return ref.path.startsWith('library/') ? ref.path.slice('library/'.length) : ref.path;
}

/** A made-up but stable manifest digest for an image reference: the same image always gets the same one. */
export function fakeDigest(ref: string): string {
  return `sha256:${createHash('sha256')
    .update(`harness-kubelet:${normalizeImageRef(ref)}`)
    .digest('hex')}`;
}

/**
 * How container statuses spell imageID: `docker-pullable` is dockershim's
 * (`docker-pullable://nginx@sha256:…`), `containerd` is what containerd and CRI-O report
 * (`docker.io/library/nginx@sha256:…`). Operators must read both.
 */
export type ImageIdFormat = 'docker-pullable' | 'containerd';

/**
 * The digests the fake runtime reports: a test-chosen one where given (so two references can share
 * a digest, or a tag can move to a new digest), else a stable fake. A reference that pins a digest
 * always resolves to it, as a real pull would.
 */
export class ImageDigests {
  private readonly overrides = new Map<string, string>();

  constructor(initial: Record<string, string> = {}) {
    for (const [ref, digest] of Object.entries(initial)) this.set(ref, digest);
  }

  set(ref: string, digest: string): void {
    if (!/^sha256:[0-9a-f]{64}$/.test(digest)) {
      throw new Error(`image digest for ${ref} must be sha256:<64 hex digits>, got ${digest}`);
    }
    this.overrides.set(normalizeImageRef(ref), digest);
  }

  digestOf(ref: string): string {
    const parsed = parseImageRef(ref);
    if (parsed.digest) return parsed.digest;
    return this.overrides.get(normalizeImageRef(ref)) ?? fakeDigest(ref);
  }

  /** The containerStatus `imageID` for a container running `ref`. */
  imageId(ref: string, format: ImageIdFormat): string {
    const parsed = parseImageRef(ref);
    const digest = this.digestOf(ref);
    return format === 'docker-pullable'
      ? `docker-pullable://${familiarRepository(parsed)}@${digest}`
      : `${repositoryOf(parsed)}@${digest}`;
  }

  /** The containerStatus `image` field: as written for Docker, fully qualified for containerd. */
  statusImage(ref: string, format: ImageIdFormat): string {
    return format === 'docker-pullable' ? ref : normalizeImageRef(ref);
  }
}
