/**
 * The `trivy-lookout` command: dispatches to its subcommands. Kept apart from main.ts so tests can
 * run it in-process with their own output sinks.
 */
import { readFileSync } from 'node:fs';
import { ExitCode, runAffected, type Io } from './affected.ts';

export const HELP = `Usage: trivy-lookout <command> [flags]

Commands:
  affected <VULNERABILITY-ID>   which workloads run a vulnerability (CVE-…, GHSA-…), read from the
                                VulnerabilityReports through the Kubernetes API

Flags:
  -h, --help                    this help (trivy-lookout affected --help for the command's own)
      --version                 the package version

Running it:
  from a checkout          npx trivy-lookout affected CVE-2021-44228
                           (runs the TypeScript sources through tsx; no build needed)
  the installed package    npx trivy-lookout affected CVE-2021-44228, or trivy-lookout … once
                           installed globally (runs the compiled dist/)
  in the operator image    kubectl -n trivy-system exec deploy/trivy-lookout -- \\
                             node dist/cli/main.js affected CVE-2021-44228
                           (uses the operator's service account, which may list the reports)
`;

/** package.json sits two levels up from both src/cli/ and dist/cli/. */
function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
      version?: unknown;
    };
    return typeof pkg.version === 'string' ? pkg.version : 'unknown';
  } catch {
    return 'unknown';
  }
}

export async function runCli(argv: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case 'affected':
      return runAffected(rest, io);
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      io.stdout(HELP);
      return command === undefined ? ExitCode.usage : ExitCode.found;
    case '--version':
      io.stdout(`trivy-lookout ${version()}\n`);
      return ExitCode.found;
    default:
      io.stderr(`trivy-lookout: unknown command "${command}"\nSee trivy-lookout --help\n`);
      return ExitCode.usage;
  }
}
