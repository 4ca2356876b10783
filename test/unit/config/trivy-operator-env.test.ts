/**
 * Trivy-Operator's operator variables (fixture: the env tags of its pkg/operator/etc/config.go,
 * v0.32.0): each one is either read (under its name or as an alias) or reported at start-up as
 * having no effect, never both; its `_INFO_ENABLED` spellings of the detail-metric switches work.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ignoredTrivyOperatorVariables, loadConfig, SETTINGS } from '../../../src/config/index.ts';

const names = readFileSync(
  fileURLToPath(new URL('../../fixtures/trivy-operator/operator-env-v0.32.0.txt', import.meta.url)),
  'utf8',
)
  .split('\n')
  .filter((line) => line !== '' && !line.startsWith('#'));

describe("Trivy-Operator's operator variables", () => {
  const read = new Set(Object.values(SETTINGS).flatMap((s) => [s.env, ...(s.envAliases ?? [])]));
  const all = Object.fromEntries(names.map((n) => [n, 'x']));
  const reported = new Set(ignoredTrivyOperatorVariables(all).map((v) => v.name));

  it('are each read or reported as having no effect, never both', () => {
    assert.equal(names.length, 52);
    assert.deepEqual(
      names.filter((n) => !read.has(n) && !reported.has(n)),
      [],
      'neither read nor reported',
    );
    assert.deepEqual(
      names.filter((n) => read.has(n) && reported.has(n)),
      [],
      'read and reported',
    );
  });

  it('report only what is set, each with a reason', () => {
    assert.deepEqual(ignoredTrivyOperatorVariables({ OPERATOR_TARGET_NAMESPACES: 'a' }), []);
    const [only, ...rest] = ignoredTrivyOperatorVariables({ OPERATOR_BUILT_IN_TRIVY_SERVER: 'true' });
    assert.equal(rest.length, 0);
    assert.equal(only?.name, 'OPERATOR_BUILT_IN_TRIVY_SERVER');
    assert.match(only?.reason ?? '', /no built-in Trivy server/);
  });

  it('take the _INFO_ENABLED spelling of the detail-metric switches; our own name wins when both are set', () => {
    const base = { OPERATOR_NAMESPACE: 'trivy-system' };
    assert.equal(
      loadConfig({ ...base, OPERATOR_METRICS_IMAGE_INFO_ENABLED: 'true' }).metrics.imageInfo,
      true,
    );
    assert.equal(
      loadConfig({
        ...base,
        OPERATOR_METRICS_IMAGE_INFO: 'false',
        OPERATOR_METRICS_IMAGE_INFO_ENABLED: 'true',
      }).metrics.imageInfo,
      false,
    );
    assert.throws(
      () => loadConfig({ ...base, OPERATOR_METRICS_CONFIG_AUDIT_INFO_ENABLED: 'maybe' }),
      /OPERATOR_METRICS_CONFIG_AUDIT_INFO.*from OPERATOR_METRICS_CONFIG_AUDIT_INFO_ENABLED/,
    );
  });
});
