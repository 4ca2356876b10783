/**
 * Public surface of the report CRDs: their definitions as objects, their YAML rendering, and the
 * TypeScript types, names, labels and annotations of the report objects.
 */
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import { toClientCrd } from './client.ts';
import { buildReportCrds } from './definitions.ts';
import type { CustomResourceDefinitionManifest } from './schema.ts';
import type { ReportKindName } from './types.ts';

export * from './types.ts';
export type {
  CrdNames,
  CrdVersion,
  CustomResourceDefinitionManifest,
  JsonSchema,
  PrinterColumn,
  PrinterColumnType,
  SchemaType,
} from './schema.ts';
export { CRD_OUTPUT_DIR, GENERATED_HEADER, crdFileName, renderCrdYaml } from './render.ts';
export { toClientCrd } from './client.ts';
export { CRON_PATTERN } from './schema-parts.ts';
export {
  adoptionPlan,
  applyRequest,
  REPORT_FIELD_MANAGER,
  ReportClient,
  reportClient,
  type FieldSet,
  type Fitted,
  type ManagedFieldsEntry,
  type ReportBody,
  type ReportClientOptions,
  type ReportRequest,
  type WriteOptions,
  type Written,
} from './report-client.ts';

type DeepReadonly<T> = T extends (infer U)[]
  ? readonly DeepReadonly<U>[]
  : T extends object
    ? { readonly [K in keyof T]: DeepReadonly<T[K]> }
    : T;

function deepFreeze<T>(value: T): DeepReadonly<T> {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value as DeepReadonly<T>;
}

/**
 * The twelve report CRDs in wire format (the same content as the YAML files), frozen. Use
 * {@link rawCrdManifests} for copies you may change, or {@link crdManifests} for client-node's typed APIs.
 */
export const reportCrds: readonly DeepReadonly<CustomResourceDefinitionManifest>[] =
  deepFreeze(buildReportCrds());

/**
 * The report CRDs as fresh client-node model objects, ready for `ApiextensionsV1Api` or
 * `KubernetesObjectApi` (create, replace, server-side apply). Not for `JSON.stringify`/YAML: the model
 * renames keys (`_enum`, `x_kubernetes_preserve_unknown_fields`); use {@link rawCrdManifests} for that.
 */
export function crdManifests(): V1CustomResourceDefinition[] {
  return buildReportCrds().map(toClientCrd);
}

/**
 * Fresh, mutable copies of the report CRDs in wire format: for `kubectl apply`, a raw HTTP request or YAML.
 * Do not pass them to client-node's typed APIs (its serializer would drop `enum` and
 * `x-kubernetes-preserve-unknown-fields`); use {@link crdManifests} there.
 */
export function rawCrdManifests(): CustomResourceDefinitionManifest[] {
  return buildReportCrds();
}

/** The CRD of one report kind, wire format (fresh copy). */
export function rawCrdManifestFor(kind: ReportKindName): CustomResourceDefinitionManifest {
  const crd = buildReportCrds().find((candidate) => candidate.spec.names.kind === kind);
  if (!crd) throw new Error(`no CRD defined for kind ${kind}`);
  return crd;
}
