/**
 * A small Distribution API client (https://distribution.github.io/distribution/spec/api/, the OCI
 * distribution spec): push an OCI layout, read a manifest's digest, delete a manifest. It answers
 * Basic and Bearer challenges the way registry clients do, and trusts a registry's own CA.
 */
import { createReadStream, statSync } from 'node:fs';
import http, { type IncomingHttpHeaders } from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { readLayout } from '../oci/layout.ts';

/** What a client needs to reach a registry (a started Registry is one). */
export interface RegistryEndpoint {
  /** host:port, as image references name it. */
  host: string;
  /** http(s)://host:port */
  url: string;
  credentials?: { username: string; password: string };
  /** PEM of the certificate the registry serves (self-signed), for TLS registries. */
  caPem?: string;
}

const MANIFEST_ACCEPT = [
  'application/vnd.oci.image.manifest.v1+json',
  'application/vnd.oci.image.index.v1+json',
  'application/vnd.docker.distribution.manifest.v2+json',
  'application/vnd.docker.distribution.manifest.list.v2+json',
].join(', ');

interface Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

interface RequestSpec {
  method: string;
  /** A path below the registry URL, or an absolute URL (upload locations). */
  url: string;
  headers?: Record<string, string>;
  /** A factory, so the request can be sent again after an authentication challenge. */
  body?: () => Buffer | Readable;
  contentLength?: number;
}

/** Splits `repo:tag` or `repo@sha256:…` into the repository and the reference. */
export function parseReference(ref: string): { repository: string; reference: string } {
  const at = ref.indexOf('@');
  if (at > 0) return { repository: ref.slice(0, at), reference: ref.slice(at + 1) };
  const colon = ref.lastIndexOf(':');
  if (colon > 0 && !ref.slice(colon).includes('/')) {
    return { repository: ref.slice(0, colon), reference: ref.slice(colon + 1) };
  }
  return { repository: ref, reference: 'latest' };
}

class Session {
  private authorization: string | undefined;

  constructor(private readonly registry: RegistryEndpoint) {}

  async send(spec: RequestSpec): Promise<Response> {
    let res = await this.once(spec);
    if (res.status === 401) {
      this.authorization = await this.answer(res.headers['www-authenticate'] ?? '');
      res = await this.once(spec);
    }
    return res;
  }

  private once(spec: RequestSpec): Promise<Response> {
    const url = new URL(spec.url, this.registry.url);
    const headers: Record<string, string | number> = { ...spec.headers };
    if (this.authorization) headers.authorization = this.authorization;
    if (spec.contentLength !== undefined) headers['content-length'] = spec.contentLength;
    const body = spec.body?.();
    if (Buffer.isBuffer(body)) headers['content-length'] = body.length;
    return new Promise((resolve, reject) => {
      const options = {
        method: spec.method,
        headers,
        ...(this.registry.caPem ? { ca: this.registry.caPem } : {}),
      };
      const req = (url.protocol === 'https:' ? https : http).request(url, options, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      });
      req.on('error', reject);
      if (body === undefined) req.end();
      else if (Buffer.isBuffer(body)) req.end(body);
      else body.pipe(req);
    });
  }

  /** The Authorization header a challenge asks for. */
  private async answer(challenge: string): Promise<string> {
    const creds = this.registry.credentials;
    const scheme = challenge.split(' ')[0]?.toLowerCase();
    if (scheme === 'basic') {
      if (!creds) throw new Error(`${this.registry.host} asks for credentials (Basic) and none were given`);
      return `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}`;
    }
    if (scheme === 'bearer') {
      const params = Object.fromEntries(
        [...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']),
      );
      if (!params.realm) throw new Error(`Bearer challenge without a realm: ${challenge}`);
      const tokenUrl = new URL(params.realm);
      if (params.service) tokenUrl.searchParams.set('service', params.service);
      if (params.scope) tokenUrl.searchParams.set('scope', params.scope);
      const headers: Record<string, string> = creds
        ? { authorization: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` }
        : {};
      const res = await new Session({ ...this.registry, credentials: undefined }).once({
        method: 'GET',
        url: tokenUrl.toString(),
        headers,
      });
      if (res.status !== 200) throw new Error(`token endpoint ${params.realm}: HTTP ${res.status}`);
      const json = JSON.parse(res.body.toString('utf8')) as { token?: string; access_token?: string };
      const token = json.token ?? json.access_token;
      if (!token) throw new Error(`token endpoint ${params.realm} returned no token`);
      return `Bearer ${token}`;
    }
    throw new Error(`${this.registry.host}: unauthorized (challenge "${challenge}")`);
  }
}

function fail(what: string, res: Response): never {
  throw new Error(`${what}: HTTP ${res.status} ${res.body.toString('utf8').slice(0, 500)}`);
}

async function pushBlob(session: Session, repository: string, digest: string, file: string): Promise<void> {
  const head = await session.send({ method: 'HEAD', url: `/v2/${repository}/blobs/${digest}` });
  if (head.status === 200) return;
  const start = await session.send({
    method: 'POST',
    url: `/v2/${repository}/blobs/uploads/`,
    contentLength: 0,
  });
  if (start.status !== 202 || !start.headers.location) fail(`starting the upload of ${digest}`, start);
  const location = new URL(start.headers.location, 'http://placeholder');
  location.searchParams.set('digest', digest);
  // A relative Location stays relative to the registry; an absolute one is used as given.
  const target = start.headers.location.startsWith('/')
    ? `${location.pathname}${location.search}`
    : location.toString();
  const size = statSync(file).size;
  const put = await session.send({
    method: 'PUT',
    url: target,
    headers: { 'content-type': 'application/octet-stream' },
    body: () => createReadStream(file),
    contentLength: size,
  });
  if (put.status !== 201) fail(`uploading ${digest}`, put);
}

/**
 * Pushes the OCI layout in `layoutDir` (one manifest, as oci/layout.ts writes them) to
 * `registry` as `repo:tag`. Returns the digest the registry stores it under and the pullable
 * `host/repo@digest`.
 */
export async function pushLayout(
  registry: RegistryEndpoint,
  layoutDir: string,
  ref: string,
): Promise<{ digest: string; reference: string }> {
  const { repository, reference } = parseReference(ref);
  const layout = readLayout(layoutDir);
  const session = new Session(registry);
  for (const blob of [layout.manifest.config, ...layout.manifest.layers]) {
    await pushBlob(session, repository, blob.digest, layout.blobPath(blob.digest));
  }
  const put = await session.send({
    method: 'PUT',
    url: `/v2/${repository}/manifests/${reference}`,
    headers: { 'content-type': layout.manifest.mediaType },
    body: () => layout.manifestBytes,
  });
  if (put.status !== 201) fail(`putting the manifest ${repository}:${reference}`, put);
  const digest = String(put.headers['docker-content-digest'] ?? layout.manifestDigest);
  if (digest !== layout.manifestDigest) {
    throw new Error(`${registry.host} stored ${repository} as ${digest}, not ${layout.manifestDigest}`);
  }
  return { digest, reference: `${registry.host}/${repository}@${digest}` };
}

/** The digest `repo:tag` (or `repo@digest`) resolves to, or undefined when the registry has none. */
export async function manifestDigest(registry: RegistryEndpoint, ref: string): Promise<string | undefined> {
  const { repository, reference } = parseReference(ref);
  const res = await new Session(registry).send({
    method: 'HEAD',
    url: `/v2/${repository}/manifests/${reference}`,
    headers: { accept: MANIFEST_ACCEPT },
  });
  if (res.status === 404) return undefined;
  if (res.status !== 200) fail(`HEAD manifest ${ref}`, res);
  return String(res.headers['docker-content-digest']);
}

/**
 * Deletes a manifest (by tag: the digest it points to, and so every tag of it), as an image
 * removed from a registry. Returns the deleted digest. The registry must allow deletion
 * (startRegistry's do).
 */
export async function deleteManifest(registry: RegistryEndpoint, ref: string): Promise<string> {
  const { repository } = parseReference(ref);
  const digest = await manifestDigest(registry, ref);
  if (!digest) throw new Error(`${registry.host}: no manifest ${ref} to delete`);
  const res = await new Session(registry).send({
    method: 'DELETE',
    url: `/v2/${repository}/manifests/${digest}`,
  });
  if (res.status !== 202) fail(`deleting ${repository}@${digest}`, res);
  return digest;
}
