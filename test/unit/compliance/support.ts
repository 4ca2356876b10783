/** A small spec and failed checks as the audit reports write them, for the compliance unit tests. */
import { readComplianceSpec, type EvaluationSpec } from '../../../src/compliance/index.ts';
import type { ComplianceReportType } from '../../../src/crds/index.ts';

export function specObject(reportType: ComplianceReportType = 'summary'): Record<string, unknown> {
  return {
    apiVersion: 'aquasecurity.github.io/v1alpha1',
    kind: 'ClusterComplianceReport',
    metadata: { name: 'test-spec', creationTimestamp: '2025-01-01T00:00:00Z' },
    spec: {
      cron: '0 */6 * * *',
      reportType,
      compliance: {
        id: 'test-spec',
        title: 'Test standard',
        description: 'A standard for tests',
        version: '1.0',
        platform: 'k8s',
        type: 'test',
        relatedResources: ['https://example.com/standard'],
        controls: [
          {
            id: '1.0',
            name: 'Privileged containers',
            description: 'No privileged containers',
            checks: [{ id: 'AVD-KSV-0017' }],
            severity: 'HIGH',
          },
          {
            id: '1.1',
            name: 'Root file system',
            description: 'Read-only root file system',
            checks: [{ id: 'KSV-0014' }],
            severity: 'LOW',
          },
          {
            id: '2.0',
            name: 'Secrets access',
            checks: [{ id: 'AVD-KSV-0041' }, { id: 'AVD-KSV-0044' }],
            severity: 'CRITICAL',
          },
          {
            id: '3.0',
            name: 'CNI supports network policies (Manual)',
            description: 'Checked by a person',
            defaultStatus: 'FAIL',
            severity: 'CRITICAL',
          },
        ],
      },
    },
  };
}

export function testSpec(reportType: ComplianceReportType = 'summary'): EvaluationSpec {
  const reading = readComplianceSpec(specObject(reportType));
  if (!reading.ok) throw new Error(reading.problems.join('; '));
  return reading.spec;
}
