/**
 * One error type for everything a user may see, with a stable code per failure so that log
 * queries, tests and alerts can key on it rather than on message wording.
 */
export const ErrorCodes = {
  /** A setting failed validation at start-up. */
  CONFIG_INVALID: 'TL_CONFIG_INVALID',
  /** A configuration file could not be read or parsed. */
  CONFIG_FILE: 'TL_CONFIG_FILE',
  /** Trivy produced output that is not the JSON we expect. */
  TRIVY_OUTPUT_INVALID: 'TL_TRIVY_OUTPUT_INVALID',
  /** The Kubernetes API answered with an error. */
  KUBE_API: 'TL_KUBE_API',
  /** No usable Kubernetes credentials were found. */
  KUBE_CONFIG: 'TL_KUBE_CONFIG',
  /** A report would exceed what the API server / etcd accepts, even after trimming. */
  REPORT_TOO_LARGE: 'TL_REPORT_TOO_LARGE',
  /** A scan job failed, timed out or could not be created. */
  SCAN_FAILED: 'TL_SCAN_FAILED',
  /** A config-audit run failed: Trivy exited with an error, timed out or could not start. */
  AUDIT_FAILED: 'TL_AUDIT_FAILED',
  /** A custom Rego policy was rejected (does not parse, no kinds, wrong package). */
  POLICY_INVALID: 'TL_POLICY_INVALID',
  /** A required external tool is missing (test harness, set-up). */
  TOOL_MISSING: 'TL_TOOL_MISSING',
} as const;

export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

export class LookoutError extends Error {
  readonly code: ErrorCode;
  /** Structured context for logs (never secrets). */
  readonly details: Readonly<Record<string, unknown>>;

  constructor(
    code: ErrorCode,
    message: string,
    options: { cause?: unknown; details?: Record<string, unknown> } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LookoutError';
    this.code = code;
    this.details = options.details ?? {};
  }
}

export function isLookoutError(err: unknown, code?: ErrorCode): err is LookoutError {
  return err instanceof LookoutError && (code === undefined || err.code === code);
}
