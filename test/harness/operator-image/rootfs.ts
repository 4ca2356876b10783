/**
 * The operator image without a container runtime: its layers unpacked into a folder, and a
 * command run in it the way the chart's pod runs it (its user, environment and working
 * directory, a read-only root with only /tmp writable, /proc and /dev mounted). Root only: it
 * uses mount namespaces (util-linux `unshare`), and everything it mounts dies with the namespace.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readLayout, type ImageRuntimeConfig } from '../oci/layout.ts';
import { run } from '../images/build.ts';

/** The image's runtime config, as a container runtime reads it from the layout. */
export function imageConfig(layoutDir: string): {
  architecture: string;
  os: string;
  config: ImageRuntimeConfig;
  rootfs: { diff_ids: string[] };
} {
  const { manifest, blobPath } = readLayout(layoutDir);
  return JSON.parse(readFileSync(blobPath(manifest.config.digest), 'utf8')) as ReturnType<typeof imageConfig>;
}

/** Unpacks the layers bottom-up into `dest` (they have no whiteouts: each only adds files). */
export async function unpackImage(layoutDir: string, dest: string): Promise<void> {
  const { manifest, blobPath } = readLayout(layoutDir);
  mkdirSync(dest, { recursive: true });
  for (const layer of manifest.layers) {
    await run('tar', ['-xzf', blobPath(layer.digest), '-C', dest, '--numeric-owner']);
  }
}

export interface RunResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Mounts `root` read-only at a fresh mount point inside a new mount and PID namespace, a tmpfs at
 * /tmp, proc and the host's /dev, then runs the command there as the given user. unshare's own
 * --root/--wd/--setuid/--setgid enter it, so nothing from the host but the command line and the
 * environment given here goes in.
 */
const script = `set -e
root=$1 mnt=$2 uid=$3 gid=$4 wd=$5; shift 5
mount --bind "$root" "$mnt"
mount -o remount,bind,ro "$mnt"
mount -t tmpfs -o mode=1777 tmpfs "$mnt/tmp"
mount -t proc proc "$mnt/proc"
mount --rbind /dev "$mnt/dev"
exec unshare --root="$mnt" --wd="$wd" --setuid "$uid" --setgid "$gid" "$@"`;

/**
 * Runs `argv` (default: the image's entrypoint and cmd, plus `args`) in the unpacked image with
 * the image's Env plus `env`, as its User (numeric `uid:gid`), in its WorkingDir. HOME is `/`, as
 * container runtimes set it for a user /etc/passwd does not name.
 */
export function runInImage(
  root: string,
  config: ImageRuntimeConfig,
  options: { argv?: string[]; args?: string[]; env?: Record<string, string>; timeoutMs?: number } = {},
): Promise<RunResult> {
  const argv = options.argv ?? [...(config.Entrypoint ?? []), ...(config.Cmd ?? []), ...(options.args ?? [])];
  const [uid = '0', gid = uid] = (config.User ?? '0').split(':');
  if (!/^\d+$/.test(uid) || !/^\d+$/.test(gid))
    throw new Error(`User ${config.User}: only numeric users here`);
  const env = [
    'HOME=/',
    ...(config.Env ?? []),
    ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`),
  ];
  const mnt = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-rootfs-'));
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(
      'unshare',
      [
        '--mount',
        '--pid',
        '--fork',
        '--kill-child',
        'env',
        '-i',
        ...env,
        'sh',
        '-c',
        script,
        'sh',
        root,
        mnt,
        uid,
        gid,
        config.WorkingDir || '/',
        ...argv,
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      // Not recursive: should a mount ever outlive the namespace, this fails instead of deleting through it.
      rmdirSync(mnt);
      resolve({ code, stdout, stderr });
    });
  });
}
