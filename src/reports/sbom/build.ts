/**
 * Trivy's CycloneDX SBOM (`trivy convert --format cyclonedx` of the scan's own JSON result) → the
 * `.report` of an SbomReport / ClusterSbomReport, as Trivy-Operator v0.32.0 keeps it
 * (pkg/sbomreport/io.go BuildSbomReportData, util.go cycloneDxBomToReport): format, spec version,
 * serial number, version, metadata (timestamp, Trivy as the one tool, the image component),
 * components and dependencies; each component with bom-ref, type, name, group, version, purl,
 * supplier (name, url), hashes, licenses and properties. The BOM's vulnerabilities and everything
 * else are left out, as there.
 */
import type { Bom, BomComponent, BomDependency, BomLicenseChoice, SbomReportData } from '../../crds/index.ts';
import { ErrorCodes, LookoutError } from '../../errors/index.ts';
import { nameHash } from '../../workloads/index.ts';
import {
  artifactOf,
  registryOf,
  rfc3339Seconds,
  scannerOf,
  type ImageReportOptions,
} from '../common/report-parts.ts';
import type { TrivyImageResult } from '../common/trivy-result.ts';

type Json = Record<string, unknown>;

const isObject = (value: unknown): value is Json =>
  typeof value === 'object' && value !== null && !Array.isArray(value);
const text = (value: unknown): string | undefined =>
  typeof value === 'string' && value !== '' ? value : undefined;
const objects = (value: unknown): Json[] => (Array.isArray(value) ? value.filter(isObject) : []);

/** Only the members that have a value (Go's omitempty), so reports compare and size as JSON. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(
    Object.entries(value).filter(
      ([, member]) => member !== undefined && !(Array.isArray(member) && member.length === 0),
    ),
  ) as T;
}

function component(c: Json): BomComponent {
  const supplier = isObject(c.supplier)
    ? compact({
        name: text(c.supplier.name),
        url: Array.isArray(c.supplier.url)
          ? c.supplier.url.filter((u): u is string => typeof u === 'string')
          : undefined,
      })
    : undefined;
  const licenses = objects(c.licenses).map((l): BomLicenseChoice =>
    compact({
      license: isObject(l.license)
        ? compact({ id: text(l.license.id), name: text(l.license.name), url: text(l.license.url) })
        : undefined,
      expression: text(l.expression),
    }),
  );
  return compact({
    'bom-ref': text(c['bom-ref']),
    type: text(c.type),
    name: text(c.name),
    group: text(c.group),
    version: text(c.version),
    purl: text(c.purl),
    supplier,
    hashes: objects(c.hashes).map((h) => compact({ alg: text(h.alg), content: text(h.content) })),
    licenses,
    properties: objects(c.properties).map((p) => compact({ name: text(p.name), value: text(p.value) })),
  });
}

/**
 * The BOM as the report keeps it, from CycloneDX JSON (text or parsed). The one tool is Trivy at
 * `scannerVersion`, as Trivy-Operator writes it. Throws TRIVY_OUTPUT_INVALID for anything that is not
 * a CycloneDX BOM.
 */
export function bomFromCycloneDx(json: string | unknown, scannerVersion: string): Bom {
  let value: unknown = json;
  if (typeof json === 'string') {
    try {
      value = JSON.parse(json);
    } catch (err) {
      throw new LookoutError(
        ErrorCodes.TRIVY_OUTPUT_INVALID,
        `the SBOM is not JSON: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
  if (!isObject(value) || value.bomFormat !== 'CycloneDX' || typeof value.specVersion !== 'string') {
    throw new LookoutError(ErrorCodes.TRIVY_OUTPUT_INVALID, 'the SBOM is not a CycloneDX BOM');
  }
  const metadata = isObject(value.metadata) ? value.metadata : {};
  // dependsOn is kept even when empty: Trivy-Operator's is a pointer to the slice CycloneDX gave.
  const dependencies = objects(value.dependencies).map((d): BomDependency => ({
    ...(text(d.ref) !== undefined ? { ref: text(d.ref) } : {}),
    ...(Array.isArray(d.dependsOn)
      ? { dependsOn: d.dependsOn.filter((r): r is string => typeof r === 'string') }
      : {}),
  }));
  return compact({
    bomFormat: value.bomFormat,
    specVersion: value.specVersion,
    serialNumber: text(value.serialNumber),
    version: typeof value.version === 'number' && value.version !== 0 ? value.version : undefined,
    metadata: compact({
      timestamp: text(metadata.timestamp),
      tools: {
        components: [{ type: 'application', group: 'aquasecurity', name: 'trivy', version: scannerVersion }],
      },
      component: isObject(metadata.component) ? component(metadata.component) : {},
    }),
    components: objects(value.components).map(component),
    // Always written, even empty: Trivy-Operator's is a pointer to a slice it always makes.
    dependencies,
  }) as Bom;
}

/**
 * The `.report` of the SbomReport for one image, or undefined when Trivy listed no packages in its
 * first result (Trivy-Operator writes no SBOM report then either). Pure: same input, same output.
 */
export function buildSbomReportData(
  result: TrivyImageResult,
  cycloneDx: string | unknown,
  options: ImageReportOptions,
): SbomReportData | undefined {
  if ((result.results[0]?.packages ?? 0) === 0) return undefined;
  const bom = bomFromCycloneDx(cycloneDx, options.scannerVersion);
  return {
    updateTimestamp: rfc3339Seconds(options.now),
    scanner: scannerOf(options.scannerVersion),
    registry: registryOf(options.image),
    artifact: artifactOf(options.image, result),
    // The image component counts, as in Trivy-Operator's BomSummary.
    summary: {
      componentsCount: (bom.components?.length ?? 0) + 1,
      dependenciesCount: bom.dependencies?.length ?? 0,
    },
    components: bom,
  };
}

/**
 * The name of an image's ClusterSbomReport, as Trivy-Operator names it (sbomreport ArtifactRef):
 * a hash of `registry/repository:tag`, Docker Hub's `library/` dropped.
 */
export function clusterSbomReportName(data: Pick<SbomReportData, 'registry' | 'artifact'>): string {
  const repository = (data.artifact.repository ?? '').replace(/^library\//, '');
  return nameHash(`${data.registry?.server ?? ''}/${repository}:${data.artifact.tag ?? ''}`);
}
