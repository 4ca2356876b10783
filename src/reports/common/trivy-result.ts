/**
 * Strict reading of `trivy image --format json` output (report schema version 2). Only the fields the
 * reports use are kept (the rest, such as package lists and image config, is dropped early to save
 * memory); unknown fields are fine. Anything malformed is a TRIVY_OUTPUT_INVALID error that says what
 * is wrong and where, e.g. `Results[2].Vulnerabilities[5]: VulnerabilityID is missing`.
 */
import type { CvssScore } from '../../crds/index.ts';
import { ErrorCodes, LookoutError } from '../../errors/index.ts';

export const TRIVY_SCHEMA_VERSION = 2;

export interface TrivyOS {
  readonly family: string;
  readonly name: string;
  readonly eosl: boolean;
}

export interface TrivyMetadata {
  readonly os?: TrivyOS;
  readonly imageID?: string;
  readonly repoDigests: readonly string[];
  readonly repoTags: readonly string[];
}

export interface TrivyVulnerability {
  readonly vulnerabilityID: string;
  readonly pkgName: string;
  readonly pkgPath?: string;
  readonly purl?: string;
  readonly installedVersion: string;
  readonly fixedVersion: string;
  readonly status?: string;
  /** Trivy's own overall severity (the report's with `trivy.severitySource: trivy`; see vulnerabilitySeverity). */
  readonly severity?: string;
  readonly severitySource?: string;
  /** Vendor → Trivy's severity number (0 unknown … 4 critical). */
  readonly vendorSeverity: Readonly<Record<string, number>>;
  readonly primaryURL?: string;
  readonly title?: string;
  readonly description?: string;
  readonly references: readonly string[];
  readonly cvss: Readonly<Record<string, CvssScore>>;
  readonly publishedDate?: string;
  readonly lastModifiedDate?: string;
}

export interface TrivySecret {
  readonly ruleID: string;
  readonly category: string;
  readonly severity: string;
  readonly title: string;
  readonly match: string;
  readonly startLine?: number;
  readonly endLine?: number;
}

export interface TrivyTargetResult {
  readonly target: string;
  readonly class?: string;
  readonly type?: string;
  readonly vulnerabilities: readonly TrivyVulnerability[];
  readonly secrets: readonly TrivySecret[];
  /** How many packages Trivy listed (all of them with --list-all-pkgs); the list itself is dropped. */
  readonly packages: number;
}

/** The parts of one `trivy image` JSON report that the reports are built from. */
export interface TrivyImageResult {
  readonly schemaVersion: 2;
  readonly artifactName?: string;
  readonly artifactType?: string;
  readonly metadata: TrivyMetadata;
  readonly results: readonly TrivyTargetResult[];
}

// ---------------------------------------------------------------------------------------------------------
// Reading helpers: each takes the path of the value, so messages point at the offending field.
// ---------------------------------------------------------------------------------------------------------

type Json = Record<string, unknown>;

function fail(path: string, message: string): never {
  const where = path === '' ? '' : `${path}: `;
  throw new LookoutError(ErrorCodes.TRIVY_OUTPUT_INVALID, `Trivy output is invalid: ${where}${message}`, {
    details: { path: path || '<root>' },
  });
}

const at = (path: string, key: string): string => (path === '' ? key : `${path}.${key}`);

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  const text = JSON.stringify(value);
  return `${typeof value} ${text.length > 40 ? `${text.slice(0, 40)}…` : text}`;
}

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function object(value: unknown, path: string): Json {
  if (!isObject(value)) fail(path, `expected an object, got ${describe(value)}`);
  return value;
}

/** A required string member; `allowEmpty` false also rejects "". */
function requiredString(parent: Json, key: string, path: string, allowEmpty = false): string {
  const value = parent[key];
  if (value === undefined || value === null || (!allowEmpty && value === '')) fail(path, `${key} is missing`);
  if (typeof value !== 'string') fail(at(path, key), `expected a string, got ${describe(value)}`);
  return value;
}

/** An optional string member (absent or null = undefined). */
function optionalString(parent: Json, key: string, path: string): string | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') fail(at(path, key), `expected a string, got ${describe(value)}`);
  return value;
}

function optionalNumber(parent: Json, key: string, path: string): number | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    fail(at(path, key), `expected a number, got ${describe(value)}`);
  }
  return value;
}

function optionalBoolean(parent: Json, key: string, path: string): boolean | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') fail(at(path, key), `expected a boolean, got ${describe(value)}`);
  return value;
}

/** An optional array member (absent or null = empty: Go writes nil slices as null). */
function optionalArray(parent: Json, key: string, path: string): unknown[] {
  const value = parent[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) fail(at(path, key), `expected an array, got ${describe(value)}`);
  return value;
}

function stringArray(parent: Json, key: string, path: string): string[] {
  return optionalArray(parent, key, path).map((item, index) => {
    if (typeof item !== 'string')
      fail(`${at(path, key)}[${index}]`, `expected a string, got ${describe(item)}`);
    return item;
  });
}

function optionalObject(parent: Json, key: string, path: string): Json | undefined {
  const value = parent[key];
  if (value === undefined || value === null) return undefined;
  return object(value, at(path, key));
}

// ---------------------------------------------------------------------------------------------------------
// The report
// ---------------------------------------------------------------------------------------------------------

const CVSS_NUMBER_FIELDS = ['V2Score', 'V3Score', 'V40Score'] as const;
const CVSS_STRING_FIELDS = ['V2Vector', 'V3Vector', 'V40Vector'] as const;

function readCvss(parent: Json, path: string): Record<string, CvssScore> {
  const cvss = optionalObject(parent, 'CVSS', path);
  const result: Record<string, CvssScore> = {};
  if (!cvss) return result;
  for (const [source, value] of Object.entries(cvss)) {
    const sourcePath = at(at(path, 'CVSS'), source);
    const entry = object(value, sourcePath);
    const score: CvssScore = {};
    for (const field of CVSS_NUMBER_FIELDS) {
      const number = optionalNumber(entry, field, sourcePath);
      if (number !== undefined) score[field] = number;
    }
    for (const field of CVSS_STRING_FIELDS) {
      const text = optionalString(entry, field, sourcePath);
      if (text !== undefined) score[field] = text;
    }
    result[source] = score;
  }
  return result;
}

function readVendorSeverity(parent: Json, path: string): Record<string, number> {
  const vendors = optionalObject(parent, 'VendorSeverity', path);
  const result: Record<string, number> = {};
  for (const [vendor, value] of Object.entries(vendors ?? {})) {
    if (typeof value !== 'number' || !Number.isInteger(value)) {
      fail(at(at(path, 'VendorSeverity'), vendor), `expected an integer, got ${describe(value)}`);
    }
    result[vendor] = value;
  }
  return result;
}

function readVulnerability(value: unknown, path: string): TrivyVulnerability {
  const v = object(value, path);
  const identifier = optionalObject(v, 'PkgIdentifier', path);
  return {
    vulnerabilityID: requiredString(v, 'VulnerabilityID', path),
    pkgName: optionalString(v, 'PkgName', path) ?? '',
    pkgPath: optionalString(v, 'PkgPath', path),
    purl: identifier ? optionalString(identifier, 'PURL', at(path, 'PkgIdentifier')) : undefined,
    installedVersion: optionalString(v, 'InstalledVersion', path) ?? '',
    fixedVersion: optionalString(v, 'FixedVersion', path) ?? '',
    status: optionalString(v, 'Status', path),
    severity: optionalString(v, 'Severity', path),
    severitySource: optionalString(v, 'SeveritySource', path),
    vendorSeverity: readVendorSeverity(v, path),
    primaryURL: optionalString(v, 'PrimaryURL', path),
    title: optionalString(v, 'Title', path),
    description: optionalString(v, 'Description', path),
    references: stringArray(v, 'References', path),
    cvss: readCvss(v, path),
    publishedDate: optionalString(v, 'PublishedDate', path),
    lastModifiedDate: optionalString(v, 'LastModifiedDate', path),
  };
}

function readSecret(value: unknown, path: string): TrivySecret {
  const s = object(value, path);
  return {
    ruleID: requiredString(s, 'RuleID', path),
    category: optionalString(s, 'Category', path) ?? '',
    severity: optionalString(s, 'Severity', path) ?? '',
    title: optionalString(s, 'Title', path) ?? '',
    match: optionalString(s, 'Match', path) ?? '',
    startLine: optionalNumber(s, 'StartLine', path),
    endLine: optionalNumber(s, 'EndLine', path),
  };
}

function readResult(value: unknown, path: string): TrivyTargetResult {
  const r = object(value, path);
  return {
    target: requiredString(r, 'Target', path, true),
    class: optionalString(r, 'Class', path),
    type: optionalString(r, 'Type', path),
    vulnerabilities: optionalArray(r, 'Vulnerabilities', path).map((item, index) =>
      readVulnerability(item, `${path}.Vulnerabilities[${index}]`),
    ),
    secrets: optionalArray(r, 'Secrets', path).map((item, index) =>
      readSecret(item, `${path}.Secrets[${index}]`),
    ),
    packages: optionalArray(r, 'Packages', path).length,
  };
}

function readMetadata(root: Json): TrivyMetadata {
  const metadata = optionalObject(root, 'Metadata', '') ?? {};
  const os = optionalObject(metadata, 'OS', 'Metadata');
  return {
    os: os
      ? {
          family: optionalString(os, 'Family', 'Metadata.OS') ?? '',
          name: optionalString(os, 'Name', 'Metadata.OS') ?? '',
          eosl: optionalBoolean(os, 'EOSL', 'Metadata.OS') ?? false,
        }
      : undefined,
    imageID: optionalString(metadata, 'ImageID', 'Metadata'),
    repoDigests: stringArray(metadata, 'RepoDigests', 'Metadata'),
    repoTags: stringArray(metadata, 'RepoTags', 'Metadata'),
  };
}

function preview(text: string): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > 60 ? `${flat.slice(0, 60)}…` : flat;
}

/**
 * Reads the JSON report of `trivy image --format json` (text, or the value `JSON.parse` gave). Throws
 * a TRIVY_OUTPUT_INVALID {@link LookoutError} for anything that is not a schema-version-2 report with
 * well-typed fields; never anything else.
 */
export function parseTrivyImageResult(json: string | unknown): TrivyImageResult {
  let value: unknown = json;
  if (typeof json === 'string') {
    if (json.trim() === '') fail('', 'the output is empty');
    try {
      value = JSON.parse(json);
    } catch (err) {
      throw new LookoutError(
        ErrorCodes.TRIVY_OUTPUT_INVALID,
        `Trivy output is not JSON (${(err as Error).message}); it starts with: ${preview(json)}`,
        { cause: err, details: { path: '<root>' } },
      );
    }
  }
  const root = object(value, '');
  const schemaVersion = root.SchemaVersion;
  if (schemaVersion === undefined && typeof root.bomFormat === 'string') {
    fail('', `this is a ${root.bomFormat} SBOM, not Trivy's JSON report (--format json)`);
  }
  if (schemaVersion === undefined) fail('', 'SchemaVersion is missing');
  if (schemaVersion !== TRIVY_SCHEMA_VERSION) {
    fail('SchemaVersion', `expected ${TRIVY_SCHEMA_VERSION}, got ${describe(schemaVersion)}`);
  }
  return {
    schemaVersion: TRIVY_SCHEMA_VERSION,
    artifactName: optionalString(root, 'ArtifactName', ''),
    artifactType: optionalString(root, 'ArtifactType', ''),
    metadata: readMetadata(root),
    results: optionalArray(root, 'Results', '').map((item, index) => readResult(item, `Results[${index}]`)),
  };
}
