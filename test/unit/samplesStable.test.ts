// Every shipped notebook (samples/*.qmp) is in the form the extension writes: opening one and saving it without
// running changes nothing. The editor's save path is the format's serializer plus, for saved outputs, their
// stable form (client ids dropped, volatile values masked: src/notebook/serializer.ts → stableOutputs), so a
// sample is checked against both.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { decodeNotebookBytes, parseNotebook, serializeNotebook, type NotebookData } from '../../src/format';
import { stableOutputs, validMasks } from '../../src/testing/savedOutput';

const samples = path.resolve(__dirname, '..', '..', '..', 'samples');

/** What the editor writes for a notebook it opened and saved without running (its outputs kept). */
function asSaved(data: NotebookData): string {
  const masks = validMasks(data.masks);
  return serializeNotebook({
    ...data,
    cells: data.cells.map((c) => (c.kind === 'code' && c.outputs?.length ? { ...c, outputs: stableOutputs(c.outputs, { masks }) } : c)),
  });
}

describe('shipped samples are in the form the extension writes', () => {
  const files = readdirSync(samples).filter((f) => f.endsWith('.qmp')).sort();

  test('there are samples to check', () => {
    assert.ok(files.length >= 4, files.join(', '));
  });

  for (const file of files) {
    test(`${file}: parse and serialize, and the editor's save, give the same bytes`, () => {
      const bytes = readFileSync(path.join(samples, file));
      const { text, warnings } = decodeNotebookBytes(bytes);
      assert.deepEqual(warnings, [], 'valid UTF-8');
      const data = parseNotebook(text);
      assert.equal(serializeNotebook(data), text, 'parse + serialize');
      assert.equal(asSaved(data), text, 'saved outputs are in their stable form (no client ids, volatile values masked)');
    });
  }
});
