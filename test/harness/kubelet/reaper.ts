import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';

/**
 * Keeps track of the process groups the harness kubelet started (each container is the leader of
 * its own group, so a `sh -c 'trivy … | bzip2 | base64'` pipeline is killed as a whole). A detached
 * watchdog kills the groups still listed if this Node process dies without stopping the kubelet
 * (test runner killed, crash), so no stand-in scan is left hanging forever.
 */
export class ProcessReaper {
  private readonly groups = new Set<number>();
  private readonly onExit = () => this.killAllNow();

  constructor(private readonly pidFile: string) {
    writeFileSync(pidFile, '');
    process.once('exit', this.onExit);
    const script = [
      `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done`,
      `for p in $(cat '${pidFile}' 2>/dev/null); do kill -KILL -- "-$p" 2>/dev/null; done`,
    ].join('\n');
    spawn('bash', ['-c', script], { detached: true, stdio: 'ignore' }).unref();
  }

  add(pgid: number): void {
    this.groups.add(pgid);
    this.write();
  }

  remove(pgid: number): void {
    this.groups.delete(pgid);
    this.write();
  }

  get size(): number {
    return this.groups.size;
  }

  /** Signals a whole group; false when it is already gone. */
  static signal(pgid: number, signal: NodeJS.Signals): boolean {
    try {
      process.kill(-pgid, signal);
      return true;
    } catch {
      return false;
    }
  }

  killAllNow(): void {
    for (const pgid of this.groups) ProcessReaper.signal(pgid, 'SIGKILL');
    this.groups.clear();
    this.write();
  }

  dispose(): void {
    this.killAllNow();
    process.removeListener('exit', this.onExit);
    // Leaving the file empty makes the watchdog a no-op when this process exits.
  }

  private write(): void {
    try {
      writeFileSync(this.pidFile, [...this.groups].join('\n') + '\n');
    } catch {
      // The work directory may already be gone during shutdown; nothing left to protect then.
    }
  }
}
