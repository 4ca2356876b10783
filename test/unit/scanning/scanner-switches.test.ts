/**
 * The image scanner switches (Trivy-Operator's operator.vulnerabilityScannerEnabled,
 * exposedSecretScannerEnabled, sbomGenerationEnabled, clusterSbomCacheEnabled) as the scan Job and
 * the result index see them, and the SBOM line of the scan log.
 */
import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { describe, it } from 'node:test';
import { loadConfig } from '../../../src/config/index.ts';
import { ErrorCodes, isLookoutError } from '../../../src/errors/index.ts';
import { buildScanJob, imageScanners, SCAN_SCRIPT } from '../../../src/scanning/job-manifest.ts';
import {
  decodeScanLog,
  decodeScanSbom,
  TRIVY_CYCLONEDX_PREFIX,
  TRIVY_VERSION_PREFIX,
} from '../../../src/scanning/result.ts';
import { imageReportKinds, indexReportKind } from '../../../src/scanning/scan-results.ts';

const noFile = () => {
  throw new Error('no file');
};
const config = (env: Record<string, string> = {}) =>
  loadConfig({ OPERATOR_NAMESPACE: 'trivy-system', ...env }, noFile);
const input = {
  imageKey: 'ghcr.io/acme/api@sha256:' + 'a'.repeat(64),
  imageRef: 'ghcr.io/acme/api@sha256:' + 'a'.repeat(64),
  registryHost: 'ghcr.io',
};
const OFF = {
  OPERATOR_VULNERABILITY_SCANNER_ENABLED: 'false',
  OPERATOR_EXPOSED_SECRET_SCANNER_ENABLED: 'false',
  OPERATOR_SBOM_GENERATION_ENABLED: 'false',
};
const scanContainer = (env: Record<string, string>) => {
  const container = buildScanJob(config(env), input).job.spec?.template.spec?.containers[0];
  assert.ok(container);
  return container;
};

describe('image scanner switches', () => {
  it("default to Trivy-Operator's chart: vulnerabilities, secrets and SBOM on, the cluster SBOM cache off", () => {
    const { operator } = config();
    assert.deepEqual(
      [
        operator.vulnerabilityScannerEnabled,
        operator.exposedSecretScannerEnabled,
        operator.sbomGenerationEnabled,
        operator.clusterSbomCacheEnabled,
      ],
      [true, true, true, false],
    );
    assert.deepEqual(imageReportKinds(config()), [
      'VulnerabilityReport',
      'ExposedSecretReport',
      'SbomReport',
    ]);
  });

  it('ask Trivy for only the scanners switched on, and for every package when the SBOM is on', () => {
    const all = scanContainer({});
    assert.deepEqual(all.args?.slice(all.args.indexOf('--scanners'), all.args.indexOf('--scanners') + 3), [
      '--scanners',
      'vuln,secret',
      '--list-all-pkgs',
    ]);
    assert.ok(all.env?.some((e) => e.name === 'SCAN_SBOM' && e.value === 'true'));

    const secretOnly = scanContainer({ ...OFF, OPERATOR_EXPOSED_SECRET_SCANNER_ENABLED: 'true' });
    assert.equal(secretOnly.args?.[secretOnly.args.indexOf('--scanners') + 1], 'secret');
    assert.ok(!secretOnly.args?.includes('--list-all-pkgs'));
    assert.ok(!secretOnly.env?.some((e) => e.name === 'SCAN_SBOM'));

    // SBOM alone: no scanner, only the package list.
    const sbomOnly = scanContainer({ ...OFF, OPERATOR_SBOM_GENERATION_ENABLED: 'true' });
    assert.equal(sbomOnly.args?.[sbomOnly.args.indexOf('--scanners') + 1], '');
    assert.ok(sbomOnly.args?.includes('--list-all-pkgs'));
    assert.equal(
      imageScanners(config({ OPERATOR_VULNERABILITY_SCANNER_ENABLED: 'false' }).operator),
      'secret',
    );
  });

  it('index results by the first report kind written; none switched on, nothing is scanned', () => {
    assert.equal(indexReportKind(config()), 'VulnerabilityReport');
    assert.equal(
      indexReportKind(config({ OPERATOR_VULNERABILITY_SCANNER_ENABLED: 'false' })),
      'ExposedSecretReport',
    );
    assert.equal(indexReportKind(config({ ...OFF, OPERATOR_SBOM_GENERATION_ENABLED: 'true' })), 'SbomReport');
    assert.deepEqual(imageReportKinds(config(OFF)), []);
  });

  it('the scan script converts the result to CycloneDX in the same container, only when asked', () => {
    assert.match(SCAN_SCRIPT, /if \[ -n "\$SCAN_SBOM" \] && trivy convert --quiet --format cyclonedx/);
    // One trivy image run: the SBOM comes from its result, not a second scan.
    assert.equal(SCAN_SCRIPT.match(/trivy image/g)?.length, 1);
  });
});

describe('trivy.additionalVulnerabilityReportFields and trivy.severitySource', () => {
  it("take Trivy-Operator's field names in any case, and refuse others aloud", () => {
    assert.deepEqual(config().trivy.additionalVulnerabilityReportFields, []);
    assert.deepEqual(
      config({ OPERATOR_TRIVY_ADDITIONAL_VULNERABILITY_REPORT_FIELDS: 'description, links,CVSS,PackagePath' })
        .trivy.additionalVulnerabilityReportFields,
      ['Description', 'Links', 'CVSS', 'PackagePath'],
    );
    assert.throws(
      () => config({ OPERATOR_TRIVY_ADDITIONAL_VULNERABILITY_REPORT_FIELDS: 'Description,PkgPath' }),
      (err: unknown) =>
        isLookoutError(err, ErrorCodes.CONFIG_INVALID) &&
        /OPERATOR_TRIVY_ADDITIONAL_VULNERABILITY_REPORT_FIELDS/.test((err as Error).message),
    );
  });

  it("severity source: Trivy-Operator's rule by default, Trivy's on request", () => {
    assert.equal(config().trivy.severitySource, 'trivy-operator');
    assert.equal(config({ OPERATOR_TRIVY_SEVERITY_SOURCE: 'Trivy' }).trivy.severitySource, 'trivy');
    assert.throws(() => config({ OPERATOR_TRIVY_SEVERITY_SOURCE: 'nvd' }));
  });
});

describe('trivy.sbomSources', () => {
  it("passes Trivy's --sbom-sources only when set, as Trivy-Operator (pkg/plugins/trivy/image.go)", () => {
    assert.ok(!scanContainer({}).args?.includes('--sbom-sources'));
    const args = scanContainer({ OPERATOR_TRIVY_SBOM_SOURCES: 'OCI,rekor' }).args ?? [];
    assert.deepEqual(args.slice(args.indexOf('--sbom-sources'), args.indexOf('--sbom-sources') + 2), [
      '--sbom-sources',
      'oci,rekor',
    ]);
    assert.throws(() => config({ OPERATOR_TRIVY_SBOM_SOURCES: 'github' }));
  });
});

describe('decodeScanSbom', () => {
  const json = JSON.stringify({ SchemaVersion: 2, Results: [] });
  const bom = JSON.stringify({ bomFormat: 'CycloneDX', specVersion: '1.7' });
  const b64 = (text: string) => gzipSync(text).toString('base64');
  const log = [
    b64(json).replace(/(.{76})/g, '$1\n'),
    `${TRIVY_CYCLONEDX_PREFIX}${b64(bom)}`,
    `${TRIVY_VERSION_PREFIX}{}`,
    '',
  ].join('\n');

  it('reads the SBOM line; the result is read without it', () => {
    assert.equal(decodeScanSbom(log), bom);
    assert.equal(decodeScanLog(log), json);
  });

  it('is undefined without an SBOM line, and an error for a broken one', () => {
    assert.equal(decodeScanSbom(`${b64(json)}\n${TRIVY_VERSION_PREFIX}{}\n`), undefined);
    assert.throws(
      () => decodeScanSbom(`${TRIVY_CYCLONEDX_PREFIX}not base64!\n`),
      (err: unknown) => isLookoutError(err, ErrorCodes.TRIVY_OUTPUT_INVALID),
    );
  });
});
