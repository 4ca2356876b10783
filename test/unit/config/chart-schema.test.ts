/**
 * The chart's values.schema.json is generated from the settings table: the committed file must be
 * the generator's output, and the schema must take every operator default and what the operator
 * takes in other spellings, and refuse what it refuses.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { chartValuesSchema, renderChartValuesSchema } from '../../../src/config/chart-schema.ts';
import { SETTINGS } from '../../../src/config/settings.ts';

const file = fileURLToPath(new URL('../../../charts/trivy-lookout/values.schema.json', import.meta.url));

type Node = { properties?: Record<string, Node> } & Record<string, unknown>;
const at = (schema: Node, key: string): Node | undefined =>
  key.split('.').reduce<Node | undefined>((node, k) => node?.properties?.[k], schema);

describe("the chart's values.schema.json", () => {
  it('is exactly what the generator writes (run `npm run generate:chart-schema`)', () => {
    assert.equal(readFileSync(file, 'utf8'), renderChartValuesSchema());
  });

  it('describes every setting the chart passes on, at its Helm key, naming its environment variable', () => {
    const schema = chartValuesSchema() as Node;
    for (const spec of Object.values(SETTINGS)) {
      if (spec.key === 'operator.namespace' || spec.key === 'operator.metricsBindAddress') continue;
      const node = at(schema, spec.key);
      assert.ok(node, `${spec.key} is in the schema`);
      assert.match(String(node.description), new RegExp(`^${spec.env}:`));
    }
  });
});
