/**
 * Deterministic synthetic VulnerabilityReports for the metrics benchmark: `count` reports over 100
 * namespaces and 1,000 images, each with `vulnsPerReport` findings drawn from a pool of 20,000
 * (containers of the same image carry the same findings, as real reports do).
 */

export const NAMESPACES = 100;
export const IMAGES = 1_000;
const VULN_POOL = 20_000;

export function prng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const WORDS = [
  'buffer',
  'overflow',
  'in',
  'parser',
  'allows',
  'remote',
  'attackers',
  'to',
  'cause',
  'denial',
];
const SEVERITIES = ['CRITICAL', 'HIGH', 'MEDIUM', 'MEDIUM', 'LOW', 'LOW', 'UNKNOWN'] as const;

export interface PoolVuln {
  severity: string;
  /** `<ID> <package>`, as first-seen stamps name a finding. */
  key: string;
  /** The vulnerability's JSON, without its closing brace (the report adds its target). */
  json: string;
}

export function vulnerabilityPool(): PoolVuln[] {
  const random = prng(42);
  const pool: PoolVuln[] = [];
  for (let i = 0; i < VULN_POOL; i++) {
    const year = 2015 + Math.floor(random() * 10);
    const words = Array.from(
      { length: 6 + Math.floor(random() * 6) },
      () => WORDS[Math.floor(random() * WORDS.length)],
    );
    const id = `CVE-${year}-${String(1000 + Math.floor(random() * 50_000)).padStart(5, '0')}`;
    const severity = SEVERITIES[i % SEVERITIES.length] ?? 'UNKNOWN';
    const vuln = {
      vulnerabilityID: id,
      resource: `lib${WORDS[i % WORDS.length]}${i % 700}`,
      installedVersion: `${1 + (i % 5)}.${i % 17}.${i % 9}-${i % 4}+deb12u1`,
      fixedVersion: random() < 0.7 ? `${1 + (i % 5)}.${i % 17}.${(i % 9) + 1}-1+deb12u2` : '',
      publishedDate: `${year}-0${1 + (i % 9)}-1${i % 10}T10:15:00Z`,
      lastModifiedDate: `${year + 1}-0${1 + (i % 9)}-2${i % 10}T12:30:00Z`,
      severity,
      title: `${WORDS[i % WORDS.length]}: ${words.join(' ')}`,
      score: Math.round(random() * 100) / 10,
      primaryLink: `https://avd.aquasec.com/nvd/${id.toLowerCase()}`,
      links: [],
      class: 'os-pkgs',
      packageType: 'debian',
    };
    pool.push({ severity, key: `${id} ${vuln.resource}`, json: JSON.stringify(vuln).slice(0, -1) });
  }
  return pool;
}

/**
 * The i-th report as the JSON text a watch event carries (containers of the same image carry the
 * same findings, as real reports do). Parsed with JSON.parse like the watcher does, so the garbage
 * it leaves is the garbage a real watch leaves.
 */
export function syntheticReportJson(
  i: number,
  pool: readonly PoolVuln[],
  vulnsPerReport: number,
  /** When set: the report carries first-seen stamps of its High/Critical findings at this time (unix seconds). */
  firstSeenAt?: (image: number) => number,
): string {
  const image = i % IMAGES;
  const random = prng(image + 1);
  const counts = { criticalCount: 0, highCount: 0, mediumCount: 0, lowCount: 0, unknownCount: 0 };
  const start = Math.floor(random() * (VULN_POOL - vulnsPerReport));
  const target = JSON.stringify(`registry.example.com/team/service-${image}:1.${image % 10}.0 (debian 12.8)`);
  const vulnerabilities: string[] = [];
  const tracked: string[] = [];
  for (let v = 0; v < vulnsPerReport; v++) {
    const vuln = pool[start + v] as PoolVuln;
    if (vuln.severity === 'CRITICAL' || vuln.severity === 'HIGH') tracked.push(vuln.key);
    counts[`${vuln.severity.toLowerCase()}Count` as keyof typeof counts] += 1;
    vulnerabilities.push(`${vuln.json},"target":${target}}`);
  }
  const namespace = namespaceOf(i);
  const workload = `service-${image}-${i}`;
  const metadata = {
    name: `replicaset-${workload}-7d9c6b8f5c-app`,
    namespace,
    labels: {
      'app.kubernetes.io/managed-by': 'trivy-operator',
      'trivy-operator.resource.kind': 'ReplicaSet',
      'trivy-operator.resource.name': `${workload}-7d9c6b8f5c`,
      'trivy-operator.resource.namespace': namespace,
      'trivy-operator.container.name': 'app',
      app: workload,
    },
    ...(firstSeenAt
      ? {
          annotations: {
            'trivy-lookout.dev/first-seen': JSON.stringify({
              [new Date(firstSeenAt(image) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z')]: [
                ...new Set(tracked),
              ].sort(),
            }),
          },
        }
      : {}),
  };
  const report = {
    updateTimestamp: new Date(Date.UTC(2025, 5, 1, 0, 0, i % 86_400)).toISOString(),
    scanner: { name: 'Trivy', vendor: 'Aqua Security', version: '0.67.2' },
    registry: { server: 'registry.example.com' },
    artifact: {
      repository: `team/service-${image}`,
      tag: `1.${image % 10}.0`,
      digest: `sha256:${image.toString(16).padStart(64, '0')}`,
    },
    os: { family: 'debian', name: '12.8' },
    summary: { ...counts, noneCount: 0 },
  };
  const head = JSON.stringify({
    apiVersion: 'aquasecurity.github.io/v1alpha1',
    kind: 'VulnerabilityReport',
    metadata,
  });
  const body = JSON.stringify(report).slice(0, -1);
  return `${head.slice(0, -1)},"report":${body},"vulnerabilities":[${vulnerabilities.join(',')}]}}`;
}

/** The namespace of the i-th report. */
export function namespaceOf(i: number): string {
  return `team-${String(i % NAMESPACES).padStart(3, '0')}`;
}
