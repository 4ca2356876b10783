/**
 * The operator's own image, built without Docker into an OCI image layout with the layout the
 * Dockerfile describes (spec.ts): a Debian 12 root file system from real .debs, Node 24 from the
 * npm registry, then one layer per COPY of the final stage (production node_modules, dist,
 * package.json, the pinned Trivy). Each layer is cached under the test-image cache by a hash of
 * its own inputs, so a change to src/ rebuilds only the dist layer; the layout is byte-for-byte
 * reproducible from the same inputs.
 *
 *   const image = await buildOperatorImage();              // image.layoutDir, image.reference
 *   const pushed = await publishOperatorImage(registry);  // pushed.ref = host:port/trivy-lookout/operator:tag
 */
import { createHash } from 'node:crypto';
import {
  copyFileSync,
  cpSync,
  existsSync,
  mkdtempSync,
  linkSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  symlinkSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  cached,
  downloadDebs,
  downloadNpm,
  fileIdentity,
  hashOf,
  installDebs,
  layerFrom,
  refreshAptLists,
  resolveDebs,
  run,
  writeFiles,
  type DebPackage,
} from '../images/build.ts';
import type { InstalledDeb } from '../images/os.ts';
import { writeImageLayout, type LayerBlob } from '../oci/layout.ts';
import { pushLayout, type RegistryEndpoint } from '../registry/index.ts';
import { repoRoot, toolPath } from '../tools.ts';
import {
  operatorAccounts,
  operatorBuildInputs,
  operatorCopies,
  operatorDebianPackages,
  operatorImageConfig,
  operatorNode,
  operatorRepository,
  operatorTrivyVersion,
  type OperatorContent,
} from './spec.ts';

export * from './spec.ts';

export interface OperatorImageLayer {
  /** `debian`, `node`, or the content of a COPY (`dist`, …). */
  name: string;
  /** Where its content sits in the image (`/` for the Debian root). */
  path: string;
  digest: string;
  diffId: string;
  size: number;
}

export interface BuiltOperatorImage {
  /** The OCI image layout (one linux/amd64 manifest in index.json). */
  layoutDir: string;
  manifestDigest: string;
  configDigest: string;
  /** Suggested repository and tag (package version + content hash), and the two joined. */
  repository: string;
  tag: string;
  reference: string;
  /** Compressed bytes: manifest, config and layers. */
  size: number;
  layers: OperatorImageLayer[];
  nodeVersion: string;
  trivyVersion: string;
  /** The Debian packages recorded in its dpkg status. */
  debPackages: InstalledDeb[];
}

const here = path.dirname(fileURLToPath(import.meta.url));

/** This folder's source: part of every key here, so a changed builder never serves an old image. */
function builderHash(): string {
  const h = createHash('sha256');
  for (const f of readdirSync(here)
    .filter((f) => f.endsWith('.ts'))
    .sort()) {
    h.update(`${f}\0`).update(readFileSync(path.join(here, f)));
  }
  return h.digest('hex');
}

/** The content of files and folders (recursively, sorted), by path relative to `base`. */
function contentHash(base: string, paths: readonly string[]): string {
  const h = createHash('sha256');
  const add = (rel: string) => {
    const abs = path.join(base, rel);
    const st = statSync(abs);
    if (st.isDirectory()) {
      for (const entry of readdirSync(abs).sort()) add(path.join(rel, entry));
    } else if (st.isFile()) {
      h.update(`${rel}\0${st.mode & 0o111 ? 'x' : '-'}\0`)
        .update(readFileSync(abs))
        .update('\0');
    }
  };
  for (const p of paths) add(p);
  return h.digest('hex');
}

/** A layer cached by its inputs: `fill` writes its files under a staging root. */
async function cachedLayer(
  name: string,
  inputs: unknown,
  fill: (root: string, work: string) => Promise<void>,
): Promise<LayerBlob> {
  const { result } = await cached(`operator-${name}`, { builder: builderHash(), inputs }, async (dir) => {
    const root = path.join(dir, 'rootfs');
    const work = path.join(dir, 'work');
    mkdirSync(root, { recursive: true });
    mkdirSync(work, { recursive: true });
    await fill(root, work);
    const layer = await layerFrom(root, dir, 'layer');
    rmSync(root, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
    return layer;
  });
  return result;
}

/** Where a path of the image lands under a staging root. */
const inRoot = (root: string, imagePath: string) => path.join(root, imagePath.replace(/^\/+/, ''));

// --- The base: Debian and Node -------------------------------------------------------------------

async function debianLayer(): Promise<{ layer: LayerBlob; packages: InstalledDeb[] }> {
  const build = async (resolved: Omit<DebPackage, 'file'>[]) => {
    const layer = await cachedLayer('debian', { resolved, operatorAccounts }, async (root) => {
      await installDebs(root, await downloadDebs(resolved));
      writeFiles(root, operatorAccounts);
      mkdirSync(path.join(root, 'tmp'), { recursive: true });
    });
    const packages = resolved.map(({ package: p, version, source, sourceVersion }) => ({
      package: p,
      version,
      source,
      sourceVersion,
    }));
    return { layer, packages };
  };
  try {
    return await build(await resolveDebs(operatorDebianPackages));
  } catch (err) {
    // Lists older than the archive name versions it no longer serves: refresh them, resolve again.
    if (!(await refreshAptLists())) throw err;
    return build(await resolveDebs(operatorDebianPackages));
  }
}

async function nodeLayer(): Promise<LayerBlob> {
  const { package: pkg, version, integrity } = operatorNode;
  return cachedLayer('node', { operatorNode }, async (root, work) => {
    const tgz = await downloadNpm(`${pkg}@${version}`, integrity);
    await run('tar', ['-xzf', tgz, '-C', work, '--no-same-owner', 'package/bin/node', 'package/LICENSE']);
    mkdirSync(path.dirname(inRoot(root, operatorNode.path)), { recursive: true });
    copyFileSync(path.join(work, 'package', 'bin', 'node'), inRoot(root, operatorNode.path));
    const doc = inRoot(root, '/usr/local/share/doc/node');
    mkdirSync(doc, { recursive: true });
    copyFileSync(path.join(work, 'package', 'LICENSE'), path.join(doc, 'LICENSE'));
  });
}

// --- The COPY layers -----------------------------------------------------------------------------

/** npm's version (it writes node_modules/.package-lock.json), read from next to node when it is there. */
async function npmVersion(): Promise<string> {
  const bundled = path.join(
    path.dirname(process.execPath),
    '..',
    'lib',
    'node_modules',
    'npm',
    'package.json',
  );
  if (existsSync(bundled)) return (JSON.parse(readFileSync(bundled, 'utf8')) as { version: string }).version;
  return (await run('npm', ['--version'])).trim();
}

function typescriptVersion(): string {
  const file = path.join(repoRoot, 'node_modules', 'typescript', 'package.json');
  if (!existsSync(file)) throw new Error(`${file} missing: run npm ci in ${repoRoot}`);
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/**
 * Builds the layer of one COPY: its inputs (for the key) and how to fill it. `src` is a snapshot
 * of the checkout's build inputs, so what is hashed is what is built even while files change.
 */
async function copyLayer(copy: { path: string; content: OperatorContent }, src: string): Promise<LayerBlob> {
  const dest = (root: string) => inRoot(root, copy.path);
  switch (copy.content) {
    case 'production-node-modules': {
      const inputs = {
        lock: contentHash(src, ['package.json', 'package-lock.json']),
        npm: await npmVersion(),
      };
      return cachedLayer(copy.content, inputs, async (root, work) => {
        for (const f of ['package.json', 'package-lock.json'])
          copyFileSync(path.join(src, f), path.join(work, f));
        // The build stage's `npm ci` + `npm prune --omit=dev`, in one step.
        await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], { cwd: work });
        mkdirSync(path.dirname(dest(root)), { recursive: true });
        cpSync(path.join(work, 'node_modules'), dest(root), { recursive: true, verbatimSymlinks: true });
      });
    }
    case 'dist': {
      const inputs = { sources: contentHash(src, operatorBuildInputs), typescript: typescriptVersion() };
      return cachedLayer(copy.content, inputs, async (root, work) => {
        // A copy of the build inputs, as the build stage has them in /src: the source maps then
        // name `../src/…` as in the Dockerfile's image, not this checkout's path.
        for (const f of operatorBuildInputs)
          cpSync(path.join(src, f), path.join(work, f), { recursive: true });
        symlinkSync(path.join(repoRoot, 'node_modules'), path.join(work, 'node_modules'));
        const tsc = path.join(repoRoot, 'node_modules', 'typescript', 'bin', 'tsc');
        // tsc reports errors on stdout: sent to stderr, they end up in the error message.
        await run('sh', ['-c', '"$0" "$1" -p tsconfig.build.json >&2', process.execPath, tsc], { cwd: work });
        mkdirSync(path.dirname(dest(root)), { recursive: true });
        cpSync(path.join(work, 'dist'), dest(root), { recursive: true });
      });
    }
    case 'package.json':
      return cachedLayer(copy.content, { file: contentHash(src, ['package.json']) }, async (root) => {
        mkdirSync(path.dirname(dest(root)), { recursive: true });
        copyFileSync(path.join(src, 'package.json'), dest(root));
      });
    case 'trivy': {
      const binary = fileIdentity(toolPath('trivy'));
      return cachedLayer(copy.content, { binary, version: operatorTrivyVersion }, async (root) => {
        mkdirSync(path.dirname(dest(root)), { recursive: true });
        copyFileSync(binary.path, dest(root));
      });
    }
  }
}

// --- The image -----------------------------------------------------------------------------------

/**
 * Builds (or takes from the cache) the operator image from the current checkout. Needs apt (the
 * Debian packages), npm (Node and the production dependencies) and Trivy from
 * scripts/setup-tools.sh; about a minute and a half the first time on 2 cores.
 */
export async function buildOperatorImage(): Promise<BuiltOperatorImage> {
  const debian = await debianLayer();
  const layers: OperatorImageLayer[] = [];
  const blobs: LayerBlob[] = [];
  const add = (name: string, imagePath: string, blob: LayerBlob) => {
    blobs.push(blob);
    layers.push({ name, path: imagePath, digest: blob.digest, diffId: blob.diffId, size: blob.size });
  };
  add('debian', '/', debian.layer);
  add('node', operatorNode.path, await nodeLayer());
  let version: string;
  const src = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-operator-src-'));
  try {
    for (const f of operatorBuildInputs)
      cpSync(path.join(repoRoot, f), path.join(src, f), { recursive: true });
    for (const copy of operatorCopies) add(copy.content, copy.path, await copyLayer(copy, src));
    version = (JSON.parse(readFileSync(path.join(src, 'package.json'), 'utf8')) as { version: string })
      .version;
  } finally {
    rmSync(src, { recursive: true, force: true });
  }

  const config = operatorImageConfig;
  const tag = `${version}-${hashOf({ layers: layers.map((l) => l.diffId), config }).slice(0, 12)}`;
  const { result } = await cached(
    'operator-image',
    { builder: builderHash(), layers, config, tag },
    async (dir) => {
      const written = await writeImageLayout(path.join(dir, 'layout'), { layers: blobs, config });
      const { manifest } = written;
      // Each src/ change makes a new image: its layout links the cached layers instead of holding
      // another 100 MB copy of them (same bytes, same digests).
      for (const blob of blobs) {
        const inLayout = path.join(written.dir, 'blobs', 'sha256', blob.digest.slice('sha256:'.length));
        rmSync(inLayout);
        linkSync(blob.file, inLayout);
      }
      const built: BuiltOperatorImage = {
        layoutDir: written.dir,
        manifestDigest: written.manifestDigest,
        configDigest: manifest.config.digest,
        repository: operatorRepository,
        tag,
        reference: `${operatorRepository}:${tag}`,
        size: written.manifestSize + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
        layers,
        nodeVersion: operatorNode.version,
        trivyVersion: operatorTrivyVersion,
        debPackages: debian.packages,
      };
      return built;
    },
  );
  return result;
}

export interface PublishedOperatorImage {
  /** `host:port/repository:tag`, for a pod's `image`. */
  ref: string;
  /** `host:port/repository` and the tag: the chart's `image.repository` and `image.tag`. */
  repository: string;
  tag: string;
  /** The manifest digest the registry serves. */
  digest: string;
  built: BuiltOperatorImage;
}

/**
 * Builds the image (or takes it from the cache; `image` pushes one built before) and pushes it to a registry (a started Registry,
 * or a node stack's RegistryInfo: its `caFile` is read when it has no `caPem`). Pushing again is
 * cheap: blobs the registry has are skipped.
 */
export async function publishOperatorImage(
  registry: RegistryEndpoint & { caFile?: string },
  options: { repository?: string; tag?: string; image?: BuiltOperatorImage } = {},
): Promise<PublishedOperatorImage> {
  const built = options.image ?? (await buildOperatorImage());
  const repository = options.repository ?? built.repository;
  const tag = options.tag ?? built.tag;
  const endpoint: RegistryEndpoint = {
    host: registry.host,
    url: registry.url,
    ...(registry.credentials ? { credentials: registry.credentials } : {}),
    ...(registry.caPem || registry.caFile
      ? { caPem: registry.caPem ?? readFileSync(registry.caFile as string, 'utf8') }
      : {}),
  };
  const { digest } = await pushLayout(endpoint, built.layoutDir, `${repository}:${tag}`);
  return {
    ref: `${registry.host}/${repository}:${tag}`,
    repository: `${registry.host}/${repository}`,
    tag,
    digest,
    built,
  };
}
