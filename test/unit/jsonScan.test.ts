// One scan per `qmp` segment (issue 18, parse once): validate.ts's `visitTokens` replays jsonc-parser's `visit`
// over tokens scanned once, and the cursor's tokens come from that same scan. Both must be exactly what the
// library and a scanner over the whole cell give, on any input: compared here on random JSON-ish text.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import fc from 'fast-check';
import { createScanner, ScanError, SyntaxKind, visit, type JSONVisitor } from 'jsonc-parser';
import { scanJson, visitTokens, type TokenVisitor } from '../../src/format/validate';
import { type Token } from '../../src/language/jsonCursor';
import { CellText } from '../../src/language/parsed';

const pieces = fc.constantFrom(
  '{', '}', '[', ']', ',', ':', ' ', '\n', '"', '"execute"', '"a b', "'x'", 'true', 'nul', 'null', '-', '1', '1.', '2e', '0x1', 'word',
  '// c\n', '/* c */', '/* open', '"\\u12"', '"\\q"', '\u0001', '->', '<-', '\\', '"}"', '#',
);
const jsonish = fc.array(pieces, { maxLength: 50 }).map((xs) => xs.join(''));

/** Every call a visitor gets, as data (line and column left out: parseJson does not use them). */
function recorder(): { calls: unknown[]; visitor: TokenVisitor } {
  const calls: unknown[] = [];
  const visitor: TokenVisitor = {
    onObjectBegin: (offset, length) => void calls.push(['{', offset, length]),
    onObjectProperty: (name, offset, length) => void calls.push(['prop', name, offset, length]),
    onObjectEnd: (offset, length) => void calls.push(['}', offset, length]),
    onArrayBegin: (offset, length) => void calls.push(['[', offset, length]),
    onArrayEnd: (offset, length) => void calls.push([']', offset, length]),
    onLiteralValue: (value, offset, length) => void calls.push(['lit', value, offset, length]),
    onSeparator: (sep, offset, length) => void calls.push(['sep', sep, offset, length]),
    onError: (code, offset, length) => void calls.push(['err', code, offset, length]),
  };
  return { calls, visitor };
}

/** The cursor's tokens as a scanner over the whole cell reads them from the segment's start (the way before the one scan). */
function wholeCellTokens(text: string, start: number, end: number): Token[] {
  const scanner = createScanner(text, true);
  scanner.setPosition(start);
  const tokens: Token[] = [];
  for (;;) {
    const kind = scanner.scan();
    if (kind === SyntaxKind.EOF) break;
    const s = scanner.getTokenOffset();
    if (s >= end) break;
    const e = Math.min(s + scanner.getTokenLength(), end);
    const terminated = kind !== SyntaxKind.StringLiteral
      || (e - s >= 2 && text.charCodeAt(e - 1) === 34 && scanner.getTokenError() !== ScanError.UnexpectedEndOfString);
    tokens.push({ kind, start: s, end: e, value: scanner.getTokenValue(), terminated });
  }
  return tokens;
}

describe('one scan per segment', () => {
  test('visitTokens makes the calls jsonc-parser\'s visit makes, in order', () => {
    fc.assert(fc.property(jsonish, (text) => {
      const ours = recorder();
      visitTokens(text, scanJson(text).tokens, ours.visitor);
      const theirs = recorder();
      visit(text, theirs.visitor as JSONVisitor, { disallowComments: false, allowTrailingComma: false, allowEmptyContent: false });
      assert.deepEqual(ours.calls, theirs.calls);
    }), { numRuns: 3000 });
  });

  test('the cursor\'s tokens from the one scan are a whole-cell scanner\'s, segment by segment', () => {
    fc.assert(fc.property(jsonish, (text) => {
      const parsed = new CellText(text);
      const cell = parsed.scan;
      const objects = parsed.objects;
      const segments = cell.segments.filter((s) => s.kind !== 'junk');
      assert.equal(objects.length, segments.length);
      objects.forEach((o, k) => {
        const scan = cell.scans[cell.segments.indexOf(segments[k]!)]!;
        if (scan.deep === undefined) assert.deepEqual(o.tokens, wholeCellTokens(text, o.segment.start, o.segment.end));
      });
    }), { numRuns: 3000 });
  });
});
