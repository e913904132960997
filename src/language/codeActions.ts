// Quick fixes (keyed on diagnostic codes from diagnostics.ts) and refactors for `qmp` cells, as pure
// functions that return titled text edits by offset. The editor adapter turns them into WorkspaceEdits.

import { cellText, type CellSource } from './parsed';
import type { Schema, SchemaType } from '../qmp/schema';
import type { Diagnostic } from './diagnostics';
import { type JsonObject, type JsonProperty, type ParsedObject, objectAt, propertyOf } from './jsonCursor';
import { branches, membersAvailable, roleOf, typesAtPath } from './schemaPath';

export interface TextEdit {
  start: number;
  end: number;
  newText: string;
}

export interface CodeAction {
  title: string;
  kind: 'quickfix' | 'refactor';
  edits: TextEdit[];
  /** The diagnostic this action fixes (quick fixes only). */
  diagnostic?: Diagnostic;
  /** The fix to apply with one keystroke when there are several. */
  isPreferred?: boolean;
}

/** A live value's name from the replacement text a live warning carries (JSON in qmp cells). */
function liveName(replacement: string): string {
  try {
    const v: unknown = JSON.parse(replacement);
    return typeof v === 'string' ? v : replacement;
  } catch {
    return replacement;
  }
}

/** Quick fixes for the given diagnostics of a `qmp` cell. */
export function quickFixes(source: CellSource, diagnostics: readonly Diagnostic[], schema: Schema | undefined): CodeAction[] {
  const cell = cellText(source);
  const text = cell.text;
  const objects = cell.objects;
  const out: CodeAction[] = [];
  for (const d of diagnostics) {
    const parsed = objectAt(objects, d.start + 1, text) ?? objects.find((o) => o.segment.start <= d.start && d.start <= o.segment.end);
    const fix = (title: string, edits: TextEdit[], isPreferred = false): void => {
      out.push({ title, kind: 'quickfix', edits, diagnostic: d, ...(isPreferred ? { isPreferred } : {}) });
    };
    const suggestion = d.data?.suggestion;
    switch (d.code) {
      case 'unknown-command':
      case 'unknown-event':
        if (suggestion !== undefined) fix(`Change to '${suggestion}'`, [{ start: d.start, end: d.end, newText: JSON.stringify(suggestion) }], true);
        break;
      case 'bad-enum':
      case 'bad-tag': {
        // The diagnostics suggest only near misses; the fix offers the closest valid value regardless.
        const closest = suggestion ?? (parsed?.root !== undefined && schema !== undefined ? closestEnumValue(parsed.root, schema, d.start) : undefined);
        if (closest !== undefined) fix(`Change to '${closest}'`, [{ start: d.start, end: d.end, newText: JSON.stringify(closest) }], true);
        break;
      }
      case 'unknown-member':
      case 'unexpected-key': {
        if (suggestion !== undefined) fix(`Change to '${suggestion}'`, [{ start: d.start, end: d.end, newText: JSON.stringify(suggestion) }], true);
        const prop = parsed?.root !== undefined ? propertyByKeyStart(parsed.root, d.start) : undefined;
        if (prop !== undefined) fix(`Remove '${prop.key}'`, [removeProperty(text, prop)]);
        break;
      }
      case 'unknown-live-value':
        // The warning's data holds the replacement as the cell spells it (a JSON string here).
        if (suggestion !== undefined) fix(`Change to '${liveName(suggestion)}'`, [{ start: d.start, end: d.end, newText: suggestion }], true);
        break;
      case 'legacy-control': {
        const edits = parsed?.root !== undefined ? controlToExecOob(text, parsed.root) : undefined;
        if (edits !== undefined) fix('Rewrite as exec-oob', edits, true);
        break;
      }
      case 'oob-not-allowed':
      case 'oob-not-negotiated': {
        const edits = parsed?.root !== undefined ? renameCommandKey(parsed.root, 'execute') : undefined;
        if (edits !== undefined) fix('Run in-band (execute)', edits, true);
        break;
      }
      case 'missing-member':
      case 'missing-tag': {
        const missing = d.data?.missing ?? [];
        if (parsed?.root === undefined || missing.length === 0) break;
        const edits = addMembers(text, parsed.root, schema, d.data?.path ?? [], missing, d.data?.objectStart);
        if (edits !== undefined) {
          fix(missing.length === 1 ? `Add required member '${missing[0]}'` : `Add required members ${missing.map((m) => `'${m}'`).join(', ')}`, edits, true);
        }
        break;
      }
      default:
        break;
    }
  }
  return out;
}

/** Refactors offered at `offset` whatever the diagnostics: switching execute ↔ exec-oob. */
export function refactors(source: CellSource, offset: number, schema: Schema | undefined): CodeAction[] {
  const cell = cellText(source);
  const text = cell.text;
  const objects = cell.objects;
  const parsed = objectAt(objects, offset, text) ?? objects.find((o) => o.segment.start === offset);
  if (parsed?.root === undefined) return [];
  return refactorsFor(text, parsed, schema);
}

function refactorsFor(text: string, parsed: ParsedObject, schema: Schema | undefined): CodeAction[] {
  const root = parsed.root as JsonObject;
  const role = roleOf(root, schema);
  if (role.role !== 'command') return [];
  const out: CodeAction[] = [];
  if (role.spelling === 'control') {
    const edits = controlToExecOob(text, root);
    if (edits !== undefined) out.push({ title: 'Rewrite as exec-oob', kind: 'refactor', edits });
  } else if (role.spelling === 'execute') {
    // Without a schema we cannot know; offer it and let the diagnostics speak.
    if (role.def === undefined ? schema === undefined : role.def.allowOob) {
      const edits = renameCommandKey(root, 'exec-oob');
      if (edits !== undefined) out.push({ title: 'Run out-of-band (exec-oob)', kind: 'refactor', edits });
    }
  } else {
    const edits = renameCommandKey(root, 'execute');
    if (edits !== undefined) out.push({ title: 'Run in-band (execute)', kind: 'refactor', edits });
  }
  return out;
}

/** The edits that switch the object starting at `objectStart` to exec-oob (used by the OOB code lens). */
export function switchToExecOob(source: CellSource, objectStart: number): TextEdit[] | undefined {
  const cell = cellText(source);
  const text = cell.text;
  const parsed = cell.objects.find((o) => o.segment.start === objectStart);
  if (parsed?.root === undefined) return undefined;
  if (propertyOf(parsed.root, 'control') !== undefined) return controlToExecOob(text, parsed.root);
  return renameCommandKey(parsed.root, 'exec-oob');
}

/** Every action at a range: the quick fixes of the diagnostics that touch it, then the refactors. */
export function codeActions(source: CellSource, start: number, end: number, diagnostics: readonly Diagnostic[], schema: Schema | undefined): CodeAction[] {
  const touching = diagnostics.filter((d) => d.start <= end && d.end >= start);
  const cell = cellText(source);
  return [...quickFixes(cell, touching, schema), ...refactors(cell, start, schema)];
}

/** Edit distance with `_` and `-` counted as equal (QEMU spells both). */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase().replace(/_/g, '-');
  const y = b.toLowerCase().replace(/_/g, '-');
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      cur[j] = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[y.length] as number;
}

/** The valid enum value closest to the string value that starts at `start`. */
function closestEnumValue(root: JsonObject, schema: Schema, start: number): string | undefined {
  const found = valueHolderAt(root, start, []);
  if (found === undefined) return undefined;
  const role = roleOf(root, schema);
  const values = branches(typesAtPath(schema, root, role, found.path)).flatMap((t) => (t.kind === 'enum' ? t.values.filter((v) => !v.deprecated) : []));
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const v of values) {
    const dist = editDistance(found.value, v.name);
    if (dist < bestDistance) {
      best = v.name;
      bestDistance = dist;
    }
  }
  return best;
}

function valueHolderAt(obj: JsonObject, start: number, path: (string | number)[]): { path: (string | number)[]; value: string } | undefined {
  for (const p of obj.properties) {
    const v = p.value;
    if (v === undefined || start < v.start || start >= v.end) continue;
    if (v.type === 'string' && v.start === start) return { path: [...path, p.key], value: String(v.value) };
    if (v.type === 'object') return valueHolderAt(v, start, [...path, p.key]);
    if (v.type === 'array') {
      for (let i = 0; i < v.items.length; i++) {
        const item = v.items[i];
        if (item === undefined || start < item.start || start >= item.end) continue;
        if (item.type === 'string') return { path: [...path, p.key, i], value: String(item.value) };
        if (item.type === 'object') return valueHolderAt(item, start, [...path, p.key, i]);
      }
    }
  }
  return undefined;
}

// ---- edit builders ---------------------------------------------------------------------------------

function propertyByKeyStart(obj: JsonObject, start: number): JsonProperty | undefined {
  for (const p of obj.properties) {
    if (p.keyRange.start === start) return p;
    const v = p.value;
    if (v?.type === 'object' && v.start <= start && start < v.end) return propertyByKeyStart(v, start);
    if (v?.type === 'array' && v.start <= start && start < v.end) {
      for (const item of v.items) {
        if (item.type === 'object' && item.start <= start && start < item.end) return propertyByKeyStart(item, start);
      }
    }
  }
  return undefined;
}

/** Removes a property and one adjacent comma, so the object stays valid JSON. */
function removeProperty(text: string, prop: JsonProperty): TextEdit {
  const siblings = prop.parent.properties;
  const i = siblings.indexOf(prop);
  const next = siblings[i + 1];
  if (next !== undefined) return { start: prop.start, end: next.start, newText: '' };
  const prev = siblings[i - 1];
  if (prev !== undefined) return { start: prev.end, end: prop.end, newText: '' };
  // The only member: remove it and the spaces around it, keeping `{}`.
  let s = prop.start;
  while (s > 0 && /[ \t]/.test(text.charAt(s - 1))) s--;
  let e = prop.end;
  while (e < text.length && /[ \t,]/.test(text.charAt(e))) e++;
  return { start: s, end: e, newText: '' };
}

function renameCommandKey(root: JsonObject, to: 'execute' | 'exec-oob'): TextEdit[] | undefined {
  const from = propertyOf(root, to === 'execute' ? 'exec-oob' : 'execute');
  if (from === undefined) return undefined;
  return [{ start: from.keyRange.start, end: from.keyRange.end, newText: JSON.stringify(to) }];
}

/** `{"execute": X, "control": {"run-oob": true}}` → `{"exec-oob": X}`. */
function controlToExecOob(text: string, root: JsonObject): TextEdit[] | undefined {
  const control = propertyOf(root, 'control');
  const execute = propertyOf(root, 'execute');
  if (control === undefined || execute === undefined) return undefined;
  return [
    { start: execute.keyRange.start, end: execute.keyRange.end, newText: '"exec-oob"' },
    removeProperty(text, control),
  ].sort((a, b) => b.start - a.start);
}

/** A valid value to start from: the first enum value, 0, false, "", {} or []. */
function defaultValue(type: SchemaType | undefined): string {
  if (type === undefined) return '""';
  const t = branches([type])[0];
  if (t === undefined) return '""';
  switch (t.kind) {
    case 'enum': {
      const v = t.values.find((x) => !x.deprecated) ?? t.values[0];
      return JSON.stringify(v?.name ?? '');
    }
    case 'object': return '{}';
    case 'array': return '[]';
    case 'builtin':
      if (t.jsonType === 'int' || t.jsonType === 'number') return '0';
      if (t.jsonType === 'boolean') return 'false';
      if (t.jsonType === 'null') return 'null';
      return '""';
    default:
      return '""';
  }
}

function objectAtPath(root: JsonObject, path: readonly (string | number)[]): JsonObject | undefined {
  let node = propertyOf(root, 'arguments')?.value ?? propertyOf(root, 'data')?.value;
  for (const step of path) {
    if (node?.type === 'object' && typeof step === 'string') node = propertyOf(node, step)?.value;
    else if (node?.type === 'array' && typeof step === 'number') node = node.items[step];
    else return undefined;
  }
  return node?.type === 'object' ? node : undefined;
}

function addMembers(
  text: string, root: JsonObject, schema: Schema | undefined, path: readonly (string | number)[], missing: readonly string[],
  objectStart: number | undefined,
): TextEdit[] | undefined {
  const role = roleOf(root, schema);
  const topKey = role.role === 'wait' || role.role === 'event' ? 'data' : 'arguments';
  const target = objectStart !== undefined ? objectAtPath(root, path) : undefined;
  const types = schema !== undefined ? typesAtPath(schema, root, role, [topKey, ...path]) : [];
  const members = schema !== undefined && target !== undefined ? membersAvailable(schema, types, target) : [];
  const byName = new Map(members.map((m) => [m.name, m]));
  if (target === undefined && objectStart === undefined && schema !== undefined && role.role === 'command' && role.def?.argType !== undefined) {
    for (const m of schema.membersOf(role.def.argType)) byName.set(m.name, m);
  }
  const body = missing.map((name) => `"${name}": ${defaultValue(byName.get(name)?.type)}`).join(', ');
  if (target !== undefined) {
    const last = target.properties[target.properties.length - 1];
    if (last !== undefined) return [{ start: last.end, end: last.end, newText: `, ${body}` }];
    return [{ start: target.start + 1, end: target.start + 1, newText: body }];
  }
  if (objectStart !== undefined) return undefined;
  // No arguments object at all: add one after the last top-level member.
  const last = root.properties[root.properties.length - 1];
  if (last === undefined) return undefined;
  return [{ start: last.end, end: last.end, newText: `, "${topKey}": {${body}}` }];
}

/** Applies non-overlapping edits to a text (for tests and the CLI). */
export function applyEdits(text: string, edits: readonly TextEdit[]): string {
  const sorted = [...edits].sort((a, b) => b.start - a.start);
  let out = text;
  for (const e of sorted) out = out.slice(0, e.start) + e.newText + out.slice(e.end);
  return out;
}
