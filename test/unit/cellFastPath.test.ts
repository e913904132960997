// parseJsonCell's fast path for the common cell (one `{"execute": NAME}`, nothing else) gives exactly what the
// general path (segments, tree, shape checks) gives, for cells it takes and cells it must leave alone.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertLinear } from '../support/linear';
import { parseJsonCell, segmentJsonCell } from '../../src/format/index';

/** The general path: a cell already segmented (as the editor hands it) never takes the fast path. */
function general(source: string): ReturnType<typeof parseJsonCell> {
  return parseJsonCell(source, { segments: segmentJsonCell(source), syntax: () => undefined });
}

const space = fc.stringMatching(/^[ \t\r\n]{0,3}$/);
const name = fc.oneof(fc.constantFrom('query-status', 'stop', 'x-debug.a+b', 'a', '{}', '//', '/*', 'é'), fc.string({ minLength: 0, maxLength: 8 }));
const key = fc.constantFrom('execute', 'exec-oob', 'Execute', 'wait-event', 'arguments', 'id');

describe('parseJsonCell fast path', () => {
  test('cells shaped like {"execute": NAME} with any spacing: identical to the general path', () => {
    fc.assert(fc.property(space, space, key, space, space, name, space, space, (a, b, k, c, d, n, e, f) => {
      const source = `${a}{${b}"${k}"${c}:${d}${JSON.stringify(n)}${e}}${f}`;
      assert.deepStrictEqual(parseJsonCell(source), general(source));
    }), { numRuns: 3000 });
  });

  test('near misses (markers, comments, a second object, arguments, an id, a stray character): identical', () => {
    const extras = fc.constantFrom('', '->', '<-', '// c\n', '/* c */', ',', ', "id": 1', ', "arguments": {}', ' {"execute": "stop"}', 'x', '\u00a0', '\f');
    fc.assert(fc.property(extras, extras, extras, name, (x, y, z, n) => {
      const source = `${x}{"execute": ${JSON.stringify(n)}${y}}${z}`;
      assert.deepStrictEqual(parseJsonCell(source), general(source));
    }), { numRuns: 2000 });
  });

  test('the fast path gives the command, its offsets and its compact JSON', () => {
    const r = parseJsonCell('\n  { "exec-oob" : "migrate-pause" }\n');
    assert.deepStrictEqual(r, {
      items: [{ kind: 'command', input: { 'exec-oob': 'migrate-pause' }, oob: true, name: 'migrate-pause', start: 3, end: 35, text: '{ "exec-oob" : "migrate-pause" }', json: '{"exec-oob":"migrate-pause"}' }],
      errors: [],
    });
  });

  test('linear in the cell length, matched or not', () => {
    assertLinear('a long name', (n) => `{"execute": "${'a'.repeat(n)}"}`, (s) => parseJsonCell(s), 20000);
    assertLinear('spaces, then no match', (n) => `{${' '.repeat(n)}"execute": "a"${' '.repeat(n)}x`, (s) => parseJsonCell(s), 20000);
  });
});
