// Finding cells in a document for the language server, mapping positions both ways, and updating the cells
// in place after an edit: the in-place update must always agree with parsing the edited text afresh.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { locateCells } from '../../src/cli/locate';
import { findCellOffsets, findRegions, regionIndexAt, toCellOffset, toDocPosition, updateRegions, type Region } from '../../src/lsp/regions';

function positionOf(text: string, offset: number): { line: number; character: number } {
  const before = text.slice(0, offset).split(/\r\n|\n|\r/);
  return { line: before.length - 1, character: (before[before.length - 1] ?? '').length };
}

function offsetOf(text: string, pos: { line: number; character: number }): number {
  let line = 0;
  let i = 0;
  while (line < pos.line && i < text.length) {
    const c = text.charCodeAt(i++);
    if (c === 10 || (c === 13 && text.charCodeAt(i) !== 10)) line++;
  }
  return i + pos.character;
}

const strip = (rs: Region[]): unknown => rs.map((r) => ({ language: r.language, index: r.index, text: r.text, startLine: r.startLine, startCharacter: r.startCharacter }));

describe('lsp regions', () => {
  it('finds fenced cells of every code language and maps positions both ways', () => {
    const text = '# T\n\n```qmp\n{"execute": "a"}\n{"execute": "b"}\n```\n\nText\n\n```qmp-shell\nquery-status\n```\n\n```hmp\ninfo status\n```\n';
    const rs = findRegions(text, true);
    assert.deepEqual(rs.map((r) => [r.language, r.startLine, r.text]), [['qmp', 3, '{"execute": "a"}\n{"execute": "b"}'], ['qmp-shell', 10, 'query-status'], ['hmp', 14, 'info status']]);
    const r = rs[0] as Region;
    assert.equal(toCellOffset(r, { line: 4, character: 3 }), 17 + 3);
    assert.deepEqual(toDocPosition(r, 20), { line: 4, character: 3 });
    assert.equal(regionIndexAt(rs, { line: 2, character: 0 }), -1, 'the fence line is outside');
    assert.equal(regionIndexAt(rs, { line: 5, character: 0 }), -1, 'the closing fence is outside');
    assert.equal(regionIndexAt(rs, { line: 10, character: 4 }), 1);
  });

  it('does not take a cell for the fence line that holds the same text', () => {
    const text = '```qmp\nqmp\n```\n';
    const rs = findRegions(text, true);
    assert.equal(rs[0]?.startLine, 1);
    assert.deepEqual(findCellOffsets('a qmp\nqmp\n', ['qmp']), [6]);
  });

  it('keeps positions right with CRLF line ends and a byte order mark', () => {
    const text = '\uFEFF# T\r\n\r\n```qmp\r\n{"execute": "x"}\r\n```\r\n';
    const rs = findRegions(text, true);
    assert.equal(rs.length, 1);
    assert.equal(rs[0]?.startLine, 3);
    assert.deepEqual(toDocPosition(rs[0] as Region, 3), { line: 3, character: 3 });
  });

  it('reads a plain document as one region, and a .qmp file of bare JSON as its cells', () => {
    const plain = findRegions('-> {"execute": "x"}\n<- {"return": {}}\n', false);
    assert.equal(plain.length, 1);
    assert.equal(plain[0]?.startLine, 0);
    const bare = findRegions('{"execute": "a"}\n\n{"execute": "b"}\n', true);
    assert.deepEqual(bare.map((r) => [r.startLine, r.text]), [[0, '{"execute": "a"}'], [2, '{"execute": "b"}']]);
  });

  it('round-trips every position inside every region (property)', () => {
    fc.assert(fc.property(fc.array(fc.string({ maxLength: 30 }), { minLength: 1, maxLength: 6 }), (bodies) => {
      const text = bodies.map((b, i) => `Text ${i}\n\n\`\`\`qmp\n${b.replace(/`/g, "'")}\n\`\`\`\n`).join('\n');
      for (const r of findRegions(text, true)) {
        for (let o = 0; o <= r.text.length; o++) {
          const p = toDocPosition(r, o);
          const back = toCellOffset(r, p);
          // Offsets inside a CRLF pair map to the line end; every other offset comes back unchanged.
          if (r.text.charCodeAt(o - 1) !== 13) assert.equal(back, o);
          assert.equal(text.slice(offsetOf(text, p), offsetOf(text, p) + 1), r.text.slice(o, o + 1) || text.slice(offsetOf(text, p), offsetOf(text, p) + 1));
        }
      }
    }), { numRuns: 200 });
  });

  it('updates regions in place exactly as a fresh parse would (property)', () => {
    const cell = fc.array(fc.constantFrom('{', '}', '"execute"', ': ', '"x"', ',', '\n', ' ', 'a', '-> ', '<- '), { maxLength: 12 }).map((a) => a.join(''));
    fc.assert(fc.property(
      fc.array(cell, { minLength: 1, maxLength: 8 }), fc.nat(), fc.nat(), fc.nat(), fc.constantFrom('', 'x', '\n', '{"a": 1}\n', ' \n\n', '<!-- cell -->', '```'),
      (cells, which, at, len, insert) => {
        const text = ['# N', '', ...cells.flatMap((c, i) => ['```' + (i % 3 === 2 ? 'qmp-shell' : 'qmp'), c, '```', '', `t${i}`, ''])].join('\n');
        const regions = findRegions(text, true);
        if (regions.length === 0) return;
        const r = regions[which % regions.length] as Region;
        const start = at % (r.text.length + 1);
        const end = Math.min(r.text.length, start + (len % 5));
        const range = { start: toDocPosition(r, start), end: toDocPosition(r, end) };
        const s = offsetOf(text, range.start);
        const e = offsetOf(text, range.end);
        const next = text.slice(0, s) + insert + text.slice(e);
        const updated = updateRegions(regions, { range, oldText: text.slice(s, e), text: insert });
        if (insert.includes('`')) assert.equal(updated, undefined);
        if (updated !== undefined) assert.deepEqual(strip(updated), strip(findRegions(next, true)), JSON.stringify({ text, range, insert }));
      }), { numRuns: 500 });
  });

  it('refuses an in-place update of a .qmp file of bare JSON (a blank line there splits a cell)', () => {
    const text = '{"execute": "a"}\n\n{"execute": "b"}\n';
    const rs = findRegions(text, true);
    assert.equal(updateRegions(rs, { range: { start: { line: 0, character: 1 }, end: { line: 0, character: 1 } }, oldText: '', text: '\n\n' }), undefined);
  });

  it('refuses an in-place update that crosses cells', () => {
    const text = '```qmp\na\n```\n\n```qmp\nb\n```\n';
    const rs = findRegions(text, true);
    assert.equal(updateRegions(rs, { range: { start: { line: 1, character: 0 }, end: { line: 5, character: 0 } }, oldText: 'a\n```\n\n```qmp\n', text: '' }), undefined);
    void positionOf;
  });
  it('a cell whose text is a front matter line (---) is found after the front matter, by the regions and the CLI alike', () => {
    // Found by the incremental-edit property (seed 2038385514): the fresh parse placed the cell on line 0.
    for (const eol of ['\n', '\r\n']) {
      const text = ['---', 'profile: a', '---', '```qmp', '---', '````', '```', '', '# Title', ''].join(eol);
      const [r] = findRegions(text, true);
      assert.equal(r?.startLine, 4);
      assert.equal(r?.fenced, true);
      assert.deepEqual(locateCells(text, ['---']).lines, [5]);
    }
    // Without front matter the search starts at the top, as before.
    assert.equal(findRegions('```qmp\n---\n```\n', true)[0]?.startLine, 1);
    // Front matter that does not close is no front matter: its --- is the notebook's first line of text.
    assert.deepEqual(locateCells('---\nprofile: a\n', ['---']).lines, [1]);
  });
});
