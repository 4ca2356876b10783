import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { toolPath } from './tools.ts';

const run = promisify(execFile);

/** Runs the real kubectl against a kubeconfig and returns its standard output. */
export async function kubectl(kubeconfigPath: string, args: string[]): Promise<string> {
  const { stdout } = await run(toolPath('kubectl'), ['--kubeconfig', kubeconfigPath, ...args], {
    maxBuffer: 64 * 1024 * 1024,
  });
  return stdout;
}
