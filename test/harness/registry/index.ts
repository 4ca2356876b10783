export {
  REGISTRY_FLAVOURS,
  startRegistry,
  type Registry,
  type RegistryFlavour,
  type RegistryOptions,
} from './registry.ts';
export {
  deleteManifest,
  manifestDigest,
  parseReference,
  pushLayout,
  type RegistryEndpoint,
} from './client.ts';
