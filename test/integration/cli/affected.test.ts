/**
 * `trivy-lookout affected` on the real control plane, run as a child process the way people run
 * it: one vulnerability in three workload containers over two namespaces, in reports written as
 * this operator writes them (its own builders, from a real Trivy result) and as Trivy-Operator
 * writes them (the fixture sample), beside decoys (other vulnerabilities, an ID that only starts
 * the same, a namespace without it). A ServiceAccount without list permission is told what it
 * lacks; a Role in one namespace lets it ask there.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, CustomObjectsApi, RbacAuthorizationV1Api } from '@kubernetes/client-node';
import yaml from 'js-yaml';
import { API_GROUP, API_VERSION } from '../../../src/crds/index.ts';
import { buildVulnerabilityReportData, parseTrivyImageResult } from '../../../src/reports/index.ts';
import { parseImageReference, reportMetadata, type WorkloadRef } from '../../../src/workloads/index.ts';
import { kubeconfigYaml } from '../../harness/control-plane.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { repoRoot } from '../../harness/tools.ts';

// An ID no scanner knows and no other test file writes: `-A` then sees only this file's reports.
const TARGET = `CVE-2099-${process.pid}`;
const DECOY = `${TARGET}0`;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI from the sources (or the given entry), as a separate process with no cluster env. */
function cli(args: string[], entry: string[] = ['--import', 'tsx', 'src/cli/main.ts']): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...entry, ...args],
      { cwd: repoRoot, env: { PATH: process.env.PATH, HOME: process.env.HOME }, timeout: 60_000 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

const table = (rows: string[][]): string => {
  const all = [
    ['NAMESPACE', 'WORKLOAD', 'CONTAINER', 'IMAGE', 'PACKAGE', 'INSTALLED', 'FIXED', 'SEVERITY'],
    ...rows,
  ];
  const widths = all[0]!.map((_, c) => Math.max(...all.map((r) => r[c]!.length)));
  return (
    all.map((r) => r.map((v, c) => (c === r.length - 1 ? v : v.padEnd(widths[c]! + 3))).join('')).join('\n') +
    '\n'
  );
};

describe('trivy-lookout affected on a real API server', () => {
  let cluster: TestCluster;
  let tmp: string;
  let kubeconfig: string;
  let nsA: string;
  let nsB: string;
  let nsC: string;
  const longName = 'payments-ledger-reconciliation-worker-with-a-name-longer-than-labels-allow-7f8d9c';

  before(async () => {
    cluster = await useTestCluster();
    kubeconfig = cluster.kubeconfigPath;
    tmp = mkdtempSync(path.join(os.tmpdir(), 'tl-affected-'));
    const kc = cluster.kubeConfig();
    const apps = kc.makeApiClient(AppsV1Api);
    const objects = kc.makeApiClient(CustomObjectsApi);
    nsA = await cluster.createNamespace('affected-a');
    nsB = await cluster.createNamespace('affected-b');
    nsC = await cluster.createNamespace('affected-c');

    /** A real owner (no replicas), so the garbage collector keeps the reports it owns. */
    const replicaSet = async (namespace: string, name: string): Promise<WorkloadRef> => {
      const labels = { app: 'affected-test' };
      const rs = await apps.createNamespacedReplicaSet({
        namespace,
        body: {
          metadata: { name },
          spec: {
            replicas: 0,
            selector: { matchLabels: labels },
            template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'alpine:3.19.1' }] } },
          },
        },
      });
      return { kind: 'ReplicaSet', namespace, name, uid: rs.metadata?.uid ?? '', apiVersion: 'apps/v1' };
    };

    /** A report as this operator writes it: its metadata and report builders over a real Trivy result. */
    const ours = (workload: WorkloadRef, container: string, ids: Record<string, string>) => {
      const trivy = JSON.parse(
        readFileSync(path.join(repoRoot, 'test/fixtures/trivy/alpine-3.19.json'), 'utf8'),
      ) as {
        Results: { Vulnerabilities?: { VulnerabilityID: string }[] }[];
      };
      for (const result of trivy.Results)
        for (const v of result.Vulnerabilities ?? [])
          v.VulnerabilityID = ids[v.VulnerabilityID] ?? v.VulnerabilityID;
      const meta = reportMetadata(workload, container, { specHash: 'abc123', ttlMs: 24 * 3600_000 });
      return {
        apiVersion: `${API_GROUP}/${API_VERSION}`,
        kind: 'VulnerabilityReport',
        metadata: meta,
        report: buildVulnerabilityReportData(parseTrivyImageResult(trivy), {
          image: parseImageReference('alpine:3.19.1'),
          scannerVersion: '0.74.0',
          now: new Date(),
        }),
      };
    };

    /** Trivy-Operator's sample, moved to a namespace, with the target added as Trivy-Operator lists a finding. */
    const theirs = (namespace: string, extra: string | undefined) => {
      const sample = yaml.load(
        readFileSync(path.join(repoRoot, 'test/fixtures/reports/vulnerabilityreport.yaml'), 'utf8'),
      ) as {
        metadata: { namespace: string; labels: Record<string, string> };
        report: { summary: { criticalCount: number }; vulnerabilities: Record<string, unknown>[] };
      };
      sample.metadata.namespace = namespace;
      sample.metadata.labels['trivy-operator.resource.namespace'] = namespace;
      if (extra) {
        sample.report.vulnerabilities.push({
          vulnerabilityID: extra,
          resource: 'libssl1.1',
          installedVersion: '1.1.1b-r1',
          fixedVersion: '1.1.1k-r0',
          publishedDate: '2021-03-25T15:15:00Z',
          lastModifiedDate: '2021-04-20T12:15:00Z',
          severity: 'CRITICAL',
          title: 'openssl: test finding',
          primaryLink: `https://avd.aquasec.com/nvd/${extra.toLowerCase()}`,
          links: [],
          score: 9.1,
          target: 'ghcr.io/aquasecurity/trivy-test-images:alpine-39 (alpine 3.9.4)',
          class: 'os-pkgs',
          packageType: 'alpine',
          packagePURL: 'pkg:apk/alpine/libssl1.1@1.1.1b-r1?arch=x86_64&distro=3.9.4',
        });
        sample.report.summary.criticalCount += 1;
      }
      return sample;
    };

    const webA = await replicaSet(nsA, 'web-6b7f9c5d4');
    const ledgerB = await replicaSet(nsB, longName);
    const webC = await replicaSet(nsC, 'web-6b7f9c5d4');
    const reports: { metadata: { namespace: string } }[] = [
      ours(webA, 'web', { 'CVE-2024-2511': TARGET }),
      // Decoy: same workload, another container, other vulnerabilities only.
      ours(webA, 'sidecar', {}),
      ours(ledgerB, 'worker', { 'CVE-2024-2511': TARGET }),
      theirs(nsB, TARGET),
      // Decoy namespace: an ID that only starts like the target, and Trivy-Operator's sample as is.
      ours(webC, 'web', { 'CVE-2024-2511': DECOY }),
      theirs(nsC, undefined),
    ];
    for (const body of reports) {
      await objects.createNamespacedCustomObject({
        group: API_GROUP,
        version: API_VERSION,
        plural: 'vulnerabilityreports',
        namespace: body.metadata.namespace,
        body,
      });
    }
  });

  after(async () => {
    rmSync(tmp, { recursive: true, force: true });
    await cluster?.release();
  });

  const rowA = () => [
    nsA,
    'ReplicaSet/web-6b7f9c5d4',
    'web',
    'index.docker.io/library/alpine:3.19.1',
    'libssl3',
    '3.1.4-r2',
    '3.1.4-r6',
    'HIGH',
  ];
  const rowsB = () => [
    [
      nsB,
      `ReplicaSet/${longName}`,
      'worker',
      'index.docker.io/library/alpine:3.19.1',
      'libssl3',
      '3.1.4-r2',
      '3.1.4-r6',
      'HIGH',
    ],
    [
      nsB,
      'ReplicaSet/web-7d9c6b8f5c',
      'web',
      'ghcr.io/aquasecurity/trivy-test-images:alpine-39',
      'libssl1.1',
      '1.1.1b-r1',
      '1.1.1k-r0',
      'CRITICAL',
    ],
  ];

  it('prints every workload container running it, in every namespace, whoever wrote the report', async () => {
    const run = await cli(['affected', TARGET.toLowerCase(), '--kubeconfig', kubeconfig]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, table([rowA(), ...rowsB()]));
    assert.match(
      run.stderr,
      new RegExp(
        `^${TARGET}: 3 workload containers in 2 namespaces \\(\\d+ VulnerabilityReports read, all namespaces\\)\n$`,
      ),
    );
  });

  it('prints JSON with the report each row comes from', async () => {
    const run = await cli([
      'affected',
      TARGET,
      '-o',
      'json',
      '-n',
      nsA,
      '-n',
      nsB,
      '-n',
      nsC,
      '--kubeconfig',
      kubeconfig,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const body = JSON.parse(run.stdout) as Record<string, unknown>;
    const row = (r: string[], report: string) => ({
      namespace: r[0],
      resourceKind: r[1]!.split('/')[0],
      resourceName: r[1]!.split('/')[1],
      containerName: r[2],
      image: r[3],
      vulnerabilityId: TARGET,
      severity: r[7],
      package: r[4],
      installedVersion: r[5],
      fixedVersion: r[6],
      report,
    });
    const [b1, b2] = rowsB();
    assert.deepEqual(body, {
      vulnerabilityId: TARGET,
      reports: 6,
      workloads: [
        row(rowA(), 'replicaset-web-6b7f9c5d4-web'),
        // Too long for a label: the name comes from the annotation and the report name is a hash.
        row(b1!, (body.workloads as { report: string }[])[1]!.report),
        row(b2!, 'replicaset-web-7d9c6b8f5c-web'),
      ],
    });
    assert.match((body.workloads as { report: string }[])[1]!.report, /^replicaset-[a-z0-9]+$/);
  });

  it('looks only in the namespaces given', async () => {
    const run = await cli(['affected', TARGET, '-n', nsB, '--kubeconfig', kubeconfig]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, table(rowsB()));
    assert.match(
      run.stderr,
      new RegExp(`in 1 namespace \\(2 VulnerabilityReports read, namespace ${nsB}\\)`),
    );
  });

  it('exits 1 with nothing on stdout when no workload runs it, and where it looked', async () => {
    const run = await cli(['affected', TARGET, '-n', nsC, '--kubeconfig', kubeconfig]);
    assert.deepEqual(run, {
      code: 1,
      stdout: '',
      stderr: `${TARGET}: not found in any of 2 VulnerabilityReports (namespace ${nsC})\n`,
    });
    const json = await cli(['affected', `CVE-1999-${process.pid}`, '-o', 'json', '--kubeconfig', kubeconfig]);
    assert.equal(json.code, 1);
    assert.deepEqual((JSON.parse(json.stdout) as { workloads: unknown[] }).workloads, []);
  });

  it('runs the same through the package bin (the sources in a checkout)', async () => {
    const run = await cli(
      ['affected', TARGET, '-n', nsA, '--kubeconfig', kubeconfig],
      ['bin/trivy-lookout.js'],
    );
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stdout, table([rowA()]));
  });

  it('tells a ServiceAccount without list permission which one it needs; a Role lets it ask in that namespace', async () => {
    const kc = cluster.kubeConfig();
    const core = kc.makeApiClient(CoreV1Api);
    const rbac = kc.makeApiClient(RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: nsA, body: { metadata: { name: 'reader' } } });
    const token = await core.createNamespacedServiceAccountToken({
      name: 'reader',
      namespace: nsA,
      body: { spec: { audiences: [], expirationSeconds: 3600 } },
    });
    const caData = kc.getCurrentCluster()?.caData ?? '';
    const readerConfig = path.join(tmp, 'reader.kubeconfig');
    writeFileSync(
      readerConfig,
      kubeconfigYaml(cluster.server, Buffer.from(caData, 'base64').toString(), token.status?.token ?? ''),
      {
        mode: 0o600,
      },
    );

    const denied = await cli(['affected', TARGET, '--kubeconfig', readerConfig]);
    assert.equal(denied.code, 3);
    assert.equal(denied.stdout, '');
    assert.match(
      denied.stderr,
      /^trivy-lookout affected: forbidden: reading the reports needs permission to list vulnerabilityreports\.aquasecurity\.github\.io cluster-wide \(a ClusterRole with list on vulnerabilityreports in API group aquasecurity\.github\.io/,
    );
    assert.match(
      denied.stderr,
      new RegExp(
        `The API server said: .*"system:serviceaccount:${nsA}:reader" cannot list resource "vulnerabilityreports"`,
      ),
    );

    await rbac.createNamespacedRole({
      namespace: nsA,
      body: {
        metadata: { name: 'reports-reader' },
        rules: [{ apiGroups: [API_GROUP], resources: ['vulnerabilityreports'], verbs: ['list'] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: nsA,
      body: {
        metadata: { name: 'reports-reader' },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'reports-reader' },
        subjects: [{ kind: 'ServiceAccount', name: 'reader', namespace: nsA }],
      },
    });
    // RBAC takes effect through the API server's informer: give it a moment.
    let allowed: Run | undefined;
    for (let i = 0; i < 50; i++) {
      allowed = await cli(['affected', TARGET, '-n', nsA, '--kubeconfig', readerConfig]);
      if (allowed.code !== 3) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(allowed?.code, 0, allowed?.stderr);
    assert.equal(allowed?.stdout, table([rowA()]));

    const elsewhere = await cli(['affected', TARGET, '-n', nsA, '-n', nsB, '--kubeconfig', readerConfig]);
    assert.equal(elsewhere.code, 3);
    assert.match(
      elsewhere.stderr,
      new RegExp(
        `list vulnerabilityreports\\.aquasecurity\\.github\\.io in namespace ${nsB} \\(a Role with list`,
      ),
    );
  });
});
