/**
 * The schemas must be structural (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
 * custom-resource-definitions/#specifying-a-structural-schema) and otherwise acceptable to the API server;
 * these checks catch mistakes before an integration test does.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { rawCrdManifests } from '../../../src/crds/index.ts';
import type { JsonSchema } from '../../../src/crds/index.ts';

const ALLOWED_KEYS = new Set([
  'type',
  'description',
  'format',
  'pattern',
  'enum',
  'minimum',
  'properties',
  'required',
  'items',
  'additionalProperties',
  'x-kubernetes-preserve-unknown-fields',
]);
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

interface Node {
  path: string;
  schema: JsonSchema;
}

/** Every schema node with its path, depth first. */
function nodes(schema: JsonSchema, path = '<root>'): Node[] {
  const out: Node[] = [{ path, schema }];
  for (const [key, child] of Object.entries(schema.properties ?? {}))
    out.push(...nodes(child, `${path}.${key}`));
  if (schema.items) out.push(...nodes(schema.items, `${path}[]`));
  if (schema.additionalProperties) out.push(...nodes(schema.additionalProperties, `${path}{}`));
  return out;
}

/** Problems with one node; empty when fine. */
function nodeProblems({ schema }: Node): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(schema))
    if (!ALLOWED_KEYS.has(key)) problems.push(`unexpected keyword ${key}`);
  const preserve = schema['x-kubernetes-preserve-unknown-fields'];
  if (preserve !== undefined && preserve !== true)
    problems.push('preserve-unknown-fields must be true when set');
  if (schema.type === undefined) {
    if (!preserve) problems.push('no type (only allowed with x-kubernetes-preserve-unknown-fields)');
  } else if (!TYPES.has(schema.type)) problems.push(`unknown type ${schema.type}`);
  if (schema.properties && schema.additionalProperties)
    problems.push('both properties and additionalProperties');
  if ((schema.properties || schema.additionalProperties || schema.required) && schema.type !== 'object') {
    problems.push('object keywords on a non-object');
  }
  if (schema.type === 'array' && !schema.items) problems.push('array without items');
  if (schema.items && schema.type !== 'array') problems.push('items on a non-array');
  if (schema.required) {
    const names = Object.keys(schema.properties ?? {});
    for (const name of schema.required)
      if (!names.includes(name)) problems.push(`required ${name} is not a property`);
    if (new Set(schema.required).size !== schema.required.length) problems.push('duplicate required entries');
    if (schema.required.join() !== [...schema.required].sort().join())
      problems.push('required list not sorted');
  }
  if (schema.enum) {
    if (schema.type !== 'string' || schema.enum.length === 0)
      problems.push('enum must be a non-empty string list');
    if (new Set(schema.enum).size !== schema.enum.length) problems.push('duplicate enum values');
  }
  if (schema.minimum !== undefined && schema.type !== 'integer' && schema.type !== 'number') {
    problems.push('minimum on a non-number');
  }
  if (schema.format !== undefined && (schema.type !== 'string' || schema.format !== 'date-time')) {
    problems.push(`unexpected format ${schema.format}`);
  }
  if (schema.pattern !== undefined) {
    if (schema.type !== 'string') problems.push('pattern on a non-string');
    try {
      new RegExp(schema.pattern);
    } catch {
      problems.push('pattern does not compile');
    }
  }
  if (
    schema.description !== undefined &&
    (schema.description.trim() === '' || schema.description.length > 200)
  ) {
    problems.push('description must be short and non-empty');
  }
  return problems;
}

/** The schema node a printer column's JSONPath points at (only simple `.a.b.c` paths are used). */
function resolve(schema: JsonSchema, jsonPath: string): JsonSchema | undefined {
  let current: JsonSchema | undefined = schema;
  for (const segment of jsonPath.split('.').slice(1)) current = current?.properties?.[segment];
  return current;
}

describe('report CRD schemas', () => {
  const crds = rawCrdManifests();

  for (const crd of crds) {
    const kind = crd.spec.names.kind;
    const version = crd.spec.versions[0];
    assert.ok(version);
    const schema = version.schema.openAPIV3Schema;

    describe(kind, () => {
      it('is structural: every node typed, no conflicting or unsupported keywords', () => {
        const problems = nodes(schema).flatMap((node) => nodeProblems(node).map((p) => `${node.path}: ${p}`));
        assert.deepEqual(problems, []);
      });

      it('has an object root with apiVersion, kind and an unrestricted metadata', () => {
        assert.equal(schema.type, 'object');
        assert.equal(schema.properties?.apiVersion?.type, 'string');
        assert.equal(schema.properties?.kind?.type, 'string');
        // Structural schemas may only restrict metadata.name/generateName; ours does not touch it at all.
        assert.deepEqual(schema.properties?.metadata, { type: 'object' });
      });

      it('has printer columns that point at fields of the right type', () => {
        for (const column of version.additionalPrinterColumns) {
          assert.ok(['string', 'integer', 'number', 'boolean', 'date'].includes(column.type), column.name);
          assert.ok(column.priority === undefined || column.priority === 1, column.name);
          if (column.jsonPath === '.metadata.creationTimestamp') {
            assert.equal(column.type, 'date');
            continue;
          }
          const target = resolve(schema, column.jsonPath);
          assert.ok(target, `${column.name}: ${column.jsonPath} is not in the schema`);
          assert.equal(target.type, column.type, `${column.name}: column type vs field type`);
        }
        const names = version.additionalPrinterColumns.map((column) => column.name);
        assert.equal(new Set(names).size, names.length, 'column names are unique');
      });

      it('has valid resource names', () => {
        const { plural, singular, shortNames, listKind } = crd.spec.names;
        for (const name of [plural, singular, ...shortNames]) assert.match(name, DNS_LABEL);
        assert.equal(listKind, `${kind}List`);
        assert.equal(crd.metadata.name, `${plural}.${crd.spec.group}`);
      });
    });
  }

  it('uses every plural, singular and short name in one CRD only', () => {
    // Within one CRD a repeat is fine: ClusterRbacAssessmentReport's short name is its singular.
    const all = crds.flatMap(
      (crd) => new Set([crd.spec.names.plural, crd.spec.names.singular, ...crd.spec.names.shortNames]),
    );
    const names = all.flatMap((set) => [...set]);
    assert.equal(new Set(names).size, names.length);
  });

  it('never shares a schema object between two places (no aliasing in the generated data)', () => {
    const seen = new Set<JsonSchema>();
    for (const crd of crds) {
      for (const { schema } of nodes(crd.spec.versions[0]?.schema.openAPIV3Schema ?? {})) {
        assert.ok(!seen.has(schema));
        seen.add(schema);
      }
    }
  });
});
