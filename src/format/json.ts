// JSON text helpers that keep every literal exactly as written.
//
// QEMU's ids and sizes can be integers beyond 2^53, which `JSON.parse` rounds. These helpers work on
// jsonc-parser's syntax tree and slice literals from the source text, so a number or string is re-emitted
// byte for byte; only the whitespace between tokens changes.

import { createScanner, parseTree, ScanError, SyntaxKind, type Node, type ParseError } from 'jsonc-parser';

/** Saved outputs are wrapped at this many columns (the `<- ` prefix included). */
export const OUTPUT_WIDTH = 100;

/** Parses strict JSON (no comments, no trailing commas); undefined when the text is not exactly one value. */
function strictTree(text: string): Node | undefined {
  const errors: ParseError[] = [];
  const root = parseTree(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  return errors.length === 0 ? root : undefined;
}

/**
 * What the printers read of a node: jsonc-parser's `Node`, or a node of a cell's one tree (validate.ts), whose
 * `children` are the same (offsets relative to `text`).
 */
export interface SyntaxNode {
  readonly type: string;
  readonly offset: number;
  readonly length: number;
  readonly children?: readonly SyntaxNode[] | undefined;
}

/**
 * The one-line spelling of a node, in QEMU's own wire style (`{"a": 1, "b": [1, 2]}`), with literals sliced
 * from `text`. Comments and other trivia between tokens are dropped.
 */
export function inlineJson(text: string, node: SyntaxNode, sep = ', ', colon = ': '): string {
  switch (node.type) {
    case 'object': {
      const props = (node.children ?? []).map((p) => {
        const [key, value] = p.children ?? [];
        if (key === undefined || value === undefined) return '';
        return text.slice(key.offset, key.offset + key.length) + colon + inlineJson(text, value, sep, colon);
      });
      return '{' + props.join(sep) + '}';
    }
    case 'array':
      return '[' + (node.children ?? []).map((c) => inlineJson(text, c, sep, colon)).join(sep) + ']';
    default:
      return text.slice(node.offset, node.offset + node.length);
  }
}

/** Compact JSON (no spaces at all) of a node, literals kept exactly: what is sent to QEMU. */
export function minifyJson(text: string, node: SyntaxNode): string {
  return inlineJson(text, node, ',', ':');
}

/**
 * The one-line QEMU-style spelling of strict JSON in a single pass over its tokens, or undefined when the
 * text is not exactly one valid JSON value. This is the fast path for the many short outputs of a notebook.
 */
export function inlineStrictJson(text: string): string | undefined {
  const scanner = createScanner(text, false);
  const stack: number[] = [];
  // What may come next: a value, a value or ']', a key, a key or '}', a colon, or what follows a value.
  type Want = 'value' | 'valueOrClose' | 'key' | 'keyOrClose' | 'colon' | 'after';
  let want: Want = 'value';
  let out = '';
  for (let tok = scanner.scan(); tok !== SyntaxKind.EOF; tok = scanner.scan()) {
    if (tok === SyntaxKind.Trivia || tok === SyntaxKind.LineBreakTrivia) continue;
    if (scanner.getTokenError() !== ScanError.None) return undefined;
    switch (want) {
      case 'value':
      case 'valueOrClose':
        if (tok === SyntaxKind.OpenBraceToken) {
          stack.push(tok);
          out += '{';
          want = 'keyOrClose';
        } else if (tok === SyntaxKind.OpenBracketToken) {
          stack.push(tok);
          out += '[';
          want = 'valueOrClose';
        } else if (tok === SyntaxKind.CloseBracketToken && want === 'valueOrClose') {
          stack.pop();
          out += ']';
          want = 'after';
        } else if (tok === SyntaxKind.StringLiteral || tok === SyntaxKind.NumericLiteral || tok === SyntaxKind.TrueKeyword
          || tok === SyntaxKind.FalseKeyword || tok === SyntaxKind.NullKeyword) {
          out += text.substr(scanner.getTokenOffset(), scanner.getTokenLength());
          want = 'after';
        } else {
          return undefined;
        }
        break;
      case 'key':
      case 'keyOrClose':
        if (tok === SyntaxKind.StringLiteral) {
          out += text.substr(scanner.getTokenOffset(), scanner.getTokenLength());
          want = 'colon';
        } else if (tok === SyntaxKind.CloseBraceToken && want === 'keyOrClose') {
          stack.pop();
          out += '}';
          want = 'after';
        } else {
          return undefined;
        }
        break;
      case 'colon':
        if (tok !== SyntaxKind.ColonToken) return undefined;
        out += ': ';
        want = 'value';
        break;
      case 'after': {
        const top = stack[stack.length - 1];
        if (top === undefined) return undefined;
        if (tok === SyntaxKind.CommaToken) {
          out += ', ';
          want = top === SyntaxKind.OpenBraceToken ? 'key' : 'value';
        } else if (tok === SyntaxKind.CloseBraceToken && top === SyntaxKind.OpenBraceToken) {
          stack.pop();
          out += '}';
        } else if (tok === SyntaxKind.CloseBracketToken && top === SyntaxKind.OpenBracketToken) {
          stack.pop();
          out += ']';
        } else {
          return undefined;
        }
        break;
      }
    }
  }
  return want === 'after' && stack.length === 0 ? out : undefined;
}

/**
 * Pretty-prints strict JSON for a saved output: a value that fits in the remaining width stays on one line
 * in QEMU's wire style, a longer one is broken into one member per line, indented by two spaces. The result
 * depends only on the tokens, so formatting is idempotent: re-saving a notebook never reflows its outputs.
 * Returns undefined when `text` is not valid JSON.
 */
export function formatOutputJson(text: string, firstLinePrefix = 3): string | undefined {
  const flat = inlineStrictJson(text);
  if (flat === undefined) return undefined;
  if (firstLinePrefix + flat.length <= OUTPUT_WIDTH) return flat;
  const root = strictTree(text);
  if (root === undefined) return undefined;
  // The length of each node's one-line spelling, computed without building it: a large output (tens of MB
  // on one line) would otherwise hold one copy of itself per level of nesting while it is printed.
  const lengths = new Map<Node, number>();
  const inlineLength = (node: Node): number => {
    let n = lengths.get(node);
    if (n !== undefined) return n;
    const children = node.children ?? [];
    if (node.type === 'object') {
      n = 2 + 2 * Math.max(0, children.length - 1);
      for (const p of children) {
        const [key, value] = p.children ?? [];
        if (key !== undefined && value !== undefined) n += key.length + 2 + inlineLength(value);
      }
    } else if (node.type === 'array') {
      n = 2 + 2 * Math.max(0, children.length - 1);
      for (const c of children) n += inlineLength(c);
    } else {
      n = node.length;
    }
    lengths.set(node, n);
    return n;
  };
  const print = (node: Node, indent: string, used: number, trailer: number): string => {
    const children = node.children ?? [];
    if (used + inlineLength(node) + trailer <= OUTPUT_WIDTH || children.length === 0
      || (node.type !== 'object' && node.type !== 'array')) {
      return inlineJson(text, node);
    }
    const inner = indent + '  ';
    const lines = children.map((child, i) => {
      const comma = i < children.length - 1 ? 1 : 0;
      if (node.type === 'array') return inner + print(child, inner, inner.length, comma);
      const [key, value] = child.children ?? [];
      if (key === undefined || value === undefined) return inner;
      const head = inner + text.slice(key.offset, key.offset + key.length) + ': ';
      return head + print(value, inner, head.length, comma);
    });
    const [open, close] = node.type === 'object' ? ['{', '}'] : ['[', ']'];
    return open + '\n' + lines.join(',\n') + '\n' + indent + close;
  };
  return print(root, '', firstLinePrefix, 0);
}
