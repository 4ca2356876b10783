/**
 * `trivy-lookout affected`: the command line, the output, and the listing against a small fake
 * API server (paging, a continue token that expired, the errors people get told about). The real
 * control plane is in test/integration/cli/affected.test.ts.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import {
  AFFECTED_HELP,
  ExitCode,
  describeReadError,
  findAffected,
  formatJson,
  formatTable,
  parseAffectedArgs,
  summaryLine,
  UsageError,
} from '../../../src/cli/affected.ts';
import { HELP, runCli } from '../../../src/cli/cli.ts';
import type { AffectedRow } from '../../../src/findings/index.ts';

function io() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    sink: { stdout: (t: string) => void (out.stdout += t), stderr: (t: string) => void (out.stderr += t) },
  };
}

describe('parseAffectedArgs', () => {
  it('takes one ID, normalised, all namespaces and a table by default', () => {
    assert.deepEqual(parseAffectedArgs(['cve-2021-44228']), {
      vulnerabilityId: 'CVE-2021-44228',
      namespaces: [],
      output: 'table',
    });
  });

  it('reads every flag, short and long', () => {
    assert.deepEqual(
      parseAffectedArgs([
        '-n',
        'shop',
        '--namespace=pay',
        '-n',
        'shop',
        'GHSA-jfh8-c2jp-5v3q',
        '-o',
        'json',
        '--kubeconfig',
        '/k',
        '--context',
        'prod',
      ]),
      {
        vulnerabilityId: 'GHSA-JFH8-C2JP-5V3Q',
        namespaces: ['shop', 'pay'],
        output: 'json',
        kubeconfig: '/k',
        context: 'prod',
      },
    );
    assert.deepEqual(parseAffectedArgs(['-A', 'DLA-3449-1', '--output=table'])?.namespaces, []);
    assert.equal(parseAffectedArgs(['openSUSE-SU-2024:0001-1'])?.vulnerabilityId, 'OPENSUSE-SU-2024:0001-1');
  });

  it('returns undefined for --help, whatever else is given', () => {
    assert.equal(parseAffectedArgs(['--help']), undefined);
    assert.equal(parseAffectedArgs(['CVE-1', '-h']), undefined);
  });

  const bad: [string[], RegExp][] = [
    [[], /which vulnerability/],
    [['CVE-1', 'CVE-2'], /one vulnerability ID at a time/],
    [['CVE 2021'], /not a vulnerability ID/],
    [['-CVE'], /Unknown option '-C'/],
    [['CVE-1;rm'], /not a vulnerability ID/],
    [['cve/../x'], /not a vulnerability ID/],
    [['x'.repeat(101)], /not a vulnerability ID/],
    [['CVE-1', '-n', 'Shop'], /"Shop" is not a namespace name/],
    [['CVE-1', '-A', '-n', 'shop'], /exclude each other/],
    [['CVE-1', '-o', 'yaml'], /unknown output format "yaml"/],
    [['CVE-1', '-o'], /argument missing/],
    [['CVE-1', '--watch'], /Unknown option '--watch'$/],
    [['CVE-1', '--kubeconfig='], /--kubeconfig needs a path/],
  ];
  for (const [argv, message] of bad) {
    it(`refuses ${JSON.stringify(argv).slice(0, 40)}`, () => {
      assert.throws(
        () => parseAffectedArgs(argv),
        (err: unknown) => err instanceof UsageError && message.test(err.message),
      );
    });
  }
});

const row = (over: Partial<AffectedRow>): AffectedRow => ({
  namespace: 'shop',
  resourceKind: 'ReplicaSet',
  resourceName: 'web-7d9c6b8f5c',
  containerName: 'web',
  image: 'ghcr.io/acme/web:1.2.3',
  vulnerabilityId: 'CVE-2021-44228',
  severity: 'CRITICAL',
  package: 'org.apache.logging.log4j:log4j-core',
  installedVersion: '2.14.1',
  fixedVersion: '2.15.0',
  report: 'replicaset-web-7d9c6b8f5c-web',
  ...over,
});

describe('output', () => {
  it('prints kubectl-style columns, <none> for an empty cell', () => {
    const table = formatTable([
      row({}),
      row({
        namespace: 'payments',
        resourceKind: 'StatefulSet',
        resourceName: 'db',
        containerName: 'postgres',
        image: 'postgres:16',
        fixedVersion: '',
        severity: 'HIGH',
      }),
    ]);
    assert.equal(
      table,
      [
        'NAMESPACE   WORKLOAD                    CONTAINER   IMAGE                    PACKAGE                               INSTALLED   FIXED    SEVERITY',
        'shop        ReplicaSet/web-7d9c6b8f5c   web         ghcr.io/acme/web:1.2.3   org.apache.logging.log4j:log4j-core   2.14.1      2.15.0   CRITICAL',
        'payments    StatefulSet/db              postgres    postgres:16              org.apache.logging.log4j:log4j-core   2.14.1      <none>   HIGH',
        '',
      ].join('\n'),
    );
  });

  it('prints JSON as {vulnerabilityId, reports, workloads}', () => {
    const result = { vulnerabilityId: 'CVE-2021-44228', reports: 7, workloads: [row({})] };
    assert.deepEqual(JSON.parse(formatJson(result)), result);
  });

  it('sums up found and not found for people, on stderr', () => {
    const rows = [row({}), row({ package: 'log4j-api' }), row({ namespace: 'pay' })];
    assert.equal(
      summaryLine({ vulnerabilityId: 'CVE-2021-44228', reports: 9, workloads: rows }, []),
      'CVE-2021-44228: 2 workload containers in 2 namespaces (9 VulnerabilityReports read, all namespaces)',
    );
    assert.equal(
      summaryLine({ vulnerabilityId: 'CVE-1', reports: 0, workloads: [] }, ['a', 'b']),
      'CVE-1: not found in any of 0 VulnerabilityReports (namespaces a, b)',
    );
  });
});

describe('runCli', () => {
  it('prints the help with exit 0, and with exit 2 when no command is given', async () => {
    for (const [argv, code, text] of [
      [['--help'], 0, HELP],
      [[], 2, HELP],
      [['affected', '--help'], 0, AFFECTED_HELP],
    ] as const) {
      const { out, sink } = io();
      assert.equal(await runCli(argv, sink), code);
      assert.equal(out.stdout, text);
    }
  });

  it('says which command is unknown, exit 2', async () => {
    const { out, sink } = io();
    assert.equal(await runCli(['afected', 'CVE-1'], sink), ExitCode.usage);
    assert.match(out.stderr, /unknown command "afected"/);
  });

  it('prints the version from package.json', async () => {
    const { out, sink } = io();
    assert.equal(await runCli(['--version'], sink), 0);
    assert.match(out.stdout, /^trivy-lookout \d+\.\d+\.\d+/);
  });

  it('fails with exit 3 and the reason when the kubeconfig cannot be read', async () => {
    const { out, sink } = io();
    assert.equal(
      await runCli(['affected', 'CVE-1', '--kubeconfig', '/nonexistent/kubeconfig'], sink),
      ExitCode.apiError,
    );
    assert.match(out.stderr, /cannot load Kubernetes credentials from \/nonexistent\/kubeconfig/);
  });
});

/** A report as the API server returns it, with one finding per [id, package]. */
function report(namespace: string, name: string, findings: [string, string][]) {
  return {
    apiVersion: 'aquasecurity.github.io/v1alpha1',
    kind: 'VulnerabilityReport',
    metadata: {
      namespace,
      name: `replicaset-${name}-app`,
      labels: {
        'trivy-operator.resource.kind': 'ReplicaSet',
        'trivy-operator.resource.name': name,
        'trivy-operator.resource.namespace': namespace,
        'trivy-operator.container.name': 'app',
      },
    },
    report: {
      registry: { server: 'index.docker.io' },
      artifact: { repository: `library/${name}`, tag: '1.0' },
      vulnerabilities: findings.map(([id, pkg]) => ({
        vulnerabilityID: id,
        resource: pkg,
        installedVersion: '1.0',
        fixedVersion: '1.1',
        severity: 'HIGH',
      })),
    },
  };
}

describe('findAffected against a fake API server', () => {
  const all = [
    report('a', 'one', [['CVE-1', 'p1']]),
    report('a', 'two', [['CVE-2', 'p2']]),
    report('b', 'three', [
      ['CVE-1', 'p3'],
      ['CVE-1', 'p4'],
    ]),
    report('c', 'four', [['CVE-1', 'p1']]),
    report('c', 'five', []),
  ];
  /** What the next request gets instead of its page, by request number. */
  let answers = new Map<number, [number, object]>();
  let requests: string[] = [];
  let server: http.Server;
  let kc: KubeConfig;

  before(async () => {
    server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      requests.push(`${url.pathname}?${url.searchParams.toString()}`);
      const special = answers.get(requests.length);
      if (special) {
        res.writeHead(special[0], { 'content-type': 'application/json' }).end(JSON.stringify(special[1]));
        return;
      }
      const ns = /\/namespaces\/([^/]+)\//.exec(url.pathname)?.[1];
      const items = all.filter((r) => ns === undefined || r.metadata.namespace === ns);
      const limit = Number(url.searchParams.get('limit'));
      const start = Number(url.searchParams.get('continue') || 0);
      const next = start + limit < items.length ? String(start + limit) : undefined;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ metadata: { continue: next }, items: items.slice(start, start + limit) }));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [
        {
          name: 'fake',
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
          skipTLSVerify: true,
        },
      ],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'u' }],
      currentContext: 'fake',
    });
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const reset = (special: [number, [number, object]][] = []) => {
    requests = [];
    answers = new Map(special);
  };

  it('reads every page and answers from the index, sorted', async () => {
    reset();
    const result = await findAffected(kc, { vulnerabilityId: 'cve-1', pageSize: 2 });
    assert.equal(result.reports, 5);
    assert.deepEqual(
      result.workloads.map((r) => `${r.namespace}/${r.resourceName}/${r.package}`),
      ['a/one/p1', 'b/three/p3', 'b/three/p4', 'c/four/p1'],
    );
    assert.deepEqual(requests, [
      '/apis/aquasecurity.github.io/v1alpha1/vulnerabilityreports?limit=2',
      '/apis/aquasecurity.github.io/v1alpha1/vulnerabilityreports?limit=2&continue=2',
      '/apis/aquasecurity.github.io/v1alpha1/vulnerabilityreports?limit=2&continue=4',
    ]);
  });

  it('lists only the namespaces asked for, through their namespaced paths', async () => {
    reset();
    const result = await findAffected(kc, { vulnerabilityId: 'CVE-1', namespaces: ['c', 'a'] });
    assert.deepEqual(
      result.workloads.map((r) => r.resourceName),
      ['one', 'four'],
    );
    assert.equal(result.reports, 4);
    assert.deepEqual(
      requests.map((r) => r.split('?')[0]),
      [
        '/apis/aquasecurity.github.io/v1alpha1/namespaces/c/vulnerabilityreports',
        '/apis/aquasecurity.github.io/v1alpha1/namespaces/a/vulnerabilityreports',
      ],
    );
  });

  it('starts over when the continue token expired, with nothing left from the first try', async () => {
    reset([
      [2, [410, { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' }]],
    ]);
    const result = await findAffected(kc, { vulnerabilityId: 'CVE-1', pageSize: 2 });
    assert.equal(result.reports, 5);
    assert.equal(result.workloads.length, 4);
    assert.equal(requests.length, 5);
  });

  const status = (code: number, message: string): [number, object] => [
    code,
    { kind: 'Status', code, message },
  ];

  it('explains a 403 with the permission missing, cluster-wide and per namespace', async () => {
    const said =
      'vulnerabilityreports.aquasecurity.github.io is forbidden: User "system:serviceaccount:x:y" cannot list resource "vulnerabilityreports" in API group "aquasecurity.github.io" at the cluster scope';
    reset([[1, status(403, said)]]);
    const err = await findAffected(kc, { vulnerabilityId: 'CVE-1' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    const message = describeReadError(err, 'https://k');
    assert.match(
      message,
      /^forbidden: reading the reports needs permission to list vulnerabilityreports\.aquasecurity\.github\.io cluster-wide \(a ClusterRole/,
    );
    assert.ok(message.endsWith(`The API server said: ${said}`));

    reset([[2, status(403, 'no')]]);
    const err2 = await findAffected(kc, { vulnerabilityId: 'CVE-1', namespaces: ['a', 'b'] }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match(
      describeReadError(err2, 'https://k'),
      /list vulnerabilityreports\.aquasecurity\.github\.io in namespace b \(a Role/,
    );
  });

  it('says the CRD is not installed on a 404 of the first page', async () => {
    reset([[1, status(404, 'the server could not find the requested resource')]]);
    const err = await findAffected(kc, { vulnerabilityId: 'CVE-1' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match(
      describeReadError(err, 'https://k'),
      /^the VulnerabilityReport CRD \(vulnerabilityreports\.aquasecurity\.github\.io\) is not installed on the cluster at https:\/\/k/,
    );
  });

  it('says who refused the credentials on a 401', () => {
    assert.match(
      describeReadError({ code: 401, body: '{"message":"Unauthorized"}' }, 'https://k'),
      /^unauthorized: the API server at https:\/\/k did not accept/,
    );
  });

  it('says the API server cannot be reached', async () => {
    const gone = new KubeConfig();
    gone.loadFromOptions({
      clusters: [{ name: 'gone', server: 'http://127.0.0.1:1', skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'gone', cluster: 'gone', user: 'u' }],
      currentContext: 'gone',
    });
    const err = await findAffected(gone, { vulnerabilityId: 'CVE-1' }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.match(
      describeReadError(err, 'http://127.0.0.1:1'),
      /^cannot reach the Kubernetes API server at http:\/\/127\.0\.0\.1:1: connect ECONNREFUSED/,
    );
  });
});
