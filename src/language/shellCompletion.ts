// Completion (and the word lookup hover uses) for `qmp-shell` cells, QEMU's shorthand:
//   command key=value key.sub=value ...
//   transaction(            one action per line, `type key=value ...`, closed by `)`
//   wait-event NAME key=value timeout=ms
// Words are split by the one qmp-shell tokenizer (format/shellTokens.ts); a key's dots walk into nested objects.

import { cellText, type CellSource, type CellText } from './parsed';
import { isDisabledCommand, type MemberDef, type ObjectType, type Schema, type SchemaType } from '../qmp/schema';
import type { CompletionItem, CompletionResult } from './completion';
import { documentedArgumentDetail, documentedArguments, type QmpDocs } from './manpage';
import type { OffsetRange } from './jsonCursor';
import { branches } from './schemaPath';
import { tokenizeShellLine, type ShellLine, type ShellToken } from '../format/shellTokens';

type Word = ShellToken;

interface LineContext {
  /** The line's words. */
  words: Word[];
  /** Inside a `transaction(` block: the first word is an action type. */
  inTransaction: boolean;
  lineStart: number;
  lineEnd: number;
  /** A `#` or `//` comment line. */
  comment: boolean;
}

function lineAt(cell: CellText, offset: number): LineContext {
  const text = cell.text;
  const at = Math.max(0, Math.min(offset, text.length));
  const line = cell.shellLines.find((l) => l.start <= at && at <= l.end) as ShellLine;
  let { start: lineStart, end: lineEnd } = line;
  const inTransaction = line.inTransaction;
  if (line.comment) return { words: [], inTransaction, lineStart, lineEnd, comment: true };
  if (!inTransaction) return { words: line.tokens, inTransaction, lineStart, lineEnd, comment: false };
  // `;` separates actions on one line: the action is the part around the cursor.
  const before = text.lastIndexOf(';', offset - 1);
  if (before >= lineStart) lineStart = before + 1;
  const after = text.indexOf(';', offset);
  if (after >= 0 && after < lineEnd) lineEnd = after;
  return { words: tokenizeShellLine(text.slice(lineStart, lineEnd), lineStart).tokens, inTransaction, lineStart, lineEnd, comment: false };
}

/**
 * Every line of a shell cell with its words, in one linear pass (comment lines left out). Transaction blocks
 * are reported as such, their actions not split at `;`.
 */
export function shellLineWords(source: CellSource): Array<{ words: Array<OffsetRange & { text: string }>; inTransaction: boolean }> {
  return cellText(source).shellLines.filter((l) => !l.comment).map((l) => ({ words: l.tokens, inTransaction: l.inTransaction }));
}

/** The object type a shell line's keys belong to, and the name docs know it by. */
interface KeyScope {
  type: ObjectType | undefined;
  /** Command or event name (for docs), when the keys are its top-level members. */
  entity?: string | undefined;
  /** Keys that may always be given (`timeout` for wait-event). */
  extra: string[];
  isEvent: boolean;
}

function transactionActionType(schema: Schema): { tag: string; type: ObjectType } | undefined {
  const actions = schema.command('transaction')?.argType?.member('actions')?.type;
  if (actions?.kind !== 'array' || actions.element.kind !== 'object' || actions.element.tag === undefined) return undefined;
  return { tag: actions.element.tag, type: actions.element };
}

function scopeOf(schema: Schema, line: LineContext): KeyScope {
  const first = line.words[0]?.text;
  if (first === undefined) return { type: undefined, extra: [], isEvent: false };
  if (line.inTransaction) {
    const action = transactionActionType(schema);
    const variant = action?.type.variant(first);
    const data = variant !== undefined ? schema.membersOf(variant).find((m) => m.name === 'data')?.type : undefined;
    return { type: data?.kind === 'object' ? data : undefined, extra: [], isEvent: false };
  }
  if (first === 'wait-event') {
    const name = line.words[1]?.text;
    const def = name !== undefined ? schema.event(name) : undefined;
    return { type: def?.argType, entity: name, extra: ['timeout'], isEvent: true };
  }
  const def = schema.command(first.replace(/\($/, ''));
  return { type: def?.argType, entity: def?.name, extra: [], isEvent: false };
}

/** The partial arguments of a line (for union variants): `a.b=c` becomes `{a: {b: 'c'}}`. */
function partialArgs(words: Word[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const w of words.slice(1)) {
    const eq = w.text.indexOf('=');
    if (eq <= 0 || w.text.startsWith('--')) continue;
    const keys = w.text.slice(0, eq).split('.');
    let target = out;
    for (let k = 0; k < keys.length - 1; k++) {
      const key = keys[k] as string;
      const next = target[key];
      if (next === null || typeof next !== 'object') target[key] = {};
      target = target[key] as Record<string, unknown>;
    }
    target[keys[keys.length - 1] as string] = unquote(w.text.slice(eq + 1));
  }
  return out;
}

function unquote(v: string): string {
  return /^(["']).*\1$/.test(v) ? v.slice(1, -1) : v;
}

/** The types at a dotted path below the scope's object (numbers index arrays). */
function typesAt(schema: Schema, scope: ObjectType, path: string[], args: Record<string, unknown>): SchemaType[] {
  let types: SchemaType[] = [scope];
  let value: unknown = args;
  for (const step of path) {
    const next: SchemaType[] = [];
    for (const t of branches(types)) {
      if (t.kind === 'object') {
        const m = schema.memberOf(t, step, value);
        if (m !== undefined) next.push(m.type);
      } else if (t.kind === 'array' && /^\d+$/.test(step)) next.push(t.element);
    }
    if (next.length === 0) return [];
    types = next;
    value = value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[step] : undefined;
  }
  return types;
}

function membersAt(schema: Schema, types: SchemaType[], value: unknown): MemberDef[] {
  const seen = new Map<string, MemberDef>();
  for (const t of branches(types)) {
    if (t.kind !== 'object') continue;
    for (const m of schema.membersOf(t, value)) if (!seen.has(m.name)) seen.set(m.name, m);
  }
  return [...seen.values()];
}

function valueAtPath(args: Record<string, unknown>, path: string[]): unknown {
  let v: unknown = args;
  for (const p of path) v = v !== null && typeof v === 'object' ? (v as Record<string, unknown>)[p] : undefined;
  return v;
}

function rankOf(f: { deprecated: boolean; unstable: boolean }): string {
  return f.deprecated ? '2' : f.unstable ? '1' : '0';
}

/** Completion at `offset` of a `qmp-shell` cell. */
export function completeShell(source: CellSource, offset: number, schema: Schema | undefined, docs?: QmpDocs): CompletionResult {
  const items: CompletionItem[] = [];
  if (schema === undefined) return { items };
  const cell = cellText(source);
  const text = cell.text;
  const line = lineAt(cell, offset);
  if (line.comment) return { items };
  const index = line.words.findIndex((w) => offset >= w.start && offset <= w.end);
  const word = index >= 0 ? line.words[index] : undefined;
  const position = index >= 0 ? index : line.words.filter((w) => w.end < offset).length;
  const range: OffsetRange = word !== undefined ? { start: word.start, end: word.end } : { start: offset, end: offset };

  if (position === 0) {
    if (line.inTransaction) {
      const action = transactionActionType(schema);
      const tagType = action?.type.member(action.tag)?.type;
      if (tagType?.kind === 'enum') {
        for (const v of tagType.values) {
          items.push({ label: v.name, kind: 'enum', insertText: `${v.name} `, range, sortText: rankOf(v) + v.name, retrigger: true,
            ...(v.deprecated ? { tags: ['deprecated' as const] } : {}) });
        }
      }
      items.push({ label: ')', kind: 'keyword', insertText: ')', range, sortText: '9)', detail: 'end of the transaction' });
      return { items };
    }
    for (const c of schema.commands()) {
      if (isDisabledCommand(c)) continue;
      const members = c.argType?.members ?? [];
      items.push({
        label: c.name, kind: 'command', insertText: c.name === 'transaction' ? 'transaction(' : members.length > 0 ? `${c.name} ` : c.name,
        range, sortText: rankOf(c) + c.name, retrigger: members.length > 0,
        detail: members.filter((m) => !m.optional).map((m) => `${m.name}=`).join(' ') || undefined,
        ...(c.deprecated ? { tags: ['deprecated' as const] } : {}),
      });
    }
    items.push({ label: 'wait-event', kind: 'keyword', insertText: 'wait-event ', range, sortText: '3wait-event', retrigger: true, detail: 'NAME key=value timeout=ms' });
    return { items };
  }
  const first = line.words[0]?.text;
  if (first === 'wait-event' && position === 1) {
    for (const e of schema.events()) {
      items.push({ label: e.name, kind: 'event', insertText: e.name, range, sortText: rankOf(e) + e.name,
        ...(e.deprecated ? { tags: ['deprecated' as const] } : {}) });
    }
    return { items };
  }
  const typed = word !== undefined ? text.slice(word.start, offset) : '';
  if (typed.startsWith('-')) {
    // Options of the shorthand: `--oob` for commands that allow it, `--id=` anywhere.
    const def = line.inTransaction ? undefined : schema.command(first ?? '');
    if (def?.allowOob === true) items.push({ label: '--oob', kind: 'keyword', insertText: '--oob', range, detail: 'send with exec-oob' });
    if (def !== undefined) items.push({ label: '--id=', kind: 'keyword', insertText: '--id=', range, detail: 'the id of the command' });
    return { items };
  }
  const scope = scopeOf(schema, line);
  // An open command whose schema lists no members (a guest agent's) may still have arguments in its manual.
  const documented = !scope.isEvent && scope.entity !== undefined && docs !== undefined && schema.command(scope.entity)?.open === true;
  if (scope.type === undefined && scope.extra.length === 0 && !documented) return { items };
  const eq = typed.indexOf('=');
  const args = partialArgs(line.words.filter((w) => w !== word));
  if (eq < 0) {
    // A key, possibly dotted: complete the last segment.
    const dot = typed.lastIndexOf('.');
    const path = dot >= 0 ? typed.slice(0, dot).split('.') : [];
    const segStart = (word?.start ?? offset) + dot + 1;
    let segEnd = offset;
    while (segEnd < (word?.end ?? offset) && /[A-Za-z0-9_-]/.test(text.charAt(segEnd))) segEnd++;
    const keyRange = { start: segStart, end: segEnd };
    const types = scope.type !== undefined ? typesAt(schema, scope.type, path, args) : [];
    const present = new Set(path.length === 0 ? Object.keys(args) : Object.keys((valueAtPath(args, path) ?? {}) as object));
    let n = 0;
    for (const m of membersAt(schema, types, valueAtPath(args, path))) {
      n++;
      if (present.has(m.name)) continue;
      const isObject = branches([m.type]).every((t) => t.kind === 'object');
      items.push({
        label: m.name, kind: 'property', insertText: isObject ? `${m.name}.` : `${m.name}=`, range: keyRange,
        detail: `${schema.describeType(m.type, { depth: 0, maxItems: 6 })} (${m.optional ? 'optional' : 'required'})`,
        sortText: `${m.deprecated ? '2' : m.optional ? '1' : '0'}${String(n).padStart(4, '0')}`, retrigger: true,
        ...(m.deprecated ? { tags: ['deprecated' as const] } : {}),
      });
    }
    // An open command whose schema lists no members (a guest agent's): the arguments its manual documents.
    if (n === 0 && path.length === 0 && documented && scope.entity !== undefined && docs !== undefined) {
      for (const m of documentedArguments(docs, scope.entity)) {
        n++;
        if (present.has(m.name)) continue;
        items.push({
          label: m.name, kind: 'property', insertText: `${m.name}=`, range: keyRange, documentation: m.markdown,
          detail: documentedArgumentDetail(m),
          sortText: `${m.optional ? '1' : '0'}${String(n).padStart(4, '0')}`, retrigger: true,
        });
      }
    }
    if (path.length === 0) {
      for (const x of scope.extra) {
        if (!present.has(x)) items.push({ label: x, kind: 'property', insertText: `${x}=`, range: keyRange, sortText: `3${x}`, detail: 'milliseconds' });
      }
    }
    items.sort((a, b) => ((a.sortText ?? a.label) < (b.sortText ?? b.label) ? -1 : 1));
    return { items };
  }
  // A value after `=`: enum values, booleans, null.
  if (scope.type === undefined || word === undefined) return { items };
  const path = typed.slice(0, eq).split('.');
  const valueRange = { start: word.start + eq + 1, end: word.end };
  const types = branches(typesAt(schema, scope.type, path, args));
  for (const t of types) {
    if (t.kind === 'enum') {
      for (const v of t.values) {
        items.push({ label: v.name, kind: 'enum', insertText: v.name, range: valueRange, sortText: rankOf(v) + v.name,
          ...(v.deprecated ? { tags: ['deprecated' as const] } : {}) });
      }
    }
  }
  if (types.some((t) => t.kind === 'builtin' && t.jsonType === 'boolean')) {
    for (const b of ['true', 'false']) items.push({ label: b, kind: 'keyword', insertText: b, range: valueRange, sortText: `5${b}` });
  }
  if (types.some((t) => t.kind === 'builtin' && t.jsonType === 'null')) {
    items.push({ label: 'null', kind: 'keyword', insertText: 'null', range: valueRange, sortText: '5null' });
  }
  items.sort((a, b) => ((a.sortText ?? a.label) < (b.sortText ?? b.label) ? -1 : 1));
  return { items };
}

/** What a word of a `qmp-shell` line is, for hover. */
export type ShellWord =
  | { kind: 'command'; name: string; range: OffsetRange }
  | { kind: 'event'; name: string; range: OffsetRange }
  | { kind: 'key'; member: MemberDef | undefined; path: string[]; entity: string | undefined; args: Record<string, unknown>; range: OffsetRange }
  | { kind: 'value'; value: string; types: SchemaType[]; range: OffsetRange };

/** Classifies the word under the cursor of a `qmp-shell` cell. */
export function shellWordAt(source: CellSource, offset: number, schema: Schema): ShellWord | undefined {
  const line = lineAt(cellText(source), offset);
  const index = line.words.findIndex((w) => offset >= w.start && offset <= w.end);
  const word = line.words[index];
  if (word === undefined || word.text.startsWith('--')) return undefined;
  const range = { start: word.start, end: word.end };
  if (index === 0) {
    if (line.inTransaction || word.text === 'wait-event') return undefined;
    return { kind: 'command', name: word.text.replace(/\($/, ''), range };
  }
  if (line.words[0]?.text === 'wait-event' && index === 1) return { kind: 'event', name: word.text, range };
  const scope = scopeOf(schema, line);
  const eq = word.text.indexOf('=');
  if (scope.type === undefined) {
    // An open command whose schema lists no members (a guest agent's): the key, for the manual's text.
    const open = !scope.isEvent && scope.entity !== undefined && schema.command(scope.entity)?.open === true;
    if (!open || (eq >= 0 && offset > word.start + eq)) return undefined;
    const key = eq >= 0 ? word.text.slice(0, eq) : word.text;
    return { kind: 'key', member: undefined, path: key.split('.'), entity: scope.entity, args: {}, range: { start: word.start, end: word.start + key.length } };
  }
  const keyText = eq >= 0 ? word.text.slice(0, eq) : word.text;
  const path = keyText.split('.');
  const args = partialArgs(line.words);
  if (eq >= 0 && offset > word.start + eq) {
    return { kind: 'value', value: unquote(word.text.slice(eq + 1)), types: typesAt(schema, scope.type, path, args), range: { start: word.start + eq + 1, end: word.end } };
  }
  const parent = typesAt(schema, scope.type, path.slice(0, -1), args);
  const member = membersAt(schema, parent, valueAtPath(args, path.slice(0, -1))).find((m) => m.name === path[path.length - 1]);
  return { kind: 'key', member, path, entity: scope.entity, args, range: { start: word.start, end: word.start + keyText.length } };
}
