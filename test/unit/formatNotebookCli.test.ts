// `qmp-notebook check` on whole files (issue 8, item 6): locating each cell in the file is linear, also on
// LF files with CRLF inside paragraphs (each cell source is a verbatim slice of the text the format reads),
// and the positions it reports stay right on such files.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { cliMain, type CliDeps } from '../../src/cli/cli';
import { realDeps } from '../../src/cli/deps';
import { notebookBodyText, parseNotebook, serializeNotebook } from '../../src/format/notebook';
import fc from 'fast-check';
import { assertLinearAsync } from '../support/linear';

const schema72 = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'qemu-7.2', 'query-qmp-schema.json');
const schemaText = readFileSync(schema72, 'utf8');

async function check(text: string): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const deps: CliDeps = {
    ...realDeps(),
    readFile: (p) => (p === schema72 ? schemaText : text),
    connect: () => { throw new Error('the CLI tried to connect'); },
  };
  const code = await cliMain(['check', 'nb.qmp', '--schema', schema72], deps, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('check locates cells in linear time and at the right lines', () => {
  test('every cell source is a verbatim slice of notebookBodyText, in order', () => {
    const piece = fc.constantFrom('a\r\nb', '\r\n', '\n', '\r', '```qmp\n{}\n```\n', '```qmp-output\n', '\uFEFF', 'x', '<!-- cell -->\n', '\n\n');
    fc.assert(fc.property(fc.array(piece, { maxLength: 30 }).map((a) => a.join('')), (text) => {
      const body = notebookBodyText(text);
      let from = 0;
      for (const cell of parseNotebook(text).cells) {
        if (cell.source === '') continue;
        const at = body.indexOf(cell.source, from);
        assert.ok(at >= 0, JSON.stringify({ text, source: cell.source }));
        from = at + cell.source.length;
      }
    }), { numRuns: 2000 });
  });

  test('LF structure with CRLF inside paragraphs: check takes linear time in the cells', async () => {
    const make = (n: number): string => 'para one\r\npara two\r\n\n```qmp\n{ "execute": "stop" }\n```\n\n'.repeat(n) + '```qmp\n{ "execute": "nope" }\n```\n';
    await assertLinearAsync('check on CRLF paragraphs', make, check, 400);
  });

  test('a problem in a mixed-line-ending file is reported at its line', async () => {
    const text = 'intro\r\nmore\n\n```qmp\n{ "execute": "stop" }\n```\n\nnotes\r\n\n```qmp\n{ "execute": "no-such-command" }\n```\n';
    const r = await check(text);
    assert.equal(r.code, 1, r.err.join('\n'));
    const line = [...r.out, ...r.err].find((l) => l.includes('no-such-command'));
    assert.ok(line, [...r.out, ...r.err].join('\n'));
    assert.match(line, /nb\.qmp:11:/);
  });
});

describe('a ```qmp-output block not in the saved-output form', () => {
  const consecutive = '```qmp\n{"execute": "query-status"}\n```\n\n```qmp-output\n-> {"execute": "cont"}\n<- {"return": {}}\n```\n';

  test('is kept as text, losing nothing, and the parse says where it is', () => {
    const nb = parseNotebook(consecutive);
    assert.deepEqual(nb.cells.map((c) => [c.kind, c.outputs]), [['code', undefined], ['markdown', undefined]]);
    assert.deepEqual(nb.unreadOutputs, [5]);
    // Nothing is lost: saved again, the block is there, as a Markdown cell.
    assert.ok(serializeNotebook(nb).includes('```qmp-output\n-> {"execute": "cont"}\n<- {"return": {}}\n```'));
    // The same block in the written form is read as outputs, and nothing is reported.
    const canonical = parseNotebook('```qmp\n{"execute": "query-status"}\n```\n\n```qmp-output\n-> {"execute": "cont"}\n\n<- {"return": {}}\n```\n');
    assert.equal(canonical.cells[0]?.outputs?.length, 2);
    assert.equal(canonical.unreadOutputs, undefined);
  });

  test('check (and run, test) warn once with its line and go on', async () => {
    const r = await check(consecutive);
    assert.equal(r.code, 0);
    assert.deepEqual(r.err.filter((l) => l.includes('warning')).length, 1);
    assert.match(r.err.join('\n'), /^qmp-notebook: warning: nb\.qmp: line 5: this ```qmp-output block was not read as saved outputs \(kept as Markdown text\)/m);
  });

  test('any notebook written by the format reports nothing (property)', () => {
    const cell = fc.record({
      source: fc.constantFrom('{"execute": "stop"}', '-> {"execute": "cont"}\n<- {"return": {}}', 'query-status'),
      outputs: fc.array(fc.oneof(
        fc.record({ kind: fc.constant('message' as const), direction: fc.constantFrom('<-' as const, '->' as const), json: fc.constantFrom('{"return": {}}', '{"event": "STOP", "data": {"a": [1, 2]}}') }),
        fc.record({ kind: fc.constant('text' as const), text: fc.string({ maxLength: 20 }) }),
      ), { maxLength: 4 }),
    });
    fc.assert(fc.property(fc.array(cell, { maxLength: 5 }), (cells) => {
      const text = serializeNotebook({ saveOutputs: true, cells: cells.map((c) => ({ kind: 'code' as const, language: 'qmp' as const, source: c.source, outputs: c.outputs })) });
      assert.equal(parseNotebook(text).unreadOutputs, undefined, text);
    }), { numRuns: 300 });
  });
});
