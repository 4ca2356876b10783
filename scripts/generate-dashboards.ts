/**
 * Writes the Grafana dashboards from grafana-dashboards/src/: grafana-dashboards/<uid>.json, the Helm
 * chart's copies in charts/trivy-lookout/files/grafana-dashboards/, and grafana-dashboards/configmaps.yaml.
 *
 * Usage: node --import tsx scripts/generate-dashboards.ts          # (re)write the files
 *        node --import tsx scripts/generate-dashboards.ts --check  # exit 1 if any is not up to date
 */
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { formatJson } from '../grafana-dashboards/src/format.ts';
import { CHART_DASHBOARD_DIR, DASHBOARD_DIR, renderFiles } from '../grafana-dashboards/src/index.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const check = process.argv.includes('--check');

const wanted = await renderFiles(formatJson);
const outdated: string[] = [];
for (const [file, content] of wanted) {
  const current = await readFile(path.join(root, file), 'utf8').catch(() => undefined);
  if (current !== content) outdated.push(file);
}
// Dashboards no longer generated (renamed or removed) go too.
const stale: string[] = [];
for (const dir of [DASHBOARD_DIR, CHART_DASHBOARD_DIR]) {
  for (const name of await readdir(path.join(root, dir))) {
    const file = `${dir}/${name}`;
    if (name.endsWith('.json') && !wanted.has(file)) stale.push(file);
  }
}

if (check) {
  for (const file of outdated) console.error(`out of date: ${file}`);
  for (const file of stale) console.error(`not generated: ${file}`);
  if (outdated.length > 0 || stale.length > 0) {
    console.error('run `npm run generate:dashboards` and commit the result');
    process.exit(1);
  }
  console.log(`${wanted.size} dashboard files up to date`);
} else {
  for (const file of outdated) {
    await mkdir(path.dirname(path.join(root, file)), { recursive: true });
    await writeFile(path.join(root, file), wanted.get(file) ?? '');
  }
  for (const file of stale) await rm(path.join(root, file));
  console.log(`dashboards: ${outdated.length} written, ${stale.length} removed, ${wanted.size} total`);
}
