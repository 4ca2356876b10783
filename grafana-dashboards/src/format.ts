import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Prettier's JSON layout with the repository's settings, so the chart's copies pass `prettier --check`. */
export async function formatJson(text: string): Promise<string> {
  const options = (await prettier.resolveConfig(path.join(root, 'package.json'))) ?? {};
  return prettier.format(text, { ...options, parser: 'json' });
}
