/**
 * The alerting pack: the rule file passes promtool's checks and its unit tests, the PrometheusRule and
 * the Helm chart carry exactly the same rules, every alert has a runbook, and the example Alertmanager
 * configuration is valid, routes by severity and namespace, and renders messages naming namespace and
 * image. Only runs the real promtool/amtool binaries; takes a few seconds.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import yaml from 'js-yaml';
import { repoRoot, toolPath } from '../../harness/tools.ts';

const run = promisify(execFile);

const rulesDir = path.join(repoRoot, 'alert-rules');
const rulesFile = path.join(rulesDir, 'trivy-lookout.rules.yaml');
const prometheusRuleFile = path.join(rulesDir, 'prometheusrule.yaml');
const chartRulesFile = path.join(
  repoRoot,
  'charts',
  'trivy-lookout',
  'files',
  'prometheus-rules',
  'trivy-lookout.yaml',
);
const alertmanagerDir = path.join(repoRoot, 'alertmanager');
const alertmanagerFile = path.join(alertmanagerDir, 'alertmanager.yaml');
const runbooksDir = path.join(repoRoot, 'docs', 'runbooks');

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Group {
  name: string;
  rules: Rule[];
}

const loadYaml = (file: string): unknown => yaml.load(readFileSync(file, 'utf8'));
const groups = (): Group[] => (loadYaml(rulesFile) as { groups: Group[] }).groups;
const alerts = (): Rule[] => groups().flatMap((g) => g.rules.filter((r) => r.alert !== undefined));

/** Runs a tool; resolves with its output whatever the exit code, so failures show what the tool said. */
async function tool(
  name: 'promtool' | 'amtool',
  args: string[],
  cwd = repoRoot,
): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await run(toolPath(name), args, { cwd, timeout: 30_000 });
    return { code: 0, out: stdout + stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

async function route(...labels: string[]): Promise<string> {
  const { code, out } = await tool('amtool', [
    'config',
    'routes',
    'test',
    `--config.file=${alertmanagerFile}`,
    ...labels,
  ]);
  assert.equal(code, 0, out);
  // amtool prints the receivers on stdout and a flag warning on stderr.
  const receivers = out.split('\n').find((line) => line.trim() !== '' && !line.startsWith('Warning:'));
  return (receivers ?? '').trim();
}

describe('alert rules', () => {
  it('pass promtool check rules', async () => {
    const { code, out } = await tool('promtool', ['check', 'rules', rulesFile]);
    assert.equal(code, 0, out);
    assert.match(out, /SUCCESS: \d+ rules found/);
  });

  it('pass their promtool unit tests', async () => {
    const tests = readdirSync(path.join(rulesDir, 'tests'))
      .filter((file) => file.endsWith('.yaml'))
      .map((file) => path.join(rulesDir, 'tests', file));
    assert.ok(tests.length > 0);
    const { code, out } = await tool('promtool', ['test', 'rules', ...tests]);
    assert.equal(code, 0, out);
    assert.doesNotMatch(out, /FAILED/);
  });

  it('are all covered by a unit test that expects them to fire', () => {
    const tested = new Set<string>();
    for (const file of readdirSync(path.join(rulesDir, 'tests')).filter((f) => f.endsWith('.yaml'))) {
      const doc = loadYaml(path.join(rulesDir, 'tests', file)) as {
        tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
      };
      for (const test of doc.tests) {
        for (const check of test.alert_rule_test ?? []) {
          if ((check.exp_alerts ?? []).length > 0) tested.add(check.alertname);
        }
      }
    }
    for (const rule of alerts()) assert.ok(tested.has(rule.alert ?? ''), `${rule.alert} has a firing test`);
  });

  it('carry severity, summary, description and a runbook that exists', () => {
    for (const rule of alerts()) {
      const name = rule.alert ?? '';
      assert.match(rule.labels?.severity ?? '', /^(critical|warning|info)$/, name);
      assert.ok(rule.annotations?.summary, `${name} summary`);
      assert.ok(rule.annotations?.description, `${name} description`);
      assert.equal(
        rule.annotations?.runbook_url,
        `https://github.com/trivy-lookout/trivy-lookout/blob/main/docs/runbooks/${name}.md`,
      );
      assert.ok(existsSync(path.join(runbooksDir, `${name}.md`)), `docs/runbooks/${name}.md`);
    }
  });

  it('use the exported label values and keep namespace in every by()', () => {
    for (const rule of alerts()) {
      // Trivy-Operator's values: Title-case severities, Fail/Pass, fixable "true"/"false".
      assert.doesNotMatch(rule.expr, /severity=~?"[^"]*\b(CRITICAL|HIGH|critical|high)\b/, rule.alert);
      assert.doesNotMatch(rule.expr, /status="(FAIL|fail|PASS|pass)"/, rule.alert);
      // Cluster-scoped families (compliance) have no namespace to keep.
      if (rule.expr.includes('trivy_cluster_compliance')) continue;
      for (const match of rule.expr.matchAll(/\bby \(([^)]*)\)/g)) {
        assert.ok(
          match[1]
            ?.split(',')
            .map((l) => l.trim())
            .includes('namespace'),
          `${rule.alert}: ${match[0]}`,
        );
      }
    }
  });

  it('fire exposed secrets without delay', () => {
    const secrets = alerts().find((rule) => rule.alert === 'TrivyExposedSecrets');
    assert.ok(secrets);
    assert.equal(secrets.for, undefined);
  });

  it('are the same in the PrometheusRule and in the Helm chart', () => {
    const resource = loadYaml(prometheusRuleFile) as {
      apiVersion: string;
      kind: string;
      metadata: { labels: Record<string, string> };
      spec: { groups: Group[] };
    };
    assert.equal(resource.apiVersion, 'monitoring.coreos.com/v1');
    assert.equal(resource.kind, 'PrometheusRule');
    assert.equal(resource.metadata.labels.release, 'kube-prometheus-stack');
    assert.deepEqual(resource.spec.groups, groups(), 'run alert-rules/sync.sh');
    assert.equal(
      readFileSync(chartRulesFile, 'utf8'),
      readFileSync(rulesFile, 'utf8'),
      'run alert-rules/sync.sh',
    );
  });
});

describe('ServiceMonitor example', () => {
  it('scrapes the metrics port every 60s with honorLabels', () => {
    const monitor = loadYaml(path.join(repoRoot, 'servicemonitor', 'servicemonitor.yaml')) as {
      kind: string;
      metadata: { labels: Record<string, string> };
      spec: { endpoints: Record<string, unknown>[] };
    };
    assert.equal(monitor.kind, 'ServiceMonitor');
    assert.equal(monitor.metadata.labels.release, 'kube-prometheus-stack');
    assert.deepEqual(monitor.spec.endpoints[0], {
      port: 'metrics',
      path: '/metrics',
      scheme: 'http',
      interval: '60s',
      scrapeTimeout: '30s',
      honorLabels: true,
    });
  });
});

describe('Alertmanager example', () => {
  it('passes amtool check-config, templates included', async () => {
    const { code, out } = await tool('amtool', ['check-config', alertmanagerFile]);
    assert.equal(code, 0, out);
    assert.match(out, /1 templates\s+SUCCESS/);
  });

  it('pages criticals (and posts them to Slack) and sends the rest to Slack, per team', async () => {
    assert.equal(await route('severity=critical', 'namespace=shop'), 'pagerduty-shop,slack-shop');
    assert.equal(await route('severity=warning', 'namespace=shop'), 'slack-shop');
    assert.equal(await route('severity=info', 'namespace=shop-staging'), 'slack-shop');
    assert.equal(await route('severity=critical', 'namespace=payments'), 'pagerduty-security,slack-security');
    assert.equal(await route('severity=warning', 'namespace=payments'), 'slack-security');
    assert.equal(await route('severity=info', 'alertname=TrivyComplianceControlsFailing'), 'slack-security');
    assert.equal(await route('severity=warning', 'alertname=TrivyLookoutDown'), 'slack-security');
  });

  it('groups by namespace and alertname and inhibits warnings with criticals', () => {
    const config = loadYaml(alertmanagerFile) as {
      route: { group_by: string[] };
      inhibit_rules: { source_matchers: string[]; target_matchers: string[]; equal: string[] }[];
    };
    assert.deepEqual([...config.route.group_by].sort(), ['alertname', 'namespace']);
    const inhibit = config.inhibit_rules[0];
    assert.ok(inhibit);
    assert.deepEqual(inhibit.source_matchers, ['severity="critical"']);
    assert.ok(inhibit.target_matchers.some((m) => m.includes('warning')));
    assert.deepEqual([...inhibit.equal].sort(), ['alertname', 'namespace']);
    // Alerts with two severities exist for the inhibition to act on.
    const tiers = alerts().filter((rule) => rule.alert === 'TrivyFixableVulnerabilitiesHigh');
    assert.deepEqual(tiers.map((rule) => rule.labels?.severity).sort(), ['critical', 'warning']);
  });

  it('renders Slack messages naming the namespace and the image', async () => {
    const { code, out } = await tool(
      'amtool',
      [
        'template',
        'render',
        '--template.glob=trivy-lookout.tmpl',
        `--template.data=${path.join(repoRoot, 'test', 'integration', 'alerting', 'notification-data.json')}`,
        '--template.text={{ template "trivy_lookout.slack.title" . }}\n{{ template "trivy_lookout.slack.text" . }}',
      ],
      alertmanagerDir,
    );
    assert.equal(code, 0, out);
    assert.match(out, /\[FIRING:1\] TrivyExposedSecrets in namespace shop/);
    assert.match(out, /Namespace: `shop`/);
    assert.match(out, /Image: `ghcr\.io\/acme\/cart:1\.0`/);
    assert.match(out, /docs\/runbooks\/TrivyExposedSecrets\.md\|Runbook>/);
  });
});
