/**
 * Synchronous host helpers for the real node: mounts, cgroups, processes, links. Synchronous on
 * purpose: the crash cleanup runs from `clearStaleCluster`, which is synchronous, and from process
 * exit paths where nothing can be awaited.
 */
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';

/** Runs a command and returns its stdout; throws with its stderr on failure. */
export function run(command: string, args: string[], input?: string): string {
  try {
    return execFileSync(command, args, {
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(input !== undefined ? { input } : {}),
    });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new Error(`${command} ${args.join(' ')} failed: ${stderr.trim() || String(err)}`);
  }
}

/** Like run, but a failure is only reported through the return value. */
export function tryRun(command: string, args: string[]): string | undefined {
  try {
    return run(command, args);
  } catch {
    return undefined;
  }
}

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive but not ours (cannot happen as root, but it is not dead either).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export function killPid(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Mountinfo escapes blanks, tabs, newlines and backslashes as octal. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

interface MountEntry {
  mountPoint: string;
  fsType: string;
}

function mounts(): MountEntry[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const fields = line.split(' ');
      const sep = fields.indexOf('-');
      return { mountPoint: unescapeMountPath(fields[4] ?? ''), fsType: fields[sep + 1] ?? '' };
    });
}

/** Mount points at or below `dir`, deepest (and most recently mounted) first. */
export function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  const found = mounts()
    .map((m) => m.mountPoint)
    .filter((mp) => mp === dir || mp.startsWith(prefix));
  // Later lines are newer mounts (stacked ones too): unmount those first.
  return found.reverse().sort((a, b) => b.split('/').length - a.split('/').length);
}

/** Unmounts everything at or below `dir`; lazily where a plain unmount is refused. */
export function unmountAll(dir: string): string[] {
  const failed: string[] = [];
  for (let round = 0; round < 5; round++) {
    const left = mountsUnder(dir);
    if (left.length === 0) return [];
    failed.length = 0;
    for (const mp of left) {
      if (tryRun('umount', [mp]) === undefined && tryRun('umount', ['-l', mp]) === undefined) failed.push(mp);
    }
  }
  return mountsUnder(dir);
}

/** The mounted cgroup hierarchies (v1 controllers, named ones, and cgroup2). */
export function cgroupHierarchies(): string[] {
  return mounts()
    .filter((m) => m.fsType === 'cgroup' || m.fsType === 'cgroup2')
    .map((m) => m.mountPoint)
    .filter((mp) => mp.startsWith('/sys/fs/cgroup'));
}

/**
 * Creates the cgroup `name` directly under every hierarchy's root: the kubelet's cgroupRoot,
 * which it requires to exist. cpuset children start empty on v1, so they get their parent's CPUs
 * and memory nodes (the kubelet and runc fill in the levels below).
 */
export function createRootCgroup(name: string): void {
  for (const h of cgroupHierarchies()) {
    const dir = path.join(h, name);
    mkdirSync(dir, { recursive: true });
    for (const file of ['cpuset.cpus', 'cpuset.mems']) {
      const parent = path.join(h, file);
      const own = path.join(dir, file);
      if (existsSync(parent) && existsSync(own) && readFileSync(own, 'utf8').trim() === '') {
        writeFileSync(own, readFileSync(parent, 'utf8').trim());
      }
    }
  }
}

/** Every cgroup directory of the tree `name`, children before parents. */
function cgroupTree(name: string): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    let entries;
    try {
      entries = readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) if (e.isDirectory()) walk(path.join(dir, e.name));
    out.push(dir);
  };
  for (const h of cgroupHierarchies()) {
    const root = path.join(h, name);
    if (existsSync(root)) walk(root);
  }
  return out;
}

function pidsIn(cgroupDir: string): number[] {
  try {
    return readFileSync(path.join(cgroupDir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/** Kills every process in the cgroup tree `name` (the pods' containers) and removes the tree. */
export function destroyCgroupTree(name: string, timeoutMs = 10_000): string[] {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const pids = new Set(cgroupTree(name).flatMap(pidsIn));
    if (pids.size === 0) break;
    for (const pid of pids) killPid(pid);
    if (Date.now() > deadline) break;
    sleepSync(50);
  }
  for (;;) {
    const left: string[] = [];
    for (const dir of cgroupTree(name)) {
      try {
        rmdirSync(dir);
      } catch {
        left.push(dir);
      }
    }
    if (left.length === 0 || Date.now() > deadline) return left;
    sleepSync(50);
  }
}

/** Whether any hierarchy still has the cgroup `name`. */
export function cgroupExists(name: string): boolean {
  return cgroupHierarchies().some((h) => existsSync(path.join(h, name)));
}

/** Processes whose argv matches, e.g. the shims that serve one containerd socket. */
export function processesMatching(match: (argv: string[]) => boolean): number[] {
  const found: number[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
      if (argv.length > 0 && match(argv)) found.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** Symlinks in `dir` that point below `targetPrefix` (the kubelet's /var/log/containers links). */
export function symlinksInto(dir: string, targetPrefix: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries
    .map((e) => path.join(dir, e))
    .filter((p) => {
      try {
        return readlinkSync(p).startsWith(targetPrefix);
      } catch {
        return false;
      }
    });
}

/** rmdir that only succeeds on an empty directory: shared places are removed once nobody uses them. */
export function removeIfEmpty(...dirs: string[]): void {
  for (const dir of dirs) {
    try {
      rmdirSync(dir);
    } catch {
      // not empty, or not there
    }
  }
}
