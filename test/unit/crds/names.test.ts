/**
 * The names, scopes, short names and printer columns users' kubectl habits, dashboards and tools depend
 * on. The expectations are written out by hand (not derived from src/crds) so a change to them is a
 * deliberate, visible compatibility decision.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  API_GROUP,
  API_VERSION,
  ReportKind,
  rawCrdManifests,
  reportKindNames,
} from '../../../src/crds/index.ts';

interface Column {
  name: string;
  jsonPath: string;
  type: string;
  priority?: number;
}
interface Expected {
  plural: string;
  scope: 'Namespaced' | 'Cluster';
  shortNames: string[];
  columns: Column[];
  statusSubresource?: boolean;
}

const col = (name: string, jsonPath: string, type: string, priority?: number): Column =>
  priority === undefined ? { name, jsonPath, type } : { name, jsonPath, type, priority };

const image = [
  col('Repository', '.report.artifact.repository', 'string'),
  col('Tag', '.report.artifact.tag', 'string'),
];
const scannerAge = [
  col('Scanner', '.report.scanner.name', 'string'),
  col('Age', '.metadata.creationTimestamp', 'date'),
];
const counts = (...levels: string[]): Column[] =>
  levels.map((level) => col(level, `.report.summary.${level.toLowerCase()}Count`, 'integer', 1));
const vulnColumns = [...image, ...scannerAge, ...counts('Critical', 'High', 'Medium', 'Low', 'Unknown')];
const secretColumns = [...image, ...scannerAge, ...counts('Critical', 'High', 'Medium', 'Low')];
const checkColumns = [...scannerAge, ...counts('Critical', 'High', 'Medium', 'Low')];
const sbomColumns = [
  ...image,
  ...scannerAge,
  col('Components', '.report.summary.componentsCount', 'integer', 1),
  col('Dependencies', '.report.summary.dependenciesCount', 'integer', 1),
];

const expected: Record<string, Expected> = {
  VulnerabilityReport: {
    plural: 'vulnerabilityreports',
    scope: 'Namespaced',
    shortNames: ['vuln', 'vulns'],
    columns: vulnColumns,
  },
  ClusterVulnerabilityReport: {
    plural: 'clustervulnerabilityreports',
    scope: 'Cluster',
    shortNames: ['clustervuln'],
    columns: vulnColumns,
  },
  ExposedSecretReport: {
    plural: 'exposedsecretreports',
    scope: 'Namespaced',
    shortNames: ['exposedsecret', 'exposedsecrets'],
    columns: secretColumns,
  },
  ConfigAuditReport: {
    plural: 'configauditreports',
    scope: 'Namespaced',
    shortNames: ['configaudit', 'configaudits'],
    columns: checkColumns,
  },
  ClusterConfigAuditReport: {
    plural: 'clusterconfigauditreports',
    scope: 'Cluster',
    shortNames: ['clusterconfigaudit'],
    columns: checkColumns,
  },
  RbacAssessmentReport: {
    plural: 'rbacassessmentreports',
    scope: 'Namespaced',
    shortNames: ['rbacassessment', 'rbacassessments'],
    columns: checkColumns,
  },
  ClusterRbacAssessmentReport: {
    plural: 'clusterrbacassessmentreports',
    scope: 'Cluster',
    shortNames: ['clusterrbacassessmentreport'],
    columns: checkColumns,
  },
  InfraAssessmentReport: {
    plural: 'infraassessmentreports',
    scope: 'Namespaced',
    shortNames: ['infraassessment', 'infraassessments'],
    columns: checkColumns,
  },
  ClusterInfraAssessmentReport: {
    plural: 'clusterinfraassessmentreports',
    scope: 'Cluster',
    shortNames: ['clusterinfraassessment'],
    columns: checkColumns,
  },
  ClusterComplianceReport: {
    plural: 'clustercompliancereports',
    scope: 'Cluster',
    shortNames: ['compliance'],
    columns: [
      col('Age', '.metadata.creationTimestamp', 'date'),
      col('Fail', '.status.summary.failCount', 'integer', 1),
      col('Pass', '.status.summary.passCount', 'integer', 1),
    ],
    statusSubresource: true,
  },
  SbomReport: {
    plural: 'sbomreports',
    scope: 'Namespaced',
    shortNames: ['sbom', 'sboms'],
    columns: sbomColumns,
  },
  ClusterSbomReport: {
    plural: 'clustersbomreports',
    scope: 'Cluster',
    shortNames: ['clustersbom'],
    columns: sbomColumns,
  },
};

describe('report CRD names', () => {
  const crds = rawCrdManifests();

  it('defines exactly the twelve report kinds, once each', () => {
    assert.deepEqual(crds.map((crd) => crd.spec.names.kind).sort(), Object.keys(expected).sort());
    assert.deepEqual([...reportKindNames].sort(), Object.keys(expected).sort());
  });

  for (const [kind, want] of Object.entries(expected)) {
    describe(kind, () => {
      const crd = crds.find((candidate) => candidate.spec.names.kind === kind);

      it('has the expected group, names and scope', () => {
        assert.ok(crd, `no CRD for ${kind}`);
        assert.equal(crd.metadata.name, `${want.plural}.aquasecurity.github.io`);
        assert.equal(crd.spec.group, 'aquasecurity.github.io');
        assert.deepEqual(crd.spec.names, {
          kind,
          listKind: `${kind}List`,
          plural: want.plural,
          singular: kind.toLowerCase(),
          shortNames: want.shortNames,
        });
        assert.equal(crd.spec.scope, want.scope);
      });

      it('serves and stores the single version v1alpha1', () => {
        assert.ok(crd);
        assert.equal(crd.spec.versions.length, 1);
        const [version] = crd.spec.versions;
        assert.equal(version?.name, 'v1alpha1');
        assert.equal(version?.served, true);
        assert.equal(version?.storage, true);
        assert.deepEqual(version?.subresources, want.statusSubresource ? { status: {} } : {});
      });

      it('has the expected printer columns, in order', () => {
        assert.ok(crd);
        const columns = crd.spec.versions[0]?.additionalPrinterColumns.map(
          ({ name, jsonPath, type, priority }) =>
            priority === undefined ? { name, jsonPath, type } : { name, jsonPath, type, priority },
        );
        assert.deepEqual(columns, want.columns);
      });

      it('matches the ReportKind table', () => {
        const info = ReportKind[kind as keyof typeof ReportKind];
        assert.equal(info.plural, want.plural);
        assert.equal(info.namespaced, want.scope === 'Namespaced');
        assert.deepEqual([...info.shortNames], want.shortNames);
      });
    });
  }

  it('exports the API group and version', () => {
    assert.equal(API_GROUP, 'aquasecurity.github.io');
    assert.equal(API_VERSION, 'v1alpha1');
  });
});
