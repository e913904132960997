// Which status-line changes tell the window (src/notebook/shownLines.ts): only a change to a cell the window
// asked about since it was last told, so that a Run All far below what the window shows sends it nothing, while
// a line on screen is never left stale.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ShownLines } from '../../src/notebook/shownLines';

describe('status lines: the window is told only of changes it may show', () => {
  test('changes to cells the window never asked about tell it nothing; a change to one it shows does', () => {
    const s = new ShownLines<number>();
    for (let c = 0; c < 10; c++) s.noteAsked(c);
    for (let c = 100; c < 5_000; c++) assert.equal(s.changed(c), false, `cell ${c} is not on screen`);
    assert.equal(s.isDue, false);
    assert.equal(s.changed(3), true);
    assert.equal(s.isDue, true);
    s.told();
    assert.equal(s.isDue, false);
    // Told, the window asks again for what it shows; until then nothing is known to be on screen.
    assert.equal(s.changed(3), false);
    s.noteAsked(3);
    assert.equal(s.changed(3), true);
  });

  test('showsAny: a counting line needs the window told only when it may be on screen', () => {
    const s = new ShownLines<string>();
    s.noteAsked('a');
    assert.equal(s.showsAny(['x', 'y']), false);
    assert.equal(s.showsAny(['x', 'a']), true);
    s.told();
    assert.equal(s.showsAny(['a']), false);
  });

  test('the set of cells asked about is bounded: past it every change tells the window', () => {
    const s = new ShownLines<number>();
    for (let c = 0; c < 2_000; c++) s.noteAsked(c);
    assert.equal(s.changed(5_000), false);
    s.noteAsked(2_000_000);
    assert.equal(s.changed(5_001), true, 'too many to remember: told anyway');
  });

  test('property: whatever the asks, changes and tellings, a cell asked about since the last telling and changed after is due', () => {
    type Op = { kind: 'ask' | 'change'; cell: number } | { kind: 'tell' };
    const op = fc.oneof(
      fc.record({ kind: fc.constantFrom('ask' as const, 'change' as const), cell: fc.integer({ min: 0, max: 20 }) }),
      fc.constant({ kind: 'tell' as const }),
    );
    fc.assert(fc.property(fc.array(op, { maxLength: 200 }), (ops: Op[]) => {
      const s = new ShownLines<number>();
      const asked = new Set<number>();
      let due = false;
      for (const o of ops) {
        if (o.kind === 'tell') { s.told(); asked.clear(); due = false; continue; }
        if (o.kind === 'ask') { s.noteAsked(o.cell); asked.add(o.cell); continue; }
        if (asked.has(o.cell)) due = true;
        assert.equal(s.changed(o.cell), due);
      }
      assert.equal(s.isDue, due);
    }));
  });
});
