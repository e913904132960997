// Parses one code cell into the commands to send, the replies expected, and the events to wait for.
// Pure: the runner (controller.ts) and the command-line runner both call `parseCell`.

import {
  LineIndex, type CellItem, type CommandInput, type CommandItem, type ParsedCell, type ValueKindOracle,
} from './cellTypes';
import { minifyJson } from './json';
import type { CellLanguage } from './notebook';
import { segmentJsonCell, type Segment } from './segments';
import { parseShellCell } from './shell';
import { capProblems, checkCommandShape, checkDuplicates, checkWaitShape, parseJson, type CommandShape, type JsonNode, type JsonParse, type Problem } from './validate';

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

/**
 * The JavaScript value of a node, as `JSON.parse` would give it (ordinary objects, `__proto__` an ordinary
 * key), comments dropped. Integers beyond 2^53 are rounded here; `idText` and `argumentsText` keep them.
 */
function valueOf(text: string, node: JsonNode): unknown {
  return JSON.parse(minifyJson(text, node)) as unknown;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A `qmp` cell already segmented, with the one tree of each object segment (the language service's CellText). */
export interface ScannedJsonCell {
  readonly segments: readonly Segment[];
  syntax(index: number): JsonParse | undefined;
}

/**
 * Parses a `qmp` cell: JSON objects with optional `->`/`<-` markers and comments. `scanned` is the cell's
 * segments and trees when they exist already (the editor's parse of the cell's version): nothing is parsed again.
 */
export function parseJsonCell(source: string, scanned?: ScannedJsonCell): ParsedCell {
  if (scanned === undefined) {
    const simple = simpleCommandCell(source);
    if (simple !== undefined) return simple;
  }
  const lines = new LineIndex(source);
  const items: CellItem[] = [];
  const problems: Problem[] = [];
  let total = 0;
  for (const [k, seg] of (scanned?.segments ?? segmentJsonCell(source)).entries()) {
    const text = source.slice(seg.start, seg.end);
    if (seg.kind === 'junk') {
      total++;
      const shown = text.length > 40 ? `${text.slice(0, 40)}…` : text;
      problems.push({ start: seg.start, end: seg.end, code: 'json-syntax', severity: 'error', message: `expected a JSON object ({ … }), found '${shown}'` });
      continue;
    }
    const found: Problem[] = [];
    const parsed = scanned?.syntax(k) ?? parseJson(source, seg.start, seg.end);
    total += parsed.problemCount - parsed.problems.length;
    found.push(...parsed.problems);
    const root = parsed.root;
    if (root !== undefined && parsed.problems.length === 0) {
      if (root.type !== 'object') {
        found.push({ start: seg.start, end: seg.end, code: 'json-syntax', severity: 'error', message: 'QMP input must be a JSON object' });
      } else {
        checkDuplicates(root, seg.start, found);
        if (seg.kind === 'expect') {
          if (!found.some(isError)) items.push({ kind: 'expect', value: valueOf(text, root), start: seg.start, end: seg.end, text });
        } else if (seg.kind === 'wait') {
          const wait = checkWaitShape(root, seg.start, found);
          if (!found.some(isError) && wait.event !== undefined) {
            const data = wait.data !== undefined ? valueOf(text, wait.data) as Record<string, unknown> : undefined;
            items.push({ kind: 'wait', event: wait.event, ...(data !== undefined ? { data } : {}), timeoutMs: wait.timeoutMs, start: seg.start, end: seg.end });
          }
        } else {
          const shape = checkCommandShape(root, seg.start, found);
          if (!found.some(isError) && shape.name !== undefined) items.push(commandItem(text, root, shape, seg.start, seg.end));
        }
      }
    }
    // Warnings (the 2018 `control` spelling) do not stop a cell: it is sent as exec-oob.
    for (const p of found) if (isError(p)) problems.push(p);
    total += found.filter(isError).length;
  }
  const capped = capProblems(problems, total, (message, at) => ({ start: at, end: at, code: 'too-many-problems', severity: 'error', message }));
  return { items, errors: capped.map((p) => ({ ...lines.problem(p.start, p.end, p.message), code: p.code })) };
}

/**
 * The most common cell, one `{"execute": "NAME"}` (or `exec-oob`) and nothing else: no arguments, id, comment
 * or marker, a name of printable ASCII without quote or backslash. Matched by one linear expression.
 */
const SIMPLE_COMMAND = /^[ \t\r\n]*\{[ \t\r\n]*"(execute|exec-oob)"[ \t\r\n]*:[ \t\r\n]*"([\x21\x23-\x5b\x5d-\x7e]+)"[ \t\r\n]*\}[ \t\r\n]*$/;

/**
 * parseJsonCell's result for the most common cell, without building its tree: what planning a notebook of
 * many small cells costs before its first command (a property test checks it is the general path's result).
 */
function simpleCommandCell(source: string): ParsedCell | undefined {
  const m = SIMPLE_COMMAND.exec(source);
  if (m === null) return undefined;
  const key = m[1] as 'execute' | 'exec-oob';
  const name = m[2] as string;
  const start = source.indexOf('{');
  const end = source.lastIndexOf('}') + 1;
  const input: CommandInput = key === 'exec-oob' ? { 'exec-oob': name } : { execute: name };
  const item: CommandItem = { kind: 'command', input, oob: key === 'exec-oob', name, start, end, text: source.slice(start, end), json: `{"${key}":"${name}"}` };
  return { items: [item], errors: [] };
}

function isError(p: Problem): boolean {
  return p.severity === 'error';
}

/** The command a checked command object sends. */
function commandItem(text: string, root: JsonNode, shape: CommandShape, start: number, end: number): CommandItem {
  const name = shape.name as string;
  const input: CommandInput = shape.nameMember?.name === 'exec-oob' ? { 'exec-oob': name } : { execute: name };
  let argumentsText: string | undefined;
  const args = shape.arguments?.value;
  if (args !== undefined) {
    const value = valueOf(text, args);
    if (isPlainObject(value)) {
      input.arguments = value;
      argumentsText = minifyJson(text, args);
      // Sent as written only where JavaScript would change a literal (integers beyond 2^53, `1.0`).
      if (argumentsText !== JSON.stringify(value)) input.argumentsText = argumentsText;
    }
  }
  const id = shape.id?.value;
  if (id !== undefined) input.idText = text.slice(id.offset, id.offset + id.length);
  // The 2018 `control` spelling is kept in the input: the client sends it as exec-oob.
  const control = shape.control?.value;
  if (control !== undefined) input.control = valueOf(text, control) as { 'run-oob'?: boolean };
  return {
    kind: 'command', input, oob: shape.oob, name, start, end, text,
    json: minifyJson(text, root), ...(argumentsText !== undefined ? { argumentsText } : {}),
  };
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
