// Property tests: completion, hover and quick fixes never throw on any text at any offset, and every
// completion range lies inside the text and contains the cursor (the editor rejects anything else).

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { complete } from '../../src/language/completion';
import { completeShell } from '../../src/language/shellCompletion';
import { hover } from '../../src/language/hover';
import { quickFixes, refactors } from '../../src/language/codeActions';
import { diagnose } from '../../src/language/diagnostics';
import { oobHints } from '../../src/language/oobHints';
import { fixtureSchema } from './completionHelpers';

const schema = fixtureSchema('10.0');

/** Text made of the pieces QMP cells are made of, in any order: a dense source of half-typed input. */
const pieces = fc.constantFrom(
  '{', '}', '[', ']', ',', ':', ' ', '\n', '"', '"execute"', '"exec-oob"', '"arguments"', '"blockdev-add"', '"driver"',
  '"file"', '"qcow2"', '"node-name"', '"wait-event"', '"data"', '"STOP"', '"control"', '{"run-oob": true}', '->', '<-',
  '// c\n', '/*', '*/', 'true', 'null', '12', 'que', '"transaction"', '"actions"', '"type"', '"cache"', '\\', "'", 'é',
);
const cellText = fc.array(pieces, { maxLength: 40 }).map((xs) => xs.join(''));

describe('robustness on arbitrary input', () => {
  test('qmp completion: never throws; ranges inside the text and around the cursor', () => {
    fc.assert(fc.property(cellText, fc.nat(), (text, n) => {
      const offset = n % (text.length + 1);
      for (const item of complete(text, offset, schema).items) {
        assert.ok(item.range.start >= 0 && item.range.end <= text.length, `range ${JSON.stringify(item.range)} outside ${text.length}`);
        assert.ok(item.range.start <= offset && offset <= item.range.end, `range ${JSON.stringify(item.range)} misses ${offset} in ${JSON.stringify(text)}`);
      }
    }), { numRuns: 3000 });
  });
  test('qmp-shell completion: the same', () => {
    const shellText = fc.array(fc.constantFrom('blockdev-add', ' ', 'driver=', 'file', 'cache.', 'direct=', '\n', 'transaction(', ')', ';',
      'wait-event', 'STOP', '--oob', '#', '"a b"', '{', '}', '='), { maxLength: 30 }).map((xs) => xs.join(''));
    fc.assert(fc.property(shellText, fc.nat(), (text, n) => {
      const offset = n % (text.length + 1);
      for (const item of completeShell(text, offset, schema).items) {
        assert.ok(item.range.start >= 0 && item.range.end <= text.length);
        assert.ok(item.range.start <= offset && offset <= item.range.end, `range ${JSON.stringify(item.range)} misses ${offset} in ${JSON.stringify(text)}`);
      }
      hover(text, offset, schema, undefined, { language: 'qmp-shell' });
    }), { numRuns: 2000 });
  });
  test('hover, quick fixes, refactors and hints: never throw, edits stay inside the text', () => {
    fc.assert(fc.property(cellText, fc.nat(), (text, n) => {
      const offset = n % (text.length + 1);
      const h = hover(text, offset, schema);
      if (h !== undefined) assert.ok(h.range.start <= offset && offset <= h.range.end);
      for (const a of [...quickFixes(text, diagnose(text, schema), schema), ...refactors(text, offset, schema)]) {
        for (const e of a.edits) assert.ok(e.start >= 0 && e.start <= e.end && e.end <= text.length, `${a.title} edit outside the text`);
      }
      oobHints(text, schema);
    }), { numRuns: 2000 });
  });
});
