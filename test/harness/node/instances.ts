/**
 * Which node instances (bridge, subnet, cgroup root) are in use on this machine. A claim is a file
 * in /run/trivy-lookout (tmpfs: gone after a reboot, like the bridges and cgroups it describes)
 * naming the owning process and the node's run directory, so a later start can clean up after
 * a process that was killed.
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { NODE_INSTANCE_COUNT } from './network.ts';
import { isAlive, removeIfEmpty } from './system.ts';

export const CLAIMS_DIR = '/run/trivy-lookout';
/** Values of the sysctls the kubelet changes, as they were before the first node started. */
const SYSCTL_FILE = path.join(CLAIMS_DIR, 'sysctl.json');

/** The kernel tunables the kubelet sets at start (setupKernelTunables, protectKernelDefaults off). */
const KUBELET_SYSCTLS = [
  'vm/overcommit_memory',
  'vm/panic_on_oom',
  'kernel/panic',
  'kernel/panic_on_oops',
  'kernel/keys/root_maxkeys',
  'kernel/keys/root_maxbytes',
];

export interface Claim {
  index: number;
  pid: number;
  dir: string;
}

const claimFile = (index: number) => path.join(CLAIMS_DIR, `node-${index}.json`);

export function readClaim(index: number): Claim | undefined {
  try {
    return JSON.parse(readFileSync(claimFile(index), 'utf8')) as Claim;
  } catch {
    return undefined;
  }
}

export function allClaims(): Claim[] {
  const out: Claim[] = [];
  for (let i = 0; i < NODE_INSTANCE_COUNT; i++) {
    const claim = readClaim(i);
    if (claim) out.push(claim);
  }
  return out;
}

/** Whether a claim's owner still runs (a stale claim is cleaned before its instance is reused). */
export function claimIsLive(claim: Claim): boolean {
  return isAlive(claim.pid);
}

/** Instances other than `index` whose owners still run. */
export function otherLiveInstances(index: number): number[] {
  return allClaims()
    .filter((c) => c.index !== index && claimIsLive(c))
    .map((c) => c.index);
}

/**
 * Takes a free instance for `dir`: the first without a claim (clean dead owners' claims first:
 * cleanupDeadInstances). The write is exclusive, so two processes starting at once never get the
 * same instance.
 */
export function claimInstance(dir: string): { index?: number } {
  mkdirSync(CLAIMS_DIR, { recursive: true });
  for (let i = 0; i < NODE_INSTANCE_COUNT; i++) {
    try {
      writeFileSync(claimFile(i), JSON.stringify({ index: i, pid: process.pid, dir } satisfies Claim), {
        flag: 'wx',
      });
      return { index: i };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return {};
}

export function releaseInstance(index: number): void {
  rmSync(claimFile(index), { force: true });
  removeIfEmpty(CLAIMS_DIR);
}

/** Records the kernel tunables before the first node's kubelet changes them. */
export function saveSysctls(): void {
  mkdirSync(CLAIMS_DIR, { recursive: true });
  const values: Record<string, string> = {};
  for (const key of KUBELET_SYSCTLS) {
    try {
      values[key] = readFileSync(`/proc/sys/${key}`, 'utf8').trim();
    } catch {
      // not on this kernel
    }
  }
  try {
    writeFileSync(SYSCTL_FILE, JSON.stringify(values), { flag: 'wx' });
  } catch (err) {
    // An earlier node's record (the values before any kubelet ran) is the one to keep.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
}

/** Puts the kernel tunables back as they were before the first node (the last node does this). */
export function restoreSysctls(): void {
  let values: Record<string, string>;
  try {
    values = JSON.parse(readFileSync(SYSCTL_FILE, 'utf8')) as Record<string, string>;
  } catch {
    return;
  }
  for (const [key, value] of Object.entries(values)) {
    try {
      writeFileSync(`/proc/sys/${key}`, value);
    } catch {
      // read-only here; nothing to restore
    }
  }
  rmSync(SYSCTL_FILE, { force: true });
}

/** Claim files and the sysctl record: for leftover checks. */
export function claimEntries(): string[] {
  try {
    return readdirSync(CLAIMS_DIR);
  } catch {
    return [];
  }
}
