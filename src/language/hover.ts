// Hover for `qmp` and `qmp-shell` cells: what a command, member, enum value or event is, written from
// the schema (types readable, never QEMU's masked numbers) and, when the man page is installed, its
// documentation. A pure function of (text, offset, schema, docs).

import { cellText, type CellSource } from './parsed';
import { DISABLED_FEATURE, type CommandDef, type EventDef, type MemberDef, type Schema, type SchemaType } from '../qmp/schema';
import { type OffsetRange, nodeAt, objectAt, pathOf, toPlain } from './jsonCursor';
import { documentedArguments, type QmpDocEntity, type QmpDocMember, type QmpDocs } from './manpage';
import { branches, membersAvailable, roleOf, typesAtPath, versionText } from './schemaPath';
import { type ShellWord, shellWordAt } from './shellCompletion';

/** The documentation hover shows: the `qemu-qmp-ref(7)` reader (manpage.ts). */
export type HoverDocs = QmpDocs;

export interface HoverContext {
  /** The schema came from the cache, not from the running QEMU. */
  cached?: boolean;
  /** What the schema is when it is not a QEMU's (the bundled one before any connection); the footer says so. */
  schemaLabel?: string | undefined;
  /** The cell's language; 'qmp' unless said otherwise. */
  language?: 'qmp' | 'qmp-shell';
}

export interface HoverResult {
  /** Markdown. */
  contents: string;
  range: OffsetRange;
}

/** Hover at `offset`; undefined where there is nothing to say. */
export function hover(source: CellSource, offset: number, schema: Schema | undefined, docs?: HoverDocs, ctx: HoverContext = {}): HoverResult | undefined {
  if (schema === undefined) return undefined;
  const cell = cellText(source);
  const text = cell.text;
  if (ctx.language === 'qmp-shell') return shellHover(cell, offset, schema, docs, ctx);
  const objects = cell.objects;
  const parsed = objectAt(objects, offset, text) ?? objects.find((o) => o.segment.start === offset);
  if (parsed?.root === undefined) return undefined;
  const at = nodeAt(parsed, offset);
  if (at === undefined) return undefined;
  const root = parsed.root;
  // An expected reply (`<- …`) belongs to the command sent just before it.
  const before = objects[objects.indexOf(parsed) - 1];
  const role = roleOf(root, schema, before?.segment.kind === 'send' ? before.root : undefined);
  const footer = schemaFooter(schema, ctx);

  if (at.kind === 'key' && at.property.parent === root) {
    const key = at.property.key;
    if ((key === 'execute' || key === 'exec-oob' || key === 'control') && role.role === 'command' && role.def !== undefined) {
      return { contents: commandMarkdown(schema, role.def, docs, footer), range: at.range };
    }
    const text = TOP_KEY_DOCS[key];
    return text !== undefined ? { contents: `\`${key}\`: ${text}`, range: at.range } : undefined;
  }
  if (at.kind === 'value' && at.scalar.parent?.type === 'property' && at.scalar.parent.parent === root) {
    const key = at.scalar.parent.key;
    const name = typeof at.scalar.value === 'string' ? at.scalar.value : undefined;
    if (name === undefined) return undefined;
    if (key === 'execute' || key === 'exec-oob') {
      const def = schema.command(name);
      return def !== undefined ? { contents: commandMarkdown(schema, def, docs, footer), range: at.range } : undefined;
    }
    if (key === 'wait-event' || key === 'event') {
      const def = schema.event(name);
      return def !== undefined ? { contents: eventMarkdown(schema, def, docs, footer), range: at.range } : undefined;
    }
    return undefined;
  }
  const entity = role.role === 'command' || role.role === 'wait' || role.role === 'event' ? role.name : undefined;
  if (at.kind === 'key') {
    const obj = at.property.parent;
    const path = pathOf(obj);
    const types = typesAtPath(schema, root, role, path);
    const member = membersAvailable(schema, types, obj).find((m) => m.name === at.property.key);
    const tags = toPlain(obj) as Record<string, unknown>;
    if (member === undefined) {
      // An open command whose schema lists no members (a guest agent's): the man page's own entry, if any.
      if (path.length !== 1 || role.role !== 'command' || role.def?.open !== true || entity === undefined || docs === undefined) return undefined;
      const documented = documentedArguments(docs, entity, tags).find((m) => m.name === at.property.key);
      return documented !== undefined ? { contents: documentedMemberMarkdown(documented, entity, footer), range: at.range } : undefined;
    }
    const doc = path.length === 1 && entity !== undefined ? docs?.member(entity, member.name, tags)?.markdown : undefined;
    return { contents: memberMarkdown(schema, member, path.length === 1 ? entity : undefined, doc, footer), range: at.range };
  }
  // A value inside arguments/data: an enum value says what it is.
  const holder = at.scalar.parent;
  if (holder === undefined || at.scalar.type !== 'string') return undefined;
  const path = holder.type === 'property' ? [...pathOf(holder.parent), holder.key] : [...pathOf(holder), holder.items.indexOf(at.scalar)];
  const types = typesAtPath(schema, root, role, path);
  const md = enumValueMarkdown(schema, types, String(at.scalar.value), footer);
  return md !== undefined ? { contents: md, range: at.range } : undefined;
}

const TOP_KEY_DOCS: Record<string, string> = {
  execute: 'the command to run, in band (one after another, in order).',
  'exec-oob': 'the command to run out-of-band: it may overtake in-band commands. Needs the `oob` capability and a command that allows OOB.',
  arguments: 'the arguments object of the command.',
  id: 'any JSON value; QEMU copies it into the reply so that replies can be matched (strings are safest).',
  control: 'the 2018 draft spelling of out-of-band execution (`"control": {"run-oob": true}`); released QEMU uses `exec-oob`.',
  'wait-event': 'waits for this event before the next command runs (not sent to QEMU).',
  data: 'members the event data must have, with equal values.',
  timeout: 'how long to wait, in milliseconds.',
};

function schemaFooter(schema: Schema, ctx: HoverContext): string {
  if (ctx.schemaLabel !== undefined) return `_Schema: ${ctx.schemaLabel}._`;
  const v = versionText(schema);
  if (v === undefined) return ctx.cached === true ? '_Schema from the cache._' : '';
  return `_Schema of QEMU ${v}${ctx.cached === true ? ' (cached: not connected to this QEMU)' : ''}._`;
}

function join(parts: (string | undefined)[]): string {
  return parts.filter((p): p is string => p !== undefined && p !== '').join('\n\n');
}

function flags(f: { deprecated: boolean; unstable: boolean; features: readonly string[] }): string | undefined {
  const out: string[] = [];
  if (f.deprecated) out.push('**Deprecated**: it still works but will be removed.');
  if (f.unstable) out.push('**Unstable**: experimental, may change without notice.');
  if (f.features.includes(DISABLED_FEATURE)) {
    out.push("**Disabled** in this guest agent (blocked by its configuration, or while the guest's filesystems are frozen): it is not sent.");
  }
  const other = f.features.filter((x) => x !== 'deprecated' && x !== 'unstable' && x !== DISABLED_FEATURE);
  if (other.length > 0) out.push(`Features: ${other.map((x) => `\`${x}\``).join(', ')}.`);
  return out.length > 0 ? out.join(' ') : undefined;
}

/** The markdown for a command; exported for the shell hover and tests. */
export function commandMarkdown(schema: Schema, def: CommandDef, docs: HoverDocs | undefined, footer: string): string {
  const listed = def.argType !== undefined && def.argType.members.length > 0;
  const args = !listed && def.open
    // A schema that lists no arguments but accepts any (the guest agent's, made from guest-info).
    ? 'Arguments: not listed by the schema; the manual below describes them.'
    : !listed || def.argType === undefined
    ? 'Arguments: none.'
    : ['Arguments:', ...membersList(schema, def.argType.tag !== undefined ? schema.membersOf(def.argType) : def.argType.members),
      ...(def.argType.tag !== undefined ? [`- …and the members of the variant: ${schema.describeType(def.argType, { maxItems: 10 })}`] : [])].join('\n');
  return join([
    `**${def.name}** (command)`,
    args,
    `Returns: ${schema.describeType(def.retType, { depth: 1, maxItems: 8 })}`,
    def.allowOob ? 'Can run out-of-band (`allow-oob`): send it with `exec-oob`.' : undefined,
    def.open && listed ? 'Accepts members the schema does not list (the properties of the device or object).' : undefined,
    flags(def),
    docBody(docs?.command(def.name)),
    footer,
  ]);
}

/**
 * The man page's entry without its own first line (`**name** (Command)`): the hover already starts with the
 * name and kind, and saying it twice pushes the description down.
 */
function docBody(entity: QmpDocEntity | undefined): string | undefined {
  if (entity === undefined) return undefined;
  const heading = `**${entity.name}** (`;
  if (!entity.markdown.startsWith(heading)) return entity.markdown;
  const end = entity.markdown.indexOf('\n\n');
  return end < 0 ? undefined : entity.markdown.slice(end + 2);
}

function membersList(schema: Schema, members: readonly MemberDef[]): string[] {
  const shown = members.slice(0, 15).map((m) =>
    `- \`${m.name}\`${m.optional ? ' (optional)' : ''}: ${schema.describeType(m.type, { depth: 0, maxItems: 6 })}${m.deprecated ? ' — deprecated' : ''}`);
  if (members.length > 15) shown.push(`- …${members.length - 15} more`);
  return shown;
}

export function eventMarkdown(schema: Schema, def: EventDef, docs: HoverDocs | undefined, footer: string): string {
  const data = def.argType === undefined || def.argType.members.length === 0
    ? 'No data.'
    : ['Data:', ...membersList(schema, def.argType.members)].join('\n');
  return join([`**${def.name}** (event)`, data, flags(def), docBody(docs?.event(def.name)), footer]);
}

export function memberMarkdown(schema: Schema, m: MemberDef, entity: string | undefined, doc: string | undefined, footer: string): string {
  return join([
    `**${m.name}**${entity !== undefined ? ` (member of \`${entity}\`)` : ''}: ${m.optional ? 'optional' : 'required'}`,
    `Type: ${schema.describeType(m.type, { depth: 1, maxItems: 12 })}`,
    flags(m),
    doc,
    footer,
  ]);
}

/** A member known only from the man page: its stated type (or that none is stated) and its text. */
export function documentedMemberMarkdown(m: QmpDocMember, entity: string, footer: string): string {
  return join([
    `**${m.name}** (member of \`${entity}\`): ${m.optional ? 'optional' : 'required'}`,
    `Type: ${m.type ?? 'not documented'} (from the manual; the schema does not list this member)`,
    m.markdown,
    footer,
  ]);
}

function enumValueMarkdown(schema: Schema, types: readonly SchemaType[], value: string, footer: string): string | undefined {
  for (const t of branches(types)) {
    if (t.kind !== 'enum') continue;
    const v = t.value(value);
    if (v === undefined) continue;
    return join([`**${value}**: one of ${schema.describeType(t, { maxItems: 12 })}`, flags(v), footer]);
  }
  return undefined;
}

// ---- qmp-shell ------------------------------------------------------------------------------------

function shellHover(cell: CellSource, offset: number, schema: Schema, docs: HoverDocs | undefined, ctx: HoverContext): HoverResult | undefined {
  const word: ShellWord | undefined = shellWordAt(cell, offset, schema);
  if (word === undefined) return undefined;
  const footer = schemaFooter(schema, ctx);
  switch (word.kind) {
    case 'command': {
      const def = schema.command(word.name);
      return def !== undefined ? { contents: commandMarkdown(schema, def, docs, footer), range: word.range } : undefined;
    }
    case 'event': {
      const def = schema.event(word.name);
      return def !== undefined ? { contents: eventMarkdown(schema, def, docs, footer), range: word.range } : undefined;
    }
    case 'key': {
      if (word.member === undefined) {
        // An open command whose schema lists no members (a guest agent's): the manual's entry, if any.
        const def = word.entity !== undefined && word.path.length === 1 ? schema.command(word.entity) : undefined;
        if (def?.open !== true || docs === undefined) return undefined;
        const documented = documentedArguments(docs, def.name).find((m) => m.name === word.path[0]);
        return documented !== undefined ? { contents: documentedMemberMarkdown(documented, def.name, footer), range: word.range } : undefined;
      }
      const doc = word.path.length === 1 && word.entity !== undefined ? docs?.member(word.entity, word.member.name, word.args)?.markdown : undefined;
      return { contents: memberMarkdown(schema, word.member, word.path.length === 1 ? word.entity : undefined, doc, footer), range: word.range };
    }
    case 'value': {
      const md = enumValueMarkdown(schema, word.types, word.value, footer);
      return md !== undefined ? { contents: md, range: word.range } : undefined;
    }
  }
}
