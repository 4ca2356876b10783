/**
 * Trivy's secret findings → ExposedSecretReport `.report`, with nothing secret surviving into the
 * report, and the report object validating against our CRD schema.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { API_GROUP_VERSION, rawCrdManifestFor } from '../../../src/crds/index.ts';
import {
  MAX_MATCH_LENGTH,
  buildExposedSecretReportData,
  parseTrivyImageResult,
  redactMatch,
  secretSeverity,
} from '../../../src/reports/index.ts';
import { parseImageReference, reportMetadata } from '../../../src/workloads/index.ts';
import { validateResource } from '../crds/schema-validator.ts';

const fixture = (name: string): string =>
  readFileSync(new URL(`../../fixtures/trivy/${name}`, import.meta.url), 'utf8');
const options = {
  image: parseImageReference('registry.example.com/shop/api:2.4.0'),
  scannerVersion: '0.72.0',
  now: new Date('2025-06-01T10:00:00Z'),
};

describe('buildExposedSecretReportData', () => {
  it('maps the secret found in the debian image, keeping Trivy masked match', () => {
    const data = buildExposedSecretReportData(
      parseTrivyImageResult(fixture('debian-12-secret.json')),
      options,
    );
    assert.deepEqual(data, {
      updateTimestamp: '2025-06-01T10:00:00Z',
      scanner: { name: 'Trivy', vendor: 'Aqua Security', version: '0.72.0' },
      registry: { server: 'registry.example.com' },
      artifact: {
        repository: 'shop/api',
        digest: 'sha256:9a1e5b7c3d2f4e6a8b0c1d3e5f7a9b1c3d5e7f9a1b3c5d7e9f1a3b5c7d9e1f3a',
        tag: '2.4.0',
      },
      summary: { criticalCount: 1, highCount: 0, mediumCount: 0, lowCount: 0 },
      secrets: [
        {
          target: '/app/config/.env',
          ruleID: 'aws-secret-access-key',
          title: 'AWS Secret Access Key',
          category: 'AWS',
          severity: 'CRITICAL',
          match: 'AWS_SECRET_ACCESS_KEY=****************************************',
        },
      ],
    });
  });

  it('gives an empty list and zero counts for an image without secrets', () => {
    const data = buildExposedSecretReportData(parseTrivyImageResult(fixture('alpine-3.19.json')), options);
    assert.deepEqual(data.secrets, []);
    assert.deepEqual(data.summary, { criticalCount: 0, highCount: 0, mediumCount: 0, lowCount: 0 });
  });

  it('never stores a secret Trivy did not mask', () => {
    const secret = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY';
    const result = parseTrivyImageResult({
      SchemaVersion: 2,
      Results: [
        {
          Target: '/root/.aws/credentials',
          Class: 'secret',
          Secrets: [
            {
              RuleID: 'aws-secret-access-key',
              Category: 'AWS',
              Severity: 'CRITICAL',
              Title: 'AWS Secret Access Key',
              Match: `aws_secret_access_key = ${secret}`,
              Code: { Lines: [{ Number: 1, Content: `aws_secret_access_key = ${secret}` }] },
            },
          ],
        },
      ],
    });
    const data = buildExposedSecretReportData(result, options);
    assert.ok(!JSON.stringify(data).includes(secret.slice(0, 8)));
    assert.equal(data.secrets[0]?.match, '********************* * ****************************************');
  });

  it('counts each severity, reporting unknown severities as LOW', () => {
    const secrets = ['CRITICAL', 'HIGH', 'HIGH', 'MEDIUM', 'LOW', 'UNKNOWN', ''].map((Severity, index) => ({
      RuleID: `rule-${index}`,
      Severity,
      Match: 'token: ********',
    }));
    const data = buildExposedSecretReportData(
      parseTrivyImageResult({ SchemaVersion: 2, Results: [{ Target: 'f', Secrets: secrets }] }),
      options,
    );
    assert.deepEqual(data.summary, { criticalCount: 1, highCount: 2, mediumCount: 1, lowCount: 3 });
  });

  it('builds objects that validate against the ExposedSecretReport CRD schema', () => {
    const crd = rawCrdManifestFor('ExposedSecretReport');
    const owner = {
      kind: 'ReplicaSet',
      namespace: 'shop',
      name: 'api-5c9d',
      uid: 'u',
      apiVersion: 'apps/v1',
    } as const;
    const object = {
      apiVersion: API_GROUP_VERSION,
      kind: 'ExposedSecretReport',
      metadata: reportMetadata(owner, 'api', { specHash: 'h', ttlMs: null }),
      report: buildExposedSecretReportData(parseTrivyImageResult(fixture('debian-12-secret.json')), options),
    };
    assert.deepEqual(validateResource(object, crd), []);
  });
});

describe('redactMatch', () => {
  it("keeps Trivy's masked line as it is", () => {
    assert.equal(
      redactMatch('export AWS_ACCESS_KEY_ID=********************'),
      'export AWS_ACCESS_KEY_ID=********************',
    );
  });

  it('masks every non-blank character of a line that shows no mask', () => {
    assert.equal(redactMatch('token: ghp_abc123'), '****** **********');
    assert.equal(redactMatch(''), '');
  });

  it(`cuts long lines to ${MAX_MATCH_LENGTH} characters`, () => {
    const masked = `const config = {key: "${'*'.repeat(40)}", ${'x'.repeat(1000)}}`;
    const redacted = redactMatch(masked);
    assert.equal([...redacted].length, MAX_MATCH_LENGTH);
    assert.ok(redacted.endsWith('…'));
  });
});

describe('secretSeverity', () => {
  const cases: [string, string][] = [
    ['CRITICAL', 'CRITICAL'],
    ['high', 'HIGH'],
    ['Medium', 'MEDIUM'],
    ['LOW', 'LOW'],
    ['UNKNOWN', 'LOW'],
    ['', 'LOW'],
    ['SEVERE', 'LOW'],
  ];
  for (const [input, expected] of cases) {
    it(`${JSON.stringify(input)} → ${expected}`, () => assert.equal(secretSeverity(input), expected));
  }
});
