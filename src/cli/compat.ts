// One notebook, many QEMU versions. `qmp-notebook schema diff A.json B.json` lists what changed between two
// schemas (commands and events added or removed, members added, removed, deprecated or of another type,
// enum values); `qmp-notebook check FILE --schema A.json --schema B.json …` says, per cell, where the
// versions disagree about it, as a compatibility table.
//
// The per-cell check reuses the editor's diagnostics (src/language/diagnostics.ts) once per schema: a
// diagnostic one version gives and another does not (an unknown command or member, a deprecation, a wrong
// type) is a difference. The saved replies (`<-` outputs) are walked against each version's return type, so
// a reply member one version no longer has (query-status's `singlestep` in 10.0) shows too.
import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { Schema, type ObjectType, type SchemaType } from '../qmp/schema';
import { SchemaError, type SchemaInfo } from '../qmp/introspect';
import { decodeNotebookBytes, parseCell, parseNotebook, type CellData } from '../format';
import { diagnose, type Diagnostic } from '../language/diagnostics';

/** A schema file with the name it is shown by (its QEMU version when the file says, else the file name). */
export interface NamedSchema {
  name: string;
  schema: Schema;
}

export class CompatUsageError extends Error {}

/** Reads a schema file: the array `query-qmp-schema` returns, or the whole reply `{"return": [...]}`. */
export function loadSchemaFile(file: string): NamedSchema {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new CompatUsageError(`cannot read schema ${file}: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Array.isArray((value as { return?: unknown }).return)) {
    value = (value as { return: unknown }).return;
  }
  if (!Array.isArray(value)) throw new CompatUsageError(`${file} is not a query-qmp-schema reply (expected a JSON array)`);
  try {
    return { name: schemaName(file), schema: Schema.fromIntrospection(value as SchemaInfo[]) };
  } catch (e) {
    if (e instanceof SchemaError) throw new CompatUsageError(`${file}: ${e.message}`);
    throw e;
  }
}

/** `qemu-7.2/query-qmp-schema.json` → `qemu-7.2`; `a.json` → `a`. */
function schemaName(file: string): string {
  const base = path.basename(file, '.json');
  return base === 'query-qmp-schema' ? path.basename(path.dirname(file)) : base;
}

// --- schema diff ---------------------------------------------------------------------------------------

export interface DiffRow {
  /** `command query-status`, `event STOP`. */
  entity: string;
  /** `arguments.props`, `return.singlestep`, `data.reason`; empty for the entity itself. */
  path: string;
  /** What changed, in words. */
  change: string;
}

/** A short description of a type, to compare across versions (names of types are not stable, shapes are). */
function shape(t: SchemaType, depth = 0): string {
  switch (t.kind) {
    case 'builtin': return t.jsonType;
    case 'enum': return 'enum';
    case 'object': return 'object';
    case 'array': return depth > 4 ? 'array' : `array of ${shape(t.element, depth + 1)}`;
    case 'alternate': return depth > 4 ? 'alternate' : `alternate (${t.members.map((m) => shape(m, depth + 1)).join(' | ')})`;
  }
}

function flags(x: { deprecated: boolean; unstable: boolean }): string[] {
  return [...(x.deprecated ? ['deprecated'] : []), ...(x.unstable ? ['unstable'] : [])];
}

/** Differences between two types reached at `where`; object types are walked member by member (bounded). */
function diffTypes(a: SchemaType, b: SchemaType, entity: string, where: string, rows: DiffRow[], names: [string, string], seen: Set<string>, depth: number): void {
  const sa = shape(a);
  const sb = shape(b);
  if (sa !== sb) {
    rows.push({ entity, path: where, change: `type ${sa} in ${names[0]}, ${sb} in ${names[1]}` });
    return;
  }
  const key = `${a.name}\u0000${b.name}`;
  if (seen.has(key) || depth > 12) return;
  seen.add(key);
  if (a.kind === 'enum' && b.kind === 'enum') {
    const va = new Set(a.values.map((v) => v.name));
    const vb = new Set(b.values.map((v) => v.name));
    const removed = [...va].filter((v) => !vb.has(v));
    const added = [...vb].filter((v) => !va.has(v));
    if (removed.length > 0) rows.push({ entity, path: where, change: `enum values only in ${names[0]}: ${removed.join(', ')}` });
    if (added.length > 0) rows.push({ entity, path: where, change: `enum values only in ${names[1]}: ${added.join(', ')}` });
    return;
  }
  if (a.kind === 'array' && b.kind === 'array') { diffTypes(a.element, b.element, entity, `${where}[]`, rows, names, seen, depth + 1); return; }
  if (a.kind === 'object' && b.kind === 'object') diffObjects(a, b, entity, where, rows, names, seen, depth);
}

function diffObjects(a: ObjectType, b: ObjectType, entity: string, where: string, rows: DiffRow[], names: [string, string], seen: Set<string>, depth: number): void {
  const join = (m: string): string => (where === '' ? m : `${where}.${m}`);
  const mb = new Map(b.members.map((m) => [m.name, m]));
  const ma = new Map(a.members.map((m) => [m.name, m]));
  for (const m of a.members) {
    const other = mb.get(m.name);
    if (!other) { rows.push({ entity, path: join(m.name), change: `only in ${names[0]}` }); continue; }
    if (m.optional !== other.optional) rows.push({ entity, path: join(m.name), change: `${m.optional ? 'optional' : 'required'} in ${names[0]}, ${other.optional ? 'optional' : 'required'} in ${names[1]}` });
    const fa = flags(m).join(', ');
    const fb = flags(other).join(', ');
    if (fa !== fb) rows.push({ entity, path: join(m.name), change: `${fa || 'stable'} in ${names[0]}, ${fb || 'stable'} in ${names[1]}` });
    diffTypes(m.type, other.type, entity, join(m.name), rows, names, seen, depth + 1);
  }
  for (const m of b.members) if (!ma.has(m.name)) rows.push({ entity, path: join(m.name), change: `only in ${names[1]}` });
  // Variants of a union, by tag value.
  const vb = new Map(b.variants.map((v) => [v.case, v]));
  for (const v of a.variants) {
    const other = vb.get(v.case);
    const at = `${where}${where === '' ? '' : ' '}(${a.tag ?? 'tag'}=${v.case})`;
    if (!other) { rows.push({ entity, path: at, change: `variant only in ${names[0]}` }); continue; }
    diffTypes(v.type, other.type, entity, at, rows, names, seen, depth + 1);
  }
  const va = new Set(a.variants.map((v) => v.case));
  for (const v of b.variants) if (!va.has(v.case)) rows.push({ entity, path: `${where}${where === '' ? '' : ' '}(${b.tag ?? 'tag'}=${v.case})`, change: `variant only in ${names[1]}` });
}

/** Everything that differs between two schemas, commands first then events, each sorted by name. */
export function diffSchemas(a: NamedSchema, b: NamedSchema): DiffRow[] {
  const rows: DiffRow[] = [];
  const names: [string, string] = [a.name, b.name];
  const entities = (s: Schema): Map<string, { kind: 'command' | 'event'; def: ReturnType<Schema['commands']>[number] | ReturnType<Schema['events']>[number] }> => {
    const m = new Map<string, { kind: 'command' | 'event'; def: ReturnType<Schema['commands']>[number] | ReturnType<Schema['events']>[number] }>();
    for (const c of s.commands()) m.set(`command ${c.name}`, { kind: 'command', def: c });
    for (const e of s.events()) m.set(`event ${e.name}`, { kind: 'event', def: e });
    return m;
  };
  const ea = entities(a.schema);
  const eb = entities(b.schema);
  const keys = [...new Set([...ea.keys(), ...eb.keys()])].sort((x, y) => (x.startsWith('command') === y.startsWith('command') ? x.localeCompare(y) : x.startsWith('command') ? -1 : 1));
  for (const key of keys) {
    const x = ea.get(key);
    const y = eb.get(key);
    if (!x) { rows.push({ entity: key, path: '', change: `only in ${b.name}` }); continue; }
    if (!y) { rows.push({ entity: key, path: '', change: `only in ${a.name}` }); continue; }
    const fa = flags(x.def).join(', ');
    const fb = flags(y.def).join(', ');
    if (fa !== fb) rows.push({ entity: key, path: '', change: `${fa || 'stable'} in ${a.name}, ${fb || 'stable'} in ${b.name}` });
    const seen = new Set<string>();
    const argRoot = x.kind === 'command' ? 'arguments' : 'data';
    const ax = x.def.argType;
    const ay = y.def.argType;
    if (ax && ay) diffObjects(ax, ay, key, argRoot, rows, names, seen, 0);
    else if (ax && !ay) rows.push({ entity: key, path: argRoot, change: `only in ${a.name}` });
    else if (!ax && ay) rows.push({ entity: key, path: argRoot, change: `only in ${b.name}` });
    if (x.kind === 'command' && y.kind === 'command' && 'retType' in x.def && 'retType' in y.def) diffTypes(x.def.retType, y.def.retType, key, 'return', rows, names, seen, 0);
  }
  return rows;
}

// --- per cell ------------------------------------------------------------------------------------------

export interface CompatRow {
  /** 1-based number among the notebook's code cells (as `qmp-notebook test` counts them). */
  cell: number;
  /** What the row is about: `query-status: "singlestep"`, `reply of query-status: return.singlestep`. */
  subject: string;
  /** Per schema, in the order given: `ok`, or the diagnostic code (`unknown-command`, `deprecated`, …). */
  status: string[];
  /** Per schema, the diagnostic's message (empty when ok). */
  messages: string[];
}

/** The cell's commands as one `qmp` text (qmp-shell and HMP cells through the cell parser), or undefined. */
function cellQmpText(cell: CellData): string | undefined {
  if (cell.language === 'qmp') return cell.source;
  const parsed = parseCell(cell.source, cell.language);
  if (parsed.errors.length > 0) return undefined;
  return parsed.items.filter((i) => i.kind === 'command').map((i) => i.json).join('\n');
}

const clip = (s: string): string => (s.length > 48 ? `${s.slice(0, 47)}…` : s);

/** Reply members a version does not know: the saved `return` walked against the command's return type. */
function replyIssues(schema: Schema, command: string, value: unknown, out: Map<string, { code: string; message: string }>): void {
  const def = schema.command(command);
  if (!def) return;
  const walk = (t: SchemaType, v: unknown, where: string, depth: number): void => {
    if (depth > 32) return;
    if (t.kind === 'array' && Array.isArray(v)) {
      for (const item of v.slice(0, 64)) walk(t.element, item, `${where}[]`, depth + 1);
      return;
    }
    if (t.kind !== 'object' || v === null || typeof v !== 'object' || Array.isArray(v)) return;
    const members = schema.membersOf(t, v);
    const byName = new Map(members.map((m) => [m.name, m]));
    for (const [k, child] of Object.entries(v as Record<string, unknown>)) {
      const m = byName.get(k);
      const at = `${where}.${k}`;
      if (!m) { out.set(`reply of ${command}: ${at}`, { code: 'unknown-member', message: `${command} does not return ${at}` }); continue; }
      if (m.deprecated) out.set(`reply of ${command}: ${at}`, { code: 'deprecated', message: `${at} is deprecated` });
      walk(m.type, child, at, depth + 1);
    }
  };
  walk(def.retType, value, 'return', 0);
}

/** The issues of one cell with one schema, keyed by subject. */
function cellIssues(cell: CellData, schema: Schema): Map<string, { code: string; message: string }> {
  const out = new Map<string, { code: string; message: string }>();
  const text = cellQmpText(cell);
  if (text === undefined) return out;
  const diags: Diagnostic[] = diagnose(text, schema);
  for (const d of diags) {
    if (d.code === 'json-syntax' || d.code === 'too-many-problems') continue;
    const subject = `${d.data?.command ?? 'cell'}: ${clip(text.slice(d.start, d.end))}`;
    if (!out.has(subject)) out.set(subject, { code: d.code, message: d.message });
  }
  // Replies, in order, against the commands, in order (events are not replies).
  const parsed = parseCell(cell.source, cell.language);
  const commands = parsed.items.filter((i) => i.kind === 'command').map((i) => (i.kind === 'command' ? i.name : ''));
  let k = 0;
  for (const o of cell.outputs ?? []) {
    if (o.kind !== 'message' || o.direction !== '<-') continue;
    let v: unknown;
    try { v = JSON.parse(o.json); } catch { continue; }
    if (v === null || typeof v !== 'object' || 'event' in v) continue;
    const command = commands[k++];
    if (command !== undefined && 'return' in v) replyIssues(schema, command, (v as { return: unknown }).return, out);
  }
  return out;
}

/** Per code cell, the subjects on which the schemas disagree. */
export function compatTable(cells: readonly CellData[], schemas: readonly NamedSchema[]): CompatRow[] {
  const rows: CompatRow[] = [];
  let n = 0;
  for (const cell of cells) {
    if (cell.kind !== 'code') continue;
    n++;
    const per = schemas.map((s) => cellIssues(cell, s.schema));
    const subjects = [...new Set(per.flatMap((m) => [...m.keys()]))];
    for (const subject of subjects) {
      const status = per.map((m) => m.get(subject)?.code ?? 'ok');
      if (status.every((s) => s === status[0])) continue;
      rows.push({ cell: n, subject, status, messages: per.map((m) => m.get(subject)?.message ?? '') });
    }
  }
  return rows;
}

// --- output --------------------------------------------------------------------------------------------

function table(header: string[], body: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]): string => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ').trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

export const SCHEMA_DIFF_USAGE = 'usage: qmp-notebook schema diff A.json B.json [--json]\n  What differs between two query-qmp-schema files (qmp-notebook schema --qemu PATH writes one).';
export const COMPAT_USAGE = 'usage: qmp-notebook check FILE.qmp --schema A.json --schema B.json … [--json]\n  Per cell, where the QEMU versions of the schemas differ about it, as a table. Exit 1 when they do.';

/** `qmp-notebook schema diff A B`. Exit 0 when the schemas agree, 1 when they differ, 2 for a usage error. */
export function schemaDiffMain(args: readonly string[], out: (text: string) => void, err: (line: string) => void): number {
  const json = args.includes('--json');
  const files = args.filter((a) => a !== '--json');
  if (files.includes('--help') || files.includes('-h')) { out(`${SCHEMA_DIFF_USAGE}\n`); return 0; }
  if (files.length !== 2 || files.some((f) => f.startsWith('-'))) { err(`qmp-notebook schema diff: give two schema files\n${SCHEMA_DIFF_USAGE}`); return 2; }
  let a: NamedSchema;
  let b: NamedSchema;
  try {
    a = loadSchemaFile(files[0] as string);
    b = loadSchemaFile(files[1] as string);
  } catch (e) {
    if (e instanceof CompatUsageError) { err(`qmp-notebook schema diff: ${e.message}`); return 2; }
    throw e;
  }
  if (a.name === b.name) { a = { ...a, name: `${a.name} (A)` }; b = { ...b, name: `${b.name} (B)` }; }
  const rows = diffSchemas(a, b);
  if (json) out(`${JSON.stringify({ a: a.name, b: b.name, differences: rows }, null, 2)}\n`);
  else if (rows.length === 0) out(`${a.name} and ${b.name}: no differences\n`);
  else out(`${table(['entity', 'path', 'change'], rows.map((r) => [r.entity, r.path, r.change]))}\n${rows.length} differences\n`);
  return rows.length === 0 ? 0 : 1;
}

/** `qmp-notebook check FILE --schema A --schema B …`. Exit 0 when every version agrees, 1 when not, 2 for usage. */
export function compatMain(args: readonly string[], out: (text: string) => void, err: (line: string) => void): number {
  const schemaFiles: string[] = [];
  const files: string[] = [];
  let json = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i] as string;
    if (a === '--help' || a === '-h') { out(`${COMPAT_USAGE}\n`); return 0; }
    if (a === '--schema') { const v = args[++i]; if (v !== undefined) schemaFiles.push(v); }
    else if (a.startsWith('--schema=')) schemaFiles.push(a.slice(9));
    else if (a === '--json') json = true;
    else if (a.startsWith('-')) { err(`qmp-notebook check: ${a} cannot be used with several --schema\n${COMPAT_USAGE}`); return 2; }
    else files.push(a);
  }
  if (files.length !== 1 || schemaFiles.length < 2) { err(`qmp-notebook check: give one notebook and at least two --schema files\n${COMPAT_USAGE}`); return 2; }
  const file = files[0] as string;
  let schemas: NamedSchema[];
  let cells: CellData[];
  try {
    schemas = schemaFiles.map(loadSchemaFile);
    const { text, warnings } = decodeNotebookBytes(readFileSync(file));
    for (const w of warnings) err(`qmp-notebook: warning: ${file}: ${w.message}`);
    cells = parseNotebook(text).cells;
  } catch (e) {
    if (e instanceof CompatUsageError) { err(`qmp-notebook check: ${e.message}`); return 2; }
    err(`qmp-notebook check: cannot read ${file}: ${e instanceof Error ? e.message : String(e)}`);
    return 2;
  }
  // Two files of the same base name are told apart by their place on the command line.
  const names = schemas.map((s) => s.name);
  schemas = schemas.map((s, i) => (names.indexOf(s.name) !== i || names.lastIndexOf(s.name) !== i ? { ...s, name: `${s.name}#${i + 1}` } : s));
  const rows = compatTable(cells, schemas);
  if (json) out(`${JSON.stringify({ file, schemas: schemas.map((s) => s.name), rows }, null, 2)}\n`);
  else if (rows.length === 0) out(`${file}: every cell reads the same in ${schemas.map((s) => s.name).join(', ')}\n`);
  else {
    out(`${table(['cell', 'subject', ...schemas.map((s) => s.name)], rows.map((r) => [String(r.cell), r.subject, ...r.status]))}\n`);
    out(`${rows.length} difference${rows.length === 1 ? '' : 's'} between ${schemas.map((s) => s.name).join(', ')}\n`);
  }
  return rows.length === 0 ? 0 : 1;
}
