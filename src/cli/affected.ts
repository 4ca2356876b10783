/**
 * `trivy-lookout affected <VULNERABILITY-ID>`: "where does CVE-X run?" through the Kubernetes API.
 * The reports are listed a page at a time and fed into the same FindingsIndex the operator's
 * /affected endpoint answers from, so both give the same rows; only the compact index outlives a
 * page. Works on any cluster with the VulnerabilityReport CRD, whoever wrote the reports.
 */
import { parseArgs } from 'node:util';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { DNS_LABEL } from '../config/index.ts';
import { API_GROUP, API_VERSION, ReportKind } from '../crds/index.ts';
import { isLookoutError } from '../errors/index.ts';
import {
  FindingsIndex,
  isVulnerabilityId,
  normalizeVulnerabilityId,
  type AffectedRow,
} from '../findings/index.ts';
import { apiErrorMessage, apiErrorStatus, isGone, kubeRequestJson, loadKubeConfig } from '../kube/index.ts';

/** Exit codes: grep-like 0/1 so scripts can branch on "found", distinct codes for what went wrong. */
export const ExitCode = { found: 0, notFound: 1, usage: 2, apiError: 3 } as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export type OutputFormat = 'table' | 'json';

export interface AffectedArgs {
  readonly vulnerabilityId: string;
  /** Namespaces to look in; empty = all. */
  readonly namespaces: readonly string[];
  readonly output: OutputFormat;
  readonly kubeconfig?: string;
  readonly context?: string;
}

/** Bad command line: the message is shown with a pointer to --help, exit code 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** Could not read the reports: the message is for people, exit code 3. */
export class ReadError extends Error {
  override readonly name = 'ReadError';
}

/** A list request failed: the API's error with where it happened, which the explanation needs. */
export class ListFailure extends Error {
  override readonly name = 'ListFailure';
  constructor(
    override readonly cause: unknown,
    /** The namespace listed; undefined = cluster-wide. */
    readonly namespace: string | undefined,
    readonly firstPage: boolean,
  ) {
    super(apiErrorMessage(cause));
  }
}

const PLURAL = ReportKind.VulnerabilityReport.plural;
const RESOURCE = `${PLURAL}.${API_GROUP}`;
/** Reports can be up to ~1.5 MB each: 100 a page keeps the worst page at a bearable size. */
export const PAGE_SIZE = 100;
/** Restarts of the listing when its continue token expired (a list slower than etcd compaction). */
const RELISTS = 2;

export const AFFECTED_HELP = `Usage: trivy-lookout affected <VULNERABILITY-ID> [flags]

Which workloads run a vulnerability: every workload container whose VulnerabilityReport lists the
ID (CVE-…, GHSA-…, any case), with its image, package, installed and fixed versions. Reads the
reports through the Kubernetes API, so it works against any cluster that has them, whether
trivy-lookout or Trivy-Operator wrote them.

Flags:
  -A, --all-namespaces     look in every namespace (the default)
  -n, --namespace NAME     look only in this namespace; repeat for several
  -o, --output FORMAT      table (default) or json
      --kubeconfig PATH    kubeconfig file (default: in a pod its service account, else
                           KUBECONFIG or ~/.kube/config)
      --context NAME       kubeconfig context (default: the current context)
  -h, --help               this help

Exit status:
  0  at least one workload runs it      2  usage error
  1  no workload runs it                3  the reports could not be read (credentials,
                                           API server, permissions, CRD not installed)

Permissions: list on vulnerabilityreports in API group aquasecurity.github.io, cluster-wide
(ClusterRole) for all namespaces, or a Role in each namespace given with -n.

Examples:
  trivy-lookout affected CVE-2021-44228
  trivy-lookout affected cve-2021-44228 -n shop -n payments -o json
`;

/** Reads the command line of `affected` (without the word itself); undefined when help was asked for. */
export function parseAffectedArgs(argv: readonly string[]): AffectedArgs | undefined {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        'all-namespaces': { type: 'boolean', short: 'A' },
        namespace: { type: 'string', short: 'n', multiple: true },
        output: { type: 'string', short: 'o' },
        kubeconfig: { type: 'string' },
        context: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // parseArgs says which option is unknown or lacks its value; its hints name the API, not us.
    throw new UsageError((err as Error).message.replace(/\. To specify a positional argument[\s\S]*$/, ''));
  }
  const { values, positionals } = parsed;
  if (values.help) return undefined;
  if (positionals.length === 0)
    throw new UsageError('which vulnerability? e.g. trivy-lookout affected CVE-2021-44228');
  if (positionals.length > 1)
    throw new UsageError(`one vulnerability ID at a time, got ${positionals.join(' ')}`);
  const raw = positionals[0]!.trim();
  if (!isVulnerabilityId(raw)) {
    throw new UsageError(
      `"${raw}" is not a vulnerability ID: letters, digits and - _ . : only (up to 100), e.g. CVE-2021-44228`,
    );
  }
  const namespaces = [...new Set(values.namespace ?? [])];
  for (const ns of namespaces) {
    if (!DNS_LABEL.test(ns)) throw new UsageError(`"${ns}" is not a namespace name`);
  }
  if (values['all-namespaces'] && namespaces.length > 0) {
    throw new UsageError('-A/--all-namespaces and -n/--namespace exclude each other');
  }
  const output = values.output ?? 'table';
  if (output !== 'table' && output !== 'json') {
    throw new UsageError(`unknown output format "${output}": table or json`);
  }
  if (values.kubeconfig === '') throw new UsageError('--kubeconfig needs a path');
  if (values.context === '') throw new UsageError('--context needs a name');
  return {
    vulnerabilityId: normalizeVulnerabilityId(raw),
    namespaces,
    output,
    ...(values.kubeconfig === undefined ? {} : { kubeconfig: values.kubeconfig }),
    ...(values.context === undefined ? {} : { context: values.context }),
  };
}

export interface AffectedResult {
  readonly vulnerabilityId: string;
  /** How many VulnerabilityReports were read. */
  readonly reports: number;
  readonly workloads: AffectedRow[];
}

export interface FindAffectedOptions {
  readonly vulnerabilityId: string;
  readonly namespaces?: readonly string[];
  readonly pageSize?: number;
  readonly signal?: AbortSignal;
}

interface ReportList {
  readonly metadata?: { readonly continue?: string };
  readonly items?: KubernetesObject[];
}

/** Lists the reports (every namespace, or the given ones) into an index and asks it. */
export async function findAffected(kc: KubeConfig, o: FindAffectedOptions): Promise<AffectedResult> {
  const index = await readReports(kc, o);
  return {
    vulnerabilityId: normalizeVulnerabilityId(o.vulnerabilityId),
    reports: index.size,
    workloads: index.affected(o.vulnerabilityId),
  };
}

/** Every VulnerabilityReport of the namespaces (all when none), a page at a time, into a new index. */
export async function readReports(
  kc: KubeConfig,
  o: Omit<FindAffectedOptions, 'vulnerabilityId'>,
): Promise<FindingsIndex> {
  const scopes: (string | undefined)[] = o.namespaces?.length ? [...o.namespaces] : [undefined];
  for (let attempt = 0; ; attempt++) {
    // Nothing is tracked: the CLI only asks where findings are, never when they were first seen.
    const index = new FindingsIndex({ tracked: new Set() });
    try {
      for (const namespace of scopes) await listInto(kc, index, namespace, o);
      return index;
    } catch (err) {
      if (err instanceof ListFailure && isGone(err.cause) && attempt < RELISTS) continue;
      throw err;
    }
  }
}

async function listInto(
  kc: KubeConfig,
  index: FindingsIndex,
  namespace: string | undefined,
  o: Omit<FindAffectedOptions, 'vulnerabilityId'>,
): Promise<void> {
  const path =
    namespace === undefined
      ? `/apis/${API_GROUP}/${API_VERSION}/${PLURAL}`
      : `/apis/${API_GROUP}/${API_VERSION}/namespaces/${namespace}/${PLURAL}`;
  let token: string | undefined;
  do {
    let page: ReportList;
    try {
      page = await kubeRequestJson<ReportList>(kc, {
        path,
        query: { limit: o.pageSize ?? PAGE_SIZE, continue: token },
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (err) {
      throw new ListFailure(err, namespace, token === undefined);
    }
    for (const item of page.items ?? []) index.apply('ADDED', item);
    token = page.metadata?.continue || undefined;
  } while (token);
}

const workloadOf = (r: AffectedRow): string => `${r.resourceKind || '?'}/${r.resourceName || '?'}`;

const HEADERS = ['NAMESPACE', 'WORKLOAD', 'CONTAINER', 'IMAGE', 'PACKAGE', 'INSTALLED', 'FIXED', 'SEVERITY'];

/** kubectl-style columns: left-aligned, three spaces apart, `<none>` for an empty cell. */
export function formatTable(rows: readonly AffectedRow[]): string {
  const cells = rows.map((r) =>
    [
      r.namespace,
      workloadOf(r),
      r.containerName,
      r.image,
      r.package,
      r.installedVersion,
      r.fixedVersion,
      r.severity,
    ].map((v) => v || '<none>'),
  );
  const lines = [HEADERS, ...cells];
  const widths = HEADERS.map((_, c) => Math.max(...lines.map((l) => l[c]!.length)));
  return (
    lines
      .map((l) => l.map((v, c) => (c === l.length - 1 ? v : v.padEnd(widths[c]! + 3))).join(''))
      .join('\n') + '\n'
  );
}

export function formatJson(result: AffectedResult): string {
  return `${JSON.stringify({ vulnerabilityId: result.vulnerabilityId, reports: result.reports, workloads: result.workloads }, null, 2)}\n`;
}

/** One line for people saying what was found where (stderr, so stdout stays the table). */
export function summaryLine(result: AffectedResult, namespaces: readonly string[]): string {
  const where = namespaces.length
    ? `namespace${namespaces.length > 1 ? 's' : ''} ${namespaces.join(', ')}`
    : 'all namespaces';
  if (result.workloads.length === 0) {
    return `${result.vulnerabilityId}: not found in any of ${result.reports} VulnerabilityReports (${where})`;
  }
  const containers = new Set(
    result.workloads.map((r) => `${r.namespace}/${workloadOf(r)}/${r.containerName}`),
  ).size;
  const inNamespaces = new Set(result.workloads.map((r) => r.namespace)).size;
  return `${result.vulnerabilityId}: ${containers} workload container${containers === 1 ? '' : 's'} in ${inNamespaces} namespace${inNamespaces === 1 ? '' : 's'} (${result.reports} VulnerabilityReports read, ${where})`;
}

/** Node's network and TLS failures carry a string code; the API server's answers a number. */
function networkCode(err: unknown): string | undefined {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

/** What went wrong, said so that the reader knows what to fix. */
export function describeReadError(failure: unknown, server: string): string {
  const context =
    failure instanceof ListFailure ? failure : { cause: failure, namespace: undefined, firstPage: true };
  const err = context.cause;
  const status = apiErrorStatus(err);
  const said = apiErrorMessage(err);
  const scope = context.namespace === undefined ? 'cluster-wide' : `in namespace ${context.namespace}`;
  switch (status) {
    case 401:
      return `unauthorized: the API server at ${server} did not accept the kubeconfig's credentials (expired token or certificate?): ${said}`;
    case 403:
      return (
        `forbidden: reading the reports needs permission to list ${RESOURCE} ${scope} ` +
        (context.namespace === undefined
          ? '(a ClusterRole with list on vulnerabilityreports in API group aquasecurity.github.io, and a ClusterRoleBinding; or restrict to namespaces you may read with -n, which needs only a Role there)'
          : '(a Role with list on vulnerabilityreports in API group aquasecurity.github.io, and a RoleBinding there)') +
        `.\nThe API server said: ${said}`
      );
    case 404:
      if (context.firstPage) {
        return `the VulnerabilityReport CRD (${RESOURCE}) is not installed on the cluster at ${server}: no trivy-lookout or Trivy-Operator has written reports there`;
      }
      break;
    case undefined:
      if (networkCode(err) !== undefined || /timed out/.test(said)) {
        return `cannot reach the Kubernetes API server at ${server}: ${said}`;
      }
      break;
  }
  return `listing ${RESOURCE} ${scope} failed${status ? ` (HTTP ${status})` : ''}: ${said}`;
}

export interface Io {
  stdout(text: string): void;
  stderr(text: string): void;
}

/** `affected` end to end: exit code back, output through io. */
export async function runAffected(argv: readonly string[], io: Io): Promise<ExitCode> {
  let args: AffectedArgs | undefined;
  try {
    args = parseAffectedArgs(argv);
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    io.stderr(`trivy-lookout affected: ${err.message}\nSee trivy-lookout affected --help\n`);
    return ExitCode.usage;
  }
  if (!args) {
    io.stdout(AFFECTED_HELP);
    return ExitCode.found;
  }
  let kc: KubeConfig;
  try {
    kc = kubeConfigFor(args);
  } catch (err) {
    if (err instanceof ReadError || isLookoutError(err)) {
      io.stderr(`trivy-lookout affected: ${err.message}\n`);
      return ExitCode.apiError;
    }
    throw err;
  }
  const server = kc.getCurrentCluster()?.server ?? '(no server)';
  let result: AffectedResult;
  try {
    result = await findAffected(kc, { vulnerabilityId: args.vulnerabilityId, namespaces: args.namespaces });
  } catch (err) {
    io.stderr(`trivy-lookout affected: ${describeReadError(err, server)}\n`);
    return ExitCode.apiError;
  }
  if (args.output === 'json') io.stdout(formatJson(result));
  else if (result.workloads.length > 0) io.stdout(formatTable(result.workloads));
  io.stderr(`${summaryLine(result, args.namespaces)}\n`);
  return result.workloads.length > 0 ? ExitCode.found : ExitCode.notFound;
}

/** The operator's own credential lookup (same order), then the chosen context. */
function kubeConfigFor(args: AffectedArgs): KubeConfig {
  const kc = loadKubeConfig(args.kubeconfig);
  if (args.context !== undefined) {
    if (!kc.getContextObject(args.context)) {
      const known = kc.getContexts().map((c) => c.name);
      throw new ReadError(
        `no context "${args.context}" in the kubeconfig (it has: ${known.join(', ') || 'none'})`,
      );
    }
    kc.setCurrentContext(args.context);
    if (!kc.getCurrentCluster()?.server)
      throw new ReadError(`context "${args.context}" names no cluster server`);
  }
  return kc;
}
