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
