/**
 * Real test images and offline Trivy DBs as OCI layouts, built from package registries through
 * their own clients (apt, Maven, npm) and the binaries of scripts/setup-tools.sh, cached under
 * `${TRIVY_LOOKOUT_CACHE:-~/.cache/trivy-lookout}/test-images/<name>-<hash of inputs>/`.
 * Layouts are byte-reproducible: the same inputs give the same manifest digest.
 *
 *   const java = await buildTestImage('java');   // java.layoutDir, java.manifestDigest, java.reference
 *   const db = await buildTrivyDb('v2');          // db.layoutDir: push it as the --db-repository
 *   expectedFindings.java.v2                      // what Trivy reports for it with that DB
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeImageLayout } from '../oci/layout.ts';
import { toolPath } from '../tools.ts';
import {
  cached,
  downloadMaven,
  downloadNpm,
  fileIdentity,
  layerFrom,
  run,
  unpackNpm,
  writeFiles,
} from './build.ts';
import { javaImage } from './java.ts';
import { nodeImage } from './node.ts';
import { buildBaseLayer, osImageConfig, type InstalledDeb } from './os.ts';
import { secretImage } from './secret.ts';
import type { TestImageName, TestImageSpec } from './spec.ts';
import { trivyImage } from './trivy.ts';

export type { TestImageName, TestImageSpec } from './spec.ts';
export type { InstalledDeb } from './os.ts';
export { debianPackages } from './os.ts';
export { plantedAwsAccessKeyId, plantedAwsSecretAccessKey, plantedSecretPath } from './secret.ts';
export {
  buildGeneratedTrivyDb,
  buildJavaDb,
  buildTrivyDb,
  dbDates,
  dbVersions,
  placeDbs,
  TrivyMediaType,
  type BuiltDbArtifact,
  type DbVersion,
} from './trivy-db.ts';
export {
  expectedFindings,
  severityCounts,
  type ExpectedFindings,
  type ExpectedSecret,
  type ExpectedVulnerability,
  type Severity,
} from './expected.ts';
export { testImagesCacheDir } from './build.ts';

const osImage: TestImageSpec = {
  name: 'os',
  repository: 'trivy-lookout-test/os',
  tag: '1.0',
  config: osImageConfig,
};

export const testImageSpecs: Record<TestImageName, TestImageSpec> = {
  os: osImage,
  java: javaImage,
  node: nodeImage,
  secret: secretImage,
  trivy: trivyImage,
};

export const testImageNames = Object.keys(testImageSpecs) as TestImageName[];

export interface BuiltTestImage {
  name: TestImageName;
  /** The OCI image layout (one linux/amd64 manifest in index.json). */
  layoutDir: string;
  manifestDigest: string;
  configDigest: string;
  /** Suggested repository and tag, and the two joined. */
  repository: string;
  tag: string;
  reference: string;
  /** Compressed bytes: manifest, config and layers. */
  size: number;
  /** The Debian packages recorded in its dpkg status, as Trivy reports them. */
  debPackages: InstalledDeb[];
}

/** The version a tool reports, e.g. `0.74.0` from `trivy --version`'s `Version: 0.74.0`. */
async function toolVersion(tool: 'trivy'): Promise<string> {
  // An empty cache folder: with a DB in its default cache, `trivy --version` also prints DB info.
  const cacheDir = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-version-'));
  try {
    const out = await run(toolPath(tool), ['--version', '--cache-dir', cacheDir]);
    const m = /^Version:\s*(\S+)/m.exec(out);
    if (!m?.[1]) throw new Error(`${tool} --version printed no version: ${out}`);
    return m[1];
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}

/** Builds (or takes from the cache) one test image. */
export async function buildTestImage(name: TestImageName): Promise<BuiltTestImage> {
  const spec = testImageSpecs[name];
  const base = await buildBaseLayer();
  const tools = (spec.layer?.tools ?? []).map((t) => ({ ...t, file: fileIdentity(toolPath(t.tool)) }));
  const tag = typeof spec.tag === 'string' ? spec.tag : await toolVersion(spec.tag.fromToolVersion);
  const { result } = await cached(name, { spec, tag, base: base.layer.digest, tools }, async (dir) => {
    const layers = [base.layer];
    if (spec.layer) {
      const root = path.join(dir, 'rootfs');
      mkdirSync(root, { recursive: true });
      writeFiles(root, spec.layer.files ?? {});
      for (const m of spec.layer.maven ?? []) {
        const jar = await downloadMaven(m.coords, m.sha256);
        mkdirSync(path.dirname(path.join(root, m.path)), { recursive: true });
        copyFileSync(jar, path.join(root, m.path));
      }
      for (const n of spec.layer.npm ?? [])
        await unpackNpm(await downloadNpm(n.spec, n.integrity), path.join(root, n.path));
      for (const t of tools) {
        mkdirSync(path.dirname(path.join(root, t.path)), { recursive: true });
        copyFileSync(t.file.path, path.join(root, t.path));
      }
      layers.push(await layerFrom(root, dir, 'layer'));
      rmSync(root, { recursive: true, force: true });
    }
    const written = await writeImageLayout(path.join(dir, 'layout'), {
      layers,
      config: {
        ...spec.config,
        Labels: {
          ...spec.config.Labels,
          'org.opencontainers.image.title': `trivy-lookout test image: ${name}`,
        },
      },
    });
    for (const l of layers.slice(1)) rmSync(l.file); // the layout holds its own copy
    const { manifest } = written;
    const built: BuiltTestImage = {
      name,
      layoutDir: written.dir,
      manifestDigest: written.manifestDigest,
      configDigest: manifest.config.digest,
      repository: spec.repository,
      tag,
      reference: `${spec.repository}:${tag}`,
      size: written.manifestSize + manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
      debPackages: base.packages,
    };
    return built;
  });
  return result;
}

/** Builds every test image, one after the other (they share the base layer). */
export async function buildTestImages(
  names: readonly TestImageName[] = testImageNames,
): Promise<Record<TestImageName, BuiltTestImage>> {
  const out = {} as Record<TestImageName, BuiltTestImage>;
  for (const name of names) out[name] = await buildTestImage(name);
  return out;
}
