/**
 * The text exposition formats: label-value escaping, number formatting, family headers, content
 * negotiation (Prometheus text 0.0.4 or OpenMetrics 1.0.0) and the conversion of prom-client's
 * Prometheus-format output to OpenMetrics.
 */

export const ExpositionFormat = {
  prometheus: 'prometheus',
  openMetrics: 'openmetrics',
} as const;
export type ExpositionFormat = (typeof ExpositionFormat)[keyof typeof ExpositionFormat];

export const CONTENT_TYPES: Readonly<Record<ExpositionFormat, string>> = {
  prometheus: 'text/plain; version=0.0.4; charset=utf-8',
  openmetrics: 'application/openmetrics-text; version=1.0.0; charset=utf-8',
};

const NEEDS_ESCAPE = /[\\"\n]/;

/** Escapes a label value for both formats: backslash, double quote and line feed. */
export function escapeLabelValue(value: string): string {
  if (!NEEDS_ESCAPE.test(value)) return value;
  return value.replace(/[\\"\n]/g, (char) => (char === '\n' ? '\\n' : `\\${char}`));
}

/** `name="value",…` for parallel arrays of names and (unescaped) values. */
export function labelPairs(names: readonly string[], values: readonly string[]): string {
  let out = '';
  for (let i = 0; i < names.length; i++) {
    if (i > 0) out += ',';
    out += `${names[i]}="${escapeLabelValue(values[i] ?? '')}"`;
  }
  return out;
}

/**
 * A sample value. Integers print as integers; other numbers in plain decimal, as Go's
 * strconv.FormatFloat(f, 'f', -1, 64) does for Trivy-Operator's `vuln_score` label.
 */
export function formatNumber(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Infinity) return '+Inf';
  if (value === -Infinity) return '-Inf';
  const text = String(value);
  if (!text.includes('e')) return text;
  // Exponent notation only for very large or very small values; expand it.
  return Math.abs(value) >= 1 ? BigInt(Math.round(value)).toString() : value.toFixed(20).replace(/0+$/, '');
}

/**
 * HELP text escaping: backslash and line feed only, since the 0.0.4 parser rejects any other escape.
 * Our help texts contain no double quotes, which OpenMetrics would want escaped.
 */
function escapeHelp(help: string): string {
  return help.replace(/[\\\n]/g, (char) => (char === '\n' ? '\\n' : '\\\\'));
}

/** `# HELP` and `# TYPE` lines of a gauge family; identical in both formats. */
export function gaugeHeader(name: string, help: string): string {
  return `# HELP ${name} ${escapeHelp(help)}\n# TYPE ${name} gauge\n`;
}

/**
 * Go's cases.Title for a severity Trivy-Operator does not know: first letter of each word upper
 * case, the rest lower case ("NEGLIGIBLE" → "Negligible").
 */
export function titleCase(text: string): string {
  return text.toLowerCase().replace(/(^|[^\p{L}\p{N}'])(\p{L})/gu, (_, before: string, letter: string) => {
    return before + letter.toUpperCase();
  });
}

interface MediaRange {
  type: string;
  params: Map<string, string>;
  q: number;
}

function parseAccept(header: string): MediaRange[] {
  const ranges: MediaRange[] = [];
  for (const part of header.split(',')) {
    const [typePart, ...paramParts] = part.split(';');
    const type = (typePart ?? '').trim().toLowerCase();
    if (!type) continue;
    const params = new Map<string, string>();
    let q = 1;
    for (const param of paramParts) {
      const eq = param.indexOf('=');
      if (eq < 0) continue;
      const key = param.slice(0, eq).trim().toLowerCase();
      const value = param
        .slice(eq + 1)
        .trim()
        .replace(/^"|"$/g, '');
      if (key === 'q') {
        const parsed = Number(value);
        q = Number.isFinite(parsed) ? Math.min(Math.max(parsed, 0), 1) : 0;
      } else params.set(key, value);
    }
    ranges.push({ type, params, q });
  }
  return ranges;
}

const OPENMETRICS_VERSIONS = new Set(['1.0.0', '0.0.1']);

/**
 * Picks the format from an Accept header. OpenMetrics only when asked for by name (a version we
 * speak, or none) with a quality at least that of plain text; everything else, wildcards and
 * missing headers included, gets the Prometheus text format, which every scraper reads.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (!accept) return ExpositionFormat.prometheus;
  let openMetrics = 0;
  let text = 0;
  for (const range of parseAccept(accept)) {
    const version = range.params.get('version');
    if (range.type === 'application/openmetrics-text') {
      if (version === undefined || OPENMETRICS_VERSIONS.has(version))
        openMetrics = Math.max(openMetrics, range.q);
    } else if (range.type === 'text/plain' || range.type === 'text/*' || range.type === '*/*') {
      text = Math.max(text, range.q);
    }
  }
  return openMetrics > 0 && openMetrics >= text ? ExpositionFormat.openMetrics : ExpositionFormat.prometheus;
}

/**
 * Rewrites prom-client's Prometheus-format text as OpenMetrics (without `# EOF`): no blank lines,
 * counter families named without `_total` in HELP/TYPE while their samples keep it. Done here rather
 * than with prom-client's OpenMetrics mode, which renames the shared counter objects in place and so
 * breaks later Prometheus-format scrapes.
 */
export function promTextToOpenMetrics(text: string): string {
  const lines = text.split('\n').filter((line) => line !== '');
  const counters = new Set<string>();
  for (const line of lines) {
    const match = /^# TYPE (\S+) counter$/.exec(line);
    if (match?.[1]) counters.add(match[1]);
  }
  const out: string[] = [];
  for (const line of lines) {
    const meta = /^# (HELP|TYPE) (\S+)(.*)$/.exec(line);
    if (meta) {
      const [, keyword, name = '', rest] = meta;
      const family = counters.has(name) ? name.replace(/_total$/, '') : name;
      out.push(`# ${keyword} ${family}${rest}`);
      continue;
    }
    if (line.startsWith('#')) continue;
    const nameEnd = line.search(/[{ ]/);
    const name = nameEnd < 0 ? line : line.slice(0, nameEnd);
    // A counter registered without the suffix still needs `_total` on its samples in OpenMetrics.
    if (counters.has(name) && !name.endsWith('_total')) out.push(`${name}_total${line.slice(name.length)}`);
    else out.push(line);
  }
  return out.length > 0 ? `${out.join('\n')}\n` : '';
}

/** Whether an Accept-Encoding header admits gzip (`gzip`, `x-gzip` or `*` with a non-zero quality). */
export function acceptsGzip(header: string | undefined): boolean {
  if (!header) return false;
  let gzip: number | undefined;
  let wildcard: number | undefined;
  for (const part of header.split(',')) {
    const [codingPart, ...params] = part.split(';');
    const coding = (codingPart ?? '').trim().toLowerCase();
    let q = 1;
    for (const param of params) {
      const [key, value] = param.split('=').map((s) => s.trim());
      if (key?.toLowerCase() === 'q') q = Number(value) || 0;
    }
    if (coding === 'gzip' || coding === 'x-gzip') gzip = Math.max(gzip ?? 0, q);
    else if (coding === '*') wildcard = q;
  }
  return (gzip ?? wildcard ?? 0) > 0;
}
