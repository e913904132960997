// The language server's own document features, computed from a document's regions (regions.ts) and the parse
// of each one's version the server holds (language/parsed.ts): document symbols, folding ranges and semantic
// tokens, none of which scans a cell again. Pure (no connection), so the bench and the linearity tests run
// them on hostile text as the server does. Every function here is linear in the size of the document: the
// qmp-shell words come from the one tokenizer (format/shellTokens.ts), which reads each character
// once (a regular expression that retried a long word from each of its characters made one 160k-character
// word take 11 s).

import { createScanner, SyntaxKind } from 'jsonc-parser';
import {
  type DocumentSymbol, type FoldingRange, type SemanticTokens, SemanticTokensBuilder, type SemanticTokensLegend, SymbolKind,
} from 'vscode-languageserver/node';
import { parseCell, shellLines, type ParsedCell, type ShellLine, type ShellToken } from '../format/index';
import { CellText } from '../language/parsed';
import type { Schema } from '../qmp/schema';
import { type Region, toDocPosition, toDocRange } from './regions';

export const SEMANTIC_TOKEN_TYPES = ['function', 'property', 'string', 'number', 'keyword', 'event', 'comment', 'operator'] as const;
export type TokenType = (typeof SEMANTIC_TOKEN_TYPES)[number];
export const SEMANTIC_LEGEND: SemanticTokensLegend = { tokenTypes: [...SEMANTIC_TOKEN_TYPES], tokenModifiers: [] };

/**
 * What a region sends, expects and waits for: the server passes the parse of the region's version it already
 * holds (parsed.ts), so symbols and folding do not parse a cell again; without it, the cell parser.
 */
export type CommandsOf = (r: Region) => ParsedCell;

const parseRegion = (schema: Schema | undefined): CommandsOf => (r) => parseCell(r.text, r.language, schema);

/** One symbol per cell (named by its index and language), with one child per command, event wait or expectation. */
export function documentSymbols(regions: readonly Region[], schema: Schema | undefined, commandsOf: CommandsOf = parseRegion(schema)): DocumentSymbol[] {
  const symbols: DocumentSymbol[] = [];
  for (const r of regions) {
    const parsed = commandsOf(r);
    const children: DocumentSymbol[] = [];
    for (const item of parsed.items) {
      const range = toDocRange(r, item.start, item.end);
      const name = item.kind === 'command' ? item.name : item.kind === 'wait' ? `wait-event ${item.event}` : '<- expected';
      const kind = item.kind === 'command' ? SymbolKind.Function : item.kind === 'wait' ? SymbolKind.Event : SymbolKind.Object;
      children.push({ name, kind, range, selectionRange: range });
    }
    const range = toDocRange(r, 0, r.text.length);
    const commands = children.filter((c) => c.kind === SymbolKind.Function).map((c) => c.name);
    const detail = commands.length > 0 ? commands.slice(0, 3).join(', ') + (commands.length > 3 ? ', …' : '') : undefined;
    symbols.push({
      name: `Cell ${r.index} (${r.language})`, kind: SymbolKind.Module, range, selectionRange: { start: range.start, end: range.start },
      ...(detail !== undefined ? { detail } : {}), children,
    });
  }
  return symbols;
}

/** A fenced cell folds from its opening fence to its closing fence; a command written over several lines folds too. */
export function foldingRanges(regions: readonly Region[], schema: Schema | undefined, commandsOf: CommandsOf = parseRegion(schema)): FoldingRange[] {
  const out: FoldingRange[] = [];
  for (const r of regions) {
    const last = r.startLine + r.lineStarts.length - 1;
    const start = r.fenced === true ? r.startLine - 1 : r.startLine;
    const end = r.fenced === true && r.closed === true ? last + 1 : last;
    if (end > start) out.push({ startLine: start, endLine: end, kind: 'region' });
    if (r.language === 'hmp') continue;
    for (const item of commandsOf(r).items) {
      const a = toDocPosition(r, item.start).line;
      const b = toDocPosition(r, item.end).line;
      if (b > a) out.push({ startLine: a, endLine: b });
    }
  }
  return out;
}

function lineLength(r: Region, rel: number): number {
  const start = r.lineStarts[rel] ?? r.text.length;
  let end = rel + 1 < r.lineStarts.length ? (r.lineStarts[rel + 1] as number) : r.text.length;
  while (end > start && (r.text.charCodeAt(end - 1) === 10 || r.text.charCodeAt(end - 1) === 13)) end--;
  return end - start;
}

/** A region's parse (the server's parse of its version, parsed.ts): semantic tokens read its scan and words. */
export type CellOf = (r: Region) => CellText;

/** The semantic tokens of one cell, in cell offsets: [start, end, type index] triples, in order. */
type CellTokens = number[];

/**
 * The semantic tokens of every `qmp` and `qmp-shell` region, in document order. `cellOf` gives each region's
 * parse: the tokens come from its one scan (a `qmp` cell's objects) or its one tokenizer run (`qmp-shell`
 * words), and are remembered on it, so a version is never scanned again for them; without it, a parse made
 * for this call.
 */
export function semanticTokens(regions: readonly Region[], cellOf: CellOf = (r) => new CellText(r.text)): SemanticTokens {
  const builder = new SemanticTokensBuilder();
  for (const r of regions) {
    if (r.language !== 'qmp' && r.language !== 'qmp-shell') continue;
    const cell = cellOf(r);
    const tokens = cell.memo(`semanticTokens:${r.language}`, [], (): CellTokens => {
      const out: CellTokens = [];
      const push = (start: number, end: number, type: TokenType): void => { out.push(start, end, SEMANTIC_TOKEN_TYPES.indexOf(type)); };
      if (r.language === 'qmp') cellJsonTokens(cell, push);
      else shellTokens(cell.text, push, cell.shellLines);
      return out;
    });
    for (let k = 0; k + 2 < tokens.length; k += 3) {
      const start = tokens[k] as number;
      const p = toDocPosition(r, start);
      const e = toDocPosition(r, tokens[k + 1] as number);
      // Tokens never span lines; a string with a raw line break is cut at its line's end.
      const length = e.line === p.line ? e.character - p.character : Math.max(0, lineLength(r, p.line - r.startLine) - (p.character - (p.line === r.startLine ? r.startCharacter : 0)));
      if (length > 0) builder.push(p.line, p.character, length, tokens[k + 2] as number, 0);
    }
  }
  return builder.build();
}

/** One token as the classifier reads it: its kind, cell offsets, and a string's value. */
interface JsonToken {
  kind: SyntaxKind;
  start: number;
  end: number;
  value: string;
}

/** The tokens of text[start, end) from a scanner of its own (what no scan of the cell covers: junk, the text between objects). */
function* scannedTokens(text: string, start: number, end: number): Generator<JsonToken> {
  const scanner = createScanner(text.slice(start, end), false);
  for (let kind = scanner.scan(); kind !== SyntaxKind.EOF; kind = scanner.scan()) {
    if (kind === SyntaxKind.Trivia || kind === SyntaxKind.LineBreakTrivia) continue;
    const s = start + scanner.getTokenOffset();
    yield { kind, start: s, end: s + scanner.getTokenLength(), value: scanner.getTokenValue() };
  }
}

/**
 * A `qmp` cell's tokens: each object's from the cell's one scan of it (parsed.ts), the text between objects (markers,
 * comments, junk) read on its own; in cell order.
 */
function* cellTokens(cell: CellText): Generator<JsonToken> {
  const { text } = cell;
  const { segments, scans } = cell.scan;
  let from = 0;
  for (const [k, seg] of segments.entries()) {
    const scan = scans[k];
    // Junk, and an object too deeply nested to scan, have no tokens of the scan: they are read with the gap before them.
    if (scan === undefined || scan.deep !== undefined) continue;
    if (seg.start > from) yield* scannedTokens(text, from, seg.start);
    for (const t of scan.tokens) yield { kind: t.kind, start: scan.start + t.offset, end: scan.start + t.offset + t.length, value: t.value };
    from = seg.end;
  }
  if (text.length > from) yield* scannedTokens(text, from, text.length);
}

/** Semantic tokens of a `qmp` cell from its parse (the one scan of each object). */
export function cellJsonTokens(cell: CellText, push: (start: number, end: number, type: TokenType) => void): void {
  classifyJsonTokens(cell.text, cellTokens(cell), push);
}

/** Semantic tokens of a `qmp` cell: command and event names, member names, values, comments, `->`/`<-`. */
export function jsonTokens(text: string, push: (start: number, end: number, type: TokenType) => void): void {
  classifyJsonTokens(text, scannedTokens(text, 0, text.length), push);
}

function classifyJsonTokens(text: string, tokens: Iterable<JsonToken>, push: (start: number, end: number, type: TokenType) => void): void {
  let lastKey: string | undefined;
  let pendingString: { start: number; end: number; value: string } | undefined;
  const flushString = (asKey: boolean): void => {
    if (pendingString === undefined) return;
    const s = pendingString;
    pendingString = undefined;
    if (asKey) {
      push(s.start, s.end, 'property');
      lastKey = s.value;
      return;
    }
    const type: TokenType = lastKey === 'execute' || lastKey === 'exec-oob' ? 'function' : lastKey === 'event' || lastKey === 'wait-event' ? 'event' : 'string';
    push(s.start, s.end, type);
    lastKey = undefined;
  };
  for (const { kind, start, end, value } of tokens) {
    if (kind === SyntaxKind.ColonToken) {
      flushString(true);
      continue;
    }
    flushString(false);
    switch (kind) {
      case SyntaxKind.StringLiteral:
        pendingString = { start, end, value };
        break;
      case SyntaxKind.NumericLiteral:
        push(start, end, 'number');
        lastKey = undefined;
        break;
      case SyntaxKind.TrueKeyword:
      case SyntaxKind.FalseKeyword:
      case SyntaxKind.NullKeyword:
        push(start, end, 'keyword');
        lastKey = undefined;
        break;
      case SyntaxKind.LineCommentTrivia:
      case SyntaxKind.BlockCommentTrivia:
        push(start, end, 'comment');
        break;
      case SyntaxKind.Unknown:
        if ((text.startsWith('->', start) || text.startsWith('<-', start))) push(start, start + 2, 'operator');
        else if (text.charCodeAt(start) === 60 && text.charCodeAt(end) === 45) push(start, end + 1, 'operator');
        break;
      case SyntaxKind.OpenBraceToken:
      case SyntaxKind.OpenBracketToken:
        lastKey = undefined;
        break;
      default:
        break;
    }
  }
  flushString(false);
}

/**
 * Semantic tokens of a `qmp-shell` cell: the command word, `key=` names and their values, comments. The words
 * are the one qmp-shell tokenizer's (shellTokens.ts; `lines`: the cell's run of it, parsed.ts), so a quoted or
 * bracketed value with spaces is one value, as the parser reads it. Linear.
 */
export function shellTokens(text: string, push: (start: number, end: number, type: TokenType) => void, lines: readonly ShellLine[] = shellLines(text)): void {
  for (const line of lines) {
    if (line.comment) {
      let start = line.start;
      while (/\s/.test(text.charAt(start))) start++;
      let end = line.end;
      while (end > start && /\s/.test(text.charAt(end - 1))) end--;
      push(start, end, 'comment');
      continue;
    }
    let i = 0;
    // Options before the command (`-i`).
    while (i < line.tokens.length && (line.tokens[i] as ShellToken).text.startsWith('-')) i++;
    const head = line.tokens[i];
    const name = head === undefined ? null : COMMAND_WORD.exec(head.text);
    if (head === undefined || name === null) continue;
    push(head.start, head.start + name[0].length, 'function');
    for (let k = i + 1; k < line.tokens.length; k++) {
      const t = line.tokens[k] as ShellToken;
      // A key is a run of word characters, dots and dashes that ends at '=' (read without allocating).
      let e = t.start;
      while (e < t.end && isKeyChar(text.charCodeAt(e))) e++;
      if (e === t.start || e >= t.end || text.charCodeAt(e) !== 61 /* = */) continue;
      push(t.start, e, 'property');
      // A trailing `;` separates transaction actions: it is not part of the value.
      const v = e + 1;
      const vEnd = text.charCodeAt(t.end - 1) === 59 /* ; */ ? t.end - 1 : t.end;
      push(v, vEnd, valueType(text, v, vEnd));
    }
  }
}

function isKeyChar(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 46 || c === 45;
}

/** `number` for what starts like one, `keyword` for true/false/null, else `string`. */
function valueType(text: string, v: number, end: number): TokenType {
  const c = text.charCodeAt(v);
  const d = c === 45 /* - */ ? text.charCodeAt(v + 1) : c;
  if (v < end && d >= 48 && d <= 57 && (c !== 45 || v + 1 < end)) return 'number';
  const len = end - v;
  if ((len === 4 && (text.startsWith('true', v) || text.startsWith('null', v))) || (len === 5 && text.startsWith('false', v))) return 'keyword';
  return 'string';
}

const COMMAND_WORD = /^[A-Za-z_][\w.-]*/;
