/**
 * The part of Grafana's dashboard JSON model (schemaVersion 39: Grafana 10.4 and 11) the trivy-lookout
 * dashboards use, with small builders for panels, variables and a flowing 24-column grid. Panels get
 * their ids and positions from the grid, so a dashboard is written as an ordered list of rows.
 */

/** Every panel, target and query variable reads from the dashboard's `datasource` variable. */
export const DATASOURCE = { type: 'prometheus', uid: '${datasource}' } as const;
export type DatasourceRef = typeof DATASOURCE;

export const SCHEMA_VERSION = 39;
/** Tag shared by all trivy-lookout dashboards; the dashboard links list them by it. */
export const TAG = 'trivy-lookout';

export interface Target {
  refId: string;
  datasource: DatasourceRef;
  editorMode: 'code';
  expr: string;
  legendFormat: string;
  /** Instant queries feed stats, tables and bar gauges; range queries feed time series. */
  instant: boolean;
  range: boolean;
  format: 'time_series' | 'table';
}

export interface DataLink {
  title: string;
  url: string;
}

export interface Threshold {
  color: string;
  value: number | null;
}

/** Threshold steps: `base` below the first step, then each `[color, from]` from its value up. */
export function steps(base: string, ...from: [color: string, value: number][]): Threshold[] {
  return [{ color: base, value: null }, ...from.map(([color, value]) => ({ color, value }))];
}

export interface FieldOverride {
  matcher: { id: 'byName' | 'byFrameRefID'; options: string };
  properties: { id: string; value: unknown }[];
}

export interface FieldConfig {
  defaults: {
    unit?: string;
    decimals?: number;
    min?: number;
    max?: number;
    noValue?: string;
    color?: { mode: string; fixedColor?: string };
    thresholds?: { mode: 'absolute'; steps: Threshold[] };
    links?: DataLink[];
    custom?: Record<string, unknown>;
  };
  overrides: FieldOverride[];
}

export interface Transformation {
  id: string;
  options: Record<string, unknown>;
}

export interface GridPos {
  h: number;
  w: number;
  x: number;
  y: number;
}

export interface Panel {
  id: number;
  type: 'row' | 'stat' | 'timeseries' | 'table' | 'bargauge' | 'piechart';
  title: string;
  description?: string;
  gridPos: GridPos;
  datasource?: DatasourceRef;
  targets?: Target[];
  fieldConfig?: FieldConfig;
  options?: Record<string, unknown>;
  transformations?: Transformation[];
  /** Rows only. */
  collapsed?: boolean;
  panels?: Panel[];
}

export type PanelBody = Omit<Panel, 'id' | 'gridPos'>;

export interface VariableOption {
  selected: boolean;
  text: string;
  value: string;
}

export interface Variable {
  name: string;
  label: string;
  description?: string;
  type: 'datasource' | 'query' | 'custom' | 'textbox';
  /** Query variables: `label_values(<selector>, <label>)`; custom: `text : value` pairs; datasource: its type; textbox: the default. */
  query: string;
  definition?: string;
  datasource?: DatasourceRef;
  current: { selected?: boolean; text?: string | string[]; value?: string | string[] };
  options: VariableOption[];
  hide: 0 | 1 | 2;
  multi: boolean;
  includeAll: boolean;
  /** What "All" becomes in queries; without it Grafana joins every option into one regex. */
  allValue?: string;
  /** Query variables: 2 reloads on every time-range change. */
  refresh?: 1 | 2;
  regex?: string;
  sort?: number;
  skipUrlSync: false;
}

export interface DashboardLink {
  title: string;
  type: 'dashboards' | 'link';
  tags: string[];
  asDropdown: boolean;
  includeVars: boolean;
  keepTime: boolean;
  targetBlank: boolean;
  icon: string;
  tooltip: string;
  url: string;
}

export interface Dashboard {
  /** Grafana assigns its own database id; provisioned dashboards are matched by uid. */
  id: null;
  uid: string;
  title: string;
  description: string;
  tags: string[];
  editable: boolean;
  graphTooltip: 0 | 1 | 2;
  fiscalYearStartMonth: 0;
  liveNow: false;
  refresh: string;
  schemaVersion: number;
  version: 1;
  weekStart: '';
  time: { from: string; to: string };
  timepicker: Record<string, never>;
  timezone: 'browser';
  annotations: { list: Record<string, unknown>[] };
  links: DashboardLink[];
  templating: { list: Variable[] };
  panels: Panel[];
}

export interface Query {
  expr: string;
  /** Legend of time series; the column name of table values. */
  legend?: string;
}

type QueryKind = 'instant' | 'range' | 'table';

function targets(queries: readonly Query[], kind: QueryKind): Target[] {
  return queries.map((query, i) => ({
    refId: String.fromCharCode(65 + i),
    datasource: DATASOURCE,
    editorMode: 'code',
    expr: query.expr,
    legendFormat: kind === 'table' ? '__auto' : (query.legend ?? '__auto'),
    instant: kind !== 'range',
    range: kind === 'range',
    format: kind === 'table' ? 'table' : 'time_series',
  }));
}

/** Severity colours, the same on every dashboard. */
export const SEVERITY_COLORS: Readonly<Record<string, string>> = {
  Critical: 'dark-red',
  High: 'red',
  Medium: 'orange',
  Low: 'yellow',
  Unknown: 'blue',
};

const colorOverride = (name: string, color: string): FieldOverride => ({
  matcher: { id: 'byName', options: name },
  properties: [{ id: 'color', value: { mode: 'fixed', fixedColor: color } }],
});

/** Other thresholds for one series (by its legend) than the panel's. */
export function thresholdsOverride(name: string, steps: Threshold[]): FieldOverride {
  return {
    matcher: { id: 'byName', options: name },
    properties: [{ id: 'thresholds', value: { mode: 'absolute', steps } }],
  };
}

/** One colour per series named like a severity (legend or column). */
export function severityColorOverrides(
  names: readonly string[] = Object.keys(SEVERITY_COLORS),
): FieldOverride[] {
  return names.flatMap((name) => {
    const color = SEVERITY_COLORS[name];
    return color ? [colorOverride(name, color)] : [];
  });
}

export interface StatOptions {
  title: string;
  description: string;
  query: Query;
  unit?: string;
  /** A fixed colour; without it the value is coloured by `thresholds`. */
  color?: string;
  thresholds?: Threshold[];
  decimals?: number;
  noValue?: string;
  links?: DataLink[];
  /** `value_and_name` when the query returns several series (one value each, named by the legend). */
  textMode?: 'value' | 'value_and_name';
  overrides?: FieldOverride[];
}

export function stat(o: StatOptions): PanelBody {
  return {
    type: 'stat',
    title: o.title,
    description: o.description,
    datasource: DATASOURCE,
    targets: targets([o.query], 'instant'),
    fieldConfig: {
      defaults: {
        unit: o.unit ?? 'none',
        ...(o.decimals !== undefined ? { decimals: o.decimals } : {}),
        ...(o.noValue !== undefined ? { noValue: o.noValue } : {}),
        color: o.color ? { mode: 'fixed', fixedColor: o.color } : { mode: 'thresholds' },
        thresholds: { mode: 'absolute', steps: o.thresholds ?? steps('green') },
        links: o.links ?? [],
      },
      overrides: o.overrides ?? [],
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      colorMode: 'value',
      graphMode: 'none',
      justifyMode: 'auto',
      orientation: 'auto',
      textMode: o.textMode ?? 'value',
      wideLayout: true,
      showPercentChange: false,
    },
  };
}

export interface TimeseriesOptions {
  title: string;
  description: string;
  queries: Query[];
  unit?: string;
  stack?: boolean;
  overrides?: FieldOverride[];
  min?: number;
}

export function timeseries(o: TimeseriesOptions): PanelBody {
  return {
    type: 'timeseries',
    title: o.title,
    description: o.description,
    datasource: DATASOURCE,
    targets: targets(o.queries, 'range'),
    fieldConfig: {
      defaults: {
        unit: o.unit ?? 'none',
        ...(o.min !== undefined ? { min: o.min } : {}),
        color: { mode: 'palette-classic' },
        custom: {
          drawStyle: 'line',
          lineWidth: 1,
          fillOpacity: o.stack ? 30 : 10,
          showPoints: 'never',
          spanNulls: false,
          stacking: { mode: o.stack ? 'normal' : 'none', group: 'A' },
        },
      },
      overrides: o.overrides ?? [],
    },
    options: {
      legend: { displayMode: 'list', placement: 'bottom', showLegend: true },
      tooltip: { mode: 'multi', sort: 'desc' },
    },
  };
}

export interface BarGaugeOptions {
  title: string;
  description: string;
  queries: Query[];
  unit?: string;
  min?: number;
  max?: number;
  thresholds?: Threshold[];
  overrides?: FieldOverride[];
  links?: DataLink[];
}

export function barGauge(o: BarGaugeOptions): PanelBody {
  return {
    type: 'bargauge',
    title: o.title,
    description: o.description,
    datasource: DATASOURCE,
    targets: targets(o.queries, 'instant'),
    fieldConfig: {
      defaults: {
        unit: o.unit ?? 'none',
        min: o.min ?? 0,
        ...(o.max !== undefined ? { max: o.max } : {}),
        color: { mode: 'thresholds' },
        thresholds: { mode: 'absolute', steps: o.thresholds ?? steps('green') },
        links: o.links ?? [],
      },
      overrides: o.overrides ?? [],
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      displayMode: 'gradient',
      orientation: 'horizontal',
      showUnfilled: true,
      valueMode: 'color',
      namePlacement: 'auto',
      sizing: 'auto',
      minVizHeight: 16,
      maxVizHeight: 300,
    },
  };
}

export interface PieChartOptions {
  title: string;
  description: string;
  queries: Query[];
  overrides?: FieldOverride[];
}

export function pieChart(o: PieChartOptions): PanelBody {
  return {
    type: 'piechart',
    title: o.title,
    description: o.description,
    datasource: DATASOURCE,
    targets: targets(o.queries, 'instant'),
    fieldConfig: {
      defaults: { unit: 'none', color: { mode: 'palette-classic' } },
      overrides: o.overrides ?? [],
    },
    options: {
      reduceOptions: { calcs: ['lastNotNull'], fields: '', values: false },
      pieType: 'donut',
      displayLabels: ['value'],
      legend: { displayMode: 'table', placement: 'right', showLegend: true, values: ['value', 'percent'] },
      tooltip: { mode: 'single', sort: 'none' },
    },
  };
}

export interface TableOptions {
  title: string;
  description: string;
  /** Instant queries in table format, merged on their common labels; `legend` names the value column. */
  queries: Query[];
  /** Label columns renamed, e.g. `{ resource_kind: 'Kind' }`. */
  rename?: Record<string, string>;
  /** Columns left out (Time is always left out). */
  hide?: string[];
  /** Column order, by displayed name; every renamed column must be in it. */
  order?: string[];
  sortBy?: { column: string; desc: boolean };
  /** Data links per column (by its name after renaming). */
  links?: Record<string, DataLink[]>;
  /** Units per column (by its name after renaming); values are plain numbers otherwise. */
  units?: Record<string, string>;
  /** Label columns that hold numbers (sorted as numbers), by their name before renaming. */
  numeric?: string[];
  /** Columns whose cells are coloured by `thresholds`. */
  colored?: Record<string, Threshold[]>;
}

/** The name Grafana gives the value column of the i-th of n table queries. */
export function valueColumn(i: number, n: number): string {
  return n === 1 ? 'Value' : `Value #${String.fromCharCode(65 + i)}`;
}

export function table(o: TableOptions): PanelBody {
  const renameByName: Record<string, string> = { ...o.rename };
  const excludeByName: Record<string, boolean> = { Time: true };
  o.queries.forEach((query, i) => {
    const column = valueColumn(i, o.queries.length);
    if (query.legend) renameByName[column] = query.legend;
    else excludeByName[column] = true;
  });
  for (const column of o.hide ?? []) excludeByName[column] = true;
  // Grafana orders fields by their names before renaming, and a field missing from the order
  // compares as NaN, so every renamed column must be placed.
  const original = new Map(Object.entries(renameByName).map(([from, to]) => [to, from]));
  for (const name of original.keys()) {
    if (!(o.order ?? []).includes(name))
      throw new Error(`table "${o.title}": column ${name} has no place in order`);
  }
  const indexByName: Record<string, number> = {};
  (o.order ?? []).forEach((column, i) => (indexByName[original.get(column) ?? column] = i));
  const transformations: Transformation[] = [];
  if (o.numeric?.length) {
    transformations.push({
      id: 'convertFieldType',
      options: {
        conversions: o.numeric.map((field) => ({ targetField: field, destinationType: 'number' })),
        fields: {},
      },
    });
  }
  if (o.queries.length > 1) transformations.push({ id: 'merge', options: {} });
  transformations.push({ id: 'organize', options: { excludeByName, indexByName, renameByName } });
  const overrides: FieldOverride[] = [];
  for (const [column, links] of Object.entries(o.links ?? {})) {
    overrides.push({
      matcher: { id: 'byName', options: column },
      properties: [{ id: 'links', value: links }],
    });
  }
  for (const [column, unit] of Object.entries(o.units ?? {})) {
    overrides.push({ matcher: { id: 'byName', options: column }, properties: [{ id: 'unit', value: unit }] });
  }
  for (const [column, steps] of Object.entries(o.colored ?? {})) {
    overrides.push({
      matcher: { id: 'byName', options: column },
      properties: [
        { id: 'thresholds', value: { mode: 'absolute', steps } },
        { id: 'custom.cellOptions', value: { type: 'color-text' } },
      ],
    });
  }
  return {
    type: 'table',
    title: o.title,
    description: o.description,
    datasource: DATASOURCE,
    targets: targets(o.queries, 'table'),
    fieldConfig: {
      defaults: {
        unit: 'none',
        custom: { align: 'auto', cellOptions: { type: 'auto' }, filterable: true, inspect: false },
      },
      overrides,
    },
    options: {
      showHeader: true,
      cellHeight: 'sm',
      footer: { show: false, reducer: ['sum'], countRows: false, fields: '' },
      sortBy: o.sortBy ? [{ displayName: o.sortBy.column, desc: o.sortBy.desc }] : [],
    },
    transformations,
  };
}

/** Lays panels out left to right in rows of 24 columns, giving each a unique id. */
export class Grid {
  private readonly out: Panel[] = [];
  private nextId = 1;
  private x = 0;
  private y = 0;
  private lineHeight = 0;

  row(title: string): this {
    this.newLine();
    this.out.push({
      id: this.nextId++,
      type: 'row',
      title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y: this.y },
      panels: [],
    });
    this.y += 1;
    return this;
  }

  add(panel: PanelBody, w: number, h: number): this {
    if (w < 1 || w > 24) throw new Error(`panel "${panel.title}": width ${w} is not 1–24`);
    if (this.x + w > 24) this.newLine();
    this.out.push({ id: this.nextId++, gridPos: { h, w, x: this.x, y: this.y }, ...panel });
    this.x += w;
    this.lineHeight = Math.max(this.lineHeight, h);
    return this;
  }

  /** Panels one above the other in a column of width `w` (small stats beside a taller graph). */
  stack(w: number, panels: [PanelBody, number][]): this {
    if (w < 1 || w > 24) throw new Error(`stack of "${panels[0]?.[0].title}": width ${w} is not 1–24`);
    if (this.x + w > 24) this.newLine();
    let y = this.y;
    for (const [panel, h] of panels) {
      if (h < 1) throw new Error(`panel "${panel.title}": height ${h}`);
      this.out.push({ id: this.nextId++, gridPos: { h, w, x: this.x, y }, ...panel });
      y += h;
    }
    this.x += w;
    this.lineHeight = Math.max(this.lineHeight, y - this.y);
    return this;
  }

  panels(): Panel[] {
    return this.out;
  }

  private newLine(): void {
    if (this.x === 0) return;
    this.y += this.lineHeight;
    this.x = 0;
    this.lineHeight = 0;
  }
}

export function datasourceVariable(): Variable {
  return {
    name: 'datasource',
    label: 'Data source',
    description: 'The Prometheus that scrapes trivy-lookout.',
    type: 'datasource',
    query: 'prometheus',
    current: {},
    options: [],
    hide: 0,
    multi: false,
    includeAll: false,
    refresh: 1,
    regex: '',
    skipUrlSync: false,
  };
}

export interface QueryVariableOptions {
  name: string;
  label: string;
  description: string;
  /** `label_values(<selector>, <label>)`. */
  query: string;
  multi: boolean;
  includeAll: boolean;
  allValue?: string;
  hide?: 0 | 2;
}

const ALL: Variable['current'] = { selected: true, text: ['All'], value: ['$__all'] };

export function queryVariable(o: QueryVariableOptions): Variable {
  return {
    name: o.name,
    label: o.label,
    description: o.description,
    type: 'query',
    datasource: DATASOURCE,
    query: o.query,
    definition: o.query,
    current: o.includeAll ? ALL : {},
    options: [],
    hide: o.hide ?? 0,
    multi: o.multi,
    includeAll: o.includeAll,
    ...(o.allValue !== undefined ? { allValue: o.allValue } : {}),
    refresh: 2,
    regex: '',
    sort: 1,
    skipUrlSync: false,
  };
}

export interface CustomVariableOptions {
  name: string;
  label: string;
  description: string;
  options: { text: string; value: string }[];
  multi: boolean;
  includeAll: boolean;
  allValue?: string;
  /** The value selected by default; All when omitted and includeAll. */
  selected?: string;
}

export function customVariable(o: CustomVariableOptions): Variable {
  const chosen = o.options.find((option) => option.value === o.selected);
  if (o.selected !== undefined && !chosen) throw new Error(`variable ${o.name}: ${o.selected} is no option`);
  return {
    name: o.name,
    label: o.label,
    description: o.description,
    type: 'custom',
    query: o.options
      .map((option) => (option.text === option.value ? option.value : `${option.text} : ${option.value}`))
      .join(','),
    current: chosen
      ? {
          selected: true,
          text: o.multi ? [chosen.text] : chosen.text,
          value: o.multi ? [chosen.value] : chosen.value,
        }
      : ALL,
    options: [
      ...(o.includeAll ? [{ selected: !chosen, text: 'All', value: '$__all' }] : []),
      ...o.options.map((option) => ({ selected: option === chosen, text: option.text, value: option.value })),
    ],
    hide: 0,
    multi: o.multi,
    includeAll: o.includeAll,
    ...(o.allValue !== undefined ? { allValue: o.allValue } : {}),
    skipUrlSync: false,
  };
}

/** Free text typed into the dashboard (a CVE id), with a default so the panels show something. */
export function textboxVariable(o: { name: string; label: string; description: string; value: string }): Variable {
  return {
    name: o.name,
    label: o.label,
    description: o.description,
    type: 'textbox',
    query: o.value,
    current: { text: o.value, value: o.value },
    options: [{ selected: true, text: o.value, value: o.value }],
    hide: 0,
    multi: false,
    includeAll: false,
    skipUrlSync: false,
  };
}

export interface DashboardOptions {
  uid: string;
  title: string;
  description: string;
  tags?: string[];
  time?: string;
  variables: Variable[];
  panels: Panel[];
}

export function dashboard(o: DashboardOptions): Dashboard {
  return {
    id: null,
    uid: o.uid,
    title: o.title,
    description: o.description,
    tags: [TAG, 'security', ...(o.tags ?? [])],
    editable: true,
    graphTooltip: 1,
    fiscalYearStartMonth: 0,
    liveNow: false,
    refresh: '5m',
    schemaVersion: SCHEMA_VERSION,
    version: 1,
    weekStart: '',
    time: { from: o.time ?? 'now-24h', to: 'now' },
    timepicker: {},
    timezone: 'browser',
    annotations: {
      list: [
        {
          builtIn: 1,
          datasource: { type: 'grafana', uid: '-- Grafana --' },
          enable: true,
          hide: true,
          iconColor: 'rgba(0, 211, 255, 1)',
          name: 'Annotations & Alerts',
          type: 'dashboard',
        },
      ],
    },
    links: [
      {
        title: 'trivy-lookout',
        type: 'dashboards',
        tags: [TAG],
        asDropdown: true,
        includeVars: true,
        keepTime: true,
        targetBlank: false,
        icon: 'external link',
        tooltip: '',
        url: '',
      },
    ],
    templating: { list: o.variables },
    panels: o.panels,
  };
}
