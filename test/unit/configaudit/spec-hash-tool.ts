/**
 * Builds scripts/spec-hash (the Go program that describes k8s.io/api's structs and computes
 * Trivy-Operator's resource-spec-hash) once per source version, into the tools cache outside the
 * checkout, as scripts/setup-tools.sh builds trivy-test-db. Undefined when Go is not installed.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot } from '../../harness/tools.ts';

export const specHashSource = path.join(repoRoot, 'scripts', 'spec-hash');

export function specHashTool(): string | undefined {
  if (spawnSync('go', ['version']).status !== 0) return undefined;
  const digest = createHash('sha256');
  for (const file of ['go.mod', 'go.sum', 'main.go'])
    digest.update(readFileSync(path.join(specHashSource, file)));
  const cache =
    process.env.TRIVY_LOOKOUT_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'trivy-lookout');
  const dir = path.join(cache, `spec-hash-${digest.digest('hex').slice(0, 16)}`);
  const binary = path.join(dir, 'spec-hash');
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('go', ['build', '-trimpath', '-o', `${binary}.tmp`, '.'], {
      cwd: specHashSource,
      env: { ...process.env, CGO_ENABLED: '0' },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    renameSync(`${binary}.tmp`, binary);
  }
  return binary;
}

/** Trivy-Operator's hash of each object, from the Go program (TZ="" as in its image: Local is UTC). */
export function goSpecHashes(binary: string, objects: readonly unknown[]): string[] {
  const out = execFileSync(binary, ['hash'], {
    input: objects.map((o) => JSON.stringify(o)).join('\n'),
    env: { ...process.env, TZ: '' },
    maxBuffer: 64 * 1024 * 1024,
  }).toString();
  return out
    .trim()
    .split('\n')
    .map((line) => {
      const parsed = JSON.parse(line) as { hash?: string; error?: string };
      if (parsed.hash === undefined) throw new Error(`spec-hash: ${parsed.error ?? line}`);
      return parsed.hash;
    });
}
