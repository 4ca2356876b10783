/**
 * The alerting pack: the rule file passes promtool's checks and its unit tests, the PrometheusRule and
 * the Helm chart carry exactly the same rules, every alert has a runbook, and the example Alertmanager
 * configuration is valid, routes by severity and namespace, and renders messages naming namespace and
 * image. Only runs the real promtool/amtool binaries; takes a few seconds.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
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

  it('fire a new finding once per namespace, image repository, CVE and package, without delay', () => {
    for (const name of ['TrivyNewCriticalVulnerability', 'TrivyNewHighVulnerability']) {
      const rule = alerts().find((r) => r.alert === name);
      assert.ok(rule, name);
      assert.equal(rule.for, undefined, name);
      const by = /max by \(([^)]*)\)/
        .exec(rule.expr)?.[1]
        ?.split(',')
        .map((l) => l.trim());
      // Replicas (pod/instance), tags, workloads and versions must not split or re-fire the alert.
      assert.deepEqual(by?.sort(), [
        'image_registry',
        'image_repository',
        'namespace',
        'package',
        'vulnerability_id',
      ]);
      for (const key of ['versions', 'images', 'workloads'])
        assert.ok(rule.annotations?.[key], `${name} ${key}`);
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
    assert.equal(
      await route('severity=warning', 'alertname=TrivyVulnerabilityRemediationOverdue', 'namespace=shop'),
      'slack-shop',
    );
  });

  it('pages new Criticals and posts new Highs to chat, through receivers that send them once', async () => {
    const newCritical = ['severity=critical', 'alertname=TrivyNewCriticalVulnerability'];
    const newHigh = ['severity=warning', 'alertname=TrivyNewHighVulnerability'];
    assert.equal(
      await route(...newCritical, 'namespace=shop-staging'),
      'pagerduty-shop-new-findings,slack-shop-new-findings',
    );
    assert.equal(await route(...newHigh, 'namespace=shop'), 'slack-shop-new-findings');
    assert.equal(
      await route(...newCritical, 'namespace=payments'),
      'pagerduty-security-new-findings,slack-security-new-findings',
    );
    assert.equal(await route(...newHigh, 'namespace=payments'), 'slack-security-new-findings');

    interface Route {
      receiver: string;
      matchers?: string[];
      repeat_interval?: string;
      routes?: Route[];
    }
    const config = loadYaml(alertmanagerFile) as {
      route: Route;
      receivers: { name: string; slack_configs?: object[]; pagerduty_configs?: object[] }[];
    };
    // A resolution means the 24h window ended, not that anything was fixed: never sent.
    const newFindingReceivers = config.receivers.filter((r) => r.name.endsWith('-new-findings'));
    assert.equal(newFindingReceivers.length, 4);
    for (const receiver of newFindingReceivers) {
      for (const integration of [...(receiver.slack_configs ?? []), ...(receiver.pagerduty_configs ?? [])]) {
        assert.equal((integration as { send_resolved?: boolean }).send_resolved, false, receiver.name);
      }
    }
    // Not repeated while the alert lives: 24h window plus keep_firing_for, below the 120h retention.
    const hours = (d: string): number => {
      const m = /^(\d+)h$/.exec(d);
      assert.ok(m, d);
      return Number(m[1]);
    };
    const walk = (r: Route): Route[] => [r, ...(r.routes ?? []).flatMap(walk)];
    const newFindingRoutes = walk(config.route).filter((r) =>
      (r.matchers ?? []).some((m) => m.includes('TrivyNewCriticalVulnerability')),
    );
    assert.equal(newFindingRoutes.length, 2);
    for (const r of newFindingRoutes) {
      const repeat = hours(r.repeat_interval ?? '0h');
      assert.ok(repeat > 25 && repeat < 120, `${r.receiver} repeat_interval ${r.repeat_interval}`);
    }
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

  it('lists CVE, versions, images and workloads of new findings in Slack and PagerDuty', async () => {
    // The annotations as the rules render them (alert-rules/tests/new-findings.test.yaml checks those).
    const finding = (id: string, pkg: string, versions: string, images: string, workloads: string) => ({
      status: 'firing',
      labels: {
        alertname: 'TrivyNewCriticalVulnerability',
        severity: 'critical',
        vulnerability_severity: 'Critical',
        namespace: 'shop',
        image_registry: 'ghcr.io',
        image_repository: 'acme/web',
        image: 'ghcr.io/acme/web',
        vulnerability_id: id,
        package: pkg,
      },
      annotations: {
        summary: `New Critical vulnerability ${id} in ${pkg} (shop)`,
        description: `${id} (Critical) in package ${pkg} of image ghcr.io/acme/web was first seen in namespace shop at 2026-01-01 00:00:00 +0000 UTC.`,
        versions,
        images,
        workloads,
        runbook_url:
          'https://github.com/trivy-lookout/trivy-lookout/blob/main/docs/runbooks/TrivyNewCriticalVulnerability.md',
      },
      startsAt: '2026-01-01T00:00:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: '',
      fingerprint: id,
    });
    const data = {
      receiver: 'slack-shop-new-findings',
      status: 'firing',
      alerts: [
        finding(
          'CVE-2021-44228',
          'org.apache.logging.log4j:log4j-core',
          '2.14.1 → 2.15.0',
          'ghcr.io/acme/web:1.0, ghcr.io/acme/web:1.1',
          'CronJob/report (report), ReplicaSet/web-6d4cf56db6 (app)',
        ),
        finding(
          'GHSA-abcd-1234-wxyz',
          'requests',
          '2.31.0 → no fix yet',
          'ghcr.io/acme/web:1.1',
          'ReplicaSet/api-5c9 (api)',
        ),
      ],
      groupLabels: { namespace: 'shop', alertname: 'TrivyNewCriticalVulnerability' },
      commonLabels: {
        alertname: 'TrivyNewCriticalVulnerability',
        severity: 'critical',
        vulnerability_severity: 'Critical',
        namespace: 'shop',
        image_registry: 'ghcr.io',
        image_repository: 'acme/web',
        image: 'ghcr.io/acme/web',
      },
      commonAnnotations: {},
      externalURL: 'http://alertmanager.example',
    };
    const dir = mkdtempSync(path.join(os.tmpdir(), 'trivy-lookout-am-'));
    try {
      const dataFile = path.join(dir, 'new-findings.json');
      writeFileSync(dataFile, JSON.stringify(data));
      const { code, out } = await tool(
        'amtool',
        [
          'template',
          'render',
          '--template.glob=trivy-lookout.tmpl',
          `--template.data=${dataFile}`,
          '--template.text={{ template "trivy_lookout.slack.title" . }}\n{{ template "trivy_lookout.slack.text" . }}\n--- pagerduty\n{{ template "trivy_lookout.pagerduty.description" . }}',
        ],
        alertmanagerDir,
      );
      assert.equal(code, 0, out);
      const [slack = '', pagerduty = ''] = out.split('--- pagerduty\n');
      assert.match(slack, /\[FIRING:2\] TrivyNewCriticalVulnerability in namespace shop/);
      assert.match(
        slack,
        /Vulnerability: <https:\/\/avd\.aquasec\.com\/nvd\/cve-2021-44228\|CVE-2021-44228> \(Critical\)/,
      );
      assert.match(slack, /Package: `org\.apache\.logging\.log4j:log4j-core` 2\.14\.1 → 2\.15\.0/);
      assert.match(slack, /Image: `ghcr\.io\/acme\/web:1\.0, ghcr\.io\/acme\/web:1\.1`/);
      assert.match(slack, /Workloads: CronJob\/report \(report\), ReplicaSet\/web-6d4cf56db6 \(app\)/);
      // Only CVE ids have an AVD page.
      assert.match(slack, /Vulnerability: GHSA-abcd-1234-wxyz \(Critical\)/);
      assert.match(slack, /Package: `requests` 2\.31\.0 → no fix yet/);
      assert.match(
        pagerduty,
        /^TrivyNewCriticalVulnerability in shop: CVE-2021-44228 Critical \(https:\/\/avd\.aquasec\.com\/nvd\/cve-2021-44228\): org\.apache\.logging\.log4j:log4j-core 2\.14\.1 → 2\.15\.0; image ghcr\.io\/acme\/web:1\.0, ghcr\.io\/acme\/web:1\.1; workloads CronJob\/report \(report\), ReplicaSet\/web-6d4cf56db6 \(app\) \| GHSA-abcd-1234-wxyz Critical: requests 2\.31\.0 → no fix yet; image ghcr\.io\/acme\/web:1\.1; workloads ReplicaSet\/api-5c9 \(api\)/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
