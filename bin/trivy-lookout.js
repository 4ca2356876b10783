#!/usr/bin/env node
// The package's `trivy-lookout` command. In a checkout (sources and tsx present) it runs the
// TypeScript sources, so it never runs a stale build; an installed package or the image runs the
// compiled dist/. Plain JavaScript: it has to start before anything is compiled.
import { existsSync } from 'node:fs';
import process from 'node:process';
import { URL } from 'node:url';

const source = new URL('../src/cli/main.ts', import.meta.url);
const built = new URL('../dist/cli/main.js', import.meta.url);
const tsx = existsSync(source) ? await import('tsx/esm/api').catch(() => undefined) : undefined;
if (tsx) {
  tsx.register();
  await import(source.href);
} else if (existsSync(built)) {
  await import(built.href);
} else {
  process.stderr.write('trivy-lookout: dist/cli/main.js is missing: run `npm run build` first\n');
  process.exitCode = 2;
}
