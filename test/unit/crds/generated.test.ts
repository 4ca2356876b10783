/** The committed CRD YAML must be exactly what the generator writes now: nobody edits it by hand. */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import yaml from 'js-yaml';
import {
  CRD_OUTPUT_DIR,
  GENERATED_HEADER,
  crdFileName,
  rawCrdManifests,
  renderCrdYaml,
  reportCrds,
} from '../../../src/crds/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const outDir = path.join(root, CRD_OUTPUT_DIR);
const regenerate = 'run `npm run generate:crds` (node --import tsx scripts/generate-crds.ts)';

describe('generated CRD YAML', () => {
  const crds = rawCrdManifests();

  it('has one file per CRD and nothing else', () => {
    const files = readdirSync(outDir).filter((name) => name.endsWith('.yaml') || name.endsWith('.yml'));
    assert.deepEqual(files.sort(), crds.map(crdFileName).sort(), regenerate);
  });

  for (const crd of crds) {
    const file = crdFileName(crd);
    it(`${file} is up to date`, () => {
      const committed = readFileSync(path.join(outDir, file), 'utf8');
      assert.ok(
        committed === renderCrdYaml(crd),
        `${CRD_OUTPUT_DIR}/${file} differs from the generator: ${regenerate}`,
      );
    });
  }

  it('starts with the generated-file header and parses back to the same object', () => {
    for (const crd of crds) {
      const text = renderCrdYaml(crd);
      assert.ok(text.startsWith(`${GENERATED_HEADER}\n---\n`));
      assert.ok(!/[&*]ref_\d/.test(text), 'no YAML anchors or aliases');
      assert.deepEqual(yaml.load(text), crd);
    }
  });

  it('is deterministic and independent of object key order', () => {
    const [first] = crds;
    assert.ok(first);
    const reversed = JSON.parse(JSON.stringify(first), function (this: unknown, _key, value: unknown) {
      return value && typeof value === 'object' && !Array.isArray(value)
        ? Object.fromEntries(Object.entries(value).reverse())
        : value;
    }) as typeof first;
    assert.equal(renderCrdYaml(reversed), renderCrdYaml(first));
    assert.equal(renderCrdYaml(rawCrdManifests()[0] ?? first), renderCrdYaml(first));
  });

  it('reportCrds holds the same, frozen, CRDs', () => {
    assert.deepEqual(JSON.parse(JSON.stringify(reportCrds)), crds);
    assert.ok(Object.isFrozen(reportCrds[0]?.spec.versions[0]?.schema.openAPIV3Schema));
  });
});
