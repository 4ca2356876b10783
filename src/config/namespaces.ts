/**
 * Which namespaces the operator looks at: target globs (none = all) minus exclude globs, anchored,
 * `*` = any run of characters, `?` = one character. Exclude wins so "everything but kube-*" and
 * "team-* but team-sandbox" both read naturally.
 */
import type { Config } from './types.ts';

export interface NamespaceSelector {
  /** No target namespaces configured: every namespace not excluded is targeted. */
  readonly allNamespaces: boolean;
  /**
   * The targeted namespaces when every target is a plain name (no wildcard), minus excluded ones:
   * callers can then use namespaced watches (and namespaced RBAC). Null otherwise.
   */
  readonly literalNamespaces: readonly string[] | null;
  matches(namespace: string): boolean;
}

type NamespaceSettings = Pick<Config, 'targetNamespaces' | 'excludeNamespaces'>;

export function namespaceSelector(config: NamespaceSettings): NamespaceSelector {
  const targets = config.targetNamespaces.map(globToRegExp);
  const excludes = config.excludeNamespaces.map(globToRegExp);
  const matches = (namespace: string): boolean =>
    (targets.length === 0 || targets.some((glob) => glob.test(namespace))) &&
    !excludes.some((glob) => glob.test(namespace));

  const allNamespaces = targets.length === 0;
  const allLiteral = config.targetNamespaces.every((pattern) => !/[*?]/.test(pattern));
  const literalNamespaces = !allNamespaces && allLiteral ? config.targetNamespaces.filter(matches) : null;
  return { allNamespaces, literalNamespaces, matches };
}

export function globToRegExp(glob: string): RegExp {
  const body = [...glob]
    .map((char) => (char === '*' ? '.*' : char === '?' ? '.' : char.replace(/[\\^$.|+()[\]{}]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`);
}
