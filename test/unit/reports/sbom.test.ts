/**
 * SbomReport `.report` from a real Trivy v0.74.0 result and its CycloneDX conversion (`trivy convert
 * --format cyclonedx` of test/fixtures/trivy-real/trivy-v0.74.0.test-image-*.test-db-v1.json, kept
 * next to them as *.cyclonedx.json), kept as Trivy-Operator v0.32.0 keeps it
 * (pkg/sbomreport/io.go BuildSbomReportData, util.go cycloneDxBomToReport, builder.go ArtifactRef).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { API_GROUP_VERSION, rawCrdManifestFor, type SbomReportData } from '../../../src/crds/index.ts';
import { ErrorCodes, isLookoutError } from '../../../src/errors/index.ts';
import {
  buildSbomReportData,
  clusterSbomReportName,
  fitSbomToLimit,
  parseTrivyImageResult,
  trimmedAnnotation,
} from '../../../src/reports/index.ts';
import { nameHash, parseImageReference, reportMetadata } from '../../../src/workloads/index.ts';
import { validateResource } from '../crds/schema-validator.ts';

const FIXTURES = new URL('../../fixtures/trivy-real/', import.meta.url);
const read = (name: string): string => readFileSync(new URL(name, FIXTURES), 'utf8');
const trivyJson = (image: string) => read(`trivy-v0.74.0.test-image-${image}.test-db-v1.json`);
const cycloneDx = (image: string) => read(`trivy-v0.74.0.test-image-${image}.test-db-v1.cyclonedx.json`);
const NOW = new Date('2026-01-02T03:04:05.678Z');
const options = {
  image: parseImageReference('198.51.100.1:5000/trivy-lookout-test/java:1.0'),
  scannerVersion: '0.74.0',
  now: NOW,
};
type Json = Record<string, unknown>;

function build(image = 'java', bom: unknown = cycloneDx(image)): SbomReportData {
  const data = buildSbomReportData(parseTrivyImageResult(trivyJson(image)), bom, options);
  assert.ok(data);
  return data;
}

describe('buildSbomReportData (java image, real Trivy output)', () => {
  const data = build();
  const raw = JSON.parse(cycloneDx('java')) as Json & { components: Json[]; dependencies: Json[] };

  it('has the report fields of Trivy-Operator: timestamp, scanner, registry, artifact, summary, components', () => {
    assert.deepEqual(Object.keys(data).sort(), [
      'artifact',
      'components',
      'registry',
      'scanner',
      'summary',
      'updateTimestamp',
    ]);
    assert.equal(data.updateTimestamp, '2026-01-02T03:04:05Z');
    assert.deepEqual(data.scanner, { name: 'Trivy', vendor: 'Aqua Security', version: '0.74.0' });
    assert.deepEqual(data.registry, { server: '198.51.100.1:5000' });
    assert.deepEqual(data.artifact, { repository: 'trivy-lookout-test/java', tag: '1.0' });
    // BomSummary: the image's own component counts too.
    assert.deepEqual(data.summary, { componentsCount: 6, dependenciesCount: 6 });
  });

  it('keeps the BOM as cycloneDxBomToReport does: its fields only, Trivy as the one tool, no vulnerabilities', () => {
    const bom = data.components;
    assert.deepEqual(Object.keys(bom).sort(), [
      'bomFormat',
      'components',
      'dependencies',
      'metadata',
      'serialNumber',
      'specVersion',
      'version',
    ]);
    assert.equal('vulnerabilities' in raw, true, 'the conversion has them');
    assert.equal(bom.bomFormat, 'CycloneDX');
    assert.equal(bom.specVersion, raw.specVersion);
    assert.equal(bom.serialNumber, raw.serialNumber);
    assert.equal(bom.version, 1);
    const metadata = raw.metadata as Json & { component: Json };
    assert.equal(bom.metadata?.timestamp, metadata.timestamp);
    // Trivy-Operator replaces the tools with this one entry (no manufacturer).
    assert.deepEqual(bom.metadata?.tools, {
      components: [{ type: 'application', group: 'aquasecurity', name: 'trivy', version: '0.74.0' }],
    });
    assert.equal(bom.metadata?.component?.['bom-ref'], metadata.component['bom-ref']);
    assert.equal(bom.metadata?.component?.type, 'container');
    assert.deepEqual(
      bom.components?.map((c) => c.name),
      ['debian', 'busybox-static', 'liblz4-1', 'zlib1g', 'log4j-core'],
    );
  });

  it('keeps each component’s bom-ref, type, name, group, version, purl, supplier, hashes, licenses, properties', () => {
    const allowed = new Set([
      'bom-ref',
      'type',
      'name',
      'group',
      'version',
      'purl',
      'supplier',
      'hashes',
      'licenses',
      'properties',
    ]);
    data.components.components?.forEach((c, i) => {
      const original = raw.components[i] as Json;
      for (const key of Object.keys(c)) assert.ok(allowed.has(key), key);
      for (const key of allowed) {
        // Empty lists are left out (omitempty), everything else as Trivy wrote it.
        const value = original[key];
        if (Array.isArray(value) && value.length === 0) assert.equal(key in c, false);
        else if (key !== 'supplier') assert.deepEqual((c as Json)[key], value, `${String(c.name)} ${key}`);
      }
    });
    const busybox = data.components.components?.[1];
    assert.deepEqual(busybox?.supplier, {
      name: 'Debian Install System Team <debian-boot@lists.debian.org>',
    });
    assert.deepEqual(busybox?.licenses, [{ license: { id: 'GPL-2.0-only' } }]);
    assert.ok(busybox?.properties?.some((p) => p.name === 'aquasecurity:trivy:PkgID'));
  });

  it('keeps the dependencies, an empty dependsOn included', () => {
    assert.deepEqual(data.components.dependencies, raw.dependencies as unknown);
    assert.ok(data.components.dependencies?.some((d) => d.dependsOn?.length === 0));
  });

  it('validates against the SbomReport and ClusterSbomReport CRD schemas', () => {
    const owner = {
      kind: 'ReplicaSet',
      namespace: 'shop',
      name: 'java-1',
      uid: 'u',
      apiVersion: 'apps/v1',
    } as const;
    for (const image of ['java', 'secret']) {
      const report = build(image);
      const object = {
        apiVersion: API_GROUP_VERSION,
        kind: 'SbomReport',
        metadata: reportMetadata(owner, 'app', { specHash: 'h' }),
        report,
      };
      assert.deepEqual(validateResource(object, rawCrdManifestFor('SbomReport')), [], image);
      const cluster = {
        apiVersion: API_GROUP_VERSION,
        kind: 'ClusterSbomReport',
        metadata: { name: clusterSbomReportName(report) },
        report,
      };
      assert.deepEqual(validateResource(cluster, rawCrdManifestFor('ClusterSbomReport')), [], image);
    }
  });

  it('writes none when Trivy listed no packages in its first result (as Trivy-Operator)', () => {
    const root = JSON.parse(trivyJson('java')) as Json & { Results: Json[] };
    delete root.Results[0]?.Packages;
    assert.equal(buildSbomReportData(parseTrivyImageResult(root), cycloneDx('java'), options), undefined);
  });

  it('refuses what is not a CycloneDX BOM', () => {
    for (const bad of ['{', '{"bomFormat":"SPDX"}', '[]']) {
      assert.throws(
        () => build('java', bad),
        (err: unknown) => isLookoutError(err, ErrorCodes.TRIVY_OUTPUT_INVALID),
      );
    }
  });
});

describe('clusterSbomReportName', () => {
  it("is Trivy-Operator's ArtifactRef: ComputeHash of registry/repository:tag, library/ dropped", () => {
    assert.equal(clusterSbomReportName(build()), nameHash('198.51.100.1:5000/trivy-lookout-test/java:1.0'));
    assert.equal(
      clusterSbomReportName({
        registry: { server: 'index.docker.io' },
        artifact: { repository: 'library/alpine', tag: '3.19' },
      }),
      nameHash('index.docker.io/alpine:3.19'),
    );
  });
});

describe('fitSbomToLimit', () => {
  const data = build();
  const size = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

  it('leaves a report that fits untouched', () => {
    assert.deepEqual(fitSbomToLimit(data), { data, trimmed: null });
  });

  it('drops components from the end with their dependency entries, keeping the summary', () => {
    const fit = fitSbomToLimit(data, size(data) - 1);
    assert.deepEqual(fit.trimmed, { list: 'components', kept: 4, dropped: 1 });
    assert.ok(size(fit.data) <= size(data) - 1);
    assert.deepEqual(fit.data.summary, data.summary);
    assert.equal(
      fit.data.components.dependencies?.some(
        (d) => d.ref === 'pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1',
      ),
      false,
    );
    assert.match(
      trimmedAnnotation(fit.trimmed)['trivy-lookout.dev/trimmed'] ?? '',
      /dropped 1 of 5 components \(last listed first\)/,
    );
    const tight = fitSbomToLimit(data, 3_000);
    assert.ok(size(tight.data) <= 3_000);
    assert.ok((tight.trimmed?.dropped ?? 0) >= 1);
  });

  it('refuses when even no components do not fit', () => {
    assert.throws(
      () => fitSbomToLimit(data, 100),
      (err: unknown) => isLookoutError(err, ErrorCodes.REPORT_TOO_LARGE),
    );
  });
});
