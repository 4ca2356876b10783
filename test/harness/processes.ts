import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitUntil } from './waiting.ts';

/** A long-running helper process whose output goes to a log file. */
export interface ManagedProcess {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Resolves with the exit code (or signal) once the process has exited. */
  readonly exited: Promise<number | string>;
  hasExited(): boolean;
}

/**
 * A group of processes that are stopped together, newest first. A detached watchdog kills them if
 * the owning Node process dies without cleaning up (a test runner killed with SIGKILL, a crash),
 * so no etcd or apiserver is ever left behind.
 */
export class ProcessGroup {
  private readonly processes: ManagedProcess[] = [];
  private readonly pidFile: string;
  private watchdog: ChildProcess | undefined;
  private stopping: Promise<void> | undefined;

  constructor(private readonly dir: string) {
    this.pidFile = path.join(dir, 'pids');
    writeFileSync(this.pidFile, '');
  }

  start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ManagedProcess {
    const logFile = path.join(this.dir, `${name}.log`);
    const fd = openSync(logFile, 'a');
    // Its own process group: a Ctrl-C in the terminal (sent to the whole foreground group) must not
    // stop etcd or the API server before the processes that still talk to them have shut down;
    // stop() and the watchdog end them in order.
    const child = spawn(command, args, { stdio: ['ignore', fd, fd], env, detached: true });
    closeSync(fd);
    let done = false;
    const exited = new Promise<number | string>((resolve) => {
      child.on('exit', (code, signal) => {
        done = true;
        resolve(code ?? signal ?? 'unknown');
      });
      child.on('error', () => {
        done = true;
        resolve('spawn-error');
      });
    });
    const proc: ManagedProcess = { name, child, logFile, exited, hasExited: () => done };
    this.processes.push(proc);
    this.writePids();
    this.ensureWatchdog();
    return proc;
  }

  /** The last lines a process logged, for error messages. */
  static tail(proc: ManagedProcess, lines = 30): string {
    try {
      return readFileSync(proc.logFile, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
    } catch {
      return '(no log)';
    }
  }

  stop(graceMs = 10_000): Promise<void> {
    this.stopping ??= this.stopAll(graceMs);
    return this.stopping;
  }

  private async stopAll(graceMs: number): Promise<void> {
    for (const proc of [...this.processes].reverse()) {
      if (proc.hasExited()) continue;
      proc.child.kill('SIGTERM');
      // Unref'd: the grace timer must not hold the test process open for its full length after the
      // process has exited (the running child keeps the event loop alive while it matters).
      const result = await Promise.race([proc.exited, sleep(graceMs, 'timeout' as const, { ref: false })]);
      if (result === 'timeout') {
        proc.child.kill('SIGKILL');
        await proc.exited;
      }
    }
    writeFileSync(this.pidFile, '');
    // Nothing left to guard; a group that is stopped long before its owner exits (a test's own
    // node or registry) would otherwise leave one watchdog per start running until then.
    this.watchdog?.kill('SIGKILL');
  }

  /** Synchronous last resort for process 'exit' handlers, where nothing can be awaited. */
  killNow(): void {
    for (const proc of this.processes) {
      if (!proc.hasExited()) proc.child.kill('SIGKILL');
    }
  }

  private writePids(): void {
    const pids = this.processes.map((p) => p.child.pid).filter((pid): pid is number => pid !== undefined);
    writeFileSync(this.pidFile, pids.join('\n') + '\n');
  }

  private ensureWatchdog(): void {
    if (this.watchdog) return;
    const script = [
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`,
      `for p in $(cat '${this.pidFile}' 2>/dev/null); do kill -TERM "$p" 2>/dev/null; done`,
      'sleep 5',
      `for p in $(cat '${this.pidFile}' 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done`,
    ].join('\n');
    this.watchdog = spawn('bash', ['-c', script], { detached: true, stdio: 'ignore' });
    this.watchdog.unref();
  }
}

/**
 * Waits until a server process answers 200 on `url` (its readiness endpoint), failing at once with
 * its log if it exits; on failure `cleanup` runs (stop it, remove its files) before the error is
 * thrown.
 */
export async function waitForReadyEndpoint(
  proc: ManagedProcess,
  url: string,
  cleanup: () => Promise<void>,
  timeoutMs = 30_000,
): Promise<void> {
  try {
    await waitUntil(
      `${proc.name} to be ready`,
      async () => {
        if (proc.hasExited()) throw new Error(`${proc.name} exited:\n${ProcessGroup.tail(proc)}`);
        return (await fetch(url)).status === 200;
      },
      timeoutMs,
    );
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/**
 * Polls `check` until it holds or `deadline` passes; fails at once, with its log's tail, when one
 * of `processes` exits meanwhile (a crashed etcd or kubelet must not read as a slow start).
 */
export async function waitWhileRunning(
  what: string,
  deadline: number,
  processes: ManagedProcess[],
  check: () => Promise<boolean>,
): Promise<void> {
  for (;;) {
    for (const proc of processes) {
      if (proc.hasExited())
        throw new Error(`${proc.name} exited while waiting for ${what}:\n${ProcessGroup.tail(proc)}`);
    }
    if (await check()) return;
    if (Date.now() > deadline) {
      const tails = processes.map((p) => `--- ${p.name}\n${ProcessGroup.tail(p, 15)}`).join('\n');
      throw new Error(`timed out waiting for ${what}\n${tails}`);
    }
    await sleep(250);
  }
}
