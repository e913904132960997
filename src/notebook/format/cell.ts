// Parses one code cell into the commands to send, the replies expected, and the events to wait for.
// Pure: the runner (controller.ts) and the command-line runner both call `parseCell`.

import { parseTree, ParseErrorCode, type Node, type ParseError } from 'jsonc-parser';
import {
  DEFAULT_WAIT_TIMEOUT_MS, LineMap,
  type CellItem, type CellProblem, type CommandInput, type ParsedCell, type ValueKindOracle,
} from './cellTypes';
import { minifyJson } from './json';
import type { CellLanguage } from './notebook';
import { segmentJsonCell, skipComment } from './segments';
import { parseShellCell } from './shell';

/**
 * Parses a code cell. `schema` types `qmp-shell` values (a `Schema`, or anything with `valueKindsAt`).
 * Never throws. A cell with errors must not be sent.
 */
export function parseCell(source: string, language: CellLanguage, schema?: ValueKindOracle): ParsedCell {
  switch (language) {
    case 'qmp':
      return parseJsonCell(source);
    case 'qmp-shell':
      return parseShellCell(source, schema);
    case 'hmp':
      return parseHmpCell(source);
    default:
      return { items: [], errors: [] };
  }
}

/** The innermost bracket open at `offset` in `text` ('{' or '['), skipping strings and comments. */
function enclosingBracket(text: string, offset: number): '{' | '[' | undefined {
  const stack: string[] = [];
  let i = 0;
  while (i < offset && i < text.length) {
    const c = text[i];
    if (c === '"') {
      i++;
      while (i < text.length && text[i] !== '"' && text[i] !== '\n') i += text[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    const j = skipComment(text, i);
    if (j !== i) {
      i = j;
      continue;
    }
    if (c === '{' || c === '[') stack.push(c);
    else if (c === '}' || c === ']') stack.pop();
    i++;
  }
  const top = stack[stack.length - 1];
  return top === '{' || top === '[' ? top : undefined;
}

/** The previous character that is not whitespace, skipping nothing else (used to spot trailing commas). */
function previousSignificant(text: string, offset: number): string | undefined {
  let i = offset - 1;
  while (i >= 0 && /\s/.test(text[i] ?? '')) i--;
  return i >= 0 ? text[i] : undefined;
}

/** A readable message for a jsonc-parser error in `text` at `offset`. */
function syntaxMessage(code: ParseErrorCode, text: string, offset: number): string {
  const here = text[offset];
  const closing = here === '}' || here === ']';
  switch (code) {
    case ParseErrorCode.InvalidSymbol:
      if (here === "'") return 'strings must use double quotes';
      return here === undefined ? 'unexpected end of the object' : `unexpected character '${here}'`;
    case ParseErrorCode.InvalidNumberFormat:
    case ParseErrorCode.UnexpectedEndOfNumber:
      return 'invalid number';
    case ParseErrorCode.PropertyNameExpected:
      if (closing && previousSignificant(text, offset) === ',') return 'trailing comma: remove the \',\' before \'}\'';
      return 'expected a member name in double quotes';
    case ParseErrorCode.ValueExpected:
      if (closing && previousSignificant(text, offset) === ',') return `trailing comma: remove the ',' before '${here ?? ''}'`;
      return 'expected a value';
    case ParseErrorCode.ColonExpected:
      return "expected ':'";
    case ParseErrorCode.CommaExpected:
      return enclosingBracket(text, offset) === '[' ? "expected ',' or ']'" : "expected ',' or '}'";
    case ParseErrorCode.CloseBraceExpected:
      return "expected '}': the object is not closed";
    case ParseErrorCode.CloseBracketExpected:
      return "expected ']': the array is not closed";
    case ParseErrorCode.EndOfFileExpected:
      return 'unexpected text after the object';
    case ParseErrorCode.InvalidCommentToken:
    case ParseErrorCode.UnexpectedEndOfComment:
      return 'unterminated comment';
    case ParseErrorCode.UnexpectedEndOfString:
      return 'unterminated string';
    case ParseErrorCode.InvalidUnicode:
      return 'invalid \\u escape in string';
    case ParseErrorCode.InvalidEscapeCharacter:
      return 'invalid escape in string';
    case ParseErrorCode.InvalidCharacter:
      return 'control character in string: escape it';
    default:
      return 'invalid JSON';
  }
}

interface Member {
  key: string;
  keyNode: Node;
  value: Node;
}

/** The members of an object node, reporting duplicate keys (QEMU rejects them). */
function membersOf(node: Node, base: number, lines: LineMap, errors: CellProblem[]): Member[] {
  const seen = new Set<string>();
  const members: Member[] = [];
  for (const prop of node.children ?? []) {
    const [keyNode, value] = prop.children ?? [];
    if (keyNode === undefined || value === undefined) continue;
    const key = String(keyNode.value);
    if (seen.has(key)) {
      errors.push(lines.problem(base + keyNode.offset, base + keyNode.offset + keyNode.length, `duplicate member "${key}"`));
    }
    seen.add(key);
    members.push({ key, keyNode, value });
  }
  return members;
}

/**
 * The JavaScript value of a node, as `JSON.parse` would give it (ordinary objects, `__proto__` an ordinary
 * key), comments dropped. Integers beyond 2^53 are rounded here; `idText` and `argumentsText` keep them.
 */
function valueOf(text: string, node: Node): unknown {
  return JSON.parse(minifyJson(text, node)) as unknown;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Parses a `qmp` cell: JSON objects with optional `->`/`<-` markers and comments. */
export function parseJsonCell(source: string): ParsedCell {
  const lines = new LineMap(source);
  const items: CellItem[] = [];
  const errors: CellProblem[] = [];
  for (const seg of segmentJsonCell(source)) {
    const text = source.slice(seg.start, seg.end);
    if (seg.kind === 'junk') {
      const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
      errors.push(lines.problem(seg.start, seg.end, `expected a JSON object ({ … }), found '${shown}'`));
      continue;
    }
    const parseErrors: ParseError[] = [];
    const root = parseTree(text, parseErrors, { disallowComments: false, allowTrailingComma: false, allowEmptyContent: false });
    if (parseErrors.length > 0 || root === undefined || root.type !== 'object') {
      // jsonc-parser may report one mistake twice at one place (e.g. a trailing comma); say it once.
      const said = new Set<string>();
      for (const e of parseErrors) {
        const start = seg.start + Math.min(e.offset, text.length);
        const message = syntaxMessage(e.error, text, e.offset);
        if (said.has(`${start}:${message}`)) continue;
        said.add(`${start}:${message}`);
        errors.push(lines.problem(start, Math.min(start + e.length, seg.end), message));
      }
      continue;
    }
    const before = errors.length;
    const members = membersOf(root, seg.start, lines, errors);
    const at = (node: Node, message: string): void => {
      errors.push(lines.problem(seg.start + node.offset, seg.start + node.offset + node.length, message));
    };
    if (seg.kind === 'expect') {
      if (errors.length === before) items.push({ kind: 'expect', value: valueOf(text, root), start: seg.start, end: seg.end, text });
      continue;
    }
    if (seg.kind === 'wait') {
      let event = '';
      let data: Record<string, unknown> | undefined;
      let timeoutMs = DEFAULT_WAIT_TIMEOUT_MS;
      for (const m of members) {
        const value = valueOf(text, m.value);
        if (m.key === 'wait-event') {
          if (typeof value === 'string' && value !== '') event = value;
          else at(m.value, '"wait-event" must be an event name, e.g. "STOP"');
        } else if (m.key === 'data') {
          if (isPlainObject(value)) data = value;
          else at(m.value, '"data" must be an object (the members the event\'s data must match)');
        } else if (m.key === 'timeout') {
          if (typeof value === 'number' && Number.isFinite(value) && value >= 0) timeoutMs = value;
          else at(m.value, '"timeout" must be a number of milliseconds');
        } else {
          at(m.keyNode, `unexpected member "${m.key}" in wait-event (allowed: "wait-event", "data", "timeout")`);
        }
      }
      if (errors.length === before) {
        items.push({ kind: 'wait', event, ...(data !== undefined ? { data } : {}), timeoutMs, start: seg.start, end: seg.end });
      }
      continue;
    }
    const input: CommandInput = {};
    let argumentsText: string | undefined;
    let name: string | undefined;
    let oob = false;
    for (const m of members) {
      const value = valueOf(text, m.value);
      switch (m.key) {
        case 'execute':
        case 'exec-oob':
          if (typeof value !== 'string' || value === '') {
            at(m.value, `"${m.key}" must be a command name`);
          } else if (name !== undefined) {
            at(m.keyNode, '"execute" and "exec-oob" cannot both be given');
          } else {
            name = value;
            input[m.key] = value;
            if (m.key === 'exec-oob') oob = true;
          }
          break;
        case 'arguments':
          if (isPlainObject(value)) {
            input.arguments = value;
            argumentsText = minifyJson(text, m.value);
            // Sent as written only where JavaScript would change a literal (integers beyond 2^53, `1.0`).
            if (argumentsText !== JSON.stringify(value)) input.argumentsText = argumentsText;
          } else {
            at(m.value, '"arguments" must be an object');
          }
          break;
        case 'id':
          input.idText = text.slice(m.value.offset, m.value.offset + m.value.length);
          break;
        case 'control':
          if (isPlainObject(value) && Object.keys(value).every((k) => k === 'run-oob') && (value['run-oob'] === undefined || typeof value['run-oob'] === 'boolean')) {
            input.control = value as { 'run-oob'?: boolean };
            if (value['run-oob'] === true) oob = true;
          } else {
            at(m.value, '"control" must be {"run-oob": true|false}');
          }
          break;
        default:
          at(m.keyNode, `unexpected member "${m.key}" (a command has "execute" or "exec-oob", "arguments" and "id")`);
      }
    }
    if (name === undefined && errors.length === before) {
      errors.push(lines.problem(seg.start, seg.start + 1, 'a command needs "execute" (or "exec-oob"), e.g. {"execute": "query-status"}'));
    }
    if (errors.length === before && name !== undefined) {
      items.push({
        kind: 'command', input, oob, name, start: seg.start, end: seg.end, text,
        json: minifyJson(text, root), ...(argumentsText !== undefined ? { argumentsText } : {}),
      });
    }
  }
  return { items, errors };
}

/** Parses an `hmp` cell: each non-empty line that does not start with `#` is one HMP command. */
export function parseHmpCell(source: string): ParsedCell {
  const items: CellItem[] = [];
  let pos = 0;
  while (pos <= source.length) {
    let end = source.indexOf('\n', pos);
    if (end < 0) end = source.length;
    let a = pos;
    let b = end;
    while (a < b && /\s/.test(source[a] ?? '')) a++;
    while (b > a && /\s/.test(source[b - 1] ?? '')) b--;
    const line = source.slice(a, b);
    if (line !== '' && !line.startsWith('#')) {
      const input: CommandInput = { execute: 'human-monitor-command', arguments: { 'command-line': line } };
      const argumentsText = JSON.stringify({ 'command-line': line });
      items.push({
        kind: 'command', input, oob: false, name: 'human-monitor-command', start: a, end: b, text: line,
        json: `{"execute":"human-monitor-command","arguments":${argumentsText}}`, argumentsText,
      });
    }
    pos = end + 1;
  }
  return { items, errors: [] };
}
