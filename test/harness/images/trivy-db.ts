/**
 * The offline Trivy databases, built from test/fixtures/trivy-db by scripts/trivy-test-db and
 * packed as the OCI artifacts Trivy downloads from `--db-repository` / `--java-db-repository`
 * (read in Trivy v0.74.0's pkg/db, pkg/javadb and pkg/oci): one layer whose media type Trivy
 * checks, named by its `org.opencontainers.image.title` annotation, a gzipped tar of the DB file
 * and metadata.json; the config is `{}` of trivy-db's artifact type, as its releases push it.
 */
import { copyFileSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { tarGzDirectory, writeArtifactLayout } from '../oci/layout.ts';
import { repoRoot, toolPath } from '../tools.ts';
import { cached, fileIdentity, run } from './build.ts';

export type DbVersion = 'v1' | 'v2';
export const dbVersions: readonly DbVersion[] = ['v1', 'v2'];

export const fixturesDir = path.join(repoRoot, 'test', 'fixtures', 'trivy-db');

/** The fixture folders each version loads, in order (v2 = v1 + v2's additions). */
export const dbFixtureDirs: Record<DbVersion, string[]> = { v1: ['v1'], v2: ['v1', 'v2'] };

/**
 * metadata.json's dates. NextUpdate is a day later, as in trivy-db's releases: a Trivy that
 * downloaded the DB less than an hour ago, or that runs with --skip-db-update, keeps it.
 */
export const dbDates: Record<DbVersion | 'java', { updatedAt: string; nextUpdate: string }> = {
  v1: { updatedAt: '2026-01-01T00:00:00Z', nextUpdate: '2026-01-02T00:00:00Z' },
  v2: { updatedAt: '2026-01-02T00:00:00Z', nextUpdate: '2026-01-03T00:00:00Z' },
  java: { updatedAt: '2026-01-01T00:00:00Z', nextUpdate: '2026-01-04T00:00:00Z' },
};

export const TrivyMediaType = {
  /** trivy-db's and trivy-java-db's `oras push --artifact-type`. */
  config: 'application/vnd.aquasec.trivy.config.v1+json',
  dbLayer: 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip',
  javaDbLayer: 'application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip',
} as const;

export interface BuiltDbArtifact {
  kind: 'trivy-db' | 'trivy-java-db';
  /** The fixture version; the Java DB has one, empty. */
  version: DbVersion | 'empty';
  /** The unpacked files (trivy.db or trivy-java.db, and metadata.json), to pre-place in a cache. */
  dbDir: string;
  layoutDir: string;
  manifestDigest: string;
  /** Suggested repository and tag: Trivy appends the schema version as tag when none is given. */
  repository: string;
  tag: string;
  /** Compressed size of the DB layer in bytes. */
  size: number;
}

function fixtureFiles(version: DbVersion): { name: string; content: string }[] {
  return dbFixtureDirs[version].flatMap((d) =>
    readdirSync(path.join(fixturesDir, d))
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => ({ name: `${d}/${f}`, content: readFileSync(path.join(fixturesDir, d, f), 'utf8') })),
  );
}

async function packArtifact(
  dir: string,
  files: string[],
  layer: { mediaType: string; title: string },
  createdAt: string,
): Promise<{ layoutDir: string; manifestDigest: string; size: number }> {
  const blob = await tarGzDirectory(path.join(dir, 'db'), path.join(dir, layer.title), { entries: files });
  const written = await writeArtifactLayout(path.join(dir, 'layout'), {
    config: { mediaType: TrivyMediaType.config, bytes: Buffer.from('{}') },
    layers: [
      {
        mediaType: layer.mediaType,
        file: blob.file,
        annotations: { 'org.opencontainers.image.title': layer.title },
      },
    ],
    annotations: { 'org.opencontainers.image.created': createdAt },
  });
  rmSync(blob.file);
  return { layoutDir: written.dir, manifestDigest: written.manifestDigest, size: blob.size };
}

/** trivy.db + metadata.json of a fixture version, and its OCI artifact. */
export async function buildTrivyDb(version: DbVersion): Promise<BuiltDbArtifact> {
  const tool = toolPath('trivy-test-db');
  const dates = dbDates[version];
  const { result } = await cached(
    `trivy-db-${version}`,
    { fixtures: fixtureFiles(version), tool: fileIdentity(tool), dates },
    async (dir) => {
      const dbDir = path.join(dir, 'db');
      const dirs = dbFixtureDirs[version].map((d) => path.join(fixturesDir, d));
      await run(tool, [
        'vuln',
        '-o',
        dbDir,
        '--updated-at',
        dates.updatedAt,
        '--next-update',
        dates.nextUpdate,
        ...dirs,
      ]);
      const packed = await packArtifact(
        dir,
        ['metadata.json', 'trivy.db'],
        { mediaType: TrivyMediaType.dbLayer, title: 'db.tar.gz' },
        dates.updatedAt,
      );
      const artifact: BuiltDbArtifact = {
        kind: 'trivy-db',
        version,
        dbDir,
        ...packed,
        repository: 'trivy-lookout-test/trivy-db',
        tag: '2',
      };
      return artifact;
    },
  );
  return result;
}

/**
 * An empty but valid Java DB (trivy-java.db + metadata.json) and its OCI artifact. Trivy needs
 * one whenever an image holds a JAR: its JAR analyzer opens the Java DB, downloading it first
 * when the cache has none, and the whole scan fails when that download fails.
 */
export async function buildJavaDb(): Promise<BuiltDbArtifact> {
  const tool = toolPath('trivy-test-db');
  const dates = dbDates.java;
  const { result } = await cached('trivy-java-db', { tool: fileIdentity(tool), dates }, async (dir) => {
    const dbDir = path.join(dir, 'db');
    await run(tool, [
      'java',
      '-o',
      dbDir,
      '--updated-at',
      dates.updatedAt,
      '--next-update',
      dates.nextUpdate,
    ]);
    const packed = await packArtifact(
      dir,
      ['metadata.json', 'trivy-java.db'],
      { mediaType: TrivyMediaType.javaDbLayer, title: 'javadb.tar.gz' },
      dates.updatedAt,
    );
    const artifact: BuiltDbArtifact = {
      kind: 'trivy-java-db',
      version: 'empty',
      dbDir,
      ...packed,
      repository: 'trivy-lookout-test/trivy-java-db',
      tag: '1',
    };
    return artifact;
  });
  return result;
}

/**
 * Lays the DBs out in a Trivy cache folder (`<cacheDir>/db`, `<cacheDir>/java-db`) as a download
 * would, for `trivy … --cache-dir <cacheDir> --skip-db-update --skip-java-db-update`.
 */
export function placeDbs(cacheDir: string, dbs: { db?: BuiltDbArtifact; javaDb?: BuiltDbArtifact }): void {
  for (const [artifact, sub] of [
    [dbs.db, 'db'],
    [dbs.javaDb, 'java-db'],
  ] as const) {
    if (!artifact) continue;
    const dest = path.join(cacheDir, sub);
    rmSync(dest, { recursive: true, force: true });
    mkdirSync(dest, { recursive: true });
    for (const f of readdirSync(artifact.dbDir))
      copyFileSync(path.join(artifact.dbDir, f), path.join(dest, f));
  }
}
