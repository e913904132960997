import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { JsonObjectReader } from '../../src/qmp/framing';
import { MalformedMessageError, OversizedMessageError } from '../../src/qmp/errors';
import { fixturesDir } from '../support/fakeTransport';

interface WireCase { case: string; exchange: Array<{ dir: 'send' | 'recv'; bytes: string }> }

function wireCases(version: string): WireCase[] {
  const out: WireCase[] = [];
  for (const file of ['wire-cases.jsonl', 'wire-more.jsonl']) {
    const text = readFileSync(path.join(fixturesDir, `qemu-${version}`, file), 'utf8');
    for (const line of text.split('\n')) if (line.trim()) out.push(JSON.parse(line) as WireCase);
  }
  return out;
}

/** Everything real QEMU sent in the fixtures, as one byte stream, and its messages split on CRLF. */
function recordedStream(version: string): { bytes: Buffer; messages: string[] } {
  const recv = wireCases(version).flatMap((c) => c.exchange.filter((e) => e.dir === 'recv').map((e) => e.bytes)).join('');
  const bytes = Buffer.from(recv, 'latin1');
  const messages = recv.split('\r\n').filter((l) => l.length > 0);
  return { bytes, messages };
}

function feed(reader: JsonObjectReader, chunks: Buffer[]): string[] {
  return chunks.flatMap((c) => reader.push(c));
}

/** QEMU's -qmp-pretty layout: four-space indent, CRLF line ends, each object ended by CRLF. */
function pretty(value: unknown): string {
  return JSON.stringify(value, null, 4).replace(/\n/g, '\r\n') + '\r\n';
}

describe('JsonObjectReader', () => {
  test('reads one CRLF-terminated line as one object', () => {
    const r = new JsonObjectReader();
    assert.deepEqual(r.push(Buffer.from('{"return": {}}\r\n')), ['{"return": {}}']);
    assert.equal(r.idle, true);
  });

  test('reads several objects in one chunk, with and without separators', () => {
    const r = new JsonObjectReader();
    const out = r.push(Buffer.from('{"a": 1}\r\n{"b": [2, {"c": "}"}]}{"d":"\\"{"}  \n{"e": {}}\r\n'));
    assert.deepEqual(out.map((t) => JSON.parse(t) as unknown), [{ a: 1 }, { b: [2, { c: '}' }] }, { d: '"{' }, { e: {} }]);
  });

  for (const version of ['7.2', '10.0']) {
    test(`every two-way split of QEMU ${version}'s recorded output gives the recorded messages`, () => {
      const { bytes, messages } = recordedStream(version);
      assert.ok(messages.length > 50);
      for (let cut = 0; cut <= bytes.length; cut++) {
        const r = new JsonObjectReader();
        const out = feed(r, [bytes.subarray(0, cut), bytes.subarray(cut)]);
        assert.deepEqual(out, messages, `split at ${cut}`);
        assert.equal(r.idle, true);
      }
    });
  }

  test('byte-by-byte feeding of the recorded output gives the recorded messages', () => {
    const { bytes, messages } = recordedStream('7.2');
    const r = new JsonObjectReader();
    const out: string[] = [];
    for (let i = 0; i < bytes.length; i++) out.push(...r.push(bytes.subarray(i, i + 1)));
    assert.deepEqual(out, messages);
  });

  test('reads -qmp-pretty output (objects over many CRLF lines) at every split', () => {
    const greeting = JSON.parse(readFileSync(path.join(fixturesDir, 'qemu-7.2', 'greeting.json'), 'utf8')) as unknown;
    const values = [greeting, { return: {} }, { return: { status: 'prelaunch', running: false }, id: '#2' },
      { timestamp: { seconds: 1, microseconds: 2 }, event: 'STOP' }, { return: [], id: 'x' }];
    const text = values.map(pretty).join('');
    assert.ok(text.split('\r\n').length > 20);
    const bytes = Buffer.from(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = new JsonObjectReader();
      const out = feed(r, [bytes.subarray(0, cut), bytes.subarray(cut)]).map((t) => JSON.parse(t) as unknown);
      assert.deepEqual(out, values, `split at ${cut}`);
    }
  });

  test('multibyte UTF-8 split at every byte decodes intact', () => {
    const value = { return: 'é中😀 "{[}]" \\ end', id: 'ü' };
    const bytes = Buffer.from(JSON.stringify(value) + '\r\n');
    for (let a = 0; a <= bytes.length; a++) {
      for (let b = a; b <= bytes.length; b += 3) {
        const r = new JsonObjectReader();
        const out = feed(r, [bytes.subarray(0, a), bytes.subarray(a, b), bytes.subarray(b)]);
        assert.equal(out.length, 1);
        assert.deepEqual(JSON.parse(out[0] as string), value);
      }
    }
  });

  test('escapes split across chunks keep string state (\\\\ then ", \\" then })', () => {
    const text = '{"a": "x\\\\", "b": "y\\"}", "c": "\\\\\\""}\r\n';
    const bytes = Buffer.from(text);
    for (let cut = 0; cut <= bytes.length; cut++) {
      const r = new JsonObjectReader();
      assert.deepEqual(feed(r, [bytes.subarray(0, cut), bytes.subarray(cut)]), [text.trimEnd()], `split at ${cut}`);
    }
  });

  test('random objects, random whitespace, random splits (property)', () => {
    const obj = fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 3 }), { maxKeys: 5 });
    fc.assert(fc.property(
      fc.array(fc.tuple(obj, fc.constantFrom('', '\r\n', '\n', ' ', '\r\n\r\n'), fc.boolean()), { minLength: 1, maxLength: 6 }),
      fc.array(fc.nat(), { maxLength: 8 }),
      (items, cuts) => {
        const text = items.map(([o, ws, p]) => (p ? JSON.stringify(o, null, 2) : JSON.stringify(o)) + ws).join(' ');
        const bytes = Buffer.from(text);
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        const chunks: Buffer[] = [];
        let prev = 0;
        for (const p of points) { chunks.push(bytes.subarray(prev, p)); prev = p; }
        chunks.push(bytes.subarray(prev));
        const out = feed(new JsonObjectReader(), chunks).map((t) => JSON.parse(t) as unknown);
        assert.deepEqual(out, items.map(([o]) => JSON.parse(JSON.stringify(o)) as unknown));
      }), { numRuns: 300 });
  });

  test('a message beyond maxMessageBytes throws OversizedMessageError, in one chunk or many', () => {
    const big = Buffer.from(JSON.stringify({ return: 'x'.repeat(200) }) + '\r\n');
    assert.throws(() => new JsonObjectReader({ maxMessageBytes: 100 }).push(big), OversizedMessageError);
    const r = new JsonObjectReader({ maxMessageBytes: 100 });
    assert.throws(() => { for (let i = 0; i < big.length; i += 30) r.push(big.subarray(i, i + 30)); }, OversizedMessageError);
    // Exactly at the limit is still accepted.
    const exact = Buffer.from('{"a":"' + 'y'.repeat(92) + '"}');
    assert.equal(exact.length, 100);
    assert.equal(new JsonObjectReader({ maxMessageBytes: 100 }).push(exact).length, 1);
  });

  test('the 10.0 schema reply (238 KB) passes the default limit in 64 KiB chunks', () => {
    const schema = readFileSync(path.join(fixturesDir, 'qemu-10.0', 'query-qmp-schema.json'), 'utf8');
    const line = Buffer.from(`{"return": ${JSON.stringify(JSON.parse(schema))}, "id": "#3"}\r\n`);
    assert.ok(line.length > 200_000);
    const r = new JsonObjectReader();
    const out: string[] = [];
    for (let i = 0; i < line.length; i += 65536) out.push(...r.push(line.subarray(i, i + 65536)));
    assert.equal(out.length, 1);
    assert.equal(out[0], line.toString().trimEnd());
  });

  test('bytes outside an object that are not whitespace throw MalformedMessageError', () => {
    assert.throws(() => new JsonObjectReader().push(Buffer.from('{"a":1}\r\nhello\r\n')), MalformedMessageError);
  });
});
