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
    if (!isObject(result)) throw invalid(`Results[${index}] is not an object`);
    const target = text(result, 'Target', `Results[${index}]`, true);
    const items = result.Misconfigurations ?? [];
    if (!Array.isArray(items))
      throw invalid(`Results[${index}] (${target}): Misconfigurations is not a list`);
    const list = byTarget.get(target) ?? [];
    items.forEach((item: unknown, i) =>
      list.push(misconfiguration(item, `${target} Misconfigurations[${i}]`)),
    );
    byTarget.set(target, list);
  });
  return byTarget;
}
