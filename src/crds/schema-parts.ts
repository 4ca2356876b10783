/**
 * Reusable pieces of the report schemas. The twelve CRDs in `./definitions.ts` are assembled from these,
 * so a field is described once, whichever reports carry it.
 */
import { SEVERITIES } from './types.ts';
import type { JsonSchema } from './schema.ts';
import { bool, dateTime, int, list, map, num, obj, oneOf, str, strList } from './schema.ts';

// ---------------------------------------------------------------------------------------------------------
// Common report fields
// ---------------------------------------------------------------------------------------------------------

export const updateTimestamp = (): JsonSchema => dateTime('When the report was last written (UTC).');

export const scanner = (): JsonSchema =>
  obj(
    {
      name: str('Scanner name, e.g. Trivy.'),
      vendor: str('Who provides the scanner.'),
      version: str('Scanner version.'),
    },
    { description: 'The tool that produced the report.', required: ['name', 'vendor', 'version'] },
  );

export const registry = (): JsonSchema =>
  obj(
    { server: str('Registry host, e.g. index.docker.io.') },
    { description: 'Registry the image came from.' },
  );

export const artifact = (): JsonSchema =>
  obj(
    {
      repository: str('Repository of the image within its registry.'),
      digest: str('Content digest of the image.'),
      tag: str('Image tag.'),
      mimeType: str('Media type of the artifact.'),
    },
    { description: 'The scanned container image.' },
  );

export const operatingSystem = (): JsonSchema =>
  obj(
    {
      family: str('OS family, e.g. debian or alpine.'),
      name: str('OS release.'),
      eosl: bool('True when the release no longer gets security fixes.'),
    },
    { description: 'Operating system detected in the image.' },
  );

/** Severity of a finding; `levels` narrows the allowed values (secret findings have no UNKNOWN). */
export const severity = (levels: readonly string[] = SEVERITIES): JsonSchema =>
  oneOf(levels, 'Severity of the finding.');

// ---------------------------------------------------------------------------------------------------------
// Summaries
// ---------------------------------------------------------------------------------------------------------

export interface SummaryOptions {
  description: string;
  /** Severities to count; each becomes a required `<level>Count` property. */
  levels: readonly string[];
  /** Reject negative counts. */
  nonNegative: boolean;
  /** Also count packages without findings (`noneCount`, optional). */
  withNone?: boolean;
}

const countField = (level: string): string => `${level.toLowerCase()}Count`;

export function severitySummary(options: SummaryOptions): JsonSchema {
  const count = (what: string): JsonSchema =>
    int(`Number of ${what}.`, options.nonNegative ? { minimum: 0 } : undefined);
  const properties: Record<string, JsonSchema> = Object.fromEntries(
    options.levels.map((level) => [countField(level), count(`${level.toLowerCase()} severity findings`)]),
  );
  if (options.withNone) properties.noneCount = count('packages without findings');
  return obj(properties, { description: options.description, required: options.levels.map(countField) });
}

// ---------------------------------------------------------------------------------------------------------
// Vulnerabilities and secrets
// ---------------------------------------------------------------------------------------------------------

const cvssScore = (): JsonSchema =>
  obj({
    V2Score: num(),
    V2Vector: str(),
    V3Score: num(),
    V3Vector: str(),
    V40Score: num(),
    V40Vector: str(),
  });

export const vulnerability = (): JsonSchema =>
  obj(
    {
      vulnerabilityID: str('Identifier of the vulnerability, e.g. a CVE ID.'),
      resource: str('Affected package or library.'),
      installedVersion: str('Version found in the image.'),
      fixedVersion: str('First version with a fix; empty when none is known.'),
      publishedDate: str('When the vulnerability was published.'),
      lastModifiedDate: str('When the vulnerability record last changed.'),
      severity: severity(),
      title: str(),
      description: str(),
      primaryLink: str(),
      links: strList(),
      score: num(),
      target: str(),
      class: str(),
      packageType: str(),
      packagePath: str(),
      packagePURL: str(),
      cvss: map(cvssScore()),
      cvsssource: str(),
    },
    {
      description: 'One vulnerable package.',
      required: [
        'vulnerabilityID',
        'resource',
        'installedVersion',
        'fixedVersion',
        'publishedDate',
        'lastModifiedDate',
        'severity',
        'title',
      ],
    },
  );

export const exposedSecret = (): JsonSchema =>
  obj(
    {
      target: str('File in the image holding the secret.'),
      ruleID: str('Rule that matched.'),
      title: str('Rule title.'),
      category: str('Kind of secret, e.g. AWS.'),
      severity: severity(SEVERITIES.filter((level) => level !== 'UNKNOWN')),
      match: str('The matching line, with the secret masked.'),
    },
    {
      description: 'One secret found in the image.',
      required: ['target', 'ruleID', 'title', 'category', 'severity', 'match'],
    },
  );

// ---------------------------------------------------------------------------------------------------------
// Checks (config audit, RBAC, infra, compliance detail)
// ---------------------------------------------------------------------------------------------------------

const checkResultFields = (): Record<string, JsonSchema> => ({
  checkID: str('Identifier of the check.'),
  title: str(),
  description: str(),
  severity: str('Severity of the check.'),
  category: str(),
  messages: strList('What the check found.'),
  remediation: str('How to fix a failure.'),
  success: bool('True when the check passed.'),
});

const checkRequired = ['checkID', 'severity', 'success'];

/** A check as listed in config-audit, RBAC and infra reports. */
export const check = (): JsonSchema =>
  obj(
    {
      ...checkResultFields(),
      scope: obj(
        { type: str('What the value refers to, e.g. Container.'), value: str() },
        { description: 'Part of the object the check applies to.', required: ['type', 'value'] },
      ),
    },
    { description: 'Result of one check.', required: checkRequired },
  );

/** A check as listed in a compliance detail report. */
export const complianceCheck = (): JsonSchema =>
  obj(
    { ...checkResultFields(), target: str('Object the check ran against.') },
    { description: 'Result of one check.', required: checkRequired },
  );

export const checkList = (): JsonSchema => list(check(), 'Results of the checks that ran.');

/** Failed checks per severity, as in config-audit, RBAC and infra reports (no lower bound on counts). */
export const checkSummary = (): JsonSchema =>
  severitySummary({
    description: 'Failed checks per severity.',
    levels: SEVERITIES.filter((level) => level !== 'UNKNOWN'),
    nonNegative: false,
  });

// ---------------------------------------------------------------------------------------------------------
// CycloneDX BOM
// ---------------------------------------------------------------------------------------------------------

const bomComponent = (description?: string): JsonSchema =>
  obj(
    {
      'bom-ref': str(),
      type: str(),
      name: str(),
      group: str(),
      version: str(),
      purl: str('Package URL.'),
      supplier: obj({
        name: str(),
        url: strList(),
        contact: list(obj({ name: str(), email: str(), phone: str() })),
      }),
      hashes: list(obj({ alg: str(), content: str() })),
      licenses: list(obj({ license: obj({ id: str(), name: str(), url: str() }), expression: str() })),
      properties: list(obj({ name: str(), value: str() })),
    },
    { description },
  );

export const bom = (): JsonSchema =>
  obj(
    {
      bomFormat: str('Always CycloneDX.'),
      specVersion: str('CycloneDX specification version.'),
      serialNumber: str(),
      version: int(),
      metadata: obj({
        timestamp: str(),
        tools: obj({ components: list(bomComponent()) }),
        component: bomComponent('The image the BOM describes.'),
      }),
      components: list(bomComponent(), 'Packages found in the image.'),
      dependencies: list(obj({ ref: str(), dependsOn: strList() }), 'Which component depends on which.'),
    },
    { description: 'Software bill of materials in CycloneDX form.', required: ['bomFormat', 'specVersion'] },
  );

export const sbomSummary = (): JsonSchema =>
  obj(
    {
      componentsCount: int('Number of components in the BOM.', { minimum: 0 }),
      dependenciesCount: int('Number of dependency entries in the BOM.', { minimum: 0 }),
    },
    { description: 'Size of the BOM.', required: ['componentsCount', 'dependenciesCount'] },
  );

// ---------------------------------------------------------------------------------------------------------
// Compliance
// ---------------------------------------------------------------------------------------------------------

/**
 * Five-field cron expression as Trivy-Operator's CRD accepts it. The expression is a compatibility
 * contract: it is reproduced as is, including its quirks (for instance the month names accept `okt`).
 */
const CRON_FIELD = {
  minute: String.raw`((([\*]{1}){1})|((\*\/){0,1}(([0-9]{1}){1}|(([1-5]{1}){1}([0-9]{1}){1}){1})))`,
  hour: String.raw`((([\*]{1}){1})|((\*\/){0,1}(([0-9]{1}){1}|(([1]{1}){1}([0-9]{1}){1}){1}|([2]{1}){1}([0-3]{1}){1})))`,
  dayOfMonth: String.raw`((([\*]{1}){1})|((\*\/){0,1}(([1-9]{1}){1}|(([1-2]{1}){1}([0-9]{1}){1}){1}|([3]{1}){1}([0-1]{1}){1})))`,
  month: String.raw`((([\*]{1}){1})|((\*\/){0,1}(([1-9]{1}){1}|(([1-2]{1}){1}([0-9]{1}){1}){1}|([3]{1}){1}([0-1]{1}){1}))|(jan|feb|mar|apr|may|jun|jul|aug|sep|okt|nov|dec))`,
  dayOfWeek: String.raw`((([\*]{1}){1})|((\*\/){0,1}(([0-7]{1}){1}))|(sun|mon|tue|wed|thu|fri|sat))`,
};
export const CRON_PATTERN = `^(${[
  CRON_FIELD.minute,
  CRON_FIELD.hour,
  CRON_FIELD.dayOfMonth,
  CRON_FIELD.month,
  CRON_FIELD.dayOfWeek,
].join(' ')})$`;

const idRef = (): JsonSchema => obj({ id: str() }, { required: ['id'] });

const complianceControl = (): JsonSchema =>
  obj(
    {
      id: str('Control identifier, e.g. 1.2.1.'),
      name: str(),
      description: str(),
      checks: list(idRef(), 'Checks that decide the control.'),
      commands: list(idRef(), 'Node commands the control needs.'),
      severity: severity(),
      defaultStatus: oneOf(['PASS', 'WARN', 'FAIL'], 'Status used when no check covers the control.'),
    },
    { description: 'One control of the standard.', required: ['id', 'name', 'severity'] },
  );

export const complianceSpec = (): JsonSchema =>
  obj(
    {
      cron: str('When to evaluate the standard (cron syntax).', { pattern: CRON_PATTERN }),
      reportType: oneOf(['summary', 'all'], 'summary keeps counts per control; all also keeps each check.'),
      compliance: obj(
        {
          id: str(),
          title: str(),
          description: str(),
          version: str(),
          relatedResources: strList(),
          platform: str(),
          type: str(),
          controls: list(complianceControl()),
        },
        {
          description: 'The standard: its identity and controls.',
          required: [
            'id',
            'title',
            'description',
            'version',
            'relatedResources',
            'platform',
            'type',
            'controls',
          ],
        },
      ),
    },
    {
      description: 'Which standard to evaluate, and how often.',
      required: ['cron', 'reportType', 'compliance'],
    },
  );

export const complianceStatus = (): JsonSchema =>
  obj(
    {
      updateTimestamp: updateTimestamp(),
      summary: obj(
        { failCount: int('Controls that failed.'), passCount: int('Controls that passed.') },
        { description: 'Control counts.' },
      ),
      summaryReport: obj(
        {
          id: str(),
          title: str(),
          controlCheck: list(obj({ id: str(), name: str(), severity: str(), totalFail: int() })),
        },
        { description: 'Failed checks per control.', preserveUnknownFields: true },
      ),
      detailReport: obj(
        {
          id: str(),
          title: str(),
          description: str(),
          version: str(),
          relatedVersion: strList(),
          results: list(
            obj(
              {
                id: str(),
                name: str(),
                description: str(),
                status: str(),
                severity: str(),
                checks: list(complianceCheck()),
              },
              { required: ['checks'] },
            ),
          ),
        },
        { description: 'Every check of every control.', preserveUnknownFields: true },
      ),
    },
    { description: 'Outcome of the latest evaluation.', required: ['updateTimestamp'] },
  );

// ---------------------------------------------------------------------------------------------------------
// Whole objects
// ---------------------------------------------------------------------------------------------------------

export interface RootOptions {
  description: string;
  /** Top-level fields besides apiVersion, kind and metadata. */
  fields: Record<string, JsonSchema>;
  required?: readonly string[];
  preserveUnknownFields: boolean;
}

/** The root schema of a custom resource. */
export const resourceRoot = (options: RootOptions): JsonSchema =>
  obj(
    {
      apiVersion: str('API group and version of the object.'),
      kind: str('Kind of the object.'),
      metadata: { type: 'object' },
      ...options.fields,
    },
    {
      description: options.description,
      required: options.required,
      preserveUnknownFields: options.preserveUnknownFields,
    },
  );

/** The root schema of a report custom resource: its data lives under the required `report` field. */
export const reportRoot = (
  description: string,
  report: JsonSchema,
  preserveUnknownFields = true,
): JsonSchema =>
  resourceRoot({ description, fields: { report }, required: ['report'], preserveUnknownFields });
