/**
 * The Grafana dashboards as files: generated and up to date, valid JSON with unique uids and panel ids,
 * every query reading the datasource variable and honouring the cluster, namespace and severity
 * variables where its metric has those labels (and never filtering by namespace where it has not),
 * only metrics the exporter really serves, links between dashboards that resolve, and the sidecar
 * ConfigMaps and chart copies identical to the JSON. Whether the queries return data is proven
 * against a real Prometheus in test/integration/dashboards.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import yaml from 'js-yaml';
import { formatJson } from '../../../grafana-dashboards/src/format.ts';
import {
  CHART_DASHBOARD_DIR,
  CONFIGMAPS_FILE,
  DASHBOARD_DIR,
  SIDECAR,
  dashboardQueries,
  dashboards,
  fileName,
  interpolate,
  parseLabelValues,
  renderFiles,
  type Dashboard,
  type Panel,
  type Variable,
} from '../../../grafana-dashboards/src/index.ts';
import { FINDINGS_FAMILIES } from '../../../src/findings/index.ts';
import { ExporterMetrics } from '../../../src/metrics/exporter-metrics.ts';
import { SEVERITY_LABELS } from '../../../src/metrics/families.ts';
import { FAMILIES, OperatorHealthMetrics } from '../../../src/metrics/index.ts';
import { repoRoot } from '../../harness/tools.ts';

const all = dashboards();
const read = (file: string) => readFileSync(path.join(repoRoot, file), 'utf8');
const onDisk = (d: Dashboard) => JSON.parse(read(`${DASHBOARD_DIR}/${fileName(d)}`)) as Dashboard;

function panelsOf(d: Dashboard): Panel[] {
  const walk = (panels: Panel[]): Panel[] => panels.flatMap((p) => [p, ...walk(p.panels ?? [])]);
  return walk(d.panels);
}

/** Label names of every metric the exporter serves: report families, aggregates, health, plus `up`. */
function knownMetrics(): Map<string, Set<string>> {
  const metrics = new Map<string, Set<string>>();
  for (const family of Object.values(FAMILIES)) metrics.set(family.name, new Set(family.labels));
  const health = new OperatorHealthMetrics();
  // The exporter registers its own health series (reports, report age, render time) there too.
  new ExporterMetrics(health.registry, () => undefined);
  for (const metric of health.registry.getMetricsAsArray()) {
    const m = metric as unknown as { name: string; labelNames?: string[] };
    const labels = new Set(m.labelNames ?? []);
    metrics.set(m.name, labels);
    // Histograms are queried through their series.
    for (const suffix of ['_bucket', '_sum', '_count'])
      metrics.set(`${m.name}${suffix}`, new Set([...labels, 'le']));
  }
  metrics.set('up', new Set());
  // The findings families (issue #18), registered by src/findings when the operator starts.
  for (const family of Object.values(FINDINGS_FAMILIES)) metrics.set(family.name, new Set(family.labels));
  return metrics;
}
const METRICS = knownMetrics();

interface Selector {
  metrics: string[];
  matchers: Map<string, string[]>;
  text: string;
}

/** Every `{…}` selector of a PromQL expression, with the metric(s) it selects and its matchers. */
function selectors(expr: string): Selector[] {
  const out: Selector[] = [];
  for (const match of expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\{([^{}]*)\}/g)) {
    const matchers = new Map<string, string[]>();
    for (const m of (match[2] ?? '').matchAll(
      /([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"/g,
    )) {
      const key = m[1] ?? '';
      matchers.set(key, [...(matchers.get(key) ?? []), `${m[2]}"${m[3]}"`]);
    }
    let metrics = match[1] ? [match[1]] : [];
    const byName = matchers.get('__name__')?.[0];
    if (byName) metrics = byName.replace(/^=~?"|"$/g, '').split('|');
    out.push({ metrics, matchers, text: match[0] });
  }
  return out;
}

const has = (variables: readonly Variable[], name: string) => variables.some((v) => v.name === name);

describe('Grafana dashboards', () => {
  it('are generated: the JSON, the chart copies and configmaps.yaml match grafana-dashboards/src', async () => {
    const files = await renderFiles(formatJson);
    assert.equal(files.size, all.length * 2 + 1);
    for (const [file, content] of files) {
      assert.equal(read(file), content, `${file} is out of date: run npm run generate:dashboards`);
    }
  });

  it('are six, with unique uids, titles and files, tagged trivy-lookout, in the Grafana 10/11 model', () => {
    assert.equal(all.length, 6);
    assert.equal(new Set(all.map((d) => d.uid)).size, all.length);
    assert.equal(new Set(all.map((d) => d.title)).size, all.length);
    for (const d of all) {
      assert.deepEqual(onDisk(d), JSON.parse(JSON.stringify(d)), d.uid);
      assert.match(d.uid, /^[a-z0-9-]{1,40}$/, 'Grafana uids are at most 40 characters');
      assert.equal(d.id, null, 'provisioned dashboards carry no database id');
      assert.ok(d.tags.includes('trivy-lookout'), d.uid);
      assert.equal(d.schemaVersion, 39);
      assert.ok(d.description.length > 20, d.uid);
      assert.deepEqual(
        d.links.map((l) => [l.type, l.tags, l.includeVars, l.keepTime]),
        [['dashboards', ['trivy-lookout'], true, true]],
      );
    }
  });

  it('give every panel a unique id, a place on the grid that overlaps no other, and a description', () => {
    for (const d of all) {
      const panels = panelsOf(d);
      assert.equal(new Set(panels.map((p) => p.id)).size, panels.length, `${d.uid}: panel ids`);
      for (const [i, p] of panels.entries()) {
        const { x, y, w, h } = p.gridPos;
        assert.ok(
          x >= 0 && w >= 1 && x + w <= 24 && h >= 1 && y >= 0,
          `${d.uid}/${p.title}: ${JSON.stringify(p.gridPos)}`,
        );
        for (const q of panels.slice(i + 1)) {
          const apart =
            x + w <= q.gridPos.x ||
            q.gridPos.x + q.gridPos.w <= x ||
            y + h <= q.gridPos.y ||
            q.gridPos.y + q.gridPos.h <= y;
          assert.ok(apart, `${d.uid}: "${p.title}" overlaps "${q.title}"`);
        }
        if (p.type !== 'row')
          assert.ok((p.description ?? '').length > 10, `${d.uid}/${p.title}: description`);
      }
    }
  });

  it('read every panel, target and query variable from the datasource variable', () => {
    for (const d of all) {
      const [first] = d.templating.list;
      assert.deepEqual(
        [first?.name, first?.type, first?.query],
        ['datasource', 'datasource', 'prometheus'],
        d.uid,
      );
      for (const p of panelsOf(d).filter((p) => p.type !== 'row')) {
        assert.deepEqual(p.datasource, { type: 'prometheus', uid: '${datasource}' }, `${d.uid}/${p.title}`);
        assert.ok((p.targets ?? []).length > 0, `${d.uid}/${p.title} has queries`);
        for (const t of p.targets ?? []) {
          assert.deepEqual(
            t.datasource,
            { type: 'prometheus', uid: '${datasource}' },
            `${d.uid}/${p.title}/${t.refId}`,
          );
        }
        assert.equal(new Set((p.targets ?? []).map((t) => t.refId)).size, (p.targets ?? []).length);
      }
      for (const v of d.templating.list.filter((v) => v.type === 'query')) {
        assert.deepEqual(v.datasource, { type: 'prometheus', uid: '${datasource}' }, `${d.uid}: $${v.name}`);
        assert.doesNotThrow(() => parseLabelValues(v.query), `${d.uid}: $${v.name}`);
      }
    }
  });

  it('offer cluster (All matches series without the label), namespace and severity as multi-value variables', () => {
    for (const d of all) {
      const vars = new Map(d.templating.list.map((v) => [v.name, v]));
      const clusterVar = vars.get('cluster');
      assert.ok(clusterVar, `${d.uid}: $cluster`);
      assert.deepEqual([clusterVar.multi, clusterVar.includeAll, clusterVar.allValue], [true, true, '.*']);
      const ns = vars.get('namespace');
      // Compliance reports are cluster-scoped: that dashboard has nothing to filter by namespace.
      if (d.uid === 'trivy-lookout-compliance') assert.equal(ns, undefined);
      else
        assert.deepEqual(
          [ns?.multi, ns?.includeAll, ns?.allValue],
          [true, true, '.*'],
          `${d.uid}: $namespace`,
        );
      const sev = vars.get('severity');
      // Scan health has no series with a severity.
      if (d.uid === 'trivy-lookout-scan-health') assert.equal(sev, undefined);
      else {
        assert.deepEqual(
          [sev?.type, sev?.multi, sev?.includeAll, sev?.allValue],
          ['custom', true, true, '.*'],
        );
        assert.deepEqual(
          sev?.options.filter((o) => o.value !== '$__all').map((o) => o.value),
          [...SEVERITY_LABELS],
          'the exported severity values',
        );
      }
    }
  });

  it('query only metrics the exporter serves, each selector honouring the variables its labels allow', () => {
    for (const d of all) {
      for (const q of dashboardQueries(d)) {
        const where = `${d.uid} / ${q.where} / ${q.refId}: ${q.expr}`;
        // A variable's query can use the variables before it (Grafana resolves them in order).
        const vars =
          q.kind === 'variable'
            ? d.templating.list.slice(
                0,
                d.templating.list.findIndex((v) => v.name === q.refId),
              )
            : d.templating.list;
        const expr = q.kind === 'variable' ? parseLabelValues(q.expr).selector : q.expr;
        // The cluster variable lists the clusters: it is the one query that cannot filter by them.
        if (q.kind === 'variable' && q.refId === 'cluster') {
          assert.ok(METRICS.has(expr), where);
          continue;
        }
        const found = selectors(expr);
        assert.ok(found.length > 0, `${where}: no selector`);
        // A metric written without braces would escape the cluster filter.
        const bare =
          expr.replace(/([a-zA-Z_:][a-zA-Z0-9_:]*)?\{[^{}]*\}/g, ' ').match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ??
          [];
        for (const word of bare) assert.ok(!METRICS.has(word), `${where}: ${word} without a selector`);
        for (const s of found) {
          assert.ok(s.metrics.length > 0, `${where}: ${s.text} names no metric`);
          const labels = s.metrics.map((m) => {
            const known = METRICS.get(m);
            assert.ok(known, `${where}: unknown metric ${m}`);
            return known;
          });
          const everyHas = (label: string) => labels.every((l) => l.has(label));
          const cluster = s.matchers.get('cluster') ?? [];
          assert.ok(cluster.includes('=~"$cluster"'), `${where}: ${s.text} lacks cluster=~"$cluster"`);
          const ns = s.matchers.get('namespace') ?? [];
          if (everyHas('namespace') && has(vars, 'namespace')) {
            assert.ok(ns.includes('=~"$namespace"'), `${where}: ${s.text} lacks namespace=~"$namespace"`);
          }
          // Behind a ServiceMonitor such series carry the operator's namespace: filtering them is wrong.
          if (!everyHas('namespace'))
            assert.deepEqual(ns, [], `${where}: ${s.text} has no workload namespace`);
          const severityMatchers = s.matchers.get('severity') ?? [];
          if (everyHas('severity') && has(vars, 'severity')) {
            assert.ok(
              severityMatchers.includes('=~"$severity"') || severityMatchers.includes('=~"(?i)$severity"'),
              `${where}: ${s.text} lacks severity=~"$severity"`,
            );
          }
          if (s.metrics.every((m) => m === 'up' || m.startsWith('trivy_lookout_')) && has(vars, 'job')) {
            const operatorSeries = !s.metrics.some((m) => Object.values(FAMILIES).some((f) => f.name === m));
            if (operatorSeries)
              assert.ok(s.matchers.get('job')?.includes('=~"$job"'), `${where}: ${s.text} lacks job`);
          }
        }
      }
    }
  });

  it('use only defined variables (every query interpolates)', () => {
    const durations = { interval: '30s', rateInterval: '2m', range: '1h' };
    for (const d of all) {
      const selection = Object.fromEntries(
        d.templating.list.map((v) => [
          v.name,
          { selected: v.multi || v.includeAll ? ('All' as const) : ['x'], options: ['a', 'b'] },
        ]),
      );
      for (const q of dashboardQueries(d)) {
        const expr = interpolate(q.expr, d.templating.list, selection, durations);
        assert.doesNotMatch(expr, /\$/, `${d.uid} / ${q.where}: ${expr}`);
      }
    }
  });

  it('link to each other with the data source, cluster and time range carried, naming columns that exist', () => {
    const uids = new Map(all.map((d) => [d.uid, d]));
    for (const d of all) {
      for (const p of panelsOf(d)) {
        const links = [
          ...(p.fieldConfig?.defaults.links ?? []).map((l) => ({
            l,
            column: undefined as string | undefined,
          })),
          ...(p.fieldConfig?.overrides ?? []).flatMap((o) =>
            o.properties
              .filter((prop) => prop.id === 'links')
              .flatMap((prop) =>
                (prop.value as { title: string; url: string }[]).map((l) => ({
                  l,
                  column: o.matcher.options,
                })),
              ),
          ),
        ];
        for (const { l } of links) {
          const where = `${d.uid}/${p.title}: ${l.url}`;
          if (l.url.startsWith('https://')) continue;
          const target = uids.get(/^\/d\/([^/]+)\//.exec(l.url)?.[1] ?? '');
          assert.ok(target, `${where}: links to an existing dashboard`);
          for (const keep of ['${datasource:queryparam}', '${cluster:queryparam}', '${__url_time_range}']) {
            assert.ok(l.url.includes(keep), `${where} keeps ${keep}`);
          }
          for (const [, name] of l.url.matchAll(/var-([a-z]+)=/g)) {
            assert.ok(
              target.templating.list.some((v) => v.name === name),
              `${where}: ${target.uid} has $${name}`,
            );
          }
          // Table links take values from columns of the clicked row, by their displayed name.
          const organize = p.transformations?.find((t) => t.id === 'organize')?.options as
            { renameByName: Record<string, string> } | undefined;
          for (const [, column] of l.url.matchAll(/__data\.fields\["([^"]+)"\]/g)) {
            assert.ok(
              organize && Object.values(organize.renameByName).includes(column ?? ''),
              `${where}: column ${column}`,
            );
          }
        }
      }
      // Overview → namespace → image: the drill-down path exists.
    }
    const linksOf = (uid: string) => JSON.stringify(uids.get(uid)?.panels);
    assert.match(linksOf('trivy-lookout-overview'), /\/d\/trivy-lookout-namespace\//);
    assert.match(linksOf('trivy-lookout-overview'), /\/d\/trivy-lookout-image\//);
    assert.match(linksOf('trivy-lookout-namespace'), /\/d\/trivy-lookout-image\//);
    assert.match(linksOf('trivy-lookout-image'), /\/d\/trivy-lookout-namespace\//);
  });

  it('ship as Grafana-sidecar ConfigMaps equal to the JSON, small enough for kubectl apply, and in the chart', () => {
    const docs = yaml.loadAll(read(CONFIGMAPS_FILE)) as {
      kind: string;
      metadata: { name: string; labels: Record<string, string>; annotations: Record<string, string> };
      data: Record<string, string>;
    }[];
    assert.equal(docs.length, all.length);
    for (const [i, d] of all.entries()) {
      const cm = docs[i];
      assert.equal(cm?.kind, 'ConfigMap');
      assert.equal(cm.metadata.labels[SIDECAR.label], '1');
      assert.equal(cm.metadata.annotations[SIDECAR.folderAnnotation], SIDECAR.folder);
      assert.deepEqual(Object.keys(cm.data), [fileName(d)]);
      assert.deepEqual(JSON.parse(cm.data[fileName(d)] ?? ''), onDisk(d));
      // kubectl apply keeps the whole object in an annotation of at most 256 KiB.
      assert.ok(
        JSON.stringify(cm).length < 256 * 1024,
        `${cm.metadata.name} is small enough for kubectl apply`,
      );
      assert.equal(read(`${CHART_DASHBOARD_DIR}/${fileName(d)}`), read(`${DASHBOARD_DIR}/${fileName(d)}`));
    }
    assert.equal(new Set(docs.map((cm) => cm.metadata.name)).size, docs.length);
  });

  it('are each described in grafana-dashboards/README.md', () => {
    const readme = read('grafana-dashboards/README.md');
    for (const d of all) {
      assert.ok(readme.includes(d.title), `README describes ${d.title}`);
      assert.ok(readme.includes(fileName(d)), `README names ${fileName(d)}`);
    }
  });
});

describe('interpolate (what Grafana sends to Prometheus)', () => {
  const vars = (list: Partial<Variable>[]): Variable[] =>
    list.map(
      (v) =>
        ({
          type: 'query',
          query: '',
          current: {},
          options: [],
          hide: 0,
          skipUrlSync: false,
          label: '',
          multi: false,
          includeAll: false,
          name: '',
          ...v,
        }) as Variable,
    );
  const variables = vars([
    { name: 'cluster', multi: true, includeAll: true, allValue: '.*' },
    { name: 'job', multi: true, includeAll: true },
    { name: 'repository' },
    { name: 'datasource', type: 'datasource' },
  ]);
  const durations = { interval: '15s', rateInterval: '1m', range: '6h' };
  const run = (expr: string, selection: Parameters<typeof interpolate>[2]) =>
    interpolate(expr, variables, selection, durations);
  const base = {
    cluster: { selected: 'All' as const, options: [] },
    job: { selected: 'All' as const, options: ['trivy-lookout', 'lookout.b'] },
    repository: { selected: ['library/nginx'], options: [] },
  };

  it('turns All into allValue, or into every option as one escaped regex when there is none', () => {
    assert.equal(
      run('x{cluster=~"$cluster", job=~"$job"}', base),
      'x{cluster=~".*", job=~"(trivy-lookout|lookout\\\\.b)"}',
    );
  });

  it('joins several values into an escaped alternation, escapes one value, leaves a single-value variable as is', () => {
    assert.equal(
      run('x{cluster=~"$cluster"}', { ...base, cluster: { selected: ['a.b', 'c'], options: [] } }),
      'x{cluster=~"(a\\\\.b|c)"}',
    );
    assert.equal(
      run('x{cluster=~"${cluster}"}', { ...base, cluster: { selected: ['eu-1'], options: [] } }),
      'x{cluster=~"eu-1"}',
    );
    assert.equal(run('x{image_repository="$repository"}', base), 'x{image_repository="library/nginx"}');
  });

  it('puts in the built-in durations', () => {
    assert.equal(
      run('rate(x[$__rate_interval]) + increase(x[$__range]) + y[$__interval]', base),
      'rate(x[1m]) + increase(x[6h]) + y[15s]',
    );
  });

  it('rejects unknown variables, formats meant for URLs, the datasource and missing values', () => {
    assert.throws(() => run('x{a=~"$nope"}', base), /unknown variable \$nope/);
    assert.throws(() => run('x{a=~"${cluster:queryparam}"}', base), /not for queries/);
    assert.throws(() => run('x{a=~"$datasource"}', base), /data source/);
    assert.throws(() => run('x{a=~"[[cluster]]"}', base), /deprecated/);
    assert.throws(() => run('x{a=~"$cluster"}', { job: base.job }), /no value chosen for variable cluster/);
    assert.throws(
      () => run('x{a=~"$job"}', { ...base, job: { selected: 'All', options: [] } }),
      /no value to expand All/,
    );
  });
});

describe('parseLabelValues', () => {
  it('splits label_values(<selector>, <label>) as Grafana sends it to the label values API', () => {
    assert.deepEqual(parseLabelValues('label_values({__name__=~"a|b", cluster=~"$cluster"}, namespace)'), {
      selector: '{__name__=~"a|b", cluster=~"$cluster"}',
      label: 'namespace',
    });
    assert.deepEqual(parseLabelValues('label_values(up{job="x"},job)'), {
      selector: 'up{job="x"}',
      label: 'job',
    });
    assert.throws(() => parseLabelValues('query_result(up)'), /not a label_values/);
  });
});
