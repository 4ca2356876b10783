/**
 * Every query of a dashboard, and the variable interpolation Grafana's Prometheus data source does
 * before sending one, so tests can run the exact queries against a real Prometheus.
 */
import type { Dashboard, Panel, Variable } from './grafana.ts';

export interface DashboardQuery {
  dashboard: string;
  /** Panel title, or `variable <name>`. */
  where: string;
  refId: string;
  expr: string;
  /** Panel targets run as instant or range queries; query variables run `label_values`. */
  kind: 'instant' | 'range' | 'variable';
}

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

export function dashboardQueries(d: Dashboard): DashboardQuery[] {
  const variables: DashboardQuery[] = d.templating.list
    .filter((v) => v.type === 'query')
    .map((v) => ({
      dashboard: d.title,
      where: `variable ${v.name}`,
      refId: v.name,
      expr: v.query,
      kind: 'variable',
    }));
  const targets: DashboardQuery[] = allPanels(d.panels).flatMap((panel) =>
    (panel.targets ?? []).map((target) => ({
      dashboard: d.title,
      where: panel.title,
      refId: target.refId,
      expr: target.expr,
      kind: target.range ? ('range' as const) : ('instant' as const),
    })),
  );
  return [...variables, ...targets];
}

/** `label_values(<selector>, <label>)` split into its parts, as Grafana sends it to `/api/v1/label/<label>/values`. */
export function parseLabelValues(query: string): { selector: string; label: string } {
  const match = /^label_values\(\s*(.+?)\s*,\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/s.exec(query);
  if (!match?.[1] || !match[2]) throw new Error(`not a label_values(<selector>, <label>) query: ${query}`);
  return { selector: match[1], label: match[2] };
}

/** What Grafana puts in for `$__interval`, `$__rate_interval` and `$__range`. */
export interface Durations {
  interval: string;
  rateInterval: string;
  range: string;
}

/** Per variable: what is selected (values, or All) and the values it offers (for All without allValue). */
export type Selection = Record<string, { selected: readonly string[] | 'All'; options: readonly string[] }>;

/** Grafana's escaping of a value used inside a PromQL regex (`=~"…"`), written inside a string literal. */
function regexEscape(value: string): string {
  return value.replace(/\\/g, '\\\\\\\\').replace(/[$^*{}[\]'+?.()|]/g, '\\\\$&');
}

function plainEscape(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/'/g, "\\\\'");
}

function format(variable: Variable, selection: Selection[string] | undefined): string {
  if (!selection) throw new Error(`no value chosen for variable ${variable.name}`);
  const { selected, options } = selection;
  if (!variable.multi && !variable.includeAll) {
    if (selected === 'All' || selected.length !== 1) {
      throw new Error(`variable ${variable.name} takes exactly one value`);
    }
    return plainEscape(selected[0] ?? '');
  }
  if (selected === 'All' && variable.allValue !== undefined) return variable.allValue;
  const values = selected === 'All' ? options : selected;
  if (values.length === 0) throw new Error(`variable ${variable.name} has no value to expand All to`);
  const escaped = values.map(regexEscape);
  return escaped.length === 1 ? (escaped[0] ?? '') : `(${escaped.join('|')})`;
}

/**
 * Replaces `$name` / `${name}` and the built-in durations as Grafana's Prometheus data source does:
 * All becomes the variable's allValue (or every option as one regex), several values become
 * `(a|b)` with regex characters escaped. Unknown variables and formats are errors, so a typo in a
 * query fails here rather than silently matching nothing.
 */
export function interpolate(
  expr: string,
  variables: readonly Variable[],
  selection: Selection,
  durations: Durations,
): string {
  const byName = new Map(variables.map((v) => [v.name, v]));
  return expr.replace(
    /\$(?:\{([A-Za-z0-9_]+)(:[A-Za-z]+)?\}|([A-Za-z0-9_]+))|\[\[[^\]]*\]\]/g,
    (whole, braced?: string, fmt?: string, bare?: string) => {
      if (whole.startsWith('[[')) throw new Error(`deprecated [[variable]] syntax in: ${expr}`);
      if (fmt) throw new Error(`variable format ${whole} is not for queries: ${expr}`);
      const name = braced ?? bare ?? '';
      switch (name) {
        case '__interval':
          return durations.interval;
        case '__rate_interval':
          return durations.rateInterval;
        case '__range':
          return durations.range;
      }
      const variable = byName.get(name);
      if (!variable) throw new Error(`unknown variable $${name} in: ${expr}`);
      if (variable.type === 'datasource') throw new Error(`$${name} is a data source, not a query value`);
      return format(variable, selection[name]);
    },
  );
}
