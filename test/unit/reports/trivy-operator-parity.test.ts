/**
 * The reports we build from real Trivy output, field by field against what Trivy-Operator v0.32.0
 * (commit 1006872c) builds from the same output. Inputs: test/fixtures/trivy-real/trivy-v0.74.0.*
 * (the real Trivy v0.74.0 run offline on our java and secret test images with TEST DB v1). Trivy-
 * Operator's side: test/fixtures/trivy-real/trivy-operator-v0.32.0.*, written by its own mapping code
 * (see the README there), for a few image references and config cases; the few
 * rules no real output exercises are asserted from its source (file and function named at each).
 * docs/trivy-operator-report-parity.md has the full table with the reasons.
 *
 * Where we differ (Trivy-Operator files: pkg/vulnerabilityreport/io.go and builder.go,
 * pkg/plugins/trivy/plugin.go, pkg/exposedsecretreport/io.go and builder.go; ours: src/reports/vulnerability/
 * build.ts, src/reports/exposedsecret/build.ts, src/reports/common/{report-parts,trivy-result,size-guard}.ts,
 * src/workloads/report-metadata.ts, src/scanning/scan-results.ts). Issue #16 made the defaults Trivy-Operator's
 * (additional fields and severity rule); the tests below show both settings.
 *
 * | field                                | Trivy-Operator v0.32.0                                     | trivy-lookout                                                | on these fixtures          |
 * | ------------------------------------ | ---------------------------------------------------------- | ------------------------------------------------------------ | -------------------------- |
 * | vulnerabilities[].description        | only with additional field Description (io.go)             | the same (build.ts)                                          | same                       |
 * | vulnerabilities[].links              | [] unless Links (io.go)                                    | the same (build.ts)                                          | same                       |
 * | vulnerabilities[].cvss               | only with CVSS (io.go)                                     | the same (build.ts)                                          | same                       |
 * | vulnerabilities[].target             | "" unless Target (io.go)                                   | the same (build.ts)                                          | same                       |
 * | vulnerabilities[].class              | only with Class (io.go)                                    | the same (build.ts)                                          | same                       |
 * | vulnerabilities[].packageType        | only with PackageType (io.go)                              | the same (build.ts)                                          | same                       |
 * | vulnerabilities[].packagePath        | only with PackagePath (io.go)                              | the same (build.ts)                                          | same                       |
 * | vulnerabilities[].cvsssource         | never set (io.go)                                          | SeveritySource, with CVSS only (build.ts)                    | same; with CVSS differs    |
 * | vulnerabilities[].severity           | VendorSeverity[SeveritySource], else UNKNOWN (io.go)       | the same; trivy.severitySource=trivy: Trivy's (build.ts)     | same                       |
 * | vulnerabilities[].score              | last non-NVD vendor's V3 in Go map order, else NVD (io.go) | SeveritySource vendor, else by name, else NVD (build.ts)     | same; 2+ vendors differ    |
 * | vulnerabilities[].packagePURL        | PURL parsed, re-serialised (io.go)                         | Trivy's string as is (trivy-result.ts)                       | same; derived case differs |
 * | vulnerabilities (list)               | all, always (io.go)                                        | cut lowest severity first past etcd's limit (size-guard.ts)  | same (small report)        |
 * | summary.*Count                       | counts of its severities (io.go)                           | counts of ours (build.ts)                                    | same                       |
 * | artifact.tag, Docker Hub name@digest | reference before @, name included (plugin.go)              | the tag (report-parts.ts)                                    | differs                    |
 * | artifact.digest                      | ref digest, else RepoDigests[0] (plugin.go)                | same rule; scan-results.ts passes the pod's                  | same                       |
 * | updateTimestamp of a copied report   | n/a: every workload is scanned (io.go)                     | the source scan's time (scan-results.ts)                     | n/a                        |
 * | secrets[].severity                   | Trivy's as is; not-4 fails its CRD (plugin.go)             | not one of the four -> LOW (exposedsecret/build.ts)          | same; derived case differs |
 * | secret summary                       | not-4 severities uncounted (exposedsecretreport/io.go)     | counted as LOW (exposedsecret/build.ts)                      | same; derived case differs |
 * | secrets[].match                      | Trivy's Match as is (plugin.go)                            | max 256 chars; no *** -> all masked (exposedsecret/build.ts) | same; derived cases differ |
 * | annotation report-ttl                | VulnerabilityReport only (builder.go)                      | both kinds (report-metadata.ts, scan-results.ts)             | metadata                   |
 * | annotations trivy-lookout.dev/*      | none                                                       | image-key, scanned-at, trimmed (scan-results.ts)             | metadata                   |
 * | label resource-spec-hash             | hash of the pod spec (vulnerabilityreport/builder.go)      | hash of container, image, digest (scan-results.ts)           | metadata                   |
 * | labels from report.additionalLabels  | added (builder.go)                                         | not supported                                                | metadata                   |
 *
 * Everything else — updateTimestamp, scanner, registry, artifact (repository, digest, tag for other
 * references), os, summary, and per vulnerability vulnerabilityID, resource, installedVersion,
 * fixedVersion, publishedDate, lastModifiedDate, title, primaryLink; per secret target, ruleID,
 * title, category — is the same, and asserted equal below.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import type {
  ExposedSecretReportData,
  Vulnerability,
  VulnerabilityReportData,
} from '../../../src/crds/index.ts';
import { ReportAnnotation, ReportLabel } from '../../../src/crds/index.ts';
import { buildLayout, renderReport } from '../../../src/metrics/index.ts';
import {
  MAX_MATCH_LENGTH,
  buildExposedSecretReportData,
  ADDITIONAL_VULNERABILITY_FIELDS,
  buildVulnerabilityReportData,
  parseTrivyImageResult,
  type VulnerabilityReportOptions,
} from '../../../src/reports/index.ts';
import { parseImageReference, reportMetadata, type WorkloadRef } from '../../../src/workloads/index.ts';
import { ALL_FAMILIES } from '../metrics/support.ts';

type Json = Record<string, unknown>;

/** One case of Trivy-Operator's output fixture: its ParseReportData for one image reference and config. */
interface ToCase {
  imageRef: string;
  trivyTag: string;
  /** `trivy.additionalVulnerabilityReportFields`; '' = not set (the default). */
  additionalVulnerabilityReportFields: string;
  vulnerabilityReport: VulnerabilityReportData;
  exposedSecretReport: ExposedSecretReportData;
}

const FIXTURES = new URL('../../fixtures/trivy-real/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const trivyJson = (image: 'java' | 'secret'): string =>
  read(`trivy-v0.74.0.test-image-${image}.test-db-v1.json`);
const toCases = (image: 'java' | 'secret'): ToCase[] =>
  (JSON.parse(read(`trivy-operator-v0.32.0.test-image-${image}.test-db-v1.json`)) as { cases: ToCase[] })
    .cases;

/** The clock of the Trivy-Operator fixtures (see their README), so updateTimestamp is comparable. */
const NOW = new Date('2026-01-02T03:04:05Z');
const ALL_FIELDS = 'Description,Links,CVSS,Target,Class,PackageType,PackagePath';
/** The fields Trivy-Operator writes whatever its config says (pkg/vulnerabilityreport/io.go). */
const ALWAYS_FIELDS = [
  'vulnerabilityID',
  'resource',
  'installedVersion',
  'fixedVersion',
  'publishedDate',
  'lastModifiedDate',
  'severity',
  'title',
  'primaryLink',
  'score',
  'packagePURL',
] as const;

function ours(
  json: string,
  toCase: Pick<ToCase, 'imageRef' | 'trivyTag'>,
  settings: Pick<VulnerabilityReportOptions, 'additionalFields' | 'severitySource'> = {},
) {
  const result = parseTrivyImageResult(json);
  const options = {
    image: parseImageReference(toCase.imageRef),
    scannerVersion: toCase.trivyTag,
    now: NOW,
    ...settings,
  };
  return {
    vuln: buildVulnerabilityReportData(result, options),
    secret: buildExposedSecretReportData(result, options),
  };
}

function toCase(image: 'java' | 'secret', imageRef: string, fields = ''): ToCase {
  const found = toCases(image).find(
    (c) => c.imageRef === imageRef && c.additionalVulnerabilityReportFields === fields,
  );
  assert.ok(found, `Trivy-Operator fixture has ${imageRef} with fields "${fields}"`);
  return found;
}

/** The real Trivy JSON with one result's vulnerabilities (or secrets) replaced: for rules real data does not reach. */
function derived(image: 'java' | 'secret', change: (root: Json & { Results: Json[] }) => void): string {
  const root = JSON.parse(trivyJson(image)) as Json & { Results: Json[] };
  change(root);
  return JSON.stringify(root);
}

const JAVA_REF = '198.51.100.1:5000/trivy-lookout-test/java:1.0';
const SECRET_REF = '198.51.100.1:5000/trivy-lookout-test/secret:1.0';

describe('the fixtures are real Trivy v0.74.0 output on the test images with the TEST DB', () => {
  it('java: Trivy 0.74.0, the Debian base advisories and log4j CVE-2021-44228', () => {
    const root = JSON.parse(trivyJson('java')) as Json & { Trivy: Json; Results: Json[] };
    assert.deepEqual(root.Trivy, { Version: '0.74.0' });
    assert.equal(root.SchemaVersion, 2);
    const ids = parseTrivyImageResult(trivyJson('java')).results.flatMap((r) =>
      r.vulnerabilities.map((v) => v.vulnerabilityID),
    );
    assert.deepEqual(ids, ['TEST-2026-0001', 'TEST-2026-0003', 'TEST-2026-0002', 'CVE-2021-44228']);
  });

  it('secret: the planted AWS key pair, masked by Trivy', () => {
    const secrets = parseTrivyImageResult(trivyJson('secret')).results.flatMap((r) => r.secrets);
    assert.deepEqual(
      secrets.map((s) => [s.ruleID, s.severity]),
      [
        ['aws-access-key-id', 'CRITICAL'],
        ['aws-secret-access-key', 'CRITICAL'],
      ],
    );
    for (const s of secrets) assert.match(s.match, /\*{20,}$/);
  });

  it('Trivy-Operator fixtures are its output for the same files', () => {
    for (const c of [...toCases('java'), ...toCases('secret')]) {
      assert.equal(c.trivyTag, '0.74.0');
      assert.equal(c.vulnerabilityReport.updateTimestamp, '2026-01-02T03:04:05Z');
    }
  });
});

describe('VulnerabilityReport (java image) against Trivy-Operator', () => {
  const to = toCase('java', JAVA_REF);
  const toAll = toCase('java', JAVA_REF, ALL_FIELDS);
  const { vuln } = ours(trivyJson('java'), to);

  it('same: updateTimestamp, scanner, registry, artifact, os, summary', () => {
    const { vulnerabilities: _ours, ...oursTop } = vuln;
    const { vulnerabilities: _theirs, ...theirsTop } = to.vulnerabilityReport;
    assert.deepEqual(oursTop, theirsTop);
    assert.deepEqual(oursTop, {
      updateTimestamp: '2026-01-02T03:04:05Z',
      scanner: { name: 'Trivy', vendor: 'Aqua Security', version: '0.74.0' },
      registry: { server: '198.51.100.1:5000' },
      // Trivy scanned an OCI layout: no RepoDigests, and the reference has no digest, so neither writes one.
      artifact: { repository: 'trivy-lookout-test/java', tag: '1.0' },
      os: { family: 'debian', name: '12.11' },
      summary: { criticalCount: 1, highCount: 1, mediumCount: 1, lowCount: 1, unknownCount: 0, noneCount: 0 },
    });
  });

  it('same: the vulnerabilities, in the same order, with the fields Trivy-Operator always writes', () => {
    assert.equal(vuln.vulnerabilities.length, to.vulnerabilityReport.vulnerabilities.length);
    vuln.vulnerabilities.forEach((v, i) => {
      const theirs = to.vulnerabilityReport.vulnerabilities[i] as Vulnerability;
      for (const field of ALWAYS_FIELDS)
        assert.deepEqual(v[field], theirs[field], `${v.vulnerabilityID} ${field}`);
    });
    const log4j = vuln.vulnerabilities[3];
    assert.equal(log4j?.severity, 'CRITICAL');
    assert.equal(log4j?.score, 10);
    assert.equal(log4j?.publishedDate, '2021-12-10T10:15:00Z');
    assert.equal(log4j?.packagePURL, 'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1');
  });

  it("same by default (the setting unset): exactly Trivy-Operator's report, field for field", () => {
    assert.deepEqual(vuln, to.vulnerabilityReport);
    for (const v of to.vulnerabilityReport.vulnerabilities as (Vulnerability & Json)[]) {
      // Trivy-Operator without the setting: links [] and target "" (always in its JSON), the rest absent.
      assert.deepEqual(v.links, []);
      assert.equal(v.target, '');
      for (const field of ['description', 'cvss', 'class', 'packageType', 'packagePath', 'cvsssource']) {
        assert.equal(field in v, false, `${v.vulnerabilityID} ${field} absent in Trivy-Operator's`);
      }
    }
    // Exactly its keys, per finding.
    vuln.vulnerabilities.forEach((v, i) => {
      assert.deepEqual(
        Object.keys(v).sort(),
        Object.keys(to.vulnerabilityReport.vulnerabilities[i] ?? {}).sort(),
      );
    });
  });

  it('with every additionalVulnerabilityReportFields set, Trivy-Operator writes exactly ours, less cvsssource', () => {
    const all = ours(trivyJson('java'), toAll, { additionalFields: ADDITIONAL_VULNERABILITY_FIELDS }).vuln;
    assert.equal(ALL_FIELDS, ADDITIONAL_VULNERABILITY_FIELDS.join(','));
    all.vulnerabilities.forEach((v, i) => {
      const { cvsssource, ...rest } = v;
      assert.deepEqual(rest, toAll.vulnerabilityReport.vulnerabilities[i], v.vulnerabilityID);
      // Difference: cvsssource is in Trivy-Operator's type but its code never sets it; ours comes with CVSS.
      assert.equal(cvsssource, v.vulnerabilityID.startsWith('CVE-') ? 'ghsa' : 'debian');
      assert.equal('cvsssource' in (toAll.vulnerabilityReport.vulnerabilities[i] as object), false);
    });
    const log4j = all.vulnerabilities[3];
    assert.deepEqual(
      {
        target: log4j?.target,
        class: log4j?.class,
        packageType: log4j?.packageType,
        packagePath: log4j?.packagePath,
      },
      {
        target: 'Java',
        class: 'lang-pkgs',
        packageType: 'jar',
        packagePath: 'app/lib/log4j-core-2.14.1.jar',
      },
    );
  });

  it('each additional field alone adds only itself, as in Trivy-Operator (io.go)', () => {
    const keyOf = {
      Description: ['description'],
      Links: [],
      CVSS: ['cvss', 'cvsssource'],
      Target: [],
      Class: ['class'],
      PackageType: ['packageType'],
      PackagePath: ['packagePath'],
    } as const;
    const base = Object.keys(vuln.vulnerabilities[3] ?? {}).sort();
    for (const field of ADDITIONAL_VULNERABILITY_FIELDS) {
      const one = ours(trivyJson('java'), to, { additionalFields: [field] }).vuln.vulnerabilities[3];
      assert.ok(one);
      assert.deepEqual(Object.keys(one).sort(), [...base, ...keyOf[field]].sort(), field);
      const all = toAll.vulnerabilityReport.vulnerabilities[3] as Vulnerability & Json;
      for (const key of [
        ...keyOf[field],
        ...(field === 'Links' ? ['links'] : []),
        ...(field === 'Target' ? ['target'] : []),
      ]) {
        if (key !== 'cvsssource')
          assert.deepEqual((one as Vulnerability & Json)[key], all[key], `${field}: ${key}`);
      }
    }
  });

  it('artifact: same for a registry host with tag@digest; differs for a Docker Hub name with tag@digest', () => {
    const hosted = toCases('java').find((c) => c.imageRef.startsWith(`${JAVA_REF}@sha256:`));
    const hub = toCases('java').find((c) => c.imageRef.startsWith('trivy-lookout-test/java:1.0@sha256:'));
    assert.ok(hosted && hub);
    const digest = hosted.imageRef.slice(hosted.imageRef.indexOf('@') + 1);
    assert.deepEqual(ours(trivyJson('java'), hosted).vuln.artifact, hosted.vulnerabilityReport.artifact);
    assert.deepEqual(hosted.vulnerabilityReport.artifact, {
      repository: 'trivy-lookout-test/java',
      digest,
      tag: '1.0',
    });
    // pkg/plugins/trivy/plugin.go ParseImageRef trims ref.Context().Name() ("index.docker.io/…") off a
    // reference that does not start with it, so the whole name stays in the tag.
    assert.deepEqual(hub.vulnerabilityReport.artifact, {
      repository: 'trivy-lookout-test/java',
      digest,
      tag: 'trivy-lookout-test/java:1.0',
    });
    const oursHub = ours(trivyJson('java'), hub).vuln;
    assert.deepEqual(oursHub.artifact, { repository: 'trivy-lookout-test/java', digest, tag: '1.0' });
    assert.deepEqual(oursHub.registry, hub.vulnerabilityReport.registry);
  });

  it('same: without a digest in the reference, both take the one after "@" in RepoDigests[0]', () => {
    const digest = 'sha256:1111111111111111111111111111111111111111111111111111111111111111';
    const json = derived('java', (root) => {
      (root.Metadata as Json).RepoDigests = [`198.51.100.1:5000/trivy-lookout-test/java@${digest}`];
    });
    // plugin.go getImageDigest + ParseImageRef; ours report-parts.ts artifactOf.
    assert.deepEqual(ours(json, to).vuln.artifact, {
      repository: 'trivy-lookout-test/java',
      digest,
      tag: '1.0',
    });
  });
});

describe('VulnerabilityReport: rules the real output does not reach (derived from it)', () => {
  const to = toCase('java', JAVA_REF);
  /** The log4j finding of the real output with some fields changed. */
  const log4jWith = (
    change: (v: Json) => void,
    severitySource?: VulnerabilityReportOptions['severitySource'],
  ): VulnerabilityReportData =>
    ours(
      derived('java', (root) => {
        const lang = root.Results[1] as { Vulnerabilities: Json[] };
        const v = lang.Vulnerabilities[0] as Json;
        change(v);
        lang.Vulnerabilities = [v];
        root.Results = [lang];
      }),
      to,
      severitySource ? { severitySource } : {},
    ).vuln;

  it('severity same by default when Trivy fell back to the DB severity (no SeveritySource): UNKNOWN', () => {
    // What Trivy writes when neither the data source nor NVD has a severity (autoDetectSeverity).
    const fellBack = (v: Json) => {
      delete v.SeveritySource;
      v.Severity = 'HIGH';
      v.VendorSeverity = {};
    };
    // TO pkg/vulnerabilityreport/io.go GetVulnerabilitiesFromScanResult:
    //   severity := sr.VendorSeverity[sr.SeveritySource].String() → the zero Severity, "UNKNOWN".
    const data = log4jWith(fellBack);
    assert.equal(data.vulnerabilities[0]?.severity, 'UNKNOWN');
    assert.deepEqual(data.summary, {
      criticalCount: 0,
      highCount: 0,
      mediumCount: 0,
      lowCount: 0,
      unknownCount: 1,
      noneCount: 0,
    });
    // trivy.severitySource: trivy counts it as `trivy image` shows it (differs from TO on purpose).
    const trivy = log4jWith(fellBack, 'trivy');
    assert.equal(trivy.vulnerabilities[0]?.severity, 'HIGH');
    assert.equal(trivy.summary.highCount, 1);
    assert.equal(trivy.summary.unknownCount, 0);
  });

  it('severity same by default when the DB has no vendor severities: UNKNOWN; with trivy: Trivy’s', () => {
    const noVendor = (v: Json) => {
      v.Severity = 'LOW';
      v.SeveritySource = 'ghsa';
      delete v.VendorSeverity;
    };
    assert.equal(log4jWith(noVendor).vulnerabilities[0]?.severity, 'UNKNOWN'); // TO: the same line of io.go
    assert.equal(log4jWith(noVendor, 'trivy').vulnerabilities[0]?.severity, 'LOW');
  });

  it('severity: the source vendor wins over Trivy’s own word by default (TO), Trivy’s with trivy', () => {
    const disagree = (v: Json) => {
      v.Severity = 'CRITICAL';
      v.SeveritySource = 'ghsa';
      v.VendorSeverity = { ghsa: 2, nvd: 4 };
    };
    assert.equal(log4jWith(disagree).vulnerabilities[0]?.severity, 'MEDIUM');
    assert.equal(log4jWith(disagree, 'trivy').vulnerabilities[0]?.severity, 'CRITICAL');
  });

  it('score: with two non-NVD vendors TO picks by Go map order; ours is the SeveritySource vendor', () => {
    // TO io.go GetScoreFromCVSS: every non-"nvd" entry overwrites vendorScore (nil when that vendor
    // has no V3), in random map order. Run on this input it gave 7.5 or 8.1 from run to run.
    const two = log4jWith((v) => {
      v.CVSS = { ghsa: { V3Score: 7.5 }, redhat: { V3Score: 8.1 }, nvd: { V3Score: 10 } };
    });
    assert.equal(two.vulnerabilities[0]?.score, 7.5);
    // TO: 7.5, or NVD's 10 when the V2-only vendor comes last.
    const v2Only = log4jWith((v) => {
      v.CVSS = { ghsa: { V3Score: 7.5 }, redhat: { V2Score: 5 }, nvd: { V3Score: 10 } };
    });
    assert.equal(v2Only.vulnerabilities[0]?.score, 7.5);
    // One non-NVD vendor or NVD alone: the same as TO (the java fixture: NVD's 10).
    const nvdOnly = log4jWith(() => {});
    assert.equal(nvdOnly.vulnerabilities[0]?.score, 10);
  });

  it('packagePURL: TO re-serialises (qualifiers sorted); ours keeps Trivy’s string', () => {
    const data = log4jWith((v) => {
      v.PkgIdentifier = { PURL: 'pkg:deb/debian/zlib1g@1.2?distro=debian-12&arch=amd64' };
    });
    // TO: sr.PkgIdentifier.PURL.String() → 'pkg:deb/debian/zlib1g@1.2?arch=amd64&distro=debian-12'.
    assert.equal(
      data.vulnerabilities[0]?.packagePURL,
      'pkg:deb/debian/zlib1g@1.2?distro=debian-12&arch=amd64',
    );
  });

  it('same: dates in Go’s RFC 3339 (fraction dropped, offset kept)', () => {
    const data = log4jWith((v) => {
      v.PublishedDate = '2021-12-10T10:15:00.123+02:00';
      delete v.LastModifiedDate;
    });
    // TO: sr.PublishedDate.Format(time.RFC3339), "" when nil (checked with its code on this input).
    assert.equal(data.vulnerabilities[0]?.publishedDate, '2021-12-10T10:15:00+02:00');
    assert.equal(data.vulnerabilities[0]?.lastModifiedDate, '');
  });
});

describe('ExposedSecretReport (secret image) against Trivy-Operator', () => {
  const to = toCase('secret', SECRET_REF);
  const { secret, vuln } = ours(trivyJson('secret'), to);

  it('same: the whole report', () => {
    assert.deepEqual(secret, to.exposedSecretReport);
    assert.deepEqual(secret.summary, { criticalCount: 2, highCount: 0, mediumCount: 0, lowCount: 0 });
    assert.deepEqual(
      secret.secrets.map((s) => [s.target, s.ruleID, s.severity, s.match]),
      [
        [
          '/root/.aws/credentials',
          'aws-access-key-id',
          'CRITICAL',
          'aws_access_key_id = ********************',
        ],
        [
          '/root/.aws/credentials',
          'aws-secret-access-key',
          'CRITICAL',
          'aws_secret_access_key = ****************************************',
        ],
      ],
    );
    assert.equal('os' in secret, false);
  });

  it('same: the vulnerability report of the secret image (fields TO always writes)', () => {
    const { vulnerabilities: _o, ...oursTop } = vuln;
    const { vulnerabilities: _t, ...theirsTop } = to.vulnerabilityReport;
    assert.deepEqual(oursTop, theirsTop);
    vuln.vulnerabilities.forEach((v, i) => {
      for (const field of ALWAYS_FIELDS) {
        assert.deepEqual(v[field], to.vulnerabilityReport.vulnerabilities[i]?.[field], field);
      }
    });
  });

  /** The first planted secret of the real output with some fields changed. */
  const secretWith = (change: (s: Json) => void): ExposedSecretReportData =>
    ours(
      derived('secret', (root) => {
        const result = root.Results.find((r) => r.Class === 'secret') as { Secrets: Json[] };
        const s = result.Secrets[0] as Json;
        change(s);
        result.Secrets = [s];
      }),
      to,
    ).secret;

  it('severity and summary differ for a severity outside the four: TO keeps it (its CRD rejects it), ours LOW', () => {
    const data = secretWith((s) => {
      s.Severity = 'UNKNOWN';
    });
    // TO plugin.go getExposedSecretsFromScanResult: Severity: v1alpha1.Severity(sr.Severity) → "UNKNOWN",
    // which its CRD's enum (CRITICAL, HIGH, MEDIUM, LOW) refuses; exposedsecretreport/io.go secretSummary
    // would count it nowhere.
    assert.equal(data.secrets[0]?.severity, 'LOW');
    assert.deepEqual(data.summary, { criticalCount: 0, highCount: 0, mediumCount: 0, lowCount: 1 });
  });

  it('match differs when Trivy did not mask it or it is long: TO keeps it as is', () => {
    const unmasked = secretWith((s) => {
      s.Match = 'password = hunter2';
    });
    assert.equal(unmasked.secrets[0]?.match, '******** * *******'); // TO: 'password = hunter2'
    const long = secretWith((s) => {
      s.Match = `${'x'.repeat(280)}****`;
    });
    assert.equal([...(long.secrets[0]?.match ?? '')].length, MAX_MATCH_LENGTH); // TO: all 284 characters
    assert.ok(long.secrets[0]?.match.endsWith('…'));
  });
});

describe('metadata against Trivy-Operator (vulnerabilityreport/builder.go, exposedsecretreport/builder.go)', () => {
  const owner: WorkloadRef = {
    kind: 'ReplicaSet',
    namespace: 'shop',
    name: 'java-6d4cf56db6',
    uid: '1c1a0a6e-8d7b-4c8e-9a53-5c2f0f3b7e10',
    apiVersion: 'apps/v1',
  };
  const meta = reportMetadata(owner, 'app', { specHash: 'h', ttlMs: 86_400_000 });

  it('same: name, namespace, label keys and values, owner reference', () => {
    assert.equal(meta.name, 'replicaset-java-6d4cf56db6-app');
    assert.equal(meta.namespace, 'shop');
    assert.deepEqual(meta.labels, {
      [ReportLabel.resourceKind]: 'ReplicaSet',
      [ReportLabel.resourceNamespace]: 'shop',
      [ReportLabel.resourceName]: 'java-6d4cf56db6',
      [ReportLabel.containerName]: 'app',
      [ReportLabel.managedBy]: 'trivy-operator',
      // Key the same; the value differs (TO: hash of the pod spec; ours: scan-results.ts hashes
      // container, image and digest).
      [ReportLabel.resourceSpecHash]: 'h',
    });
    // TO: controllerutil.SetControllerReference, then BlockOwnerDeletion set to false.
    assert.deepEqual(meta.ownerReferences, [
      {
        apiVersion: 'apps/v1',
        kind: 'ReplicaSet',
        name: 'java-6d4cf56db6',
        uid: owner.uid,
        controller: true,
        blockOwnerDeletion: false,
      },
    ]);
  });

  it('the report-ttl annotation: the same value; we put it on ExposedSecretReports too (TO does not)', () => {
    // scan-results.ts writes the same metadata on both kinds; TO's exposedsecretreport ReportBuilder has no TTL.
    assert.deepEqual(meta.annotations, { [ReportAnnotation.reportTTL]: '24h0m0s' });
  });
});

describe('metrics from these reports (the renderer reads the fields TO’s metrics/collector.go reads)', () => {
  const layout = buildLayout(ALL_FAMILIES);
  const metadata = {
    name: 'replicaset-java-6d4cf56db6-app',
    namespace: 'shop',
    labels: reportMetadata(
      { kind: 'ReplicaSet', namespace: 'shop', name: 'java-6d4cf56db6', uid: 'u', apiVersion: 'apps/v1' },
      'app',
      { specHash: 'h' },
    ).labels,
  };
  const lines = (kind: 'VulnerabilityReport' | 'ExposedSecretReport', report: unknown, family: string) => {
    const rendered = renderReport(kind, { kind, metadata, report }, layout);
    const slot = layout.slots[family as keyof typeof layout.slots];
    assert.notEqual(slot, undefined);
    return (rendered.lines[slot ?? -1] ?? []).map((line) => line.replace(/\n$/, ''));
  };
  const to = toCase('java', JAVA_REF);
  const { vuln } = ours(trivyJson('java'), to);

  it('same: trivy_image_vulnerabilities (severity counts from the summary)', () => {
    const o = lines('VulnerabilityReport', vuln, 'imageVulnerabilities');
    assert.deepEqual(o, lines('VulnerabilityReport', to.vulnerabilityReport, 'imageVulnerabilities'));
    assert.equal(o.length, 5);
    assert.match(o[0] ?? '', /severity="Critical",k8s_label_app=""\} 1$/);
  });

  it('same: trivy_vulnerability_id, by default and with every additional field', () => {
    const o = lines('VulnerabilityReport', vuln, 'vulnerabilityId');
    const t = lines('VulnerabilityReport', to.vulnerabilityReport, 'vulnerabilityId');
    assert.deepEqual(o, t);
    assert.match(t[3] ?? '', /package_type="",pkg_path="",target="",class=""/);
    const toAll = toCase('java', JAVA_REF, ALL_FIELDS);
    const all = ours(trivyJson('java'), toAll, { additionalFields: ADDITIONAL_VULNERABILITY_FIELDS }).vuln;
    const oAll = lines('VulnerabilityReport', all, 'vulnerabilityId');
    assert.deepEqual(oAll, lines('VulnerabilityReport', toAll.vulnerabilityReport, 'vulnerabilityId'));
    assert.match(
      oAll[3] ?? '',
      /package_type="jar",pkg_path="app\/lib\/log4j-core-2.14.1.jar",target="Java",class="lang-pkgs"/,
    );
  });

  it('same: trivy_image_exposedsecrets and trivy_exposedsecrets_info', () => {
    const secretTo = toCase('secret', SECRET_REF);
    const { secret } = ours(trivyJson('secret'), secretTo);
    for (const family of ['imageExposedSecrets', 'exposedSecretsInfo']) {
      const o = lines('ExposedSecretReport', secret, family);
      assert.ok(o.length > 0);
      assert.deepEqual(o, lines('ExposedSecretReport', secretTo.exposedSecretReport, family));
    }
  });
});
