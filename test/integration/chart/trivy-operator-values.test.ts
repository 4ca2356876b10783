/**
 * Trivy-Operator's own values file against this chart. In: deploy/helm/values.yaml of Trivy-Operator
 * v0.32.0 (test fixture), and an air-gapped values file in its current layout (trivy.image.*,
 * dbRegistry). Out: every key of that file is either read by this chart (its values or schema) or
 * listed with a reason in files/no-effect-values.yaml, never both; `helm install` prints each listed
 * key a release sets; the air-gapped file gives the scan Jobs the image and DB repositories that
 * Trivy-Operator's chart would (deploy/helm/templates/configmaps/trivy.yaml joins registry and
 * repository with "/").
 */
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import yaml from 'js-yaml';
import { loadConfig } from '../../../src/config/index.ts';
import { buildScanJob } from '../../../src/scanning/job-manifest.ts';
import { chartDir, helmOk, renderChart, renderedOperatorEnv } from '../../harness/helm.ts';
import { repoRoot } from '../../harness/tools.ts';
import { useTestCluster, type TestCluster } from '../../harness/test-cluster.ts';

const fixture = path.join(repoRoot, 'test/fixtures/trivy-operator/values-v0.32.0.yaml');
const noEffect = yaml.load(
  readFileSync(path.join(chartDir, 'files/no-effect-values.yaml'), 'utf8'),
) as Record<string, string>;

type Tree = Record<string, unknown>;
const isTree = (v: unknown): v is Tree => typeof v === 'object' && v !== null && !Array.isArray(v);
const leaves = (tree: unknown, prefix: string[] = []): string[] =>
  isTree(tree) && Object.keys(tree).length > 0
    ? Object.entries(tree).flatMap(([k, v]) => leaves(v, [...prefix, k]))
    : [prefix.join('.')];
const has = (tree: unknown, key: string): boolean => {
  let node = tree;
  for (const part of key.split('.')) {
    if (!isTree(node) || !(part in node)) return false;
    node = node[part];
  }
  return true;
};
/** The schema's properties, as a tree of the keys it describes. */
const schemaKeys = (schema: Tree): Tree =>
  Object.fromEntries(
    Object.entries((schema.properties ?? {}) as Record<string, Tree>).map(([k, v]) => [
      k,
      v.properties ? schemaKeys(v) : null,
    ]),
  );
/** A listed key covers its own subtree (`trivy.server` lists every server setting at once). */
const listedAs = (key: string) => Object.keys(noEffect).find((k) => key === k || key.startsWith(`${k}.`));

describe("Trivy-Operator v0.32.0's values file with this chart", () => {
  const toValues = yaml.load(readFileSync(fixture, 'utf8'));
  const ours = yaml.load(readFileSync(path.join(chartDir, 'values.yaml'), 'utf8'));
  const schema = schemaKeys(
    JSON.parse(readFileSync(path.join(chartDir, 'values.schema.json'), 'utf8')) as Tree,
  );
  /** A value our chart takes whole (a security context, `{}` by default) covers the keys inside it. */
  const takenWhole = (key: string): boolean => {
    const parts = key.split('.');
    return parts.some((_, i) => {
      let node: unknown = ours;
      for (const part of parts.slice(0, i + 1)) node = isTree(node) ? node[part] : undefined;
      return i < parts.length - 1 && isTree(node) && Object.keys(node).length === 0;
    });
  };
  const read = (key: string) => has(ours, key) || has(schema, key) || takenWhole(key);
  let cluster: TestCluster;
  let work: string;

  before(async () => {
    cluster = await useTestCluster();
    work = mkdtempSync(path.join(os.tmpdir(), 'tl-to-values-'));
  });
  after(async () => {
    await cluster?.release();
    rmSync(work, { recursive: true, force: true });
  });

  it('has every key read by the chart or listed as having no effect, never both', () => {
    const keys = leaves(toValues);
    assert.equal(keys.length, 231, 'the fixture is the v0.32.0 file (231 leaf keys)');
    const neither = keys.filter((k) => !read(k) && !listedAs(k));
    assert.deepEqual(neither, [], 'keys neither read nor listed');
    const both = Object.keys(noEffect).filter((k) => read(k));
    assert.deepEqual(both, [], 'listed as no effect but read by the chart');
    const stale = Object.keys(noEffect).filter(
      (k) => !keys.some((key) => key === k || key.startsWith(`${k}.`)),
    );
    assert.deepEqual(stale, [], 'listed keys that are not in the file');
  });

  it('installs with that file unchanged and says which of its values have no effect, and why', async () => {
    const notes = await helmOk(['install', '--dry-run=client', 'to-values', chartDir, '-f', fixture], {
      kubeconfigPath: cluster.kubeconfigPath,
    });
    const listed = notes.slice(notes.indexOf('These values have no effect'));
    assert.match(listed, /- trivy\.server: there is no built-in Trivy server/);
    assert.match(listed, /- policiesBundle: the checks built into the pinned Trivy are used/);
    // Its image keys name Trivy-Operator's operator image: said loudly.
    assert.match(notes, /WARNING: image\.repository is aquasec\/trivy-operator/);
    // Set to false (its default) is "not used" and not listed.
    assert.doesNotMatch(listed, /operator\.builtInTrivyServer/);
  });

  it("gives scan Jobs the Trivy image and DB repositories Trivy-Operator's chart would, from trivy.image.* and dbRegistry", async () => {
    const airGapped = {
      trivy: {
        image: { registry: 'registry.internal:5000', repository: 'mirror/aquasec/trivy', tag: '0.74.0' },
        dbRegistry: 'registry.internal:5000',
        dbRepository: 'mirror/aquasec/trivy-db',
        javaDbRegistry: 'registry.internal:5000',
        javaDbRepository: 'mirror/aquasec/trivy-java-db',
      },
    };
    const file = path.join(work, 'air-gapped.yaml');
    writeFileSync(file, yaml.dump(airGapped));
    const rendered = renderedOperatorEnv(await renderChart('to', 'trivy-system', ['-f', file]));
    const config = loadConfig({ ...rendered, OPERATOR_NAMESPACE: 'trivy-system' });
    const { job } = buildScanJob(config, {
      imageKey: 'shop/app@sha256:0',
      imageRef: 'registry.internal:5000/shop/app:1',
      registryHost: 'registry.internal:5000',
    });
    const containers = [
      ...(job.spec?.template.spec?.initContainers ?? []),
      ...(job.spec?.template.spec?.containers ?? []),
    ];
    assert.ok(
      containers.every((c) => c.image === 'registry.internal:5000/mirror/aquasec/trivy:0.74.0'),
      JSON.stringify(containers.map((c) => c.image)),
    );
    const args = JSON.stringify(containers.map((c) => [...(c.args ?? []), ...(c.command ?? [])]));
    assert.match(args, /registry\.internal:5000\/mirror\/aquasec\/trivy-db/);
    assert.match(args, /registry\.internal:5000\/mirror\/aquasec\/trivy-java-db/);
    // global.image.registry overrides the image's own registry, as in Trivy-Operator's chart.
    const global = renderedOperatorEnv(
      await renderChart('to', 'trivy-system', ['-f', file, '--set', 'global.image.registry=global.internal']),
    );
    assert.equal(global.OPERATOR_TRIVY_REPOSITORY, 'global.internal/mirror/aquasec/trivy');
  });
});
