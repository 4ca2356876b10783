/**
 * Entry point of the `trivy-lookout` command (`node dist/cli/main.js …` in the image; the package's
 * bin/trivy-lookout.js elsewhere). The exit code is set, not forced, so piped output is flushed.
 */
import { runCli } from './cli.ts';

process.exitCode = await runCli(process.argv.slice(2), {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
});
