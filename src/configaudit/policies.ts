/**
 * Custom Rego policies from a ConfigMap, in Trivy-Operator's layout: `policy.<name>.rego` with
 * `policy.<name>.kinds` (a comma list of kinds, `*` for all, `Workload` for the workload kinds) and
 * shared `library.<name>.rego` modules. A malformed entry is reported and left out; the others,
 * and the built-in checks, keep working.
 */
import { contentHash } from '../workloads/index.ts';

/** Rego package root Trivy is told to evaluate for custom policies (Trivy-Operator's). */
export const CUSTOM_POLICY_NAMESPACE = 'trivyoperator';

export interface CustomPolicy {
  /** ConfigMap key of the Rego, e.g. `policy.team_label.rego`. */
  readonly key: string;
  readonly rego: string;
  /** Kind names, `*` or `Workload`. */
  readonly kinds: readonly string[];
}

export interface PolicyLibrary {
  readonly key: string;
  readonly rego: string;
}

export interface PolicyProblem {
  /** The ConfigMap key the problem is about. */
  readonly key: string;
  readonly message: string;
}

export interface PolicySet {
  readonly policies: readonly CustomPolicy[];
  readonly libraries: readonly PolicyLibrary[];
  readonly problems: readonly PolicyProblem[];
}

export const EMPTY_POLICY_SET: PolicySet = { policies: [], libraries: [], problems: [] };

const POLICY_KEY = /^policy\.(.+)\.(rego|kinds)$/;
const LIBRARY_KEY = /^library\.(.+)\.rego$/;
const PACKAGE_LINE = /^\s*package\s+([A-Za-z_][\w.]*)/m;

function packageProblem(rego: string): string | undefined {
  const name = PACKAGE_LINE.exec(rego)?.[1];
  if (name === undefined) return 'has no `package` line';
  if (name !== CUSTOM_POLICY_NAMESPACE && !name.startsWith(`${CUSTOM_POLICY_NAMESPACE}.`)) {
    return `is in package ${name}; custom policies must be under ${CUSTOM_POLICY_NAMESPACE} (e.g. package ${CUSTOM_POLICY_NAMESPACE}.my_check), or Trivy ignores them`;
  }
  return undefined;
}

/** Reads the ConfigMap's data; problems name the key and what to fix. */
export function parsePolicyConfigMap(data: Readonly<Record<string, string>> | undefined): PolicySet {
  const regos = new Map<string, string>();
  const kinds = new Map<string, string>();
  const libraries: PolicyLibrary[] = [];
  const problems: PolicyProblem[] = [];
  for (const [key, value] of Object.entries(data ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
    const policy = POLICY_KEY.exec(key);
    if (policy) {
      (policy[2] === 'rego' ? regos : kinds).set(policy[1] ?? '', value);
      continue;
    }
    if (LIBRARY_KEY.test(key)) {
      const problem = packageProblem(value);
      if (problem) problems.push({ key, message: `${key} ${problem}` });
      else libraries.push({ key, rego: value });
    }
    // Other keys are not ours to judge (Trivy-Operator ignores them too).
  }
  const policies: CustomPolicy[] = [];
  for (const [name, rego] of regos) {
    const key = `policy.${name}.rego`;
    const kindList = (kinds.get(name) ?? '')
      .split(',')
      .map((kind) => kind.trim())
      .filter((kind) => kind !== '');
    if (kindList.length === 0) {
      problems.push({
        key,
        message: `${key} has no policy.${name}.kinds (a comma-separated list of kinds, "*" or "Workload")`,
      });
      continue;
    }
    const problem = packageProblem(rego);
    if (problem) {
      problems.push({ key, message: `${key} ${problem}` });
      continue;
    }
    policies.push({ key, rego, kinds: kindList });
  }
  for (const name of kinds.keys()) {
    if (!regos.has(name)) {
      problems.push({
        key: `policy.${name}.kinds`,
        message: `policy.${name}.kinds has no policy.${name}.rego`,
      });
    }
  }
  return { policies, libraries, problems };
}

/** Whether `policy` applies to objects of `kind`. */
export function appliesTo(policy: CustomPolicy, kind: string, isWorkload: boolean): boolean {
  return policy.kinds.some((k) => k === '*' || k === kind || (k === 'Workload' && isWorkload));
}

/** The custom policies that apply to `kind`. */
export function policiesFor(set: PolicySet, kind: string, isWorkload: boolean): CustomPolicy[] {
  return set.policies.filter((policy) => appliesTo(policy, kind, isWorkload));
}

/**
 * The `plugin-config-hash` of a kind: of the engine (Trivy version, which fixes its embedded
 * checks) and of the custom policies and libraries that apply to the kind. A change to any of
 * them changes the hash of exactly the kinds it affects, which re-audits those.
 */
export function policyHash(engineVersion: string, set: PolicySet, kind: string, isWorkload: boolean): string {
  const policies = policiesFor(set, kind, isWorkload);
  return contentHash({
    engine: engineVersion,
    policies: policies.map((p) => [p.key, p.rego]),
    // Libraries only matter to a kind that has policies to use them.
    libraries: policies.length > 0 ? set.libraries.map((l) => [l.key, l.rego]) : [],
  });
}

/** The same set without the policies and libraries whose keys are listed, each with its reason. */
export function withoutRejected(set: PolicySet, rejected: readonly PolicyProblem[]): PolicySet {
  const keys = new Set(rejected.map((r) => r.key));
  return {
    policies: set.policies.filter((p) => !keys.has(p.key)),
    libraries: set.libraries.filter((l) => !keys.has(l.key)),
    problems: [...set.problems, ...rejected],
  };
}
