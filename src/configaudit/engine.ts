/**
 * Runs the pinned Trivy binary over many manifests at once: `trivy config` on a temporary
 * directory, JSON out, passes included, checks from the binary's embedded bundle and never
 * downloaded (so air-gapped clusters get the same checks), custom policies added with
 * --config-check. One process per batch: Trivy's start-up and check compilation (~1.7 CPU s) is
 * paid once per batch, not once per object. Its JSON is read as it streams out, one scanned file
 * at a time.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { ErrorCodes, LookoutError } from '../errors/index.ts';
import {
  CUSTOM_POLICY_NAMESPACE,
  type CustomPolicy,
  type PolicyLibrary,
  type PolicyProblem,
} from './policies.ts';
import { streamTrivyConfigOutput, type TrivyMisconfiguration } from './trivy-output.ts';

export interface EngineOptions {
  /** Path or command name of the Trivy binary. */
  readonly binary: string;
  /** Longest one run may take; the process is killed after it. */
  readonly timeoutMs: number;
  readonly log: Logger;
  /** Parent of the temporary directories (default: the OS temp dir). */
  readonly tmpDir?: string;
  /**
   * Environment of the Trivy process (default: this process's, for proxy settings and TMPDIR);
   * GOGC and GOMEMLIMIT are added unless it sets either (trivyEnv).
   */
  readonly env?: NodeJS.ProcessEnv;
}

export interface Manifest {
  /** File name in the scanned directory; Trivy's result `Target`. */
  readonly file: string;
  readonly object: unknown;
}

export interface CustomModules {
  readonly policies: readonly CustomPolicy[];
  readonly libraries: readonly PolicyLibrary[];
}

const NO_MODULES: CustomModules = { policies: [], libraries: [] };

export interface RunOptions {
  /** Report passed checks too (`--include-non-failures`); default true. */
  readonly includePasses?: boolean;
}

/**
 * Go's garbage collector for the Trivy runs, unless the operator's environment sets GOGC or
 * GOMEMLIMIT itself. Evaluating the checks allocates a lot, and with Go's default (GOGC=100) a
 * run of 500 objects spent about a quarter of its CPU collecting: measured with this binary on
 * 500 Services, ConfigMaps, Roles and Pods, 34 CPU s at GOGC=100 against 23–27 s with these
 * values. The limit keeps the heap where a batch of 500 Pods peaks anyway (about 490 MB resident
 * at GOGC=100, 500 MB with these); a run whose live data outgrows it just collects more often.
 */
const TRIVY_GC_ENV = { GOGC: '400', GOMEMLIMIT: '400MiB' } as const;

/** The environment a Trivy run gets: `env` with TRIVY_GC_ENV unless it sets GOGC or GOMEMLIMIT. */
export function trivyEnv(env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  if (env.GOGC !== undefined || env.GOMEMLIMIT !== undefined) return env;
  return { ...env, ...TRIVY_GC_ENV };
}

/** Stderr kept per run, for error messages: Trivy's fatal line is near the end. */
const STDERR_LIMIT = 64 * 1024;

/** A tiny manifest every policy can be compiled against. */
const PROBE_MANIFEST: Manifest = {
  file: 'probe.json',
  object: {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'probe', namespace: 'default' },
    spec: { containers: [{ name: 'c', image: 'example.invalid/probe:1' }] },
  },
};

interface RunOutcome {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly stderr: string;
}

export class TrivyConfigEngine {
  private workDir: string | undefined;
  private runs = 0;

  constructor(private readonly o: EngineOptions) {}

  /** `trivy --version`: the scanner version on reports and part of every policy hash. */
  async version(): Promise<string> {
    const dir = await this.base();
    const out = path.join(dir, 'version.json');
    const outcome = await this.exec(
      ['--version', '--format', 'json', '--cache-dir', path.join(dir, 'cache')],
      out,
    );
    if (outcome.code !== 0) throw this.failure('trivy --version', outcome);
    let version: unknown;
    try {
      version = (JSON.parse(await readFile(out, 'utf8')) as { Version?: unknown }).Version;
    } catch (err) {
      throw new LookoutError(
        ErrorCodes.TRIVY_OUTPUT_INVALID,
        `trivy --version did not print JSON: ${String(err)}`,
      );
    }
    if (typeof version !== 'string' || version === '') {
      throw new LookoutError(ErrorCodes.TRIVY_OUTPUT_INVALID, 'trivy --version printed no Version');
    }
    return version.replace(/^v/, '');
  }

  /**
   * Evaluates the built-in checks and `modules` on the manifests; misconfigurations per file.
   * Throws AUDIT_FAILED (Trivy failed, timed out, could not start) or TRIVY_OUTPUT_INVALID.
   */
  async run(
    manifests: readonly Manifest[],
    modules: CustomModules = NO_MODULES,
    options: RunOptions = {},
  ): Promise<Map<string, TrivyMisconfiguration[]>> {
    const byTarget = new Map<string, TrivyMisconfiguration[]>();
    await this.runEach(manifests, modules, options, (target, items) => {
      byTarget.set(target, [...(byTarget.get(target) ?? []), ...items]);
    });
    return byTarget;
  }

  /**
   * As run(), but hands each file's misconfigurations to `onResult` as Trivy's output streams in
   * (awaited, so a slow consumer holds Trivy's output back): the batch's JSON is never held
   * whole. Results are only handed over once Trivy has finished its evaluation, as it prints its
   * report at the end; a run that then fails throws after the results it did print.
   */
  async runEach(
    manifests: readonly Manifest[],
    modules: CustomModules,
    options: RunOptions,
    onResult: (target: string, items: TrivyMisconfiguration[]) => void | Promise<void>,
  ): Promise<void> {
    const base = await this.base();
    const dir = await mkdtemp(path.join(base, 'run-'));
    try {
      const input = path.join(dir, 'manifests');
      await mkdir(input);
      for (const manifest of manifests) {
        await writeFile(path.join(input, manifest.file), JSON.stringify(manifest.object));
      }
      const args = this.configArgs(base, options.includePasses ?? true);
      const policyDir = await this.writeModules(dir, modules);
      if (policyDir) args.push('--config-check', policyDir, '--check-namespaces', CUSTOM_POLICY_NAMESPACE);
      args.push(input);
      const { child, outcome } = this.start(args, dir);
      let parseError: unknown;
      try {
        for await (const [target, items] of streamTrivyConfigOutput(child.stdout))
          await onResult(target, items);
      } catch (err) {
        parseError = err;
        child.kill('SIGKILL');
      }
      const result = await outcome;
      if ((result.code !== 0 && !(parseError && result.signal === 'SIGKILL')) || result.timedOut)
        throw this.failure('trivy config', result, dir);
      if (parseError) throw parseError;
      this.logCheckErrors(result.stderr, dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }

  /**
   * Finds the custom modules Trivy cannot load. One bad module makes Trivy refuse the whole run,
   * so each is tried (libraries first, then each policy with the good libraries) only when the
   * full set fails; what is returned is rejected, with Trivy's own error.
   */
  async rejectedModules(modules: CustomModules): Promise<PolicyProblem[]> {
    if (modules.policies.length === 0 && modules.libraries.length === 0) return [];
    if ((await this.probe(modules)) === undefined) return [];
    const rejected: PolicyProblem[] = [];
    const libraries: PolicyLibrary[] = [];
    for (const library of modules.libraries) {
      const error = await this.probe({ policies: [], libraries: [library] });
      if (error === undefined) libraries.push(library);
      else rejected.push({ key: library.key, message: `${library.key} was rejected by Trivy: ${error}` });
    }
    for (const policy of modules.policies) {
      const error = await this.probe({ policies: [policy], libraries });
      if (error !== undefined) {
        rejected.push({ key: policy.key, message: `${policy.key} was rejected by Trivy: ${error}` });
      }
    }
    return rejected;
  }

  /** Removes the temporary directory. */
  async close(): Promise<void> {
    const dir = this.workDir;
    this.workDir = undefined;
    if (dir) await rm(dir, { recursive: true, force: true });
  }

  /** Trivy's error for the modules, or undefined when they load. */
  private async probe(modules: CustomModules): Promise<string | undefined> {
    try {
      await this.run([PROBE_MANIFEST], modules);
      return undefined;
    } catch (err) {
      if (
        err instanceof LookoutError &&
        err.code === ErrorCodes.AUDIT_FAILED &&
        err.details.timedOut !== true
      ) {
        return String(err.details.trivyError ?? err.message);
      }
      throw err;
    }
  }

  private configArgs(base: string, includePasses: boolean): string[] {
    return [
      'config',
      '--format',
      'json',
      // Passed checks only when reports list them: Trivy's output is then about 7 times smaller.
      ...(includePasses ? ['--include-non-failures'] : []),
      // The embedded checks of this pinned binary: no download, works offline.
      '--skip-check-update',
      '--disable-telemetry',
      '--skip-version-check',
      '--misconfig-scanners',
      'kubernetes',
      '--cache-dir',
      path.join(base, 'cache'),
      '--timeout',
      `${Math.max(1, Math.ceil(this.o.timeoutMs / 1000))}s`,
      '--quiet',
    ];
  }

  private async writeModules(dir: string, modules: CustomModules): Promise<string | undefined> {
    const all = [...modules.libraries, ...modules.policies];
    if (all.length === 0) return undefined;
    const policyDir = path.join(dir, 'policies');
    await mkdir(policyDir);
    for (const module of all) await writeFile(path.join(policyDir, module.key), module.rego);
    return policyDir;
  }

  private async base(): Promise<string> {
    this.workDir ??= await mkdtemp(path.join(this.o.tmpDir ?? os.tmpdir(), 'trivy-lookout-audit-'));
    return this.workDir;
  }

  /** Trivy's ERROR lines (a policy that fails while evaluating) are logged, not fatal. */
  private logCheckErrors(stderr: string, dir: string): void {
    const lines = stderr
      .split('\n')
      .filter((line) => /\bERROR\b/.test(line) && !line.includes('Falling back to embedded checks'));
    for (const line of lines.slice(0, 5)) {
      this.o.log.warn(
        { trivy: line.split(dir).join('').slice(0, 500) },
        'trivy reported an error in a check',
      );
    }
  }

  private failure(what: string, outcome: RunOutcome, dir?: string): LookoutError {
    const trivyError = fatalLine(outcome.stderr, dir);
    const how = outcome.timedOut
      ? `timed out after ${this.o.timeoutMs} ms`
      : outcome.signal
        ? `was killed by ${outcome.signal}`
        : `exited with code ${outcome.code}`;
    return new LookoutError(ErrorCodes.AUDIT_FAILED, `${what} ${how}${trivyError ? `: ${trivyError}` : ''}`, {
      details: { exitCode: outcome.code, signal: outcome.signal, timedOut: outcome.timedOut, trivyError },
    });
  }

  /** Runs Trivy with stdout to a file (small outputs: `--version`). */
  private async exec(args: string[], stdoutFile: string): Promise<RunOutcome> {
    const { child, outcome } = this.start(args);
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    const result = await outcome;
    await writeFile(stdoutFile, Buffer.concat(chunks));
    return result;
  }

  /** Starts Trivy; its stdout is the caller's to read, stderr is kept (the tail) for errors. */
  private start(
    args: string[],
    cwd?: string,
  ): { child: ChildProcessByStdio<null, Readable, Readable>; outcome: Promise<RunOutcome> } {
    this.runs += 1;
    const child = spawn(this.o.binary, args, {
      cwd,
      env: trivyEnv(this.o.env ?? process.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const outcome = new Promise<RunOutcome>((resolve) => {
      let stderr = '';
      let timedOut = false;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGKILL');
      }, this.o.timeoutMs);
      child.stderr.on('data', (chunk: Buffer) => {
        stderr = (stderr + chunk.toString()).slice(-STDERR_LIMIT);
      });
      let settled = false;
      const finish = (code: number | null, signal: NodeJS.Signals | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ code, signal, timedOut, stderr });
      };
      child.on('error', (err) => {
        stderr += `\n${err.message}`;
        finish(127, null);
      });
      child.on('close', finish);
    });
    return { child, outcome };
  }
}

/** Trivy's fatal error, without the timestamp and the temporary directory (noise for users). */
function fatalLine(stderr: string, dir?: string): string {
  const lines = stderr
    .split('\n')
    .map((line) => line.trim())
    .filter((line) => line !== '');
  const fatal = lines.findIndex((line) => /\bFATAL\b/.test(line));
  const picked = fatal === -1 ? lines.slice(-3) : lines.slice(fatal, fatal + 4);
  let text = picked.join(' ').replace(/^\S+\s+FATAL\s+/, '');
  // Trivy prints paths relative to the filesystem root (no leading slash) in parse errors.
  for (const prefix of dir ? [dir, dir.replace(/^\//, '')] : [])
    text = text.split(`${prefix}${path.sep}`).join('');
  return text.replace(/\s+/g, ' ').slice(0, 1000);
}
