export { TargetNamespaces } from './target-namespaces.ts';
