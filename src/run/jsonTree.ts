// A JSON syntax tree that keeps every literal as written (integers beyond 2^53 included) and the order of
// members, for masking and comparing QMP messages. One linear pass over jsonc-parser's scanner; nesting is
// bounded (deeper text is not a QMP message we can reason about, and the caller keeps it as it was).
import { createScanner, ScanError, SyntaxKind } from 'jsonc-parser';

export type JsonNode =
  | { type: 'object'; members: JsonMember[] }
  | { type: 'array'; items: JsonNode[] }
  /** `raw` is the literal's source text; `value` the decoded string, for strings only. */
  | { type: 'string'; raw: string; value: string }
  | { type: 'literal'; raw: string };

export interface JsonMember {
  key: string;
  value: JsonNode;
}

/** Deeper than QEMU's own parser accepts (MAX_NESTING 1024 in qobject/json-streamer.c). */
export const MAX_DEPTH = 1024;

/** Parses one strict JSON value; undefined when the text is not exactly one value or nests too deeply. */
export function parseJsonTree(text: string): JsonNode | undefined {
  const scanner = createScanner(text, false);
  let tok: SyntaxKind = SyntaxKind.Unknown;
  const next = (): SyntaxKind => {
    do tok = scanner.scan();
    while (tok === SyntaxKind.Trivia || tok === SyntaxKind.LineBreakTrivia);
    return tok;
  };
  // Read through a function: the compiler would otherwise narrow `tok` across next() calls.
  const cur = (): SyntaxKind => tok;
  const fail = (): never => { throw new Bad(); };
  const value = (depth: number): JsonNode => {
    if (scanner.getTokenError() !== ScanError.None) fail();
    switch (tok) {
      case SyntaxKind.OpenBraceToken: {
        if (depth >= MAX_DEPTH) fail();
        const members: JsonMember[] = [];
        if (next() === SyntaxKind.CloseBraceToken) return { type: 'object', members };
        for (;;) {
          if (cur() !== SyntaxKind.StringLiteral || scanner.getTokenError() !== ScanError.None) fail();
          const key = scanner.getTokenValue();
          if (next() !== SyntaxKind.ColonToken) fail();
          next();
          members.push({ key, value: value(depth + 1) });
          if (next() === SyntaxKind.CloseBraceToken) return { type: 'object', members };
          if (cur() !== SyntaxKind.CommaToken) fail();
          next();
        }
      }
      case SyntaxKind.OpenBracketToken: {
        if (depth >= MAX_DEPTH) fail();
        const items: JsonNode[] = [];
        if (next() === SyntaxKind.CloseBracketToken) return { type: 'array', items };
        for (;;) {
          items.push(value(depth + 1));
          if (next() === SyntaxKind.CloseBracketToken) return { type: 'array', items };
          if (cur() !== SyntaxKind.CommaToken) fail();
          next();
        }
      }
      case SyntaxKind.StringLiteral:
        return { type: 'string', raw: text.slice(scanner.getTokenOffset(), scanner.getTokenOffset() + scanner.getTokenLength()), value: scanner.getTokenValue() };
      case SyntaxKind.NumericLiteral:
      case SyntaxKind.TrueKeyword:
      case SyntaxKind.FalseKeyword:
      case SyntaxKind.NullKeyword:
        return { type: 'literal', raw: text.slice(scanner.getTokenOffset(), scanner.getTokenOffset() + scanner.getTokenLength()) };
      default:
        return fail();
    }
  };
  try {
    next();
    const root = value(0);
    if (next() !== SyntaxKind.EOF) return undefined;
    return root;
  } catch (err) {
    if (err instanceof Bad) return undefined;
    throw err;
  }
}

class Bad extends Error {}

/** QEMU's wire style on one line: `{"a": 1, "b": [1, 2]}`, literals as written. */
export function printJsonTree(node: JsonNode): string {
  switch (node.type) {
    case 'object':
      return '{' + node.members.map((m) => `${JSON.stringify(m.key)}: ${printJsonTree(m.value)}`).join(', ') + '}';
    case 'array':
      return '[' + node.items.map(printJsonTree).join(', ') + ']';
    default:
      return node.raw;
  }
}

export function str(value: string): JsonNode {
  return { type: 'string', raw: JSON.stringify(value), value };
}

export function member(node: JsonNode | undefined, key: string): JsonNode | undefined {
  if (node?.type !== 'object') return undefined;
  for (const m of node.members) if (m.key === key) return m.value;
  return undefined;
}

/**
 * One text per value for comparing: members sorted by key, strings by their value, other literals as written.
 * Two messages are equal for a test when their canonical texts are equal.
 */
export function canonicalJson(node: JsonNode): string {
  switch (node.type) {
    case 'object':
      return '{' + [...node.members].sort((x, y) => (x.key < y.key ? -1 : x.key > y.key ? 1 : 0))
        .map((m) => `${JSON.stringify(m.key)}:${canonicalJson(m.value)}`).join(',') + '}';
    case 'array':
      return '[' + node.items.map(canonicalJson).join(',') + ']';
    case 'string':
      // The string as written when that is already JSON.stringify's spelling (no escapes, nothing it would
      // escape): a large value is not copied again.
      return node.raw.length >= 2 && node.raw.endsWith('"') && !NOT_AS_WRITTEN.test(node.raw) ? node.raw : JSON.stringify(node.value);
    default:
      return node.raw;
  }
}

/**
 * What makes a string literal's spelling differ from JSON.stringify of its value: a backslash (an escape), a
 * control character or a surrogate, i.e. any code unit outside U+0020–U+005B, U+005D–U+D7FF, U+E000–U+FFFF.
 */
const NOT_AS_WRITTEN = /[^ -[\]-\ud7ff\ue000-\uffff]/;
