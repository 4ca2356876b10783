/**
 * The node as the collector sees it: files, their modes and owners, and the command lines of the
 * node's processes. Everything is read below one root directory, `/` in the Job (host paths are
 * mounted at their own paths and `hostPID` shows the host's /proc), a prepared directory in tests.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';

export interface FileInfo {
  /** Permission bits (mode & 0o777). */
  mode: number;
  uid: number;
  gid: number;
  directory: boolean;
}

export interface HostView {
  stat(file: string): FileInfo | undefined;
  readText(file: string): string | undefined;
  /** Entry names of a directory, sorted; undefined when it is not a readable directory. */
  list(dir: string): string[] | undefined;
  /** The argv of every process whose command line is readable. */
  processes(): string[][];
}

/** Reads the host below `root`; a file that is missing or unreadable is simply absent. */
export function hostView(root: string): HostView {
  const at = (file: string) => path.join(root, file);
  return {
    stat(file) {
      try {
        const s = statSync(at(file));
        return { mode: s.mode & 0o777, uid: s.uid, gid: s.gid, directory: s.isDirectory() };
      } catch {
        return undefined;
      }
    },
    readText(file) {
      try {
        return readFileSync(at(file), 'utf8');
      } catch {
        return undefined;
      }
    },
    list(dir) {
      try {
        return readdirSync(at(dir)).sort();
      } catch {
        return undefined;
      }
    },
    processes() {
      const argvs: string[][] = [];
      let entries: string[];
      try {
        entries = readdirSync(at('/proc'));
      } catch {
        return argvs;
      }
      for (const pid of entries) {
        if (!/^\d+$/.test(pid)) continue;
        try {
          // /proc/<pid>/cmdline: NUL-separated argv (kernel threads have an empty one).
          const argv = readFileSync(at(`/proc/${pid}/cmdline`), 'utf8').split('\0');
          if (argv.at(-1) === '') argv.pop();
          if (argv.length > 0) argvs.push(argv);
        } catch {
          // The process ended while we were looking.
        }
      }
      return argvs;
    },
  };
}
