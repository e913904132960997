// The one validator of what a cell may send: JSON syntax (with QEMU's nesting limit), the top-level shape of
// a command as QEMU's dispatcher checks it (qmp_dispatch_check_obj), and the wait-event clause. The cell
// parser (cell.ts: what is sent; a cell with an error is not sent) and the language service's diagnostics
// (what the editor and `qmp-notebook check` show) both call these functions, so one mistake is one problem,
// in one wording, at one place.
//
// Every function here is linear in its input, iterative where depth is unbounded, and never throws. A cell
// reports at most MAX_PROBLEMS problems; `capProblems` adds one summary for the rest.

import { createScanner, ParseErrorCode, ScanError, SyntaxKind, type JSONVisitor } from 'jsonc-parser';
import { DEFAULT_WAIT_TIMEOUT_MS } from './cellTypes';
import { skipComment } from './segments';

/** QEMU's JSON parser refuses input nested deeper than this (MAX_NESTING in qobject/json-parser.c). */
export const MAX_NESTING = 1024;
/** The problems listed per cell; the rest are counted in one summary. A person reads the first few. */
export const MAX_PROBLEMS = 100;
/** The longest wait a timer can express (Node's setTimeout fires at once beyond 2^31-1 ms, about 24.8 days). */
export const MAX_TIMEOUT_MS = 2 ** 31 - 1;

/** Stable problem codes, shared with the language service's diagnostics (a subset of its codes). */
export type ProblemCode =
  | 'json-syntax' | 'too-deep' | 'unexpected-key' | 'legacy-control' | 'missing-member' | 'wrong-type'
  | 'shell-syntax' | 'too-many-problems';

/** A problem at [start, end) of the cell text (UTF-16 offsets). Warnings do not stop a cell from being sent. */
export interface Problem {
  start: number;
  end: number;
  code: ProblemCode;
  severity: 'error' | 'warning';
  message: string;
  /** For 'unexpected-key': a near name the author probably meant. For 'legacy-control': 'exec-oob'. */
  suggestion?: string;
}

/** The top-level members QEMU's dispatcher accepts (qmp_dispatch_check_obj). */
export const COMMAND_KEYS: readonly string[] = ['execute', 'exec-oob', 'arguments', 'id'];
/** The members of a wait-event clause. */
export const WAIT_KEYS: readonly string[] = ['wait-event', 'data', 'timeout'];

// ---- nesting ------------------------------------------------------------------------------------------

/**
 * The offset of the first bracket in text[start, end) that opens level MAX_NESTING + 1, skipping strings
 * and comments; undefined when the text nests no deeper than QEMU accepts. One pass, no recursion.
 * `singleQuotes` also skips '…' strings (Python literals in qmp-shell values); JSON has none.
 */
export function tooDeepAt(text: string, start = 0, end = text.length, singleQuotes = false, limit = MAX_NESTING): number | undefined {
  let depth = 0;
  let i = start;
  while (i < end) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */ || (singleQuotes && c === 39 /* ' */)) {
      let j = i + 1;
      while (j < end && text.charCodeAt(j) !== c && text.charCodeAt(j) !== 10) j += text.charCodeAt(j) === 92 ? 2 : 1;
      i = j + 1;
      continue;
    }
    if (c === 47 /* / */) {
      const j = skipComment(text, i);
      if (j !== i) {
        i = j;
        continue;
      }
    }
    if (c === 123 || c === 91) {
      depth++;
      if (depth > limit) return i;
    } else if ((c === 125 || c === 93) && depth > 0) {
      depth--;
    }
    i++;
  }
  return undefined;
}

export function tooDeepProblem(offset: number): Problem {
  return {
    start: offset, end: offset + 1, code: 'too-deep', severity: 'error',
    message: `nested deeper than ${MAX_NESTING} levels, which QEMU refuses`,
  };
}

// ---- JSON syntax: the one tree ------------------------------------------------------------------------

/** A text range by UTF-16 offsets into the cell, `end` exclusive. */
export interface OffsetRange {
  start: number;
  end: number;
}

/**
 * What every node of the one tree has. Two sets of places, for two kinds of readers: `start`/`end` are cell
 * offsets (the cursor's: completion, hover, code actions, live values); `offset`/`length` are relative to the
 * segment and are jsonc-parser's `Node` fields, with its values (the checks below and the diagnostics place
 * problems by them; an object left open runs to the end of the segment there).
 */
interface TreeBase extends OffsetRange {
  offset: number;
  length: number;
  /**
   * True for what only the tolerant reading has, that jsonc-parser's `parseTree` skips after a syntax error: a
   * bare word, a key without quotes, a member or value read from tokens the parser passes over. A loose node is
   * never among the `children` of a strict node, so every check that reads `children` from the root sees exactly
   * `parseTree`'s tree.
   */
  loose?: true;
}

export type JsonNode = JsonObject | JsonArray | JsonScalar;

export interface JsonObject extends TreeBase {
  type: 'object';
  /** The property whose value this is, or the array holding it; undefined for the root. */
  parent?: JsonProperty | JsonArray | undefined;
  /** Every member in text order, loose ones included (what the cursor walks). */
  properties: JsonProperty[];
  /** The members `parseTree` has (no loose ones). */
  children: JsonProperty[];
  /** False when the closing brace is missing. */
  closed: boolean;
}

export interface JsonArray extends TreeBase {
  type: 'array';
  parent?: JsonProperty | JsonArray | undefined;
  /** Every element in text order, loose ones included. */
  items: JsonNode[];
  /** The elements `parseTree` has. */
  children: JsonNode[];
  closed: boolean;
}

export interface JsonScalar extends TreeBase {
  /** 'word' is a bare word that is not a JSON literal, typically a value being typed without quotes (always loose). */
  type: 'string' | 'number' | 'boolean' | 'null' | 'word';
  /** The property whose value (or key: `JsonProperty.children[0]`) this is, or the array holding it. */
  parent?: JsonProperty | JsonArray | undefined;
  value: string | number | boolean | null;
  /** False for a string without its closing quote. */
  terminated: boolean;
  children?: undefined;
}

export interface JsonProperty extends TreeBase {
  type: 'property';
  key: string;
  keyRange: OffsetRange;
  /** False for a key typed without quotes. */
  keyQuoted: boolean;
  keyTerminated: boolean;
  /** Cell offset of the colon, if typed. */
  colon?: number | undefined;
  /** Segment offset of the colon, as `parseTree` sets it. */
  colonOffset?: number | undefined;
  /** The value, loose or not (a loose value is not `children[1]`). */
  value?: JsonNode | undefined;
  /** `parseTree`'s children: the key's string node, then the value when it has one. */
  children: JsonNode[];
  parent: JsonObject;
}

/** A segment's tree with its syntax problems (cell offsets), capped; `root` undefined when there is none. */
export interface JsonParse {
  root: JsonNode | undefined;
  problems: Problem[];
  /** How many syntax problems there were, including those not listed. */
  problemCount: number;
}

/** One token of jsonc-parser's scanner (whitespace left out; comments kept), offsets relative to the segment. */
export interface ScannedToken {
  kind: SyntaxKind;
  offset: number;
  length: number;
  value: string;
  error: ScanError;
}

/**
 * One segment of a cell scanned once: the tokens the one tree is built from (buildTree below), which the
 * language service's cursor reads too (jsonCursor.ts). Input nested deeper than
 * MAX_NESTING is not scanned: `deep` is where it goes too deep, and there are no tokens.
 */
export interface JsonScan {
  /** text[start, end) of the cell. */
  start: number;
  end: number;
  seg: string;
  deep: number | undefined;
  tokens: ScannedToken[];
}

/** Scans text[start, end) once (linear; whitespace tokens are not kept). */
export function scanJson(text: string, start = 0, end = text.length): JsonScan {
  const seg = start === 0 && end === text.length ? text : text.slice(start, end);
  const deep = tooDeepAt(text, start, end);
  const tokens: ScannedToken[] = [];
  if (deep === undefined) {
    const scanner = createScanner(seg, false);
    for (;;) {
      const kind = scanner.scan();
      if (kind === SyntaxKind.EOF) break;
      if (kind === SyntaxKind.Trivia || kind === SyntaxKind.LineBreakTrivia) continue;
      tokens.push({ kind, offset: scanner.getTokenOffset(), length: scanner.getTokenLength(), value: scanner.getTokenValue(), error: scanner.getTokenError() });
    }
  }
  return { start, end, seg, deep, tokens };
}

/**
 * The visitor calls buildTree takes (jsonc-parser's JSONVisitor, those parts), and `onSkip`: a token the parser
 * passes over (a bare word, or a token skipped while recovering from an error; comments are not reported).
 */
export type TokenVisitor = Required<Pick<JSONVisitor,
  'onObjectBegin' | 'onObjectProperty' | 'onObjectEnd' | 'onArrayBegin' | 'onArrayEnd' | 'onLiteralValue' | 'onSeparator' | 'onError'>>
  & {
    onSkip?: (token: ScannedToken) => void;
    /** A bracket at `offset` opens level `maxDepth` + 1: the parse stops there (nothing more is reported). */
    onTooDeep?: (offset: number) => void;
  };

/**
 * jsonc-parser's `visit` over tokens already scanned: the same calls in the same order for the same text (a
 * unit test compares the two on random input), with comments allowed and trailing commas refused. Iterative,
 * unlike `visit`: mismatched brackets (`{"c": {"b": ], "c": {"b": ], …`) nest the parse deeper than any
 * bracket count (tooDeepAt) sees, and no depth of input may overflow the stack.
 */
export function visitTokens(seg: string, tokens: readonly ScannedToken[], v: TokenVisitor, maxDepth = Infinity): void {
  const eof: ScannedToken = { kind: SyntaxKind.EOF, offset: seg.length, length: 0, value: '', error: ScanError.None };
  let i = -1;
  let tok: ScannedToken = eof;
  const path = (): (string | number)[] => [];
  // A function, not a narrowed read: the current token changes inside the calls.
  const kind = (): SyntaxKind => tok.kind;
  const error = (code: ParseErrorCode): void => v.onError(code, tok.offset, tok.length, 0, 0);
  const scanNext = (): SyntaxKind => {
    for (;;) {
      tok = tokens[++i] ?? eof;
      switch (tok.error) {
        case ScanError.InvalidUnicode: error(ParseErrorCode.InvalidUnicode); break;
        case ScanError.InvalidEscapeCharacter: error(ParseErrorCode.InvalidEscapeCharacter); break;
        case ScanError.UnexpectedEndOfNumber: error(ParseErrorCode.UnexpectedEndOfNumber); break;
        case ScanError.UnexpectedEndOfComment: error(ParseErrorCode.UnexpectedEndOfComment); break;
        case ScanError.UnexpectedEndOfString: error(ParseErrorCode.UnexpectedEndOfString); break;
        case ScanError.InvalidCharacter: error(ParseErrorCode.InvalidCharacter); break;
        default: break;
      }
      switch (kind()) {
        case SyntaxKind.LineCommentTrivia:
        case SyntaxKind.BlockCommentTrivia:
          break;
        case SyntaxKind.Unknown:
          error(ParseErrorCode.InvalidSymbol);
          v.onSkip?.(tok);
          break;
        default:
          return kind();
      }
    }
  };
  const handleError = (code: ParseErrorCode, skipUntilAfter: SyntaxKind[], skipUntil: SyntaxKind[]): void => {
    error(code);
    if (skipUntilAfter.length + skipUntil.length === 0) return;
    let at = kind();
    while (at !== SyntaxKind.EOF) {
      if (skipUntilAfter.includes(at)) {
        scanNext();
        break;
      }
      if (skipUntil.includes(at)) break;
      v.onSkip?.(tok);
      at = scanNext();
    }
  };
  const parseLiteral = (): boolean => {
    switch (kind()) {
      case SyntaxKind.NumericLiteral: {
        let value = Number(tok.value);
        if (isNaN(value)) {
          handleError(ParseErrorCode.InvalidNumberFormat, [], []);
          value = 0;
        }
        v.onLiteralValue(value, tok.offset, tok.length, 0, 0, path);
        break;
      }
      case SyntaxKind.NullKeyword: v.onLiteralValue(null, tok.offset, tok.length, 0, 0, path); break;
      case SyntaxKind.TrueKeyword: v.onLiteralValue(true, tok.offset, tok.length, 0, 0, path); break;
      case SyntaxKind.FalseKeyword: v.onLiteralValue(false, tok.offset, tok.length, 0, 0, path); break;
      default: return false;
    }
    scanNext();
    return true;
  };
  const untilMember = [SyntaxKind.CloseBraceToken, SyntaxKind.CommaToken];
  const untilElement = [SyntaxKind.CloseBracketToken, SyntaxKind.CommaToken];
  // The open objects and arrays, innermost last: the parser's recursion, kept in an array (the brackets nest
  // as deep as the input says, whatever a bracket count would say of mismatched ones).
  const open: { object: boolean; close: SyntaxKind; needsComma: boolean }[] = [];
  let tooDeep = false;
  /** Starts a value: a literal is read whole (true), a container is opened ('open'), anything else is not a value. */
  const startValue = (): boolean | 'open' => {
    switch (kind()) {
      case SyntaxKind.OpenBracketToken:
      case SyntaxKind.OpenBraceToken: {
        if (open.length >= maxDepth) {
          tooDeep = true;
          v.onTooDeep?.(tok.offset);
          return 'open';
        }
        const object = kind() === SyntaxKind.OpenBraceToken;
        if (object) v.onObjectBegin(tok.offset, tok.length, 0, 0, path);
        else v.onArrayBegin(tok.offset, tok.length, 0, 0, path);
        open.push({ object, close: object ? SyntaxKind.CloseBraceToken : SyntaxKind.CloseBracketToken, needsComma: false });
        scanNext();
        return 'open';
      }
      case SyntaxKind.StringLiteral:
        v.onLiteralValue(tok.value, tok.offset, tok.length, 0, 0, path);
        scanNext();
        return true;
      default: return parseLiteral();
    }
  };
  scanNext();
  if (kind() === SyntaxKind.EOF) {
    handleError(ParseErrorCode.ValueExpected, [], []);
    return;
  }
  if (startValue() === false) {
    handleError(ParseErrorCode.ValueExpected, [], []);
    return;
  }
  // An object and an array are read alike: members (or elements) separated by commas up to the closing token.
  while (open.length > 0 && !tooDeep) {
    const frame = open[open.length - 1] as (typeof open)[number];
    if (kind() !== frame.close && kind() !== SyntaxKind.EOF) {
      if (kind() === SyntaxKind.CommaToken) {
        if (!frame.needsComma) handleError(ParseErrorCode.ValueExpected, [], []);
        v.onSeparator(',', tok.offset, tok.length, 0, 0);
        scanNext();
      } else if (frame.needsComma) {
        handleError(ParseErrorCode.CommaExpected, [], []);
      }
      // Set before the member is read (nothing reads it meanwhile): a member opening a container resumes here.
      frame.needsComma = true;
      if (!frame.object) {
        if (startValue() === false) handleError(ParseErrorCode.ValueExpected, [], untilElement);
      } else if (kind() !== SyntaxKind.StringLiteral) {
        handleError(ParseErrorCode.PropertyNameExpected, [], untilMember);
        handleError(ParseErrorCode.ValueExpected, [], untilMember);
      } else {
        v.onObjectProperty(tok.value, tok.offset, tok.length, 0, 0, path);
        scanNext();
        if (kind() === SyntaxKind.ColonToken) {
          v.onSeparator(':', tok.offset, tok.length, 0, 0);
          scanNext();
          if (startValue() === false) handleError(ParseErrorCode.ValueExpected, [], untilMember);
        } else {
          handleError(ParseErrorCode.ColonExpected, [], untilMember);
        }
      }
      continue;
    }
    if (frame.object) v.onObjectEnd(tok.offset, tok.length, 0, 0);
    else v.onArrayEnd(tok.offset, tok.length, 0, 0);
    if (kind() !== frame.close) handleError(frame.object ? ParseErrorCode.CloseBraceExpected : ParseErrorCode.CloseBracketExpected, [frame.close], []);
    else scanNext();
    open.pop();
  }
  if (!tooDeep && kind() !== SyntaxKind.EOF) handleError(ParseErrorCode.EndOfFileExpected, [], []);
}

/**
 * Parses text[start, end) as one JSON value (comments allowed) into the one tree, the way jsonc-parser's
 * parseTree does, but keeping at most `maxProblems` syntax problems (an unterminated 10 MB object has millions)
 * and worded messages computed as it goes (no rescans). Input nested deeper than MAX_NESTING (by its brackets,
 * or by the parse where brackets do not match) has no tree: one 'too-deep' problem.
 */
export function parseJson(text: string, start = 0, end = text.length, maxProblems = MAX_PROBLEMS): JsonParse {
  return buildTree(scanJson(text, start, end), maxProblems);
}

/**
 * The one tree of a segment already scanned (the language service keeps one scan and one tree per cell
 * version, and every feature reads it). Its strict part (`children`) is exactly jsonc-parser's `parseTree`
 * (a unit test compares them on random input); the tokens the parser skips after an error are read the
 * tolerant way and hung on the tree as loose nodes: a word where a key goes is a key without quotes, a word
 * where a value goes is a value being typed, a colon and a value after such a key are its own.
 */
export function buildTree(scan: JsonScan, maxProblems = MAX_PROBLEMS): JsonParse {
  const { start, end, seg, deep } = scan;
  if (deep !== undefined) return { root: undefined, problems: [tooDeepProblem(deep)], problemCount: 1 };
  const problems: Problem[] = [];
  let problemCount = 0;
  const open: ('{' | '[')[] = [];
  // The node events attach to: a container, a property waiting for its value, or undefined at the top.
  type Current = JsonObject | JsonArray | JsonProperty | undefined;
  let current: Current;
  let root: JsonNode | undefined;
  const scalarOf = (kind: SyntaxKind, value: unknown, offset: number, length: number): JsonScalar => {
    const s = start + offset;
    let type: JsonScalar['type'];
    let terminated = true;
    switch (kind) {
      case SyntaxKind.StringLiteral:
        type = 'string';
        terminated = length >= 2 && seg.charCodeAt(offset + length - 1) === 34 && !endsInEscape(seg, offset + 1, offset + length - 1);
        break;
      case SyntaxKind.NumericLiteral: type = 'number'; break;
      case SyntaxKind.TrueKeyword: case SyntaxKind.FalseKeyword: type = 'boolean'; break;
      case SyntaxKind.NullKeyword: type = 'null'; break;
      default: type = 'word';
    }
    return { type, value: value as JsonScalar['value'], terminated, offset, length, start: s, end: s + length };
  };
  /** Attaches a value (strict or loose) where the current node takes one. */
  const attach = (node: JsonNode): void => {
    const at = current;
    if (at === undefined) {
      if (node.loose === undefined) root ??= node;
      return;
    }
    if (at.type === 'object') return;
    node.parent = at;
    if (at.type === 'array') {
      at.items.push(node);
      if (node.loose === undefined) at.children.push(node);
      return;
    }
    at.value = node;
    at.end = node.end;
    if (node.loose === undefined) at.children.push(node);
  };
  const completeProperty = (endOffset: number): void => {
    if (current?.type === 'property') {
      current.length = endOffset - current.offset;
      current = current.parent;
    }
  };
  const newProperty = (obj: JsonObject, name: string, kind: SyntaxKind, offset: number, length: number, loose: boolean): JsonProperty => {
    const keyNode = scalarOf(kind, name, offset, length);
    const s = start + offset;
    const prop: JsonProperty = {
      type: 'property', key: name, keyRange: { start: s, end: s + length }, keyQuoted: kind === SyntaxKind.StringLiteral,
      keyTerminated: keyNode.terminated, offset, length: -1, start: s, end: s + length, parent: obj, children: [],
    };
    keyNode.parent = prop;
    prop.children.push(keyNode);
    if (loose) {
      prop.loose = true;
      keyNode.loose = true;
    } else {
      obj.children.push(prop);
    }
    obj.properties.push(prop);
    return prop;
  };
  const openContainer = (node: JsonObject | JsonArray): void => {
    attach(node);
    current = node;
  };
  const closeContainer = (offset: number, length: number): void => {
    open.pop();
    completeProperty(offset + length);
    const node = current as JsonObject | JsonArray;
    node.length = offset + length - node.offset;
    node.end = start + offset + length;
    const tok = seg.charCodeAt(offset);
    node.closed = length === 1 && tok === (node.type === 'object' ? 125 : 93);
    if (node.parent?.type === 'property') node.parent.end = node.end;
    current = node.parent;
    completeProperty(offset + length);
  };
  /** A token the parser passes over, read the tolerant way. */
  const skipped = (tok: ScannedToken): void => {
    const obj = current?.type === 'property' ? current.parent : current;
    const scalar = tok.kind === SyntaxKind.StringLiteral || tok.kind === SyntaxKind.Unknown || tok.kind === SyntaxKind.NumericLiteral
      || tok.kind === SyntaxKind.TrueKeyword || tok.kind === SyntaxKind.FalseKeyword || tok.kind === SyntaxKind.NullKeyword;
    if (obj?.type === 'array') {
      if (!scalar) return;
      const node = looseScalar(tok);
      node.parent = obj;
      obj.items.push(node);
      return;
    }
    if (obj === undefined) return;
    const last = obj.properties[obj.properties.length - 1];
    const waiting = last !== undefined && last.colon !== undefined && last.value === undefined;
    if (tok.kind === SyntaxKind.ColonToken) {
      if (last !== undefined && last.colon === undefined && last.value === undefined) {
        last.colon = start + tok.offset;
        last.end = last.colon + 1;
      }
      return;
    }
    if (!scalar) return;
    // A key after a colon means the value is missing and a new member starts.
    if (waiting && (tok.kind !== SyntaxKind.StringLiteral || !keyFollows(tok))) {
      const node = looseScalar(tok);
      node.parent = last;
      last.value = node;
      last.end = node.end;
      return;
    }
    if (tok.kind === SyntaxKind.StringLiteral || tok.kind === SyntaxKind.Unknown) newProperty(obj, tok.value, tok.kind, tok.offset, tok.length, true);
  };
  const looseScalar = (tok: ScannedToken): JsonScalar => {
    const value = tok.kind === SyntaxKind.NumericLiteral ? Number(tok.value) : tok.kind === SyntaxKind.TrueKeyword ? true
      : tok.kind === SyntaxKind.FalseKeyword ? false : tok.kind === SyntaxKind.NullKeyword ? null : tok.value;
    const node = scalarOf(tok.kind, value, tok.offset, tok.length);
    node.loose = true;
    return node;
  };
  // Whether a colon follows the token (skipping comments): it is then a key.
  const tokens = scan.tokens;
  let tokenIndex = 0;
  const keyFollows = (tok: ScannedToken): boolean => {
    while (tokens[tokenIndex] !== undefined && (tokens[tokenIndex] as ScannedToken).offset <= tok.offset) tokenIndex++;
    for (let k = tokenIndex; k < tokens.length; k++) {
      const t = tokens[k] as ScannedToken;
      if (t.kind === SyntaxKind.LineCommentTrivia || t.kind === SyntaxKind.BlockCommentTrivia) continue;
      return t.kind === SyntaxKind.ColonToken;
    }
    return false;
  };
  let lastProblem = '';
  let deeper: number | undefined;
  visitTokens(seg, tokens, {
    onObjectBegin: (offset) => {
      open.push('{');
      openContainer({ type: 'object', offset, length: -1, start: start + offset, end: start + offset + 1, properties: [], children: [], closed: false });
    },
    onObjectProperty: (name, offset, length) => {
      current = newProperty(current as JsonObject, name, SyntaxKind.StringLiteral, offset, length, false);
    },
    onObjectEnd: closeContainer,
    onArrayBegin: (offset) => {
      open.push('[');
      openContainer({ type: 'array', offset, length: -1, start: start + offset, end: start + offset + 1, items: [], children: [], closed: false });
    },
    onArrayEnd: closeContainer,
    onLiteralValue: (value: unknown, offset, length) => {
      const tok = seg.charCodeAt(offset);
      const kind = typeof value === 'string' ? SyntaxKind.StringLiteral : typeof value === 'number' ? SyntaxKind.NumericLiteral
        : value === null ? SyntaxKind.NullKeyword : tok === 116 ? SyntaxKind.TrueKeyword : SyntaxKind.FalseKeyword;
      attach(scalarOf(kind, value, offset, length));
      completeProperty(offset + length);
    },
    onSeparator: (sep, offset) => {
      if (current?.type !== 'property') return;
      if (sep === ':') {
        current.colonOffset = offset;
        current.colon = start + offset;
        current.end = current.colon + 1;
      } else if (sep === ',') {
        completeProperty(offset);
      }
    },
    onError: (code, offset, length) => {
      const message = syntaxMessage(code, seg, offset, open[open.length - 1]);
      // jsonc-parser may report one mistake twice at one place (e.g. a trailing comma); say it once.
      const key = `${offset}:${message}`;
      if (key === lastProblem) return;
      lastProblem = key;
      problemCount++;
      if (problems.length >= maxProblems) return;
      const s = start + Math.min(offset, seg.length);
      problems.push({ start: s, end: Math.max(s, Math.min(s + length, end)), code: 'json-syntax', severity: 'error', message });
    },
    onSkip: skipped,
    onTooDeep: (offset) => {
      deeper = offset;
    },
  }, MAX_NESTING);
  // Mismatched brackets can nest the parse deeper than the bracket count saw: no tree then either.
  if (deeper !== undefined) return { root: undefined, problems: [tooDeepProblem(start + deeper)], problemCount: 1 };
  return { root, problems, problemCount };
}

/** Whether text[from, to) ends in an odd run of backslashes (the quote at `to` is then escaped). */
function endsInEscape(text: string, from: number, to: number): boolean {
  let n = 0;
  for (let i = to - 1; i >= from && text.charCodeAt(i) === 92; i--) n++;
  return n % 2 === 1;
}

/** The previous character that is not whitespace (used to spot trailing commas). Bounded by the whitespace run. */
function previousSignificant(text: string, offset: number): string | undefined {
  let i = offset - 1;
  while (i >= 0 && /\s/.test(text[i] ?? '')) i--;
  return i >= 0 ? text[i] : undefined;
}

/** A readable message for a jsonc-parser error at `offset`; `inside` is the innermost open bracket there. */
function syntaxMessage(code: ParseErrorCode, text: string, offset: number, inside: '{' | '[' | undefined): string {
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
      if (closing && previousSignificant(text, offset) === ',') return "trailing comma: remove the ',' before '}'";
      return 'expected a member name in double quotes';
    case ParseErrorCode.ValueExpected:
      if (closing && previousSignificant(text, offset) === ',') return `trailing comma: remove the ',' before '${here ?? ''}'`;
      return 'expected a value';
    case ParseErrorCode.ColonExpected:
      return "expected ':'";
    case ParseErrorCode.CommaExpected:
      return inside === '[' ? "expected ',' or ']'" : "expected ',' or '}'";
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

// ---- names --------------------------------------------------------------------------------------------

/** The closest candidate within a small edit distance, with `_` and `-` treated as the same. */
export function didYouMean(name: string, candidates: Iterable<string>): string | undefined {
  const norm = (s: string): string => s.toLowerCase().replace(/_/g, '-');
  const n = norm(name);
  let best: string | undefined;
  let bestScore = Infinity;
  const limit = Math.max(2, Math.floor(name.length / 3));
  // Names longer than this are not names (a pasted blob); comparing them would cost length squared.
  if (name.length > 200) return undefined;
  for (const c of candidates) {
    if (c === name) continue;
    const nc = norm(c);
    let score: number;
    if (nc === n) score = 0;
    // A name that begins with what was typed is what a user who stopped typing meant: it ranks before any typo,
    // the shortest first (`query-statu` is `query-status`, not `query-stats`). A typed name that runs past a
    // candidate ranks as one edit (`migrate-pase` is `migrate-pause` before `migrate`).
    else if (n.length >= 3 && nc.startsWith(n)) score = 0.5 + Math.min(nc.length - n.length, 400) / 1000;
    else if (n.length >= 3 && n.startsWith(nc)) score = 1 + (n.length - nc.length) / 100;
    else score = editDistance(n, nc, limit);
    if (score <= limit && score < bestScore) {
      bestScore = score;
      best = c;
    }
  }
  return best;
}

/** Levenshtein distance, giving up (returning limit + 1) once it must exceed `limit`. */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const v = Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, (prev[j - 1] as number) + (a[i - 1] === b[j - 1] ? 0 : 1));
      cur.push(v);
      if (v < rowMin) rowMin = v;
    }
    if (rowMin > limit) return limit + 1;
    prev = cur;
  }
  return prev[b.length] as number;
}

export function withSuggestion(message: string, suggestion: string | undefined): string {
  return suggestion === undefined ? message : `${message}; did you mean '${suggestion}'?`;
}

// ---- shapes -------------------------------------------------------------------------------------------

/** A member of an object node. */
export interface MemberNode {
  name: string;
  key: JsonNode;
  value: JsonNode | undefined;
}

/** The members of an object as `parseTree` has them (loose ones left out). */
export function membersOf(obj: JsonNode): MemberNode[] {
  const out: MemberNode[] = [];
  if (obj.type !== 'object') return out;
  for (const p of obj.children) {
    const key = p.children?.[0];
    if (key?.type !== 'string') continue;
    out.push({ name: String(key.value), key, value: p.children?.[1] });
  }
  return out;
}

/** Reports every repeated key at any depth (QEMU's parser refuses the whole input). Iterative. */
export function checkDuplicates(root: JsonNode, base: number, out: Problem[]): void {
  const stack: (JsonNode | JsonProperty)[] = [root];
  while (stack.length > 0) {
    const node = stack.pop() as JsonNode | JsonProperty;
    if (node.type === 'object') {
      const seen = new Set<string>();
      for (const m of membersOf(node)) {
        if (seen.has(m.name)) {
          out.push({
            start: base + m.key.offset, end: base + m.key.offset + m.key.length, code: 'json-syntax', severity: 'error',
            message: `duplicate member '${m.name}': QEMU refuses the whole input`,
          });
        }
        seen.add(m.name);
      }
    }
    const children = node.children ?? [];
    for (let i = children.length - 1; i >= 0; i--) stack.push(children[i] as JsonNode | JsonProperty);
  }
}

/** What the top level of a command says, once its shape is checked. */
export interface CommandShape {
  /** The command name, when `execute`/`exec-oob` is a string. */
  name?: string;
  /** The name's string node, and the member that holds it. */
  nameNode?: JsonScalar;
  nameMember?: MemberNode;
  /** Sent out of band (`exec-oob`, or the 2018 `control: {run-oob: true}` spelling). */
  oob: boolean;
  /** The member that made it OOB (`exec-oob`'s or `control`'s key), for placing OOB problems. */
  oobKey?: JsonNode;
  arguments?: MemberNode;
  id?: MemberNode;
  control?: MemberNode;
}

function at(base: number, node: JsonNode | JsonProperty, code: ProblemCode, message: string, severity: 'error' | 'warning' = 'error', suggestion?: string): Problem {
  return {
    start: base + node.offset, end: base + node.offset + node.length, code, severity, message,
    ...(suggestion !== undefined ? { suggestion } : {}),
  };
}

/**
 * Checks the top level of a command object as QEMU's dispatcher does: only `execute`/`exec-oob`,
 * `arguments` (an object) and `id`; a string command name; not both spellings. The 2018 draft
 * `"control": {"run-oob": true}` is a warning (it is sent as `exec-oob`). `incomplete` (the object has
 * syntax errors) suppresses "lacks member", which is noise while the author types.
 */
export function checkCommandShape(root: JsonNode, base: number, out: Problem[], incomplete = false): CommandShape {
  const shape: CommandShape = { oob: false };
  const members = membersOf(root);
  let execute: MemberNode | undefined;
  let execOob: MemberNode | undefined;
  for (const m of members) {
    switch (m.name) {
      case 'execute': execute ??= m; break;
      case 'exec-oob': execOob ??= m; break;
      case 'arguments': shape.arguments ??= m; break;
      case 'id': shape.id ??= m; break;
      case 'control': shape.control ??= m; break;
      default: {
        const suggestion = didYouMean(m.name, COMMAND_KEYS);
        out.push(at(base, m.key, 'unexpected-key', withSuggestion(`QMP input member '${m.name}' is unexpected`, suggestion), 'error', suggestion));
      }
    }
  }
  if (shape.control !== undefined) {
    const v = shape.control.value;
    const inner = v?.type === 'object' ? membersOf(v) : [];
    const runOob = inner.length === 1 && inner[0]?.name === 'run-oob' ? inner[0].value : undefined;
    if (runOob?.type === 'boolean') {
      if (runOob.value === true) {
        shape.oob = true;
        shape.oobKey = shape.control.key;
      }
      out.push(at(base, shape.control.key.parent ?? shape.control.key, 'legacy-control',
        "'control': {'run-oob': …} is the 2018 draft spelling, which QEMU refuses; it is sent as 'exec-oob'", 'warning', 'exec-oob'));
    } else {
      out.push(at(base, shape.control.key, 'unexpected-key', "QMP input member 'control' is unexpected"));
    }
  }
  if (execute !== undefined && execOob !== undefined) {
    out.push(at(base, execute.key, 'unexpected-key', "QMP input member 'execute' clashes with 'exec-oob'"));
  }
  if (execOob !== undefined) {
    shape.oob = true;
    shape.oobKey = execOob.key;
  }
  const nameMember = execOob ?? execute;
  if (nameMember === undefined) {
    if (!incomplete) {
      out.push({
        start: base + root.offset, end: base + root.offset + 1, code: 'missing-member', severity: 'error',
        message: "QMP input lacks member 'execute' (a command is {\"execute\": NAME} or {\"exec-oob\": NAME})",
      });
    }
  } else if (nameMember.value !== undefined) {
    shape.nameMember = nameMember;
    if (nameMember.value.type === 'string' && nameMember.value.value !== '') {
      shape.name = String(nameMember.value.value);
      shape.nameNode = nameMember.value;
    } else {
      out.push(at(base, nameMember.value, 'wrong-type', `QMP input member '${nameMember.name}' must be a command name (a string)`));
    }
  }
  const args = shape.arguments?.value;
  if (args !== undefined && args.type !== 'object') {
    out.push(at(base, args, 'wrong-type', "QMP input member 'arguments' must be an object"));
  }
  return shape;
}

/** What a wait clause says, once checked. */
export interface WaitShape {
  event?: string;
  eventNode?: JsonScalar;
  data?: JsonNode;
  timeoutMs: number;
}

/**
 * Why a timeout is refused, or undefined when `ms` is a whole number of milliseconds a timer can wait
 * (0 … MAX_TIMEOUT_MS). Shared by `{"timeout": …}` in qmp cells and `timeout=` in qmp-shell cells.
 */
export function timeoutProblem(ms: number): string | undefined {
  if (!Number.isFinite(ms) || ms < 0 || !Number.isInteger(ms)) return 'timeout must be a whole, non-negative number of milliseconds';
  if (ms > MAX_TIMEOUT_MS) return `timeout must be at most ${MAX_TIMEOUT_MS} ms (about 24.8 days)`;
  return undefined;
}

/** Checks a `{"wait-event": NAME, "data": {...}, "timeout": ms}` clause. */
export function checkWaitShape(root: JsonNode, base: number, out: Problem[]): WaitShape {
  const shape: WaitShape = { timeoutMs: DEFAULT_WAIT_TIMEOUT_MS };
  for (const m of membersOf(root)) {
    const v = m.value;
    switch (m.name) {
      case 'wait-event':
        if (v === undefined) break;
        if (v.type === 'string' && v.value !== '') {
          shape.event = String(v.value);
          shape.eventNode = v;
        } else {
          out.push(at(base, v, 'wrong-type', "'wait-event' must be an event name, e.g. \"STOP\""));
        }
        break;
      case 'data':
        if (v === undefined) break;
        if (v.type === 'object') shape.data = v;
        else out.push(at(base, v, 'wrong-type', "'data' must be an object (the members the event's data must match)"));
        break;
      case 'timeout': {
        if (v === undefined) break;
        const why = v.type === 'number' ? timeoutProblem(Number(v.value)) : 'timeout must be a whole, non-negative number of milliseconds';
        if (why === undefined) shape.timeoutMs = Number((v as JsonScalar).value);
        else out.push(at(base, v, 'wrong-type', why));
        break;
      }
      default: {
        const suggestion = didYouMean(m.name, WAIT_KEYS);
        out.push(at(base, m.key, 'unexpected-key',
          withSuggestion(`'${m.name}' is not part of a wait clause (wait-event, data, timeout)`, suggestion), 'error', suggestion));
      }
    }
  }
  return shape;
}

// ---- many problems -------------------------------------------------------------------------------------

/**
 * Sorts problems by place and keeps the first `max`; when there are more (`total` counts problems already
 * dropped upstream too), the last entry says how many are not listed.
 */
export function capProblems<T extends { start: number; end: number; message: string }>(
  problems: T[], total: number, summary: (message: string, at: number) => T, max = MAX_PROBLEMS,
): T[] {
  problems.sort((a, b) => a.start - b.start || a.end - b.end);
  const count = Math.max(total, problems.length);
  if (count <= max) return problems;
  const kept = problems.slice(0, max);
  const more = count - kept.length;
  const last = kept[kept.length - 1];
  kept.push(summary(`${more} more problem${more === 1 ? '' : 's'} not listed (fix the first ones first)`, last?.end ?? 0));
  return kept;
}

// ---- QEMU's -compat policy --------------------------------------------------------------------------------

/** What QEMU does with deprecated or unstable input (`-compat deprecated-input=…,unstable-input=…`). */
export type CompatAction = 'accept' | 'reject' | 'crash';

/** QEMU's `-compat` input policy; an absent member means 'accept' (QEMU's default). */
export interface CompatPolicy {
  deprecatedInput?: CompatAction | undefined;
  unstableInput?: CompatAction | undefined;
}

/**
 * Parses a policy written as QEMU's `-compat` option value, e.g. `deprecated-input=reject,unstable-input=reject`
 * (the output keys QEMU also takes, `deprecated-output=accept|hide` and `unstable-output=accept|hide`, are
 * accepted and have no effect on input checks). Used by `check --compat`, the notebook front matter key
 * `compat` and profiles.
 */
export function parseCompatPolicy(text: string): { policy: CompatPolicy } | { error: string } {
  const policy: CompatPolicy = {};
  const seen = new Set<string>();
  for (const part of text.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    const value = eq < 0 ? '' : item.slice(eq + 1);
    if (seen.has(key)) return { error: `'${key}' is given twice` };
    seen.add(key);
    if (key === 'deprecated-input' || key === 'unstable-input') {
      if (value !== 'accept' && value !== 'reject' && value !== 'crash') return { error: `${key} must be accept, reject or crash, not '${value}'` };
      if (key === 'deprecated-input') policy.deprecatedInput = value;
      else policy.unstableInput = value;
    } else if (key === 'deprecated-output' || key === 'unstable-output') {
      if (value !== 'accept' && value !== 'hide') return { error: `${key} must be accept or hide, not '${value}'` };
    } else {
      return { error: `unknown -compat key '${key}' (deprecated-input, unstable-input, deprecated-output, unstable-output)` };
    }
  }
  return { policy };
}
