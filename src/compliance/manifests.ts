/**
 * ClusterComplianceReport manifests made from the compliance specs Trivy maintains in its
 * trivy-checks module (pkg/compliance/*.yaml), in the form Trivy-Operator's chart ships them: the
 * spec under `spec.compliance`, check IDs spelled `AVD-KSV-0017`, with `spec.cron` and
 * `spec.reportType` added. Used by scripts/generate-compliance-specs.ts for the chart templates and
 * the plain manifests in deploy/compliance/; pure, so the unit tests check the conversion.
 */
import yaml from 'js-yaml';
import {
  API_GROUP_VERSION,
  SEVERITIES,
  type ComplianceControl,
  type ComplianceReportType,
  type ComplianceSpec,
  type ControlDefaultStatus,
  type Severity,
} from '../crds/index.ts';
import { avdCheckId } from './check-id.ts';

/** The trivy-checks version Trivy v0.74.0 pins; the specs are taken from it. */
export const TRIVY_CHECKS_MODULE = 'github.com/aquasecurity/trivy-checks';
export const TRIVY_CHECKS_VERSION = 'v1.12.2-0.20251219190323-79d27547baf5';

/** The specs shipped, as Trivy-Operator ships them by default. */
export const SHIPPED_SPECS = [
  'k8s-cis-1.23',
  'k8s-nsa-1.0',
  'k8s-pss-baseline-0.1',
  'k8s-pss-restricted-0.1',
] as const;
export type ShippedSpec = (typeof SHIPPED_SPECS)[number];

/** Trivy-Operator's chart defaults (`compliance.cron`, `compliance.reportType`). */
export const DEFAULT_COMPLIANCE_CRON = '0 */6 * * *';
export const DEFAULT_COMPLIANCE_REPORT_TYPE: ComplianceReportType = 'summary';

export interface ComplianceManifest {
  apiVersion: typeof API_GROUP_VERSION;
  kind: 'ClusterComplianceReport';
  metadata: { name: string; labels?: Record<string, string> };
  spec: { cron: string; reportType: ComplianceReportType; compliance: ComplianceSpec };
}

type Obj = Record<string, unknown>;
const isObj = (value: unknown): value is Obj =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const CHECK_ID = /^(?:AVD-)?[A-Z]+-?\d+$/;
const COMMAND_ID = /^CMD-\d+$/;
const DEFAULT_STATUSES: readonly ControlDefaultStatus[] = ['PASS', 'WARN', 'FAIL'];

/**
 * Reads one upstream spec file strictly: anything the CRD would not accept, or that this converter
 * does not understand, is an error naming the field, so an upstream change is noticed at generation
 * time rather than by users.
 */
export function parseUpstreamSpec(source: string, file: string): ComplianceSpec {
  const fail = (message: string): never => {
    throw new Error(`${file}: ${message}`);
  };
  const doc: unknown = yaml.load(source);
  const spec = isObj(doc) && isObj(doc.spec) ? doc.spec : fail('no spec: mapping');
  const str = (value: unknown, at: string, required = true): string => {
    if (value === undefined || value === null) return required ? fail(`${at} is missing`) : '';
    if (typeof value !== 'string' && typeof value !== 'number') return fail(`${at} is not a string`);
    // Upstream has stray trailing spaces; they would end up in metric labels.
    return String(value).replace(/\s+/g, ' ').trim();
  };

  const rawControls = Array.isArray(spec.controls) ? spec.controls : fail('spec.controls is not a list');
  const seen = new Set<string>();
  const controls = rawControls.map((raw: unknown, index: number): ComplianceControl => {
    const at = `spec.controls[${index}]`;
    if (!isObj(raw)) return fail(`${at} is not a mapping`);
    const id = str(raw.id, `${at}.id`);
    if (seen.has(id)) fail(`${at}.id ${id} is repeated`);
    seen.add(id);
    const severity = str(raw.severity, `${at}.severity`);
    if (!(SEVERITIES as readonly string[]).includes(severity)) fail(`${at}.severity ${severity} is unknown`);
    const ids = (list: unknown, what: string, pattern: RegExp): { id: string }[] => {
      if (list === undefined || list === null) return [];
      if (!Array.isArray(list)) return fail(`${at}.${what} is not a list`);
      return list.map((entry: unknown, i: number) => {
        const value = str(isObj(entry) ? entry.id : undefined, `${at}.${what}[${i}].id`);
        if (!pattern.test(value)) fail(`${at}.${what}[${i}].id ${value} is not a known ID form`);
        return { id: value };
      });
    };
    const checks = ids(raw.checks, 'checks', CHECK_ID).map(({ id: checkId }) => ({
      id: avdCheckId(checkId),
    }));
    const commands = ids(raw.commands, 'commands', COMMAND_ID);
    const defaultStatus = str(raw.defaultStatus, `${at}.defaultStatus`, false);
    if (defaultStatus && !(DEFAULT_STATUSES as readonly string[]).includes(defaultStatus)) {
      fail(`${at}.defaultStatus ${defaultStatus} is unknown`);
    }
    const description = str(raw.description, `${at}.description`, false);
    return {
      id,
      name: str(raw.name, `${at}.name`),
      ...(description ? { description } : {}),
      ...(checks.length ? { checks } : {}),
      ...(commands.length ? { commands } : {}),
      severity: severity as Severity,
      ...(defaultStatus ? { defaultStatus: defaultStatus as ControlDefaultStatus } : {}),
    };
  });

  const related = spec.relatedResources;
  if (related !== undefined && !Array.isArray(related)) fail('spec.relatedResources is not a list');
  return {
    id: str(spec.id, 'spec.id'),
    title: str(spec.title, 'spec.title'),
    description: str(spec.description, 'spec.description'),
    version: str(spec.version, 'spec.version'),
    platform: str(spec.platform, 'spec.platform'),
    type: str(spec.type, 'spec.type'),
    relatedResources: ((related as unknown[] | undefined) ?? []).map((entry, i) =>
      str(entry, `spec.relatedResources[${i}]`),
    ),
    controls,
  };
}

export function complianceManifest(
  spec: ComplianceSpec,
  options: { cron: string; reportType: ComplianceReportType; labels?: Record<string, string> },
): ComplianceManifest {
  return {
    apiVersion: API_GROUP_VERSION,
    kind: 'ClusterComplianceReport',
    metadata: { name: spec.id.toLowerCase(), ...(options.labels ? { labels: options.labels } : {}) },
    spec: { cron: options.cron, reportType: options.reportType, compliance: spec },
  };
}

const dump = (value: unknown): string => yaml.dump(value, { lineWidth: -1, noRefs: true });

const source = (file: string) =>
  `Generated by \`npm run generate:compliance-specs\` (scripts/generate-compliance-specs.ts) from ${TRIVY_CHECKS_MODULE}@${TRIVY_CHECKS_VERSION}, ${file}. Do not edit by hand.`;

/** A plain manifest for `kubectl apply`, with Trivy-Operator's chart defaults for cron and report type. */
export function renderPlainManifest(spec: ComplianceSpec, file: string): string {
  const manifest = complianceManifest(spec, {
    cron: DEFAULT_COMPLIANCE_CRON,
    reportType: DEFAULT_COMPLIANCE_REPORT_TYPE,
    labels: { 'app.kubernetes.io/name': 'trivy-lookout', 'app.kubernetes.io/component': 'compliance' },
  });
  return `# ${source(file)}\n# Each report is evaluated on its own spec.cron (UTC); edit it in the cluster to change when.\n---\n${dump(manifest)}`;
}

const PLACEHOLDER = {
  labels: '@@labels@@',
  cron: '@@cron@@',
  reportType: '@@reportType@@',
} as const;

/**
 * The chart template: rendered when the spec is listed in `compliance.specs`, with the chart's labels
 * and `compliance.cron` / `compliance.reportType`, as Trivy-Operator's chart does.
 */
export function renderChartTemplate(spec: ComplianceSpec, file: string): string {
  const manifest = complianceManifest(spec, {
    cron: PLACEHOLDER.cron,
    reportType: PLACEHOLDER.reportType as ComplianceReportType,
  });
  const body = dump({ ...manifest, metadata: { ...manifest.metadata, labels: PLACEHOLDER.labels } });
  if (body.includes('{{'))
    throw new Error(`${file}: the spec contains "{{", which Helm would read as a template`);
  // js-yaml quotes the placeholders ("@" cannot start a plain scalar); the quotes go with them.
  const at = (key: string, placeholder: string) => new RegExp(`${key}: (['"]?)${placeholder}\\1$`, 'm');
  const templated = body
    .replace(
      at('labels', PLACEHOLDER.labels),
      'labels:\n    {{- include "trivy-lookout.labels" . | nindent 4 }}',
    )
    .replace(at('cron', PLACEHOLDER.cron), 'cron: {{ .Values.compliance.cron | quote }}')
    .replace(
      at('reportType', PLACEHOLDER.reportType),
      'reportType: {{ .Values.compliance.reportType | quote }}',
    );
  if (templated.includes('@@')) throw new Error(`${file}: a template placeholder was left in the output`);
  return [
    `{{- /* ${source(file)} */}}`,
    `{{- if has ${JSON.stringify(spec.id)} .Values.compliance.specs }}`,
    '---',
    templated.trimEnd(),
    '{{- end }}',
    '',
  ].join('\n');
}
