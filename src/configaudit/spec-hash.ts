/**
 * Trivy-Operator's `resource-spec-hash`, so that the reports it wrote are recognised as current
 * after a switch. Trivy-Operator v0.32.0 hashes (pkg/kube ComputeSpecHash / ComputeHash) the typed
 * Go object its informer cache holds, or only its PodSpec for workloads: FNV-32a over go-spew's
 * `%#v` printing (sorted map keys, no Stringer methods), the decimal sum written with
 * k8s.io/apimachinery's SafeEncodeString alphabet.
 *
 * That printing shows Go's struct layout: every field in declaration order with its Go type,
 * nil against empty, quantities and timestamps by their internals. The layout comes from
 * go-structs.generated.json, which scripts/spec-hash generates from the k8s.io/api version
 * Trivy-Operator v0.32.0 builds with; the same program computes the hash in Go for the tests.
 * The object is brought into the shape that cache holds: decoded from protobuf (empty lists and
 * maps are nil), no managedFields, no last-applied-configuration annotation, no ConfigMap data,
 * apiVersion and kind set.
 *
 * Where the printing cannot be reproduced (a quantity outside int64, a kind without a layout)
 * specHashOf returns undefined and the caller uses its own hash: such a report is audited again.
 */
import schemaJson from './go-structs.generated.json' with { type: 'json' };

interface GoField {
  readonly name: string;
  readonly json?: string;
  readonly inline?: boolean;
  readonly type: string;
}

interface GoType {
  readonly go: string;
  readonly kind: string;
  readonly elem?: string;
  readonly key?: string;
  readonly fields?: readonly GoField[];
  readonly special?: string;
}

interface Schema {
  readonly roots: Readonly<Record<string, string>>;
  readonly types: Readonly<Record<string, GoType>>;
}

const schema = schemaJson as unknown as Schema;

/** Kinds whose hash covers only the pod template's spec. */
const WORKLOAD_SPEC_PATH: Readonly<Record<string, readonly string[]>> = {
  Pod: ['spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  ReplicationController: ['spec', 'template', 'spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

/** apiVersion the cache sets on each kind it hands out. */
const API_VERSIONS: Readonly<Record<string, string>> = {
  Service: 'v1',
  ConfigMap: 'v1',
  ResourceQuota: 'v1',
  LimitRange: 'v1',
  PersistentVolume: 'v1',
  PersistentVolumeClaim: 'v1',
  Node: 'v1',
  Role: 'rbac.authorization.k8s.io/v1',
  RoleBinding: 'rbac.authorization.k8s.io/v1',
  ClusterRole: 'rbac.authorization.k8s.io/v1',
  ClusterRoleBinding: 'rbac.authorization.k8s.io/v1',
  NetworkPolicy: 'networking.k8s.io/v1',
  Ingress: 'networking.k8s.io/v1',
};

/** ConfigMaps whose data Trivy-Operator's cache keeps (its own). */
const KEPT_CONFIGMAPS = new Set(['trivy-operator-policies-config', 'trivy-operator-trivy-config']);
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** The kinds whose hash is Trivy-Operator's. */
export const SPEC_HASH_KINDS: readonly string[] = Object.keys(schema.roots);

class Unsupported extends Error {}

/**
 * Trivy-Operator's resource-spec-hash of an object as the API server serves it (JSON), or
 * undefined when this kind or value cannot be printed as Go would.
 */
export function specHashOf(kind: string, object: Record<string, unknown>): string | undefined {
  const text = goSpewText(kind, object);
  return text === undefined ? undefined : safeEncodedFnv(text);
}

/** go-spew's `%#v` printing of what Trivy-Operator hashes for the object (exported for tests). */
export function goSpewText(kind: string, object: Record<string, unknown>): string | undefined {
  const root = schema.roots[kind];
  if (root === undefined) return undefined;
  const path = WORKLOAD_SPEC_PATH[kind];
  let value: unknown;
  if (path) {
    value = object;
    for (const step of path) value = isRecord(value) ? value[step] : undefined;
  } else {
    value = cachedForm(kind, object);
  }
  try {
    const printer = new SpewPrinter();
    printer.format(root, value, 'json');
    return printer.text();
  } catch (err) {
    if (err instanceof Unsupported) return undefined;
    throw err;
  }
}

/** The object as Trivy-Operator's informer cache transforms it. */
function cachedForm(kind: string, object: Record<string, unknown>): Record<string, unknown> {
  const metadata = isRecord(object.metadata) ? { ...object.metadata } : {};
  delete metadata.managedFields;
  const annotations = metadata.annotations;
  if (isRecord(annotations) && LAST_APPLIED in annotations) {
    const { [LAST_APPLIED]: _dropped, ...rest } = annotations;
    // The cache deletes the key from the map: an emptied map is empty, not nil.
    metadata.annotations = new Map(Object.entries(rest));
  }
  const copy: Record<string, unknown> = {
    ...object,
    kind,
    apiVersion: API_VERSIONS[kind] ?? object.apiVersion,
    metadata,
  };
  if (kind === 'ConfigMap' && !KEPT_CONFIGMAPS.has(String(metadata.name ?? ''))) {
    delete copy.data;
    delete copy.binaryData;
  }
  return copy;
}

/**
 * `json`: a value as the API server serves it (fields by JSON name, absent and empty lists or maps
 * are nil as after protobuf). `go`: a value built here for a special type (fields by Go name,
 * null is nil).
 */
type Mode = 'json' | 'go';

/** A port of go-spew's formatter state for `%#v`, printing from the Go layout in the schema. */
class SpewPrinter {
  private readonly out: string[] = [];
  private ignoreNextType = false;

  text(): string {
    return this.out.join('');
  }

  format(typeId: string, value: unknown, mode: Mode): void {
    const type = schema.types[typeId];
    if (!type) throw new Unsupported(`no layout for ${typeId}`);
    if (type.kind === 'ptr') {
      this.formatPtr(type, value, mode);
      return;
    }
    if (type.special !== undefined && mode === 'json') {
      value = special(type.special, value);
      mode = 'go';
    }
    if (!this.ignoreNextType) this.out.push(`(${type.go})`);
    this.ignoreNextType = false;
    switch (type.kind) {
      case 'bool':
        this.out.push(value === true ? 'true' : 'false');
        return;
      case 'int':
      case 'int8':
      case 'int16':
      case 'int32':
      case 'int64':
      case 'uint':
      case 'uint8':
      case 'uint16':
      case 'uint32':
      case 'uint64':
        this.out.push(integer(value));
        return;
      case 'string':
        if (value !== undefined && value !== null && typeof value !== 'string')
          throw new Unsupported('string expected');
        this.out.push(value ?? '');
        return;
      case 'slice':
        this.formatSlice(type, value, mode);
        return;
      case 'map':
        this.formatMap(type, value, mode);
        return;
      case 'struct':
        this.formatStruct(type, value, mode);
        return;
      default:
        throw new Unsupported(`cannot print Go kind ${type.kind}`);
    }
  }

  private formatPtr(type: GoType, value: unknown, mode: Mode): void {
    const isNil = value === undefined || value === null;
    if (isNil && this.ignoreNextType) {
      // go-spew leaves its flag set here.
      this.out.push('<nil>');
      return;
    }
    const elem = schema.types[type.elem ?? ''];
    if (!elem || elem.kind === 'ptr') throw new Unsupported('pointer to pointer');
    if (isNil) {
      this.out.push(`(${type.go})<nil>`);
      return;
    }
    this.out.push(this.ignoreNextType ? '<*>' : `(*${elem.go})`);
    this.ignoreNextType = true;
    this.format(type.elem ?? '', value, mode);
  }

  private formatSlice(type: GoType, value: unknown, mode: Mode): void {
    let items: readonly unknown[] | null;
    if (typeof value === 'string' && schema.types[type.elem ?? '']?.kind === 'uint8') {
      // []byte travels as base64 in JSON.
      items = [...Buffer.from(value, 'base64')];
    } else if (value === undefined || value === null) {
      items = null;
    } else if (Array.isArray(value)) {
      items = mode === 'json' && value.length === 0 ? null : value;
    } else {
      throw new Unsupported('list expected');
    }
    if (items === null) {
      this.out.push('<nil>');
      return;
    }
    this.out.push('[');
    items.forEach((item, index) => {
      if (index > 0) this.out.push(' ');
      this.ignoreNextType = true;
      this.format(type.elem ?? '', item, mode);
    });
    this.out.push(']');
  }

  private formatMap(type: GoType, value: unknown, mode: Mode): void {
    let entries: [string, unknown][];
    if (value instanceof Map) {
      entries = [...(value as Map<string, unknown>).entries()];
    } else if (value === undefined || value === null) {
      this.out.push('<nil>');
      return;
    } else if (isRecord(value)) {
      entries = Object.entries(value);
      if (mode === 'json' && entries.length === 0) {
        this.out.push('<nil>');
        return;
      }
    } else {
      throw new Unsupported('map expected');
    }
    if (schema.types[type.key ?? '']?.kind !== 'string') throw new Unsupported('map key is not a string');
    entries.sort(([a], [b]) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
    this.out.push('map[');
    entries.forEach(([key, item], index) => {
      if (index > 0) this.out.push(' ');
      this.ignoreNextType = true;
      this.format(type.key ?? '', key, mode);
      this.out.push(':');
      this.ignoreNextType = true;
      this.format(type.elem ?? '', item, mode);
    });
    this.out.push(']');
  }

  private formatStruct(type: GoType, value: unknown, mode: Mode): void {
    if (value !== undefined && value !== null && !isRecord(value)) throw new Unsupported('object expected');
    const record = (value ?? {}) as Record<string, unknown>;
    this.out.push('{');
    (type.fields ?? []).forEach((field, index) => {
      if (index > 0) this.out.push(' ');
      this.out.push(`${field.name}:`);
      let member: unknown;
      if (mode === 'go') member = record[field.name];
      else if (field.inline) member = record;
      else if (field.json !== undefined) member = record[field.json];
      this.format(field.type, member, mode);
    });
    this.out.push('}');
  }
}

function integer(value: unknown): string {
  if (value === undefined || value === null) return '0';
  if (typeof value === 'number' && Number.isSafeInteger(value)) return String(value);
  if (typeof value === 'bigint') return value.toString();
  throw new Unsupported('integer expected');
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Map);
}

// --- special types: their JSON form turned into their Go fields --------------------------------

/** Seconds from year 1 to 1970, Go's internal time offset. */
const UNIX_TO_INTERNAL = 62_135_596_800n;

/**
 * Go's local time zone in Trivy-Operator's image: it has no zoneinfo and no TZ, so Local is a
 * Location named UTC with no zones; timestamps decoded by the API machinery point to it.
 */
const LOCAL_LOCATION = {
  name: 'UTC',
  zone: null,
  tx: null,
  extend: '',
  cacheStart: 0,
  cacheEnd: 0,
  cacheZone: null,
};

function special(kind: string, value: unknown): unknown {
  switch (kind) {
    case 'time':
      return { Time: goTime(value) };
    case 'intorstring':
      if (typeof value === 'number') return { Type: 0, IntVal: value, StrVal: '' };
      if (typeof value === 'string') return { Type: 1, IntVal: 0, StrVal: value };
      if (value === undefined || value === null) return { Type: 0, IntVal: 0, StrVal: '' };
      throw new Unsupported('int or string expected');
    case 'quantity':
      return quantity(value);
    default:
      throw new Unsupported(`no conversion for ${kind}`);
  }
}

/** time.Time of a metav1.Time: seconds only (protobuf drops the rest), in Go's Local zone. */
function goTime(value: unknown): unknown {
  if (value === undefined || value === null || value === '') return { wall: 0, ext: 0, loc: null };
  if (typeof value !== 'string') throw new Unsupported('timestamp expected');
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new Unsupported(`bad timestamp ${value}`);
  const seconds = BigInt(Math.floor(ms / 1000));
  return { wall: 0, ext: seconds + UNIX_TO_INTERNAL, loc: LOCAL_LOCATION };
}

const DECIMAL_SUFFIXES: Readonly<Record<string, number>> = {
  n: -9,
  u: -6,
  m: -3,
  '': 0,
  k: 3,
  M: 6,
  G: 9,
  T: 12,
  P: 15,
  E: 18,
};
const BINARY_SUFFIXES: Readonly<Record<string, number>> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const INT64_MAX = 2n ** 63n - 1n;

/**
 * resource.Quantity's fields after apimachinery's ParseQuantity of the string the API server
 * serves: the int64 fast path only (the `inf.Dec` path, for values beyond int64 or finer than
 * nano, is Unsupported).
 */
function quantity(value: unknown): unknown {
  if (typeof value === 'number') value = String(value);
  if (typeof value !== 'string' || value === '') throw new Unsupported('quantity expected');
  const str = value;
  if (str === '0') return { i: { value: 0, scale: 0 }, d: { Dec: null }, s: '0', Format: 'DecimalSI' };
  const match = /^([+-]?)(\d*)(?:\.(\d*))?([a-zA-Z]*|[eE][+-]?\d+)$/.exec(str);
  if (!match) throw new Unsupported(`quantity ${str}`);
  const [, sign = '', digits = '', fraction, suf = ''] = match;
  const num = digits.replace(/^0+/, '') || '0';
  const denom = fraction ?? '';
  let format: string;
  let exponent: number;
  let mantissa = 1n;
  let precision: number;
  if (suf in DECIMAL_SUFFIXES) {
    format = 'DecimalSI';
    exponent = DECIMAL_SUFFIXES[suf] ?? 0;
  } else if (suf in BINARY_SUFFIXES) {
    format = 'BinarySI';
    exponent = BINARY_SUFFIXES[suf] ?? 0;
  } else if (/^[eE][+-]?\d+$/.test(suf)) {
    format = 'DecimalExponent';
    exponent = Number(suf.slice(1));
  } else {
    throw new Unsupported(`quantity suffix ${suf}`);
  }
  let scale: number;
  if (format === 'BinarySI') {
    scale = 0;
    if (denom.length !== 0) throw new Unsupported('binary quantity with a fraction');
    mantissa = 1n << BigInt(exponent);
    precision = 15 - num.length - Math.trunc((exponent * 3) / 10) - 1;
  } else {
    scale = exponent;
    precision = 18 - (num.length + denom.length);
  }
  if (precision < 0) throw new Unsupported('quantity beyond the int64 fast path');
  scale -= denom.length;
  if (scale < -9) throw new Unsupported('quantity finer than nano');
  const shifted = num + denom;
  const parsed = BigInt(shifted);
  if (parsed > INT64_MAX) throw new Unsupported('quantity beyond int64');
  let result = parsed * mantissa;
  if (result > INT64_MAX) throw new Unsupported('quantity beyond int64');
  if (sign === '-') result = -result;
  let canonical: boolean;
  if (format === 'BinarySI') canonical = exponent % 10 === 0 && (parsed & 7n) !== 0n;
  else canonical = scale % 3 === 0 && !shifted.endsWith('000') && shifted[0] !== '0';
  return { i: { value: result, scale }, d: { Dec: null }, s: canonical ? str : '', Format: format };
}

const SAFE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** FNV-32a of the UTF-8 text, its decimal digits mapped through SafeEncodeString's alphabet. */
function safeEncodedFnv(text: string): string {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(text, 'utf8')) {
    hash ^= byte;
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return [...String(hash >>> 0)].map((digit) => SAFE_ALPHABET[digit.charCodeAt(0) % 27]).join('');
}
