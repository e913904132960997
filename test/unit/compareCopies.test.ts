// The comparison without copies of large outputs (issue 19 item 10): the shortcuts it takes give exactly what
// the long way gives. canonicalJson returns a string literal as written when that is JSON.stringify's
// spelling; compareCell reads the saved outputs' lines from the file rather than rendering them again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { canonicalJson, parseJsonTree } from '../../src/testing/jsonTree';
import { compareCell, notebookRules } from '../../src/testing/compare';
import { parseNotebook, renderOutputs, type SavedOutput } from '../../src/format/index';

test('canonicalJson of a string literal is JSON.stringify of its value, however it is written', () => {
  fc.assert(fc.property(fc.string({ unit: 'binary' }), fc.boolean(), (value, escapeAll) => {
    // Written by JSON.stringify, or with every character as a \u escape.
    const raw = escapeAll ? `"${value.split('').map((u) => `\\u${u.charCodeAt(0).toString(16).padStart(4, '0')}`).join('')}"` : JSON.stringify(value);
    const tree = parseJsonTree(`{"k": ${raw}}`);
    assert.ok(tree);
    assert.equal(canonicalJson(tree), `{"k":${JSON.stringify(value)}}`);
  }), { numRuns: 300 });
});

test('compareCell with the file lines reports exactly what it reports rendering the saved outputs', () => {
  const message = fc.record({ s: fc.string({ maxLength: 120 }), n: fc.integer(), a: fc.array(fc.string({ maxLength: 30 }), { maxLength: 6 }) });
  const output = fc.oneof(
    message.map((v): SavedOutput => ({ kind: 'message', direction: '<-', json: JSON.stringify({ return: v }) })),
    fc.string({ maxLength: 60 }).map((t): SavedOutput => ({ kind: 'text', text: t.replace(/\r/g, '') })),
  );
  fc.assert(fc.property(fc.array(output, { minLength: 1, maxLength: 4 }), fc.array(output, { maxLength: 4 }), (saved, actual) => {
    const file = `# t\n\n\`\`\`qmp\n{"execute": "query-status"}\n\`\`\`\n\n\`\`\`qmp-output\n${renderOutputs(saved)}\n\`\`\`\n`;
    const nb = parseNotebook(file);
    const cell = nb.cells.find((c) => c.kind === 'code');
    if (cell?.outputs === undefined) return; // not read back as outputs (e.g. a text that reads as a message)
    const fileLines = file.split('\n');
    const rules = notebookRules(nb).rules;
    const base = { saved: cell.outputs, actual, replies: new Map<number, string>(), written: [], rules, savedLine: 9 };
    const rendered = compareCell(base);
    const read = compareCell({ ...base, fileLines });
    assert.deepEqual(read, rendered);
  }), { numRuns: 200 });
});
