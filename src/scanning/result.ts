import { gunzipSync } from 'node:zlib';
import { ErrorCodes, LookoutError } from '../errors/index.ts';

/** Why a scan failed, as a small closed set: used for Events, metrics labels and retry decisions. */
export const FailureReason = {
  registryAuth: 'RegistryAuth',
  imageNotFound: 'ImageNotFound',
  registryUnreachable: 'RegistryUnreachable',
  /** The registry's certificate was refused, or it speaks plain HTTP and is not listed as such. */
  registryTls: 'RegistryTLS',
  /** Trivy could not download its vulnerability DB or Java DB. */
  dbDownload: 'DBDownload',
  /** The node killed the scan container for exceeding its memory limit. */
  oomKilled: 'OOMKilled',
  timeout: 'Timeout',
  invalidOutput: 'InvalidOutput',
  scannerError: 'ScannerError',
  jobError: 'JobError',
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];

/** What a failed scan left behind: its log, the Job's condition reason, the container's end. */
export interface FailedScan {
  log: string;
  /** The Job's Failed condition reason (DeadlineExceeded, BackoffLimitExceeded, …). */
  jobReason?: string;
  /** The terminated reason of the container that failed (OOMKilled, Error, …). */
  containerReason?: string;
}

/** Marks the log line carrying `trivy version --format json` after the result (see SCAN_SCRIPT). */
export const TRIVY_VERSION_PREFIX = 'trivy-version: ';
/** Marks the log line carrying the CycloneDX SBOM (gzip+base64, one line) after the result. */
export const TRIVY_CYCLONEDX_PREFIX = 'trivy-cyclonedx: ';
/** Lines of the scan log that are not part of the result (they never look like base64). */
const isSideLine = (line: string): boolean =>
  line.startsWith(TRIVY_VERSION_PREFIX) || line.startsWith(TRIVY_CYCLONEDX_PREFIX);

/**
 * The CycloneDX JSON text of the scan log's SBOM line, or undefined when there is none (SBOM off,
 * the conversion failed, an older scan pod). Malformed data is a TRIVY_OUTPUT_INVALID error.
 */
export function decodeScanSbom(log: string): string | undefined {
  const line = log.split('\n').find((l) => l.startsWith(TRIVY_CYCLONEDX_PREFIX));
  if (line === undefined) return undefined;
  const data = line.slice(TRIVY_CYCLONEDX_PREFIX.length).trim();
  if (!data) return undefined;
  return gunzipBase64(data, 'the SBOM');
}

/** When the Trivy databases a scan used were built (their metadata `UpdatedAt`), where known. */
export interface ScanDatabases {
  vulnerabilities?: Date;
  javaIndex?: Date;
}

/**
 * The DB build times from the scan log's `trivy version` line. Best effort: a missing or malformed
 * line (older scan pods, ClientServer mode) gives an empty result, never an error.
 */
export function scanDatabasesFromLog(log: string): ScanDatabases {
  const line = log.split('\n').find((l) => l.startsWith(TRIVY_VERSION_PREFIX));
  if (!line) return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(line.slice(TRIVY_VERSION_PREFIX.length));
  } catch {
    return {};
  }
  const updatedAt = (field: string): Date | undefined => {
    const db = (parsed as Record<string, unknown> | null)?.[field] as { UpdatedAt?: unknown } | undefined;
    const at = typeof db?.UpdatedAt === 'string' ? new Date(db.UpdatedAt) : undefined;
    return at && !Number.isNaN(at.getTime()) && at.getTime() > 0 ? at : undefined;
  };
  const result: ScanDatabases = {};
  const vulnerabilities = updatedAt('VulnerabilityDB');
  const javaIndex = updatedAt('JavaDB');
  if (vulnerabilities) result.vulnerabilities = vulnerabilities;
  if (javaIndex) result.javaIndex = javaIndex;
  return result;
}

/**
 * The scan container's log on success: base64 of gzip of Trivy's JSON (then the `trivy version`
 * line, which is not part of it). Returns the JSON text; anything else is a clear
 * TRIVY_OUTPUT_INVALID error (never a crash).
 */
export function decodeScanLog(log: string): string {
  const trimmed = log
    .split('\n')
    .filter((line) => !isSideLine(line))
    .join('\n')
    .trim();
  if (!trimmed) throw new LookoutError(ErrorCodes.TRIVY_OUTPUT_INVALID, 'the scan produced no output');
  return gunzipBase64(trimmed, 'the scan output');
}

function gunzipBase64(text: string, what: string): string {
  if (!/^[A-Za-z0-9+/=\s]+$/.test(text)) {
    throw new LookoutError(ErrorCodes.TRIVY_OUTPUT_INVALID, `${what} is not base64: ${preview(text)}`);
  }
  let json: Buffer;
  try {
    json = gunzipSync(Buffer.from(text, 'base64'));
  } catch (err) {
    throw new LookoutError(
      ErrorCodes.TRIVY_OUTPUT_INVALID,
      `${what} is not gzip data: ${(err as Error).message}`,
      { cause: err },
    );
  }
  return json.toString('utf8');
}

/**
 * Classifies a failed scan. The node's and the Job's own reasons come first; then Trivy's log. When
 * Trivy tried several image sources (docker, containerd, podman, remote), only its `remote error`
 * parts are about the registry: the others are the missing daemons of a scan pod.
 */
export function classifyFailure(failed: FailedScan): FailureReason {
  if (failed.containerReason === 'OOMKilled') return FailureReason.oomKilled;
  if (failed.jobReason === 'DeadlineExceeded') return FailureReason.timeout;
  const all = stripAnsi(failed.log).toLowerCase();
  const remote = all
    .split('\n')
    .filter((line) => /^\s*\*\s*remote error:/.test(line))
    .join('\n');
  const text = remote || all;
  if (/failed to download (vulnerability|java) db|java db update failed|db error:/.test(all))
    return FailureReason.dbDownload;
  // A registry that answers "unknown" to credentials it accepted elsewhere: the image is the problem.
  if (/manifest_unknown|name_unknown|manifest unknown|404 not found/.test(text))
    return FailureReason.imageNotFound;
  // "permission denied" is the file system's (an unreadable trivy.sslCertDir, say), not a registry's.
  if (/unauthorized|authentication required|(?<!permission )denied|\b401\b|\b403\b|forbidden/.test(text))
    return FailureReason.registryAuth;
  if (/x509:|tls: |certificate|server gave http response to https client/.test(text))
    return FailureReason.registryTls;
  if (
    /no such host|connection refused|no route to host|i\/o timeout|dial tcp|network is unreachable/.test(text)
  )
    return FailureReason.registryUnreachable;
  if (/unable to find the specified image/.test(text)) return FailureReason.imageNotFound;
  if (/context deadline exceeded|timeout/.test(text)) return FailureReason.timeout;
  return FailureReason.scannerError;
}

/** What to do about a reason, for the Event a person reads. */
export function failureHint(reason: FailureReason): string | undefined {
  switch (reason) {
    case FailureReason.registryAuth:
      return 'give the workload an imagePullSecret for the registry (or list one in operator.privateRegistryScanSecretsNames)';
    case FailureReason.registryTls:
      return 'list the registry in trivy.insecureRegistries (self-signed certificate) or trivy.nonSslRegistries (plain HTTP)';
    case FailureReason.dbDownload:
      return 'check trivy.dbRepository / trivy.javaDbRepository and trivy.dbRepositoryInsecure';
    case FailureReason.oomKilled:
      return 'raise trivy.resources.limits.memory';
    default:
      return undefined;
  }
}

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;]*m/g;
function stripAnsi(text: string): string {
  return text.replace(ANSI, '');
}

/** The most useful line of an error log, for Events and log lines (bounded length). */
export function failureSummary(log: string): string {
  const lines = log
    .split('\n')
    .map((line) => line.trim())
    .filter(Boolean);
  const fatal = lines.find((line) => /fatal|error/i.test(line)) ?? lines.at(-1) ?? 'no output';
  return fatal.length > 300 ? `${fatal.slice(0, 297)}...` : fatal;
}

function preview(text: string): string {
  const first = text.slice(0, 80).replace(/\s+/g, ' ');
  return JSON.stringify(text.length > 80 ? `${first}…` : first);
}
