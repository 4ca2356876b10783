/**
 * The findings pieces every replica runs, built from the configuration in one place (the operator
 * and the benchmarks build the same thing).
 */
import type { Registry } from 'prom-client';
import { namespaceSelector, SEVERITIES, type Config, type Severity } from '../config/index.ts';
import { FindingsIndex } from './findings-index.ts';
import { NEW_FINDING_SEVERITIES, registerFindingsMetrics } from './metrics.ts';

/**
 * The index with its series registered, or undefined when `operator.newFindingsEnabled` is off.
 * Tracked: the severities that can be new, and those with a remediation deadline.
 */
export function findingsForReplica(
  config: Pick<Config, 'findings' | 'targetNamespaces' | 'excludeNamespaces'>,
  registry: Registry,
): FindingsIndex | undefined {
  const { findings } = config;
  if (!findings.enabled) return undefined;
  const index = new FindingsIndex({
    tracked: new Set<Severity>([
      ...NEW_FINDING_SEVERITIES,
      ...SEVERITIES.filter((s) => findings.deadlinesMs[s] !== undefined),
    ]),
    namespaceFilter: namespaceSelector(config).matches,
  });
  registerFindingsMetrics({
    index,
    policy: { deadlinesMs: findings.deadlinesMs, fixableOnly: findings.fixableOnly },
    newWindowMs: findings.newWindowMs,
    registry,
  });
  return index;
}
