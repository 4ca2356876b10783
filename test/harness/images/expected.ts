/**
 * What the real Trivy reports for each test image with each fixture DB version: exactly these
 * findings, no more (checked by test/integration/images/test-images.test.ts). Plain data, for
 * tests that assert on reports built from real scans.
 */
import type { TestImageName } from './spec.ts';
import type { DbVersion } from './trivy-db.ts';

export type Severity = 'CRITICAL' | 'HIGH' | 'MEDIUM' | 'LOW' | 'UNKNOWN';

export interface ExpectedVulnerability {
  id: string;
  /** The package as Trivy names it: the binary package for Debian, group:artifact for Maven. */
  pkgName: string;
  /**
   * Set for language packages. Debian packages report the version the archive served when the
   * base was built: BuiltTestImage.debPackages has it.
   */
  installedVersion?: string;
  /** '' when there is no fix (status `affected`); what `--ignore-unfixed` drops. */
  fixedVersion: string;
  status: 'fixed' | 'affected';
  severity: Severity;
  /** The feed the severity comes from. */
  severitySource: 'debian' | 'ghsa';
  /** Trivy's result class and type. */
  class: 'os-pkgs' | 'lang-pkgs';
  type: 'debian' | 'jar' | 'node-pkg';
}

export interface ExpectedSecret {
  ruleId: 'aws-access-key-id' | 'aws-secret-access-key';
  category: 'AWS';
  severity: Severity;
  /** The file, as Trivy's image scan names it (the result's Target). */
  target: string;
  /** Line of the match in that file. */
  startLine: number;
}

export interface ExpectedFindings {
  vulnerabilities: ExpectedVulnerability[];
  secrets: ExpectedSecret[];
}

/** Every image carries the Debian base, so every image has these. */
const debianBase: ExpectedVulnerability[] = [
  {
    id: 'TEST-2026-0001',
    pkgName: 'busybox-static',
    fixedVersion: '1:1.35.0-4+deb12u99',
    status: 'fixed',
    severity: 'MEDIUM',
    severitySource: 'debian',
    class: 'os-pkgs',
    type: 'debian',
  },
  {
    id: 'TEST-2026-0002',
    pkgName: 'zlib1g',
    fixedVersion: '',
    status: 'affected',
    severity: 'LOW',
    severitySource: 'debian',
    class: 'os-pkgs',
    type: 'debian',
  },
  {
    id: 'TEST-2026-0003',
    pkgName: 'liblz4-1',
    fixedVersion: '1.9.4-1+deb12u99',
    status: 'fixed',
    severity: 'HIGH',
    severitySource: 'debian',
    class: 'os-pkgs',
    type: 'debian',
  },
];

const log4j = (id: string, fixedVersion: string): ExpectedVulnerability => ({
  id,
  pkgName: 'org.apache.logging.log4j:log4j-core',
  installedVersion: '2.14.1',
  fixedVersion,
  status: 'fixed',
  severity: 'CRITICAL',
  severitySource: 'ghsa',
  class: 'lang-pkgs',
  type: 'jar',
});

const lodash = (id: string, severity: Severity): ExpectedVulnerability => ({
  id,
  pkgName: 'lodash',
  installedVersion: '4.17.20',
  fixedVersion: '4.17.21',
  status: 'fixed',
  severity,
  severitySource: 'ghsa',
  class: 'lang-pkgs',
  type: 'node-pkg',
});

const plantedSecrets: ExpectedSecret[] = [
  {
    ruleId: 'aws-access-key-id',
    category: 'AWS',
    severity: 'CRITICAL',
    target: '/root/.aws/credentials',
    startLine: 2,
  },
  {
    ruleId: 'aws-secret-access-key',
    category: 'AWS',
    severity: 'CRITICAL',
    target: '/root/.aws/credentials',
    startLine: 3,
  },
];

export const expectedFindings: Record<TestImageName, Record<DbVersion, ExpectedFindings>> = {
  os: {
    v1: { vulnerabilities: debianBase, secrets: [] },
    v2: { vulnerabilities: debianBase, secrets: [] },
  },
  java: {
    v1: { vulnerabilities: [...debianBase, log4j('CVE-2021-44228', '2.15.0')], secrets: [] },
    v2: {
      vulnerabilities: [...debianBase, log4j('CVE-2021-44228', '2.15.0'), log4j('CVE-2021-45046', '2.16.0')],
      secrets: [],
    },
  },
  node: {
    v1: { vulnerabilities: [...debianBase, lodash('CVE-2020-28500', 'MEDIUM')], secrets: [] },
    v2: {
      vulnerabilities: [...debianBase, lodash('CVE-2020-28500', 'MEDIUM'), lodash('CVE-2021-23337', 'HIGH')],
      secrets: [],
    },
  },
  secret: {
    v1: { vulnerabilities: debianBase, secrets: plantedSecrets },
    v2: { vulnerabilities: debianBase, secrets: plantedSecrets },
  },
  trivy: {
    v1: { vulnerabilities: debianBase, secrets: [] },
    v2: { vulnerabilities: debianBase, secrets: [] },
  },
};

/** Counts per severity, as a report summary would show them. */
export function severityCounts(findings: ExpectedFindings): Record<Severity, number> {
  const counts: Record<Severity, number> = { CRITICAL: 0, HIGH: 0, MEDIUM: 0, LOW: 0, UNKNOWN: 0 };
  for (const v of findings.vulnerabilities) counts[v.severity]++;
  return counts;
}
