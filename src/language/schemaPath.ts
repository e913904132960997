// Maps a position in a `qmp` cell object to the schema: which command or event the object is about,
// and which types a JSON path inside its `arguments` (or an event's `data`) may have. Shared by
// completion, hover and quick fixes so that they agree on what a position means.

import type { CommandDef, EventDef, MemberDef, ObjectType, Schema, SchemaType } from '../qmp/schema';
import { type JsonNode, type JsonObject, propertyOf, stringValueOf, toPlain } from './jsonCursor';

/** How a cell object names its command: `execute`, `exec-oob`, or the 2018 `control` spelling. */
export type CommandSpelling = 'execute' | 'exec-oob' | 'control';

/** What a top-level object of a cell is. */
export type ObjectRole =
  | { role: 'command'; name: string | undefined; spelling: CommandSpelling; def: CommandDef | undefined }
  | { role: 'wait'; name: string | undefined; def: EventDef | undefined }
  | { role: 'event'; name: string | undefined; def: EventDef | undefined }
  | { role: 'reply'; command: CommandDef | undefined }
  | { role: 'unknown' };

/**
 * Classifies a top-level object by the keys it has. `previous` is the object before it in the cell:
 * an expected reply (`<- {"return": …}`) is the reply of the command there.
 */
export function roleOf(root: JsonObject, schema: Schema | undefined, previous?: JsonObject): ObjectRole {
  const execOob = propertyOf(root, 'exec-oob');
  const execute = propertyOf(root, 'execute');
  if (execOob !== undefined || execute !== undefined) {
    const name = stringValueOf(root, execOob !== undefined ? 'exec-oob' : 'execute');
    const control = propertyOf(root, 'control');
    const spelling: CommandSpelling = execOob !== undefined ? 'exec-oob' : control !== undefined ? 'control' : 'execute';
    return { role: 'command', name, spelling, def: name !== undefined ? schema?.command(name) : undefined };
  }
  if (propertyOf(root, 'wait-event') !== undefined) {
    const name = stringValueOf(root, 'wait-event');
    return { role: 'wait', name, def: name !== undefined ? schema?.event(name) : undefined };
  }
  if (propertyOf(root, 'event') !== undefined) {
    const name = stringValueOf(root, 'event');
    return { role: 'event', name, def: name !== undefined ? schema?.event(name) : undefined };
  }
  if (propertyOf(root, 'return') !== undefined || propertyOf(root, 'error') !== undefined) {
    const before = previous !== undefined ? roleOf(previous, schema) : undefined;
    return { role: 'reply', command: before?.role === 'command' ? before.def : undefined };
  }
  return { role: 'unknown' };
}

/** The type of the value of a top-level key (`arguments` of a command, `data` of an event, `return` of a reply). */
export function rootValueType(role: ObjectRole, key: string | number): SchemaType | undefined {
  if (role.role === 'command' && key === 'arguments') return role.def?.argType ?? emptyIfKnown(role.def);
  if (role.role === 'reply' && key === 'return') return role.command?.retType;
  if ((role.role === 'wait' || role.role === 'event') && key === 'data') return role.def?.argType ?? emptyIfKnown(role.def);
  return undefined;
}

const EMPTY: ObjectType = {
  kind: 'object', name: '0', members: [], tag: undefined, variants: [], features: [], deprecated: false, unstable: false,
  member: () => undefined, variant: () => undefined,
};

function emptyIfKnown(def: CommandDef | EventDef | undefined): ObjectType | undefined {
  return def !== undefined ? EMPTY : undefined;
}

/** Flattens alternates into their branches. */
export function branches(types: readonly SchemaType[]): SchemaType[] {
  const out: SchemaType[] = [];
  for (const t of types) {
    if (t.kind === 'alternate') out.push(...branches(t.members));
    else out.push(t);
  }
  return out;
}

/** The member of an object type that a key names, given the object's current value (for unions). */
export function memberIn(schema: Schema, type: ObjectType, key: string, value: JsonObject | undefined): MemberDef | undefined {
  return schema.memberOf(type, key, type.tag !== undefined ? toPlain(value) : undefined);
}

/**
 * The types a path below a top-level key may have: `path` is the full JSON path from the top-level
 * object (`['arguments', 'options', 'driver']`). Alternates branch; unknown steps end the walk.
 */
export function typesAtPath(schema: Schema, root: JsonObject, role: ObjectRole, path: readonly (string | number)[]): SchemaType[] {
  if (path.length === 0) return [];
  const top = rootValueType(role, path[0] as string | number);
  if (top === undefined) return [];
  let types: SchemaType[] = [top];
  let node: JsonNode | undefined = propertyOf(root, path[0] as string)?.value;
  for (let i = 1; i < path.length; i++) {
    const step = path[i] as string | number;
    const next: SchemaType[] = [];
    for (const t of branches(types)) {
      if (typeof step === 'string' && t.kind === 'object') {
        const m = memberIn(schema, t, step, node?.type === 'object' ? node : undefined);
        if (m !== undefined) next.push(m.type);
      } else if (typeof step === 'number' && t.kind === 'array') {
        next.push(t.element);
      }
    }
    if (next.length === 0) return [];
    types = [...new Set(next)];
    if (node?.type === 'object' && typeof step === 'string') node = propertyOf(node, step)?.value;
    else if (node?.type === 'array' && typeof step === 'number') node = node.items[step];
    else node = undefined;
  }
  return types;
}

/** The members an object node may have, over every object branch of its possible types. */
export function membersAvailable(schema: Schema, types: readonly SchemaType[], node: JsonObject): MemberDef[] {
  const seen = new Map<string, MemberDef>();
  let value: unknown;
  for (const t of branches(types)) {
    if (t.kind !== 'object') continue;
    if (t.tag !== undefined && value === undefined) value = toPlain(node);
    for (const m of schema.membersOf(t, value)) if (!seen.has(m.name)) seen.set(m.name, m);
  }
  return [...seen.values()];
}

/** The QEMU version a schema came from, as `10.0.13`. */
export function versionText(schema: Schema | undefined): string | undefined {
  const v = schema?.version;
  return v !== undefined ? `${v.major}.${v.minor}.${v.micro}` : undefined;
}
