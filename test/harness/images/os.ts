/**
 * `os`: a small Debian 12 image whose package database is real, and the base layer every other
 * test image builds on. Real .deb files are unpacked and recorded in `/var/lib/dpkg/status` from
 * their own control fields, so Trivy detects Debian 12 and these packages exactly as in a Debian
 * image. busybox (static) supplies `/bin/sh`, `sleep` and the other applets.
 */
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import type { ImageRuntimeConfig, LayerBlob } from '../oci/layout.ts';
import {
  cached,
  downloadDebs,
  installDebs,
  layerFrom,
  refreshAptLists,
  resolveDebs,
  run,
  writeFiles,
  type DebPackage,
} from './build.ts';

/** The packages installed, by binary name (their advisories are keyed by source package). */
export const debianPackages = ['busybox-static', 'zlib1g', 'liblz4-1'] as const;

/** As Debian 12 ships them (base-files). */
export const debianFiles: Record<string, string> = {
  'etc/os-release': [
    'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"',
    'NAME="Debian GNU/Linux"',
    'VERSION_ID="12"',
    'VERSION="12 (bookworm)"',
    'VERSION_CODENAME=bookworm',
    'ID=debian',
    'HOME_URL="https://www.debian.org/"',
    'SUPPORT_URL="https://www.debian.org/support"',
    'BUG_REPORT_URL="https://bugs.debian.org/"',
    '',
  ].join('\n'),
  'etc/debian_version': '12.11\n',
  'etc/passwd': 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n',
  'etc/group': 'root:x:0:\nnogroup:x:65534:\n',
};

export const defaultPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Keeps a pod running until it is told to stop. PID 1 gets no default signal handlers, so
 * without the trap SIGTERM would be ignored and the pod would linger for its grace period; the
 * sleep runs in the background because sh only runs a trap between commands, and `wait` returns
 * as soon as a trapped signal arrives.
 */
export const keepRunningCmd = ['/bin/sh', '-c', "trap 'exit 0' TERM INT; sleep 3600000 & wait"];

export const osImageConfig: ImageRuntimeConfig = {
  Env: [`PATH=${defaultPath}`],
  Cmd: keepRunningCmd,
  WorkingDir: '/',
};

/** A dpkg-recorded package of the base, as Trivy reports it (InstalledVersion = version). */
export interface InstalledDeb {
  package: string;
  version: string;
  source: string;
  sourceVersion: string;
}

export interface BaseLayer {
  layer: LayerBlob;
  packages: InstalledDeb[];
}

/** The Debian base layer, built once per set of package versions the archive serves. */
let baseMemo: Promise<BaseLayer> | undefined;
export function buildBaseLayer(): Promise<BaseLayer> {
  baseMemo ??= buildBase().catch((err: unknown) => {
    baseMemo = undefined;
    throw err;
  });
  return baseMemo;
}

async function buildBase(): Promise<BaseLayer> {
  try {
    return await buildBaseFrom(await resolveDebs(debianPackages));
  } catch (err) {
    // Lists older than the archive name versions it no longer serves: refresh them, resolve again.
    if (!(await refreshAptLists())) throw err;
    return buildBaseFrom(await resolveDebs(debianPackages));
  }
}

async function buildBaseFrom(resolved: Omit<DebPackage, 'file'>[]): Promise<BaseLayer> {
  const { result } = await cached('debian-base', { resolved, debianFiles }, async (dir) => {
    const debs = await downloadDebs(resolved);
    const root = path.join(dir, 'rootfs');
    mkdirSync(root, { recursive: true });
    await installDebs(root, debs);
    writeFiles(root, debianFiles);
    for (const d of ['tmp', 'root', 'bin', 'sbin', 'usr/bin', 'usr/sbin', 'usr/local/bin']) {
      mkdirSync(path.join(root, d), { recursive: true });
    }
    // One symlink per applet at the path busybox itself lists (bin/sh, usr/bin/env, …).
    const applets = (await run(path.join(root, 'bin', 'busybox'), ['--list-full']))
      .split('\n')
      .filter(Boolean);
    for (const applet of applets) {
      const link = path.join(root, applet);
      if (existsSync(link)) continue;
      mkdirSync(path.dirname(link), { recursive: true });
      symlinkSync('/bin/busybox', link);
    }
    const layer = await layerFrom(root, dir, 'layer');
    rmSync(root, { recursive: true, force: true });
    return {
      layer,
      packages: debs.map((d) => ({
        package: d.package,
        version: d.version,
        source: d.source,
        sourceVersion: d.sourceVersion,
      })),
    };
  });
  return result;
}
