/**
 * The node collector's entry point, run by the node-collector Job with the operator image
 * (`node dist/nodecollector/main.js`) on the node it inspects. It prints one line: the node's
 * NodeInfo as JSON, which the operator reads back through `pods/log`. Any failure is one line on
 * stderr and exit code 1, so the log never holds half a document.
 *
 * Environment: NODE_NAME (the Node, from the downward API), NODE_COLLECTOR_NODE_TYPE (`master` or
 * `worker`, from the Node's role labels; otherwise guessed), NODE_COLLECTOR_HOST_ROOT (where the
 * host's paths are visible; `/` in the Job, whose host paths are mounted at their own paths).
 */
import { collectNodeInfo } from './collect.ts';
import { hostView } from './host.ts';
import { NODE_TYPES, type NodeType } from './node-info.ts';

function main(): void {
  const nodeName = process.env.NODE_NAME ?? '';
  if (nodeName === '')
    throw new Error('NODE_NAME is not set (the Job passes spec.nodeName through the downward API)');
  const requested = process.env.NODE_COLLECTOR_NODE_TYPE ?? '';
  const nodeType = NODE_TYPES.find((type) => type === requested) as NodeType | undefined;
  const info = collectNodeInfo(hostView(process.env.NODE_COLLECTOR_HOST_ROOT || '/'), { nodeName, nodeType });
  process.stdout.write(`${JSON.stringify(info)}\n`);
}

try {
  main();
} catch (err) {
  process.stderr.write(`node collector failed: ${(err as Error).message}\n`);
  process.exitCode = 1;
}
