import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { canonicalJson, isGreeting, topLevelMemberText } from '../../src/qmp/wire';
import { formatAddress, parseAddress } from '../../src/qmp/transport';
import { GREETING_72 } from '../support/fakeTransport';

describe('canonicalJson (id matching)', () => {
  // Each pair is what a client sent and what QEMU 7.2/10.0 echoed (test/fixtures wire-more.jsonl, wire-cases.jsonl).
  const echoed: Array<[string, string]> = [
    ['1e3', '1000'],
    ['"nope-\\u00e9\\ud83d\\ude00"', '"nope-\\u00E9\\uD83D\\uDE00"'],
    ['"a\\tb\\n\\u0001\\"q\\\\"', '"a\\tb\\n\\u0001\\"q\\\\"'],
    ['9223372036854775807', '9223372036854775807'],
    ['9007199254740993', '9007199254740993'],
    ['18446744073709551615', '18446744073709551615'],
    ['-9223372036854775808', '-9223372036854775808'],
    ['18446744073709551616', '1.8446744073709552e+19'],
    ['1.5', '1.5'],
    ['{"a":[1,2]}', '{"a": [1, 2]}'],
    ['[1,"x",null]', '[1, "x", null]'],
    ['{"k":"v","b":1}', '{"b": 1, "k": "v"}'],
    ['true', 'true'],
    ['"é"', '"\\u00E9"'],
  ];
  for (const [sent, back] of echoed) {
    test(`${sent} matches QEMU's ${back}`, () => {
      assert.equal(canonicalJson(sent), canonicalJson(back));
    });
  }

  test('distinct values stay distinct, including beyond 2^53', () => {
    assert.notEqual(canonicalJson('9007199254740993'), canonicalJson('9007199254740992'));
    assert.notEqual(canonicalJson('"1"'), canonicalJson('1'));
    assert.notEqual(canonicalJson('[1,2]'), canonicalJson('[2,1]'));
  });

  test('rejects text that is not exactly one JSON value', () => {
    for (const bad of ['', '1 2', "'x'", '{"a":}', '"unterminated', '01', 'nan', '"raw\nnewline"']) {
      assert.throws(() => canonicalJson(bad), SyntaxError, bad);
    }
  });
});

describe('topLevelMemberText', () => {
  test('returns the raw text of a top-level member only', () => {
    assert.equal(topLevelMemberText('{"return": {"id": 5}, "id": 9223372036854775807}', 'id'), '9223372036854775807');
    assert.equal(topLevelMemberText('{"id": {"k": "v, }"}, "error": {}}', 'id'), '{"k": "v, }"}');
    assert.equal(topLevelMemberText('{"return": {}, "id": "a\\"b"}', 'id'), '"a\\"b"');
    assert.equal(topLevelMemberText('{"return": {"id": 1}}', 'id'), undefined);
    assert.equal(topLevelMemberText('{\r\n    "return": [],\r\n    "id": 1.8446744073709552e+19\r\n}', 'id'), '1.8446744073709552e+19');
  });
});

describe('greeting and addresses', () => {
  test('isGreeting accepts QEMU 7.2\'s greeting and rejects a reply', () => {
    assert.equal(isGreeting(JSON.parse(GREETING_72)), true);
    assert.equal(isGreeting({ return: {} }), false);
    assert.equal(isGreeting({ QMP: { version: {}, capabilities: [] } }), false);
  });

  test('parseAddress reads QEMU\'s spellings and formatAddress writes them back', () => {
    assert.deepEqual(parseAddress('unix:/tmp/q.sock'), { kind: 'unix', path: '/tmp/q.sock' });
    assert.deepEqual(parseAddress('/tmp/q.sock'), { kind: 'unix', path: '/tmp/q.sock' });
    assert.deepEqual(parseAddress('tcp:localhost:4444'), { kind: 'tcp', host: 'localhost', port: 4444 });
    assert.deepEqual(parseAddress('127.0.0.1:4444'), { kind: 'tcp', host: '127.0.0.1', port: 4444 });
    assert.deepEqual(parseAddress('tcp:[::1]:4444,server=on'), { kind: 'tcp', host: '::1', port: 4444 });
    assert.equal(formatAddress({ kind: 'tcp', host: 'h', port: 1 }), 'tcp:h:1');
    assert.throws(() => parseAddress('nonsense'), TypeError);
  });
});
