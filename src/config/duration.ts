/**
 * Go `time.Duration` text <-> milliseconds. Settings use Go's syntax because Trivy-Operator users
 * already write "5m" and "24h"; reports carry the TTL in Go's canonical form ("24h0m0s"), so the
 * inverse must reproduce Go's `Duration.String()` exactly. Arithmetic is done in integer
 * nanoseconds (BigInt) so "1.1s" is 1100 ms, not 1100.0000000000002.
 */

const NS_PER_UNIT: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n, // U+00B5 micro sign
  μs: 1_000n, // U+03BC Greek mu; Go accepts both
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const NS_PER_MS = 1_000_000n;
const NS_PER_US = 1_000n;
const NS_PER_S = 1_000_000_000n;

// `ms` is listed before `m` so "1ms" is not read as one minute followed by garbage.
const TERM = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/y;

/**
 * Parses a Go duration ("300ms", "1h30m", "24h0m0s", "-1.5s"; a bare "0" is allowed) into
 * milliseconds, fractional below one millisecond. Throws a RangeError for anything else.
 */
export function parseGoDuration(text: string): number {
  let rest = text;
  let sign = 1n;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest.startsWith('-') ? -1n : 1n;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw invalid(text);

  let totalNs = 0n;
  TERM.lastIndex = 0;
  while (TERM.lastIndex < rest.length) {
    const match = TERM.exec(rest);
    if (match === null) throw invalid(text);
    const [, amount = '', unit = ''] = match;
    totalNs += termToNs(amount, NS_PER_UNIT[unit] ?? 0n);
  }
  return Number(sign * totalNs) / Number(NS_PER_MS);
}

function termToNs(amount: string, unitNs: bigint): bigint {
  const [whole = '', fraction = ''] = amount.split('.');
  const wholeNs = BigInt(whole === '' ? '0' : whole) * unitNs;
  if (fraction === '') return wholeNs;
  // Like Go, digits finer than a nanosecond are dropped rather than rounded.
  return wholeNs + (BigInt(fraction) * unitNs) / 10n ** BigInt(fraction.length);
}

function invalid(text: string): RangeError {
  return new RangeError(
    `${JSON.stringify(text)} is not a Go duration (a number with a unit ns, us, ms, s, m or h, e.g. 5m, 1h30m, 300ms)`,
  );
}

/**
 * Formats milliseconds the way Go's `Duration.String()` does: "24h0m0s", "5m0s", "30s", "1.5s",
 * "300ms", "0s". Sub-millisecond fractions are kept to the nanosecond.
 */
export function formatGoDuration(ms: number): string {
  if (!Number.isFinite(ms)) throw new RangeError(`cannot format ${ms} as a Go duration`);
  const signedNs = Number.isInteger(ms) ? BigInt(ms) * NS_PER_MS : BigInt(Math.round(ms * 1e6));
  const negative = signedNs < 0n;
  const ns = negative ? -signedNs : signedNs;
  return (negative ? '-' : '') + formatPositiveNs(ns);
}

function formatPositiveNs(ns: bigint): string {
  if (ns === 0n) return '0s';
  if (ns < NS_PER_US) return `${ns}ns`;
  if (ns < NS_PER_MS) return `${withFraction(ns, NS_PER_US)}µs`;
  if (ns < NS_PER_S) return `${withFraction(ns, NS_PER_MS)}ms`;

  const totalSeconds = ns / NS_PER_S;
  let text = `${withFraction(ns, NS_PER_S, totalSeconds % 60n)}s`;
  const totalMinutes = totalSeconds / 60n;
  if (totalMinutes > 0n) {
    text = `${totalMinutes % 60n}m${text}`;
    const hours = totalMinutes / 60n;
    if (hours > 0n) text = `${hours}h${text}`;
  }
  return text;
}

/** `whole` (default ns / unit) followed by the fraction of `unit`, trailing zeros dropped. */
function withFraction(ns: bigint, unit: bigint, whole: bigint = ns / unit): string {
  const remainder = ns % unit;
  if (remainder === 0n) return `${whole}`;
  const digits = unit.toString().length - 1;
  const fraction = remainder.toString().padStart(digits, '0').replace(/0+$/, '');
  return `${whole}.${fraction}`;
}
