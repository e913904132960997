// MessageDecoder (the framing of a QMP byte stream, fast path included): split anywhere, any whitespace,
// the 0xFF resync sentinel, depth and size bounds, linear cost under one-byte reads.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertLinear } from '../support/linear';
import { MessageDecoder, JsonObjectReader } from '../../src/qmp/framing';
import { DeepMessageError, MalformedMessageError, OversizedMessageError } from '../../src/qmp/errors';

function decodeAll(chunks: Buffer[], options = {}): Array<{ text: string; value: unknown }> {
  const d = new MessageDecoder(options);
  const out: Array<{ text: string; value: unknown }> = [];
  for (const c of chunks) d.push(c, (text, value) => out.push({ text, value }));
  return out;
}

function splitAt(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const p of points) { out.push(buf.subarray(prev, p)); prev = p; }
  out.push(buf.subarray(prev));
  return out;
}

const jsonObject = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 4 }), { maxKeys: 5 });
const separator = fc.constantFrom('', '\r\n', '\n', ' ', '\t\r\n  ');

describe('MessageDecoder', () => {
  test('property: any objects, any separators, split anywhere: the same messages in order', () => {
    fc.assert(fc.property(
      fc.array(fc.tuple(jsonObject, fc.boolean(), separator), { maxLength: 8 }), fc.array(fc.nat(), { maxLength: 12 }),
      (items, cuts) => {
        const texts = items.map(([o, pretty]) => JSON.stringify(o, null, pretty ? 2 : undefined));
        const wire = Buffer.from(items.map(([, , sep], i) => texts[i] + sep).join(''));
        const got = decodeAll(splitAt(wire, cuts));
        assert.deepEqual(got.map((m) => m.value), items.map(([o]) => JSON.parse(JSON.stringify(o)) as unknown));
        assert.deepEqual(got.map((m) => m.text), texts);
      }), { numRuns: 300 });
  });

  test('property: a 0xFF sentinel drops whatever object was partly read', () => {
    fc.assert(fc.property(jsonObject, jsonObject, fc.nat(), fc.array(fc.nat(), { maxLength: 6 }), (stale, fresh, cut, cuts) => {
      const staleText = JSON.stringify({ stale });
      const partial = staleText.slice(0, 1 + (cut % Math.max(1, staleText.length - 1)));
      const wire = Buffer.concat([Buffer.from(partial), Buffer.from([0xff]), Buffer.from(JSON.stringify(fresh) + '\n')]);
      const got = decodeAll(splitAt(wire, cuts), { guestAgent: true });
      assert.deepEqual(got.map((m) => m.value), [JSON.parse(JSON.stringify(fresh)) as unknown]);
    }), { numRuns: 200 });
  });

  test('depth: 1024 levels pass, 1025 fail, on the fast path and the streaming path alike', () => {
    const msg = (d: number): string => `{"return": ${'['.repeat(d - 1)}${']'.repeat(d - 1)}}`;
    assert.equal(decodeAll([Buffer.from(msg(1024) + '\r\n')]).length, 1);
    assert.equal(decodeAll(splitAt(Buffer.from(msg(1024) + '\r\n'), [5, 700, 1500])).length, 1);
    assert.throws(() => decodeAll([Buffer.from(msg(1025) + '\r\n')]), DeepMessageError);
    assert.throws(() => decodeAll(splitAt(Buffer.from(msg(1025)), [3, 900])), DeepMessageError);
    assert.throws(() => decodeAll([Buffer.from(msg(100_000) + '\r\n')]), DeepMessageError);
    // a custom limit
    assert.throws(() => decodeAll([Buffer.from(msg(11) + '\r\n')], { maxDepth: 10 }), DeepMessageError);
  });

  test('brackets inside strings do not count as nesting', () => {
    const text = `{"return": "${'['.repeat(5000)}{{{"}`;
    assert.deepEqual(decodeAll([Buffer.from(text + '\r\n')]).map((m) => m.text), [text]);
  });

  test('size: a message over maxMessageBytes throws, whole or drip-fed', () => {
    const big = `{"return": "${'x'.repeat(5000)}"}`;
    assert.throws(() => decodeAll([Buffer.from(big)], { maxMessageBytes: 1000 }), OversizedMessageError);
    assert.throws(() => decodeAll(splitAt(Buffer.from(big), [10, 20, 30]), { maxMessageBytes: 1000 }), OversizedMessageError);
  });

  test('bytes that are not an object, and invalid JSON, are MalformedMessageError', () => {
    assert.throws(() => decodeAll([Buffer.from('[1]\r\n')]), MalformedMessageError);
    assert.throws(() => decodeAll([Buffer.from('{"a": tru}\r\n')]), MalformedMessageError);
    assert.throws(() => decodeAll([Buffer.from('{"a": tru'), Buffer.from('}\r\n')]), MalformedMessageError);
  });

  test('a 2 MB message fed one byte per read takes linear time and keeps one buffer', () => {
    const message = (n: number): string => `{"return": "${'a'.repeat(n)}"}`;
    const byteByByte = (text: string): string[] => {
      const bytes = Buffer.from(text);
      const r = new JsonObjectReader();
      let out: string[] = [];
      for (let i = 0; i < bytes.length; i++) {
        const got = r.push(bytes.subarray(i, i + 1));
        if (got.length) out = got;
        if (i === bytes.length - 2) assert.ok(r.pendingBytes === bytes.length - 1);
      }
      return out;
    };
    const text = message(2 * 1024 * 1024);
    assert.equal(byteByByte(text)[0], text);
    // The old per-chunk copies were quadratic.
    assertLinear('a message fed one byte per read', message, byteByByte, 32 * 1024);
  });
});
