/**
 * Writes the shipped ClusterComplianceReport specs from Trivy's own compliance specs (the
 * trivy-checks Go module, at the version Trivy pins): one Helm template per spec in
 * charts/trivy-lookout/templates/specs/ and one plain manifest per spec in deploy/compliance/.
 * The module is fetched with `go mod download`, so this works on a fresh machine with Go.
 *
 * Usage: node --import tsx scripts/generate-compliance-specs.ts          # (re)write the files
 *        node --import tsx scripts/generate-compliance-specs.ts --check  # exit 1 if they are not up to date
 */
import { execFile } from 'node:child_process';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { format, resolveConfig } from 'prettier';
import {
  parseUpstreamSpec,
  renderChartTemplate,
  renderPlainManifest,
  SHIPPED_SPECS,
  TRIVY_CHECKS_MODULE,
  TRIVY_CHECKS_VERSION,
} from '../src/compliance/manifests.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CHART_DIR = 'charts/trivy-lookout/templates/specs';
const PLAIN_DIR = 'deploy/compliance';
const check = process.argv.includes('--check');

async function moduleDir(): Promise<string> {
  const { stdout } = await promisify(execFile)(
    'go',
    ['mod', 'download', '-json', `${TRIVY_CHECKS_MODULE}@${TRIVY_CHECKS_VERSION}`],
    // Outside any Go module, so no go.mod is needed or touched.
    { cwd: root, env: { ...process.env, GO111MODULE: 'on', GOFLAGS: '' }, maxBuffer: 1 << 20 },
  ).catch((err: unknown) => {
    const stderr = (err as { stderr?: string }).stderr ?? String(err);
    throw new Error(`go mod download ${TRIVY_CHECKS_MODULE}@${TRIVY_CHECKS_VERSION} failed:\n${stderr}`);
  });
  const info = JSON.parse(stdout) as { Dir?: string; Error?: string };
  if (!info.Dir) throw new Error(`go mod download gave no directory: ${info.Error ?? stdout}`);
  return info.Dir;
}

const dir = await moduleDir();
const wanted = new Map<string, string>();
for (const id of SHIPPED_SPECS) {
  const file = `pkg/compliance/${id}.yaml`;
  const spec = parseUpstreamSpec(await readFile(path.join(dir, file), 'utf8'), file);
  if (spec.id !== id) throw new Error(`${file}: spec.id is ${spec.id}, expected ${id}`);
  wanted.set(`${CHART_DIR}/${id}.yaml`, renderChartTemplate(spec, file));
  // Prettier checks plain YAML in the repository; the generated file is written as it would leave it.
  const plain = `${PLAIN_DIR}/${id}.yaml`;
  const prettierOptions = (await resolveConfig(path.join(root, plain))) ?? {};
  wanted.set(plain, await format(renderPlainManifest(spec, file), { ...prettierOptions, filepath: plain }));
}

const outdated: string[] = [];
const stale: string[] = [];
for (const outDir of [CHART_DIR, PLAIN_DIR]) {
  await mkdir(path.join(root, outDir), { recursive: true });
  for (const name of await readdir(path.join(root, outDir))) {
    if (name.endsWith('.yaml') && !wanted.has(`${outDir}/${name}`)) stale.push(`${outDir}/${name}`);
  }
}
for (const [file, content] of wanted) {
  const current = await readFile(path.join(root, file), 'utf8').catch(() => undefined);
  if (current !== content) outdated.push(file);
}

if (check) {
  for (const file of outdated) console.error(`out of date: ${file}`);
  for (const file of stale) console.error(`not generated: ${file}`);
  if (outdated.length > 0 || stale.length > 0) {
    console.error('run `npm run generate:compliance-specs` and commit the result');
    process.exit(1);
  }
  console.log(`${SHIPPED_SPECS.length} compliance specs up to date in ${CHART_DIR} and ${PLAIN_DIR}`);
} else {
  for (const file of outdated) await writeFile(path.join(root, file), wanted.get(file) ?? '');
  for (const file of stale) await rm(path.join(root, file));
  console.log(`compliance specs: ${outdated.length} written, ${stale.length} removed, ${wanted.size} total`);
}
