/**
 * The twelve report CustomResourceDefinitions, assembled from `./schema-parts.ts`. This is the single
 * source of the YAML files in `charts/trivy-lookout/crds/` (written by `scripts/generate-crds.ts`).
 */
import { API_GROUP, API_VERSION, ReportKind, SEVERITIES } from './types.ts';
import type { ReportKindName } from './types.ts';
import type {
  CustomResourceDefinitionManifest,
  JsonSchema,
  PrinterColumn,
  PrinterColumnType,
} from './schema.ts';
import { list, obj } from './schema.ts';
import {
  artifact,
  bom,
  checkList,
  checkSummary,
  complianceSpec,
  complianceStatus,
  exposedSecret,
  operatingSystem,
  registry,
  reportRoot,
  resourceRoot,
  sbomSummary,
  scanner,
  severitySummary,
  updateTimestamp,
  vulnerability,
} from './schema-parts.ts';

// ---------------------------------------------------------------------------------------------------------
// Report data (the `.report` field)
// ---------------------------------------------------------------------------------------------------------

/** Fields every image-based report (vulnerabilities, secrets, SBOM) starts with. */
const imageReportFields = (): Record<string, JsonSchema> => ({
  updateTimestamp: updateTimestamp(),
  scanner: scanner(),
  registry: registry(),
  artifact: artifact(),
});
const imageReportRequired = ['updateTimestamp', 'scanner', 'artifact', 'summary'];

const vulnerabilityReportData = (): JsonSchema =>
  obj(
    {
      ...imageReportFields(),
      os: operatingSystem(),
      summary: severitySummary({
        description: 'Vulnerabilities per severity.',
        levels: SEVERITIES,
        nonNegative: true,
        withNone: true,
      }),
      vulnerabilities: list(
        vulnerability(),
        'Vulnerabilities found in OS packages and application dependencies.',
      ),
    },
    {
      description: 'Result of the vulnerability scan.',
      required: [...imageReportRequired, 'os', 'vulnerabilities'],
    },
  );

const exposedSecretReportData = (): JsonSchema =>
  obj(
    {
      ...imageReportFields(),
      summary: severitySummary({
        description: 'Exposed secrets per severity.',
        levels: SEVERITIES.filter((level) => level !== 'UNKNOWN'),
        nonNegative: true,
      }),
      secrets: list(exposedSecret(), 'Secrets found in the image.'),
    },
    { description: 'Result of the secret scan.', required: [...imageReportRequired, 'secrets'] },
  );

const sbomReportData = (): JsonSchema =>
  obj(
    { ...imageReportFields(), summary: sbomSummary(), components: bom() },
    {
      description: 'Software bill of materials of the image.',
      required: [...imageReportRequired, 'components'],
    },
  );

const configAuditReportData = (): JsonSchema =>
  obj(
    { updateTimestamp: updateTimestamp(), scanner: scanner(), summary: checkSummary(), checks: checkList() },
    { description: 'Result of the configuration checks.', required: ['checks'] },
  );

/** RBAC and infra assessments: same checks, no timestamp, scanner and summary required. */
const assessmentReportData = (what: string): JsonSchema =>
  obj(
    { scanner: scanner(), summary: checkSummary(), checks: checkList() },
    { description: `Result of the ${what} checks.`, required: ['scanner', 'summary', 'checks'] },
  );

// ---------------------------------------------------------------------------------------------------------
// Printer columns
// ---------------------------------------------------------------------------------------------------------

const column = (
  name: string,
  jsonPath: string,
  type: PrinterColumnType,
  description: string,
  priority?: number,
): PrinterColumn => ({ name, type, jsonPath, description, ...(priority === undefined ? {} : { priority }) });

const titleCase = (word: string): string => word.charAt(0) + word.slice(1).toLowerCase();

const imageColumns = (): PrinterColumn[] => [
  column('Repository', '.report.artifact.repository', 'string', 'Image repository'),
  column('Tag', '.report.artifact.tag', 'string', 'Image tag'),
];
const scannerColumn = (): PrinterColumn =>
  column('Scanner', '.report.scanner.name', 'string', 'Scanner that wrote the report');
const ageColumn = (): PrinterColumn =>
  column('Age', '.metadata.creationTimestamp', 'date', 'Time since the report was created');

/** Wide-output (`-o wide`) count columns, one per severity. */
const severityColumns = (levels: readonly string[], what: string): PrinterColumn[] =>
  levels.map((level) =>
    column(
      titleCase(level),
      `.report.summary.${level.toLowerCase()}Count`,
      'integer',
      `Number of ${level.toLowerCase()} ${what}`,
      1,
    ),
  );

const KNOWN_SEVERITIES = SEVERITIES.filter((level) => level !== 'UNKNOWN');

const vulnerabilityColumns = (): PrinterColumn[] => [
  ...imageColumns(),
  scannerColumn(),
  ageColumn(),
  ...severityColumns(SEVERITIES, 'vulnerabilities'),
];
const secretColumns = (): PrinterColumn[] => [
  ...imageColumns(),
  scannerColumn(),
  ageColumn(),
  ...severityColumns(KNOWN_SEVERITIES, 'secrets'),
];
const checkColumns = (): PrinterColumn[] => [
  scannerColumn(),
  ageColumn(),
  ...severityColumns(KNOWN_SEVERITIES, 'failed checks'),
];
const sbomColumns = (): PrinterColumn[] => [
  ...imageColumns(),
  scannerColumn(),
  ageColumn(),
  column('Components', '.report.summary.componentsCount', 'integer', 'Number of components', 1),
  column('Dependencies', '.report.summary.dependenciesCount', 'integer', 'Number of dependency entries', 1),
];
const complianceColumns = (): PrinterColumn[] => [
  ageColumn(),
  column('Fail', '.status.summary.failCount', 'integer', 'Number of failed controls', 1),
  column('Pass', '.status.summary.passCount', 'integer', 'Number of passed controls', 1),
];

// ---------------------------------------------------------------------------------------------------------
// CRDs
// ---------------------------------------------------------------------------------------------------------

interface CrdInput {
  kind: ReportKindName;
  schema: JsonSchema;
  columns: PrinterColumn[];
  statusSubresource?: boolean;
}

function defineCrd({ kind, schema, columns, statusSubresource }: CrdInput): CustomResourceDefinitionManifest {
  const info = ReportKind[kind];
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: { name: `${info.plural}.${API_GROUP}` },
    spec: {
      group: API_GROUP,
      names: {
        kind,
        listKind: `${kind}List`,
        plural: info.plural,
        singular: kind.toLowerCase(),
        shortNames: [...info.shortNames],
      },
      scope: info.namespaced ? 'Namespaced' : 'Cluster',
      versions: [
        {
          name: API_VERSION,
          served: true,
          storage: true,
          schema: { openAPIV3Schema: schema },
          subresources: statusSubresource ? { status: {} } : {},
          additionalPrinterColumns: columns,
        },
      ],
    },
  };
}

const VULNERABILITY_REPORT =
  'Vulnerabilities found in the OS packages and application dependencies of a container image';
const CONFIG_AUDIT_REPORT = 'Outcome of the configuration checks run against a Kubernetes object';
const RBAC_REPORT = 'Outcome of the access-control checks run against a Role or ClusterRole';
const INFRA_REPORT = 'Outcome of the checks run against a control-plane component or a node';
const SBOM_REPORT = 'Software bill of materials (CycloneDX) of a container image';

/** Builds fresh CRD objects, in a stable order (namespaced kind before its cluster-scoped twin). */
export function buildReportCrds(): CustomResourceDefinitionManifest[] {
  return [
    defineCrd({
      kind: 'VulnerabilityReport',
      schema: reportRoot(`${VULNERABILITY_REPORT} run by a workload.`, vulnerabilityReportData()),
      columns: vulnerabilityColumns(),
    }),
    defineCrd({
      kind: 'ClusterVulnerabilityReport',
      schema: reportRoot(`${VULNERABILITY_REPORT} run by a cluster component.`, vulnerabilityReportData()),
      columns: vulnerabilityColumns(),
    }),
    defineCrd({
      kind: 'ExposedSecretReport',
      schema: reportRoot(
        'Secrets (keys, tokens, passwords) left inside a container image.',
        exposedSecretReportData(),
      ),
      columns: secretColumns(),
    }),
    defineCrd({
      kind: 'ConfigAuditReport',
      schema: reportRoot(`${CONFIG_AUDIT_REPORT} in a namespace.`, configAuditReportData()),
      columns: checkColumns(),
    }),
    defineCrd({
      kind: 'ClusterConfigAuditReport',
      schema: reportRoot(`${CONFIG_AUDIT_REPORT} without a namespace.`, configAuditReportData()),
      columns: checkColumns(),
    }),
    defineCrd({
      kind: 'RbacAssessmentReport',
      schema: reportRoot(`${RBAC_REPORT} in a namespace.`, assessmentReportData('RBAC')),
      columns: checkColumns(),
    }),
    defineCrd({
      kind: 'ClusterRbacAssessmentReport',
      schema: reportRoot(`${RBAC_REPORT} without a namespace.`, assessmentReportData('RBAC')),
      columns: checkColumns(),
    }),
    defineCrd({
      kind: 'InfraAssessmentReport',
      // Trivy-Operator's schema for this kind (only) prunes unknown top-level fields.
      schema: reportRoot(`${INFRA_REPORT} (namespaced).`, assessmentReportData('infrastructure'), false),
      columns: checkColumns(),
    }),
    defineCrd({
      kind: 'ClusterInfraAssessmentReport',
      schema: reportRoot(`${INFRA_REPORT} (cluster-scoped).`, assessmentReportData('infrastructure')),
      columns: checkColumns(),
    }),
    defineCrd({
      kind: 'ClusterComplianceReport',
      schema: resourceRoot({
        description: 'Evaluation of the cluster against a compliance standard such as CIS or NSA.',
        fields: { spec: complianceSpec(), status: complianceStatus() },
        preserveUnknownFields: true,
      }),
      columns: complianceColumns(),
      statusSubresource: true,
    }),
    defineCrd({
      kind: 'SbomReport',
      schema: reportRoot(`${SBOM_REPORT} run by a workload.`, sbomReportData()),
      columns: sbomColumns(),
    }),
    defineCrd({
      kind: 'ClusterSbomReport',
      // Trivy-Operator's schema for this kind (only) prunes unknown top-level fields.
      schema: reportRoot(`${SBOM_REPORT} run by a cluster component.`, sbomReportData(), false),
      columns: sbomColumns(),
    }),
  ];
}
