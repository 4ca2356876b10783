/**
 * The sandbox ("pause") image, built from the pause.c that Kubernetes ships in its module
 * (build/pause/linux) with a static gcc, packed as an OCI layout, and cached by the hash of its
 * inputs. It is the one image a node gets behind a registry's back (`ctr images import`): every
 * pod needs it before any pull could happen.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MediaType, tarGzDirectory, writeImageLayout } from '../oci/layout.ts';

const KUBE_VERSION = process.env.KUBE_VERSION ?? 'v1.34.4';
/** The pause release this Kubernetes version's kubeadm pins (cmd/kubeadm/app/constants). */
const PAUSE_VERSION = '3.10.1';
/** Never pulled: a name no registry serves, so a missing import fails loudly instead of fetching. */
export const PAUSE_IMAGE = `localhost/trivy-lookout/pause:${PAUSE_VERSION}`;
const CFLAGS = ['-Os', '-Wall', '-Werror', '-static', `-DVERSION=v${PAUSE_VERSION}-trivy-lookout`];
/** Bump when the recipe below changes, so cached archives are rebuilt. */
const RECIPE = 'pause-oci-archive-1';

export function cacheRoot(): string {
  return (
    process.env.TRIVY_LOOKOUT_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'trivy-lookout')
  );
}

/** pause.c from the module cache, downloading the k8s.io/kubernetes module when it is not there yet. */
function pauseSource(): string {
  const rel = path.join(`k8s.io/kubernetes@${KUBE_VERSION}`, 'build', 'pause', 'linux', 'pause.c');
  const modCache =
    process.env.GOMODCACHE ?? execFileSync('go', ['env', 'GOMODCACHE'], { encoding: 'utf8' }).trim();
  const cached = path.join(modCache, rel);
  if (existsSync(cached)) return cached;
  const info = JSON.parse(
    execFileSync('go', ['mod', 'download', '-json', `k8s.io/kubernetes@${KUBE_VERSION}`], {
      encoding: 'utf8',
      env: { ...process.env, GOFLAGS: '-mod=mod' },
      maxBuffer: 16 * 1024 * 1024,
    }),
  ) as { Dir?: string; Error?: string };
  if (!info.Dir)
    throw new Error(`go mod download k8s.io/kubernetes@${KUBE_VERSION}: ${info.Error ?? 'no Dir'}`);
  return path.join(info.Dir, 'build', 'pause', 'linux', 'pause.c');
}

/**
 * The path of an OCI archive (a tar of an image layout) holding the pause image, named
 * PAUSE_IMAGE through the index's io.containerd.image.name annotation, ready for
 * `ctr images import`.
 */
export async function pauseImageArchive(log: (line: string) => void = () => {}): Promise<string> {
  const source = pauseSource();
  const key = createHash('sha256')
    .update(readFileSync(source))
    .update(CFLAGS.join(' '))
    .update(RECIPE)
    .digest('hex')
    .slice(0, 16);
  const dir = path.join(cacheRoot(), `pause-${key}`);
  const archive = path.join(dir, 'image.tar');
  if (existsSync(archive)) return archive;

  log(`building the pause image from ${source}`);
  mkdirSync(cacheRoot(), { recursive: true });
  const work = mkdtempSync(path.join(cacheRoot(), '.build-pause-'));
  try {
    const rootfs = path.join(work, 'rootfs');
    mkdirSync(rootfs);
    const binary = path.join(rootfs, 'pause');
    execFileSync('gcc', [...CFLAGS, '-o', binary, source], { stdio: 'pipe' });
    execFileSync('strip', [binary], { stdio: 'pipe' });
    chmodSync(binary, 0o755);
    const layer = await tarGzDirectory(rootfs, path.join(work, 'layer.tar.gz'));
    const layoutDir = path.join(work, 'layout');
    const layout = await writeImageLayout(layoutDir, {
      layers: [layer],
      // As upstream's image: the entrypoint, and the nobody user (65535).
      config: { Entrypoint: ['/pause'], User: '65535:65535' },
    });
    // The name ctr gives the imported image; layout.ts writes an index without names.
    writeFileSync(
      path.join(layoutDir, 'index.json'),
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.index,
        manifests: [
          {
            mediaType: MediaType.manifest,
            digest: layout.manifestDigest,
            size: layout.manifestSize,
            annotations: { 'io.containerd.image.name': PAUSE_IMAGE },
          },
        ],
      }),
    );
    const tmpArchive = path.join(work, 'image.tar');
    execFileSync('tar', [
      '--sort=name',
      '--mtime=@0',
      '--owner=0',
      '--group=0',
      '-C',
      layoutDir,
      '-cf',
      tmpArchive,
      '.',
    ]);
    mkdirSync(dir, { recursive: true });
    renameSync(tmpArchive, archive);
    return archive;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
