import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertLinear } from '../support/linear';
import {
  formatOutputJson, parseNotebook, renderOutputs, serializeNotebook,
  type CellData, type NotebookData, type SavedOutput,
} from '../../src/format';

/** Pieces that exercise every structural rule of the format, plus awkward characters. */
const PIECES = [
  '```', '```qmp', '````', '```qmp-output', '```hmp', '``` qmp-shell', '<!-- cell -->', '<!-- markdown-cell -->',
  '<!-- /markdown-cell -->', '<!-- markdown-cell 1 -->', '<!-- /markdown-cell 1 -->', '---', 'profile: x',
  'saveOutputs: true', '\n', '\n', '\n', '\r', '\r\n', '\t', ' ', '\0', '\uFEFF', 'a', 'Zq', '{', '}', '"', ':',
  '-> ', '<- ', '//', '# title', 'é', '😀', '{"execute": "stop"}', '<- {"return": {}}',
];
const piecesText = (max: number): fc.Arbitrary<string> =>
  fc.array(fc.constantFrom(...PIECES), { maxLength: max }).map((a) => a.join(''));

const jsonObject: fc.Arbitrary<string> = fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 })
  .map((o) => formatOutputJson(JSON.stringify(o)) ?? '{}');

const savedOutput: fc.Arbitrary<SavedOutput> = fc.oneof(
  fc.record({ kind: fc.constant('message' as const), direction: fc.constantFrom('<-' as const, '->' as const), json: jsonObject }).map((o): SavedOutput => ({ ...o })),
  fc.record({ kind: fc.constant('text' as const), text: piecesText(8) }).map((o): SavedOutput => ({ ...o })),
);

const cell: fc.Arbitrary<CellData> = fc.oneof(
  piecesText(12).map((source): CellData => ({ kind: 'markdown', language: 'markdown', source })),
  fc.tuple(fc.constantFrom('qmp' as const, 'qmp-shell' as const, 'hmp' as const), piecesText(12), fc.array(savedOutput, { maxLength: 3 }))
    .map(([language, source, outputs]): CellData => (outputs.length > 0
      ? { kind: 'code', language, source, outputs } : { kind: 'code', language, source })),
);

const notebook: fc.Arbitrary<NotebookData> = fc.record({
  profile: fc.option(fc.oneof(fc.string(), fc.constantFrom('sandbox', 'true', 'my vm', '')), { nil: undefined }),
  saveOutputs: fc.option(fc.boolean(), { nil: undefined }),
  crlf: fc.boolean(),
  bom: fc.boolean(),
  cells: fc.array(cell, { minLength: 1, maxLength: 8 }),
}).map(({ profile, saveOutputs, crlf, bom, cells }) => {
  const data: NotebookData = { cells };
  if (profile !== undefined) data.profile = profile;
  if (saveOutputs !== undefined) data.saveOutputs = saveOutputs;
  if (crlf) data.eol = '\r\n';
  if (bom) data.bom = true;
  return data;
});

function nonWhitespace(s: string): string {
  return s.replace(/\s/g, '');
}

function isSubsequence(needle: string, hay: string): boolean {
  let j = 0;
  for (let i = 0; i < hay.length && j < needle.length; i++) if (hay[i] === needle[j]) j++;
  return j === needle.length;
}

/** Lines that may be notebook structure; the survival property does not ask them to be kept. */
const STRUCTURE = /^( {0,3}`{3,}[ \t]*(qmp|qmp-shell|hmp|qmp-output)?[ \t]*|<!-- \/?(cell|markdown-cell( \d+)?) -->[ \t]*|---[ \t]*|(profile|saveOutputs)[ \t]*:.*)$/;

describe('parseNotebook / serializeNotebook', () => {
  test('a notebook round-trips through its text', () => {
    const data: NotebookData = {
      profile: 'sandbox',
      saveOutputs: true,
      cells: [
        { kind: 'markdown', language: 'markdown', source: '# Tour\n\nQuery the status.' },
        {
          kind: 'code', language: 'qmp', source: '-> { "execute": "query-status" }',
          outputs: [{ kind: 'message', direction: '<-', json: '{"return": {"status": "prelaunch", "running": false}}' }],
        },
        { kind: 'markdown', language: 'markdown', source: 'One.' },
        { kind: 'markdown', language: 'markdown', source: 'Two.' },
        { kind: 'code', language: 'hmp', source: 'info status' },
      ],
    };
    const text = serializeNotebook(data);
    assert.equal(text, [
      '---', 'profile: sandbox', 'saveOutputs: true', '---', '',
      '# Tour', '', 'Query the status.', '',
      '```qmp', '-> { "execute": "query-status" }', '```', '',
      '```qmp-output', '<- {"return": {"status": "prelaunch", "running": false}}', '```', '',
      'One.', '', '<!-- cell -->', '', 'Two.', '',
      '```hmp', 'info status', '```', '',
    ].join('\n'));
    assert.deepEqual(parseNotebook(text), data);
  });

  test('random notebooks round-trip: parse(serialize(x)) equals x and the bytes are stable', () => {
    fc.assert(fc.property(notebook, (data) => {
      const text = serializeNotebook(data);
      assert.deepEqual(parseNotebook(text), data);
      assert.equal(serializeNotebook(parseNotebook(text)), text);
    }), { numRuns: 3000 });
  });

  test('random text: never throws, keeps every character, and is stable after one save', () => {
    fc.assert(fc.property(piecesText(40), (text) => {
      const data = parseNotebook(text);
      // Only the empty file (and front matter alone) has no cells.
      if (data.cells.length === 0) assert.equal(serializeNotebook(data).replace(/^\uFEFF/, '').replace(/^---\n[^]*---\n$/, ''), '');
      const saved = serializeNotebook(data);
      assert.equal(serializeNotebook(parseNotebook(saved)), saved);
      const content = text.replace(/^\uFEFF/, '').split(/\r?\n/).filter((l) => !STRUCTURE.test(l)).join('\n');
      const kept = [
        ...data.cells.flatMap((c) => [c.source, renderOutputs(c.outputs ?? [])]),
      ].join('\n');
      assert.ok(isSubsequence(nonWhitespace(content), nonWhitespace(kept)), JSON.stringify({ text, data }));
    }), { numRuns: 3000 });
  });

  test('random unicode text: every non-whitespace character lands in a cell', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
      const data = parseNotebook(text);
      const kept = data.cells.map((c) => c.source).join('\n');
      assert.ok(isSubsequence(nonWhitespace(text.replace(/^\uFEFF/, '')), nonWhitespace(kept)));
    }), { numRuns: 2000 });
  });

  test('a blank file opens as one empty qmp cell; the empty file is the notebook of no cells', () => {
    for (const text of ['\n', '  \n\t\n', '\uFEFF\n']) {
      assert.deepEqual(parseNotebook(text).cells, [{ kind: 'code', language: 'qmp', source: '' }]);
    }
    for (const text of ['', '\uFEFF', '---\nprofile: x\n---\n']) {
      assert.deepEqual(parseNotebook(text).cells, []);
      assert.equal(serializeNotebook(parseNotebook(text)), text);
    }
  });

  test('CRLF line endings and a byte order mark are kept', () => {
    const text = '\uFEFF# Title\r\n\r\n```qmp\r\n{"execute": "stop"}\r\n```\r\n';
    const data = parseNotebook(text);
    assert.equal(data.eol, '\r\n');
    assert.equal(data.bom, true);
    assert.deepEqual(data.cells.map((c) => c.source), ['# Title', '{"execute": "stop"}']);
    assert.equal(serializeNotebook(data), text);
  });

  test('mixed line endings keep their carriage returns inside the cells', () => {
    const data = parseNotebook('a\r\nb\n');
    assert.equal(data.eol, undefined);
    assert.equal(data.cells[0]?.source, 'a\r\nb');
  });

  test('an unclosed fence runs to the end of the file', () => {
    const data = parseNotebook('intro\n\n```qmp\n{"execute": "stop"}\n\nmore');
    assert.deepEqual(data.cells, [
      { kind: 'markdown', language: 'markdown', source: 'intro' },
      { kind: 'code', language: 'qmp', source: '{"execute": "stop"}\n\nmore' },
    ]);
  });

  test('no trailing newline, tabs and NUL characters are kept', () => {
    const data = parseNotebook('\tindented\0text\n```hmp\ninfo\tstatus\n```');
    assert.deepEqual(data.cells.map((c) => c.source), ['\tindented\0text', 'info\tstatus']);
  });

  test('weird front matter stays markdown, nothing is dropped', () => {
    for (const fm of ['---\ntitle: x\n---\n\ntext', '---\nprofile: a\nprofile: b\n---', '---\nsaveOutputs: maybe\n---', '---\n---\nx', '---\nprofile: x']) {
      const data = parseNotebook(fm);
      assert.equal(data.profile, undefined, fm);
      assert.ok(isSubsequence(nonWhitespace(fm), nonWhitespace(data.cells.map((c) => c.source).join(''))), fm);
      assert.equal(serializeNotebook(parseNotebook(serializeNotebook(data))), serializeNotebook(data));
    }
  });

  test('front matter accepts quoted profile names and never writes secrets it was not given', () => {
    const data = parseNotebook('---\nprofile: "my vm"\nsaveOutputs: false\n---\n\n```qmp\n```\n');
    assert.equal(data.profile, 'my vm');
    assert.equal(data.saveOutputs, false);
    assert.equal(serializeNotebook({ profile: 'true', cells: [{ kind: 'code', language: 'qmp', source: '' }] }),
      '---\nprofile: "true"\n---\n\n```qmp\n```\n');
  });

  test('a code cell holding fences gets a longer fence', () => {
    const data: NotebookData = { cells: [{ kind: 'code', language: 'qmp-shell', source: '```\n````qmp\n  ```' }] };
    const text = serializeNotebook(data);
    assert.ok(text.startsWith('`````qmp-shell\n'));
    assert.deepEqual(parseNotebook(text), data);
  });

  test('markdown that would read as structure is written between markdown-cell markers', () => {
    const sources = ['', '\nleading blank', 'trailing blank\n', 'has\n```qmp\n{}\n```\nfence', '<!-- cell -->', '---\nfront', 'a\n<!-- markdown-cell -->\nb', '\n<!-- /markdown-cell -->'];
    for (const source of sources) {
      const data: NotebookData = { cells: [{ kind: 'markdown', language: 'markdown', source }, { kind: 'code', language: 'qmp', source: '' }] };
      const text = serializeNotebook(data);
      assert.ok(text.startsWith('<!-- markdown-cell'), text);
      assert.deepEqual(parseNotebook(text), data, text);
    }
    // The closing marker is numbered when the text itself holds the plain one.
    assert.ok(serializeNotebook({ cells: [{ kind: 'markdown', language: 'markdown', source: '\n<!-- /markdown-cell -->' }] })
      .startsWith('<!-- markdown-cell 1 -->\n'));
  });

  test('a plain file of JSON commands opens as code cells split at blank lines', () => {
    const text = '{"execute": "qmp_capabilities"}\n\n{\n  "execute": "query-status"\n\n}\n{"execute": "stop"}\n';
    assert.deepEqual(parseNotebook(text).cells, [
      { kind: 'code', language: 'qmp', source: '{"execute": "qmp_capabilities"}' },
      { kind: 'code', language: 'qmp', source: '{\n  "execute": "query-status"\n\n}\n{"execute": "stop"}' },
    ]);
  });

  test('a pasted QEMU documentation example opens as one qmp cell', () => {
    const text = '-> { "execute": "query-status" }\n<- { "return": { "running": true,\n                 "status": "running" } }\n';
    assert.deepEqual(parseNotebook(text).cells, [{ kind: 'code', language: 'qmp', source: text.trimEnd() }]);
  });

  test('a lone markdown cell of JSON stays markdown after a save', () => {
    const data: NotebookData = { cells: [{ kind: 'markdown', language: 'markdown', source: '{"a": 1}' }] };
    assert.deepEqual(parseNotebook(serializeNotebook(data)), data);
  });

  test('a hand-edited output block that is not in canonical form is kept as markdown', () => {
    const text = '```qmp\n{"execute": "stop"}\n```\n\n```qmp-output\n<-   {"return":{}}\n```\n';
    const data = parseNotebook(text);
    assert.equal(data.cells[0]?.outputs, undefined);
    assert.equal(data.cells[1]?.kind, 'markdown');
    assert.ok(data.cells[1]?.source.includes('<-   {"return":{}}'));
  });

  test('outputs are written in QEMU notation, long ones wrapped, and re-saved without churn', () => {
    const long = JSON.stringify({ return: Array.from({ length: 8 }, (_, i) => ({ name: `command-number-${i}` })) });
    const outputs: SavedOutput[] = [
      { kind: 'message', direction: '->', json: '{"execute": "query-commands", "id": 123456789012345678901}' },
      { kind: 'message', direction: '<-', json: formatOutputJson(long) ?? '' },
      { kind: 'message', direction: '<-', json: '{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "STOP"}' },
      { kind: 'text', text: 'timed out after 10000 ms\n\nwaiting for DEVICE_DELETED' },
    ];
    const body = renderOutputs(outputs);
    assert.match(body, /^-> \{"execute": "query-commands", "id": 123456789012345678901\}\n\n<- \{\n {2}"return": \[\n {4}\{"name": "command-number-0"\},/);
    assert.match(body, /\n\/\/ timed out after 10000 ms\n\/\/\n\/\/ waiting for DEVICE_DELETED$/);
    const data: NotebookData = { saveOutputs: true, cells: [{ kind: 'code', language: 'qmp', source: 'x', outputs }] };
    const text = serializeNotebook(data);
    assert.deepEqual(parseNotebook(text), data);
    assert.equal(serializeNotebook(parseNotebook(text)), text);
  });

  test('10,000 cells parse and serialize in linear time', () => {
    const notebook = (pairs: number): NotebookData => {
      const cells: CellData[] = [];
      for (let i = 0; i < pairs; i++) {
        cells.push({ kind: 'markdown', language: 'markdown', source: `## Step ${i}\n\nText about step ${i}.` });
        cells.push({
          kind: 'code', language: 'qmp', source: `-> {"execute": "query-status", "id": ${i}}\n<- {"return": {}}`,
          outputs: [{ kind: 'message', direction: '<-', json: `{"return": {"status": "running", "running": true}, "id": ${i}}` }],
        });
      }
      return { saveOutputs: true, cells };
    };
    const text = serializeNotebook(notebook(5000));
    assert.equal(parseNotebook(text).cells.length, 10000);
    // 1,250 and 10,000 step pairs (the speed itself is a bench figure: npm run bench -- serializer).
    assertLinear('serialize', notebook, (data) => serializeNotebook(data), 625);
    assertLinear('parse', (pairs) => serializeNotebook(notebook(pairs)), (t) => parseNotebook(t), 625);
  });
});
