// Incremental edits must mean what a fresh parse of the same text means: an edit can change what its
// neighbouring lines are (a line "```x" that loses its `x` closes the cell, "`` `" that loses its space too,
// a "<!-- /markdown-cell -->" line ends a raw cell opened far above). Random edits near fences, front matter,
// markers and carriage returns, first on the regions the server keeps (many runs), then through the server
// itself: symbols, semantic tokens and diagnostics after the edits equal those of the same text opened fresh.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { findRegions, updateRegions, type LinePosition, type Region } from '../../src/lsp/regions';
import { inProcessServer } from '../support/inProcessLsp';

const root = path.resolve(__dirname, '..', '..', '..');
const schemaFile = path.join(root, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json');

/** Lines that are, or are one keystroke from, notebook structure, and ordinary cell lines. */
const BODY_LINE = fc.constantFrom(
  '{"execute": "query-status"}', 'query-status', 'device_add driver=e1000 id=n1', '-> {"execute": "x"}', '<- {"return": {}}',
  '```', '`` `', '```x', ' ```', '````', '``` qmp', '```qmp', '---', 'profile: a', '<!-- cell -->', '<!-- /markdown-cell -->',
  '<!-- markdown-cell -->', '', ' ', 'a', '{"execute": "qurey-status"}', '{"execute": "blockdev-add", "arguments": {"driver": "nu',
);
const MD_LINE = fc.constantFrom('# Title', 'Some text.', '', '---', '<!-- cell -->', '<!-- markdown-cell -->', '<!-- /markdown-cell -->', '``', 'x');
const CELL = fc.record({
  fence: fc.constantFrom('```', '````'),
  language: fc.constantFrom('qmp', 'qmp-shell', 'hmp'),
  body: fc.array(BODY_LINE, { minLength: 1, maxLength: 5 }),
}).map(({ fence, language, body }) => [`${fence}${language}`, ...body, fence].join('\n'));
const BLOCK = fc.oneof(CELL, CELL, fc.array(MD_LINE, { minLength: 1, maxLength: 3 }).map((l) => l.join('\n')));
const FRONT = fc.constantFrom('', '---\nprofile: a\n---\n', '---\nprofile: a\n', '---\n');
const NOTEBOOK = fc.tuple(FRONT, fc.array(BLOCK, { minLength: 1, maxLength: 6 }), fc.constantFrom('none', 'all', 'one'))
  .map(([front, blocks, cr]) => {
    const text = front + blocks.join('\n\n') + '\n';
    if (cr === 'all') return text.replace(/\n/g, '\r\n');
    if (cr === 'one') return text.replace('\n', '\r\n');
    return text;
  });
const INSERT = fc.constantFrom('', ' ', 'x', '`', '\n', '\r', '\r\n', '-', '---', '<!-- /markdown-cell -->', '<!--', '{', '"', 'qmp', '```', '\n```\n', 'a=1 ');
/** An edit: a line (near structure, as every line here is), a column, how much to delete, what to insert. */
const EDIT = fc.tuple(fc.nat(), fc.nat(), fc.nat({ max: 4 }), INSERT);

/** Line starts as LSP counts them (CR LF, CR and LF end a line). */
function lineStarts(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10 || (c === 13 && text.charCodeAt(i + 1) !== 10)) starts.push(i + 1);
  }
  return starts;
}

function positionOf(text: string, offset: number): LinePosition {
  const starts = lineStarts(text);
  let line = 0;
  while (line + 1 < starts.length && (starts[line + 1] as number) <= offset) line++;
  return { line, character: offset - (starts[line] as number) };
}

/** The edit as offsets into `text` (never inside a CR LF pair). */
function editRange(text: string, [lineSeed, colSeed, len]: [number, number, number, string]): [number, number] {
  const starts = lineStarts(text);
  const line = lineSeed % starts.length;
  const lineStart = starts[line] as number;
  let lineEnd = line + 1 < starts.length ? (starts[line + 1] as number) : text.length;
  while (lineEnd > lineStart && (text.charCodeAt(lineEnd - 1) === 10 || text.charCodeAt(lineEnd - 1) === 13)) lineEnd--;
  const s = lineStart + (colSeed % (lineEnd - lineStart + 1));
  let e = Math.min(text.length, s + len);
  if (text.charCodeAt(e - 1) === 13 && text.charCodeAt(e) === 10) e++;
  return [s, e];
}

const strip = (rs: Region[]): unknown => rs.map((r) => ({ ...r, fenced: r.fenced === true }));

describe('lsp: incremental edits equal a fresh parse', () => {
  it('regions after random edits near fences, front matter, markers and CRs equal a fresh parse (property)', () => {
    fc.assert(fc.property(NOTEBOOK, fc.array(EDIT, { minLength: 1, maxLength: 5 }), (start, edits) => {
      let text = start;
      // As the server keeps them (server.ts): in place while the text has no CR, else parsed again.
      let regions = findRegions(text, true);
      let incremental = !text.includes('\r');
      for (const edit of edits) {
        const [s, e] = editRange(text, edit);
        const insert = edit[3];
        const range = { start: positionOf(text, s), end: positionOf(text, e) };
        const next = text.slice(0, s) + insert + text.slice(e);
        const updated = incremental ? updateRegions(regions, { range, oldText: text.slice(s, e), text: insert }) : undefined;
        if (updated !== undefined) {
          assert.deepEqual(strip(updated), strip(findRegions(next, true)), JSON.stringify({ text, range, insert }));
          regions = updated;
        } else {
          regions = findRegions(next, true);
          incremental = !next.includes('\r');
        }
        text = next;
      }
    }), { numRuns: 3000 });
  });

  it('the two sample edits of the issue re-read the cell: "```x" losing its x, "`` `" losing its space', () => {
    for (const [line, s, e] of [['```x', 3, 4], ['`` `', 2, 3]] as const) {
      const text = `\`\`\`qmp\n{"execute": "a"}\n${line}\n{"execute": "b"}\n\`\`\`\n`;
      const regions = findRegions(text, true);
      const range = { start: { line: 2, character: s }, end: { line: 2, character: e } };
      assert.equal(updateRegions(regions, { range, oldText: line.slice(s, e), text: '' }), undefined, line);
      assert.equal(regions[0]?.text, `{"execute": "a"}\n${line}\n{"execute": "b"}`);
      const fresh = findRegions(text.replace(line, line.slice(0, s) + line.slice(e)), true);
      assert.equal(fresh[0]?.text, '{"execute": "a"}', 'the line closes the cell now');
    }
  });

  describe('through the server (symbols, semantic tokens, diagnostics)', () => {
    const { request, notify, end } = inProcessServer();
    after(end);

    it('after random edits, a document answers as the same text opened fresh (property)', async () => {
      await request('initialize', {
        processId: null, rootUri: null, initializationOptions: { schemaFile },
        capabilities: { textDocument: { diagnostic: {} } },
      });
      notify('initialized', {});
      let n = 0;
      await fc.assert(fc.asyncProperty(NOTEBOOK, fc.array(EDIT, { minLength: 1, maxLength: 4 }), async (start, edits) => {
        n++;
        const edited = `file:///edited${n}.qmp`;
        const fresh = `file:///fresh${n}.qmp`;
        notify('textDocument/didOpen', { textDocument: { uri: edited, languageId: 'qmp', version: 1, text: start } });
        // Ask once so the server holds the regions it then updates in place.
        await request('textDocument/documentSymbol', { textDocument: { uri: edited } });
        let text = start;
        let version = 1;
        for (const edit of edits) {
          const [s, e] = editRange(text, edit);
          const range = { start: positionOf(text, s), end: positionOf(text, e) };
          notify('textDocument/didChange', { textDocument: { uri: edited, version: ++version }, contentChanges: [{ range, text: edit[3] }] });
          text = text.slice(0, s) + edit[3] + text.slice(e);
          await request('textDocument/semanticTokens/full', { textDocument: { uri: edited } });
        }
        notify('textDocument/didOpen', { textDocument: { uri: fresh, languageId: 'qmp', version: 1, text } });
        for (const method of ['textDocument/documentSymbol', 'textDocument/semanticTokens/full', 'textDocument/diagnostic']) {
          // resultId is a time stamp of the reply: compared without it.
          const { resultId: _a, ...a } = await request(method, { textDocument: { uri: edited } }) as { resultId?: string };
          const { resultId: _b, ...b } = await request(method, { textDocument: { uri: fresh } }) as { resultId?: string };
          assert.deepEqual(a, b, `${method} of ${JSON.stringify(text)}`);
        }
        notify('textDocument/didClose', { textDocument: { uri: edited } });
        notify('textDocument/didClose', { textDocument: { uri: fresh } });
      }), { numRuns: 400 });
    });
  });
});
