/**
 * Regenerates fixtures/spec-hash-cases.json: the objects of fixtures/spec-hash-objects.yaml as the
 * API server serves them (server-side dry run on the cluster of TL_TEST_CLUSTER_DIR; the
 * ConfigMap and a Service also through `kubectl apply`, which adds the last-applied annotation
 * Trivy-Operator's cache drops), plus the cluster's own ClusterRoles, `kubernetes` Service and
 * Node, each with the hash scripts/spec-hash computes in Go.
 *
 *   TL_TEST_CLUSTER_DIR=.run/dev-cluster node --import tsx test/unit/configaudit/make-spec-hash-cases.ts
 */
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { toolPath } from '../../harness/tools.ts';
import { goSpecHashes, specHashTool } from './spec-hash-tool.ts';

const here = path.dirname(new URL(import.meta.url).pathname);
const kubeconfig = path.join(process.env.TL_TEST_CLUSTER_DIR ?? '.run/dev-cluster', 'kubeconfig');
const kubectl = (args: string[], input?: string): string =>
  execFileSync(toolPath('kubectl'), ['--kubeconfig', kubeconfig, ...args], { input }).toString();

const objects: Record<string, unknown>[] = [];
for (const doc of yaml.loadAll(readFileSync(path.join(here, 'fixtures', 'spec-hash-objects.yaml'), 'utf8'))) {
  const text = JSON.stringify(doc);
  objects.push(JSON.parse(kubectl(['create', '--dry-run=server', '-o', 'json', '-f', '-'], text)));
  const kind = (doc as { kind: string }).kind;
  if (kind === 'ConfigMap' || kind === 'Service')
    objects.push(JSON.parse(kubectl(['apply', '--dry-run=server', '-o', 'json', '-f', '-'], text)));
}
const live = (args: string[]) =>
  (
    JSON.parse(kubectl(['get', ...args, '-o', 'json', '--show-managed-fields'])) as {
      items: Record<string, unknown>[];
    }
  ).items;
objects.push(
  ...live(['clusterroles']).slice(0, 4),
  ...live(['services', '-n', 'default']),
  ...live(['nodes']),
);

const binary = specHashTool();
if (!binary) throw new Error('Go is needed to compute the expected hashes');
const hashes = goSpecHashes(binary, objects);
const cases = objects.map((object, index) => ({ hash: hashes[index], object }));
writeFileSync(
  path.join(here, 'fixtures', 'spec-hash-cases.json'),
  `${JSON.stringify({ source: 'make-spec-hash-cases.ts: scripts/spec-hash (k8s.io/api v0.36.2, as Trivy-Operator v0.32.0)', cases }, null, 1)}\n`,
);
console.log(`${cases.length} cases`);
