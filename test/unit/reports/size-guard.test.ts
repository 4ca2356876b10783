/**
 * The size guard: a report over etcd's limit keeps its summary and loses its least severe findings
 * until it fits, and says how many it lost.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Severity, VulnerabilityReportData } from '../../../src/crds/index.ts';
import { isLookoutError } from '../../../src/errors/index.ts';
import {
  ADDITIONAL_VULNERABILITY_FIELDS,
  REPORT_DATA_LIMIT_BYTES,
  TRIMMED_ANNOTATION,
  buildExposedSecretReportData,
  buildVulnerabilityReportData,
  fitReportToLimit,
  parseTrivyImageResult,
  trimmedAnnotation,
} from '../../../src/reports/index.ts';
import { parseImageReference } from '../../../src/workloads/index.ts';

const options = {
  image: parseImageReference('ghcr.io/acme/monolith:9'),
  scannerVersion: '0.72.0',
  now: new Date(0),
  // Every optional field: the largest reports a setting can ask for.
  additionalFields: ADDITIONAL_VULNERABILITY_FIELDS,
};
const SEVERITY_NUMBER: Record<Severity, number> = { UNKNOWN: 0, LOW: 1, MEDIUM: 2, HIGH: 3, CRITICAL: 4 };
const size = (value: unknown): number => Buffer.byteLength(JSON.stringify(value), 'utf8');

/** Trivy output for an image with `count` findings, severities cycling so each level is well represented. */
function hugeTrivyOutput(count: number): string {
  const levels: Severity[] = ['LOW', 'MEDIUM', 'UNKNOWN', 'HIGH', 'LOW', 'CRITICAL', 'MEDIUM', 'LOW'];
  const vulnerabilities = Array.from({ length: count }, (_unused, index) => {
    const level = levels[index % levels.length] ?? 'UNKNOWN';
    return {
      VulnerabilityID: `CVE-2024-${String(index).padStart(5, '0')}`,
      PkgName: `node-pkg-${index % 700}`,
      PkgPath: `app/node_modules/node-pkg-${index % 700}/package.json`,
      InstalledVersion: '1.0.0',
      FixedVersion: index % 3 === 0 ? '' : '1.0.1',
      SeveritySource: 'ghsa',
      VendorSeverity: { ghsa: SEVERITY_NUMBER[level] },
      Title: `Prototype pollution in node-pkg-${index % 700} (ünïcödé too)`,
      Description: 'A long advisory text. '.repeat(12),
      References: [
        `https://github.com/advisories/GHSA-${index}`,
        `https://nvd.nist.gov/vuln/detail/CVE-2024-${index}`,
      ],
      CVSS: { ghsa: { V3Score: 5 + (index % 5), V3Vector: 'CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H' } },
      PublishedDate: '2024-01-01T00:00:00Z',
      LastModifiedDate: '2024-02-01T00:00:00Z',
    };
  });
  return JSON.stringify({
    SchemaVersion: 2,
    ArtifactName: 'ghcr.io/acme/monolith:9',
    ArtifactType: 'container_image',
    Metadata: { OS: { Family: 'debian', Name: '12.5' } },
    Results: [
      { Target: 'app/package-lock.json', Class: 'lang-pkgs', Type: 'npm', Vulnerabilities: vulnerabilities },
    ],
  });
}

describe('fitReportToLimit', () => {
  const huge = buildVulnerabilityReportData(parseTrivyImageResult(hugeTrivyOutput(20_000)), options);

  it('leaves a report that fits untouched (same object, nothing trimmed)', () => {
    const small = buildVulnerabilityReportData(parseTrivyImageResult(hugeTrivyOutput(10)), options);
    const fit = fitReportToLimit(small);
    assert.equal(fit.data, small);
    assert.equal(fit.trimmed, null);
    assert.deepEqual(trimmedAnnotation(fit.trimmed), {});
  });

  it('cuts a 20,000-finding report under the default limit, keeping its summary', () => {
    assert.ok(size(huge) > REPORT_DATA_LIMIT_BYTES, `the generated report is only ${size(huge)} bytes`);
    const fit = fitReportToLimit(huge);
    assert.ok(size(fit.data) <= REPORT_DATA_LIMIT_BYTES);
    assert.deepEqual(fit.data.summary, huge.summary);
    assert.ok(fit.trimmed);
    assert.equal(fit.trimmed.list, 'vulnerabilities');
    assert.equal(fit.trimmed.kept, fit.data.vulnerabilities.length);
    assert.equal(fit.trimmed.kept + fit.trimmed.dropped, 20_000);
    assert.deepEqual(huge.vulnerabilities.length, 20_000, 'the input is not changed');
  });

  for (const limit of [REPORT_DATA_LIMIT_BYTES, 8_000_000]) {
    it(`drops the lowest severities first and keeps the rest in order (limit ${limit} bytes)`, () => {
      const fit = fitReportToLimit(huge, limit);
      assert.ok(size(fit.data) <= limit);
      const count = (data: VulnerabilityReportData, level: Severity): number =>
        data.vulnerabilities.filter((v) => v.severity === level).length;
      // The least severe level with findings left is where the cut stopped: every level below it is
      // gone, every level above it is whole.
      const ascending: Severity[] = ['UNKNOWN', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];
      const cut = ascending.findIndex((level) => count(fit.data, level) > 0);
      assert.ok(cut > 0, 'at least UNKNOWN is gone');
      ascending.forEach((level, index) => {
        if (index < cut) assert.equal(count(fit.data, level), 0, `${level} should be gone`);
        if (index > cut) assert.equal(count(fit.data, level), count(huge, level), `${level} should be whole`);
      });
      if (limit === 8_000_000) assert.ok(cut <= 2, `cut at ${ascending[cut]}: HIGH and CRITICAL are whole`);
      const ids = fit.data.vulnerabilities.map((v) => v.vulnerabilityID);
      assert.deepEqual(ids, [...ids].sort(), 'original order kept');
    });
  }

  it('removes as little as needed: at the exact size nothing, one byte less one finding', () => {
    const data = buildVulnerabilityReportData(parseTrivyImageResult(hugeTrivyOutput(40)), options);
    const exact = size(data);
    assert.equal(fitReportToLimit(data, exact).trimmed, null);
    const fit = fitReportToLimit(data, exact - 1);
    assert.deepEqual(fit.trimmed, { list: 'vulnerabilities', kept: 39, dropped: 1 });
    // The one dropped is the last UNKNOWN finding.
    const unknownIds = data.vulnerabilities
      .filter((v) => v.severity === 'UNKNOWN')
      .map((v) => v.vulnerabilityID);
    const dropped = data.vulnerabilities.find((v) => !fit.data.vulnerabilities.includes(v));
    assert.equal(dropped?.vulnerabilityID, unknownIds.at(-1));
    assert.ok(size(fit.data) <= exact - 1);
  });

  it('trims exposed-secret reports the same way', () => {
    const secrets = Array.from({ length: 2_000 }, (_unused, index) => ({
      RuleID: 'generic-api-key',
      Category: 'Generic',
      Severity: index % 2 ? 'LOW' : 'CRITICAL',
      Title: 'Generic API key',
      Match: `api_key = ${'*'.repeat(200)}`,
    }));
    const data = buildExposedSecretReportData(
      parseTrivyImageResult({ SchemaVersion: 2, Results: [{ Target: 'srv/config.js', Secrets: secrets }] }),
      options,
    );
    const fit = fitReportToLimit(data, 400_000);
    assert.ok(size(fit.data) <= 400_000);
    assert.equal(fit.trimmed?.list, 'secrets');
    assert.equal(fit.data.secrets.filter((s) => s.severity === 'CRITICAL').length, 1_000);
    assert.ok(fit.data.secrets.filter((s) => s.severity === 'LOW').length < 1_000);
    assert.deepEqual(fit.data.summary, data.summary);
  });

  it('fails with REPORT_TOO_LARGE when even an empty list would not fit', () => {
    const data = buildVulnerabilityReportData(parseTrivyImageResult(hugeTrivyOutput(1)), options);
    assert.throws(
      () => fitReportToLimit(data, 100),
      (err: unknown) =>
        isLookoutError(err, 'TL_REPORT_TOO_LARGE') && /over the limit of 100 bytes/.test(err.message),
    );
  });
});

describe('trimmedAnnotation', () => {
  it('says how many findings were dropped, of how many, and why', () => {
    assert.deepEqual(trimmedAnnotation({ list: 'vulnerabilities', kept: 7655, dropped: 12345 }), {
      [TRIMMED_ANNOTATION]:
        "dropped 12345 of 20000 vulnerabilities (lowest severity first) to fit etcd's limit",
    });
    assert.equal(TRIMMED_ANNOTATION, 'trivy-lookout.dev/trimmed');
  });
});
