/**
 * Writes charts/trivy-lookout/values.schema.json from the settings table (src/config/chart-schema.ts).
 *
 * Usage: node --import tsx scripts/generate-chart-schema.ts          # (re)write the file
 *        node --import tsx scripts/generate-chart-schema.ts --check  # exit 1 if it is not up to date
 */
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { renderChartValuesSchema } from '../src/config/chart-schema.ts';

const file = path.resolve(
  path.dirname(fileURLToPath(import.meta.url)),
  '..',
  'charts/trivy-lookout/values.schema.json',
);
const wanted = renderChartValuesSchema();
const current = await readFile(file, 'utf8').catch(() => undefined);
if (process.argv.includes('--check')) {
  if (current !== wanted) {
    console.error(
      'charts/trivy-lookout/values.schema.json is out of date: run `npm run generate:chart-schema`',
    );
    process.exit(1);
  }
  console.log('charts/trivy-lookout/values.schema.json is up to date');
} else if (current !== wanted) {
  await writeFile(file, wanted);
  console.log('charts/trivy-lookout/values.schema.json written');
}
