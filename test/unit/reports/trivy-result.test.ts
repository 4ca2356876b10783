/**
 * Strict reading of `trivy image --format json`: good output gives the fields the reports need, and
 * malformed output gives a TRIVY_OUTPUT_INVALID error that says what is wrong and where, never a crash.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { isLookoutError } from '../../../src/errors/index.ts';
import { parseTrivyImageResult } from '../../../src/reports/index.ts';

const fixture = (name: string): string =>
  readFileSync(new URL(`../../fixtures/trivy/${name}`, import.meta.url), 'utf8');

/** Asserts a TRIVY_OUTPUT_INVALID error whose message contains `message`. */
function assertInvalid(input: unknown, message: string): void {
  assert.throws(
    () => parseTrivyImageResult(input),
    (err: unknown) => {
      assert.ok(
        isLookoutError(err, 'TL_TRIVY_OUTPUT_INVALID'),
        `not a TRIVY_OUTPUT_INVALID error: ${String(err)}`,
      );
      assert.ok(
        err.message.includes(message),
        `message ${JSON.stringify(err.message)} lacks ${JSON.stringify(message)}`,
      );
      return true;
    },
  );
}

const minimal = (results: unknown): Record<string, unknown> => ({ SchemaVersion: 2, Results: results });

describe('parseTrivyImageResult: good output', () => {
  it('reads the alpine fixture: artifact, OS, digests and every vulnerability field used', () => {
    const result = parseTrivyImageResult(fixture('alpine-3.19.json'));
    assert.equal(result.schemaVersion, 2);
    assert.equal(result.artifactName, 'alpine:3.19.1');
    assert.equal(result.artifactType, 'container_image');
    assert.deepEqual(result.metadata, {
      os: { family: 'alpine', name: '3.19.1', eosl: false },
      imageID: 'sha256:05455a08881ea9cf0e752bc48e61bbd71a34c029bb13df01e40e3e70e0d007bd',
      repoDigests: ['alpine@sha256:c5b1261d6d3e43071626931fc004f70149baeba2c8ec672bd4f27761f8e1ad6b'],
      repoTags: ['alpine:3.19.1'],
    });
    assert.equal(result.results.length, 1);
    const [target] = result.results;
    assert.equal(target?.target, 'alpine:3.19.1 (alpine 3.19.1)');
    assert.equal(target?.class, 'os-pkgs');
    assert.equal(target?.type, 'alpine');
    assert.deepEqual(target?.secrets, []);
    assert.deepEqual(target?.vulnerabilities[0], {
      vulnerabilityID: 'CVE-2024-0727',
      pkgName: 'libcrypto3',
      pkgPath: undefined,
      purl: 'pkg:apk/alpine/libcrypto3@3.1.4-r2?arch=x86_64&distro=3.19.1',
      installedVersion: '3.1.4-r2',
      fixedVersion: '3.1.4-r5',
      status: 'fixed',
      severity: 'MEDIUM',
      severitySource: 'nvd',
      vendorSeverity: { amazon: 2, nvd: 2, redhat: 1, ubuntu: 1 },
      primaryURL: 'https://avd.aquasec.com/nvd/cve-2024-0727',
      title: 'openssl: denial of service via null dereference',
      description:
        'Processing a maliciously formatted PKCS12 file may lead OpenSSL to crash leading to a potential Denial of Service attack.',
      references: [
        'https://github.com/openssl/openssl/commit/09df4395b5071217b76dc7d3d2e630eb8c5a79c2',
        'https://nvd.nist.gov/vuln/detail/CVE-2024-0727',
        'https://www.openssl.org/news/secadv/20240125.txt',
      ],
      cvss: {
        nvd: { V3Vector: 'CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H', V3Score: 5.5 },
        redhat: { V3Vector: 'CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:L', V3Score: 3.2 },
      },
      publishedDate: '2024-01-26T09:15:07.837Z',
      lastModifiedDate: '2024-06-10T17:16:15.963Z',
    });
  });

  it('reads a vulnerability without FixedVersion as fixedVersion ""', () => {
    const result = parseTrivyImageResult(fixture('alpine-3.19.json'));
    const busybox = result.results[0]?.vulnerabilities.find((v) => v.pkgName === 'busybox');
    assert.equal(busybox?.fixedVersion, '');
    assert.equal(busybox?.status, 'affected');
  });

  it('reads secrets with their (masked) match', () => {
    const result = parseTrivyImageResult(fixture('debian-12-secret.json'));
    assert.deepEqual(result.results[1]?.secrets, [
      {
        ruleID: 'aws-secret-access-key',
        category: 'AWS',
        severity: 'CRITICAL',
        title: 'AWS Secret Access Key',
        match: 'AWS_SECRET_ACCESS_KEY=****************************************',
        startLine: 2,
        endLine: 2,
      },
    ]);
  });

  it('accepts an already parsed value as well as text', () => {
    const text = fixture('alpine-3.19.json');
    assert.deepEqual(parseTrivyImageResult(JSON.parse(text)), parseTrivyImageResult(text));
  });

  it('keeps only what reports use (no package lists, image config or layers held in memory)', () => {
    const input = JSON.parse(fixture('alpine-3.19.json')) as { Results: Record<string, unknown>[] };
    input.Results[0]!.Packages = [{ Name: 'busybox', Version: '1.36.1-r15' }];
    const parsed = JSON.stringify(parseTrivyImageResult(input));
    for (const dropped of ['ImageConfig', 'Layer', 'DataSource', 'Packages', 'DiffIDs', 'CweIDs']) {
      assert.ok(!parsed.includes(dropped), `${dropped} should be dropped`);
    }
  });

  it('treats absent Results, and null lists (Go nil slices), as empty', () => {
    assert.deepEqual(parseTrivyImageResult({ SchemaVersion: 2 }).results, []);
    const result = parseTrivyImageResult(minimal([{ Target: 'x', Vulnerabilities: null, Secrets: null }]));
    assert.deepEqual(result.results[0]?.vulnerabilities, []);
    assert.deepEqual(result.results[0]?.secrets, []);
    assert.deepEqual(result.metadata, { os: undefined, imageID: undefined, repoDigests: [], repoTags: [] });
  });

  it('ignores unknown fields at every level', () => {
    const result = parseTrivyImageResult({
      SchemaVersion: 2,
      FutureField: { anything: [1, 2] },
      Results: [{ Target: 't', NewThing: true, Vulnerabilities: [{ VulnerabilityID: 'CVE-1', Extra: 1 }] }],
    });
    assert.equal(result.results[0]?.vulnerabilities[0]?.vulnerabilityID, 'CVE-1');
  });
});

describe('parseTrivyImageResult: malformed output', () => {
  it('names the vulnerability without VulnerabilityID in the malformed fixture', () => {
    assertInvalid(
      fixture('malformed-missing-id.json'),
      'Results[0].Vulnerabilities[1]: VulnerabilityID is missing',
    );
  });

  const vulnerability = (fields: Record<string, unknown>): Record<string, unknown> =>
    minimal([{ Target: 't' }, { Target: 'u', Vulnerabilities: [{ VulnerabilityID: 'CVE-1', ...fields }] }]);

  const cases: [string, unknown, string][] = [
    ['text that is not JSON', 'FATAL image scan error: unable to initialize', 'Trivy output is not JSON'],
    ['truncated JSON', '{"SchemaVersion": 2, "Results": [', 'Trivy output is not JSON'],
    ['empty output', '  \n', 'the output is empty'],
    ['an array at the root', '[]', 'expected an object, got an array'],
    ['null', null, 'expected an object, got null'],
    ['no SchemaVersion', { Results: [] }, 'SchemaVersion is missing'],
    ['SchemaVersion 1', { SchemaVersion: 1, Results: [] }, 'SchemaVersion: expected 2, got number 1'],
    ['SchemaVersion as text', { SchemaVersion: '2' }, 'SchemaVersion: expected 2, got string "2"'],
    ['a CycloneDX SBOM', { bomFormat: 'CycloneDX', specVersion: '1.5' }, 'this is a CycloneDX SBOM'],
    [
      'Results not an array',
      { SchemaVersion: 2, Results: { Target: 'x' } },
      'Results: expected an array, got an object',
    ],
    ['a result that is not an object', minimal(['x']), 'Results[0]: expected an object, got string "x"'],
    ['a result without Target', minimal([{ Class: 'os-pkgs' }]), 'Results[0]: Target is missing'],
    [
      'Vulnerabilities not an array',
      minimal([{ Target: 't', Vulnerabilities: 'none' }]),
      'Results[0].Vulnerabilities: expected an array, got string "none"',
    ],
    [
      'a numeric VulnerabilityID',
      vulnerability({ VulnerabilityID: 2024 }),
      'Results[1].Vulnerabilities[0].VulnerabilityID: expected a string, got number 2024',
    ],
    [
      'an empty VulnerabilityID',
      vulnerability({ VulnerabilityID: '' }),
      'Results[1].Vulnerabilities[0]: VulnerabilityID is missing',
    ],
    [
      'a reference that is not a string',
      vulnerability({ References: ['https://a', 7] }),
      'Results[1].Vulnerabilities[0].References[1]: expected a string, got number 7',
    ],
    [
      'a vendor severity that is not a number',
      vulnerability({ VendorSeverity: { nvd: 'HIGH' } }),
      'Results[1].Vulnerabilities[0].VendorSeverity.nvd: expected an integer, got string "HIGH"',
    ],
    [
      'a CVSS score that is text',
      vulnerability({ CVSS: { nvd: { V3Score: '9.8' } } }),
      'Results[1].Vulnerabilities[0].CVSS.nvd.V3Score: expected a number, got string "9.8"',
    ],
    [
      'a PURL that is not a string',
      vulnerability({ PkgIdentifier: { PURL: { type: 'deb' } } }),
      'Results[1].Vulnerabilities[0].PkgIdentifier.PURL: expected a string, got an object',
    ],
    [
      'EOSL as text',
      { SchemaVersion: 2, Metadata: { OS: { Family: 'alpine', EOSL: 'yes' } } },
      'Metadata.OS.EOSL: expected a boolean',
    ],
    [
      'RepoDigests not a list',
      { SchemaVersion: 2, Metadata: { RepoDigests: 'x@sha256:1' } },
      'Metadata.RepoDigests: expected an array',
    ],
    [
      'a secret without RuleID',
      minimal([{ Target: 't', Secrets: [{ Title: 'AWS' }] }]),
      'Results[0].Secrets[0]: RuleID is missing',
    ],
    [
      'a secret match that is not text',
      minimal([{ Target: 't', Secrets: [{ RuleID: 'r', Match: 42 }] }]),
      'Results[0].Secrets[0].Match: expected a string, got number 42',
    ],
  ];
  for (const [what, input, message] of cases) {
    it(`${what} → "${message}"`, () => assertInvalid(input, message));
  }

  it('never fails with anything but TRIVY_OUTPUT_INVALID, whatever field is broken', () => {
    // Deterministic pseudo-random corruption of the fixtures: replace one value anywhere by another type.
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed % n;
    };
    const replacements: unknown[] = [null, 0, -1.5, '', 'x', true, [], {}, [null], { a: 1 }];
    const corrupt = (value: unknown): unknown => {
      if (random(6) === 0) return replacements[random(replacements.length)];
      if (Array.isArray(value)) return value.map(corrupt);
      if (value !== null && typeof value === 'object') {
        return Object.fromEntries(Object.entries(value).map(([key, child]) => [key, corrupt(child)]));
      }
      return value;
    };
    for (const name of ['alpine-3.19.json', 'debian-12-secret.json']) {
      const original: unknown = JSON.parse(fixture(name));
      for (let round = 0; round < 300; round++) {
        try {
          parseTrivyImageResult(corrupt(original));
        } catch (err) {
          assert.ok(isLookoutError(err, 'TL_TRIVY_OUTPUT_INVALID'), `round ${round}: ${String(err)}`);
        }
      }
    }
  });
});
