/**
 * Builds the operator image (or takes it from the cache) and prints one JSON line: how long it
 * took (the imageBuildSeconds), where the layout is and what it is.
 *
 *   node --import tsx test/harness/operator-image/cli.ts
 */
import { buildOperatorImage } from './index.ts';

const started = process.hrtime.bigint();
const image = await buildOperatorImage();
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(
  JSON.stringify({
    imageBuildSeconds: Math.round(seconds * 10) / 10,
    reference: image.reference,
    manifestDigest: image.manifestDigest,
    sizeBytes: image.size,
    layoutDir: image.layoutDir,
  }),
);
