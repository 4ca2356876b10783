/**
 * Wire-format (JSON/YAML) shapes of a CustomResourceDefinition and its OpenAPI v3 schema, plus small
 * builders for schema nodes.
 *
 * These are the exact keys the API server reads (`enum`, `x-kubernetes-preserve-unknown-fields`), unlike
 * `@kubernetes/client-node`'s model classes, which rename some of them (`_enum`,
 * `x_kubernetes_preserve_unknown_fields`). Use {@link toClientCrd} from `./client.ts` before handing a CRD
 * to the client's typed APIs.
 */

export type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';

/** The subset of a structural OpenAPI v3 schema the report CRDs use. */
export interface JsonSchema {
  type?: SchemaType;
  description?: string;
  format?: string;
  pattern?: string;
  enum?: string[];
  minimum?: number;
  properties?: Record<string, JsonSchema>;
  required?: string[];
  items?: JsonSchema;
  additionalProperties?: JsonSchema;
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

export type PrinterColumnType = 'string' | 'integer' | 'number' | 'boolean' | 'date';

export interface PrinterColumn {
  name: string;
  type: PrinterColumnType;
  jsonPath: string;
  description?: string;
  priority?: number;
}

export interface CrdNames {
  kind: string;
  listKind: string;
  plural: string;
  singular: string;
  shortNames: string[];
}

export interface CrdVersion {
  name: string;
  served: boolean;
  storage: boolean;
  schema: { openAPIV3Schema: JsonSchema };
  subresources: { status?: Record<string, never> };
  additionalPrinterColumns: PrinterColumn[];
}

/** A CustomResourceDefinition exactly as it is written to YAML or sent over the wire. */
export interface CustomResourceDefinitionManifest {
  apiVersion: 'apiextensions.k8s.io/v1';
  kind: 'CustomResourceDefinition';
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: {
    group: string;
    names: CrdNames;
    scope: 'Namespaced' | 'Cluster';
    versions: CrdVersion[];
  };
}

// ---------------------------------------------------------------------------------------------------------
// Builders. Every call returns a fresh object; `undefined` options never show up as keys.
// ---------------------------------------------------------------------------------------------------------

type Annotations = Pick<JsonSchema, 'description' | 'format' | 'pattern' | 'enum' | 'minimum'>;

function node(type: SchemaType, description: string | undefined, extra: Annotations = {}): JsonSchema {
  const all: JsonSchema = { type, description, ...extra };
  return Object.fromEntries(Object.entries(all).filter(([, value]) => value !== undefined)) as JsonSchema;
}

export const str = (description?: string, extra?: Annotations): JsonSchema =>
  node('string', description, extra);
export const int = (description?: string, extra?: Annotations): JsonSchema =>
  node('integer', description, extra);
export const num = (description?: string): JsonSchema => node('number', description);
export const bool = (description?: string): JsonSchema => node('boolean', description);

/** An RFC 3339 timestamp string. */
export const dateTime = (description?: string): JsonSchema => str(description, { format: 'date-time' });

/** A string restricted to the given values. */
export const oneOf = (values: readonly string[], description?: string): JsonSchema =>
  str(description, { enum: [...values] });

export function list(items: JsonSchema, description?: string): JsonSchema {
  return { ...node('array', description), items };
}

export const strList = (description?: string): JsonSchema => list(str(), description);

/** A map from arbitrary keys to values of one schema. */
export function map(values: JsonSchema, description?: string): JsonSchema {
  return { ...node('object', description), additionalProperties: values };
}

export interface ObjectOptions {
  description?: string;
  /** Names of required properties; written sorted. */
  required?: readonly string[];
  /** Keep fields the schema does not list instead of pruning them. */
  preserveUnknownFields?: boolean;
}

export function obj(properties: Record<string, JsonSchema>, options: ObjectOptions = {}): JsonSchema {
  const out: JsonSchema = { ...node('object', options.description), properties };
  if (options.required && options.required.length > 0) out.required = [...options.required].sort();
  if (options.preserveUnknownFields) out['x-kubernetes-preserve-unknown-fields'] = true;
  return out;
}
