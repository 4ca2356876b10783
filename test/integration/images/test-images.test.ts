/**
 * The test images and offline DBs against the real Trivy: every image, scanned from its OCI
 * layout with each fixture DB version pre-placed in a cache folder, gives exactly the findings
 * test/harness/images/expected.ts lists. Trivy runs with its proxies pointed at a closed local
 * port, so any attempt to reach the network fails the scan instead of passing unnoticed. Needs
 * the tools of scripts/setup-tools.sh (trivy, trivy-test-db) and apt, mvn and npm for a first build.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  buildJavaDb,
  buildTestImages,
  buildTrivyDb,
  dbVersions,
  expectedFindings,
  placeDbs,
  testImageNames,
  testImagesCacheDir,
  type BuiltDbArtifact,
  type BuiltTestImage,
  type DbVersion,
  type ExpectedFindings,
  type TestImageName,
} from '../../harness/images/index.ts';
import { readLayout } from '../../harness/oci/layout.ts';
import { repoRoot, toolPath } from '../../harness/tools.ts';

interface TrivyReport {
  Results?: {
    Target: string;
    Class: string;
    Type?: string;
    Vulnerabilities?: {
      VulnerabilityID: string;
      PkgName: string;
      InstalledVersion: string;
      FixedVersion?: string;
      Status: string;
      Severity: string;
      SeveritySource?: string;
    }[];
    Secrets?: { RuleID: string; Category: string; Severity: string; StartLine: number }[];
  }[];
}

/** A port nothing listens on: taken from the OS, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

let proxy = '';
const work = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-test-images-'));
const timings: string[] = [];

function trivy(args: string[]): Promise<{ stdout: string; ms: number }> {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env.PATH,
    HOME: work,
    TMPDIR: work,
    HTTP_PROXY: proxy,
    HTTPS_PROXY: proxy,
    http_proxy: proxy,
    https_proxy: proxy,
    NO_PROXY: '',
    no_proxy: '',
  };
  const started = Date.now();
  return new Promise((resolve, reject) => {
    execFile(toolPath('trivy'), args, { env, maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`trivy ${args.join(' ')} failed: ${err.message}\n${stderr}`));
      else resolve({ stdout, ms: Date.now() - started });
    });
  });
}

async function scan(
  image: BuiltTestImage,
  cacheDir: string,
  extra: string[] = [],
): Promise<{ report: TrivyReport; ms: number }> {
  const { stdout, ms } = await trivy([
    'image',
    '--input',
    image.layoutDir,
    '--cache-dir',
    cacheDir,
    '--skip-db-update',
    '--skip-java-db-update',
    '--offline-scan',
    '--skip-version-check',
    '--disable-telemetry',
    '--scanners',
    'vuln,secret',
    '--format',
    'json',
    '--quiet',
    ...extra,
  ]);
  return { report: JSON.parse(stdout) as TrivyReport, ms };
}

/** The report reduced to what expected.ts states, sorted, for an exact comparison. */
function findingsOf(report: TrivyReport) {
  const vulnerabilities = [];
  const secrets = [];
  for (const r of report.Results ?? []) {
    for (const v of r.Vulnerabilities ?? []) {
      vulnerabilities.push({
        id: v.VulnerabilityID,
        pkgName: v.PkgName,
        installedVersion: v.InstalledVersion,
        fixedVersion: v.FixedVersion ?? '',
        status: v.Status,
        severity: v.Severity,
        severitySource: v.SeveritySource ?? '',
        class: r.Class,
        type: r.Type ?? '',
      });
    }
    for (const s of r.Secrets ?? []) {
      secrets.push({
        ruleId: s.RuleID,
        category: s.Category,
        severity: s.Severity,
        target: r.Target,
        startLine: s.StartLine,
      });
    }
  }
  const byKey = <T extends object>(a: T, b: T) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
  return { vulnerabilities: vulnerabilities.sort(byKey), secrets: secrets.sort(byKey) };
}

/** expected.ts with the Debian packages' versions filled in from the built base. */
function expectedOf(image: BuiltTestImage, findings: ExpectedFindings) {
  const debVersion = (name: string) => image.debPackages.find((p) => p.package === name)?.version ?? '?';
  const byKey = <T extends object>(a: T, b: T) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1);
  return {
    vulnerabilities: findings.vulnerabilities
      .map((v) => ({
        id: v.id,
        pkgName: v.pkgName,
        installedVersion: v.installedVersion ?? debVersion(v.pkgName),
        fixedVersion: v.fixedVersion,
        status: v.status,
        severity: v.severity,
        severitySource: v.severitySource,
        class: v.class,
        type: v.type,
      }))
      .sort(byKey),
    secrets: findings.secrets.map((s) => ({ ...s })).sort(byKey),
  };
}

describe('test images and offline DBs, scanned by the real Trivy', { timeout: 20 * 60_000 }, () => {
  let images: Record<TestImageName, BuiltTestImage>;
  let dbs: Record<DbVersion, BuiltDbArtifact>;
  let javaDb: BuiltDbArtifact;
  const cacheDirs = {} as Record<DbVersion, string>;

  before(async () => {
    proxy = `http://127.0.0.1:${await closedPort()}`;
    let t = Date.now();
    images = await buildTestImages();
    timings.push(`images built (or taken from the cache) in ${Date.now() - t} ms`);
    t = Date.now();
    dbs = { v1: await buildTrivyDb('v1'), v2: await buildTrivyDb('v2') };
    javaDb = await buildJavaDb();
    timings.push(`DBs built (or taken from the cache) in ${Date.now() - t} ms`);
    for (const v of dbVersions) {
      cacheDirs[v] = path.join(work, `cache-${v}`);
      placeDbs(cacheDirs[v], { db: dbs[v], javaDb });
    }
  });

  after(() => {
    rmSync(work, { recursive: true, force: true });
    for (const line of timings) console.log(`# ${line}`);
  });

  for (const v of dbVersions) {
    for (const name of testImageNames) {
      it(`${name} with DB ${v}: exactly the expected findings`, async () => {
        const { report, ms } = await scan(images[name], cacheDirs[v]);
        timings.push(`trivy image ${name} (DB ${v}): ${ms} ms`);
        assert.deepEqual(findingsOf(report), expectedOf(images[name], expectedFindings[name][v]));
      });
    }
  }

  it('--ignore-unfixed drops the advisory without a fix', async () => {
    const { report } = await scan(images.os, cacheDirs.v1, ['--ignore-unfixed']);
    const expected = expectedFindings.os.v1.vulnerabilities.filter((f) => f.status === 'fixed');
    assert.deepEqual(
      findingsOf(report).vulnerabilities.map((f) => f.id),
      expected.map((f) => f.id).sort(),
    );
  });

  it('the scanner image reports the Trivy version it is tagged with', async () => {
    const { stdout } = await trivy(['--version', '--cache-dir', path.join(work, 'empty-cache')]);
    assert.match(stdout, new RegExp(`^Version: ${images.trivy.tag.replace(/\./g, '\\.')}$`, 'm'));
  });

  it('the DB artifacts are what Trivy downloads: one titled layer of its media type', () => {
    for (const db of [dbs.v1, dbs.v2, javaDb]) {
      const { manifest } = readLayout(db.layoutDir);
      assert.equal(manifest.config.mediaType, 'application/vnd.aquasec.trivy.config.v1+json');
      assert.equal(manifest.layers.length, 1);
      assert.equal(
        manifest.layers[0]?.mediaType,
        db.kind === 'trivy-db'
          ? 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip'
          : 'application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip',
      );
      assert.equal(
        manifest.layers[0]?.annotations?.['org.opencontainers.image.title'],
        db.kind === 'trivy-db' ? 'db.tar.gz' : 'javadb.tar.gz',
      );
    }
    assert.notEqual(dbs.v1.manifestDigest, dbs.v2.manifestDigest);
  });

  it('a second build from scratch gives the same manifest digests', async () => {
    // A fresh process with an empty cache (the downloads shared, so nothing is fetched again).
    const fresh = path.join(work, 'fresh-cache');
    mkdirSync(path.join(fresh, 'test-images'), { recursive: true });
    symlinkSync(path.join(testImagesCacheDir(), 'downloads'), path.join(fresh, 'test-images', 'downloads'));
    const script = [
      "import * as m from './test/harness/images/index.ts';",
      'const images = await m.buildTestImages();',
      "const dbs = [await m.buildTrivyDb('v1'), await m.buildTrivyDb('v2'), await m.buildJavaDb()];",
      'const out = { images: Object.fromEntries(Object.entries(images).map(([k, v]) => [k, v.manifestDigest])),',
      '  dbs: dbs.map((d) => d.manifestDigest) };',
      'console.log(JSON.stringify(out));',
    ].join('\n');
    const scriptFile = path.join(work, 'rebuild.mts');
    writeFileSync(scriptFile, script.replace("'./test/", `'${repoRoot}/test/`));
    const started = Date.now();
    const stdout = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--import', 'tsx', scriptFile],
        { cwd: repoRoot, env: { ...process.env, TRIVY_LOOKOUT_CACHE: fresh }, maxBuffer: 16 * 1024 * 1024 },
        (err, out, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(out)),
      ),
    );
    timings.push(`second build from an empty cache: ${Date.now() - started} ms`);
    const again = JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as {
      images: Record<string, string>;
      dbs: string[];
    };
    assert.deepEqual(
      again.images,
      Object.fromEntries(testImageNames.map((n) => [n, images[n].manifestDigest])),
    );
    assert.deepEqual(again.dbs, [dbs.v1.manifestDigest, dbs.v2.manifestDigest, javaDb.manifestDigest]);
  });
});
