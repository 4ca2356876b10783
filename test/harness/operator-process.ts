import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './ports.ts';
import { repoRoot } from './tools.ts';

export interface OperatorProcess {
  readonly child: ChildProcess;
  readonly baseUrl: string;
  /** Everything written to stdout (JSON log lines) and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** Parsed JSON log lines. */
  logs(): Record<string, unknown>[];
  waitForLog(
    predicate: (line: Record<string, unknown>) => boolean,
    timeoutMs?: number,
  ): Promise<Record<string, unknown>>;
  waitForReady(timeoutMs?: number): Promise<void>;
  /** SIGTERM and wait; resolves with the exit code. */
  stop(): Promise<number | null>;
  exited: Promise<number | null>;
}

/** Runs `src/main.ts` as a real process, as the container would, with the given environment. */
export async function startOperator(
  kubeconfigPath: string,
  env: Record<string, string> = {},
): Promise<OperatorProcess> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(repoRoot, 'src', 'main.ts'), '--kubeconfig', kubeconfigPath],
    {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        OPERATOR_METRICS_BIND_ADDRESS: `127.0.0.1:${port}`,
        OPERATOR_NAMESPACE: 'trivy-system',
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout?.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const onExit = () => child.kill('SIGKILL');
  process.once('exit', onExit);
  void exited.then(() => process.removeListener('exit', onExit));
  // A caller that fixes the address (to restart on the same one) gets its own port back.
  const fixed = /:(\d+)$/.exec(env.OPERATOR_METRICS_BIND_ADDRESS ?? '')?.[1];
  const baseUrl = `http://127.0.0.1:${fixed ?? port}`;

  const logs = () =>
    out
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);

  return {
    child,
    baseUrl,
    exited,
    stdout: () => out,
    stderr: () => err,
    logs,
    async waitForLog(predicate, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const found = logs().find(predicate);
        if (found) return found;
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`log line not seen (exit ${child.exitCode}):\n${out}\n${err}`);
        }
        await sleep(100);
      }
    },
    async waitForReady(timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const status = await fetch(`${baseUrl}/readyz`).then(
          (r) => r.status,
          () => 0,
        );
        if (status === 200) return;
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(
            `operator not ready (exit ${child.exitCode}, last status ${status}):\n${out}\n${err}`,
          );
        }
        await sleep(100);
      }
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
  };
}
