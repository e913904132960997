// The guest agent's resynchronisation byte (0xFF) at the framing layer: wherever it falls in a torn object
// (between tokens, inside a string, right after a backslash), the partial object is dropped and every
// object after the sentinel is read, however the bytes are split into chunks.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { MessageDecoder } from '../../src/qmp/framing';
import { guestAgentSchemaInfos, parseGuestInfo } from '../../src/endpoints/guestAgent';
import { Schema, isDisabledCommand } from '../../src/qmp/schema';

const jsonObject = fc.dictionary(fc.string({ maxLength: 8 }),
  fc.oneof(fc.string({ maxLength: 12 }), fc.integer(), fc.boolean(), fc.constant(null)), { maxKeys: 4 });

function decodeAll(chunks: Buffer[]): unknown[] {
  const d = new MessageDecoder({ guestAgent: true });
  const out: unknown[] = [];
  for (const c of chunks) d.push(c, (_text, value) => out.push(value));
  return out;
}

function split(buf: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => c % (buf.length + 1)))].sort((a, b) => a - b);
  const parts: Buffer[] = [];
  let last = 0;
  for (const p of [...points, buf.length]) { parts.push(buf.subarray(last, p)); last = p; }
  return parts;
}

describe('0xFF resynchronises the framing', () => {
  test('a torn object cut anywhere, then 0xFF: every later object is read (property)', () => {
    fc.assert(fc.property(jsonObject, fc.nat(), fc.array(jsonObject, { minLength: 1, maxLength: 4 }), fc.array(fc.nat(), { maxLength: 6 }),
      (torn, cut, after, cuts) => {
        const text = JSON.stringify({ torn, pad: 'a\\"b' });
        const prefix = Buffer.from(text.slice(0, 1 + (cut % (text.length - 1))));
        const bytes = Buffer.concat([prefix, Buffer.from([0xff]), Buffer.from(after.map((o) => JSON.stringify(o) + '\n').join(''))]);
        const got = decodeAll(split(bytes, cuts));
        assert.equal(JSON.stringify(got), JSON.stringify(after));
      }), { numRuns: 300 });
  });

  test('the examples that matter: inside a string, after a backslash, between objects', () => {
    for (const torn of ['{"retu', '{"a": "x\\', '{"a": [1, {"b"', '{"return": {}}\n']) {
      const got = decodeAll([Buffer.concat([Buffer.from(torn), Buffer.from([0xff]), Buffer.from('{"return": 5}\n')])]);
      assert.deepEqual(got.at(-1), { return: 5 }, torn);
    }
  });
});

describe('guest-info as a command list', () => {
  test('supported_commands: malformed entries are skipped; a reply without the list is a TypeError', () => {
    const parsed = parseGuestInfo({ version: '7.2.22', supported_commands: [
      { name: 'guest-ping', enabled: true, 'success-response': true }, { name: 'guest-exec', enabled: false },
      { name: 5, enabled: true }, 'junk'] });
    assert.equal(parsed.version, '7.2.22');
    assert.deepEqual(parsed.commands.map((c) => [c.name, c.enabled]), [['guest-ping', true], ['guest-exec', false]]);
    assert.throws(() => parseGuestInfo({ version: '1' }), TypeError);
    const schema = Schema.fromIntrospection(guestAgentSchemaInfos(parsed.commands));
    assert.deepEqual(schema.commands().map((c) => [c.name, isDisabledCommand(c)]).sort(), [['guest-exec', true], ['guest-ping', false]]);
    assert.equal(schema.command('guest-ping')?.open, true, 'arguments are not known, so none is refused');
  });
});

describe('the guest agent framing skips everything before the first 0xFF', () => {
  test('any bytes (not 0xFF) before the sentinel are skipped, cut anywhere; the objects after it are read (property)', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), fc.array(jsonObject, { minLength: 1, maxLength: 3 }), fc.array(fc.nat(), { maxLength: 6 }),
      (junk, after, cuts) => {
        const stale = Buffer.from(junk.map((b) => (b === 0xff ? 0x73 : b)));
        const bytes = Buffer.concat([stale, Buffer.from([0xff]), Buffer.from(after.map((o) => JSON.stringify(o) + '\n').join(''))]);
        assert.equal(JSON.stringify(decodeAll(split(bytes, cuts))), JSON.stringify(after));
      }), { numRuns: 300 });
  });

  test('the tail of an earlier reply (not starting with {) and whole stale replies are skipped', () => {
    const got = decodeAll([Buffer.from('s": [1, 2]}}\r\n{"return": 17}\n'), Buffer.concat([Buffer.from([0xff]), Buffer.from('{"return": 5}\n')])]);
    assert.deepEqual(got, [{ return: 5 }]);
  });

  test('a sync reply without the sentinel is not taken for one', () => {
    assert.deepEqual(decodeAll([Buffer.from('{"return": 5}\n')]), []);
  });
});

describe('QMP framing keeps its place whatever bytes a string holds', () => {
  // Bytes that may sit inside a JSON string on the wire: anything but `"`, `\` and control characters,
  // including 0xFF and broken UTF-8 sequences (QEMU does not send them, but the framer must not lose its place).
  const stringByte = fc.integer({ min: 0x20, max: 0xff }).filter((b) => b !== 0x22 && b !== 0x5c && b !== 0x7f);
  test('messages with invalid UTF-8 (0xFF, lone continuation bytes, cut sequences) frame one by one, split anywhere (property)', () => {
    fc.assert(fc.property(fc.array(fc.array(stringByte, { maxLength: 24 }), { minLength: 1, maxLength: 5 }), fc.array(fc.nat(), { maxLength: 8 }), fc.boolean(),
      (strings, cuts, crlf) => {
        const messages = strings.map((bytes, i) => Buffer.concat([Buffer.from(`{"return": {"s": "`), Buffer.from(bytes), Buffer.from(`"}, "id": ${i}}`)]));
        const wire = Buffer.concat(messages.flatMap((m) => [m, Buffer.from(crlf ? '\r\n' : '\n')]));
        for (const chunks of [[wire], split(wire, cuts)]) {
          const d = new MessageDecoder();
          const got: Array<{ text: string; value: unknown }> = [];
          for (const c of chunks) d.push(c, (text, value) => got.push({ text, value }));
          assert.deepEqual(got.map((g) => g.text), messages.map((m) => m.toString('utf8')));
          assert.deepEqual(got.map((g) => (g.value as { id: number }).id), messages.map((_, i) => i));
        }
      }), { numRuns: 400 });
  });
});
