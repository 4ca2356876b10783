/**
 * The TypeScript types agree with the schemas: the smallest object each type accepts (the compiler checks
 * these literals) is accepted by the schema too, so no schema-required field is optional in TypeScript.
 * Also: the client-node conversion keeps every schema keyword.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dumpYaml } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import {
  API_GROUP_VERSION,
  MANAGED_BY_TRIVY_OPERATOR,
  ReportAnnotation,
  ReportLabel,
  crdManifests,
  rawCrdManifestFor,
  rawCrdManifests,
  reportKindNames,
} from '../../../src/crds/index.ts';
import type {
  AssessmentReportData,
  ReportByKind,
  ReportKindName,
  Scanner,
  SbomReportData,
  VulnerabilityReportData,
} from '../../../src/crds/index.ts';
import { validateResource } from './schema-validator.ts';

// Compile-time: ReportByKind covers exactly the report kinds.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const exhaustive: Same<keyof ReportByKind, ReportKindName> = true;

const scanner: Scanner = { name: 'Trivy', vendor: 'Aqua Security', version: '0.67.2' };
const updateTimestamp = '2025-06-02T08:15:42Z';
const counts = { criticalCount: 0, highCount: 0, mediumCount: 0, lowCount: 0 };
const meta = (name: string) => ({ name });
const base = { apiVersion: API_GROUP_VERSION, metadata: meta('minimal') };

const vulnData: VulnerabilityReportData = {
  updateTimestamp,
  scanner,
  artifact: {},
  os: {},
  summary: { ...counts, unknownCount: 0 },
  vulnerabilities: [
    {
      vulnerabilityID: 'CVE-2024-0001',
      resource: 'openssl',
      installedVersion: '3.0.1',
      fixedVersion: '',
      publishedDate: '',
      lastModifiedDate: '',
      severity: 'UNKNOWN',
      title: '',
    },
  ],
};
const assessment: AssessmentReportData = {
  scanner,
  summary: counts,
  checks: [{ checkID: 'KSV001', severity: 'LOW', success: true }],
};
const sbom: SbomReportData = {
  updateTimestamp,
  scanner,
  artifact: {},
  summary: { componentsCount: 0, dependenciesCount: 0 },
  components: { bomFormat: 'CycloneDX', specVersion: '1.5' },
};

/** The smallest valid object of every kind, as the types allow it. */
const minimal: ReportByKind = {
  VulnerabilityReport: { ...base, kind: 'VulnerabilityReport', report: vulnData },
  ClusterVulnerabilityReport: { ...base, kind: 'ClusterVulnerabilityReport', report: vulnData },
  ExposedSecretReport: {
    ...base,
    kind: 'ExposedSecretReport',
    report: {
      updateTimestamp,
      scanner,
      artifact: {},
      summary: counts,
      secrets: [
        { target: '/app/.env', ruleID: 'r', title: 't', category: 'c', severity: 'HIGH', match: '***' },
      ],
    },
  },
  ConfigAuditReport: { ...base, kind: 'ConfigAuditReport', report: { checks: [] } },
  ClusterConfigAuditReport: { ...base, kind: 'ClusterConfigAuditReport', report: { checks: [] } },
  RbacAssessmentReport: { ...base, kind: 'RbacAssessmentReport', report: assessment },
  ClusterRbacAssessmentReport: { ...base, kind: 'ClusterRbacAssessmentReport', report: assessment },
  InfraAssessmentReport: { ...base, kind: 'InfraAssessmentReport', report: assessment },
  ClusterInfraAssessmentReport: { ...base, kind: 'ClusterInfraAssessmentReport', report: assessment },
  ClusterComplianceReport: {
    ...base,
    kind: 'ClusterComplianceReport',
    spec: {
      cron: '0 */6 * * *',
      reportType: 'summary',
      compliance: {
        id: 'x',
        title: 'x',
        description: 'x',
        version: '1',
        relatedResources: [],
        platform: 'k8s',
        type: 'x',
        controls: [{ id: '1', name: 'n', severity: 'HIGH' }],
      },
    },
    status: { updateTimestamp, detailReport: { results: [{ checks: [] }] } },
  },
  SbomReport: { ...base, kind: 'SbomReport', report: sbom },
  ClusterSbomReport: { ...base, kind: 'ClusterSbomReport', report: sbom },
};

describe('report types', () => {
  it('cover every kind', () => {
    assert.equal(exhaustive, true);
    assert.deepEqual(Object.keys(minimal).sort(), [...reportKindNames].sort());
  });

  for (const kind of reportKindNames) {
    it(`the smallest ${kind} the type allows is schema-valid`, () => {
      assert.deepEqual(validateResource(minimal[kind], rawCrdManifestFor(kind)), []);
    });
  }

  it('name the well-known labels and annotations', () => {
    assert.deepEqual(ReportLabel, {
      resourceKind: 'trivy-operator.resource.kind',
      resourceNamespace: 'trivy-operator.resource.namespace',
      resourceName: 'trivy-operator.resource.name',
      resourceNameHash: 'trivy-operator.resource.name-hash',
      containerName: 'trivy-operator.container.name',
      managedBy: 'app.kubernetes.io/managed-by',
      resourceSpecHash: 'resource-spec-hash',
      pluginConfigHash: 'plugin-config-hash',
    });
    assert.equal(ReportAnnotation.reportTTL, 'trivy-operator.aquasecurity.github.io/report-ttl');
    assert.equal(MANAGED_BY_TRIVY_OPERATOR, 'trivy-operator');
    assert.equal(API_GROUP_VERSION, 'aquasecurity.github.io/v1alpha1');
  });
});

describe('client-node CRD objects', () => {
  it('serialize back to exactly the wire-format CRDs (enum, preserve-unknown-fields kept)', () => {
    const raw = rawCrdManifests();
    const client = crdManifests();
    assert.equal(client.length, raw.length);
    client.forEach((crd, index) => {
      // dumpYaml runs client-node's serializer, as its API calls do before sending a request.
      assert.deepEqual(JSON.parse(JSON.stringify(yaml.load(dumpYaml(crd)))), raw[index]);
    });
  });

  it('would lose schema keywords if the wire format were passed to the client as is', () => {
    // Documents why crdManifests() converts: the serializer maps `_enum`, not `enum`.
    const raw = rawCrdManifestFor('VulnerabilityReport');
    const sent = JSON.stringify(yaml.load(dumpYaml(raw)));
    assert.ok(!sent.includes('x-kubernetes-preserve-unknown-fields'));
  });
});
