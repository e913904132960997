import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertLinear } from '../support/linear';
import { segmentJsonCell, type Segment } from '../../src/format/segments';

/** Renders segments as `kind:text` so failures read like the cell. */
function show(source: string): string[] {
  return segmentJsonCell(source).map((s: Segment) => `${s.kind}:${source.slice(s.start, s.end)}`);
}

describe('segmentJsonCell', () => {
  test('one unprefixed object is a send', () => {
    assert.deepEqual(show('{ "execute": "query-status" }'), ['send:{ "execute": "query-status" }']);
  });

  test('QEMU documentation markers choose send and expect; offsets exclude the marker', () => {
    const src = '-> { "execute": "stop" }\n<- { "return": {} }\n';
    assert.deepEqual(show(src), ['send:{ "execute": "stop" }', 'expect:{ "return": {} }']);
    assert.equal(segmentJsonCell(src)[0]?.start, 3);
  });

  test('objects spread over lines, several per cell', () => {
    const src = '{\n  "execute": "cont"\n}\n\n{"execute":"stop"}{"execute":"cont"}';
    assert.deepEqual(show(src), ['send:{\n  "execute": "cont"\n}', 'send:{"execute":"stop"}', 'send:{"execute":"cont"}']);
  });

  test('a top-level wait-event key makes a wait, a nested one does not', () => {
    assert.deepEqual(show('{"wait-event": "STOP", "timeout": 5000}'), ['wait:{"wait-event": "STOP", "timeout": 5000}']);
    assert.deepEqual(show('-> {"timeout": 1, "wait-event": "STOP"}'), ['wait:{"timeout": 1, "wait-event": "STOP"}']);
    assert.deepEqual(show('{"arguments": {"wait-event": 1}}'), ['send:{"arguments": {"wait-event": 1}}']);
    assert.deepEqual(show('{"x": "wait-event"}'), ['send:{"x": "wait-event"}']);
    assert.deepEqual(show('{"x": ["wait-event", 1]}'), ['send:{"x": ["wait-event", 1]}']);
  });

  test('braces inside strings and comments do not count', () => {
    const src = '{"a": "}{", /* } */ "b": 1 // }\n}';
    assert.deepEqual(show(src), [`send:${src}`]);
    assert.deepEqual(show('{"a": "\\"}"}'), ['send:{"a": "\\"}"}']);
  });

  test('comments between objects are skipped', () => {
    const src = '// stop the guest\n{"execute":"stop"} /* then */ {"execute":"cont"} // done';
    assert.deepEqual(show(src), ['send:{"execute":"stop"}', 'send:{"execute":"cont"}']);
    assert.deepEqual(show('-> /* cmd */ {"execute":"cont"}'), ['send:{"execute":"cont"}']);
  });

  // Running to the very end (trailing spaces included) lets completion at the end of the cell see the object.
  test('an unterminated object runs to the end of the cell and stays a send', () => {
    assert.deepEqual(show('{"execute": "query-st'), ['send:{"execute": "query-st']);
    assert.deepEqual(show('{"execute": "x", "arguments": {'), ['send:{"execute": "x", "arguments": {']);
    assert.deepEqual(show('<- {"return": '), ['expect:{"return": ']);
  });

  test('an unterminated object ends before a line that starts with a marker', () => {
    const src = '-> {"execute": "stop",\n<- {"return": {}}';
    assert.deepEqual(show(src), ['send:{"execute": "stop",', 'expect:{"return": {}}']);
  });

  test('text that is not an object is junk, one line at a time', () => {
    assert.deepEqual(show('hello world\n{"execute":"cont"} trailing'), ['junk:hello world', 'send:{"execute":"cont"}', 'junk:trailing']);
    assert.deepEqual(show('[1, 2]'), ['junk:[1, 2]']);
    assert.deepEqual(show('->\n'), ['junk:->']);
    assert.deepEqual(show('"a { b"'), ['junk:"a { b"']);
  });

  test('an empty or comment-only cell has no segments', () => {
    assert.deepEqual(segmentJsonCell(''), []);
    assert.deepEqual(segmentJsonCell('  // nothing\n/* here */\n'), []);
  });

  test('segments are ordered, disjoint and in range for any text', () => {
    const alphabet = fc.constantFrom('{', '}', '[', ']', '"', '\\', '/', '*', '-', '>', '<', ' ', '\n', 'a', ':', ',', '1');
    fc.assert(fc.property(fc.array(alphabet, { maxLength: 60 }).map((a) => a.join('')), (src) => {
      const segs = segmentJsonCell(src);
      let prev = 0;
      for (const s of segs) {
        assert.ok(s.start >= prev && s.end > s.start && s.end <= src.length, JSON.stringify({ src, segs }));
        prev = s.end;
      }
    }), { numRuns: 2000 });
  });

  test('is linear: a large cell segments in time proportional to its size', () => {
    const make = (n: number): string => '-> {"execute": "query-status", "arguments": {"a": "}"}} // c\n<- {"return": {}}\n'.repeat(n);
    assert.equal(segmentJsonCell(make(20000)).length, 40000);
    assertLinear('segmentJsonCell', make, (src) => segmentJsonCell(src), 2500);
  });
});
