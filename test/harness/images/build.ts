/**
 * The machinery behind the test images: a cache keyed by the inputs, the downloads (Debian
 * packages, a Maven artifact, an npm package, each through its own client and each checked
 * against a pinned or archive-published digest) and root file systems turned into layers.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  chmodSync,
  createReadStream,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { tarGzDirectory, type LayerBlob } from '../oci/layout.ts';

/** Where built images, DBs and downloads are kept, across checkouts of the same user. */
export function testImagesCacheDir(): string {
  const base =
    process.env.TRIVY_LOOKOUT_CACHE ??
    path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'trivy-lookout');
  return path.join(base, 'test-images');
}

const here = path.dirname(fileURLToPath(import.meta.url));

/**
 * The source of this folder and of the layout writer: part of every cache key, so a change to
 * how images are made never serves an image made the old way.
 */
let codeHashMemo: string | undefined;
function codeHash(): string {
  if (codeHashMemo) return codeHashMemo;
  const h = createHash('sha256');
  const files = [
    ...readdirSync(here)
      .filter((f) => f.endsWith('.ts') && f !== 'expected.ts')
      .sort()
      .map((f) => path.join(here, f)),
    path.join(here, '..', 'oci', 'layout.ts'),
  ];
  for (const f of files) h.update(`${path.basename(f)}\0`).update(readFileSync(f));
  codeHashMemo = h.digest('hex');
  return codeHashMemo;
}

export function hashOf(value: unknown): string {
  return createHash('sha256').update(JSON.stringify(value)).digest('hex');
}

export async function sha256File(file: string, algorithm: 'sha256' | 'sha512' = 'sha256'): Promise<string> {
  const h = createHash(algorithm);
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

/** Runs a command, failing with its output; returns stdout. */
export function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      command,
      args,
      { cwd: opts.cwd, env: opts.env ?? process.env, maxBuffer: 256 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${stderr}`.trim()));
        } else {
          resolve(stdout);
        }
      },
    );
  });
}

/**
 * Returns the cached result for `key`, or builds it into a fresh folder and moves that into
 * place. The result file is written last, so a folder without it is an interrupted build; a
 * concurrent builder of the same key simply loses the rename and uses the winner's folder.
 */
export async function cached<T>(
  name: string,
  inputs: unknown,
  build: (dir: string) => Promise<T>,
): Promise<{ dir: string; result: T }> {
  const root = testImagesCacheDir();
  const key = hashOf({ code: codeHash(), inputs }).slice(0, 16);
  const dir = path.join(root, `${name}-${key}`);
  const resultFile = path.join(dir, 'result.json');
  if (existsSync(resultFile)) return { dir, result: JSON.parse(readFileSync(resultFile, 'utf8')) as T };
  mkdirSync(root, { recursive: true });
  const tmp = mkdtempSync(path.join(root, `.build-${name}-`));
  try {
    const result = await build(tmp);
    writeFileSync(path.join(tmp, 'result.json'), JSON.stringify(result, null, 2));
    if (!existsSync(resultFile)) rmSync(dir, { recursive: true, force: true }); // an interrupted build's leftovers
    try {
      renameSync(tmp, dir);
    } catch (err) {
      if (!existsSync(resultFile)) throw err;
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // Paths inside the result name the temp folder it was built in; read it back from its home.
  const result = JSON.parse(readFileSync(resultFile, 'utf8').split(tmp).join(dir)) as T;
  writeFileSync(resultFile, JSON.stringify(result, null, 2));
  return { dir, result };
}

// --- Debian packages -------------------------------------------------------------------------

/** A Debian package as the archive describes it (`apt-cache show`) and as it is cached. */
export interface DebPackage {
  package: string;
  version: string;
  architecture: string;
  source: string;
  sourceVersion: string;
  sha256: string;
  file: string;
}

function field(stanza: string, name: string): string | undefined {
  const m = new RegExp(`^${name}: (.*)$`, 'm').exec(stanza);
  return m?.[1]?.trim();
}

/**
 * Resolves the archive's candidate of each package from the local apt lists (no network), so the
 * cache key names exact versions and digests before anything is downloaded.
 */
export async function resolveDebs(names: readonly string[]): Promise<Omit<DebPackage, 'file'>[]> {
  let listing: string;
  try {
    listing = await run('apt-cache', ['show', '--no-all-versions', ...names]);
  } catch (err) {
    // A machine whose apt lists were never fetched knows no packages yet.
    if (!(await refreshAptLists())) {
      throw new Error(
        `Debian packages ${names.join(', ')} unknown to apt (run apt-get update): ${(err as Error).message}`,
      );
    }
    listing = await run('apt-cache', ['show', '--no-all-versions', ...names]);
  }
  const stanzas = listing.split(/\n\n+/).filter((s) => s.trim());
  return names.map((name) => {
    const stanza = stanzas.find((s) => field(s, 'Package') === name);
    const version = stanza && field(stanza, 'Version');
    const sha256 = stanza && field(stanza, 'SHA256');
    const architecture = stanza && field(stanza, 'Architecture');
    if (!stanza || !version || !sha256 || !architecture)
      throw new Error(`apt-cache show ${name}: no Version/SHA256`);
    // "Source: busybox (1:1.35.0-4+deb12u1)" for a binNMU; no field when it equals the binary's.
    const src = /^(\S+)(?: \((.+)\))?$/.exec(field(stanza, 'Source') ?? name);
    return {
      package: name,
      version,
      architecture,
      source: src?.[1] ?? name,
      sourceVersion: src?.[2] ?? version,
      sha256,
    };
  });
}

/**
 * Runs `apt-get update` once per process, as root only. Returns false when it did not run (not
 * root, or already done), so the caller reports the original error.
 */
let aptUpdated = false;
export async function refreshAptLists(): Promise<boolean> {
  if (aptUpdated || process.getuid?.() !== 0) return false;
  aptUpdated = true;
  await run('apt-get', ['update', '-qq']);
  return true;
}

/** Downloads (once) the resolved packages with `apt-get download`, checked against apt's digest. */
export async function downloadDebs(debs: Omit<DebPackage, 'file'>[]): Promise<DebPackage[]> {
  const dir = path.join(testImagesCacheDir(), 'downloads', 'debs');
  mkdirSync(dir, { recursive: true });
  const out: DebPackage[] = [];
  for (const deb of debs) {
    const file = path.join(dir, `${deb.package}_${deb.version.replace(/^\d+:/, '')}_${deb.architecture}.deb`);
    if (!existsSync(file) || (await sha256File(file)) !== deb.sha256) {
      const tmp = mkdtempSync(path.join(dir, '.dl-'));
      try {
        await run('apt-get', ['download', '-q', `${deb.package}=${deb.version}`], { cwd: tmp });
        const [got] = readdirSync(tmp).filter((f) => f.endsWith('.deb'));
        if (!got) throw new Error(`apt-get download ${deb.package}=${deb.version} wrote no .deb`);
        const digest = await sha256File(path.join(tmp, got));
        if (digest !== deb.sha256) {
          throw new Error(`${got}: sha256 ${digest}, the archive lists ${deb.sha256}`);
        }
        renameSync(path.join(tmp, got), file);
      } finally {
        rmSync(tmp, { recursive: true, force: true });
      }
    }
    out.push({ ...deb, file });
  }
  return out;
}

/**
 * Unpacks the packages into `root` and records them as dpkg does: `/var/lib/dpkg/status` from
 * each package's real control fields with `Status: install ok installed`, and the
 * `info/<pkg>.list` file lists that tell Trivy which files the OS package manager owns.
 */
export async function installDebs(root: string, debs: DebPackage[]): Promise<void> {
  const info = path.join(root, 'var', 'lib', 'dpkg', 'info');
  mkdirSync(info, { recursive: true });
  const stanzas: string[] = [];
  for (const deb of [...debs].sort((a, b) => (a.package < b.package ? -1 : 1))) {
    await run('dpkg-deb', ['-x', deb.file, root]);
    const control = (await run('dpkg-deb', ['-f', deb.file])).trimEnd();
    const lines = control.split('\n');
    const pkgLine = lines.findIndex((l) => l.startsWith('Package: '));
    // dpkg writes Status right after Package.
    lines.splice(pkgLine + 1, 0, 'Status: install ok installed');
    stanzas.push(lines.join('\n'));
    const paths = await debPaths(deb.file);
    const multiArch = field(control, 'Multi-Arch') === 'same';
    const listName = multiArch ? `${deb.package}:${deb.architecture}.list` : `${deb.package}.list`;
    writeFileSync(path.join(info, listName), paths.join('\n') + '\n');
  }
  writeFileSync(path.join(root, 'var', 'lib', 'dpkg', 'status'), stanzas.join('\n\n') + '\n');
}

async function debPaths(file: string): Promise<string[]> {
  const listing = await run('sh', ['-c', 'dpkg-deb --fsys-tarfile "$1" | tar -t', 'sh', file]);
  return listing
    .split('\n')
    .filter(Boolean)
    .map((p) => p.replace(/^\.\/?/, '/').replace(/\/$/, ''))
    .map((p) => (p === '' ? '/.' : p));
}

// --- Other downloads -------------------------------------------------------------------------

/** A Maven artifact fetched with `mvn dependency:copy`, checked against its pinned SHA-256. */
export async function downloadMaven(coords: string, sha256: string): Promise<string> {
  const [group, artifact, version] = coords.split(':');
  if (!group || !artifact || !version) throw new Error(`bad Maven coordinates ${coords}`);
  const dir = path.join(testImagesCacheDir(), 'downloads', 'maven');
  const file = path.join(dir, `${artifact}-${version}.jar`);
  if (existsSync(file) && (await sha256File(file)) === sha256) return file;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-mvn-'));
  try {
    await run('mvn', ['-q', '-B', 'dependency:copy', `-Dartifact=${coords}`, `-DoutputDirectory=${tmp}`]);
    const got = path.join(tmp, `${artifact}-${version}.jar`);
    const digest = await sha256File(got);
    if (digest !== sha256) throw new Error(`${coords}: sha256 ${digest}, expected ${sha256}`);
    mkdirSync(dir, { recursive: true });
    renameSync(got, file);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return file;
}

/** An npm package tarball fetched with `npm pack`, checked against its pinned integrity. */
export async function downloadNpm(spec: string, integrity: string): Promise<string> {
  const dir = path.join(testImagesCacheDir(), 'downloads', 'npm');
  const [algorithm, expected] = integrity.split('-', 2) as ['sha512', string];
  const check = async (f: string) =>
    Buffer.from(await sha256File(f, algorithm), 'hex').toString('base64') === expected;
  const file = path.join(dir, `${spec.replace(/^@/, '').replace(/[/@]/g, '-')}.tgz`);
  if (existsSync(file) && (await check(file))) return file;
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-npm-'));
  try {
    const out = JSON.parse(
      await run('npm', ['pack', spec, '--json', '--pack-destination', tmp], { cwd: tmp }),
    ) as {
      filename: string;
    }[];
    const got = path.join(tmp, out[0]?.filename ?? '');
    if (!(await check(got))) throw new Error(`${spec}: integrity differs from ${integrity}`);
    mkdirSync(dir, { recursive: true });
    renameSync(got, file);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return file;
}

/** Unpacks an npm tarball (its `package/` folder) into `dest`, as `npm install` lays it out. */
export async function unpackNpm(tgz: string, dest: string): Promise<void> {
  mkdirSync(dest, { recursive: true });
  await run('tar', ['-xzf', tgz, '-C', dest, '--strip-components=1', '--no-same-owner']);
}

// --- Root file systems -----------------------------------------------------------------------

/**
 * Sets every mode explicitly (folders and executables 0755, other files 0644, `/tmp` 1777), so
 * a layer's bytes never depend on the umask of the machine that built it.
 */
export function normalizeModes(root: string): void {
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      const p = path.join(dir, entry);
      const st = lstatSync(p);
      if (st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        chmodSync(p, 0o755);
        walk(p);
      } else {
        chmodSync(p, st.mode & 0o111 ? 0o755 : 0o644);
      }
    }
  };
  chmodSync(root, 0o755);
  walk(root);
  const tmp = path.join(root, 'tmp');
  if (existsSync(tmp) && statSync(tmp).isDirectory()) chmodSync(tmp, 0o1777);
}

/** Writes files (path inside the image → content) under `root`. */
export function writeFiles(root: string, files: Record<string, string>): void {
  for (const [p, content] of Object.entries(files)) {
    const target = path.join(root, p);
    mkdirSync(path.dirname(target), { recursive: true });
    writeFileSync(target, content);
  }
}

/** Packs a staged root file system into a layer next to it (`<dir>/layer.tar.gz`). */
export async function layerFrom(root: string, outDir: string, name: string): Promise<LayerBlob> {
  normalizeModes(root);
  return tarGzDirectory(root, path.join(outDir, `${name}.tar.gz`));
}

/** The identity of a local file for a cache key: where it really is, its size and mtime. */
export function fileIdentity(file: string): { path: string; size: number; mtimeMs: number } {
  const real = realpathSync(file);
  const st = statSync(real);
  return { path: real, size: st.size, mtimeMs: Math.trunc(st.mtimeMs) };
}
