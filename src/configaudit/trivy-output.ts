/**
 * Reads the JSON that `trivy config --format json` writes: one result per manifest file, each with
 * its misconfigurations (failed and, with --include-non-failures, passed checks). Read strictly:
 * anything we would have to guess about is an error naming what was wrong, never a silent gap.
 */
import { ErrorCodes, LookoutError } from '../errors/index.ts';
import type { Severity } from '../crds/index.ts';
import { SEVERITIES } from '../crds/index.ts';

/** One check evaluated on one manifest, as Trivy reports it. */
export interface TrivyMisconfiguration {
  /** Trivy's ID, e.g. `KSV-0017` (new style) or `KSV017` / a custom policy's own ID. */
  readonly id: string;
  /** Rego package, e.g. `builtin.kubernetes.KSV017` or `trivyoperator.team_label`. */
  readonly namespace: string;
  readonly title: string;
  readonly description: string;
  /** What failed, for this object; Trivy writes "No issues found" for a pass. */
  readonly message: string;
  readonly resolution: string;
  readonly severity: Severity;
  readonly status: 'PASS' | 'FAIL' | 'EXCEPTION';
}

const STATUSES = ['PASS', 'FAIL', 'EXCEPTION'] as const;

function invalid(message: string, details: Record<string, unknown> = {}): LookoutError {
  return new LookoutError(ErrorCodes.TRIVY_OUTPUT_INVALID, `trivy config output: ${message}`, { details });
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function text(item: Record<string, unknown>, key: string, where: string, required: boolean): string {
  const value = item[key];
  if (value === undefined || value === null) {
    if (required) throw invalid(`${where} has no ${key}`);
    return '';
  }
  if (typeof value !== 'string') throw invalid(`${where}: ${key} is not a string`);
  return value;
}

function misconfiguration(raw: unknown, where: string): TrivyMisconfiguration {
  if (!isObject(raw)) throw invalid(`${where} is not an object`);
  const id = text(raw, 'ID', where, true);
  const at = `${where} (${id})`;
  const severity = text(raw, 'Severity', at, true);
  if (!(SEVERITIES as readonly string[]).includes(severity))
    throw invalid(`${at}: unknown severity ${severity}`);
  const status = text(raw, 'Status', at, true);
  if (!(STATUSES as readonly string[]).includes(status)) throw invalid(`${at}: unknown status ${status}`);
  return {
    id,
    namespace: text(raw, 'Namespace', at, false),
    title: text(raw, 'Title', at, false),
    description: text(raw, 'Description', at, false),
    message: text(raw, 'Message', at, false),
    resolution: text(raw, 'Resolution', at, false),
    severity: severity as Severity,
    status: status as TrivyMisconfiguration['status'],
  };
}

/** The misconfigurations of one scanned file, from one element of `Results`. */
export function parseTrivyResult(raw: unknown, index: number): [string, TrivyMisconfiguration[]] {
  if (!isObject(raw)) throw invalid(`Results[${index}] is not an object`);
  const target = text(raw, 'Target', `Results[${index}]`, true);
  const items = raw.Misconfigurations ?? [];
  if (!Array.isArray(items)) throw invalid(`Results[${index}] (${target}): Misconfigurations is not a list`);
  return [
    target,
    items.map((item: unknown, i) => misconfiguration(item, `${target} Misconfigurations[${i}]`)),
  ];
}

/**
 * The misconfigurations per scanned file (the `Target`, relative to the scanned directory). A file
 * Trivy did not recognise as a Kubernetes manifest has no entry.
 */
export function parseTrivyConfigOutput(json: string): Map<string, TrivyMisconfiguration[]> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw invalid(`not JSON (${(err as Error).message})`, { bytes: json.length });
  }
  if (!isObject(parsed)) throw invalid('the top level is not an object');
  if (parsed.SchemaVersion !== 2) throw invalid(`unsupported SchemaVersion ${String(parsed.SchemaVersion)}`);
  const results = parsed.Results ?? [];
  if (!Array.isArray(results)) throw invalid('Results is not a list');
  const byTarget = new Map<string, TrivyMisconfiguration[]>();
  results.forEach((result: unknown, index) => {
    const [target, items] = parseTrivyResult(result, index);
    byTarget.set(target, [...(byTarget.get(target) ?? []), ...items]);
  });
  return byTarget;
}

/**
 * Reads the same JSON as it arrives, one `Results` element at a time, so that memory holds one
 * scanned file's findings and never the whole batch's text. Everything outside `Results` is kept
 * (it is small) and checked at the end as parseTrivyConfigOutput checks it.
 */
export async function* streamTrivyConfigOutput(
  chunks: AsyncIterable<Buffer | string>,
): AsyncGenerator<[string, TrivyMisconfiguration[]]> {
  const splitter = new ResultsSplitter();
  let index = 0;
  for await (const chunk of chunks) {
    for (const element of splitter.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8'))) {
      let raw: unknown;
      try {
        raw = JSON.parse(element);
      } catch (err) {
        throw invalid(`Results[${index}] is not JSON (${(err as Error).message})`);
      }
      yield parseTrivyResult(raw, index++);
    }
  }
  const rest = splitter.end();
  let parsed: unknown;
  try {
    parsed = JSON.parse(rest);
  } catch (err) {
    throw invalid(`not JSON (${(err as Error).message})`, { bytes: splitter.bytes });
  }
  if (!isObject(parsed)) throw invalid('the top level is not an object');
  if (parsed.SchemaVersion !== 2) throw invalid(`unsupported SchemaVersion ${String(parsed.SchemaVersion)}`);
  if (parsed.Results !== undefined && !Array.isArray(parsed.Results)) throw invalid('Results is not a list');
}

/**
 * Cuts the elements of the top-level `"Results": [...]` out of a JSON text given in pieces: a
 * scanner that tracks strings, escapes and nesting depth. What is not an element (the top-level
 * object with `"Results": []`) is returned by end() for the caller to check.
 */
class ResultsSplitter {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** The last top-level key seen, and whether we are inside the Results array. */
  private key = '';
  private keyStart = -1;
  private inResults = false;
  private outside = '';
  private element = '';
  bytes = 0;

  push(text: string): string[] {
    this.bytes += text.length;
    const done: string[] = [];
    let from = 0;
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) {
          this.inString = false;
          if (this.keyStart >= 0) {
            this.key = (this.outside + text.slice(from, i)).slice(this.keyStart);
            this.keyStart = -1;
          }
        }
        continue;
      }
      if (c === 0x22) {
        this.inString = true;
        if (this.depth === 1 && !this.inResults) this.keyStart = this.outside.length + (i - from) + 1;
      } else if (c === 0x7b || c === 0x5b) {
        if (this.inResults && this.depth === 2) {
          this.outside += text.slice(from, i);
          from = i;
        }
        this.depth += 1;
        if (this.depth === 2 && c === 0x5b && this.key === 'Results') this.inResults = true;
      } else if (c === 0x7d || c === 0x5d) {
        this.depth -= 1;
        if (this.inResults && this.depth === 2) {
          done.push(this.element + text.slice(from, i + 1));
          this.element = '';
          from = i + 1;
        } else if (this.inResults && this.depth === 1) {
          this.inResults = false;
        }
      } else if (this.inResults && this.depth === 2 && c === 0x2c) {
        // The comma between two elements belongs to neither.
        from = i + 1;
      }
    }
    if (this.inResults && this.depth > 2) this.element += text.slice(from);
    else this.outside += text.slice(from);
    return done;
  }

  end(): string {
    return this.outside;
  }
}
