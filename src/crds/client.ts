/**
 * Bridge to `@kubernetes/client-node`'s typed model.
 *
 * The client's model classes rename some schema keys (`enum` → `_enum`,
 * `x-kubernetes-preserve-unknown-fields` → `x_kubernetes_preserve_unknown_fields`) and its serializer drops
 * keys it does not know. Passing a wire-format CRD straight to `ApiextensionsV1Api` or
 * `KubernetesObjectApi` therefore silently loses enums and preserve-unknown-fields on every schema node it
 * maps. `toClientCrd` converts through the client's own deserializer, so the request it later serializes
 * is exactly the wire-format object again.
 */
import { loadYaml } from '@kubernetes/client-node';
import type { V1CustomResourceDefinition } from '@kubernetes/client-node';
import type { CustomResourceDefinitionManifest } from './schema.ts';

export function toClientCrd(crd: CustomResourceDefinitionManifest): V1CustomResourceDefinition {
  // JSON is YAML; loadYaml picks the model class from apiVersion/kind and maps the wire keys.
  return loadYaml<V1CustomResourceDefinition>(JSON.stringify(crd));
}
