// Wire types of the reply to `query-qmp-schema`, spelled exactly as QEMU's `qapi/introspect.json` spells
// them ('meta-type', 'arg-type', 'allow-oob', ...). Nothing here is interpreted: friendlier names and the
// resolved type graph live in schema.ts. QEMU masks the names of objects, enums and alternates as numbers
// ("0", "262") that change between versions, so nothing outside this process may keep them.

/** `SchemaMetaType`: what kind of entity a `SchemaInfo` describes. */
export type SchemaMetaType = 'builtin' | 'enum' | 'array' | 'object' | 'alternate' | 'command' | 'event';

/** `JSONType`: the JSON type a builtin is carried as; 'value' means any JSON value. */
export type JsonType = 'string' | 'number' | 'int' | 'boolean' | 'null' | 'object' | 'array' | 'value';

/** Fields every `SchemaInfo` has. `features` is absent when there are none. */
interface SchemaInfoBase {
  name: string;
  'meta-type': SchemaMetaType;
  features?: string[];
}

/** `SchemaInfoBuiltin`: `str`, `int` (every integer width), `number`, `bool`, `null`, `any`. */
export interface SchemaInfoBuiltin extends SchemaInfoBase {
  'meta-type': 'builtin';
  'json-type': JsonType;
}

/** `SchemaInfoEnumMember` (QEMU 6.2 and later): one value and its features. */
export interface SchemaInfoEnumMember {
  name: string;
  features?: string[];
}

/** `SchemaInfoEnum`: `members` appeared in 6.2; `values` is the older list, kept for compatibility. */
export interface SchemaInfoEnum extends SchemaInfoBase {
  'meta-type': 'enum';
  members?: SchemaInfoEnumMember[];
  values?: string[];
}

/** `SchemaInfoArray`: the name is `[T]` for element type T. */
export interface SchemaInfoArray extends SchemaInfoBase {
  'meta-type': 'array';
  'element-type': string;
}

/** `SchemaInfoObjectMember`: a member is optional exactly when `default` is present (its value is always null). */
export interface SchemaInfoObjectMember {
  name: string;
  type: string;
  default?: unknown;
  features?: string[];
}

/** `SchemaInfoObjectVariant`: when the tag member has the value `case`, the members of `type` apply too. */
export interface SchemaInfoObjectVariant {
  case: string;
  type: string;
}

/** `SchemaInfoObject`: a struct, or a flat union when `tag` and `variants` are present. */
export interface SchemaInfoObject extends SchemaInfoBase {
  'meta-type': 'object';
  members: SchemaInfoObjectMember[];
  tag?: string;
  variants?: SchemaInfoObjectVariant[];
}

/** `SchemaInfoAlternateMember`: one of the types an alternate may take. */
export interface SchemaInfoAlternateMember {
  type: string;
}

/** `SchemaInfoAlternate`: a value of any one of the member types, told apart by JSON type. */
export interface SchemaInfoAlternate extends SchemaInfoBase {
  'meta-type': 'alternate';
  members: SchemaInfoAlternateMember[];
}

/** `SchemaInfoCommand`: `arg-type` is always an object type (possibly the empty one). */
export interface SchemaInfoCommand extends SchemaInfoBase {
  'meta-type': 'command';
  'arg-type': string;
  'ret-type': string;
  'allow-oob'?: boolean;
}

/** `SchemaInfoEvent`: `arg-type` is the object type of the event's `data`. */
export interface SchemaInfoEvent extends SchemaInfoBase {
  'meta-type': 'event';
  'arg-type': string;
}

/** `SchemaInfo`: one element of the array `query-qmp-schema` returns. */
export type SchemaInfo =
  | SchemaInfoBuiltin
  | SchemaInfoEnum
  | SchemaInfoArray
  | SchemaInfoObject
  | SchemaInfoAlternate
  | SchemaInfoCommand
  | SchemaInfoEvent;

// ---------------------------------------------------------------------------------------------------------
// Validation at the boundary. Every schema the model is built from passes here first: a schema file, the live
// reply from QEMU and the cached copy alike. Strict about the structure the model depends on (names, meta-types,
// the type references and their kinds, cycles the model would follow forever), lenient about optional extras
// that vary between QEMU versions (`features`, enum `members` vs `values`, `allow-oob`, `default`, `if`,
// unknown keys), so that every real schema from QEMU 2.5 to 10.x passes.

const META_TYPES: ReadonlySet<string> = new Set(['builtin', 'enum', 'array', 'object', 'alternate', 'command', 'event']);
const JSON_TYPES: ReadonlySet<string> = new Set(['string', 'number', 'int', 'boolean', 'null', 'object', 'array', 'value']);

/** Where in a schema a problem is: the entity's index and name, and the member when there is one. */
export interface SchemaProblemPlace {
  /** Index of the entity in the array (0-based). */
  index?: number;
  name?: string;
  member?: string;
}

/**
 * A `query-qmp-schema` reply the model cannot be built from. `code` is stable (decide on it or on
 * `instanceof`, never on the class name); the message is one line that says where and what.
 */
export class SchemaError extends Error {
  readonly code = 'QMP_SCHEMA_INVALID';
  constructor(message: string, readonly place: SchemaProblemPlace = {}) {
    super(message);
  }
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  switch (typeof v) {
    case 'string': return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
    case 'number': return `the number ${String(v)}`;
    case 'boolean': return String(v);
    case 'object': return 'an object';
    default: return typeof v;
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function quote(name: string): string {
  return JSON.stringify(name.length > 60 ? `${name.slice(0, 60)}…` : name);
}

/**
 * Checks that `value` is a `query-qmp-schema` reply the model can be built from, and returns it typed.
 * Throws SchemaError with a one-line message naming the entity (index and name), the member and the problem.
 *
 * Type references must name an entity of the schema (a dangling name is refused rather than guessed at: real
 * QEMU never sends one, so it means a damaged or hand-edited file); arguments, event data and union variants
 * must be object types; a cycle of array elements, alternate branches or union variants (which no real schema
 * has, and which the model would follow forever) is refused. Linear in the size of the schema.
 */
export function validateIntrospection(value: unknown): SchemaInfo[] {
  if (!Array.isArray(value)) {
    throw new SchemaError(`a query-qmp-schema reply is a JSON array of entities, found ${kindOf(value)}`);
  }
  const types = new Map<string, { index: number; metaType: string }>();
  const commands = new Set<string>();
  const events = new Set<string>();

  const fail = (index: number, name: string | undefined, what: string, member?: string): never => {
    const where = `entity ${index}${name !== undefined ? ` (${quote(name)})` : ''}`;
    throw new SchemaError(`invalid query-qmp-schema: ${where}${member !== undefined ? `, member ${quote(member)}` : ''}: ${what}`,
      { index, ...(name !== undefined ? { name } : {}), ...(member !== undefined ? { member } : {}) });
  };
  const stringList = (index: number, name: string, v: unknown, what: string): void => {
    if (v === undefined) return;
    if (!Array.isArray(v)) fail(index, name, `${what} must be an array of strings, found ${kindOf(v)}`);
    (v as unknown[]).forEach((s, k) => { if (typeof s !== 'string') fail(index, name, `${what}[${k}] must be a string, found ${kindOf(s)}`); });
  };
  const refString = (index: number, name: string, v: unknown, what: string, member?: string): void => {
    if (typeof v !== 'string' || v === '') fail(index, name, `${what} must be a type name, found ${kindOf(v)}`, member);
  };

  // Pass 1: shape of every entity, names indexed per namespace.
  for (let index = 0; index < value.length; index++) {
    const e: unknown = value[index];
    if (!isRecord(e)) fail(index, undefined, `expected an object with "name" and "meta-type", found ${kindOf(e)}`);
    const entity = e as Record<string, unknown>;
    const name = entity['name'];
    if (typeof name !== 'string' || name === '') fail(index, undefined, `"name" must be a non-empty string, found ${kindOf(name)}`);
    const n = name as string;
    const meta = entity['meta-type'];
    if (meta === undefined) fail(index, n, 'missing "meta-type"');
    if (typeof meta !== 'string' || !META_TYPES.has(meta)) fail(index, n, `unknown "meta-type" ${kindOf(meta)}`);
    stringList(index, n, entity['features'], '"features"');
    switch (meta) {
      case 'builtin':
        if (typeof entity['json-type'] !== 'string' || !JSON_TYPES.has(entity['json-type'])) fail(index, n, `"json-type" must be one of ${[...JSON_TYPES].join(', ')}, found ${kindOf(entity['json-type'])}`);
        break;
      case 'enum': {
        const members = entity['members'];
        const values = entity['values'];
        if (members === undefined && values === undefined) fail(index, n, 'an enum needs "members" or "values"');
        stringList(index, n, values, '"values"');
        if (members !== undefined) {
          if (!Array.isArray(members)) fail(index, n, `"members" must be an array, found ${kindOf(members)}`);
          (members as unknown[]).forEach((m, k) => {
            if (!isRecord(m) || typeof m['name'] !== 'string') fail(index, n, `"members"[${k}] must be an object with a string "name", found ${kindOf(m)}`);
            stringList(index, n, (m as Record<string, unknown>)['features'], `"members"[${k}].features`);
          });
        }
        break;
      }
      case 'array':
        refString(index, n, entity['element-type'], '"element-type"');
        break;
      case 'object': {
        const members = entity['members'];
        if (!Array.isArray(members)) fail(index, n, `"members" must be an array, found ${kindOf(members)}`);
        (members as unknown[]).forEach((m, k) => {
          if (!isRecord(m)) fail(index, n, `"members"[${k}] must be an object, found ${kindOf(m)}`);
          const mm = m as Record<string, unknown>;
          if (typeof mm['name'] !== 'string' || mm['name'] === '') fail(index, n, `"members"[${k}] needs a non-empty string "name", found ${kindOf(mm['name'])}`);
          refString(index, n, mm['type'], '"type"', mm['name'] as string);
          stringList(index, n, mm['features'], `"members"[${k}].features`);
        });
        if (entity['tag'] !== undefined && typeof entity['tag'] !== 'string') fail(index, n, `"tag" must be a string, found ${kindOf(entity['tag'])}`);
        const variants = entity['variants'];
        if (variants !== undefined) {
          if (!Array.isArray(variants)) fail(index, n, `"variants" must be an array, found ${kindOf(variants)}`);
          if (typeof entity['tag'] !== 'string') fail(index, n, '"variants" without a "tag"');
          (variants as unknown[]).forEach((v, k) => {
            if (!isRecord(v) || typeof v['case'] !== 'string') fail(index, n, `"variants"[${k}] needs a string "case", found ${kindOf(v)}`);
            refString(index, n, (v as Record<string, unknown>)['type'], `"variants"[${k}].type`);
          });
        }
        break;
      }
      case 'alternate': {
        const members = entity['members'];
        if (!Array.isArray(members) || members.length === 0) fail(index, n, `"members" must be a non-empty array, found ${kindOf(members)}`);
        (members as unknown[]).forEach((m, k) => {
          if (!isRecord(m)) fail(index, n, `"members"[${k}] must be an object, found ${kindOf(m)}`);
          refString(index, n, (m as Record<string, unknown>)['type'], `"members"[${k}].type`);
        });
        break;
      }
      case 'command':
        refString(index, n, entity['arg-type'], '"arg-type"');
        refString(index, n, entity['ret-type'], '"ret-type"');
        if (entity['allow-oob'] !== undefined && typeof entity['allow-oob'] !== 'boolean') fail(index, n, `"allow-oob" must be true or false, found ${kindOf(entity['allow-oob'])}`);
        break;
      case 'event':
        refString(index, n, entity['arg-type'], '"arg-type"');
        break;
    }
    const namespace = meta === 'command' ? commands : meta === 'event' ? events : undefined;
    if (namespace !== undefined) {
      if (namespace.has(n)) fail(index, n, `a second ${meta as string} of this name`);
      namespace.add(n);
    } else {
      const earlier = types.get(n);
      if (earlier !== undefined) fail(index, n, `a second type of this name (the first is entity ${earlier.index})`);
      types.set(n, { index, metaType: meta as string });
    }
  }

  // Pass 2: every reference names a type of the right kind.
  const infos = value as SchemaInfo[];
  const ref = (index: number, name: string, target: string, what: string, needObject: boolean, member?: string): void => {
    const t = types.get(target);
    if (t === undefined) fail(index, name, `${what} names the type ${quote(target)}, which the schema does not define`, member);
    else if (needObject && t.metaType !== 'object') fail(index, name, `${what} must name an object type, but ${quote(target)} is ${t.metaType === 'array' || t.metaType === 'alternate' ? 'an' : 'a'} ${t.metaType}`, member);
  };
  infos.forEach((info, index) => {
    switch (info['meta-type']) {
      case 'array': ref(index, info.name, info['element-type'], '"element-type"', false); break;
      case 'object':
        for (const m of info.members) ref(index, info.name, m.type, '"type"', false, m.name);
        for (const v of info.variants ?? []) ref(index, info.name, v.type, `variant ${quote(v.case)}`, true);
        break;
      case 'alternate': for (const m of info.members) ref(index, info.name, m.type, 'a branch', false); break;
      case 'command':
        ref(index, info.name, info['arg-type'], '"arg-type"', true);
        ref(index, info.name, info['ret-type'], '"ret-type"', false);
        break;
      case 'event': ref(index, info.name, info['arg-type'], '"arg-type"', true); break;
      default: break;
    }
  });

  // Pass 3: no cycle through array elements, alternate branches or union variants (iterative DFS).
  const byName = new Map<string, SchemaInfo>();
  for (const info of infos) if (info['meta-type'] !== 'command' && info['meta-type'] !== 'event') byName.set(info.name, info);
  const edges = (info: SchemaInfo): string[] => {
    switch (info['meta-type']) {
      case 'array': return [info['element-type']];
      case 'alternate': return info.members.map((m) => m.type);
      case 'object': return (info.variants ?? []).map((v) => v.type);
      default: return [];
    }
  };
  const state = new Map<string, 1 | 2>(); // 1: on the current path, 2: done
  for (const start of byName.keys()) {
    if (state.has(start)) continue;
    const stack: { name: string; next: string[]; k: number }[] = [];
    const push = (name: string): void => {
      state.set(name, 1);
      const info = byName.get(name);
      stack.push({ name, next: info ? edges(info) : [], k: 0 });
    };
    push(start);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { name: string; next: string[]; k: number };
      if (top.k >= top.next.length) {
        state.set(top.name, 2);
        stack.pop();
        continue;
      }
      const to = top.next[top.k++] as string;
      const s = state.get(to);
      if (s === 1) {
        const from = stack.findIndex((f) => f.name === to);
        const cycle = [...stack.slice(from).map((f) => f.name), to].map(quote).join(' → ');
        const t = types.get(to);
        fail(t?.index ?? 0, to, `cyclic type: ${cycle} (through array elements, alternate branches or union variants)`);
      }
      if (s === undefined) push(to);
    }
  }
  return infos;
}
