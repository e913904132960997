// The language server's writer (src/lsp/exactJson.ts): RawJson is written as its own text, so that runCell's
// records keep integers beyond 2^53; everything else is exactly JSON.stringify.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { RawJson, stringifyExact } from '../../src/lsp/exactJson';

test('without RawJson it is JSON.stringify', () => {
  fc.assert(fc.property(fc.jsonValue(), (v) => {
    assert.equal(stringifyExact(v), JSON.stringify(v));
  }));
  assert.equal(stringifyExact({ a: undefined, b: [undefined] }), JSON.stringify({ a: undefined, b: [undefined] }));
});

test('a RawJson anywhere is written as its text, integers beyond 2^53 included', () => {
  const big = '{"id":18446744073709551615,"reply":{"return":{"size":9007199254740993}}}';
  const out = stringifyExact({ jsonrpc: '2.0', id: 3, result: { status: 'ok', records: [new RawJson(big), new RawJson('[1,2]')], s: 'x' } });
  assert.equal(out, `{"jsonrpc":"2.0","id":3,"result":{"status":"ok","records":[${big},[1,2]],"s":"x"}}`);
  // Plain JSON.stringify still gives the (rounded) value rather than the wrapper.
  assert.equal(JSON.stringify(new RawJson('[1]')), '[1]');
});

test('strings that look like the placeholder are left alone', () => {
  fc.assert(fc.property(fc.array(fc.oneof(fc.string(), fc.constant('qmp-raw-json-0')), { maxLength: 5 }), (strings) => {
    const value = { s: strings, r: new RawJson('7') };
    assert.deepEqual(JSON.parse(stringifyExact(value)), { s: strings, r: 7 });
  }));
});
