/**
 * Every query of every shipped Grafana dashboard, panel targets and query variables alike, run against
 * a real Prometheus scraping the real operator, must return data.
 *
 * In: the operator (all detail metrics on) on the local control plane, scanning with the real Trivy
 * on the real node (test/harness/real-scans.ts: the test images in the local registries, DB v1).
 * In namespace "shop" a 3-replica Deployment of the java image (one Critical, CVE-2021-44228), one
 * of the secret image (vulnerabilities and two exposed AWS secrets), one of the os image, and later
 * one of the node image (deployed once the first scans are in); in namespace "team" a 2-replica
 * Deployment of the same java image and one of an image in the Basic-auth registry that the node
 * pulled earlier with credentials, from another namespace, and runs from its cache: its scan has
 * no credentials and the registry refuses it (registry_auth). Each image is a variant with a digest
 * of this run, so the operator scans it rather than copying another test file's report.
 * Config audit, RBAC, ClusterRBAC, infra and compliance reports are created through the API (their
 * controllers are not needed for the exporter to read them).
 * Out: each query, with the variables interpolated as Grafana does (All → `.*`, durations concrete),
 * returns at least one non-NaN sample, first from a Prometheus whose series have no `cluster` label
 * (the cluster variable offers only All), then from one that adds `cluster="dashboards-test"` with
 * that cluster selected. The overview counts the Critical image once although it runs in two
 * workloads, five pods and two namespaces. Scan health shows the ages of the DBs the scans used
 * (their metadata UpdatedAt, test/harness/images/trivy-db.ts) and the private image failing with
 * registry_auth, in every namespace selection.
 * The findings panels (grafana-dashboards/src/new-findings.ts) have data because the operator starts
 * before any report exists (no baseline: every High/Critical scanned here is new in its namespace and
 * image repository), runs with a 30 s Critical remediation deadline (so CVE-2021-44228, fixable,
 * is overdue within a minute of its scan), and exports the per-CVE series (vuln-id metrics on) that
 * "Where does $cve run?" reads with the cve box at its default, CVE-2021-44228: it lists the web
 * Deployments of both namespaces, the new-findings table has that CVE in both, and shop and team each
 * count one overdue Critical.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AppsV1Api, CoreV1Api, type V1Deployment } from '@kubernetes/client-node';
import {
  CONFIGMAPS_FILE,
  dashboardQueries,
  dashboards,
  fileName,
  interpolate,
  parseLabelValues,
  type Dashboard,
  type DashboardQuery,
  type Durations,
  type Selection,
} from '../../../grafana-dashboards/src/index.ts';
import { dbDates } from '../../harness/images/index.ts';
import { kubectl } from '../../harness/kubectl.ts';
import { startOperator, type OperatorProcess } from '../../harness/operator-process.ts';
import { Prometheus } from '../../harness/prometheus.ts';
import {
  useRealScans,
  warmNodeCache,
  type PublishedImage,
  type RealScans,
} from '../../harness/real-scans.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';
import { repoRoot } from '../../harness/tools.ts';
import { eventually, waitUntil } from '../../harness/waiting.ts';
import { fixture as reportFixture } from '../../unit/metrics/support.ts';
import { Reports } from '../metrics/support.ts';

const CLUSTER_LABEL = 'dashboards-test';
/** Which test DB each database Trivy reports is (their metadata.json gives UpdatedAt). */
const TEST_DB = { 'trivy-db': 'v1', 'trivy-java-db': 'java' } as const;
/** When the test started: the test DBs are dated the UTC day they are built (dbDates). */
const STARTED_AT = Date.now();
/** What Grafana would put in for a day-long dashboard; the data here is minutes old. */
const DURATIONS: Durations = { interval: '15s', rateInterval: '5m', range: '10m' };

interface Sample {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
}

async function api<T>(prometheus: Prometheus, pathAndQuery: string): Promise<T> {
  const res = await fetch(`${prometheus.url}${pathAndQuery}`);
  const body = (await res.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(body.error ?? `HTTP ${res.status}`);
  return body.data;
}

/** `label_values(selector, label)` as Grafana runs it: the label values API over the last hour. */
async function labelValues(prometheus: Prometheus, query: string): Promise<string[]> {
  const { selector, label } = parseLabelValues(query);
  const end = Math.floor(Date.now() / 1000);
  const params = new URLSearchParams({ 'match[]': selector, start: String(end - 3600), end: String(end) });
  return api<string[]>(prometheus, `/api/v1/label/${label}/values?${params}`);
}

/** A panel target as Grafana runs it: an instant query now, or a range query over the last two minutes. */
async function run(prometheus: Prometheus, expr: string, kind: 'instant' | 'range'): Promise<Sample[]> {
  const end = Date.now() / 1000;
  const params =
    kind === 'instant'
      ? new URLSearchParams({ query: expr, time: String(end) })
      : new URLSearchParams({ query: expr, start: String(end - 120), end: String(end), step: '5' });
  const data = await api<{ result: Sample[] }>(
    prometheus,
    `/api/v1/${kind === 'instant' ? 'query' : 'query_range'}?${params}`,
  );
  return data.result;
}

const hasData = (samples: Sample[]) =>
  samples.some((s) =>
    [...(s.value ? [s.value] : []), ...(s.values ?? [])].some(([, v]) => !Number.isNaN(Number(v))),
  );

/** The variables' values: each query variable's options from Prometheus, All where offered, else the choice given. */
async function resolveVariables(
  prometheus: Prometheus,
  d: Dashboard,
  choose: Record<string, string[]>,
): Promise<Selection> {
  const selection: Selection = {};
  for (const v of d.templating.list) {
    if (v.type === 'datasource') continue;
    const options =
      v.type === 'query'
        ? await labelValues(prometheus, interpolate(v.query, d.templating.list, selection, DURATIONS))
        : v.options.filter((o) => o.value !== '$__all').map((o) => o.value);
    const chosen = choose[v.name];
    if (chosen) {
      for (const value of chosen)
        assert.ok(options.includes(value), `${d.title}: $${v.name} offers ${value} (got ${options})`);
      selection[v.name] = { selected: chosen, options };
    } else if (v.includeAll) {
      selection[v.name] = { selected: 'All', options };
    } else {
      const current = typeof v.current.value === 'string' ? v.current.value : options[0];
      assert.ok(current !== undefined, `${d.title}: $${v.name} has a value`);
      selection[v.name] = { selected: [current], options };
    }
  }
  return selection;
}

interface Failure {
  query: DashboardQuery;
  expr: string;
  problem: string;
}

/** Runs every query of every dashboard; returns the ones that fail, retrying them while Prometheus catches up. */
async function failingQueries(
  prometheus: Prometheus,
  choose: Record<string, string[]>,
  timeoutMs: number,
): Promise<Failure[]> {
  const deadline = Date.now() + timeoutMs;
  let pending = dashboards().map((d) => ({ d, queries: dashboardQueries(d) }));
  for (;;) {
    const failures: Failure[] = [];
    const retry: typeof pending = [];
    for (const { d, queries } of pending) {
      const failed: DashboardQuery[] = [];
      let selection: Selection;
      try {
        selection = await resolveVariables(prometheus, d, choose);
      } catch (err) {
        failures.push(...queries.map((query) => ({ query, expr: query.expr, problem: String(err) })));
        retry.push({ d, queries });
        continue;
      }
      for (const query of queries) {
        let expr = query.expr;
        let problem: string | undefined;
        try {
          expr = interpolate(query.expr, d.templating.list, selection, DURATIONS);
          if (query.kind === 'variable') {
            // The cluster variable is checked on its own: without a cluster label it rightly has no values.
            if (query.refId !== 'cluster' && (await labelValues(prometheus, expr)).length === 0)
              problem = 'no values';
          } else if (!hasData(await run(prometheus, expr, query.kind))) {
            problem = 'no data';
          }
        } catch (err) {
          problem = String(err);
        }
        if (problem) {
          failures.push({ query, expr, problem });
          failed.push(query);
        }
      }
      if (failed.length > 0) retry.push({ d, queries: failed });
    }
    if (failures.length === 0 || Date.now() > deadline) return failures;
    pending = retry;
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
}

const describeFailures = (failures: Failure[]) =>
  failures
    .map((f) => `- ${f.query.dashboard} / ${f.query.where} / ${f.query.refId}: ${f.problem}\n    ${f.expr}`)
    .join('\n');

/** The series of the first target of a panel as an instant query, with the given variable choices. */
async function panelSamples(
  prometheus: Prometheus,
  uid: string,
  title: string,
  choose: Record<string, string[]>,
): Promise<Sample[]> {
  const d = dashboards().find((x) => x.uid === uid);
  assert.ok(d);
  const query = dashboardQueries(d).find((q) => q.where === title);
  assert.ok(query, `${uid} has a panel "${title}"`);
  const expr = interpolate(
    query.expr,
    d.templating.list,
    await resolveVariables(prometheus, d, choose),
    DURATIONS,
  );
  return run(prometheus, expr, 'instant');
}

/** The values of the first target of a panel, with the given variable choices. */
async function panelValue(
  prometheus: Prometheus,
  uid: string,
  title: string,
  choose: Record<string, string[]>,
): Promise<string[]> {
  return (await panelSamples(prometheus, uid, title, choose)).map((s) => s.value?.[1] ?? '');
}

describe('Grafana dashboards against a real Prometheus scraping the operator', () => {
  let cluster: TestCluster;
  let scans: RealScans;
  let operator: OperatorProcess;
  let plain: Prometheus;
  let labelled: Prometheus;
  let reports: Reports;
  let shop: string;
  let team: string;
  let operatorNs: string;
  /** The images of this run, each under a repository (and so a digest) of its own. */
  let images: Record<'web' | 'api' | 'base' | 'worker' | 'private', PublishedImage>;
  const clusterScoped = {
    rbac: `clusterrole-dashboards-${process.pid}`,
    compliance: `dashboards-${process.pid}`,
  };

  before(async () => {
    cluster = await useTestCluster({ node: true });
    scans = await useRealScans(cluster);
    const dbRepository = scans.dbRepositoryFor('dashboards');
    await scans.publishDb('v1', dbRepository);
    const variant = (name: string) => `dashboards-${process.pid}/${name}`;
    images = {
      web: await scans.publishImage('java', 'http', variant('web')), // one Critical (CVE-2021-44228)
      api: await scans.publishImage('secret', 'http', variant('api')), // vulnerabilities, exposed secrets
      base: await scans.publishImage('os', 'http', variant('base')),
      worker: await scans.publishImage('node', 'http', variant('worker')), // deployed last
      private: await scans.publishImage('os', 'auth', variant('private')), // the registry refuses the scan
    };
    const kc = cluster.kubeConfig();
    const apps = kc.makeApiClient(AppsV1Api);
    reports = new Reports(kc);
    operatorNs = await cluster.createNamespace('trivy-system');
    shop = await cluster.createNamespace('shop');
    team = await cluster.createNamespace('team');

    // The node pulls the private image once with credentials, in a namespace the operator does not
    // watch; team's workload then runs it from the node's cache without any (IfNotPresent), so its
    // scan, which must pull from the registry, has no credentials (as in real-node.test.ts).
    await warmNodeCache(cluster, scans, images.private);

    operator = await startOperator(cluster.kubeconfigPath, {
      OPERATOR_NAMESPACE: operatorNs,
      OPERATOR_TARGET_NAMESPACES: `${shop},${team}`,
      OPERATOR_LEADER_ELECTION_ENABLED: 'false',
      OPERATOR_SCAN_JOB_RETRY_AFTER: '2s',
      OPERATOR_SCAN_JOB_TIMEOUT: '180s', // real scans on a busy machine
      // Every opt-in detail family, so the detail panels have data.
      OPERATOR_METRICS_VULN_ID_ENABLED: 'true',
      OPERATOR_METRICS_EXPOSED_SECRET_INFO: 'true',
      OPERATOR_METRICS_CONFIG_AUDIT_INFO: 'true',
      OPERATOR_METRICS_RBAC_ASSESSMENT_INFO: 'true',
      OPERATOR_METRICS_INFRA_ASSESSMENT_INFO: 'true',
      OPERATOR_METRICS_IMAGE_INFO: 'true',
      OPERATOR_METRICS_CLUSTER_COMPLIANCE_INFO: 'true',
      // Critical findings overdue 30 s after they are first seen, so the overdue panels have some.
      OPERATOR_REMEDIATION_DEADLINES: 'CRITICAL=30s,HIGH=30d',
      // The reports below are written by this test, not by the audit and compliance controllers.
      OPERATOR_CONFIG_AUDIT_SCANNER_ENABLED: 'false',
      OPERATOR_RBAC_ASSESSMENT_SCANNER_ENABLED: 'false',
      OPERATOR_CLUSTER_COMPLIANCE_ENABLED: 'false',
      // Nor node-collector Jobs on the real node: the infra report the panels read is created below.
      OPERATOR_INFRA_ASSESSMENT_SCANNER_ENABLED: 'false',
      ...scans.operatorEnv(dbRepository),
    });
    await operator.waitForReady(60_000);
    const target = new URL(operator.baseUrl).host;
    plain = await Prometheus.start({ targets: [target] });
    labelled = await Prometheus.start({ targets: [target], targetLabels: { cluster: CLUSTER_LABEL } });

    const deployment = (namespace: string, name: string, image: string, replicas: number): V1Deployment => ({
      metadata: { name, namespace },
      spec: {
        replicas,
        selector: { matchLabels: { app: name } },
        template: {
          metadata: { labels: { app: name } },
          spec: { ...scans.placement, terminationGracePeriodSeconds: 2, containers: [{ name, image }] },
        },
      },
    });
    for (const [namespace, name, image, replicas] of [
      [shop, 'web', images.web.ref, 3],
      [shop, 'api', images.api.ref, 1],
      [shop, 'base', images.base.ref, 1],
      [team, 'web', images.web.ref, 2],
      [team, 'private', images.private.ref, 1],
    ] as const) {
      await apps.createNamespacedDeployment({
        namespace,
        body: deployment(namespace, name, image, replicas),
      });
    }

    const inNamespace = (name: string, namespace: string) => {
      const report = reportFixture(name);
      report.metadata = { ...report.metadata, namespace };
      return report;
    };
    await reports.create(inNamespace('configauditreport', shop));
    await reports.create(inNamespace('infraassessmentreport', shop));
    await reports.create(inNamespace('rbacassessmentreport', team));
    const clusterRbac = reportFixture('clusterrbacassessmentreport');
    clusterRbac.metadata = { ...clusterRbac.metadata, name: clusterScoped.rbac };
    await reports.create(clusterRbac);
    const compliance = reportFixture('clustercompliancereport') as ReturnType<typeof reportFixture> & {
      spec: { compliance: { title: string } };
      status: unknown;
    };
    compliance.metadata = { ...compliance.metadata, name: clusterScoped.compliance };
    compliance.spec.compliance.title = `Dashboards test ${process.pid}`;
    const { status } = compliance;
    await reports.create(compliance);
    // The status subresource ignores status on create.
    await reports.patchStatus('ClusterComplianceReport', clusterScoped.compliance, status);

    // Four workloads scanned (three images), one failing, before the queries run.
    const scanned = (count: number) => async () => {
      const seen = await plain.query(
        `count(trivy_image_vulnerabilities{namespace=~"${shop}|${team}", severity="Critical"})`,
      );
      const failed = await plain.query('sum(trivy_lookout_scan_failures_total{reason="registry_auth"})');
      return seen[0]?.value[1] === String(count) && Number(failed[0]?.value[1]) >= 1;
    };
    await waitUntil(
      'four vulnerability reports and a failed scan in Prometheus',
      scanned(4),
      300_000,
      1_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${scanStory()}`);
    });
    // A later deployment, so the scan counters grow while Prometheus watches (rates need an increase).
    await apps.createNamespacedDeployment({
      namespace: shop,
      body: deployment(shop, 'worker', images.worker.ref, 1),
    });
    await waitUntil('the fifth vulnerability report in Prometheus', scanned(5), 240_000, 1_000).catch(
      (err: unknown) => {
        throw new Error(`${String(err)}\n${scanStory()}`);
      },
    );
  });

  /** The operator's account of its scans, for a failure message. */
  const scanStory = () =>
    operator
      .logs()
      .filter((l) => typeof l.msg === 'string' && /scan|report/.test(l.msg))
      .map((l) => JSON.stringify(l))
      .join('\n');

  after(async () => {
    await labelled?.stop();
    await plain?.stop();
    await operator?.stop();
    await reports?.delete('ClusterRbacAssessmentReport', clusterScoped.rbac).catch(() => undefined);
    await reports?.delete('ClusterComplianceReport', clusterScoped.compliance).catch(() => undefined);
    await cluster?.release();
  });

  /** An image's repository as its reports and series name it: the reference without host and tag. */
  const repositoryOf = (image: PublishedImage) =>
    image.ref.slice(image.ref.indexOf('/') + 1, image.ref.lastIndexOf(':'));
  // The image with the most to show: vulnerabilities, OS, exposed secrets.
  const apiImage = () => ({ repository: [repositoryOf(images.api)] });

  it('every query of every dashboard returns data from series without a cluster label (cluster = All)', async (t) => {
    const total = dashboards().reduce((n, d) => n + dashboardQueries(d).length, 0);
    t.diagnostic(`${total} queries (panel targets and query variables) in ${dashboards().length} dashboards`);
    assert.deepEqual(await labelValues(plain, 'label_values(trivy_lookout_scans_queued, cluster)'), []);
    const failures = await failingQueries(plain, apiImage(), 90_000);
    assert.equal(failures.length, 0, `queries without data:\n${describeFailures(failures)}`);
  });

  it('every query of every dashboard returns data for a selected cluster when series carry one', async () => {
    assert.deepEqual(await labelValues(labelled, 'label_values(trivy_lookout_scans_queued, cluster)'), [
      CLUSTER_LABEL,
    ]);
    const failures = await failingQueries(labelled, { ...apiImage(), cluster: [CLUSTER_LABEL] }, 90_000);
    assert.equal(failures.length, 0, `queries without data:\n${describeFailures(failures)}`);
  });

  it('the overview counts an image once however many workloads, pods and namespaces run it', async () => {
    // Instant reads: retried, since one slow scrape leaves every series stale until the next.
    await eventually(async () => {
      const value = (title: string, choose: Record<string, string[]> = {}) =>
        panelValue(plain, 'trivy-lookout-overview', title, choose);
      const only = (namespaces: string[]) => ({ namespace: namespaces });
      // The Critical image runs in two Deployments (five pods) in two namespaces: one Critical.
      assert.deepEqual(await value('Critical', only([shop, team])), ['1']);
      assert.deepEqual(await value('Images', only([shop, team])), ['4']);
      assert.deepEqual(await value('Workload containers', only([shop, team])), ['5']);
      // The namespace filter narrows to the images running there.
      assert.deepEqual(await value('Critical', only([team])), ['1']);
      assert.deepEqual(await value('Images', only([team])), ['1']);
      assert.deepEqual(await value('High', only([team])), ['1']);
      assert.deepEqual(await value('Images with exposed secrets', only([team])), ['0']);
      assert.deepEqual(await value('Images with exposed secrets', only([shop])), ['1']);
      // The severity filter: no Critical when only High is selected.
      assert.deepEqual(await value('Critical', { ...only([shop, team]), severity: ['High'] }), []);
      // The namespace dashboard counts the image once per namespace it runs in.
      assert.deepEqual(await panelValue(plain, 'trivy-lookout-namespace', 'Critical', only([shop, team])), [
        '2',
      ]);
    }, 30_000);
  });

  it('scan health shows the Trivy DB age and the image failing to scan with its reason, whatever the namespace', async () => {
    // Instant reads: retried, since one slow scrape leaves every series stale until the next.
    await eventually(async () => {
      const scanHealth = (title: string, choose: Record<string, string[]> = {}) =>
        panelSamples(plain, 'trivy-lookout-scan-health', title, choose);
      // The DBs the scans used, as old as their metadata says (as of the last scrape, at most the
      // 5-minute lookback ago): the vulnerability DB, and the Java DB the java image's scan fetched.
      const dbAge = await scanHealth('Trivy DB age');
      assert.deepEqual(dbAge.map((s) => s.metric.db).sort(), ['trivy-db', 'trivy-java-db']);
      const overTime = await scanHealth('Trivy DB age over time');
      for (const sample of dbAge) {
        const db = sample.metric.db as keyof typeof TEST_DB;
        // Dated the UTC day this test published it, or a later one if the day has turned since.
        const now = Date.now();
        const newest = (now - Date.parse(dbDates(TEST_DB[db], now).updatedAt)) / 1000;
        const oldest = (now - Date.parse(dbDates(TEST_DB[db], STARTED_AT).updatedAt)) / 1000;
        const age = Number(sample.value?.[1]);
        assert.ok(
          age > newest - 360 && age <= oldest + 60,
          `${db} age ${age} s, from ${newest} to ${oldest} s`,
        );
        const same = overTime.find((s) => s.metric.db === db);
        assert.ok(same, `${db} age over time`);
        assert.ok(Math.abs(Number(same.value?.[1]) - age) < 120, `both DB metrics tell the same ${db} age`);
      }

      // The private image, refused by its registry, and nothing else.
      const refused = images.private;
      for (const namespace of [[shop, team], [shop]]) {
        const failing = await scanHealth('Failing images', { namespace });
        assert.deepEqual(
          failing.map((s) => [
            s.metric.image_registry,
            s.metric.image_repository,
            s.metric.image_tag,
            s.metric.reason,
          ]),
          [[scans.registries.auth.host, repositoryOf(refused), refused.built.tag, 'registry_auth']],
          `failing images with namespace ${namespace}`,
        );
        const failingFor = Number(failing[0]?.value?.[1]);
        assert.ok(failingFor >= 0 && failingFor <= 600, `failing for ${failingFor} s, within the 10m range`);
        assert.deepEqual(
          (await scanHealth('Images failing to scan', { namespace })).map((s) => s.value?.[1]),
          ['1'],
        );
        assert.deepEqual(
          await panelValue(plain, 'trivy-lookout-overview', 'Images failing to scan', { namespace }),
          ['1'],
        );
      }
    }, 30_000);
  });

  it('the findings panels show the new CVE-2021-44228 where it runs, and it overdue in both namespaces', async () => {
    // Instant reads: retried, since one slow scrape leaves every series stale until the next.
    await eventually(async () => {
      const overview = (title: string) =>
        panelSamples(plain, 'trivy-lookout-overview', title, { namespace: [shop, team] });
      const web = repositoryOf(images.web);
      // The cve box at its default: the web Deployments of both namespaces, one row each.
      const where = await overview('Where does $cve run?');
      assert.deepEqual(
        where
          .map((s) => [
            s.metric.namespace,
            s.metric.resource_kind,
            s.metric.container_name,
            s.metric.image_repository,
            s.metric.resource,
            s.metric.installed_version,
            s.metric.fixed_version,
          ])
          .sort(),
        [shop, team]
          .sort()
          .map((ns) => [
            ns,
            'ReplicaSet',
            'web',
            web,
            'org.apache.logging.log4j:log4j-core',
            '2.14.1',
            '2.15.0',
          ]),
      );
      // New where it arrived (the operator started before any report): first seen during this test.
      const fresh = (await overview('New vulnerabilities (last 24h)')).filter(
        (s) => s.metric.vulnerability_id === 'CVE-2021-44228',
      );
      assert.deepEqual(
        fresh.map((s) => [s.metric.namespace, s.metric.image_repository]).sort(),
        [
          [shop, web],
          [team, web],
        ].sort(),
      );
      for (const s of fresh) {
        const firstSeen = Number(s.value?.[1]);
        assert.ok(firstSeen >= STARTED_AT - 1_000 && firstSeen <= Date.now(), `first seen ${firstSeen}`);
      }
      // Past the 30 s Critical deadline: one overdue finding (web × CVE × log4j-core) per namespace.
      const overdue = await overview('Overdue findings by namespace and severity');
      assert.deepEqual(
        overdue.map((s) => [s.metric.namespace, s.metric.severity, s.value?.[1]]).sort(),
        [
          [shop, 'Critical', '1'],
          [team, 'Critical', '1'],
        ].sort(),
      );
    }, 60_000);
  });

  it('the plain ConfigMaps (grafana-dashboards/configmaps.yaml) apply with kubectl and hold the dashboards', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-dashboards-'));
    try {
      const manifest = path.join(dir, 'configmaps.yaml');
      const text = readFileSync(path.join(repoRoot, CONFIGMAPS_FILE), 'utf8');
      writeFileSync(manifest, text.replaceAll('namespace: trivy-system', `namespace: ${operatorNs}`));
      // Client-side apply, as the file's header says: it also stores each object in an annotation.
      await kubectl(cluster.kubeconfigPath, ['apply', '-f', manifest]);
      const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
      const listed = await core.listNamespacedConfigMap({
        namespace: operatorNs,
        labelSelector: 'grafana_dashboard=1',
      });
      assert.equal(listed.items.length, dashboards().length);
      for (const d of dashboards()) {
        const held = listed.items.find((cm) => cm.data?.[fileName(d)] !== undefined);
        assert.ok(held, `a ConfigMap holds ${fileName(d)}`);
        assert.equal(held.metadata?.annotations?.grafana_folder, 'Trivy Lookout');
        assert.deepEqual(JSON.parse(held.data?.[fileName(d)] ?? ''), JSON.parse(JSON.stringify(d)));
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
