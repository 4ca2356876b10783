import { gunzipSync } from 'node:zlib';
import { ErrorCodes, LookoutError } from '../errors/index.ts';

/** Why a scan failed, as a small closed set: used for Events, metrics labels and retry decisions. */
export const FailureReason = {
  registryAuth: 'RegistryAuth',
  imageNotFound: 'ImageNotFound',
  registryUnreachable: 'RegistryUnreachable',
  timeout: 'Timeout',
  invalidOutput: 'InvalidOutput',
  scannerError: 'ScannerError',
  jobError: 'JobError',
} as const;
export type FailureReason = (typeof FailureReason)[keyof typeof FailureReason];

/** Marks the log line carrying `trivy version --format json` after the result (see SCAN_SCRIPT). */
export const TRIVY_VERSION_PREFIX = 'trivy-version: ';

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
    .filter((line) => !line.startsWith(TRIVY_VERSION_PREFIX))
    .join('\n')
    .trim();
  if (!trimmed) throw new LookoutError(ErrorCodes.TRIVY_OUTPUT_INVALID, 'the scan produced no output');
  if (!/^[A-Za-z0-9+/=\s]+$/.test(trimmed)) {
    throw new LookoutError(
      ErrorCodes.TRIVY_OUTPUT_INVALID,
      `the scan output is not base64: ${preview(trimmed)}`,
    );
  }
  let json: Buffer;
  try {
    json = gunzipSync(Buffer.from(trimmed, 'base64'));
  } catch (err) {
    throw new LookoutError(
      ErrorCodes.TRIVY_OUTPUT_INVALID,
      `the scan output is not gzip data: ${(err as Error).message}`,
      {
        cause: err,
      },
    );
  }
  return json.toString('utf8');
}

/** Classifies a failed scan from Trivy's error log (and the Job's own condition reason). */
export function classifyFailure(log: string, jobReason?: string): FailureReason {
  if (jobReason === 'DeadlineExceeded') return FailureReason.timeout;
  const text = log.toLowerCase();
  if (/unauthorized|authentication required|denied|401|403|forbidden/.test(text))
    return FailureReason.registryAuth;
  if (/manifest unknown|not found|unable to find the specified image|name unknown|404/.test(text)) {
    return FailureReason.imageNotFound;
  }
  if (
    /no such host|connection refused|i\/o timeout|dial tcp|tls handshake|network is unreachable/.test(text)
  ) {
    return FailureReason.registryUnreachable;
  }
  if (/context deadline exceeded|timeout/.test(text)) return FailureReason.timeout;
  return FailureReason.scannerError;
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
