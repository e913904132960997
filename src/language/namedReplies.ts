// Named replies in the language features (docs/notebook-format.md, "Named replies"): completion of the names
// the cells above define and of the members along a path (from the named cell's last reply when it has run,
// else from the schema's return type of its command), a warning for a name no cell above defines, and a hover
// with the value a reference has now. Plain functions of (text, offset, NamedContext); withNamed() adds them
// to a language service. The notation is src/format/references.ts; substitution is the engine's.
import { parseTree, type Node } from 'jsonc-parser';
import { findCellName, formatPath, scanString, type PathStep, type Reference } from '../format/references';
import type { Schema, SchemaType } from '../qmp/schema';
import type { CompletionItem } from './completion';
import type { Diagnostic } from './diagnostics';
import type { HoverResult } from './hover';
import type { LanguageContext, NamedContext } from './context';
import { cellText, type CellSource, type CellText } from './parsed';
import type { JsonNode } from '../format/validate';

export type { NamedContext };
import { branches } from './schemaPath';

/**
 * The named context of the cell with index `at`, from the cells of its document in order (a language server's
 * regions): the names of the cells above (with their last command), the names only cells below define, and
 * `reply` for the replies saved under names. Linear in the cells' text; a cell given with `parsed` (the CellText
 * of its version) is not parsed again.
 */
export function namedContextOf(cells: ReadonlyArray<{ text: string; language: string; index: number; parsed?: CellText | undefined }>, at: number,
  reply?: (name: string) => string | undefined): NamedContext {
  const scan = new NamedScan(cells);
  let found: NamedContext | undefined;
  for (const c of cells) {
    if (c.index > at) break;
    const ctx = scan.next();
    if (c.index === at) { found = ctx; break; }
  }
  // No cell at `at`: the names of every cell before it are above, all the others below.
  found ??= scan.between();
  return { ...found, ...(reply ? { reply } : {}) };
}

/**
 * The named context of each cell of a document in one pass, for a caller that diagnoses the cells in order
 * (`check`, the language server): `next()` gives the context of the next cell (the names of the cells before
 * it, the names only cells after it define), then counts its own name. Linear in the cells' text; the context
 * given for a cell is read before `next()` is called again; a cell given with `parsed` (the CellText of its
 * version) is not parsed again. `key` says what a cell's named warnings depend on.
 */
export class NamedScan {
  private readonly names: Array<string | undefined>;
  private readonly above = new Map<string, { command?: string | undefined; cell: number }>();
  private readonly remaining = new Map<string, number>();
  private i = 0;
  /** How many cells' names are in `above` (the cell before the next one is added when a context is asked). */
  private taken = 0;

  constructor(private readonly cells: ReadonlyArray<{ text: string; language: string; index: number; parsed?: CellText | undefined }>) {
    this.names = cells.map((c) => (c.language === 'qmp' || c.language === 'qmp-shell' || c.language === 'hmp' ? findCellName(c.text, c.language).name?.name : undefined));
    for (const n of this.names) if (n !== undefined) this.remaining.set(n, (this.remaining.get(n) ?? 0) + 1);
  }

  /** The context of the next cell; its own name counts from the following cell on. */
  next(): NamedContext {
    const ctx = this.between();
    const own = this.names[this.i++];
    if (own !== undefined) this.remaining.set(own, (this.remaining.get(own) ?? 1) - 1);
    return ctx;
  }

  /** The context of a place before the next cell (its name still counts as below). */
  between(): NamedContext {
    if (this.i > this.taken) {
      this.taken = this.i;
      const prev = this.cells[this.i - 1];
      const name = this.names[this.i - 1];
      const lang = prev?.language;
      if (prev !== undefined && name !== undefined && (lang === 'qmp' || lang === 'qmp-shell' || lang === 'hmp')) {
        const commands = (prev.parsed ?? cellText(prev.text)).commands(lang).items.filter((x) => x.kind === 'command');
        const last = commands[commands.length - 1];
        this.above.set(name, { command: last?.kind === 'command' ? last.name : undefined, cell: prev.index });
      }
    }
    const remaining = this.remaining;
    return { above: this.above, below: { has: (n: string): boolean => (remaining.get(n) ?? 0) > 0 } };
  }

  /** What the named warnings of `text` depend on in `named`: each name it uses, and whether it is above or below. */
  static key(text: string, named: NamedContext): string {
    return referencesIn(text).map((r) => `${r.name}${named.above.has(r.name) ? '^' : ''}${named.below?.has(r.name) === true ? 'v' : ''}`).join(',');
  }
}

/** A value shown in a hover at most this long. */
const HOVER_CHARS = 2000;

/** The references written in a cell's text (the text itself is scanned: a JSON string holds the same characters). */
function referencesIn(text: string): Reference[] {
  return text.includes('{{') ? scanString(text).refs : [];
}

/**
 * Errors for `{{` that do not read as a reference, where the runner refuses them: in the string values of a
 * `qmp` cell's commands (the whole string is marked: the offsets inside a JSON string are not the decoded
 * ones; read from the cell's one tree), on the lines of a `qmp-shell` cell that are not comments.
 */
export function referenceSyntaxDiagnostics(source: CellSource, language: string): Diagnostic[] {
  const text = textOf(source);
  if (!text.includes('{{')) return [];
  const out: Diagnostic[] = [];
  const add = (start: number, end: number, message: string): void => {
    out.push({ start, end, severity: 'error', message: `${message}; the cell is not sent`, code: 'bad-reference' });
  };
  if (language === 'qmp') {
    const cell = cellText(source);
    cell.segments.forEach((seg, k) => {
      if (seg.kind !== 'send' || !text.slice(seg.start, seg.end).includes('{{')) return;
      // Every string value of the tree, loose ones included (keys are not values); iterative.
      const root = cell.syntax(k)?.root;
      const stack: JsonNode[] = root === undefined ? [] : [root];
      while (stack.length > 0) {
        const node = stack.pop() as JsonNode;
        if (node.type === 'object') {
          for (let i = node.properties.length - 1; i >= 0; i--) {
            const v = (node.properties[i] as { value?: JsonNode }).value;
            if (v !== undefined) stack.push(v);
          }
        } else if (node.type === 'array') {
          for (let i = node.items.length - 1; i >= 0; i--) stack.push(node.items[i] as JsonNode);
        } else if (node.type === 'string' && typeof node.value === 'string' && node.value.includes('{{')) {
          const bad = scanString(node.value).errors[0];
          if (bad !== undefined) add(node.start, node.end, bad.message);
        }
      }
    });
  } else if (language === 'qmp-shell') {
    let lineStart = 0;
    while (lineStart <= text.length) {
      let lineEnd = text.indexOf('\n', lineStart);
      if (lineEnd < 0) lineEnd = text.length;
      const line = text.slice(lineStart, lineEnd);
      const trimmed = line.trimStart();
      if (!trimmed.startsWith('#') && !trimmed.startsWith('//') && line.includes('{{')) {
        for (const e of scanString(line).errors) add(lineStart + e.start, lineStart + e.end, e.message);
      }
      lineStart = lineEnd + 1;
    }
  }
  return out;
}

/** Whether a piece of cell text holds a well-formed `{{…}}` reference. */
function holdsReference(piece: string): boolean {
  return piece.includes('{{') && scanString(piece).refs.length > 0;
}

/** Warnings for names no cell above defines. */
export function namedDiagnostics(text: string, named: NamedContext): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const r of referencesIn(text)) {
    if (named.above.has(r.name)) continue;
    const message = named.below?.has(r.name) === true
      ? `'${r.name}' is named by a cell below this one: run that cell first (a reply is used after it is saved)`
      : `No cell above is named '${r.name}' (write // @name ${r.name} in the cell whose reply this is): the cell will not be sent until one has run`;
    out.push({ start: r.start, end: r.end, severity: 'warning', message, code: 'unknown-reply-name' });
  }
  return out;
}

/** A parsed reply node at a path; undefined where the path leaves it. */
function nodeAt(root: Node | undefined, path: readonly PathStep[]): Node | undefined {
  let node = root;
  for (const step of path) {
    if (node === undefined) return undefined;
    if ('index' in step) node = node.type === 'array' ? node.children?.[step.index] : undefined;
    else node = node.type === 'object' ? node.children?.find((p) => p.children?.[0]?.value === step.key)?.children?.[1] : undefined;
  }
  return node;
}

/** The schema types at a path of a reply (`return…`) of `command`. */
function typesAt(schema: Schema, command: string, path: readonly PathStep[]): SchemaType[] {
  const def = schema.command(command);
  if (def === undefined || path.length === 0) return [];
  const first = path[0] as PathStep;
  if ('index' in first || first.key !== 'return') return [];
  let types: SchemaType[] = [def.retType];
  for (const step of path.slice(1)) {
    const next: SchemaType[] = [];
    for (const t of branches(types)) {
      if ('key' in step && t.kind === 'object') {
        const m = schema.membersOf(t).find((x) => x.name === step.key);
        if (m !== undefined) next.push(m.type);
      } else if ('index' in step && t.kind === 'array') {
        next.push(t.element);
      }
    }
    types = next;
    if (types.length === 0) return [];
  }
  return types;
}

const KEY_RE = /^[A-Za-z0-9_-]+$/;

/**
 * Completion inside `{{…}}`: after `{{` (and a partial name) the names of the cells above; after `NAME.path.`
 * (and a partial member) the members at that path. Undefined when the offset is not inside an open reference.
 */
export function completeNamed(text: string, offset: number, named: NamedContext, schema?: Schema): CompletionItem[] | undefined {
  // No cell above names a reply: the usual completion (a `{{` is then most likely JSON being typed).
  if (named.above.size === 0) return undefined;
  const lineStart = text.lastIndexOf('\n', offset - 1) + 1;
  const open = text.lastIndexOf('{{', offset - 1);
  if (open < lineStart || open + 2 > offset) return undefined;
  const inner = text.slice(open + 2, offset);
  if (inner.includes('}}')) return undefined;
  const nameOnly = /^ *([A-Za-z_][A-Za-z0-9_-]*)?$/.exec(inner);
  if (nameOnly !== null) {
    const start = offset - (nameOnly[1]?.length ?? 0);
    return [...named.above].map(([name, info]) => ({
      label: name, kind: 'value' as const, insertText: name, range: { start, end: offset },
      detail: `named reply of cell ${info.cell + 1}${info.command !== undefined ? ` (${info.command})` : ''}`,
      retrigger: true,
    }));
  }
  // NAME then steps then `.partial`: complete the member at the path.
  const dot = inner.lastIndexOf('.');
  if (dot < 0) return undefined;
  const partial = inner.slice(dot + 1);
  if (partial !== '' && !KEY_RE.test(partial)) return undefined;
  const head = scanString(`{{${inner.slice(0, dot).trimStart()}}}`);
  const ref = head.refs[0];
  if (ref === undefined || head.errors.length > 0) return undefined;
  const info = named.above.get(ref.name);
  if (info === undefined) return undefined;
  const start = offset - partial.length;
  const raw = named.reply?.(ref.name);
  let keys: Array<{ key: string; detail: string }> = [];
  if (raw !== undefined) {
    const node = nodeAt(parseTree(raw), ref.path);
    if (node?.type === 'object') {
      keys = (node.children ?? []).map((p) => ({ key: String(p.children?.[0]?.value), detail: `${p.children?.[1]?.type ?? ''} in the last reply` }));
    }
  } else if (schema !== undefined && info.command !== undefined) {
    if (ref.path.length === 0) {
      keys = [{ key: 'return', detail: `what ${info.command} returns` }];
    } else {
      const seen = new Set<string>();
      for (const t of branches(typesAt(schema, info.command, ref.path))) {
        if (t.kind !== 'object') continue;
        for (const m of schema.membersOf(t)) {
          if (seen.has(m.name)) continue;
          seen.add(m.name);
          keys.push({ key: m.name, detail: `${m.optional ? 'optional ' : ''}member of ${info.command}'s reply (schema)` });
        }
      }
    }
  }
  return keys.map(({ key, detail }) => {
    const quoted = !KEY_RE.test(key);
    // A key that is not a plain word is written ["key"]: it replaces the dot too.
    return {
      label: key, kind: 'property' as const, detail,
      insertText: quoted ? `[${JSON.stringify(key)}]` : key,
      range: { start: quoted ? start - 1 : start, end: offset },
      ...(quoted ? { filterText: `.${key}` } : {}),
    };
  });
}

/** The value a reference has now (or why it has none), as Markdown. */
export function hoverNamed(text: string, offset: number, named: NamedContext): HoverResult | undefined {
  const ref = referencesIn(text).find((r) => r.start <= offset && offset < r.end);
  if (ref === undefined) return undefined;
  const range = { start: ref.start, end: ref.end };
  const info = named.above.get(ref.name);
  // A name no cell above defines has its warning; the usual hover stays.
  if (info === undefined) return undefined;
  const raw = named.reply?.(ref.name);
  if (raw === undefined) {
    return { contents: `The reply of cell ${info.cell + 1} (\`${ref.name}\`${info.command !== undefined ? `, ${info.command}` : ''}): not run yet in this session.`, range };
  }
  const node = nodeAt(parseTree(raw), ref.path);
  if (node === undefined) return { contents: `\`${ref.name}${formatPath(ref.path)}\` is not in the last reply of cell ${info.cell + 1}.`, range };
  let value = raw.slice(node.offset, node.offset + node.length);
  if (value.length > HOVER_CHARS) value = `${value.slice(0, HOVER_CHARS)}…`;
  return { contents: `\`${ref.name}${formatPath(ref.path)}\` now (last reply of cell ${info.cell + 1}):\n\n\`\`\`json\n${value}\n\`\`\``, range };
}

/** The service methods withNamed() wraps. */
interface Wrappable {
  diagnose(text: CellSource, ctx?: LanguageContext): Diagnostic[];
  complete(text: CellSource, offset: number, ctx?: LanguageContext): { items: CompletionItem[] };
  hover(text: CellSource, offset: number, ctx?: LanguageContext): HoverResult | undefined;
}

/** The text of a cell given as its text or as the CellText of its version (parsed.ts). */
function textOf(source: CellSource): string {
  return typeof source === 'string' ? source : source.text;
}

/** A service with named replies added when the context has them (`ctx.named`). */
export function withNamed<T extends Wrappable>(base: T): T {
  return {
    ...base,
    diagnose(source: CellSource, ctx: LanguageContext = {}) {
      const text = textOf(source);
      const lang = (base as { language?: string }).language ?? '';
      const bad = referenceSyntaxDiagnostics(source, lang);
      // A live value that holds a reference is known only once it is substituted, and one that holds a malformed
      // reference has its error: neither is checked against QEMU's names.
      const found = base.diagnose(source, ctx).filter((d) => !((d.code === 'unknown-live-value' || d.code === 'live-name-taken')
        && (holdsReference(text.slice(d.start, d.end)) || bad.some((b) => b.start < d.end && d.start < b.end))));
      // A malformed reference the cell parser already refuses (a qmp-shell `{…}` value) is said once.
      const syntax = bad.filter((d) => !found.some((f) => f.severity === 'error' && f.start < d.end && d.start < f.end));
      const extra = [...syntax, ...(ctx.named !== undefined ? namedDiagnostics(text, ctx.named) : [])];
      return extra.length === 0 ? found : [...found, ...extra].sort((a, b) => a.start - b.start);
    },
    complete(source: CellSource, offset: number, ctx: LanguageContext = {}) {
      const items = ctx.named !== undefined ? completeNamed(textOf(source), offset, ctx.named, ctx.schema) : undefined;
      return items !== undefined ? { items } : base.complete(source, offset, ctx);
    },
    hover(source: CellSource, offset: number, ctx: LanguageContext = {}) {
      const h = ctx.named !== undefined ? hoverNamed(textOf(source), offset, ctx.named) : undefined;
      return h ?? base.hover(source, offset, ctx);
    },
  };
}
