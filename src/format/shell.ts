// Parses a `qmp-shell` cell: QEMU's qmp-shell command syntax (python/qemu/qmp/qmp_shell.py), one command per
// line, with values typed by the schema when one is known.
//
//   query-block
//   device_del id=kbd0
//   blockdev-add driver=null-co node-name=n1 size=1048576 cache.direct=false
//   query-yank --oob
//   transaction(
//     block-dirty-bitmap-add node=n1 name=b0
//     block-dirty-bitmap-clear node=n1 name=b0
//   )
//   wait-event DEVICE_DELETED device=kbd0 timeout=5000
//
// Differences from qmp-shell, all additive: quoted values may hold spaces and lose their quotes; JSON values
// may hold spaces; `;` separates transaction actions on one line; `--oob` and `--id=` options; `#` comment
// lines; `wait-event` lines.

import { wholeReference } from './references';
import { parseTree, type ParseError } from 'jsonc-parser';
import {
  DEFAULT_WAIT_TIMEOUT_MS, LineIndex,
  type CellItem, type CellProblem, type CommandInput, type ParsedCell, type ValueKind, type ValueKindOracle,
} from './cellTypes';
import { minifyJson } from './json';
import { pythonLiteralToJson } from './pyliteral';
import { shellLines, type ShellLine, type ShellToken } from './shellTokens';
import { capProblems, MAX_NESTING, timeoutProblem, tooDeepAt } from './validate';

type Token = ShellToken;

/** What Python's int() accepts from a token (ASCII digits): a sign, digits, single underscores between digits. */
const INT = /^[+-]?\d+(_\d+)*$/;
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const LOOSE_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

interface Typed {
  /** Exact JSON text of the value. */
  json: string;
  /**
   * The value as written, when it is JSON text that the diagnostics can read in place (so a problem deep in
   * `cache={"direct": 1}` is marked at its own place in the shell text).
   */
  exact?: boolean;
}

function describeKinds(kinds: readonly ValueKind[]): string {
  const names: Record<ValueKind, string> = {
    string: 'a string', int: 'an integer', number: 'a number', boolean: 'true or false', null: 'null',
    object: 'a JSON object', array: 'a JSON array', any: 'any value',
  };
  return kinds.map((k) => names[k]).join(' or ');
}

/** Unquotes a quoted value: double quotes as JSON, single quotes with `\'` and `\\` escapes. */
function unquote(raw: string): string | undefined {
  if (raw.startsWith('"')) {
    try {
      const v: unknown = JSON.parse(raw);
      return typeof v === 'string' ? v : undefined;
    } catch {
      return undefined;
    }
  }
  return raw.slice(1, -1).replace(/\\(['\\])/g, '$1');
}

/** The extent of a leading quoted string in `raw`, so `"a b"` is a whole quoted value and `"a"b` is not. */
function quotedLength(raw: string): number {
  const q = raw[0];
  let j = 1;
  while (j < raw.length && raw[j] !== q) j += raw[j] === '\\' ? 2 : 1;
  return j + 1;
}

/**
 * A `{…}`/`[…]` value as qmp-shell reads it: JSON first (json.loads), then a Python literal
 * (ast.literal_eval, with null/true/false allowed); nested deeper than QEMU accepts is refused unparsed.
 */
function compoundValue(raw: string): { json: string; exact: boolean; kind: 'object' | 'array' } | { error: string } {
  const deep = tooDeepAt(raw, 0, raw.length, true);
  if (deep !== undefined) return { error: `nested deeper than ${MAX_NESTING} levels, which QEMU refuses` };
  const errors: ParseError[] = [];
  const root = parseTree(raw, errors, { disallowComments: true, allowTrailingComma: false });
  if (errors.length === 0 && root !== undefined && (root.type === 'object' || root.type === 'array')) {
    return { json: minifyJson(raw, root), exact: true, kind: root.type };
  }
  const py = pythonLiteralToJson(raw);
  if ('error' in py) return { error: `invalid JSON or Python value '${raw.length > 60 ? `${raw.slice(0, 60)}…` : raw}': ${py.error}` };
  return { json: py.json, exact: false, kind: py.json.startsWith('[') ? 'array' : 'object' };
}

/**
 * Types one value. Without schema kinds (or with `any`) it is read exactly as QEMU's qmp-shell reads it
 * (`_parse_value`): what Python's int() accepts is an integer (`1_000`, `+5`, `007`; not `1.5`, not `0x10`),
 * true/false in any case a boolean, `{…}`/`[…]` JSON or a Python literal, anything else a string. With schema
 * kinds, a value is read as the first kind it fits in this order: JSON object/array, integer, number,
 * boolean, null, string, so `"1"`-looking text stays a string where only a string is allowed. A `{…}`/`[…]`
 * value that is neither JSON nor a Python literal is an error either way (qmp-shell would send it as a
 * string; quote it to mean one). Quoted values are always strings.
 */
export function typeShellValue(raw: string, kinds: readonly ValueKind[] | undefined): Typed | { error: string } {
  if ((raw.startsWith('"') || raw.startsWith("'")) && quotedLength(raw) === raw.length && raw.length >= 2) {
    const s = unquote(raw);
    return s === undefined ? { error: 'invalid string escape' } : { json: JSON.stringify(s) };
  }
  // A named reply `{{name.path}}` is a string here, as QEMU's qmp-shell reads it; the engine substitutes it.
  if (wholeReference(raw) !== undefined) return { json: JSON.stringify(raw) };
  const guess = kinds === undefined || kinds.length === 0 || kinds.includes('any');
  const allows = (k: ValueKind): boolean => guess || (kinds?.includes(k) ?? false);
  if (raw.startsWith('{') || raw.startsWith('[')) {
    const v = compoundValue(raw);
    if ('error' in v) return v;
    if (allows(v.kind)) return { json: v.json, ...(v.exact ? { exact: true } : {}) };
    if (!allows('string')) return { error: `expected ${describeKinds(kinds ?? [])}, found '${raw}'` };
  }
  if (allows('int') && INT.test(raw)) return { json: BigInt(raw.replace(/_/g, '')).toString() };
  if (!guess && allows('number') && LOOSE_NUMBER.test(raw)) {
    return { json: JSON_NUMBER.test(raw) ? raw : String(Number(raw)) };
  }
  if (allows('boolean') && /^(true|false)$/i.test(raw)) return { json: raw.toLowerCase() };
  if (!guess && kinds?.includes('null') === true && raw === 'null') return { json: 'null' };
  if (allows('string')) return { json: JSON.stringify(raw) };
  return { error: `expected ${describeKinds(kinds ?? [])}, found '${raw}'` };
}

/** A leaf of the arguments: a typed value and where it was written. */
interface Leaf extends Typed {
  /** The value's range in the cell (after `=`). */
  start: number;
  end: number;
}

/**
 * Arguments built from `key=value` pairs; dotted keys nest. A Map, so that any member name (even
 * `__proto__`) is just a name. Each member remembers where its key was written, for diagnostics.
 */
class ArgTree {
  readonly members = new Map<string, { value: ArgTree | Leaf; keyStart: number; keyEnd: number }>();
  /** Where the object was written: the key part that created it (or the JSON value it was read from). */
  constructor(readonly start: number, readonly end: number) {}

  get size(): number {
    return this.members.size;
  }
}

function isLeaf(v: ArgTree | Leaf): v is Leaf {
  return !(v instanceof ArgTree);
}

/** An object leaf (`file={"driver":"file"}`) opened up so that dotted keys can add to it, as qmp-shell merges. */
function openLeaf(leaf: Leaf): ArgTree | undefined {
  if (!leaf.json.startsWith('{')) return undefined;
  const root = parseTree(leaf.json);
  if (root?.type !== 'object') return undefined;
  const tree = new ArgTree(leaf.start, leaf.end);
  for (const prop of root.children ?? []) {
    const [k, v] = prop.children ?? [];
    if (k === undefined || v === undefined) continue;
    tree.members.set(String(k.value), { value: { json: minifyJson(leaf.json, v), start: leaf.start, end: leaf.end }, keyStart: leaf.start, keyEnd: leaf.end });
  }
  return tree;
}

function treeJson(tree: ArgTree): string {
  return '{' + [...tree.members].map(([k, m]) => JSON.stringify(k) + ':' + (isLeaf(m.value) ? m.value.json : treeJson(m.value))).join(',') + '}';
}

/** Where one command's arguments are being collected, for typing and for error places. */
interface ArgContext {
  /** The name the schema is asked about (the action name inside a transaction). */
  command: string;
  oracle: ValueKindOracle | undefined;
  lines: LineIndex;
  errors: CellProblem[];
  /** The arguments with every value guessed, so the schema can pick a union's variant by its tag. */
  partial?: unknown;
}

/**
 * Builds the arguments of one command from its `key=value` tokens. With a schema, a first pass guesses
 * every value so that the second, typed pass can tell the schema the union tags (blockdev-add's `driver`)
 * whichever order the pairs come in.
 */
function buildArgs(tokens: readonly Token[], ctx: ArgContext, start: number, end: number): ArgTree {
  if (ctx.oracle !== undefined) {
    const guessed = new ArgTree(start, end);
    const scratch: ArgContext = { ...ctx, errors: [] };
    for (const t of tokens) addPair(guessed, t, scratch, false);
    ctx.partial = JSON.parse(treeJson(guessed)) as unknown;
  }
  const tree = new ArgTree(start, end);
  for (const t of tokens) addPair(tree, t, ctx, true);
  return tree;
}

/**
 * Adds one `key=value` token to `tree`; reports malformed keys, conflicts and badly typed values. Dotted keys
 * are always relative to the command's arguments (qmp-shell carries the last dotted key's object over to
 * the next pair, a scope bug this parser does not copy).
 */
function addPair(tree: ArgTree, token: Token, ctx: ArgContext, typed: boolean): void {
  const eq = token.text.indexOf('=');
  const err = (message: string): void => {
    ctx.errors.push(ctx.lines.problem(token.start, token.end, message));
  };
  if (eq <= 0 || /^["'{[]/.test(token.text)) {
    err(`expected key=value, found '${token.text}'`);
    return;
  }
  const key = token.text.slice(0, eq);
  const path = key.split('.');
  if (path.some((p) => p === '')) {
    err(`empty member name in '${key}'`);
    return;
  }
  if (path.length > MAX_NESTING) {
    err(`'${key.slice(0, 40)}…' is nested deeper than ${MAX_NESTING} levels, which QEMU refuses`);
    return;
  }
  const kinds = typed ? ctx.oracle?.valueKindsAt(ctx.command, path, ctx.partial) : undefined;
  const value = typeShellValue(token.text.slice(eq + 1), kinds);
  if ('error' in value) {
    err(`${key}: ${value.error}`);
    return;
  }
  let node = tree;
  let at = token.start;
  for (let k = 0; k < path.length - 1; k++) {
    const part = path[k] ?? '';
    const partEnd = at + part.length;
    const next = node.members.get(part);
    if (next === undefined) {
      const child = new ArgTree(at, partEnd);
      node.members.set(part, { value: child, keyStart: at, keyEnd: partEnd });
      node = child;
    } else if (isLeaf(next.value)) {
      const opened = openLeaf(next.value);
      if (opened === undefined) {
        err(`cannot use '${path.slice(0, k + 1).join('.')}' as both a value and an object`);
        return;
      }
      next.value = opened;
      node = opened;
    } else {
      node = next.value;
    }
    at = partEnd + 1;
  }
  const last = path[path.length - 1] ?? '';
  const existing = node.members.get(last);
  if (existing !== undefined) {
    err(isLeaf(existing.value) ? `'${key}' is set more than once` : `cannot use '${key}' as both a value and an object`);
    return;
  }
  node.members.set(last, { value: { ...value, start: token.start + eq + 1, end: token.end }, keyStart: at, keyEnd: at + last.length });
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.+-]*$/;

/** A piece of a `ShellJson` text and the place in the cell it was written. */
export interface ShellSpan {
  /** Range in the JSON text. */
  start: number;
  end: number;
  /** Range in the cell. */
  cellStart: number;
  cellEnd: number;
  /** The JSON text is the cell text itself (offsets map one to one), not a translation of it. */
  exact: boolean;
}

/**
 * One command or wait line of a `qmp-shell` cell as the JSON the diagnostics check: the same command that
 * is sent, with JSON values kept as written, and where each key, value and object came from in the shell
 * text, so a diagnostic of the JSON can be shown at the right column of the shell line.
 */
export interface ShellJson {
  kind: 'send' | 'wait';
  text: string;
  spans: ShellSpan[];
  /** The command's range in the cell. */
  start: number;
  end: number;
}

/** Maps a range of a ShellJson text to the cell: the innermost span holding `start`. */
export function shellRangeToCell(doc: ShellJson, start: number, end: number): { start: number; end: number } {
  let best: ShellSpan | undefined;
  for (const s of doc.spans) {
    if (s.start <= start && start < Math.max(s.end, s.start + 1) && (best === undefined || s.end - s.start < best.end - best.start)) best = s;
  }
  if (best === undefined) return { start: doc.start, end: doc.end };
  if (!best.exact) return { start: best.cellStart, end: best.cellEnd };
  const a = best.cellStart + (start - best.start);
  const b = best.cellStart + (Math.min(end, best.end) - best.start);
  return { start: a, end: Math.max(a, b) };
}

/** Writes JSON text and records the spans of its pieces. */
class JsonWriter {
  text = '';
  readonly spans: ShellSpan[] = [];

  raw(s: string): void {
    this.text += s;
  }

  mapped(s: string, cellStart: number, cellEnd: number, exact = false): void {
    const start = this.text.length;
    this.text += s;
    this.spans.push({ start, end: this.text.length, cellStart, cellEnd, exact });
  }

  tree(tree: ArgTree, source: string): void {
    const start = this.text.length;
    this.raw('{');
    let first = true;
    for (const [k, m] of tree.members) {
      if (!first) this.raw(',');
      first = false;
      this.mapped(JSON.stringify(k), m.keyStart, m.keyEnd);
      this.raw(':');
      if (isLeaf(m.value)) {
        const v = m.value;
        if (v.exact === true) this.mapped(source.slice(v.start, v.end), v.start, v.end, true);
        else this.mapped(v.json, v.start, v.end);
      } else {
        this.tree(m.value, source);
      }
    }
    this.raw('}');
    this.spans.push({ start, end: this.text.length, cellStart: tree.start, cellEnd: tree.end, exact: false });
  }
}

/**
 * Parses a `qmp-shell` cell. `documents`, when given, receives each command and wait line that parsed as
 * the JSON the diagnostics check (see ShellJson). `words`: the cell's lines and words when the tokenizer ran on
 * it already (the language service's parse of the cell's version), so it does not run again.
 */
export function parseShellCell(source: string, oracle?: ValueKindOracle, documents?: ShellJson[], words: readonly ShellLine[] = shellLines(source)): ParsedCell {
  const lines = new LineIndex(source);
  const items: CellItem[] = [];
  const errors: CellProblem[] = [];
  // Tokens of all lines; `null` marks a line end (it ends a transaction action).
  const stream: (Token | null)[] = [];
  for (const line of words) {
    if (line.tokens.length > 0) {
      if (line.unterminated !== undefined) errors.push(lines.problem(line.unterminated, line.end, 'unterminated string'));
      for (const t of line.tokens) {
        // A trailing `;` separates transaction actions; it is its own token.
        if (t.text.length > 1 && t.text.endsWith(';')) {
          stream.push({ text: t.text.slice(0, -1), start: t.start, end: t.end - 1 }, { text: ';', start: t.end - 1, end: t.end });
        } else {
          stream.push(t);
        }
      }
      stream.push(null);
    }
  }

  let i = 0;
  const takeLine = (): Token[] => {
    const out: Token[] = [];
    while (i < stream.length && stream[i] !== null) out.push(stream[i++] as Token);
    i++;
    return out;
  };
  const problem = (t: Token, message: string): void => {
    errors.push(lines.problem(t.start, t.end, message));
  };

  while (i < stream.length) {
    const first = stream[i];
    if (first === null || first === undefined) {
      i++;
      continue;
    }
    if (first.text === 'transaction(' || (first.text === 'transaction' && stream[i + 1]?.text === '(')) {
      i += first.text === 'transaction(' ? 1 : 2;
      parseTransaction(first);
      continue;
    }
    const tokens = takeLine();
    if (first.text === 'wait-event') {
      parseWait(tokens);
      continue;
    }
    parseCommand(tokens);
  }
  const total = errors.length;
  return {
    items,
    errors: capProblems(errors, total, (message, at) => ({ ...lines.problem(at, at, message), code: 'too-many-problems' })),
  };

  function parseCommand(tokens: Token[]): void {
    const [head, ...rest] = tokens;
    if (head === undefined) return;
    const before = errors.length;
    if (!NAME.test(head.text)) {
      problem(head, `expected a command name, found '${head.text}'`);
      return;
    }
    let oob: Token | undefined;
    let id: { json: string; token: Token } | undefined;
    const pairs: Token[] = [];
    for (const t of rest) {
      if (t.text === '--oob') oob = t;
      else if (t.text.startsWith('--id=')) id = { json: idJson(t.text.slice(5)), token: t };
      else if (t.text.startsWith('--')) problem(t, `unknown option '${t.text}' (options: --oob, --id=VALUE)`);
      else if (t.text === ';' || t.text === ')') problem(t, `unexpected '${t.text}' outside a transaction`);
      else pairs.push(t);
    }
    const tree = buildArgs(pairs, { command: head.text, oracle, lines, errors }, head.start, head.end);
    if (errors.length !== before) return;
    const end = (tokens[tokens.length - 1] ?? head).end;
    pushCommand(head.text, tree, oob !== undefined, id?.json, head.start, end);
    if (documents !== undefined) {
      const w = new JsonWriter();
      w.raw('{');
      if (oob !== undefined) w.mapped('"exec-oob"', oob.start, oob.end);
      else w.mapped('"execute"', head.start, head.end);
      w.raw(':');
      w.mapped(JSON.stringify(head.text), head.start, head.end);
      if (tree.size > 0) {
        w.raw(',');
        w.mapped('"arguments"', head.start, head.end);
        w.raw(':');
        w.tree(tree, source);
      }
      if (id !== undefined) {
        w.raw(',');
        w.mapped('"id"', id.token.start, id.token.end);
        w.raw(':');
        w.mapped(id.json, id.token.start, id.token.end);
      }
      w.raw('}');
      documents.push({ kind: 'send', text: w.text, spans: w.spans, start: head.start, end });
    }
  }

  function pushCommand(name: string, tree: ArgTree, oob: boolean, idText: string | undefined, start: number, end: number): void {
    const hasArgs = tree.size > 0;
    const argumentsText = hasArgs ? treeJson(tree) : undefined;
    const input: CommandInput = oob ? { 'exec-oob': name } : { execute: name };
    if (argumentsText !== undefined) {
      input.arguments = JSON.parse(argumentsText) as Record<string, unknown>;
      if (argumentsText !== JSON.stringify(input.arguments)) input.argumentsText = argumentsText;
    }
    if (idText !== undefined) input.idText = idText;
    const json = `{${JSON.stringify(oob ? 'exec-oob' : 'execute')}:${JSON.stringify(name)}`
      + (argumentsText !== undefined ? `,"arguments":${argumentsText}` : '')
      + (idText !== undefined ? `,"id":${idText}` : '') + '}';
    items.push({
      kind: 'command', input, oob, name, start, end, text: source.slice(start, end), json,
      ...(argumentsText !== undefined ? { argumentsText } : {}),
    });
  }

  function parseWait(tokens: Token[]): void {
    const [head, name, ...rest] = tokens;
    if (head === undefined) return;
    if (name === undefined || name.text.includes('=')) {
      problem(head, 'wait-event needs an event name, e.g. wait-event DEVICE_DELETED device=kbd0 timeout=5000');
      return;
    }
    const before = errors.length;
    const tree = new ArgTree(name.start, name.end);
    let timeoutMs = DEFAULT_WAIT_TIMEOUT_MS;
    const ctx: ArgContext = { command: name.text, oracle: undefined, lines, errors };
    for (const t of rest) {
      if (t.text.startsWith('timeout=')) {
        const v = t.text.slice(8);
        const why = /^\d+$/.test(v) ? timeoutProblem(Number(v)) : 'timeout must be a whole, non-negative number of milliseconds';
        if (why === undefined) timeoutMs = Number(v);
        else problem(t, `${why}, found '${v}'`);
      } else {
        addPair(tree, t, ctx, false);
      }
    }
    if (errors.length !== before) return;
    const data = tree.size > 0 ? (JSON.parse(treeJson(tree)) as Record<string, unknown>) : undefined;
    const end = (tokens[tokens.length - 1] ?? head).end;
    items.push({ kind: 'wait', event: name.text, ...(data !== undefined ? { data } : {}), timeoutMs, start: head.start, end });
    if (documents !== undefined) {
      const w = new JsonWriter();
      w.raw('{');
      w.mapped('"wait-event"', head.start, head.end);
      w.raw(':');
      w.mapped(JSON.stringify(name.text), name.start, name.end);
      if (tree.size > 0) {
        w.raw(',"data":');
        w.tree(tree, source);
      }
      w.raw('}');
      documents.push({ kind: 'wait', text: w.text, spans: w.spans, start: head.start, end });
    }
  }

  function parseTransaction(open: Token): void {
    const before = errors.length;
    const actions: { head: Token; tree: ArgTree }[] = [];
    let action: Token[] = [];
    let closed: Token | undefined;
    const finishAction = (): void => {
      const [head, ...rest] = action;
      action = [];
      if (head === undefined) return;
      if (!NAME.test(head.text)) {
        problem(head, `expected a transaction action name, found '${head.text}'`);
        return;
      }
      const pairs: Token[] = [];
      for (const t of rest) {
        if (t.text.startsWith('--')) problem(t, `options such as '${t.text}' apply to the transaction command, not to an action`);
        else pairs.push(t);
      }
      // An action's data has the same type as the arguments of the command of the same name.
      const tree = buildArgs(pairs, { command: head.text, oracle, lines, errors }, head.start, head.end);
      actions.push({ head, tree });
    };
    while (i < stream.length) {
      const t = stream[i++];
      if (t === null || t === undefined) {
        finishAction();
      } else if (t.text === ';') {
        finishAction();
      } else if (t.text === ')') {
        finishAction();
        closed = t;
        // Anything after ')' on its line is an error, as in qmp-shell.
        while (i < stream.length && stream[i] !== null) {
          const extra = stream[i++] as Token;
          problem(extra, `unexpected '${extra.text}' after the end of the transaction`);
        }
        break;
      } else {
        action.push(t);
      }
    }
    if (closed === undefined) {
      finishAction();
      problem(open, "transaction( is not closed: end it with ')' on its own or after the last action");
      return;
    }
    if (errors.length !== before) return;
    const argumentsText = `{"actions":[${actions.map((a) => `{"type":${JSON.stringify(a.head.text)},"data":${treeJson(a.tree)}}`).join(',')}]}`;
    const input: CommandInput = { execute: 'transaction', arguments: JSON.parse(argumentsText) as Record<string, unknown> };
    items.push({
      kind: 'command', input, oob: false, name: 'transaction', start: open.start, end: closed.end,
      text: source.slice(open.start, closed.end), json: `{"execute":"transaction","arguments":${argumentsText}}`, argumentsText,
    });
    if (documents !== undefined) {
      const w = new JsonWriter();
      w.raw('{');
      w.mapped('"execute"', open.start, open.end);
      w.raw(':');
      w.mapped('"transaction"', open.start, open.end);
      w.raw(',');
      w.mapped('"arguments"', open.start, open.end);
      w.raw(':{"actions":[');
      actions.forEach((a, k) => {
        if (k > 0) w.raw(',');
        const s = w.text.length;
        w.raw('{"type":');
        w.mapped(JSON.stringify(a.head.text), a.head.start, a.head.end);
        w.raw(',"data":');
        w.tree(a.tree, source);
        w.raw('}');
        w.spans.push({ start: s, end: w.text.length, cellStart: a.head.start, cellEnd: a.head.end, exact: false });
      });
      w.raw(']}}');
      documents.push({ kind: 'send', text: w.text, spans: w.spans, start: open.start, end: closed.end });
    }
  }
}

/** `--id=` values: JSON numbers and quoted strings as written, anything else as a string. */
function idJson(raw: string): string {
  if (JSON_NUMBER.test(raw)) return raw;
  if (raw.startsWith('"')) {
    try {
      if (typeof JSON.parse(raw) === 'string') return raw;
    } catch {
      // Not a valid JSON string: quoted below as plain text.
    }
  }
  return JSON.stringify(raw);
}
