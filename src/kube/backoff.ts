export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
}

export const defaultBackoff: BackoffOptions = { initialMs: 500, maxMs: 30_000 };

/**
 * Delay before retry number `attempt` (0-based): exponential with full jitter, so that many
 * watchers restarting after one API server restart do not all come back in the same instant.
 */
export function backoffDelay(
  attempt: number,
  options: BackoffOptions = defaultBackoff,
  random = Math.random,
): number {
  const ceiling = Math.min(options.maxMs, options.initialMs * 2 ** Math.min(attempt, 30));
  return Math.round(options.initialMs / 2 + random() * (ceiling - options.initialMs / 2));
}
