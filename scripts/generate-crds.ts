/**
 * Writes one YAML file per report CRD to charts/trivy-lookout/crds/ from the definitions in src/crds/.
 *
 * Usage: node --import tsx scripts/generate-crds.ts          # (re)write the files
 *        node --import tsx scripts/generate-crds.ts --check  # exit 1 if the files are not up to date
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CRD_OUTPUT_DIR, crdFileName, rawCrdManifests, renderCrdYaml } from '../src/crds/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outDir = path.join(root, CRD_OUTPUT_DIR);
const check = process.argv.includes('--check');

const wanted = new Map(rawCrdManifests().map((crd) => [crdFileName(crd), renderCrdYaml(crd)]));

await mkdir(outDir, { recursive: true });
const existing = (await readdir(outDir)).filter((name) => name.endsWith('.yaml'));
const stale = existing.filter((name) => !wanted.has(name));
const outdated: string[] = [];
for (const [name, content] of wanted) {
  const current = await readFile(path.join(outDir, name), 'utf8').catch(() => undefined);
  if (current !== content) outdated.push(name);
}

if (check) {
  for (const name of outdated) console.error(`out of date: ${CRD_OUTPUT_DIR}/${name}`);
  for (const name of stale) console.error(`not generated: ${CRD_OUTPUT_DIR}/${name}`);
  if (outdated.length > 0 || stale.length > 0) {
    console.error('run `npm run generate:crds` and commit the result');
    process.exit(1);
  }
  console.log(`${wanted.size} CRDs up to date in ${CRD_OUTPUT_DIR}`);
} else {
  for (const name of outdated) await writeFile(path.join(outDir, name), wanted.get(name) ?? '');
  for (const name of stale) await rm(path.join(outDir, name));
  console.log(`${CRD_OUTPUT_DIR}: ${outdated.length} written, ${stale.length} removed, ${wanted.size} total`);
}
