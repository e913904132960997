// The edges of the `.qmp` round trip (issue 8, items 3, 6, 7, 10): hostile cell content, deep outputs, zero
// cells, U+2028 in profiles, invalid UTF-8, and the classes of input that used to make the parser quadratic.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  decodeNotebookBytes, findInvalidUtf8, parseNotebook, parseOutputs, renderOutputs, serializeNotebook,
  type CellData, type NotebookData, type SavedOutput,
} from '../../src/format';
import { MAX_PRETTY_DEPTH, nestingDepth } from '../../src/format/notebook';
import { formatOutputJson } from '../../src/format/json';
import { assertLinear } from '../support/linear';

/** Hostile pieces: fences of every length and kind, front matter lookalikes, separators, odd characters. */
const fence = fc.tuple(fc.constantFrom('`', '~'), fc.integer({ min: 1, max: 9 }), fc.constantFrom('', 'qmp', 'qmp-shell', 'hmp', 'qmp-output', ' qmp', 'qmp ', 'bash'), fc.constantFrom('', ' ', '  ', '   ', '    ', '\t'))
  .map(([ch, n, info, indent]) => indent + ch.repeat(n) + info);
const hostilePiece: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fence },
  { weight: 4, arbitrary: fc.constantFrom(
    '\n', '\n', '\n', '\r', '\r\n', '\n\n', ' ', '\t', '\0', '\uFEFF', '\u2028', '\u2029', '\u0085', 'é', '😀', '`', '``',
    '---', '--- ', 'profile: x', 'profile: "a\u2028b"', 'saveOutputs: true', '<!-- cell -->', '<!-- markdown-cell -->',
    '<!-- /markdown-cell -->', '<!-- markdown-cell 1 -->', '<!-- /markdown-cell 1 -->', '<!-- /markdown-cell 2 -->',
    '<- {', '-> {', '<- {"return": {}}', '}', '  "a": 1', '//', '// ', '{"execute": "stop"}', '[', ']', '"', '\\',
  ) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme', maxLength: 4 }) },
);
const hostileText = (max: number): fc.Arbitrary<string> => fc.array(hostilePiece, { maxLength: max }).map((a) => a.join(''));

/** JSON objects as saved: formatted the way the writer formats them (deep ones stay on one line). */
const deepObject = fc.integer({ min: MAX_PRETTY_DEPTH, max: 3000 }).map((d) => '{"a": '.repeat(d) + '[1]' + '}'.repeat(d));
const jsonObject: fc.Arbitrary<string> = fc.oneof(
  fc.dictionary(fc.string({ unit: 'grapheme', maxLength: 6 }), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 6 })
    .map((o) => formatOutputJson(JSON.stringify(o)) ?? '{}'),
  deepObject,
);
const savedOutput: fc.Arbitrary<SavedOutput> = fc.oneof(
  fc.record({ direction: fc.constantFrom('<-' as const, '->' as const), json: jsonObject })
    .map(({ direction, json }): SavedOutput => ({ kind: 'message', direction, json })),
  hostileText(8).filter((t) => !/^(<-|->) \{/.test(t)).map((text): SavedOutput => ({ kind: 'text', text })),
);
const deepSource = fc.integer({ min: 1, max: 5000 }).map((d) => '['.repeat(d) + ']'.repeat(d));
const cell: fc.Arbitrary<CellData> = fc.oneof(
  hostileText(14).map((source): CellData => ({ kind: 'markdown', language: 'markdown', source })),
  fc.tuple(fc.constantFrom('qmp' as const, 'qmp-shell' as const, 'hmp' as const), fc.oneof({ weight: 5, arbitrary: hostileText(14) }, { weight: 1, arbitrary: deepSource }),
    fc.array(savedOutput, { maxLength: 3 }))
    .map(([language, source, outputs]): CellData => (outputs.length > 0
      ? { kind: 'code', language, source, outputs } : { kind: 'code', language, source })),
);
const notebook: fc.Arbitrary<NotebookData> = fc.record({
  profile: fc.option(fc.oneof(fc.string({ unit: 'grapheme' }), hostileText(4), fc.constantFrom('a\u2028b', '\u2029', 'x\r', 'yes', '"q"', ' p ')), { nil: undefined }),
  saveOutputs: fc.option(fc.boolean(), { nil: undefined }),
  crlf: fc.boolean(),
  bom: fc.boolean(),
  cells: fc.array(cell, { minLength: 0, maxLength: 7 }),
}).map(({ profile, saveOutputs, crlf, bom, cells }) => {
  const data: NotebookData = { cells };
  if (profile !== undefined) data.profile = profile;
  if (saveOutputs !== undefined) data.saveOutputs = saveOutputs;
  if (crlf) data.eol = '\r\n';
  if (bom) data.bom = true;
  return data;
});

/** What a reader gets back: `eol` only matters when something is written with line breaks. */
function normalized(data: NotebookData): NotebookData {
  const text = serializeNotebook(data);
  const out = { ...data };
  if (!text.includes('\n')) delete out.eol;
  return out;
}

describe('the .qmp round trip on hostile content', () => {
  test('every notebook the writer produces reopens as the same cells and re-saves to the same bytes', () => {
    fc.assert(fc.property(notebook, (data) => {
      const text = serializeNotebook(data);
      const back = parseNotebook(text);
      assert.deepEqual(back, normalized(data));
      assert.equal(serializeNotebook(back), text);
    }), { numRuns: 2500 });
  });

  test('a file the writer did not write keeps every line of its text, and one save makes it stable', () => {
    const STRUCTURE = /^( {0,3}`{3,}[ \t]*(qmp|qmp-shell|hmp|qmp-output)?[ \t]*|<!-- \/?(cell|markdown-cell( \d+)?) -->[ \t]*|---[ \t]*|(profile|saveOutputs)[ \t]*:.*)$/;
    fc.assert(fc.property(hostileText(60), (text) => {
      const data = parseNotebook(text);
      const kept = data.cells.map((c) => `${c.source}\n${renderOutputs(c.outputs ?? [])}`).join('\n');
      const keptLines = new Set(kept.split(/\r?\n/).map((l) => l.trim()));
      for (const line of text.replace(/^\uFEFF/, '').split(/\r?\n/)) {
        if (line.trim() === '' || STRUCTURE.test(line)) continue;
        assert.ok(keptLines.has(line.trim()), `line ${JSON.stringify(line)} of ${JSON.stringify(text)} was lost`);
      }
      const saved = serializeNotebook(data);
      assert.equal(serializeNotebook(parseNotebook(saved)), saved);
    }), { numRuns: 2500 });
  });

  test('a profile holding U+2028 / U+2029 keeps the front matter', () => {
    for (const profile of ['a\u2028b', '\u2029', 'x\u2028', '  spaced\t']) {
      const data: NotebookData = { profile, saveOutputs: true, cells: [{ kind: 'code', language: 'qmp', source: '{}' }] };
      const text = serializeNotebook(data);
      assert.deepEqual(parseNotebook(text), data, JSON.stringify(text));
    }
  });

  test('zero cells are written as the empty file and reopen as zero cells (with or without front matter)', () => {
    assert.equal(serializeNotebook({ cells: [] }), '');
    assert.deepEqual(parseNotebook(''), { cells: [] });
    assert.equal(serializeNotebook({ bom: true, cells: [] }), '\uFEFF');
    const fm: NotebookData = { profile: 'vm', cells: [] };
    assert.equal(serializeNotebook(fm), '---\nprofile: vm\n---\n');
    assert.deepEqual(parseNotebook(serializeNotebook(fm)), fm);
    // One empty cell is not zero cells.
    const one: NotebookData = { cells: [{ kind: 'code', language: 'qmp', source: '' }] };
    assert.deepEqual(parseNotebook(serializeNotebook(one)), one);
  });

  test('a front matter value with a long run of blanks is read in linear time', () => {
    const text = (n: number): string => `---\nprofile: a${' '.repeat(n)}b\n---\n`;
    assert.equal(parseNotebook(text(200_000)).profile, `a${' '.repeat(200_000)}b`);
    assertLinear('front matter with a run of blanks', text, parseNotebook, 25_000);
  });
});

describe('deep outputs and deep cells', () => {
  const deep = (d: number): string => '{"a": '.repeat(d) + '1' + '}'.repeat(d);

  test('an output nested 10,000 deep saves and reopens with its cells intact, written on one line', () => {
    const data: NotebookData = {
      saveOutputs: true,
      cells: [
        { kind: 'markdown', language: 'markdown', source: 'Deep.' },
        { kind: 'code', language: 'qmp', source: '{"execute": "x"}', outputs: [{ kind: 'message', direction: '<-', json: deep(10_000) }] },
        { kind: 'code', language: 'hmp', source: 'info status' },
      ],
    };
    const text = serializeNotebook(data);
    assert.ok(text.includes(`\n<- ${deep(10_000)}\n`));
    assert.deepEqual(parseNotebook(text), data);
    assert.equal(serializeNotebook(parseNotebook(text)), text);
  });

  test('a hand-written deep output in pretty form is kept as text (never parsed by recursion)', () => {
    const d = 20_000;
    const body = '<- {\n' + '  "a": ['.repeat(1) + '['.repeat(d) + ']'.repeat(d) + ']\n}';
    const text = '```qmp\n{}\n```\n\n```qmp-output\n' + body + '\n```\n';
    const data = parseNotebook(text);
    assert.equal(data.cells.length, 2);
    assert.equal(data.cells[0]?.kind, 'code');
    assert.ok(data.cells[1]?.source.includes('['.repeat(d)));
  });

  test('the pretty-print limit is a function of the tokens, so deep and shallow outputs both re-save without churn', () => {
    for (const depth of [MAX_PRETTY_DEPTH - 1, MAX_PRETTY_DEPTH, MAX_PRETTY_DEPTH + 1, 5000]) {
      const json = '{"k": ' + '{"long-member-name-to-force-wrapping": '.repeat(depth - 1) + '1' + '}'.repeat(depth);
      const outputs: SavedOutput[] = [{ kind: 'message', direction: '<-', json }];
      const body = renderOutputs(outputs);
      const back = parseOutputs(body);
      assert.ok(back !== undefined, `depth ${depth}`);
      assert.equal(renderOutputs(back), body);
      assert.equal(nestingDepth(json), depth);
    }
  });

  test('a code cell nested 50,000 deep round-trips', () => {
    const source = '{"execute": "x", "arguments": {"a": ' + '['.repeat(50_000) + ']'.repeat(50_000) + '}}';
    const data: NotebookData = { cells: [{ kind: 'code', language: 'qmp', source }] };
    assert.deepEqual(parseNotebook(serializeNotebook(data)), data);
    // Alone in a file without fences it still opens as a qmp cell.
    assert.deepEqual(parseNotebook(source).cells, [{ kind: 'code', language: 'qmp', source }]);
  });
});

/** Opening and saving again, the whole round trip a hostile file goes through. */
function assertRoundTripLinear(label: string, make: (n: number) => string, n: number): void {
  assertLinear(label, make, (text) => serializeNotebook(parseNotebook(text)), n);
}

describe('the parser is linear on every shape that used to be quadratic', () => {
  test('code cells each followed by an unclosed output fence (of growing lengths too)', () => {
    assertRoundTripLinear('unclosed ````qmp-output', (n) => '```qmp\n{}\n```\n````qmp-output\n'.repeat(n), 3000);
    assertRoundTripLinear('growing fence lengths', (n) => Array.from({ length: n }, (_, i) => `\`\`\`qmp\n{}\n\`\`\`\n${'`'.repeat(4 + (i % 400))}qmp-output\n<- {}\n`).join(''), 1000);
    assertRoundTripLinear('unclosed code fences', (n) => '````qmp\n{}\n```\n'.repeat(n), 3000);
  });

  test('output blocks with unterminated or non-canonical messages', () => {
    assertRoundTripLinear('unterminated <- {', (n) => '```qmp\n{}\n```\n````qmp-output\n<- {\n  "a": 1\n'.repeat(n) + '````\n', 2000);
    assertRoundTripLinear('non-canonical', (n) => '```qmp\n{}\n```\n\n```qmp-output\n<- {"return":{}}\n```\n\n'.repeat(n), 2000);
  });

  test('LF structure with CRLF inside paragraphs, raw markers, lookalikes', () => {
    assertRoundTripLinear('CRLF in paragraphs', (n) => 'a\r\nb\r\n\n```qmp\n{}\n```\n\n'.repeat(n), 3000);
    assertRoundTripLinear('unclosed raw markers', (n) => '<!-- markdown-cell -->\ntext\n\n'.repeat(n), 3000);
    assertRoundTripLinear('front matter lookalikes', (n) => '---\nprofile: x\n'.repeat(n), 3000);
  });

  test('a file of hostile pieces never throws, and a file of many of them round-trips in linear time', () => {
    fc.assert(fc.property(hostileText(400), (text) => {
      serializeNotebook(parseNotebook(text));
    }), { numRuns: 300 });
    for (const [i, piece] of fc.sample(hostileText(40).filter((t) => t.length > 0), { numRuns: 3, seed: 7 }).entries()) {
      assertLinear(`hostile file ${i} repeated`, (n) => piece.repeat(n), (text) => serializeNotebook(parseNotebook(text)), Math.ceil(4000 / piece.length));
    }
  });
});

describe('invalid UTF-8', () => {
  const enc = new TextEncoder();

  test('valid UTF-8 decodes exactly and without warnings', () => {
    fc.assert(fc.property(fc.string({ unit: 'grapheme', maxLength: 100 }), (s) => {
      const r = decodeNotebookBytes(enc.encode(s));
      assert.equal(r.text, s);
      assert.deepEqual(r.warnings, []);
    }), { numRuns: 500 });
  });

  test('bad bytes are reported with the offset and line of the first one, and decode as the platform does', () => {
    const bytes = new Uint8Array([...enc.encode('ok\nline two\n'), 0xc3, 0x28, ...enc.encode('x'), 0xed, 0xa0, 0x80, 0xf0, 0x9f, 0x98]);
    const r = decodeNotebookBytes(bytes);
    assert.equal(r.text, new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes));
    assert.equal(r.warnings.length, 1);
    const w = r.warnings[0];
    assert.equal(w?.code, 'invalid-utf8');
    assert.equal(w?.offset, 12);
    assert.equal(w?.line, 3);
    assert.match(w?.message ?? '', /line 3 \(byte offset 12\)/);
  });

  test('the count of invalid sequences is the number of U+FFFD the platform decoder writes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
      const decoded = new TextDecoder('utf-8', { ignoreBOM: true }).decode(bytes);
      const replacements = (decoded.match(/\uFFFD/g) ?? []).length;
      const found = findInvalidUtf8(bytes);
      assert.equal(found?.count ?? 0, replacements - countEncodedReplacement(bytes), JSON.stringify([...bytes]));
      assert.equal(decodeNotebookBytes(bytes).text, decoded);
    }), { numRuns: 3000 });
  });
});

/** How many encoded U+FFFD (EF BF BD) the bytes hold: EF is never a continuation byte, so each is a sequence. */
function countEncodedReplacement(bytes: Uint8Array): number {
  let count = 0;
  for (let i = 0; i + 2 < bytes.length; i++) {
    if (bytes[i] === 0xef && bytes[i + 1] === 0xbf && bytes[i + 2] === 0xbd) {
      count++;
      i += 2;
    }
  }
  return count;
}
