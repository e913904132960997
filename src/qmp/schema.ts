// The schema model: QEMU's `query-qmp-schema` reply turned into a graph of commands, events and types with
// friendly names, for completion, hover, diagnostics and typing `qmp-shell` values.
//
// Building is lazy: fromIntrospection only indexes the entities by name; a type is resolved the first time
// something asks for it, and each resolved type caches its members. The graph is recursive (a block node's
// `file` may be another block node), so types reach each other through the Schema, never by eager copies.
//
// Type names of objects, enums and alternates are masked numbers that change between QEMU versions: they are
// kept on the types for identity inside this process, but describeType never shows them and nothing may store
// them.
import type {
  JsonType,
  SchemaInfo,
  SchemaInfoAlternate,
  SchemaInfoArray,
  SchemaInfoBuiltin,
  SchemaInfoCommand,
  SchemaInfoEnum,
  SchemaInfoEvent,
  SchemaInfoObject,
} from './introspect';
import { validateIntrospection } from './introspect';

/** The kinds of JSON value a position accepts; 'int' is an integer, 'number' any number, 'any' anything. */
export type ValueKind = 'string' | 'int' | 'number' | 'boolean' | 'null' | 'object' | 'array' | 'any';

/** The QEMU version a schema came from (the `qemu` part of `query-version`). */
export interface SchemaVersion {
  major: number;
  minor: number;
  micro: number;
}

/** What every feature-carrying thing offers: the raw list plus the two features clients act on. */
export interface Featured {
  readonly features: readonly string[];
  /** The `deprecated` feature: it works today but will be removed. */
  readonly deprecated: boolean;
  /** The `unstable` feature: experimental (all `x-` names carry it). */
  readonly unstable: boolean;
}

export interface BuiltinType {
  readonly kind: 'builtin';
  readonly name: string;
  readonly jsonType: JsonType;
}

export interface EnumValue extends Featured {
  readonly name: string;
}

export interface EnumType {
  readonly kind: 'enum';
  /** The wire name (a masked number); for identity only. */
  readonly name: string;
  readonly values: readonly EnumValue[];
  value(name: string): EnumValue | undefined;
}

export interface ArrayType {
  readonly kind: 'array';
  readonly name: string;
  readonly element: SchemaType;
}

export interface MemberDef extends Featured {
  readonly name: string;
  readonly type: SchemaType;
  /** Optional members are the ones introspection gives a `default` (always null). */
  readonly optional: boolean;
}

export interface VariantDef {
  /** The tag value that selects this variant. */
  readonly case: string;
  /** The members added by this variant (not repeating the base members); may itself be a union. */
  readonly type: ObjectType;
}

export interface ObjectType extends Featured {
  readonly kind: 'object';
  readonly name: string;
  /** The base members (for a flat union, the common ones, including the tag). */
  readonly members: readonly MemberDef[];
  member(name: string): MemberDef | undefined;
  /** The name of the base member whose value selects a variant; undefined for a plain struct. */
  readonly tag: string | undefined;
  readonly variants: readonly VariantDef[];
  variant(tagValue: string): ObjectType | undefined;
}

export interface AlternateType {
  readonly kind: 'alternate';
  readonly name: string;
  /** The types a value may take; QEMU picks one by the value's JSON type. */
  readonly members: readonly SchemaType[];
}

export type SchemaType = BuiltinType | EnumType | ArrayType | ObjectType | AlternateType;

export interface CommandDef extends Featured {
  readonly name: string;
  /** The argument object, or undefined when the command takes no arguments. */
  readonly argType: ObjectType | undefined;
  readonly retType: SchemaType;
  readonly allowOob: boolean;
  /**
   * True when QEMU accepts argument members the schema does not list. The rule: the command carries the
   * `json-cli` or `json-cli-hotplug` feature (device_add, whose arguments QEMU hands to the device's own
   * properties), or it is one of the commands QEMU has marshalled by hand (`'gen': false` in the QAPI
   * source, which introspection cannot show) and its arguments are not a flat union: device_add in every
   * version, and netdev_add / object-add before they became typed unions (QEMU 6.0). Declared members are
   * still checked; only unknown ones are allowed.
   */
  readonly open: boolean;
}

export interface EventDef extends Featured {
  readonly name: string;
  /** The `data` object, or undefined when the event carries no data. */
  readonly argType: ObjectType | undefined;
}

/** A partial JSON value (arguments typed so far) used to pick union variants; only tag values are read. */
export type PartialValue = unknown;

/** Commands whose arguments QEMU has marshalled by hand (`'gen': false`): open unless typed as a union. */
const HAND_MARSHALLED = new Set(['device_add', 'netdev_add', 'object-add']);
/** Features that say a command takes free-form properties. */
const OPEN_FEATURES = ['json-cli', 'json-cli-hotplug'];

/**
 * A feature no QAPI schema can carry (QAPI names have no ':'), put on the commands a guest agent lists in
 * `guest-info` with `enabled: false` (blocked by its configuration, or while its filesystems are frozen):
 * checks say "disabled" rather than "unknown", completion leaves them out, the guest-agent client refuses them.
 */
export const DISABLED_FEATURE = 'qmp-notebook:disabled';

/** Whether a command is disabled where it would run (DISABLED_FEATURE). */
export function isDisabledCommand(c: { readonly features: readonly string[] }): boolean {
  return c.features.includes(DISABLED_FEATURE);
}

/** Masked type names are decimal numbers; describeType must never print one. */
export function isMaskedTypeName(name: string): boolean {
  return /^\d+$/.test(name);
}

function featured(features: readonly string[] | undefined): Featured {
  const f = features ?? [];
  return { features: f, deprecated: f.includes('deprecated'), unstable: f.includes('unstable') };
}

/** An entity with QAPI features; `deprecated` and `unstable` are derived once, at construction. */
abstract class FeaturedEntity implements Featured {
  readonly features: readonly string[];
  readonly deprecated: boolean;
  readonly unstable: boolean;

  constructor(features: readonly string[] | undefined) {
    ({ features: this.features, deprecated: this.deprecated, unstable: this.unstable } = featured(features));
  }
}

class ObjectTypeImpl extends FeaturedEntity implements ObjectType {
  readonly kind = 'object';
  private membersCache: MemberDef[] | undefined;
  private memberIndex: Map<string, MemberDef> | undefined;
  private variantsCache: VariantDef[] | undefined;

  constructor(private readonly schema: Schema, private readonly info: SchemaInfoObject) {
    super(info.features);
  }

  get name(): string { return this.info.name; }
  get tag(): string | undefined { return this.info.tag; }

  get members(): readonly MemberDef[] {
    if (!this.membersCache) {
      const schema = this.schema;
      this.membersCache = (this.info.members ?? []).map((m) => {
        let resolved: SchemaType | undefined;
        return {
          name: m.name,
          optional: Object.prototype.hasOwnProperty.call(m, 'default'),
          ...featured(m.features),
          // Resolved on first use: the member types of a big union are mostly never looked at.
          get type(): SchemaType { return (resolved ??= schema.resolve(m.type)); },
        };
      });
    }
    return this.membersCache;
  }

  member(name: string): MemberDef | undefined {
    if (!this.memberIndex) this.memberIndex = new Map(this.members.map((m) => [m.name, m]));
    return this.memberIndex.get(name);
  }

  get variants(): readonly VariantDef[] {
    if (!this.variantsCache) {
      const schema = this.schema;
      this.variantsCache = (this.info.variants ?? []).map((v) => {
        let resolved: ObjectType | undefined;
        return {
          case: v.case,
          get type(): ObjectType { return (resolved ??= schema.resolveObject(v.type)); },
        };
      });
    }
    return this.variantsCache;
  }

  variant(tagValue: string): ObjectType | undefined {
    return this.variants.find((v) => v.case === tagValue)?.type;
  }
}

class EnumTypeImpl implements EnumType {
  readonly kind = 'enum';
  readonly values: readonly EnumValue[];
  private index: Map<string, EnumValue> | undefined;

  constructor(info: SchemaInfoEnum) {
    this.name = info.name;
    // `members` carries per-value features since QEMU 6.2; older QEMU only has `values`.
    this.values = info.members
      ? info.members.map((m) => ({ name: m.name, ...featured(m.features) }))
      : (info.values ?? []).map((v) => ({ name: v, ...featured(undefined) }));
  }

  readonly name: string;

  value(name: string): EnumValue | undefined {
    if (!this.index) this.index = new Map(this.values.map((v) => [v.name, v]));
    return this.index.get(name);
  }
}

class ArrayTypeImpl implements ArrayType {
  readonly kind = 'array';
  private resolved: SchemaType | undefined;
  constructor(private readonly schema: Schema, private readonly info: SchemaInfoArray) {}
  get name(): string { return this.info.name; }
  get element(): SchemaType { return (this.resolved ??= this.schema.resolve(this.info['element-type'])); }
}

class AlternateTypeImpl implements AlternateType {
  readonly kind = 'alternate';
  private resolved: SchemaType[] | undefined;
  constructor(private readonly schema: Schema, private readonly info: SchemaInfoAlternate) {}
  get name(): string { return this.info.name; }
  get members(): readonly SchemaType[] {
    return (this.resolved ??= this.info.members.map((m) => this.schema.resolve(m.type)));
  }
}

function hasNoMembers(t: ObjectType): boolean {
  return t.members.length === 0 && t.variants.length === 0;
}

/** A command or event: named, with features and an argument (or data) object resolved on first use. */
abstract class EntityWithArguments<I extends SchemaInfoCommand | SchemaInfoEvent> extends FeaturedEntity {
  private argCache: { t: ObjectType | undefined } | undefined;

  constructor(protected readonly schema: Schema, protected readonly info: I) {
    super(info.features);
  }

  get name(): string { return this.info.name; }

  get argType(): ObjectType | undefined {
    if (!this.argCache) {
      const t = this.schema.resolveObject(this.info['arg-type']);
      this.argCache = { t: hasNoMembers(t) ? undefined : t };
    }
    return this.argCache.t;
  }
}

class CommandDefImpl extends EntityWithArguments<SchemaInfoCommand> implements CommandDef {
  readonly allowOob: boolean;
  private retCache: SchemaType | undefined;

  constructor(schema: Schema, info: SchemaInfoCommand) {
    super(schema, info);
    this.allowOob = info['allow-oob'] === true;
  }

  get retType(): SchemaType { return (this.retCache ??= this.schema.resolve(this.info['ret-type'])); }

  get open(): boolean {
    if (this.features.some((f) => OPEN_FEATURES.includes(f))) return true;
    return HAND_MARSHALLED.has(this.name) && this.argType?.tag === undefined;
  }
}

class EventDefImpl extends EntityWithArguments<SchemaInfoEvent> implements EventDef {}

/** Options for describeType. */
export interface DescribeOptions {
  /** How many levels of nested objects to spell out (default 1). */
  depth?: number;
  /** How many enum values, union cases or members to list before "…" (default 12). */
  maxItems?: number;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function uniq<T>(xs: T[]): T[] {
  return [...new Set(xs)];
}

export class Schema {
  private readonly infos = new Map<string, SchemaInfo>();
  private readonly types = new Map<string, SchemaType>();
  private readonly commandInfos = new Map<string, SchemaInfoCommand>();
  private readonly eventInfos = new Map<string, SchemaInfoEvent>();
  private readonly commandDefs = new Map<string, CommandDef>();
  private readonly eventDefs = new Map<string, EventDef>();
  private commandList: CommandDef[] | undefined;
  private eventList: EventDef[] | undefined;

  private constructor(infos: readonly SchemaInfo[], readonly version: SchemaVersion | undefined) {
    for (const info of infos) {
      if (info['meta-type'] === 'command') this.commandInfos.set(info.name, info);
      else if (info['meta-type'] === 'event') this.eventInfos.set(info.name, info);
      else this.infos.set(info.name, info);
    }
  }

  /**
   * Builds the model from the `return` of `query-qmp-schema` (from a file, a live QEMU or the cache: the one
   * way in). The reply is validated first (validateIntrospection): anything the model could not work with
   * throws SchemaError with a one-line message, so a schema that builds never fails later in completion,
   * hover or diagnostics. Then only indexes by name; types resolve on first use.
   */
  static fromIntrospection(infos: unknown, version?: SchemaVersion): Schema {
    return new Schema(validateIntrospection(infos), version);
  }

  command(name: string): CommandDef | undefined {
    return definitionOf(name, this.commandInfos, this.commandDefs, (info) => new CommandDefImpl(this, info));
  }

  /** Every command, sorted by name. */
  commands(): readonly CommandDef[] {
    return (this.commandList ??= [...this.commandInfos.keys()].sort().map((n) => this.command(n) as CommandDef));
  }

  /** The commands that may run out-of-band (`allow-oob`), sorted by name. */
  oobCommands(): readonly CommandDef[] {
    return this.commands().filter((c) => c.allowOob);
  }

  event(name: string): EventDef | undefined {
    return definitionOf(name, this.eventInfos, this.eventDefs, (info) => new EventDefImpl(this, info));
  }

  /** Every event, sorted by name. */
  events(): readonly EventDef[] {
    return (this.eventList ??= [...this.eventInfos.keys()].sort().map((n) => this.event(n) as EventDef));
  }

  /** The type with this wire name (`str`, `[int]`, or a masked number), or undefined if there is none. */
  type(name: string): SchemaType | undefined {
    const cached = this.types.get(name);
    if (cached) return cached;
    const info = this.infos.get(name);
    if (!info) return undefined;
    let t: SchemaType;
    switch (info['meta-type']) {
      case 'builtin': t = { kind: 'builtin', name: info.name, jsonType: (info as SchemaInfoBuiltin)['json-type'] }; break;
      case 'enum': t = new EnumTypeImpl(info as SchemaInfoEnum); break;
      case 'array': t = new ArrayTypeImpl(this, info as SchemaInfoArray); break;
      case 'object': t = new ObjectTypeImpl(this, info as SchemaInfoObject); break;
      case 'alternate': t = new AlternateTypeImpl(this, info as SchemaInfoAlternate); break;
      default: return undefined;
    }
    this.types.set(name, t);
    return t;
  }

  /** How many entities are indexed and how many types have been resolved so far (laziness is tested). */
  stats(): { entities: number; resolvedTypes: number } {
    return { entities: this.infos.size + this.commandInfos.size + this.eventInfos.size, resolvedTypes: this.types.size };
  }

  /** @internal Resolves a reference; an unknown name becomes `any` so that a damaged schema still works. */
  resolve(name: string): SchemaType {
    const t = this.type(name);
    if (t) return t;
    const fallback: BuiltinType = { kind: 'builtin', name, jsonType: 'value' };
    this.types.set(name, fallback);
    return fallback;
  }

  /** @internal Resolves a reference that must be an object type (arguments, variants). */
  resolveObject(name: string): ObjectType {
    const t = this.type(name);
    if (t?.kind === 'object') return t;
    return new ObjectTypeImpl(this, { name, 'meta-type': 'object', members: [] });
  }

  /**
   * The members that apply to `value` of `type`: the base members, plus those of the variant its tag value
   * selects, recursively (a variant may itself be a union on another tag). Without a value, or with a tag
   * value that is missing or not a case, only the base members.
   */
  membersOf(type: ObjectType, value?: PartialValue): MemberDef[] {
    const out = [...type.members];
    if (type.tag !== undefined && isPlainObject(value)) {
      const tagValue = value[type.tag];
      if (typeof tagValue === 'string') {
        const v = type.variant(tagValue);
        if (v) out.push(...this.membersOf(v, value));
      }
    }
    return out;
  }

  /**
   * Every member any variant could have (base first, then each variant's, first spelling wins). For
   * completion before the tag is typed, and for finding a member whose variant is not known yet.
   */
  allMembersOf(type: ObjectType): MemberDef[] {
    const seen = new Map<string, MemberDef>();
    const visit = (t: ObjectType, depth: number): void => {
      for (const m of t.members) if (!seen.has(m.name)) seen.set(m.name, m);
      if (depth > 8) return;
      for (const v of t.variants) visit(v.type, depth + 1);
    };
    visit(type, 0);
    return [...seen.values()];
  }

  /**
   * The member `name` of `value` of `type`: looked up among the members that apply (membersOf); when a tag
   * on the way is not yet known, among every variant's members, so that typing still works.
   */
  memberOf(type: ObjectType, name: string, value?: PartialValue): MemberDef | undefined {
    const direct = type.member(name);
    if (direct) return direct;
    if (type.tag === undefined) return undefined;
    const tagValue = isPlainObject(value) ? value[type.tag] : undefined;
    if (typeof tagValue === 'string') {
      const v = type.variant(tagValue);
      if (v) return this.memberOf(v, name, value);
      return undefined;
    }
    for (const v of type.variants) {
      const m = this.memberOf(v.type, name, value);
      if (m) return m;
    }
    return undefined;
  }

  /** The JSON kinds a value of `type` may have (an alternate's branches flattened). */
  kindsOf(type: SchemaType): ValueKind[] {
    switch (type.kind) {
      case 'builtin': return [jsonTypeKind(type.jsonType)];
      case 'enum': return ['string'];
      case 'array': return ['array'];
      case 'object': return ['object'];
      case 'alternate': return uniq(type.members.flatMap((m) => this.kindsOf(m)));
    }
  }

  /**
   * The kinds of value accepted at `path` inside the arguments of `command` (`path` is member names, with
   * any segment standing for an array index), for typing `qmp-shell` `key=value` values. Goes through nested
   * objects, arrays, alternates (every branch that has the next segment) and unions (the variant chosen by
   * `partialArgs`, or every variant while the tag is unknown). Undefined when the command or path is
   * unknown; `['any']` for unknown members of an open command and anywhere below an `any`.
   */
  valueKindsAt(command: string, path: readonly string[], partialArgs?: PartialValue): ValueKind[] | undefined {
    const cmd = this.command(command);
    if (!cmd) return undefined;
    const root = cmd.argType ?? this.resolveObject(this.commandInfos.get(command)?.['arg-type'] ?? '0');
    let types: SchemaType[] = [root];
    let value: unknown = partialArgs;
    for (let i = 0; i < path.length; i++) {
      const seg = path[i] as string;
      const next: SchemaType[] = [];
      for (const t of this.expandAlternates(types)) {
        if (t.kind === 'object') {
          const m = this.memberOf(t, seg, value);
          if (m) next.push(m.type);
        } else if (t.kind === 'array') {
          next.push(t.element);
        } else if (t.kind === 'builtin' && t.jsonType === 'value') {
          return ['any'];
        }
      }
      if (next.length === 0) {
        if (i === 0 && cmd.open) return ['any'];
        return undefined;
      }
      value = isPlainObject(value) ? value[seg] : Array.isArray(value) ? value[Number(seg)] : undefined;
      types = uniq(next);
    }
    return uniq(types.flatMap((t) => this.kindsOf(t)));
  }

  private expandAlternates(types: readonly SchemaType[]): SchemaType[] {
    const out: SchemaType[] = [];
    for (const t of types) {
      if (t.kind === 'alternate') out.push(...this.expandAlternates(t.members));
      else out.push(t);
    }
    return out;
  }

  /**
   * Readable text for a type, never showing masked names: `str`, `'a' | 'b'`, `array of int`,
   * `object {id: str, bus?: str}`, `union on \`driver\`: file | null-co | …`, `str | object {…}`.
   */
  describeType(type: SchemaType, options: DescribeOptions = {}): string {
    return this.describe(type, options.depth ?? 1, options.maxItems ?? 12);
  }

  private describe(type: SchemaType, depth: number, maxItems: number): string {
    const list = (items: string[], sep: string): string =>
      items.length > maxItems ? [...items.slice(0, maxItems), '…'].join(sep) : items.join(sep);
    switch (type.kind) {
      case 'builtin':
        return isMaskedTypeName(type.name) ? 'any' : type.name;
      case 'enum':
        return type.values.length === 0 ? 'enum (no values)' : list(type.values.map((v) => `'${v.name}'`), ' | ');
      case 'array': {
        const inner = this.describe(type.element, depth, maxItems);
        return `array of ${inner.includes(' | ') ? `(${inner})` : inner}`;
      }
      case 'alternate':
        return type.members.map((m) => this.describe(m, depth - 1, maxItems)).join(' | ');
      case 'object': {
        if (type.tag !== undefined && type.variants.length > 0) {
          return `union on \`${type.tag}\`: ${list(type.variants.map((v) => v.case), ' | ')}`;
        }
        if (type.members.length === 0) return 'object {}';
        if (depth <= 0) return 'object {…}';
        const members = type.members.map(
          (m) => `${m.name}${m.optional ? '?' : ''}: ${this.describe(m.type, depth - 1, maxItems)}`,
        );
        return `object {${list(members, ', ')}}`;
      }
    }
  }
}

function jsonTypeKind(t: JsonType): ValueKind {
  switch (t) {
    case 'string': return 'string';
    case 'int': return 'int';
    case 'number': return 'number';
    case 'boolean': return 'boolean';
    case 'null': return 'null';
    case 'object': return 'object';
    case 'array': return 'array';
    case 'value': return 'any';
  }
}

/** The definition of `name`, made from its wire entry on first use and kept: the model is built lazily. */
function definitionOf<I, D>(name: string, infos: Map<string, I>, defs: Map<string, D>, make: (info: I) => D): D | undefined {
  let def = defs.get(name);
  if (!def) {
    const info = infos.get(name);
    if (!info) return undefined;
    def = make(info);
    defs.set(name, def);
  }
  return def;
}
