import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadConfig, redactConfig, SETTINGS } from '../../../src/config/index.ts';
import type { SettingSpec } from '../../../src/config/index.ts';
import { renderSettingsTable } from '../../../src/config/docs.ts';

const specs: SettingSpec<unknown>[] = Object.values(SETTINGS);
const noFiles = (): string => {
  throw new Error('ENOENT');
};

/**
 * Env names Trivy-Operator defines; every other setting must be OPERATOR_ + SCREAMING_SNAKE(key),
 * where an `operator.` section is not repeated (operator.logLevel → OPERATOR_LOG_LEVEL).
 */
const TRIVY_OPERATOR_ENV = new Set([
  'OPERATOR_NAMESPACE',
  'OPERATOR_TARGET_NAMESPACES',
  'OPERATOR_EXCLUDE_NAMESPACES',
  'OPERATOR_TARGET_WORKLOADS',
  'OPERATOR_SCAN_JOB_TIMEOUT',
  'OPERATOR_CONCURRENT_SCAN_JOBS_LIMIT',
  'OPERATOR_SCAN_JOB_RETRY_AFTER',
  'OPERATOR_SCANNER_REPORT_TTL',
  'OPERATOR_METRICS_BIND_ADDRESS',
  'OPERATOR_METRICS_FINDINGS_ENABLED',
  'OPERATOR_METRICS_VULN_ID_ENABLED',
  'OPERATOR_ACCESS_GLOBAL_SECRETS_SERVICE_ACCOUNTS',
  'OPERATOR_PRIVATE_REGISTRY_SCAN_SECRETS_NAMES',
  'OPERATOR_WEBHOOK_BROADCAST_URL',
  'OPERATOR_WEBHOOK_BROADCAST_TIMEOUT',
  'OPERATOR_WEBHOOK_BROADCAST_CUSTOM_HEADERS',
  'OPERATOR_SEND_DELETED_REPORTS',
  'OPERATOR_LEADER_ELECTION_ENABLED',
  'OPERATOR_LEADER_ELECTION_ID',
  'OPERATOR_CONCURRENT_NODE_COLLECTOR_LIMIT',
]);

describe('settings table', () => {
  it('names every env var OPERATOR_*, never a bare TRIVY_* that would leak into Trivy', () => {
    for (const spec of specs) assert.match(spec.env, /^OPERATOR_[A-Z0-9_]+$/, spec.key);
  });

  it('derives env names from the YAML key unless Trivy-Operator has its own', () => {
    for (const spec of specs.filter((s) => !TRIVY_OPERATOR_ENV.has(s.env))) {
      const snake = spec.key
        .replace(/^operator\./, '')
        .replace(/URL/g, 'Url')
        .replace(/DB/g, 'Db')
        .replace(/([a-z0-9])([A-Z])/g, '$1_$2')
        .replace(/\./g, '_')
        .toUpperCase();
      assert.equal(spec.env, `OPERATOR_${snake}`, spec.key);
    }
  });

  it('has unique keys and env names', () => {
    assert.equal(new Set(specs.map((s) => s.key)).size, specs.length);
    assert.equal(new Set(specs.map((s) => s.env)).size, specs.length);
  });

  it('has defaults that pass their own validation', () => {
    for (const spec of specs) {
      if (spec.default === '' && spec.blankIsValue !== true)
        assert.fail(`${spec.key}: blank default would be ignored`);
      assert.equal(spec.parse(spec.default).ok, true, `${spec.key}: default ${JSON.stringify(spec.default)}`);
    }
  });
});

describe('the settings table in docs/configuration.md', () => {
  // The rows of the settings table: the lines after its header, up to the first non-table line.
  const rows = (markdown: string) => {
    const lines = markdown.split('\n');
    const start = lines.findIndex((line) => /^\|\s*YAML key\s*\|/.test(line));
    const end = lines.findIndex((line, i) => i > start && !line.startsWith('|'));
    return lines.slice(start + 2, end < 0 ? undefined : end).map((line) =>
      line
        .slice(1, -1)
        .split(/(?<!\\)\|/)
        .map((cell) => cell.trim()),
    );
  };

  for (const file of ['docs/configuration.md']) {
    it(`${file} lists every setting exactly as the table renders it`, () => {
      const path = fileURLToPath(new URL(`../../../${file}`, import.meta.url));
      assert.deepEqual(rows(readFileSync(path, 'utf8')), rows(renderSettingsTable()));
    });
  }
});

describe('redactConfig', () => {
  it('masks tokens, header values and the webhook path, and keeps everything else', () => {
    const config = loadConfig(
      {
        OPERATOR_TRIVY_MODE: 'ClientServer',
        OPERATOR_TRIVY_SERVER_URL: 'http://trivy:4954',
        OPERATOR_TRIVY_SERVER_TOKEN: 's3cret',
        OPERATOR_TRIVY_SERVER_CUSTOM_HEADERS: 'X-Api-Key:k3y',
        OPERATOR_WEBHOOK_BROADCAST_URL: 'https://hooks.slack.com/services/T0/B0/xyz',
        OPERATOR_WEBHOOK_BROADCAST_CUSTOM_HEADERS: 'Authorization:Bearer t0k',
      },
      noFiles,
    );
    const redacted = redactConfig(config);
    const text = JSON.stringify(redacted);
    for (const secret of ['s3cret', 'k3y', 'xyz', 't0k']) assert.ok(!text.includes(secret), secret);
    assert.equal(redacted.trivy.serverToken, '(hidden)');
    assert.deepEqual(redacted.trivy.serverCustomHeaders, { 'X-Api-Key': '(hidden)' });
    assert.equal(redacted.operator.webhookBroadcastURL, 'https://hooks.slack.com/(hidden)');
    assert.equal(redacted.trivy.serverURL, 'http://trivy:4954');
    assert.equal(redacted.operator.scanJobTimeoutMs, config.operator.scanJobTimeoutMs);
  });

  it('hides the value of every setting the table marks secret, so a new one cannot be forgotten', () => {
    // In: each secret setting set to a value of its own shape. Out: none appears in the log copy.
    const values: Record<string, string> = {
      OPERATOR_TRIVY_MODE: 'ClientServer',
      OPERATOR_TRIVY_SERVER_URL: 'http://trivy:4954',
      OPERATOR_TRIVY_CONFIG_FILE: 'registry:\n  password: cfgsecret\n',
    };
    const secrets = Object.values(SETTINGS).filter((spec) => spec.secret === true);
    for (const [i, spec] of secrets.entries()) {
      const token = `tok${i}x`;
      values[spec.env] = /HEADERS/.test(spec.env)
        ? `X-Key:${token}`
        : /URL|PROXY/.test(spec.env)
          ? `https://user:${token}@example.com/${token}`
          : token;
    }
    const text = JSON.stringify(redactConfig(loadConfig(values, noFiles)));
    for (const [i, spec] of secrets.entries()) assert.ok(!text.includes(`tok${i}x`), spec.key);
    assert.ok(!text.includes('cfgsecret'), 'trivy.configFile');
  });
});
