/**
 * One parser per kind of setting. A parser takes a raw value — a string from the environment, or
 * whatever YAML produced (string, number, boolean, list, map) — and returns the typed value or the
 * text that completes "<setting>: <value> …" in the error message.
 */
import { validate as isCronExpression } from 'node-cron';
import { parseGoDuration } from './duration.ts';
import { HEADER_NAME, isHttpUrl } from './formats.ts';

export type Parsed<T> =
  { readonly ok: true; readonly value: T } | { readonly ok: false; readonly expected: string };

/**
 * JSON Schema of the Helm values a parser takes: the chart's values.schema.json is generated from
 * these (scripts/generate-chart-schema.ts), so Helm refuses a value early without ever refusing
 * one the operator would take. Patterns are written for both ECMA and RE2 (Helm's Go validator).
 */
export type ValueSchema = Readonly<Record<string, unknown>>;
export interface Parser<T> {
  (raw: unknown): Parsed<T>;
  readonly schema: ValueSchema;
}

/** A parser with the schema of the values it accepts. */
export function parser<T>(schema: ValueSchema, parse: (raw: unknown) => Parsed<T>): Parser<T> {
  return Object.assign(parse, { schema });
}

/** A regex alternative matching each word in any case, without (?i) (which ECMA lacks). */
export function anyCase(words: readonly string[]): string {
  const letters = (w: string) =>
    [...w]
      .map((c) =>
        c.toLowerCase() !== c.toUpperCase() ? `[${c.toUpperCase()}${c.toLowerCase()}]` : escapeRegex(c),
      )
      .join('');
  return `(?:${words.map(letters).join('|')})`;
}

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** The regex as a schema pattern, unless it uses what RE2 lacks (look-around, back-references). */
export function portablePattern(shape: RegExp): string | undefined {
  return /\(\?[=!<]|\\\d/.test(shape.source) ? undefined : shape.source;
}

const SCALAR = ['string', 'number', 'boolean'];
const NULL: ValueSchema = { type: 'null' };

export const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
export const fail = (expected: string): Parsed<never> => ({ ok: false, expected });

/** YAML scalars arrive typed, env values as strings; both become trimmed text. */
export function scalarText(raw: unknown): string | undefined {
  if (typeof raw === 'string') return raw.trim();
  if (typeof raw === 'number' || typeof raw === 'boolean') return String(raw);
  return undefined;
}

export function isBlank(raw: unknown): boolean {
  return raw === undefined || raw === null || (typeof raw === 'string' && raw.trim() === '');
}

function isPlainObject(raw: unknown): raw is Record<string, unknown> {
  return typeof raw === 'object' && raw !== null && !Array.isArray(raw);
}

/** Blank input becomes null; anything else goes to `parse`. For settings where "" means "off". */
export function optional<T>(parse: Parser<T>): Parser<T | null> {
  return parser({ anyOf: [parse.schema, NULL, { type: 'string', pattern: '^\\s*$' }] }, (raw) =>
    isBlank(raw) ? ok(null) : parse(raw),
  );
}

// Go's strconv.ParseBool spellings, since values rendered for Trivy-Operator use them.
const TRUE_WORDS = new Set(['true', 't', '1']);
const FALSE_WORDS = new Set(['false', 'f', '0']);

export const bool: Parser<boolean> = parser(
  {
    anyOf: [
      { type: 'boolean' },
      { type: 'integer', enum: [0, 1] },
      { type: 'string', pattern: `^\\s*${anyCase([...TRUE_WORDS, ...FALSE_WORDS])}\\s*$` },
    ],
  },
  (raw) => {
    const text = scalarText(raw)?.toLowerCase();
    if (text !== undefined && TRUE_WORDS.has(text)) return ok(true);
    if (text !== undefined && FALSE_WORDS.has(text)) return ok(false);
    return fail('is not true or false');
  },
);

export function integer(min: number, max: number): Parser<number> {
  const schema = {
    anyOf: [
      { type: 'integer', minimum: min, maximum: max },
      { type: 'string', pattern: '^\\s*\\d+\\s*$' },
    ],
  };
  return parser(schema, (raw) => {
    const text = scalarText(raw);
    if (text === undefined || !/^\d+$/.test(text)) return fail(`is not a whole number from ${min} to ${max}`);
    const value = Number(text);
    return value >= min && value <= max ? ok(value) : fail(`is not a whole number from ${min} to ${max}`);
  });
}

/** A positive Go duration, as milliseconds. */
const DURATION_PATTERN = '^\\s*[+]?(?:(?:\\d+(?:\\.\\d*)?|\\.\\d+)(?:ns|us|µs|μs|ms|s|m|h))+\\s*$';
export const duration: Parser<number> = parser({ type: 'string', pattern: DURATION_PATTERN }, (raw) => {
  const text = scalarText(raw);
  let ms: number;
  try {
    ms = parseGoDuration(text ?? '');
  } catch {
    return fail('is not a duration like 5m or 1h30m');
  }
  return ms > 0 ? ok(ms) : fail('is not a duration longer than 0s, like 5m or 1h30m');
});

export function oneOf<T extends string>(allowed: readonly T[]): Parser<T> {
  // The enum names the values in Helm's message; the pattern takes any case, as the parser does.
  const schema = { anyOf: [{ enum: allowed }, { type: 'string', pattern: `^\\s*${anyCase(allowed)}\\s*$` }] };
  return parser(schema, (raw) => {
    const text = scalarText(raw)?.toLowerCase();
    const match = allowed.find((value) => value.toLowerCase() === text);
    return match === undefined ? fail(`is not one of ${allowed.join(', ')}`) : ok(match);
  });
}

/** A string matching `shape`; `expected` describes the shape for the error message. */
export function matching(shape: RegExp, expected: string): Parser<string> {
  const pattern = portablePattern(shape);
  // Numbers pass: YAML reads `tag: 1` as one, and the parser takes its text. The value is trimmed.
  const schema = { type: ['string', 'number'], ...(pattern ? { pattern: `^\\s*(?:${pattern})\\s*$` } : {}) };
  return parser(schema, (raw) => {
    const text = scalarText(raw);
    return text !== undefined && shape.test(text) ? ok(text) : fail(expected);
  });
}

export const text: Parser<string> = parser({ type: SCALAR }, (raw) => {
  const value = scalarText(raw);
  return value === undefined ? fail('is not a string') : ok(value);
});

export const httpUrl: Parser<string> = parser(
  { type: 'string', pattern: '^\\s*[Hh][Tt][Tt][Pp][Ss]?://' },
  (raw) => {
    const value = scalarText(raw);
    return value !== undefined && isHttpUrl(value)
      ? ok(value)
      : fail('is not an http(s) URL like http://trivy-server.trivy-system:4954');
  },
);

export const cronExpression: Parser<string> = parser({ type: 'string' }, (raw) => {
  const value = scalarText(raw);
  return value !== undefined && isCronExpression(value)
    ? ok(value)
    : fail('is not a cron schedule like "0 * * * *" (minute hour day-of-month month day-of-week)');
});

/** Lines of a .trivyignore: one string, or a YAML list of lines as in Trivy-Operator's values. */
export const fileContent: Parser<string> = parser(
  { anyOf: [{ type: 'string' }, { type: 'array', items: { type: SCALAR } }] },
  (raw) => {
    if (Array.isArray(raw)) {
      const lines = raw.map(scalarText);
      return lines.every((line) => line !== undefined)
        ? ok(lines.join('\n'))
        : fail('is not a list of lines');
    }
    return typeof raw === 'string' ? ok(raw) : fail('is not text or a list of lines');
  },
);

/**
 * Entries of a list given as a YAML list, a comma-separated string, a JSON array, or a map whose
 * values are the entries (Trivy-Operator's `insecureRegistries: {name: host}` style).
 */
function listEntries(raw: unknown): string[] | undefined {
  let value = raw;
  if (typeof value === 'string' && /^\s*[[{]/.test(value)) value = parseJson(value);
  if (typeof value === 'string') return value.split(',').map((entry) => entry.trim());
  const items = Array.isArray(value) ? value : isPlainObject(value) ? Object.values(value) : undefined;
  if (items === undefined) return undefined;
  const entries = items.map(scalarText);
  return entries.every((entry) => entry !== undefined) ? entries : undefined;
}

/**
 * A de-duplicated list; `item` returns the normalised entry or undefined when it is invalid.
 * `expected` describes a valid list.
 */
export function listOf<T>(
  item: (entry: string) => T | undefined,
  expected: string,
  options: { minItems?: number; itemPattern?: string } = {},
): Parser<readonly T[]> {
  // Every form listEntries takes; with an item pattern, each entry of a list, a map or a string
  // (empty entries are dropped, as the parser drops them).
  const entry = options.itemPattern ? `\\s*${options.itemPattern}\\s*` : '[^,]*';
  const item$ = options.itemPattern ? { type: 'string', pattern: `^${entry}$` } : { type: SCALAR };
  const schema = {
    anyOf: [
      options.itemPattern
        ? { type: 'string', pattern: `^(?:\\s*[\\[{].*|(?:${entry})?(?:,(?:${entry})?)*)$` }
        : { type: 'string' },
      { type: 'array', items: item$ },
      { type: 'object', additionalProperties: item$ },
      NULL,
    ],
  };
  return parser(schema, (raw) => {
    const entries = listEntries(raw);
    if (entries === undefined) return fail(`is not a list; expected ${expected}`);
    const values: T[] = [];
    const invalid: string[] = [];
    for (const entry of entries.filter((e) => e !== '')) {
      const value = item(entry);
      if (value === undefined) invalid.push(entry);
      else if (!values.includes(value)) values.push(value);
    }
    if (invalid.length > 0) return fail(`contains ${invalid.map(quote).join(', ')}; expected ${expected}`);
    if (values.length < (options.minItems ?? 0)) return fail(`is empty; expected ${expected}`);
    return ok(values);
  });
}

/**
 * Key/value pairs given as a YAML map, a JSON object, or `k1<sep>v1,k2<sep>v2`. Messages name
 * keys only, never values, because headers may carry credentials.
 */
export function mapOf(
  separator: string,
  isValid: (key: string, value: string) => boolean,
  expected: string,
): Parser<Readonly<Record<string, string>>> {
  const schema = {
    anyOf: [{ type: 'string' }, { type: 'object', additionalProperties: { type: SCALAR } }, NULL],
  };
  return parser(schema, (raw) => {
    const pairs = mapEntries(raw, separator);
    if (pairs === undefined) return fail(`is not ${expected}`);
    const badKeys = pairs.filter(([key, value]) => !isValid(key, value)).map(([key]) => key);
    if (badKeys.length > 0)
      return fail(`has invalid entries for ${badKeys.map(quote).join(', ')}; expected ${expected}`);
    return ok(Object.fromEntries(pairs));
  });
}

function mapEntries(raw: unknown, separator: string): [string, string][] | undefined {
  let value = raw;
  if (typeof value === 'string' && value.trim().startsWith('{')) value = parseJson(value);
  if (typeof value === 'string') {
    const pairs: [string, string][] = [];
    for (const entry of value.split(',').filter((e) => e.trim() !== '')) {
      const at = entry.indexOf(separator);
      if (at < 0) return undefined;
      pairs.push([entry.slice(0, at).trim(), entry.slice(at + separator.length).trim()]);
    }
    return pairs;
  }
  if (!isPlainObject(value)) return undefined;
  const pairs = Object.entries(value).map(([key, v]) => [key.trim(), scalarText(v)] as const);
  return pairs.every((pair): pair is [string, string] => pair[1] !== undefined) ? pairs : undefined;
}

/**
 * Deadlines per severity, `CRITICAL=7d,HIGH=30d` (or a map), as milliseconds. Values are Go
 * durations or whole days (`7d`): deadlines are counted in days, which Go's syntax lacks.
 */
export function severityDeadlines<S extends string>(
  severities: readonly S[],
): Parser<Readonly<Partial<Record<S, number>>>> {
  const expected = `SEVERITY=duration pairs like CRITICAL=7d,HIGH=30d (severities ${severities.join(', ')}; durations like 7d, 36h or 90m)`;
  const pairs = mapOf(
    '=',
    (key, value) => severityOf(key) !== undefined && deadlineMs(value) !== undefined,
    expected,
  );
  const severityOf = (key: string) => severities.find((s) => s.toLowerCase() === key.toLowerCase());
  return parser(pairs.schema, (raw) => {
    const parsed = pairs(raw);
    if (!parsed.ok) return parsed;
    const out: Partial<Record<S, number>> = {};
    for (const [key, value] of Object.entries(parsed.value))
      out[severityOf(key) as S] = deadlineMs(value) as number;
    return ok(out);
  });
}

function deadlineMs(text: string): number | undefined {
  const days = /^(\d+)d$/.exec(text.trim());
  if (days) return Number(days[1]) > 0 ? Number(days[1]) * 86_400_000 : undefined;
  try {
    const ms = parseGoDuration(text.trim());
    return ms > 0 ? ms : undefined;
  } catch {
    return undefined;
  }
}

export const headers: Parser<Readonly<Record<string, string>>> = mapOf(
  ':',
  (name, value) => HEADER_NAME.test(name) && value !== '',
  'a comma-separated list of Name:value headers like X-Api-Key:abc,X-Team:sec',
);

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function quote(value: string): string {
  return JSON.stringify(value);
}

/** Go listen-address forms Trivy-Operator uses (":8080", "0.0.0.0:8080", "[::1]:8080") or a bare port. */
export const bindAddress: Parser<{ host: string; port: number }> = parser(
  { type: ['string', 'integer'] },
  (raw) => {
    const value = scalarText(raw) ?? '';
    const match = /^(?:(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]*):)?(\d{1,5})$/.exec(value);
    const port = Number(match?.[2]);
    if (match === null || port < 1 || port > 65535)
      return fail('is not a listen address like :8080 or 0.0.0.0:8080');
    return ok({ host: (match[1] ?? '').replace(/^\[|\]$/g, ''), port });
  },
);

/**
 * namespace → Secret names, as Trivy-Operator's `privateRegistryScanSecretsNames`: a YAML map or
 * the JSON its chart renders (`{"team-a":"regcred,other"}`); values may also be lists.
 */
export function secretNamesByNamespace(
  isNamespace: (name: string) => boolean,
  isSecretName: (name: string) => boolean,
): Parser<Readonly<Record<string, readonly string[]>>> {
  const expected = 'a map of namespace to Secret names like {"team-a":"regcred,other"}';
  const names = listOf((entry) => (isSecretName(entry) ? entry : undefined), 'Secret names');
  const schema = {
    anyOf: [{ type: 'string' }, { type: 'object', additionalProperties: names.schema }, NULL],
  };
  return parser(schema, (raw) => {
    if (isBlank(raw)) return ok({});
    const value = typeof raw === 'string' ? parseJson(raw) : raw;
    if (!isPlainObject(value)) return fail(`is not ${expected}`);
    const result: [string, readonly string[]][] = [];
    for (const [namespace, secrets] of Object.entries(value)) {
      const parsed = names(secrets);
      if (!isNamespace(namespace) || !parsed.ok)
        return fail(`has an invalid entry for ${quote(namespace)}; expected ${expected}`);
      result.push([namespace, parsed.value]);
    }
    return ok(Object.fromEntries(result));
  });
}

/** A scan pod toleration, as Kubernetes takes it. */
export interface Toleration {
  readonly key?: string;
  readonly operator?: 'Exists' | 'Equal';
  readonly value?: string;
  readonly effect?: 'NoSchedule' | 'PreferNoSchedule' | 'NoExecute';
  readonly tolerationSeconds?: number;
}

const TOLERATION_FIELDS = new Set(['key', 'operator', 'value', 'effect', 'tolerationSeconds']);

/** Tolerations as Trivy-Operator's `scanJobTolerations` takes them: a YAML list or its JSON. */
const TOLERATION_SCHEMA = {
  type: 'object',
  additionalProperties: false,
  properties: {
    key: { type: 'string' },
    operator: { enum: ['Exists', 'Equal'] },
    value: { type: 'string' },
    effect: { enum: ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] },
    tolerationSeconds: { type: 'integer' },
  },
};
export const tolerations: Parser<readonly Toleration[]> = parser(
  { anyOf: [{ type: 'array', items: TOLERATION_SCHEMA }, { type: 'string' }, NULL] },
  (raw) => {
    if (isBlank(raw)) return ok([]);
    const value = typeof raw === 'string' ? parseJson(raw) : raw;
    const expected =
      'a list of tolerations like [{"key":"dedicated","operator":"Equal","value":"scan","effect":"NoSchedule"}]';
    if (!Array.isArray(value)) return fail(`is not ${expected}`);
    for (const item of value) {
      if (!isPlainObject(item) || Object.keys(item).some((k) => !TOLERATION_FIELDS.has(k)))
        return fail(`is not ${expected}`);
      if (item.operator !== undefined && item.operator !== 'Exists' && item.operator !== 'Equal') {
        return fail(`has operator ${quote(String(item.operator))}; expected Exists or Equal`);
      }
      if (
        item.effect !== undefined &&
        !['NoSchedule', 'PreferNoSchedule', 'NoExecute'].includes(String(item.effect))
      ) {
        return fail(
          `has effect ${quote(String(item.effect))}; expected NoSchedule, PreferNoSchedule or NoExecute`,
        );
      }
    }
    return ok(value as Toleration[]);
  },
);

/** Top-level fields of a Kubernetes structure that a setting takes whole (affinity, security context…). */
export interface KubeShape {
  /** What it is, for messages: "an affinity". */
  readonly what: string;
  readonly fields: readonly string[];
  readonly required?: readonly string[];
  /** Besides `fields`, any one other field is allowed (a volume's source: emptyDir, hostPath…). */
  readonly openSource?: boolean;
  readonly example: string;
}

/**
 * Field names in their API spelling. Trivy-Operator decodes these settings with Go's JSON, which
 * matches field names in any case, so its values file may say `RunAsUser`; those are respelt here.
 * Only the top level is checked: the API server validates the rest when the Job is created.
 */
function kubeFields(raw: unknown, shape: KubeShape): Record<string, unknown> | string {
  if (!isPlainObject(raw)) return `is not ${shape.what} like ${shape.example}`;
  const byLower = new Map(shape.fields.map((f) => [f.toLowerCase(), f]));
  const out: Record<string, unknown> = {};
  let sources = 0;
  for (const [key, value] of Object.entries(raw)) {
    const field = byLower.get(key.toLowerCase());
    if (field === undefined && !shape.openSource)
      return `has the unknown field ${quote(key)}; ${shape.what} has ${shape.fields.join(', ')}`;
    if (field === undefined) sources += 1;
    out[field ?? key] = value;
  }
  const missing = (shape.required ?? []).filter((f) => out[f] === undefined || out[f] === '');
  if (missing.length > 0)
    return `lacks ${missing.join(' and ')}; expected ${shape.what} like ${shape.example}`;
  if (shape.openSource && sources !== 1)
    return `names ${sources === 0 ? 'no' : 'more than one'} source; expected ${shape.what} like ${shape.example}`;
  return out;
}

/** One structure as a YAML map or JSON text; blank or `{}` (Trivy-Operator's default) is none. */
export function kubeObject<T>(shape: KubeShape): Parser<T | null> {
  return parser(
    { anyOf: [{ type: 'object' }, { type: 'string' }, { type: 'array', maxItems: 0 }, NULL] },
    (raw) => {
      if (isBlank(raw)) return ok(null);
      const value = typeof raw === 'string' ? parseJson(raw) : raw;
      if (
        (Array.isArray(value) && value.length === 0) ||
        (isPlainObject(value) && Object.keys(value).length === 0)
      )
        return ok(null);
      const fields = kubeFields(value, shape);
      return typeof fields === 'string' ? fail(fields) : ok(fields as T);
    },
  );
}

/** A list of structures as YAML or JSON text; names must be unique. Blank is an empty list. */
export function kubeList<T>(shape: KubeShape): Parser<readonly T[]> {
  return parser(
    { anyOf: [{ type: 'array', items: { type: 'object' } }, { type: 'string' }, NULL] },
    (raw) => {
      if (isBlank(raw)) return ok([]);
      const value = typeof raw === 'string' ? parseJson(raw) : raw;
      if (!Array.isArray(value))
        return fail(`is not a list of ${shape.what.replace(/^an? /, '')}s like [${shape.example}]`);
      const items: T[] = [];
      for (const [i, item] of value.entries()) {
        const fields = kubeFields(item, shape);
        if (typeof fields === 'string') return fail(`item ${i + 1} ${fields}`);
        items.push(fields as T);
      }
      return ok(items);
    },
  );
}
