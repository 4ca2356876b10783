/** The test validator itself must catch what the API server would reject or prune. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rawCrdManifestFor } from '../../../src/crds/index.ts';
import type { JsonSchema } from '../../../src/crds/index.ts';
import { validate, validateResource } from './schema-validator.ts';

const schema: JsonSchema = {
  type: 'object',
  required: ['count', 'level'],
  properties: {
    count: { type: 'integer', minimum: 0 },
    level: { type: 'string', enum: ['LOW', 'HIGH'] },
    when: { type: 'string', format: 'date-time' },
    code: { type: 'string', pattern: '^[A-Z]{3}$' },
    tags: { type: 'array', items: { type: 'string' } },
    scores: { type: 'object', additionalProperties: { type: 'number' } },
    free: {
      type: 'object',
      properties: { a: { type: 'string' } },
      'x-kubernetes-preserve-unknown-fields': true,
    },
  },
};
const messages = (value: unknown): string[] => validate(value, schema).map((e) => `${e.path}: ${e.message}`);

describe('schema validator', () => {
  it('accepts a valid value', () => {
    assert.deepEqual(
      messages({
        count: 0,
        level: 'LOW',
        when: '2025-06-02T08:15:42Z',
        code: 'ABC',
        tags: ['x'],
        scores: { nvd: 9.8 },
        free: { a: 'b', extra: 1 },
      }),
      [],
    );
  });

  it('reports type, required, enum, minimum, format, pattern and pruned fields', () => {
    assert.deepEqual(messages({ count: -1, level: 'MID' }), [
      'count: -1 is less than the minimum 0',
      'level: "MID" is not one of LOW, HIGH',
    ]);
    assert.deepEqual(messages({ count: 1.5, level: 'LOW' }), ['count: expected integer, got number 1.5']);
    assert.deepEqual(messages({ count: '1', level: 'LOW' }), ['count: expected integer, got string "1"']);
    assert.deepEqual(messages({ level: 'LOW' }), ['<root>: missing required field "count"']);
    assert.deepEqual(messages({ count: 1, level: 'LOW', when: '2025-06-02 08:15' }), [
      'when: "2025-06-02 08:15" is not RFC 3339',
    ]);
    assert.deepEqual(messages({ count: 1, level: 'LOW', code: 'abc' }), [
      'code: "abc" does not match the pattern',
    ]);
    assert.deepEqual(messages({ count: 1, level: 'LOW', other: true }), [
      'other: unknown field, the API server would prune it',
    ]);
    assert.deepEqual(messages({ count: 1, level: 'LOW', tags: [1], scores: { nvd: 'high' } }), [
      'tags[0]: expected string, got number 1',
      'scores.nvd: expected number, got string "high"',
    ]);
    assert.deepEqual(messages({ count: null, level: 'LOW' }), ['count: expected integer, got null']);
  });

  it('checks kind, apiVersion and metadata of a whole object', () => {
    const crd = rawCrdManifestFor('ClusterConfigAuditReport');
    const report = {
      updateTimestamp: '2025-06-02T08:15:42Z',
      summary: { criticalCount: 0, highCount: 0, mediumCount: 0, lowCount: 0 },
      checks: [],
    };
    const object = {
      apiVersion: 'aquasecurity.github.io/v1alpha1',
      kind: 'ClusterConfigAuditReport',
      metadata: { name: 'clusterrole-admin', labels: { 'trivy-operator.resource.kind': 'ClusterRole' } },
      report,
    };
    assert.deepEqual(validateResource(object, crd), []);
    const broken = {
      apiVersion: 'aquasecurity.github.io/v1',
      kind: 'ConfigAuditReport',
      metadata: {
        name: 'Admin_Role',
        namespace: 'default',
        labels: { 'trivy-operator.resource.name': 'a b' },
      },
      report,
    };
    assert.deepEqual(
      validateResource(broken, crd).map((e) => e.path),
      [
        'apiVersion',
        'kind',
        'metadata.name',
        'metadata.namespace',
        'metadata.labels[trivy-operator.resource.name]',
      ],
    );
  });
});
