/**
 * The sample reports in test/fixtures/reports/ (one per kind, reused by the integration tests against a
 * real API server) validate against our schemas, and the deliberately broken ones in invalid/ do not.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import { SEVERITIES, rawCrdManifestFor, reportKindNames } from '../../../src/crds/index.ts';
import type {
  AnyReport,
  Check,
  ReportKindName,
  SbomReport,
  Severity,
  VulnerabilityReport,
} from '../../../src/crds/index.ts';
import { validateResource } from './schema-validator.ts';

const fixtures = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../fixtures/reports');
const load = (file: string): unknown => yaml.load(readFileSync(file, 'utf8'));
const kindOf = (object: unknown): ReportKindName => {
  const kind = (object as { kind?: unknown }).kind;
  assert.ok(reportKindNames.includes(kind as ReportKindName), `unknown kind ${String(kind)}`);
  return kind as ReportKindName;
};

/** Expected failures of the invalid samples: file → path and message fragment of the (only) error. */
const invalid: Record<string, { path: string; message: RegExp }> = {
  'vulnerabilityreport-unknown-severity.yaml': {
    path: 'report.vulnerabilities[0].severity',
    message: /"SEVERE" is not one of/,
  },
  'configauditreport-count-as-string.yaml': { path: 'report.summary.highCount', message: /expected integer/ },
  'exposedsecretreport-missing-report.yaml': { path: '<root>', message: /missing required field "report"/ },
  'sbomreport-negative-count.yaml': {
    path: 'report.summary.componentsCount',
    message: /less than the minimum 0/,
  },
  'rbacassessmentreport-missing-scanner.yaml': {
    path: 'report',
    message: /missing required field "scanner"/,
  },
  'clustercompliancereport-bad-cron.yaml': { path: 'spec.cron', message: /does not match the pattern/ },
};

function countBySeverity(severities: Severity[], levels: readonly Severity[]): Record<string, number> {
  return Object.fromEntries(
    levels.map((level) => [`${level.toLowerCase()}Count`, severities.filter((s) => s === level).length]),
  );
}

/** Summary counts of a sample must agree with its findings, as the operator computes them. */
function checkSummary(report: AnyReport): void {
  const known = SEVERITIES.filter((level) => level !== 'UNKNOWN');
  switch (report.kind) {
    case 'VulnerabilityReport':
    case 'ClusterVulnerabilityReport': {
      const data = (report as VulnerabilityReport).report;
      const { noneCount: _none, ...counts } = data.summary;
      assert.deepEqual(
        counts,
        countBySeverity(
          data.vulnerabilities.map((v) => v.severity),
          SEVERITIES,
        ),
      );
      return;
    }
    case 'ExposedSecretReport':
      assert.deepEqual(
        report.report.summary,
        countBySeverity(
          report.report.secrets.map((s) => s.severity),
          known,
        ),
      );
      return;
    case 'SbomReport':
    case 'ClusterSbomReport': {
      const data = (report as SbomReport).report;
      assert.equal(data.summary.componentsCount, data.components.components?.length ?? 0);
      assert.equal(data.summary.dependenciesCount, data.components.dependencies?.length ?? 0);
      return;
    }
    case 'ClusterComplianceReport': {
      const controls = report.status?.summaryReport?.controlCheck ?? [];
      assert.equal(report.status?.summary?.failCount, controls.filter((c) => (c.totalFail ?? 0) > 0).length);
      assert.equal(
        report.status?.summary?.passCount,
        controls.filter((c) => (c.totalFail ?? 0) === 0).length,
      );
      return;
    }
    default: {
      const failed = (report.report.checks as Check[]).filter((c) => !c.success).map((c) => c.severity);
      assert.deepEqual(report.report.summary, countBySeverity(failed, known));
    }
  }
}

describe('sample reports', () => {
  const files = readdirSync(fixtures).filter((name) => name.endsWith('.yaml'));

  it('exist for every kind, one file each, named after the kind', () => {
    assert.deepEqual(files.sort(), reportKindNames.map((kind) => `${kind.toLowerCase()}.yaml`).sort());
  });

  for (const file of files) {
    describe(file, () => {
      const object = load(path.join(fixtures, file));

      it('validates against the CRD schema', () => {
        const kind = kindOf(object);
        assert.equal(file, `${kind.toLowerCase()}.yaml`);
        assert.deepEqual(validateResource(object, rawCrdManifestFor(kind)), []);
      });

      it('has summary counts that agree with its findings', () => {
        checkSummary(object as AnyReport);
      });
    });
  }
});

describe('invalid sample reports', () => {
  const dir = path.join(fixtures, 'invalid');

  it('are all listed with their expected error', () => {
    assert.deepEqual(readdirSync(dir).sort(), Object.keys(invalid).sort());
  });

  for (const [file, expected] of Object.entries(invalid)) {
    it(`${file} is rejected for the intended reason only`, () => {
      const object = load(path.join(dir, file));
      const errors = validateResource(object, rawCrdManifestFor(kindOf(object)));
      assert.equal(errors.length, 1, JSON.stringify(errors));
      assert.equal(errors[0]?.path, expected.path);
      assert.match(errors[0]?.message ?? '', expected.message);
    });
  }
});
