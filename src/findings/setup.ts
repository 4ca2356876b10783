/**
 * The findings pieces every replica runs, built from the configuration in one place (the operator
 * and the benchmarks build the same thing).
 */
import { namespaceSelector, SEVERITIES, type Config, type Severity } from '../config/index.ts';
import { FindingsIndex } from './findings-index.ts';
import { FindingsSeries, NEW_FINDING_SEVERITIES } from './metrics.ts';

/** What every replica runs: the index, fed by the report watch, and the families computed from it. */
export interface ReplicaFindings {
  readonly index: FindingsIndex;
  readonly series: FindingsSeries;
}

/**
 * The index and its series, or undefined when `operator.newFindingsEnabled` is off.
 * Tracked: the severities that can be new, and those with a remediation deadline.
 */
export function findingsForReplica(
  config: Pick<Config, 'findings' | 'targetNamespaces' | 'excludeNamespaces'>,
): ReplicaFindings | undefined {
  const { findings } = config;
  if (!findings.enabled) return undefined;
  const index = new FindingsIndex({
    tracked: new Set<Severity>([
      ...NEW_FINDING_SEVERITIES,
      ...SEVERITIES.filter((s) => findings.deadlinesMs[s] !== undefined),
    ]),
    namespaceFilter: namespaceSelector(config).matches,
    // A finding back within the window (a rollout, a rollback) is not new, and keeps its deadline.
    retainMs: findings.newWindowMs,
  });
  const series = new FindingsSeries({
    index,
    policy: { deadlinesMs: findings.deadlinesMs, fixableOnly: findings.fixableOnly },
    newWindowMs: findings.newWindowMs,
  });
  return { index, series };
}
