import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { normalizeImageRef, parseImageRef, repositoryOf, type ImageDigests } from './images.ts';
import type { RunSpec, Runner } from './types.ts';

/** The executable that answers to `trivy` in runner pods. */
export const standInTrivyPath = path.join(path.dirname(fileURLToPath(import.meta.url)), 'stand-in-trivy');

/**
 * What the stand-in does when asked to scan an image. Every variant may set `delayMs` (time the
 * "scan" takes before the outcome).
 * - `report`: replay this Trivy JSON file (`--format json`), retargeted to the reference asked for
 *   (ArtifactName, the OS result's Target, Metadata.RepoTags/RepoDigests with the harness digest)
 *   unless `verbatim`, then filtered like Trivy would by --severity, --ignore-unfixed, --scanners,
 *   --pkg-types, --ignorefile and --list-all-pkgs (flags or TRIVY_* env). `credentials`: the scan
 *   fails as unauthorised unless TRIVY_USERNAME/TRIVY_PASSWORD (or --username/--password, comma
 *   lists allowed) contain this pair. `formats`: files replayed verbatim for other `--format`s.
 * - `error`: fail (exit 1, Trivy's FATAL line on stderr) as a missing image, a registry refusing
 *   credentials, or a scan timeout.
 * - `hang`: start and never finish, until killed (for activeDeadlineSeconds and deletion).
 * - `garbage`: write this text where the JSON would go, exit 0.
 * - `exitCode`: write `stdout`/`stderr` and exit with this code.
 */
export type ScanBehaviour = { delayMs?: number } & (
  | {
      report: string;
      verbatim?: boolean;
      credentials?: { username: string; password: string };
      formats?: Record<string, string>;
    }
  | { error: 'not-found' | 'unauthorized' | 'timeout' }
  | { hang: true }
  | { garbage: string }
  | { exitCode: number; stdout?: string; stderr?: string }
);

export interface StandInTrivyOptions {
  /** Image reference (any spelling of it) → what a scan of it does. Others fail as not found. */
  images?: Record<string, ScanBehaviour>;
  /** What `trivy --version` prints. */
  version?: string;
  /**
   * With `--skip-db-update` (standalone mode) the scan fails like Trivy's first run unless a DB was
   * downloaded into its cache dir (`--download-db-only` writes one): checks that the init container
   * and the scan containers share the cache volume. Default true.
   */
  requireDb?: boolean;
  /** `fail`: `--download-db-only` fails like a rate-limited registry. */
  db?: 'ok' | 'fail';
  /** The `UpdatedAt` (build time) of the DBs `--download-db-only` writes; default: the download time. */
  dbUpdatedAt?: string;
  /** Client/server mode (`--server`): the URL that answers, and the token it wants (unchecked when undefined). */
  server?: { url?: string; token?: string };
}

/** One run of the stand-in, as it recorded itself. */
export interface StandInInvocation {
  time: string;
  argv: string[];
  cwd: string;
  /** The TRIVY_* and proxy variables it saw. */
  env: Record<string, string>;
  outcome:
    | 'replayed'
    | 'not-found'
    | 'unauthorized'
    | 'timeout'
    | 'hang'
    | 'garbage'
    | 'exit'
    | 'no-db'
    | 'db-downloaded'
    | 'db-download-failed'
    | 'server-unreachable'
    | 'server-unauthenticated'
    | 'unsupported-format'
    | 'unsupported-command'
    | 'no-target'
    | 'version';
  image?: string;
  findings?: number;
}

export interface StandInTrivy {
  /** Put this directory first on PATH: its `trivy` is the stand-in. */
  readonly binDir: string;
  /** The JSON file the stand-in reads on every run (STAND_IN_TRIVY_CONFIG). */
  readonly configFile: string;
  /** Adds or replaces the behaviour for an image; later scans see it. */
  setImage(ref: string, behaviour: ScanBehaviour): void;
  removeImage(ref: string): void;
  /** Re-reads digests (after ImageDigests changed) into the config. */
  refresh(): void;
  /** Every run so far, oldest first. */
  invocations(): StandInInvocation[];
  /** Environment and PATH for a runner pod's processes. */
  runSpec(): RunSpec;
  /** Runs pods that use a Trivy image (see isTrivyPod) with the stand-in; others are left alone. */
  readonly runner: Runner;
}

/** The stand-in needs no image entrypoint knowledge beyond Trivy's own: `trivy` for Trivy images. */
export function isTrivyImage(image: string | undefined): boolean {
  if (!image) return false;
  const last = parseImageRef(image).path.split('/').pop();
  return last === 'trivy';
}

/**
 * A pod any of whose (init) containers runs a Trivy image (repository named `…/trivy`) or the
 * `trivy` command: what scan Jobs create, whatever mirror the image comes from.
 */
export function isTrivyPod(pod: V1Pod): boolean {
  const containers = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  return containers.some((c) => isTrivyImage(c.image) || path.basename(c.command?.[0] ?? '') === 'trivy');
}

/** Creates the stand-in's config and bin directory under `dir`. */
export function createStandInTrivy(
  dir: string,
  digests: ImageDigests,
  options: StandInTrivyOptions = {},
): StandInTrivy {
  mkdirSync(dir, { recursive: true });
  const binDir = path.join(dir, 'bin');
  mkdirSync(binDir, { recursive: true });
  const trivyLink = path.join(binDir, 'trivy');
  if (!existsSync(trivyLink)) symlinkSync(standInTrivyPath, trivyLink);
  const configFile = path.join(dir, 'stand-in-trivy.json');
  const invocationLog = path.join(dir, 'invocations.jsonl');
  writeFileSync(invocationLog, '');
  const images = new Map<string, { ref: string; behaviour: ScanBehaviour }>();
  for (const [ref, behaviour] of Object.entries(options.images ?? {})) {
    images.set(normalizeImageRef(ref), { ref, behaviour });
  }

  const write = () => {
    const config = {
      version: options.version ?? '0.72.0',
      invocationLog,
      requireDb: options.requireDb ?? true,
      db: options.db ?? 'ok',
      dbUpdatedAt: options.dbUpdatedAt,
      server: options.server,
      images: [...images.values()].map(({ ref, behaviour }) => {
        const parsed = parseImageRef(ref);
        return {
          ref,
          normalized: normalizeImageRef(ref),
          repository: repositoryOf(parsed),
          digest: digests.digestOf(ref),
          behaviour:
            'report' in behaviour ? { ...behaviour, report: path.resolve(behaviour.report) } : behaviour,
        };
      }),
    };
    // Write-then-rename: a stand-in starting at this moment reads the old or the new map, never half.
    const tmp = `${configFile}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify(config, null, 2));
    renameSync(tmp, configFile);
  };
  write();

  const runSpec = (): RunSpec => ({
    pathPrepend: [binDir],
    env: { STAND_IN_TRIVY_CONFIG: configFile },
    entrypoint: (container: V1Container) => (isTrivyImage(container.image) ? ['trivy'] : undefined),
  });

  return {
    binDir,
    configFile,
    setImage(ref, behaviour) {
      images.set(normalizeImageRef(ref), { ref, behaviour });
      write();
    },
    removeImage(ref) {
      images.delete(normalizeImageRef(ref));
      write();
    },
    refresh: write,
    invocations() {
      return readFileSync(invocationLog, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as StandInInvocation);
    },
    runSpec,
    runner: (pod) => (isTrivyPod(pod) ? runSpec() : undefined),
  };
}
