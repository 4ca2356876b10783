/**
 * OCI image layouts (https://github.com/opencontainers/image-spec/blob/main/image-layout.md) written
 * byte-for-byte reproducibly, so an image or artifact built from the same inputs always has the
 * same manifest digest: the registry serves real digests, and a cache keyed by the inputs stays
 * valid. Layers are GNU tar archives with sorted names, zero mtimes and root ownership, gzipped by
 * Node's zlib (no timestamp in the gzip header).
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  createWriteStream,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { createGzip } from 'node:zlib';

export const MediaType = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  imageConfig: 'application/vnd.oci.image.config.v1+json',
  layerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  emptyJson: 'application/vnd.oci.empty.v1+json',
} as const;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  artifactType?: string;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType: string;
  artifactType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** The parts of an OCI image config that a container runtime reads. */
export interface ImageRuntimeConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[];
  Cmd?: string[];
  WorkingDir?: string;
  ExposedPorts?: Record<string, Record<string, never>>;
  Labels?: Record<string, string>;
}

/** A layer ready to go into a layout: the gzip blob and the digest of its uncompressed tar. */
export interface LayerBlob {
  file: string;
  digest: string;
  size: number;
  diffId: string;
}

const digestOf = (bytes: Buffer | string) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

/**
 * Packs the contents of `srcDir` (not the folder itself) into a reproducible tar.gz at `outFile`.
 * File modes are kept as they are on disk, so the caller sets them. `entries` (default `.`) names
 * what to pack, relative to `srcDir`: Trivy's DB archives hold bare `trivy.db` and
 * `metadata.json` entries, with no `./` folder entry.
 */
export async function tarGzDirectory(
  srcDir: string,
  outFile: string,
  opts: { entries?: string[] } = {},
): Promise<LayerBlob> {
  mkdirSync(path.dirname(outFile), { recursive: true });
  const tar = spawn(
    'tar',
    [
      '--sort=name',
      '--format=gnu',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '--numeric-owner',
      '-C',
      srcDir,
      '-cf',
      '-',
      '--',
      ...(opts.entries ?? ['.']),
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  tar.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number>((resolve) => tar.on('close', (code) => resolve(code ?? 1)));
  const raw = createHash('sha256');
  const gz = createHash('sha256');
  let size = 0;
  const tmp = `${outFile}.tmp-${process.pid}`;
  await pipeline(
    tar.stdout,
    tap((chunk) => raw.update(chunk)),
    createGzip({ level: 6 }),
    tap((chunk) => {
      gz.update(chunk);
      size += chunk.length;
    }),
    createWriteStream(tmp),
  );
  const code = await exited;
  if (code !== 0) throw new Error(`tar of ${srcDir} failed (exit ${code}): ${stderr.trim()}`);
  renameSync(tmp, outFile);
  return { file: outFile, digest: `sha256:${gz.digest('hex')}`, size, diffId: `sha256:${raw.digest('hex')}` };
}

function tap(onChunk: (chunk: Buffer) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      onChunk(chunk);
      done(null, chunk);
    },
  });
}

export interface WrittenLayout {
  dir: string;
  manifest: Manifest;
  manifestDigest: string;
  manifestSize: number;
}

/** Writes a runnable linux/amd64 image (layers bottom-up) as an OCI layout in `dir`. */
export async function writeImageLayout(
  dir: string,
  image: { layers: LayerBlob[]; config: ImageRuntimeConfig; annotations?: Record<string, string> },
): Promise<WrittenLayout> {
  const config = {
    architecture: 'amd64',
    os: 'linux',
    created: '1970-01-01T00:00:00Z',
    config: image.config,
    rootfs: { type: 'layers', diff_ids: image.layers.map((l) => l.diffId) },
    history: image.layers.map(() => ({
      created: '1970-01-01T00:00:00Z',
      created_by: 'trivy-lookout test image',
    })),
  };
  return writeLayout(dir, {
    mediaType: MediaType.manifest,
    config: { mediaType: MediaType.imageConfig, bytes: Buffer.from(JSON.stringify(config)) },
    layers: image.layers.map((l) => ({ mediaType: MediaType.layerTarGzip, file: l.file })),
    ...(image.annotations ? { annotations: image.annotations } : {}),
  });
}

/**
 * Writes an OCI artifact (e.g. Trivy's DB: a config blob of its own media type and one tar.gz
 * layer of another) as an OCI layout in `dir`.
 */
export async function writeArtifactLayout(
  dir: string,
  artifact: {
    config: { mediaType: string; bytes: Buffer };
    layers: { mediaType: string; file: string; annotations?: Record<string, string> }[];
    annotations?: Record<string, string>;
  },
): Promise<WrittenLayout> {
  return writeLayout(dir, { mediaType: MediaType.manifest, ...artifact });
}

async function writeLayout(
  dir: string,
  parts: {
    mediaType: string;
    config: { mediaType: string; bytes: Buffer };
    layers: { mediaType: string; file: string; annotations?: Record<string, string> }[];
    annotations?: Record<string, string>;
  },
): Promise<WrittenLayout> {
  const blobs = path.join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  const putFile = async (file: string): Promise<{ digest: string; size: number }> => {
    const hash = createHash('sha256');
    let size = 0;
    const tmp = path.join(blobs, `.tmp-${process.pid}`);
    await pipeline(
      createReadStream(file),
      tap((chunk) => {
        hash.update(chunk);
        size += chunk.length;
      }),
      createWriteStream(tmp),
    );
    const digest = `sha256:${hash.digest('hex')}`;
    renameSync(tmp, path.join(blobs, digest.slice('sha256:'.length)));
    return { digest, size };
  };

  const layers: Descriptor[] = [];
  for (const layer of parts.layers) {
    const { digest, size } = await putFile(layer.file);
    layers.push({
      mediaType: layer.mediaType,
      digest,
      size,
      ...(layer.annotations ? { annotations: layer.annotations } : {}),
    });
  }
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: parts.mediaType,
    config: {
      mediaType: parts.config.mediaType,
      digest: putBlob(dir, parts.config.bytes),
      size: parts.config.bytes.length,
    },
    layers,
    ...(parts.annotations ? { annotations: parts.annotations } : {}),
  };
  return writeTop(dir, manifest);
}

/** Stores the manifest and makes it the layout's one entry (index.json, oci-layout). */
function writeTop(dir: string, manifest: Manifest): WrittenLayout {
  const bytes = Buffer.from(JSON.stringify(manifest));
  const digest = putBlob(dir, bytes);
  writeFileSync(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    path.join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MediaType.index,
      manifests: [{ mediaType: manifest.mediaType, digest, size: bytes.length }],
    }),
  );
  return { dir, manifest, manifestDigest: digest, manifestSize: bytes.length };
}

function putBlob(dir: string, bytes: Buffer): string {
  const digest = digestOf(bytes);
  writeFileSync(path.join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), bytes);
  return digest;
}

/** Reads back the one manifest of a layout written above (what a push sends). */
export function readLayout(dir: string): {
  manifest: Manifest;
  manifestBytes: Buffer;
  manifestDigest: string;
  blobPath(digest: string): string;
} {
  const index = JSON.parse(readFileSync(path.join(dir, 'index.json'), 'utf8')) as { manifests: Descriptor[] };
  const top = index.manifests[0];
  if (!top) throw new Error(`${dir}: index.json lists no manifest`);
  const blobPath = (digest: string) => path.join(dir, 'blobs', 'sha256', digest.replace(/^sha256:/, ''));
  const manifestBytes = readFileSync(blobPath(top.digest));
  return {
    manifest: JSON.parse(manifestBytes.toString('utf8')) as Manifest,
    manifestBytes,
    manifestDigest: top.digest,
    blobPath,
  };
}

/**
 * A layout of the same image as a distinct image: one label added to its config (so a new image ID
 * and manifest digest; containerd identifies images by their config digest, so a manifest that
 * differs in an annotation only would still be the same image), layers shared through symlinks.
 */
export function writeVariantLayout(layoutDir: string, dir: string, variant: string): WrittenLayout {
  const { manifest, blobPath } = readLayout(layoutDir);
  const blobs = path.join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  for (const blob of manifest.layers) {
    const link = path.join(blobs, blob.digest.slice('sha256:'.length));
    rmSync(link, { force: true });
    symlinkSync(blobPath(blob.digest), link);
  }
  const config = JSON.parse(readFileSync(blobPath(manifest.config.digest), 'utf8')) as {
    config?: ImageRuntimeConfig;
  };
  config.config = {
    ...config.config,
    Labels: { ...config.config?.Labels, 'dev.trivy-lookout.test.variant': variant },
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const variantManifest: Manifest = {
    ...manifest,
    config: { ...manifest.config, digest: putBlob(dir, configBytes), size: configBytes.length },
  };
  return writeTop(dir, variantManifest);
}
