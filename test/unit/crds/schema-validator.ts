/**
 * A tiny validator for the subset of OpenAPI v3 the report CRDs use, for unit tests only (the real check
 * is the API server in the integration tests). It mirrors what the API server does to a custom object:
 * type, required, enum, minimum, pattern and date-time format errors, plus the fields pruning would drop
 * silently (reported here as errors so sample objects stay faithful).
 */
import type { CustomResourceDefinitionManifest, JsonSchema } from '../../../src/crds/index.ts';

export interface ValidationError {
  path: string;
  message: string;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const LABEL_VALUE = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function typeMatches(value: unknown, type: JsonSchema['type']): boolean {
  switch (type) {
    case 'object':
      return isPlainObject(value);
    case 'array':
      return Array.isArray(value);
    case 'string':
      return typeof value === 'string';
    case 'integer':
      return typeof value === 'number' && Number.isInteger(value);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
    case 'boolean':
      return typeof value === 'boolean';
    case undefined:
      return true;
  }
}

const describe = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : `${typeof value} ${JSON.stringify(value)}`;

const join = (path: string, key: string | number): string =>
  typeof key === 'number' ? `${path}[${key}]` : path === '' ? key : `${path}.${key}`;

/** Validates `value` against `schema`; an empty result means valid. */
export function validate(value: unknown, schema: JsonSchema, path = ''): ValidationError[] {
  const errors: ValidationError[] = [];
  const fail = (message: string, at = path): void => {
    errors.push({ path: at === '' ? '<root>' : at, message });
  };

  if (!typeMatches(value, schema.type)) {
    fail(`expected ${schema.type}, got ${describe(value)}`);
    return errors;
  }
  if (schema.enum && !schema.enum.includes(value as string)) {
    fail(`${JSON.stringify(value)} is not one of ${schema.enum.join(', ')}`);
  }
  if (schema.minimum !== undefined && typeof value === 'number' && value < schema.minimum) {
    fail(`${value} is less than the minimum ${schema.minimum}`);
  }
  if (typeof value === 'string') {
    if (schema.pattern !== undefined && !new RegExp(schema.pattern).test(value)) {
      fail(`${JSON.stringify(value)} does not match the pattern`);
    }
    if (schema.format === 'date-time' && !RFC3339.test(value))
      fail(`${JSON.stringify(value)} is not RFC 3339`);
  }
  if (Array.isArray(value) && schema.items) {
    value.forEach((item, index) =>
      errors.push(...validate(item, schema.items as JsonSchema, join(path, index))),
    );
  }
  if (isPlainObject(value)) {
    for (const key of schema.required ?? []) {
      if (!(key in value)) fail(`missing required field ${JSON.stringify(key)}`);
    }
    for (const [key, child] of Object.entries(value)) {
      const childSchema = schema.properties?.[key] ?? schema.additionalProperties;
      if (childSchema) errors.push(...validate(child, childSchema, join(path, key)));
      else if (!schema['x-kubernetes-preserve-unknown-fields']) {
        fail('unknown field, the API server would prune it', join(path, key));
      }
    }
  }
  return errors;
}

function validateMetadata(metadata: unknown, namespaced: boolean): ValidationError[] {
  const errors: ValidationError[] = [];
  const fail = (path: string, message: string): void => {
    errors.push({ path: `metadata${path}`, message });
  };
  if (!isPlainObject(metadata)) return [{ path: 'metadata', message: 'missing metadata' }];
  const name = metadata.name;
  if (typeof name !== 'string' || name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    fail('.name', `invalid object name ${JSON.stringify(name)}`);
  }
  if (!namespaced && metadata.namespace !== undefined) fail('.namespace', 'cluster-scoped objects have none');
  for (const [field, valuePattern] of [
    ['labels', LABEL_VALUE],
    ['annotations', undefined],
  ] as const) {
    const entries = metadata[field];
    if (entries === undefined) continue;
    if (!isPlainObject(entries)) {
      fail(`.${field}`, 'expected a map');
      continue;
    }
    for (const [key, value] of Object.entries(entries)) {
      const [prefix, keyName] = key.includes('/') ? key.split('/', 2) : [undefined, key];
      const keyOk =
        keyName !== undefined &&
        keyName.length <= 63 &&
        LABEL_NAME.test(keyName) &&
        (prefix === undefined || (prefix.length <= 253 && DNS_SUBDOMAIN.test(prefix)));
      if (!keyOk) fail(`.${field}[${key}]`, 'invalid key');
      if (typeof value !== 'string') fail(`.${field}[${key}]`, 'value must be a string');
      else if (valuePattern && (value.length > 63 || !valuePattern.test(value))) {
        fail(`.${field}[${key}]`, `invalid label value ${JSON.stringify(value)}`);
      }
    }
  }
  return errors;
}

/** Validates a whole custom object against its CRD: apiVersion/kind, metadata basics, then the schema. */
export function validateResource(object: unknown, crd: CustomResourceDefinitionManifest): ValidationError[] {
  if (!isPlainObject(object)) return [{ path: '<root>', message: 'not an object' }];
  const version = crd.spec.versions[0];
  if (!version) throw new Error(`CRD ${crd.metadata.name} has no version`);
  const errors: ValidationError[] = [];
  const apiVersion = `${crd.spec.group}/${version.name}`;
  if (object.apiVersion !== apiVersion)
    errors.push({ path: 'apiVersion', message: `expected ${apiVersion}` });
  if (object.kind !== crd.spec.names.kind)
    errors.push({ path: 'kind', message: `expected ${crd.spec.names.kind}` });
  errors.push(...validateMetadata(object.metadata, crd.spec.scope === 'Namespaced'));
  const { metadata: _metadata, ...rest } = object;
  errors.push(...validate(rest, version.schema.openAPIV3Schema));
  return errors;
}
