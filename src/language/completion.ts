// Completion for `qmp` cells: a pure function of (text, offset, schema) that returns plain items with
// the offset range each one replaces. The editor adapter turns offsets into positions.
//
// Positions it understands (see docs/editing.md): the command name after `"execute"`/`"exec-oob"`,
// whole-command skeletons at the top level, the keys of the top-level object, members of `arguments`
// at any depth (flat unions resolved by their tag's value, alternates by branch), values (enum values,
// booleans, null, object and array shapes), and the event-wait clause (`wait-event` names, `data` members).

import { cellText, type CellSource } from './parsed';
import { isDisabledCommand, type CommandDef, type EventDef, type MemberDef, type Schema, type SchemaType } from '../qmp/schema';
import { type CursorLocation, type JsonObject, type OffsetRange, locate, pathOf, toPlain } from './jsonCursor';
import { documentedArgumentDetail, documentedArguments, type QmpDocs } from './manpage';
import { type ObjectRole, branches, membersAvailable, roleOf, typesAtPath } from './schemaPath';

export type CompletionItemKind = 'command' | 'event' | 'property' | 'value' | 'enum' | 'keyword' | 'snippet';

export interface CompletionItem {
  label: string;
  kind: CompletionItemKind;
  detail?: string | undefined;
  /** Markdown. */
  documentation?: string | undefined;
  /** The text that replaces `range`; a snippet (`$1`, `${1:x}`, `${1|a,b|}`) when `isSnippet`. */
  insertText: string;
  isSnippet?: boolean;
  /** Offsets of the text the item replaces, `end` exclusive. */
  range: OffsetRange;
  tags?: 'deprecated'[] | undefined;
  sortText?: string;
  filterText?: string;
  /** True when the editor should ask for completion again after inserting (a value follows). */
  retrigger?: boolean;
}

export interface CompletionResult {
  items: CompletionItem[];
}

export interface CompletionContext {
  /** Whether the session negotiated OOB; undefined when there is no session. */
  oobNegotiated?: boolean;
  /** The QMP reference (qemu-qmp-ref(7)): its one-line summaries are added to command and event items. */
  docs?: QmpDocs;
  /** The device types the connected QEMU lists (`qom-list-types`), offered for device_add's `driver`. */
  deviceTypes?: readonly string[];
}

/** Completion at `offset` of a `qmp` cell. Never throws; no schema means only the protocol keys. */
export function complete(source: CellSource, offset: number, schema: Schema | undefined, ctx: CompletionContext = {}): CompletionResult {
  const cell = cellText(source);
  const text = cell.text;
  const objects = cell.objects;
  const { location, object } = locate(text, offset, objects);
  const items: CompletionItem[] = [];
  // An expected reply (`<- …`) belongs to the command sent just before it.
  const index = object !== undefined ? objects.indexOf(object) : -1;
  const before = index > 0 ? objects[index - 1] : undefined;
  const previous = before?.segment.kind === 'send' ? before.root : undefined;
  const expect = object?.segment.kind === 'expect';
  switch (location.kind) {
    case 'top':
      if (expect && location.object !== undefined) {
        const range = wordRange(text, offset);
        rootKeyItems(text, { kind: 'key', object: location.object, range, quoted: false, colonFollows: false, commaNeeded: false },
          location.object, schema, true, ctx, previous, items);
      } else {
        topItems(text, offset, location, schema, ctx, items);
      }
      break;
    case 'key': {
      const root = object?.root;
      if (root === undefined) break;
      if (location.object === root) rootKeyItems(text, location, root, schema, expect, ctx, previous, items);
      else if (schema !== undefined) memberKeyItems(text, location, root, schema, ctx, previous, items);
      break;
    }
    case 'value': {
      const root = object?.root;
      if (root === undefined) break;
      valueItems(text, location, root, schema, ctx, previous, items);
      break;
    }
    case 'none':
      break;
  }
  // Sorted as the editor will show them, so that plain callers (the CLI, tests) see the same order.
  items.sort((a, b) => {
    const x = a.sortText ?? a.label;
    const y = b.sortText ?? b.label;
    return x < y ? -1 : x > y ? 1 : 0;
  });
  return { items };
}

// ---- top level --------------------------------------------------------------------------------------

const WORD = /[A-Za-z0-9_-]/;

function wordRange(text: string, offset: number): OffsetRange {
  let s = offset;
  while (s > 0 && WORD.test(text.charAt(s - 1))) s--;
  let e = offset;
  while (e < text.length && WORD.test(text.charAt(e))) e++;
  return { start: s, end: e };
}

function topItems(
  text: string, offset: number, loc: Extract<CursorLocation, { kind: 'top' }>, schema: Schema | undefined, ctx: CompletionContext, items: CompletionItem[],
): void {
  // The typed text before the word is kept in the filter text, so `{` or `{ ` still matches.
  // An editor replaces text on one line only: braces on other lines stay, and the skeleton goes inside.
  const inside = loc.object !== undefined && text.slice(loc.range.start, loc.range.end).includes('\n');
  const range = inside ? wordRange(text, offset) : loc.range;
  const typed = text.slice(range.start, offset);
  const lead = typed.replace(/[A-Za-z0-9_-]*$/, '');
  const shape = (snippet: string): string => (inside ? snippet.slice(1, -1) : snippet);
  if (schema !== undefined) {
    for (const c of schema.commands()) {
      if (isDisabledCommand(c)) continue; // a guest agent's disabled command would only be refused
      const f = factsOf(schema, c);
      items.push({
        label: c.name, kind: 'snippet', detail: f.detail, documentation: ctx.docs !== undefined ? withSummary(f.doc, ctx.docs.command(c.name)?.summary) : f.doc,
        insertText: shape(skeleton(schema, c)), isSnippet: true, range, filterText: lead + c.name, sortText: f.sortText, tags: f.tags,
      });
    }
  }
  items.push({
    label: 'wait-event', kind: 'snippet', detail: 'wait for an event', insertText: shape('{"wait-event": "$1", "timeout": ${2:5000}}'),
    isSnippet: true, range, filterText: `${lead}wait-event`, sortText: '3wait-event', retrigger: true,
    documentation: 'Waits until QEMU sends the event (optionally with `data` members equal to the given ones), or fails after `timeout` ms.',
  });
  // Inside `{ }`, the protocol keys are useful too; they replace only the word being typed.
  if (loc.object !== undefined) {
    const keyRange = wordRange(text, offset);
    for (const k of ['execute', 'exec-oob', 'id']) {
      items.push(rootKey(k, keyRange, false, false, k === 'id' ? '$1' : '"$1"', '4'));
    }
  }
}

/** Sorting: usable commands first, unstable ones after, deprecated ones last. */
function rank(f: { deprecated: boolean; unstable: boolean }): string {
  return f.deprecated ? '2' : f.unstable ? '1' : '0';
}

const skeletonCache = new WeakMap<CommandDef, string>();

/** `{"execute": "name", "arguments": {required members as placeholders}}` as a snippet. */
function skeleton(schema: Schema, c: CommandDef): string {
  const hit = skeletonCache.get(c);
  if (hit !== undefined) return hit;
  const required = (c.argType?.members ?? []).filter((m) => !m.optional);
  let text: string;
  if (required.length === 0) {
    text = `{"execute": "${c.name}"}`;
  } else {
    const counter = { n: 1 };
    const members = required.map((m) => `"${m.name}": ${placeholder(schema, m.type, counter)}`);
    text = `{"execute": "${c.name}", "arguments": {${members.join(', ')}}}`;
  }
  skeletonCache.set(c, text);
  return text;
}

/** A placeholder of the right JSON shape for a type (enum values offered as a choice). */
function placeholder(schema: Schema, type: SchemaType, counter: { n: number }): string {
  const n = counter.n++;
  const bs = branches([type]);
  if (bs.length === 1) {
    const t = bs[0] as SchemaType;
    if (t.kind === 'enum' && t.values.length > 0) {
      return `"\${${n}|${t.values.filter((v) => !v.deprecated).map((v) => v.name).join(',')}|}"`;
    }
    if (t.kind === 'builtin' && t.jsonType === 'string') return `"$${n}"`;
    if (t.kind === 'builtin' && t.jsonType === 'boolean') return `\${${n}|false,true|}`;
    if (t.kind === 'builtin' && (t.jsonType === 'int' || t.jsonType === 'number')) return `\${${n}:0}`;
    if (t.kind === 'array') return `[$${n}]`;
    if (t.kind === 'object') return `{$${n}}`;
  }
  if (bs.every((t) => t.kind === 'enum' || (t.kind === 'builtin' && t.jsonType === 'string'))) return `"$${n}"`;
  // An alternate starts as its first branch; `any` as null, so the skeleton is valid JSON as inserted.
  const first = bs[0];
  if (bs.length > 1 && first !== undefined && !(first.kind === 'builtin' && first.jsonType === 'value')) {
    counter.n = n;
    return placeholder(schema, first, counter);
  }
  return `\${${n}:null}`;
}

// ---- the keys of the top-level object ----------------------------------------------------------------

function rootKey(
  key: string, range: OffsetRange, quoted: boolean, colonFollows: boolean, valueSnippet: string, sort: string, doc?: string, comma = false,
): CompletionItem {
  const insertText = colonFollows ? `"${key}"` : `"${key}": ${valueSnippet}${comma ? ',' : ''}`;
  return {
    label: key, kind: 'keyword', insertText, isSnippet: !colonFollows, range,
    filterText: quoted ? `"${key}"` : key, sortText: sort + key, retrigger: !colonFollows && valueSnippet.startsWith('"'),
    ...(doc !== undefined ? { documentation: doc } : {}),
  };
}

function rootKeyItems(
  _text: string, loc: Extract<CursorLocation, { kind: 'key' }>, root: JsonObject, schema: Schema | undefined,
  expect: boolean, ctx: CompletionContext, previous: JsonObject | undefined, items: CompletionItem[],
): void {
  const present = new Set(root.properties.filter((p) => p !== loc.property).map((p) => p.key));
  const role = roleOf(root, schema, previous);
  const offer: [string, string, string][] = [];
  if (expect || role.role === 'reply' || role.role === 'event') {
    const sent = previous !== undefined ? roleOf(previous, schema) : undefined;
    const ret = sent?.role === 'command' ? sent.def?.retType : undefined;
    offer.push(['return', ret !== undefined ? valueSnippetFor(ret) : '{$1}', 'The expected reply value.'], ['error', '{"class": "$1", "desc": "$2"}', 'The expected error.'],
      ['event', '"$1"', 'The expected event name.'], ['data', '{$1}', 'The expected event data.'], ['id', '$1', 'The id the reply carries.']);
  } else if (role.role === 'wait') {
    offer.push(['wait-event', '"$1"', 'The event to wait for.'],
      ['data', '{$1}', 'Members the event data must have (equal values; a subset of the data).'],
      ['timeout', '${1:5000}', 'How long to wait, in milliseconds.']);
  } else {
    if (!present.has('execute') && !present.has('exec-oob')) {
      offer.push(['execute', '"$1"', 'The command to run.']);
      const oobNote = ctx.oobNegotiated === false ? ' This session did not negotiate OOB, so QEMU will refuse it.' : '';
      offer.push(['exec-oob', '"$1"', `The command to run out-of-band (only commands that allow OOB).${oobNote}`]);
      if (role.role === 'unknown') offer.push(['wait-event', '"$1"', 'Wait for an event instead of running a command.']);
    }
    const def = role.role === 'command' ? role.def : undefined;
    if (def === undefined || def.argType !== undefined) offer.push(['arguments', '{$1}', 'The arguments of the command.']);
    offer.push(['id', '"$1"', 'An id QEMU copies into the reply (any JSON value; strings are safest).']);
  }
  for (const [key, value, doc] of offer) {
    if (present.has(key)) continue;
    const item = rootKey(key, loc.range, loc.quoted, loc.colonFollows, value, '0', doc, loc.commaNeeded);
    if (key === 'arguments' || key === 'data' || key === 'return') item.retrigger = !loc.colonFollows;
    items.push(item);
  }
}

// ---- members of arguments / data, at any depth ---------------------------------------------------------

function memberKeyItems(
  _text: string, loc: Extract<CursorLocation, { kind: 'key' }>, root: JsonObject, schema: Schema, ctx: CompletionContext,
  previous: JsonObject | undefined, items: CompletionItem[],
): void {
  const role = roleOf(root, schema, previous);
  const path = pathOf(loc.object);
  const types = typesAtPath(schema, root, role, path);
  if (types.length === 0) return;
  const members = membersAvailable(schema, types, loc.object);
  // The man page documents the members of a command's arguments and an event's data (as hover does, only at
  // the first level: deeper objects are types the schema masks, which the man page cannot be matched to).
  const entity = path.length === 1 && (role.role === 'command' || role.role === 'wait' || role.role === 'event') ? role.name : undefined;
  const tags = entity !== undefined && ctx.docs !== undefined ? toPlain(loc.object) as Record<string, unknown> : {};
  const present = new Set(loc.object.properties.filter((p) => p !== loc.property).map((p) => p.key));
  let index = 0;
  for (const m of members) {
    index++;
    if (present.has(m.name)) continue;
    const value = valueSnippetFor(m.type);
    const insertText = loc.colonFollows ? `"${m.name}"` : `"${m.name}": ${value}${loc.commaNeeded ? ',' : ''}`;
    const group = m.deprecated ? '2' : m.optional ? '1' : '0';
    items.push({
      label: m.name, kind: 'property', detail: memberDetail(schema, m),
      documentation: withSummary(memberDoc(schema, m), entity !== undefined ? ctx.docs?.member(entity, m.name, tags)?.markdown : undefined),
      insertText, isSnippet: !loc.colonFollows, range: loc.range, filterText: loc.quoted ? `"${m.name}"` : m.name,
      sortText: `${group}${String(index).padStart(4, '0')}`,
      retrigger: !loc.colonFollows && (value.startsWith('"') || value.includes('|')),
      ...(m.deprecated ? { tags: ['deprecated' as const] } : {}),
    });
  }
  // A command whose schema lists no members but accepts any (a guest agent's: guest-info publishes no types)
  // is completed from the man page's Arguments, with the type only where the page states one.
  if (members.length === 0 && entity !== undefined && role.role === 'command' && role.def?.open === true && ctx.docs !== undefined) {
    for (const m of documentedArguments(ctx.docs, entity, tags)) {
      index++;
      if (present.has(m.name)) continue;
      const value = valueSnippetForDocType(m.type);
      const insertText = loc.colonFollows ? `"${m.name}"` : `"${m.name}": ${value}${loc.commaNeeded ? ',' : ''}`;
      items.push({
        label: m.name, kind: 'property', detail: documentedArgumentDetail(m),
        documentation: m.markdown, insertText, isSnippet: !loc.colonFollows, range: loc.range, filterText: loc.quoted ? `"${m.name}"` : m.name,
        sortText: `${m.optional ? '1' : '0'}${String(index).padStart(4, '0')}`,
        retrigger: !loc.colonFollows && (value.startsWith('"') || value.includes('|')),
      });
    }
  }
}

/** The value snippet for a type as the man page states it (`string`, `boolean`, `array of …`); `$1` otherwise. */
function valueSnippetForDocType(type: string | undefined): string {
  if (type === 'string') return '"$1"';
  if (type === 'boolean') return '${1|false,true|}';
  if (type !== undefined && /^array of /.test(type)) return '[$1]';
  return '$1';
}

/** What follows `"key": ` when a key is inserted: an empty value of the right shape. */
function valueSnippetFor(type: SchemaType): string {
  const bs = branches([type]);
  if (bs.every((t) => t.kind === 'enum' || (t.kind === 'builtin' && t.jsonType === 'string'))) return '"$1"';
  if (bs.every((t) => t.kind === 'object')) return '{$1}';
  if (bs.every((t) => t.kind === 'array')) return '[$1]';
  if (bs.every((t) => t.kind === 'builtin' && t.jsonType === 'boolean')) return '${1|false,true|}';
  return '$1';
}

function memberDetail(schema: Schema, m: MemberDef): string {
  const flags = [m.optional ? 'optional' : 'required'];
  if (m.deprecated) flags.push('deprecated');
  if (m.unstable) flags.push('unstable');
  return `${schema.describeType(m.type, { depth: 0, maxItems: 6 })} (${flags.join(', ')})`;
}

function memberDoc(schema: Schema, m: MemberDef): string {
  const lines = [`\`${m.name}\`: ${schema.describeType(m.type, { depth: 1, maxItems: 12 })}`, '', m.optional ? 'Optional.' : 'Required.'];
  if (m.features.length > 0) lines.push(`Features: ${m.features.join(', ')}.`);
  return lines.join('\n');
}

// ---- values ----------------------------------------------------------------------------------------

function valueItems(
  text: string, loc: Extract<CursorLocation, { kind: 'value' }>, root: JsonObject, schema: Schema | undefined, ctx: CompletionContext,
  previous: JsonObject | undefined, items: CompletionItem[],
): void {
  const holder = loc.holder;
  const filter = (label: string): string => (text.charAt(loc.range.start) === '"' ? `"${label}"` : label);
  if (holder.type === 'property' && holder.parent === root) {
    if (schema === undefined) return;
    const key = holder.key;
    if (key === 'execute' || key === 'exec-oob') {
      const oobOnly = key === 'exec-oob';
      const quotedRange = text.charAt(loc.range.start) === '"';
      for (const c of schema.commands()) {
        if ((oobOnly && !c.allowOob) || isDisabledCommand(c)) continue;
        const f = factsOf(schema, c);
        items.push({
          label: c.name, kind: 'command', detail: f.detail, documentation: ctx.docs !== undefined ? withSummary(f.doc, ctx.docs.command(c.name)?.summary) : f.doc,
          insertText: f.quoted, range: loc.range, filterText: quotedRange ? f.quoted : c.name, sortText: f.sortText, tags: f.tags,
        });
      }
      return;
    }
    if (key === 'wait-event' || key === 'event') {
      for (const e of schema.events()) {
        items.push({
          label: e.name, kind: 'event', detail: eventDetail(schema, e), documentation: withSummary(undefined, ctx.docs?.event(e.name)?.summary), insertText: `"${e.name}"`, range: loc.range,
          filterText: filter(e.name), sortText: rank(e) + e.name, ...(e.deprecated ? { tags: ['deprecated' as const] } : {}),
        });
      }
      return;
    }
  }
  if (schema === undefined) return;
  const role: ObjectRole = roleOf(root, schema, previous);
  const path = holder.type === 'property' ? [...pathOf(holder.parent), holder.key] : [...pathOf(holder), holder.items.length];
  // device_add's `driver` is any string to the schema: offer the device types QEMU listed, or nothing at all.
  if (role.role === 'command' && role.name === 'device_add' && path.length === 2 && path[0] === 'arguments' && path[1] === 'driver') {
    for (const d of ctx.deviceTypes ?? []) {
      items.push({ label: d, kind: 'value', detail: 'device type', insertText: `"${d}"`, range: loc.range, filterText: filter(d), sortText: `1${d}` });
    }
    return;
  }
  const types = typesAtPath(schema, root, role, path);
  if (types.length === 0) return;
  const bs = branches(types);
  const seen = new Set<string>();
  for (const t of bs) {
    if (t.kind !== 'enum') continue;
    for (const v of t.values) {
      if (seen.has(v.name)) continue;
      seen.add(v.name);
      items.push({
        label: v.name, kind: 'enum', insertText: `"${v.name}"`, range: loc.range, filterText: filter(v.name),
        sortText: rank(v) + v.name, ...(v.deprecated ? { tags: ['deprecated' as const], detail: 'deprecated' } : v.unstable ? { detail: 'unstable' } : {}),
      });
    }
  }
  // A string has been opened: only string values make sense.
  if (loc.quoted) return;
  if (bs.some((t) => t.kind === 'builtin' && (t.jsonType === 'boolean' || t.jsonType === 'value'))) {
    for (const b of ['true', 'false']) items.push({ label: b, kind: 'keyword', insertText: b, range: loc.range, sortText: `5${b}` });
  }
  if (bs.some((t) => t.kind === 'builtin' && (t.jsonType === 'null' || t.jsonType === 'value'))) {
    items.push({ label: 'null', kind: 'keyword', insertText: 'null', range: loc.range, sortText: '5null' });
  }
  const objects = bs.filter((t) => t.kind === 'object');
  if (objects.length > 0) {
    const o = objects[0];
    const counter = { n: 1 };
    const required = o !== undefined && o.kind === 'object' ? o.members.filter((m) => !m.optional) : [];
    const body = required.map((m) => `"${m.name}": ${placeholder(schema, m.type, counter)}`).join(', ');
    items.push({
      label: '{}', kind: 'snippet', detail: schema.describeType(o as SchemaType, { depth: 0 }), insertText: body === '' ? '{$1}' : `{${body}}`,
      isSnippet: true, range: loc.range, sortText: '6{}', retrigger: body === '',
    });
  }
  const arrays = bs.filter((t) => t.kind === 'array');
  if (arrays.length > 0) {
    const a = arrays[0];
    const el = a !== undefined && a.kind === 'array' ? branches([a.element]) : [];
    const inner = el.length === 1 && el[0]?.kind === 'object' ? '{$1}' : el.every((t) => t.kind === 'enum' || (t.kind === 'builtin' && t.jsonType === 'string')) ? '"$1"' : '$1';
    items.push({
      label: '[]', kind: 'snippet', detail: schema.describeType(a as SchemaType, { depth: 0 }), insertText: `[${inner}]`,
      isSnippet: true, range: loc.range, sortText: '6[]', retrigger: true,
    });
  }
}

/** What every completion item for a command shares, computed once per command. */
interface CommandFacts {
  detail: string;
  doc: string;
  sortText: string;
  quoted: string;
  tags: 'deprecated'[] | undefined;
}

const factsCache = new WeakMap<CommandDef, CommandFacts>();

function factsOf(schema: Schema, c: CommandDef): CommandFacts {
  let f = factsCache.get(c);
  if (f === undefined) {
    f = {
      detail: commandDetail(schema, c), doc: commandDoc(schema, c), sortText: rank(c) + c.name, quoted: `"${c.name}"`,
      tags: c.deprecated ? ['deprecated'] : undefined,
    };
    factsCache.set(c, f);
  }
  return f;
}

// ---- details --------------------------------------------------------------------------------------

const detailCache = new WeakMap<CommandDef, string>();
const docCache = new WeakMap<CommandDef, string>();

/** `(device, id?) → object {…}` with unstable/allow-oob marks: fits on one completion row. */
export function commandDetail(schema: Schema, c: CommandDef): string {
  const hit = detailCache.get(c);
  if (hit !== undefined) return hit;
  const members = c.argType?.members ?? [];
  const shown = members.slice(0, 4).map((m) => `${m.name}${m.optional ? '?' : ''}`);
  if (members.length > 4) shown.push('…');
  let ret = schema.describeType(c.retType, { depth: 0, maxItems: 3 });
  if (ret === 'object {}') ret = '{}';
  const marks = [c.allowOob ? 'allow-oob' : '', c.unstable ? 'unstable' : '', c.deprecated ? 'deprecated' : ''].filter((x) => x !== '');
  const text = `(${shown.join(', ')}) → ${ret}${marks.length > 0 ? `  [${marks.join(', ')}]` : ''}`;
  detailCache.set(c, text);
  return text;
}

function commandDoc(schema: Schema, c: CommandDef): string {
  const hit = docCache.get(c);
  if (hit !== undefined) return hit;
  const lines = [`**${c.name}**`, ''];
  lines.push(`Arguments: ${c.argType !== undefined ? schema.describeType(c.argType, { depth: 1, maxItems: 10 }) : 'none'}`, '');
  lines.push(`Returns: ${schema.describeType(c.retType, { depth: 1, maxItems: 10 })}`);
  if (c.features.length > 0) lines.push('', `Features: ${c.features.join(', ')}`);
  const text = lines.join('\n');
  docCache.set(c, text);
  return text;
}

function withSummary(doc: string, summary: string | undefined): string;
function withSummary(doc: string | undefined, summary: string | undefined): string | undefined;
function withSummary(doc: string | undefined, summary: string | undefined): string | undefined {
  if (summary === undefined || summary === '') return doc;
  return doc === undefined ? summary : `${summary}\n\n${doc}`;
}

function eventDetail(schema: Schema, e: EventDef): string {
  return e.argType !== undefined ? `data: ${schema.describeType(e.argType, { depth: 0, maxItems: 4 })}` : 'no data';
}
