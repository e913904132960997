// The answer to "where is the cursor?" in one object of a `qmp` cell.
//
// The design follows vscode-json-languageservice: one tree per document version with offsets that survives
// half-typed input (its JSONDocument; here validate.ts's one tree, which the diagnostics read too), and a
// location (JSON path, key or value position, the text range a completion replaces) computed from that tree
// and the token under the cursor. The tree keeps keys that have no colon yet and words that have no quotes
// yet (its loose nodes), which is exactly what a user is typing when they ask for completion.

import { createScanner, ScanError, SyntaxKind } from 'jsonc-parser';
import { segmentJsonCell, type Segment } from '../format/segments';
import {
  buildTree, scanJson, type JsonArray, type JsonNode, type JsonObject, type JsonParse, type JsonProperty, type JsonScalar,
  type JsonScan, type OffsetRange, type ScannedToken,
} from '../format/validate';

export type { JsonArray, JsonNode, JsonObject, JsonProperty, JsonScalar, OffsetRange };

export interface Token extends OffsetRange {
  kind: SyntaxKind;
  value: string;
  /** For strings: false when the closing quote is missing. */
  terminated: boolean;
}

/** One object of a cell: its root in the cell's one tree, and the cursor's tokens from the one scan. */
export interface ParsedObject {
  segment: Segment;
  root: JsonObject | undefined;
  tokens: Token[];
  /** The comments of the segment (cell offsets), from the same scan. */
  comments: Comment[];
}

/** A comment of a segment: a line comment (`//` to the end of the line) or a block comment. */
export interface Comment extends OffsetRange {
  line: boolean;
}

/** One scan of each object segment of a `qmp` cell (undefined for junk): what the one tree is built from. */
export interface CellScan {
  segments: Segment[];
  scans: (JsonScan | undefined)[];
}

/** Segments a `qmp` cell and scans each object once. */
export function scanCell(text: string): CellScan {
  const segments = segmentJsonCell(text);
  return { segments, scans: segments.map((seg) => (seg.kind === 'junk' ? undefined : scanJson(text, seg.start, seg.end))) };
}

/** Tokens of one character, which nothing after them continues. */
const PUNCTUATION: ReadonlySet<SyntaxKind> = new Set([
  SyntaxKind.OpenBraceToken, SyntaxKind.CloseBraceToken, SyntaxKind.OpenBracketToken, SyntaxKind.CloseBracketToken,
  SyntaxKind.CommaToken, SyntaxKind.ColonToken,
]);

/**
 * The cursor's tokens of one scanned segment (comments left out), with cell offsets: the tokens a scanner over
 * the whole cell reads from the segment's start, clamped to its end (a unit test compares them on random
 * input). Segments end at a `}`, a line break or the end of the cell, where no token continues; should the
 * last token (not a bracket or other punctuation) reach the end of the segment before the end of the cell, it is
 * read again over the whole cell.
 */
export function tokensOf(text: string, scan: JsonScan): Token[] {
  const tokens: Token[] = [];
  const last = scan.tokens.length - 1;
  for (let k = 0; k <= last; k++) {
    const t = scan.tokens[k] as ScannedToken;
    let kind = t.kind;
    let value = t.value;
    let error = t.error;
    const s = scan.start + t.offset;
    let e = s + t.length;
    if (k === last && e === scan.end && scan.end < text.length && !PUNCTUATION.has(kind)) {
      const scanner = createScanner(text, false);
      scanner.setPosition(s);
      kind = scanner.scan();
      value = scanner.getTokenValue();
      error = scanner.getTokenError();
      e = Math.min(s + scanner.getTokenLength(), scan.end);
    }
    if (kind === SyntaxKind.LineCommentTrivia || kind === SyntaxKind.BlockCommentTrivia || kind === SyntaxKind.Trivia
      || kind === SyntaxKind.LineBreakTrivia || kind === SyntaxKind.EOF) continue;
    let terminated = true;
    if (kind === SyntaxKind.StringLiteral) {
      // The scanner stops an unterminated string at the line break; the last character tells.
      terminated = e - s >= 2 && text.charCodeAt(e - 1) === 34 && error !== ScanError.UnexpectedEndOfString;
    }
    tokens.push({ kind, start: s, end: e, value, terminated });
  }
  return tokens;
}

/**
 * The objects of a cell, each with its root in the one tree of its segment (`tree(k)`, segment k) and the
 * cursor's tokens; no tree is built here.
 */
export function cursorObjects(text: string, cell: CellScan, tree: (index: number) => JsonParse | undefined): ParsedObject[] {
  const out: ParsedObject[] = [];
  cell.segments.forEach((segment, k) => {
    const scan = cell.scans[k];
    if (scan === undefined) return;
    // Deeper than QEMU accepts: the diagnostics say so; there is no tree.
    if (scan.deep !== undefined) {
      out.push({ segment, tokens: [], comments: [], root: undefined });
      return;
    }
    const root = tree(k)?.root;
    const comments: Comment[] = [];
    for (const t of scan.tokens) {
      if (t.kind === SyntaxKind.LineCommentTrivia || t.kind === SyntaxKind.BlockCommentTrivia) {
        comments.push({ start: scan.start + t.offset, end: scan.start + t.offset + t.length, line: t.kind === SyntaxKind.LineCommentTrivia });
      }
    }
    out.push({ segment, tokens: tokensOf(text, scan), comments, root: root?.type === 'object' ? root : undefined });
  });
  return out;
}

/**
 * The objects of a `qmp` cell, scanned and parsed here. The language features do not call this: they take the
 * one tree of the cell's version from its `CellText` (parsed.ts).
 */
export function parseCellObjects(text: string): ParsedObject[] {
  const cell = scanCell(text);
  return cursorObjects(text, cell, (k) => {
    const scan = cell.scans[k];
    return scan === undefined ? undefined : buildTree(scan);
  });
}

/** The JSON path from the root to `node`: property names and array indexes. */
export function pathOf(node: JsonNode): (string | number)[] {
  const path: (string | number)[] = [];
  let current: JsonNode | undefined = node;
  while (current?.parent !== undefined) {
    const p: JsonProperty | JsonArray = current.parent;
    if (p.type === 'array') {
      path.push(p.items.indexOf(current));
      current = p;
    } else {
      path.push(p.key);
      current = p.parent;
    }
  }
  return path.reverse();
}

/** Finds a property by key (the last one wins, as in QEMU's parser it is an error anyway). */
export function propertyOf(obj: JsonObject | undefined, key: string): JsonProperty | undefined {
  if (obj === undefined) return undefined;
  for (let k = obj.properties.length - 1; k >= 0; k--) {
    const p = obj.properties[k] as JsonProperty;
    if (p.key === key) return p;
  }
  return undefined;
}

/** The string value of a property, when it is a string. */
export function stringValueOf(obj: JsonObject | undefined, key: string): string | undefined {
  const v = propertyOf(obj, key)?.value;
  return v?.type === 'string' ? (v.value as string) : undefined;
}

/** A node's value as plain data (objects and arrays included), for variant resolution. */
export function toPlain(node: JsonNode | undefined): unknown {
  if (node === undefined) return undefined;
  const empty = (n: JsonNode): unknown => (n.type === 'object' ? {} : n.type === 'array' ? [] : n.value);
  const top = empty(node);
  // Iterative: each container is filled after it is made (any depth).
  const stack: [JsonNode, unknown][] = [[node, top]];
  while (stack.length > 0) {
    const [n, out] = stack.pop() as [JsonNode, unknown];
    if (n.type === 'object') {
      for (const p of n.properties) {
        const v = p.value === undefined ? undefined : empty(p.value);
        (out as Record<string, unknown>)[p.key] = v;
        if (p.value !== undefined && (p.value.type === 'object' || p.value.type === 'array')) stack.push([p.value, v]);
      }
    } else if (n.type === 'array') {
      for (const item of n.items) {
        const v = empty(item);
        (out as unknown[]).push(v);
        if (item.type === 'object' || item.type === 'array') stack.push([item, v]);
      }
    }
  }
  return top;
}

/** Where the cursor is, in terms that completion and hover need. */
export type CursorLocation =
  | {
    /** On a key, or where a key would go. */
    kind: 'key';
    object: JsonObject;
    /** The property being typed (the key under the cursor), if any. */
    property?: JsonProperty;
    range: OffsetRange;
    /** True when the replaced range starts with a quote the user typed. */
    quoted: boolean;
    /** True when a colon already follows the key under the cursor. */
    colonFollows: boolean;
    /** True when another member follows without a comma: an inserted member needs one after it. */
    commaNeeded: boolean;
  }
  | {
    /** On a value, or where a value would go. */
    kind: 'value';
    /** The object property or array holding the value. */
    holder: JsonProperty | JsonArray;
    /** The value under the cursor, if any. */
    node?: JsonScalar;
    range: OffsetRange;
    quoted: boolean;
  }
  | {
    /** Outside every object, or on an empty/unfinished top-level object. */
    kind: 'top';
    range: OffsetRange;
    /** The top-level object the cursor is in (empty or holding only the word being typed). */
    object?: JsonObject;
  }
  | { kind: 'none' };

function inside(t: Token, offset: number): boolean {
  if (t.kind === SyntaxKind.StringLiteral) return offset > t.start && (offset < t.end || (!t.terminated && offset === t.end));
  if (t.kind === SyntaxKind.Unknown || t.kind === SyntaxKind.NumericLiteral || t.kind === SyntaxKind.TrueKeyword
    || t.kind === SyntaxKind.FalseKeyword || t.kind === SyntaxKind.NullKeyword) {
    return offset > t.start && offset <= t.end;
  }
  return false;
}

/** The deepest object or array that contains `offset` strictly inside its brackets. */
function containerAt(root: JsonNode, offset: number): JsonObject | JsonArray | undefined {
  const within = (n: JsonNode): n is JsonObject | JsonArray =>
    (n.type === 'object' || n.type === 'array') && offset > n.start && (n.closed ? offset < n.end : true);
  if (!within(root)) return undefined;
  // Down through the first child that holds the offset, as long as there is one (iterative: any depth).
  let node: JsonObject | JsonArray = root;
  for (;;) {
    let next: JsonObject | JsonArray | undefined;
    if (node.type === 'object') {
      for (const p of node.properties) {
        if (p.value !== undefined && within(p.value)) {
          next = p.value;
          break;
        }
      }
    } else {
      for (const item of node.items) {
        if (within(item)) {
          next = item;
          break;
        }
      }
    }
    if (next === undefined) return node;
    node = next;
  }
}

/** The value holding `start`, one level down from an object or array. */
function childAt(node: JsonObject | JsonArray, start: number): JsonNode | undefined {
  if (node.type === 'object') {
    for (const p of node.properties) if (p.value !== undefined && p.value.start <= start && start < p.value.end) return p.value;
    return undefined;
  }
  for (const item of node.items) if (item.start <= start && start < item.end) return item;
  return undefined;
}

function scalarAt(root: JsonNode | undefined, start: number): JsonScalar | undefined {
  let node = root;
  while (node !== undefined && (node.type === 'object' || node.type === 'array')) node = childAt(node, start);
  return node !== undefined && node.start === start ? node : undefined;
}

function propertyWithKeyAt(root: JsonNode | undefined, start: number): JsonProperty | undefined {
  let node = root;
  while (node !== undefined && (node.type === 'object' || node.type === 'array')) {
    if (node.type === 'object') {
      const p = node.properties.find((q) => q.keyRange.start === start || (q.value !== undefined && q.value.start <= start && start < q.value.end));
      if (p === undefined) return undefined;
      if (p.keyRange.start === start) return p;
      node = p.value;
    } else {
      node = childAt(node, start);
    }
  }
  return undefined;
}

/** The last token that ends at or before `offset` (binary search). */
function tokenBefore(tokens: Token[], offset: number): number {
  let lo = 0;
  let hi = tokens.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((tokens[mid] as Token).end <= offset) {
      found = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Finds the object segment of a cell that the cursor is in (an unfinished one extends to the next). */
export function objectAt(objects: ParsedObject[], offset: number, text: string): ParsedObject | undefined {
  for (let k = 0; k < objects.length; k++) {
    const o = objects[k] as ParsedObject;
    const closed = o.root?.closed === true && o.segment.end === o.root.end;
    const nextStart = objects[k + 1]?.segment.start ?? text.length;
    if (offset > o.segment.start && (offset < o.segment.end || (!closed && offset <= nextStart && offset <= text.length))) {
      // An unterminated object ends where the next line with a marker begins; stay in it up to there.
      if (!closed && offset >= o.segment.end && /\n\s*(->|<-)/.test(text.slice(o.segment.end, offset))) continue;
      return o;
    }
  }
  return undefined;
}

/** Whether `offset` is inside a comment of the object (its scan's comments), or after it in the text that follows. */
function isInComment(text: string, offset: number, obj: ParsedObject): boolean {
  const inside = (c: { start: number; end: number; line: boolean }): boolean => offset > c.start + 1 && (offset < c.end || (c.line && offset === c.end));
  if (offset > obj.segment.end) {
    // Past the end of an unfinished object: the text between it and the next one is not in any scan; read it here.
    const scanner = createScanner(text, false);
    scanner.setPosition(obj.segment.end);
    for (;;) {
      const kind = scanner.scan();
      const s = scanner.getTokenOffset();
      if (kind === SyntaxKind.EOF || s >= offset) return false;
      const line = kind === SyntaxKind.LineCommentTrivia;
      if ((line || kind === SyntaxKind.BlockCommentTrivia) && inside({ start: s, end: s + scanner.getTokenLength(), line })) return true;
    }
  }
  // The last comment that starts before the offset (binary search).
  const { comments } = obj;
  let lo = 0;
  let hi = comments.length - 1;
  let found: Comment | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = comments[mid] as Comment;
    if (c.start < offset) {
      found = c;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found !== undefined && inside(found);
}

/** The bare word around the cursor at the top level of a cell (outside objects). */
function topWord(text: string, offset: number): OffsetRange {
  let s = offset;
  while (s > 0 && /[A-Za-z0-9_\-{]/.test(text.charAt(s - 1))) s--;
  return { start: s, end: offset };
}

/**
 * The range a completion replaces for the token under the cursor: the whole token, except for a string
 * without its closing quote, which the scanner runs to the end of the line. There only the word at the
 * cursor is replaced, so that `{"dev|}}` keeps its braces.
 */
function replaced(text: string, t: Token, offset: number): OffsetRange {
  if (t.kind !== SyntaxKind.StringLiteral || t.terminated) return { start: t.start, end: t.end };
  let end = offset;
  while (end < t.end && /[A-Za-z0-9_.-]/.test(text.charAt(end))) end++;
  return { start: t.start, end };
}

/** A token that can only begin a new member (a key). */
function startsMember(t: Token): boolean {
  return t.kind === SyntaxKind.StringLiteral || t.kind === SyntaxKind.Unknown;
}

/** Computes the cursor location in a `qmp` cell. */
export function locate(text: string, offset: number, objects: ParsedObject[]): {
  location: CursorLocation;
  object?: ParsedObject;
} {
  const obj = objectAt(objects, offset, text);
  if (obj === undefined || obj.root === undefined) {
    const before = text.slice(0, offset);
    const lineStart = before.lastIndexOf('\n') + 1;
    const line = before.slice(lineStart);
    if (/\/\//.test(line) || /["]/.test(line)) return { location: { kind: 'none' } };
    return { location: { kind: 'top', range: topWord(text, offset) } };
  }
  if (isInComment(text, offset, obj)) return { location: { kind: 'none' }, object: obj };
  const root = obj.root;
  const tokens = obj.tokens;
  const idx = tokenBefore(tokens, offset);
  const after = tokens[idx + 1];
  // The token under the cursor, if any, is either the one ending at the cursor or the one spanning it.
  let current: Token | undefined;
  if (after !== undefined && inside(after, offset)) current = after;
  else if (idx >= 0 && inside(tokens[idx] as Token, offset)) current = tokens[idx];
  if (current !== undefined) {
    const prop = propertyWithKeyAt(root, current.start);
    if (prop !== undefined) {
      // A top-level object holding only the word being typed still offers whole-command skeletons.
      if (prop.parent === root && root.properties.length === 1 && prop.colon === undefined && !prop.keyQuoted) {
        return { location: { kind: 'top', range: { start: root.start, end: root.closed ? root.end : prop.keyRange.end }, object: root }, object: obj };
      }
      const next = tokens[tokens.indexOf(current) + 1];
      return {
        location: {
          kind: 'key', object: prop.parent, property: prop, range: replaced(text, current, offset), quoted: prop.keyQuoted,
          colonFollows: next?.kind === SyntaxKind.ColonToken,
          commaNeeded: next !== undefined && startsMember(next),
        },
        object: obj,
      };
    }
    const scalar = scalarAt(root, current.start);
    if (scalar?.parent !== undefined) {
      return {
        location: { kind: 'value', holder: scalar.parent, node: scalar, range: replaced(text, current, offset), quoted: scalar.type === 'string' },
        object: obj,
      };
    }
    return { location: { kind: 'none' }, object: obj };
  }
  const container = containerAt(root, offset);
  if (container === undefined) return { location: { kind: 'none' }, object: obj };
  const prev = tokens[idx];
  const empty: OffsetRange = { start: offset, end: offset };
  if (container.type === 'object') {
    if (prev === undefined) return { location: { kind: 'none' }, object: obj };
    if (prev.kind === SyntaxKind.OpenBraceToken || prev.kind === SyntaxKind.CommaToken) {
      if (container === root && root.properties.length === 0) {
        return { location: { kind: 'top', range: { start: root.start, end: root.closed ? root.end : offset }, object: root }, object: obj };
      }
      const next = tokens[idx + 1];
      return {
        location: { kind: 'key', object: container, range: empty, quoted: false, colonFollows: false, commaNeeded: next !== undefined && startsMember(next) },
        object: obj,
      };
    }
    if (prev.kind === SyntaxKind.ColonToken) {
      const prop = (container as JsonObject).properties.find((p) => p.colon === prev.start);
      if (prop !== undefined) return { location: { kind: 'value', holder: prop, range: empty, quoted: false }, object: obj };
    }
    return { location: { kind: 'none' }, object: obj };
  }
  if (prev !== undefined && (prev.kind === SyntaxKind.OpenBracketToken || prev.kind === SyntaxKind.CommaToken)) {
    return { location: { kind: 'value', holder: container, range: empty, quoted: false }, object: obj };
  }
  return { location: { kind: 'none' }, object: obj };
}

/** What a hover points at: a key, or a scalar value, with the token's range. */
export type NodeAtOffset =
  | { kind: 'key'; property: JsonProperty; range: OffsetRange }
  | { kind: 'value'; scalar: JsonScalar; range: OffsetRange };

/**
 * The key or scalar whose token covers the character at `offset` (an editor hovers over characters,
 * so the offset just after a token is not on it).
 */
export function nodeAt(parsed: ParsedObject, offset: number): NodeAtOffset | undefined {
  const root = parsed.root;
  if (root === undefined) return undefined;
  const idx = tokenBefore(parsed.tokens, offset);
  const candidates = [parsed.tokens[idx + 1], parsed.tokens[idx]];
  for (const t of candidates) {
    if (t === undefined || offset < t.start || offset >= t.end) continue;
    const prop = propertyWithKeyAt(root, t.start);
    if (prop !== undefined) return { kind: 'key', property: prop, range: { ...prop.keyRange } };
    const scalar = scalarAt(root, t.start);
    if (scalar !== undefined) return { kind: 'value', scalar, range: { start: scalar.start, end: scalar.end } };
  }
  return undefined;
}
