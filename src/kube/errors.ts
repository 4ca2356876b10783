import { ErrorCodes, LookoutError } from '../errors/index.ts';

/**
 * The HTTP status of a failed Kubernetes API call, whichever client produced it: client-node 1.x
 * ApiException uses `.code`, its Watch and older clients `.statusCode`, some `.response.statusCode`;
 * an in-stream watch ERROR carries a Status object with `.code`.
 */
export function apiErrorStatus(err: unknown): number | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as Record<string, unknown>;
  for (const candidate of [
    e.code,
    e.statusCode,
    (e.response as Record<string, unknown> | undefined)?.statusCode,
  ]) {
    if (typeof candidate === 'number' && candidate >= 100 && candidate < 600) return candidate;
  }
  const body = parseBody(e.body);
  if (typeof body?.code === 'number') return body.code;
  // Our own wrapper (kubeError) keeps the status in its details and the original as its cause.
  const details = e.details as Record<string, unknown> | undefined;
  if (typeof details?.status === 'number') return details.status;
  return e.cause !== undefined && e.cause !== err ? apiErrorStatus(e.cause) : undefined;
}

/** The API server's own explanation (Status.message) when there is one, else the error message. */
export function apiErrorMessage(err: unknown): string {
  if (typeof err !== 'object' || err === null) return String(err);
  const e = err as Record<string, unknown>;
  const body = parseBody(e.body);
  if (typeof body?.message === 'string') return body.message;
  if (typeof e.message === 'string') return e.message.split('\n')[0] ?? e.message;
  return String(err);
}

/** The Status reason (NotFound, AlreadyExists, Conflict, Expired, Gone …) when the body has one. */
export function apiErrorReason(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const e = err as Record<string, unknown>;
  const body = parseBody(e.body);
  if (typeof body?.reason === 'string') return body.reason;
  return e.cause !== undefined && e.cause !== err ? apiErrorReason(e.cause) : undefined;
}

export function isNotFound(err: unknown): boolean {
  return apiErrorStatus(err) === 404;
}

export function isConflict(err: unknown): boolean {
  return apiErrorStatus(err) === 409;
}

/** 410 Gone: the resourceVersion we asked for has been compacted away; the only cure is a relist. */
export function isGone(err: unknown): boolean {
  return apiErrorStatus(err) === 410 || apiErrorReason(err) === 'Expired';
}

/** Wraps an API failure in the project's error type, with the operation and object for the log. */
export function kubeError(
  err: unknown,
  operation: string,
  details: Record<string, unknown> = {},
): LookoutError {
  const status = apiErrorStatus(err);
  return new LookoutError(
    ErrorCodes.KUBE_API,
    `${operation} failed${status ? ` (HTTP ${status})` : ''}: ${apiErrorMessage(err)}`,
    { cause: err, details: { ...details, status } },
  );
}

function parseBody(body: unknown): Record<string, unknown> | undefined {
  if (typeof body === 'string') {
    try {
      const parsed: unknown = JSON.parse(body);
      return typeof parsed === 'object' && parsed !== null ? (parsed as Record<string, unknown>) : undefined;
    } catch {
      return undefined;
    }
  }
  return typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;
}
