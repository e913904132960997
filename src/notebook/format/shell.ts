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

import { parseTree, type ParseError } from 'jsonc-parser';
import {
  DEFAULT_WAIT_TIMEOUT_MS, LineMap,
  type CellItem, type CellProblem, type CommandInput, type ParsedCell, type ValueKind, type ValueKindOracle,
} from './cellTypes';
import { minifyJson } from './json';

interface Token {
  text: string;
  start: number;
  end: number;
}

/** Splits one line into tokens: whitespace separates, except inside quotes and inside `{…}`/`[…]`. */
function tokenize(line: string, base: number, lines: LineMap, errors: CellProblem[]): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < line.length) {
    while (i < line.length && /\s/.test(line[i] ?? '')) i++;
    if (i >= line.length) break;
    const start = i;
    let depth = 0;
    while (i < line.length) {
      const c = line[i] ?? '';
      if (depth === 0 && /\s/.test(c)) break;
      if (c === '"' || c === "'") {
        let j = i + 1;
        while (j < line.length && line[j] !== c) j += line[j] === '\\' ? 2 : 1;
        if (j >= line.length) {
          errors.push(lines.problem(base + i, base + line.length, 'unterminated string'));
          i = line.length;
          break;
        }
        i = j + 1;
        continue;
      }
      if (c === '{' || c === '[') depth++;
      else if ((c === '}' || c === ']') && depth > 0) depth--;
      i++;
    }
    tokens.push({ text: line.slice(start, i), start: base + start, end: base + i });
  }
  return tokens;
}

const INT = /^[+-]?\d+$/;
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;
const LOOSE_NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

interface Typed {
  /** Exact JSON text of the value. */
  json: string;
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
 * Types one value. With schema kinds, a value is read as the first kind it fits in this order: JSON
 * object/array, integer, number, boolean, null, string, so `"1"`-looking text stays a string where only a
 * string is allowed. Without kinds (or with `any`), it is guessed like qmp-shell: integers and decimals,
 * true/false (any case), `{…}`/`[…]` as JSON (an error when it is not JSON), anything else a string.
 * Quoted values are always strings.
 */
export function typeShellValue(raw: string, kinds: readonly ValueKind[] | undefined): Typed | { error: string } {
  if ((raw.startsWith('"') || raw.startsWith("'")) && quotedLength(raw) === raw.length && raw.length >= 2) {
    const s = unquote(raw);
    return s === undefined ? { error: 'invalid string escape' } : { json: JSON.stringify(s) };
  }
  const guess = kinds === undefined || kinds.length === 0 || kinds.includes('any');
  const allows = (k: ValueKind): boolean => guess || (kinds?.includes(k) ?? false);
  if (raw.startsWith('{') || raw.startsWith('[')) {
    if (allows('object') || allows('array')) {
      const errors: ParseError[] = [];
      const root = parseTree(raw, errors, { disallowComments: true, allowTrailingComma: false });
      if (errors.length === 0 && root !== undefined) {
        const kind: ValueKind = root.type === 'array' ? 'array' : 'object';
        if (allows(kind)) return { json: minifyJson(raw, root) };
      }
      // Without a schema a broken `{…}` is far more likely a typo than a string: quote it to mean a string.
      if (guess || !allows('string')) return { error: `invalid JSON value '${raw}'` };
    }
  }
  if (allows('int') && INT.test(raw)) return { json: BigInt(raw).toString() };
  if (allows('number') && LOOSE_NUMBER.test(raw)) {
    return { json: JSON_NUMBER.test(raw) ? raw : String(Number(raw)) };
  }
  if (allows('boolean') && /^(true|false)$/i.test(raw)) return { json: raw.toLowerCase() };
  if (!guess && kinds?.includes('null') === true && raw === 'null') return { json: 'null' };
  if (allows('string')) return { json: JSON.stringify(raw) };
  return { error: `expected ${describeKinds(kinds ?? [])}, found '${raw}'` };
}

/**
 * Arguments built from `key=value` pairs; dotted keys nest. Leaves hold exact JSON text. A Map, so that any
 * member name (even `__proto__`) is just a name.
 */
type ArgTree = Map<string, ArgTree | Typed>;

function isLeaf(v: ArgTree | Typed): v is Typed {
  return !(v instanceof Map);
}

function treeJson(tree: ArgTree): string {
  return '{' + [...tree].map(([k, v]) => JSON.stringify(k) + ':' + (isLeaf(v) ? v.json : treeJson(v))).join(',') + '}';
}

/** Where one command's arguments are being collected, for typing and for error places. */
interface ArgContext {
  /** The name the schema is asked about (the action name inside a transaction). */
  command: string;
  oracle: ValueKindOracle | undefined;
  lines: LineMap;
  errors: CellProblem[];
  /** The arguments with every value guessed, so the schema can pick a union's variant by its tag. */
  partial?: unknown;
}

/**
 * Builds the arguments of one command from its `key=value` tokens. With a schema, a first pass guesses
 * every value so that the second, typed pass can tell the schema the union tags (blockdev-add's `driver`)
 * whichever order the pairs come in.
 */
function buildArgs(tokens: readonly Token[], ctx: ArgContext): ArgTree {
  if (ctx.oracle !== undefined) {
    const guessed: ArgTree = new Map();
    const scratch: ArgContext = { ...ctx, errors: [] };
    for (const t of tokens) addPair(guessed, t, scratch, false);
    ctx.partial = JSON.parse(treeJson(guessed)) as unknown;
  }
  const tree: ArgTree = new Map();
  for (const t of tokens) addPair(tree, t, ctx, true);
  return tree;
}

/** Adds one `key=value` token to `tree`; reports malformed keys, conflicts and badly typed values. */
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
  const kinds = typed ? ctx.oracle?.valueKindsAt(ctx.command, path, ctx.partial) : undefined;
  const value = typeShellValue(token.text.slice(eq + 1), kinds);
  if ('error' in value) {
    err(`${key}: ${value.error}`);
    return;
  }
  let node = tree;
  for (let k = 0; k < path.length - 1; k++) {
    const part = path[k] ?? '';
    const next = node.get(part);
    if (next === undefined) {
      const child: ArgTree = new Map();
      node.set(part, child);
      node = child;
    } else if (isLeaf(next)) {
      err(`cannot use '${path.slice(0, k + 1).join('.')}' as both a value and an object`);
      return;
    } else {
      node = next;
    }
  }
  const last = path[path.length - 1] ?? '';
  const existing = node.get(last);
  if (existing !== undefined) {
    err(isLeaf(existing) ? `'${key}' is set more than once` : `cannot use '${key}' as both a value and an object`);
    return;
  }
  node.set(last, value);
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.+-]*$/;

/** Parses a `qmp-shell` cell. */
export function parseShellCell(source: string, oracle?: ValueKindOracle): ParsedCell {
  const lines = new LineMap(source);
  const items: CellItem[] = [];
  const errors: CellProblem[] = [];
  // Tokens of all lines; `null` marks a line end (it ends a transaction action).
  const stream: (Token | null)[] = [];
  let pos = 0;
  while (pos <= source.length) {
    let end = source.indexOf('\n', pos);
    if (end < 0) end = source.length;
    const line = source.slice(pos, end);
    const trimmed = line.trimStart();
    if (trimmed !== '' && !trimmed.startsWith('#') && !trimmed.startsWith('//')) {
      for (const t of tokenize(line, pos, lines, errors)) {
        // A trailing `;` separates transaction actions; it is its own token.
        if (t.text.length > 1 && t.text.endsWith(';')) {
          stream.push({ text: t.text.slice(0, -1), start: t.start, end: t.end - 1 }, { text: ';', start: t.end - 1, end: t.end });
        } else {
          stream.push(t);
        }
      }
      stream.push(null);
    }
    pos = end + 1;
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
  return { items, errors };

  function parseCommand(tokens: Token[]): void {
    const [head, ...rest] = tokens;
    if (head === undefined) return;
    const before = errors.length;
    if (!NAME.test(head.text)) {
      problem(head, `expected a command name, found '${head.text}'`);
      return;
    }
    let oob = false;
    let idText: string | undefined;
    const pairs: Token[] = [];
    for (const t of rest) {
      if (t.text === '--oob') oob = true;
      else if (t.text.startsWith('--id=')) idText = idJson(t.text.slice(5));
      else if (t.text.startsWith('--')) problem(t, `unknown option '${t.text}' (options: --oob, --id=VALUE)`);
      else if (t.text === ';' || t.text === ')') problem(t, `unexpected '${t.text}' outside a transaction`);
      else pairs.push(t);
    }
    const tree = buildArgs(pairs, { command: head.text, oracle, lines, errors });
    if (errors.length !== before) return;
    pushCommand(head.text, tree, oob, idText, head.start, (tokens[tokens.length - 1] ?? head).end);
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
    const tree: ArgTree = new Map();
    let timeoutMs = DEFAULT_WAIT_TIMEOUT_MS;
    const ctx: ArgContext = { command: name.text, oracle: undefined, lines, errors };
    for (const t of rest) {
      if (t.text.startsWith('timeout=')) {
        const v = t.text.slice(8);
        if (/^\d+$/.test(v)) timeoutMs = Number(v);
        else problem(t, `timeout must be a whole number of milliseconds, found '${v}'`);
      } else {
        addPair(tree, t, ctx, false);
      }
    }
    if (errors.length !== before) return;
    const data = tree.size > 0 ? (JSON.parse(treeJson(tree)) as Record<string, unknown>) : undefined;
    const end = (tokens[tokens.length - 1] ?? head).end;
    items.push({ kind: 'wait', event: name.text, ...(data !== undefined ? { data } : {}), timeoutMs, start: head.start, end });
  }

  function parseTransaction(open: Token): void {
    const before = errors.length;
    const actions: string[] = [];
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
      const tree = buildArgs(pairs, { command: head.text, oracle, lines, errors });
      actions.push(`{"type":${JSON.stringify(head.text)},"data":${treeJson(tree)}}`);
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
    const argumentsText = `{"actions":[${actions.join(',')}]}`;
    const input: CommandInput = { execute: 'transaction', arguments: JSON.parse(argumentsText) as Record<string, unknown> };
    items.push({
      kind: 'command', input, oob: false, name: 'transaction', start: open.start, end: closed.end,
      text: source.slice(open.start, closed.end), json: `{"execute":"transaction","arguments":${argumentsText}}`, argumentsText,
    });
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
