/**
 * Security reports built from scan results, as pure functions of data: Trivy's JSON is read strictly,
 * mapped to the report CRDs' `.report` field as Trivy-Operator maps it, and fitted into etcd's limit.
 */
export * from './common/index.ts';
export * from './vulnerability/index.ts';
export * from './exposedsecret/index.ts';
export * from './sbom/index.ts';
