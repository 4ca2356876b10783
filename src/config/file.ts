/**
 * The optional YAML file: nested camelCase keys like Trivy-Operator's Helm values, so a chart can
 * render its values straight into a ConfigMap. Keys that are not settings are reported (with a
 * suggestion) because a misspelt key would otherwise silently fall back to the default.
 */
import yaml from 'js-yaml';
import { ErrorCodes, LookoutError } from '../errors/index.ts';
import { SETTINGS } from './settings.ts';
import type { ConfigProblem } from './types.ts';

export type ReadFile = (path: string, encoding: 'utf8') => string;

export interface ConfigFile {
  readonly path: string;
  /** Raw value per dotted key; keys set to YAML null are left out (null = not set, as in Helm). */
  readonly values: ReadonlyMap<string, unknown>;
  readonly problems: readonly ConfigProblem[];
}

const SETTING_KEYS: ReadonlySet<string> = new Set(Object.values(SETTINGS).map((spec) => spec.key));

/** Every proper prefix of a setting key ("trivy", "trivy.resources", …): these hold maps. */
const SECTIONS: ReadonlySet<string> = new Set(
  [...SETTING_KEYS].flatMap((key) => {
    const parts = key.split('.');
    return parts.slice(1).map((_, i) => parts.slice(0, i + 1).join('.'));
  }),
);

export function readConfigFile(path: string, readFile: ReadFile): ConfigFile {
  let document: unknown;
  try {
    document = yaml.load(readFile(path, 'utf8'), { filename: path });
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    throw new LookoutError(ErrorCodes.CONFIG_FILE, `cannot read config file ${path}: ${reason}`, {
      cause: err,
      details: { path },
    });
  }
  if (document === undefined || document === null) return { path, values: new Map(), problems: [] };
  if (!isMap(document)) {
    throw new LookoutError(ErrorCodes.CONFIG_FILE, `config file ${path} must hold a YAML map of settings`, {
      details: { path },
    });
  }
  const values = new Map<string, unknown>();
  const problems: ConfigProblem[] = [];
  collect(document, '', path, values, problems);
  return { path, values, problems };
}

function collect(
  map: Record<string, unknown>,
  prefix: string,
  path: string,
  values: Map<string, unknown>,
  problems: ConfigProblem[],
): void {
  for (const [name, value] of Object.entries(map)) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    if (SETTING_KEYS.has(key)) {
      if (value !== null && value !== undefined) values.set(key, value);
    } else if (SECTIONS.has(key)) {
      if (isMap(value)) collect(value, key, path, values, problems);
      else if (value !== null) problems.push(fileProblem(key, `${path}: ${key} must be a map of settings`));
    } else {
      problems.push(fileProblem(key, `${path}: unknown key ${key}${suggestion(key)}`));
    }
  }
}

function fileProblem(setting: string, message: string): ConfigProblem {
  return { setting, env: null, source: 'file', message };
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function suggestion(key: string): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const known of [...SETTING_KEYS, ...SECTIONS]) {
    const distance = editDistance(key.toLowerCase(), known.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [known, distance];
  }
  // Beyond a few edits the "closest" key is a guess that misleads more than it helps.
  return best !== undefined && bestDistance <= 3 ? ` (did you mean ${best}?)` : '';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
