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
 * metadata.json's dates: the start of the current UTC day (v2 an hour later), so the DB a scan
 * uses looks as fresh as a mirror's and `trivy_lookout_trivy_db_age_seconds` stays under a day
 * (a fixed date would fire TrivyLookoutVulnerabilityDBStale everywhere). The artifacts are
 * therefore rebuilt once a day. NextUpdate is a day later, as in trivy-db's releases.
 */
export function dbDates(kind: DbVersion | 'java' | 'generated', now = Date.now()) {
  const day = Math.floor(now / 86_400_000) * 86_400_000;
  const updated = day + (kind === 'v2' ? 3_600_000 : 0);
  return {
    updatedAt: new Date(updated).toISOString().replace('.000Z', 'Z'),
    nextUpdate: new Date(updated + 86_400_000).toISOString().replace('.000Z', 'Z'),
  };
}

export const TrivyMediaType = {
  /** trivy-db's and trivy-java-db's `oras push --artifact-type`. */
  config: 'application/vnd.aquasec.trivy.config.v1+json',
  dbLayer: 'application/vnd.aquasec.trivy.db.layer.v1.tar+gzip',
  javaDbLayer: 'application/vnd.aquasec.trivy.javadb.layer.v1.tar+gzip',
} as const;

export interface BuiltDbArtifact {
  kind: 'trivy-db' | 'trivy-java-db';
  /** The fixture version; the Java DB has one, empty; `generated` for a test's own fixtures. */
  version: DbVersion | 'empty' | 'generated';
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

function fixtureFilesIn(dirs: string[]): { name: string; content: string }[] {
  return dirs.flatMap((d) =>
    readdirSync(d)
      .filter((f) => f.endsWith('.yaml'))
      .sort()
      .map((f) => ({ name: `${path.basename(d)}/${f}`, content: readFileSync(path.join(d, f), 'utf8') })),
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
export function buildTrivyDb(version: DbVersion): Promise<BuiltDbArtifact> {
  return buildDbFrom(
    `trivy-db-${version}`,
    version,
    dbFixtureDirs[version].map((d) => path.join(fixturesDir, d)),
    dbDates(version),
  );
}

/**
 * A DB from fixture folders a test generates (e.g. thousands of advisories for one package),
 * cached by their content like the fixture versions.
 */
export function buildGeneratedTrivyDb(name: string, dirs: string[]): Promise<BuiltDbArtifact> {
  return buildDbFrom(`trivy-db-${name}`, 'generated', dirs, dbDates('generated'));
}

function buildDbFrom(
  cacheName: string,
  version: BuiltDbArtifact['version'],
  dirs: string[],
  dates: { updatedAt: string; nextUpdate: string },
): Promise<BuiltDbArtifact> {
  return buildArtifact('trivy-db', cacheName, version, dates, dirs);
}

/**
 * An empty but valid Java DB (trivy-java.db + metadata.json) and its OCI artifact. Trivy needs
 * one whenever an image holds a JAR: its JAR analyzer opens the Java DB, downloading it first
 * when the cache has none, and the whole scan fails when that download fails.
 */
export function buildJavaDb(): Promise<BuiltDbArtifact> {
  return buildArtifact('trivy-java-db', 'trivy-java-db', 'empty', dbDates('java'), []);
}

/** What differs between the two DB kinds: the tool's subcommand, the files, the layer, the tag. */
const dbKinds = {
  'trivy-db': {
    command: 'vuln',
    file: 'trivy.db',
    layer: { mediaType: TrivyMediaType.dbLayer, title: 'db.tar.gz' },
    tag: '2',
  },
  'trivy-java-db': {
    command: 'java',
    file: 'trivy-java.db',
    layer: { mediaType: TrivyMediaType.javaDbLayer, title: 'javadb.tar.gz' },
    tag: '1',
  },
} as const;

async function buildArtifact(
  kind: BuiltDbArtifact['kind'],
  cacheName: string,
  version: BuiltDbArtifact['version'],
  dates: { updatedAt: string; nextUpdate: string },
  fixtureDirs: string[],
): Promise<BuiltDbArtifact> {
  const tool = toolPath('trivy-test-db');
  const spec = dbKinds[kind];
  const { result } = await cached(
    cacheName,
    { fixtures: fixtureFilesIn(fixtureDirs), tool: fileIdentity(tool), dates },
    async (dir) => {
      const dbDir = path.join(dir, 'db');
      await run(tool, [
        spec.command,
        '-o',
        dbDir,
        '--updated-at',
        dates.updatedAt,
        '--next-update',
        dates.nextUpdate,
        ...fixtureDirs,
      ]);
      const packed = await packArtifact(dir, ['metadata.json', spec.file], spec.layer, dates.updatedAt);
      const artifact: BuiltDbArtifact = {
        kind,
        version,
        dbDir,
        ...packed,
        repository: `trivy-lookout-test/${kind}`,
        tag: spec.tag,
      };
      return artifact;
    },
  );
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
