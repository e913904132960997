// diagnose() against the schemas of QEMU 7.2 and 10.0: every category, valid and invalid, with offsets.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { diagnose, didYouMean, type Diagnostic, type DiagnoseContext } from '../../src/language/diagnostics';
import fc from 'fast-check';
import { fixtureSchema } from './schemaFixtures';

const schemas = { '7.2': fixtureSchema('7.2'), '10.0': fixtureSchema('10.0') } as const;

function run(text: string, version: '7.2' | '10.0' = '7.2', ctx: DiagnoseContext = {}): Diagnostic[] {
  return diagnose(text, schemas[version], ctx);
}

function errors(text: string, version: '7.2' | '10.0' = '7.2', ctx: DiagnoseContext = {}): Diagnostic[] {
  return run(text, version, ctx).filter((d) => d.severity === 'error');
}

/** The one diagnostic with `code`, and the text it covers. */
function only(text: string, code: string, version: '7.2' | '10.0' = '7.2', ctx: DiagnoseContext = {}): { d: Diagnostic; covered: string } {
  const ds = run(text, version, ctx).filter((d) => d.code === code);
  assert.equal(ds.length, 1, `expected one ${code} in ${text}, got ${JSON.stringify(run(text, version, ctx))}`);
  const d = ds[0] as Diagnostic;
  return { d, covered: text.slice(d.start, d.end) };
}

for (const version of ['7.2', '10.0'] as const) {
  describe(`diagnose (QEMU ${version} schema)`, () => {
    test('valid commands produce no errors', () => {
      const valid = [
        '{"execute": "query-status"}',
        '-> { "execute": "query-status", "id": {"any": ["json", 1]} }',
        '{"execute": "qom-list", "arguments": {"path": "/machine"}}',
        '{"execute": "qom-set", "arguments": {"path": "/machine", "property": "x", "value": {"anything": [1, null]}}}',
        '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n0", "size": 1048576, "read-zeroes": true}}',
        '{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "node-name": "q", "file": {"driver": "file", "filename": "/tmp/x.qcow2"}}}',
        '{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "node-name": "q", "file": "other-node"}}',
        '{"execute": "block-dirty-bitmap-merge", "arguments": {"node": "n", "target": "t", "bitmaps": ["a", {"node": "m", "name": "b"}]}}',
        '{"execute": "migrate-set-parameters", "arguments": {"tls-creds": null, "max-bandwidth": 18446744073709551615}}',
        '{"execute": "device_add", "arguments": {"driver": "usb-kbd", "id": "kbd0", "bus": "xhci.0", "port": "1"}}',
        '{"execute": "query-cpu-model-expansion", "arguments": {"type": "static", "model": {"name": "max", "props": {"x": 1}}}}',
        '-> {"exec-oob": "query-yank", "id": "y1"}',
        '{"execute": "human-monitor-command", "arguments": {"command-line": "info status"}} // a comment',
        '<- {"return": {}, "anything": "goes in an expected reply"}',
        '{"wait-event": "STOP"}',
        '{"wait-event": "BLOCK_JOB_COMPLETED", "data": {"device": "job0", "len": 1024}, "timeout": 5000}',
        '-> {"execute": "stop"}\n<- {"return": {}}\n{"wait-event": "STOP", "timeout": 1000}\n-> {"execute": "cont"}',
      ];
      for (const text of valid) assert.deepEqual(errors(text, version, { oobNegotiated: true }), [], text);
    });

    test('JSON syntax errors, junk and duplicate keys', () => {
      const trailing = only('{"execute": "query-status",}', 'json-syntax', version);
      assert.equal(trailing.covered, '}');
      assert.equal(only('hello {"execute": "stop"}', 'json-syntax', version).covered, 'hello');
      assert.equal(only('{"execute": "stop", "execute": "cont"}', 'json-syntax', version).d.message.includes('duplicate member'), true);
      // An unterminated object is reported, but its absent members are not (the user is still typing).
      const partial = run('{"execute": "blockdev-add", "arguments": {"node-name": "x"', version);
      assert.ok(partial.some((d) => d.code === 'json-syntax'));
      assert.ok(!partial.some((d) => d.code === 'missing-tag' || d.code === 'missing-member'));
    });

    test('top-level keys QEMU rejects', () => {
      const u = only('{"execute": "stop", "argument": {}}', 'unexpected-key', version);
      assert.equal(u.covered, '"argument"');
      assert.equal(u.d.data?.suggestion, 'arguments');
      assert.match(u.d.message, /QMP input member 'argument' is unexpected/);
      assert.match(only('{"execute": "query-yank", "exec-oob": "query-yank"}', 'unexpected-key', version).d.message, /clashes with 'exec-oob'/);
      const missing = only('{"arguments": {}}', 'missing-member', version);
      assert.deepEqual(missing.d.data?.missing, ['execute']);
      assert.match(only('{"execute": "stop", "arguments": []}', 'wrong-type', version).d.message, /'arguments' must be an object/);
      assert.match(only('{"execute": 1}', 'wrong-type', version).d.message, /'execute' must be a command name/);
      assert.equal(only('[1, 2]', 'json-syntax', version).covered, '[1, 2]');
    });

    test('unknown command with did-you-mean', () => {
      const u = only('{"execute": "query-statsu"}', 'unknown-command', version);
      assert.equal(u.covered, '"query-statsu"');
      assert.equal(u.d.data?.suggestion, 'query-stats');
      assert.equal(only('{"execute": "device-add"}', 'unknown-command', version).d.data?.suggestion, 'device_add');
      assert.equal(only('{"execute": "qmp-capabilities"}', 'unknown-command', version).d.data?.suggestion, 'qmp_capabilities');
      assert.equal(only('{"execute": "zzzzzzzzzz"}', 'unknown-command', version).d.data?.suggestion, undefined);
    });

    test('unknown members, except on open commands', () => {
      const u = only('{"execute": "qom-list", "arguments": {"path": "/", "pth": 1}}', 'unknown-member', version);
      assert.equal(u.covered, '"pth"');
      assert.equal(u.d.data?.suggestion, 'path');
      assert.match(u.d.message, /Parameter 'pth' is unexpected/);
      assert.match(only('{"execute": "query-status", "arguments": {"a": 1}}', 'unknown-member', version).d.message, /'a' is unexpected/);
      const nested = only('{"execute": "query-cpu-model-expansion", "arguments": {"type": "static", "model": {"name": "max", "zz": 1}}}', 'unknown-member', version);
      assert.match(nested.d.message, /'model\.zz'/);
      assert.deepEqual(nested.d.data?.path, ['model']);
      // The member belongs to another variant than the one the tag selects.
      assert.match(only('{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n", "filename": "x"}}', 'unknown-member', version).d.message, /Parameter 'filename' is unexpected with driver 'null-co'/);
      assert.deepEqual(errors('{"execute": "device_add", "arguments": {"driver": "virtio-net-pci", "netdev": "n0", "mac": "52:54:00:12:34:56"}}', version), []);
    });

    test('missing required members', () => {
      const m = only('{"execute": "qom-get", "arguments": {"path": "/machine"}}', 'missing-member', version);
      assert.deepEqual(m.d.data?.missing, ['property']);
      assert.equal(m.covered, '"arguments"');
      const all = only('{"execute": "qom-get"}', 'missing-member', version);
      assert.deepEqual(all.d.data?.missing, ['path', 'property']);
      assert.equal(all.covered, '"qom-get"');
      const inArray = only('{"execute": "block-dirty-bitmap-merge", "arguments": {"node": "n", "target": "t", "bitmaps": [{"node": "a"}]}}', 'missing-member', version);
      assert.match(inArray.d.message, /'bitmaps\[0\]\.name' is missing/);
      assert.equal(inArray.covered, '{');
      assert.deepEqual(errors('{"execute": "device_add", "arguments": {"id": "x"}}', version).map((d) => d.code), ['missing-member']);
    });

    test('wrong JSON types as QEMU\'s input visitor sees them', () => {
      const t = (args: string): string[] => errors(`{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n", ${args}}}`, version).map((d) => d.code);
      assert.deepEqual(t('"size": 1.0'), ['wrong-type']);
      assert.deepEqual(t('"size": 1e3'), ['wrong-type']);
      assert.deepEqual(t('"size": "1"'), ['wrong-type']);
      assert.deepEqual(t('"size": 18446744073709551616'), ['wrong-type']);
      assert.deepEqual(t('"size": -9223372036854775808'), []);
      assert.deepEqual(t('"read-only": null'), ['wrong-type']);
      assert.deepEqual(t('"read-only": 1'), ['wrong-type']);
      assert.deepEqual(t('"discard": 5'), ['wrong-type']);
      const w = only('{"execute": "qom-list", "arguments": {"path": 1}}', 'wrong-type', version);
      assert.equal(w.covered, '1');
      assert.match(w.d.message, /Invalid parameter type for 'path', expected: string/);
      // Alternates: str | null accepts both; int is neither.
      assert.deepEqual(errors('{"execute": "migrate-set-parameters", "arguments": {"tls-creds": 5}}', version).map((d) => d.code), ['wrong-type']);
      assert.match(only('{"execute": "block-dirty-bitmap-merge", "arguments": {"node": "n", "target": "t", "bitmaps": [1]}}', 'wrong-type', version).d.message, /'bitmaps\[0\]', expected: string or object/);
      assert.deepEqual(errors('{"execute": "block-dirty-bitmap-merge", "arguments": {"node": "n", "target": "t", "bitmaps": "a"}}', version).map((d) => d.code), ['wrong-type']);
      // 'number' accepts integers.
      assert.deepEqual(errors('{"execute": "migrate-set-parameters", "arguments": {"cpu-throttle-tailslow": true, "announce-rounds": 3}}', version), []);
    });

    test('enum values and union tags', () => {
      const e = only('{"execute": "query-cpu-model-expansion", "arguments": {"type": "statc", "model": {"name": "max"}}}', 'bad-enum', version);
      assert.equal(e.covered, '"statc"');
      assert.equal(e.d.data?.suggestion, 'static');
      assert.match(e.d.message, /does not accept value 'statc'/);
      const tag = only('{"execute": "blockdev-add", "arguments": {"driver": "nul-co", "node-name": "n"}}', 'bad-tag', version);
      assert.equal(tag.d.data?.suggestion, 'null-co');
      // With the variant unknown, members of some variant are not reported as unknown.
      assert.deepEqual(run('{"execute": "blockdev-add", "arguments": {"driver": "nul-co", "node-name": "n", "size": 1}}', version).map((d) => d.code), ['bad-tag']);
      const missingTag = only('{"execute": "blockdev-add", "arguments": {"node-name": "n"}}', 'missing-tag', version);
      assert.deepEqual(missingTag.d.data?.missing, ['driver']);
      assert.deepEqual(errors('{"execute": "netdev_add", "arguments": {"type": "user", "id": "n0"}}', version), []);
      assert.equal(only('{"execute": "netdev_add", "arguments": {"type": "usr", "id": "n0"}}', 'bad-tag', version).d.data?.suggestion, 'user');
    });

    test('deprecated and unstable commands, members and enum values are warnings', () => {
      const dep = only('{"execute": "drive-backup", "arguments": {"device": "d", "target": "t", "sync": "full"}}', 'deprecated', version);
      assert.equal(dep.d.severity, 'warning');
      assert.equal(dep.covered, '"drive-backup"');
      assert.deepEqual(errors('{"execute": "drive-backup", "arguments": {"device": "d", "target": "t", "sync": "full"}}', version), []);
      const uns = only('{"execute": "x-query-jit"}', 'unstable', version);
      assert.equal(uns.d.severity, 'warning');
      const capUnstable = only('{"execute": "migrate-set-capabilities", "arguments": {"capabilities": [{"capability": "x-colo", "state": false}]}}', 'unstable', version);
      assert.equal(capUnstable.covered, '"x-colo"');
      const member = only('{"execute": "block-commit", "arguments": {"device": "d", "top": "t"}}', 'deprecated', version);
      assert.equal(member.covered, '"top"');
    });

    test('out-of-band: allow-oob, negotiation, and the 2018 control spelling', () => {
      const notAllowed = only('{"exec-oob": "query-status"}', 'oob-not-allowed', version);
      assert.equal(notAllowed.covered, '"exec-oob"');
      assert.equal(notAllowed.d.data?.suggestion, 'execute');
      assert.match(notAllowed.d.message, /does not support OOB/);
      assert.deepEqual(run('{"exec-oob": "migrate-pause"}', version, { oobNegotiated: true }), []);
      const neg = only('{"exec-oob": "migrate-pause"}', 'oob-not-negotiated', version, { oobNegotiated: false });
      assert.equal(neg.d.severity, 'warning');
      assert.deepEqual(run('{"exec-oob": "migrate-pause"}', version, {}), []);
      const legacy = only('{"execute": "yank", "arguments": {"instances": []}, "control": {"run-oob": true}}', 'legacy-control', version);
      assert.equal(legacy.covered, '"control": {"run-oob": true}');
      assert.equal(legacy.d.data?.suggestion, 'exec-oob');
      assert.deepEqual(errors('{"execute": "yank", "arguments": {"instances": []}, "control": {"run-oob": true}}', version), []);
      assert.equal(only('{"execute": "stop", "control": {"run-oob": true}}', 'oob-not-allowed', version).covered, '"control"');
      assert.equal(only('{"execute": "stop", "control": {"other": 1}}', 'unexpected-key', version).covered, '"control"');
    });

    test('wait-event clauses', () => {
      const ev = only('{"wait-event": "STOPP"}', 'unknown-event', version);
      assert.equal(ev.d.data?.suggestion, 'STOP');
      assert.equal(ev.covered, '"STOPP"');
      const m = only('{"wait-event": "BLOCK_JOB_COMPLETED", "data": {"devce": "x"}}', 'unknown-member', version);
      assert.equal(m.d.data?.suggestion, 'device');
      assert.equal(only('{"wait-event": "STOP", "timeot": 5}', 'unexpected-key', version).d.data?.suggestion, 'timeout');
      assert.equal(only('{"wait-event": "STOP", "timeout": "soon"}', 'wrong-type', version).d.severity, 'error');
      assert.equal(only('{"wait-event": "BLOCK_JOB_COMPLETED", "data": {"len": "big"}}', 'wrong-type', version).d.severity, 'warning');
    });

    test('offsets are into the whole cell, after markers and earlier objects', () => {
      const text = '// first\n-> {"execute": "stop"}\n<- {"return": {}}\n-> {"execute": "nope"}\n';
      const d = only(text, 'unknown-command', version);
      assert.equal(d.covered, '"nope"');
      assert.equal(d.d.start, text.indexOf('"nope"'));
    });
  });
}

describe('diagnose across versions and without a schema', () => {
  test('commands removed or added between 7.2 and 10.0', () => {
    // query-status lost singlestep in 10.0, but that is a reply; a 10.0-only command is unknown to 7.2.
    assert.deepEqual(errors('{"execute": "query-cpu-model-expansion", "arguments": {"type": "full", "model": {"name": "max"}}}', '10.0'), []);
    const only10 = schemas['10.0'].commands().map((c) => c.name).filter((n) => !schemas['7.2'].command(n));
    assert.ok(only10.length > 5);
    for (const n of only10) {
      assert.ok(errors(`{"execute": "${n}"}`, '7.2').some((d) => d.code === 'unknown-command'), n);
    }
  });

  test('without a schema only syntax and the top-level shape are checked', () => {
    assert.deepEqual(diagnose('{"execute": "no-such-thing", "arguments": {"x": 1}}', undefined).map((d) => d.code), []);
    assert.deepEqual(diagnose('{"execute": "stop", "extra": 1}', undefined).map((d) => d.code), ['unexpected-key']);
    assert.deepEqual(diagnose('{"execute": "stop"', undefined).map((d) => d.code), ['json-syntax']);
  });

  test('didYouMean', () => {
    assert.equal(didYouMean('query-versoin', ['query-version', 'query-status']), 'query-version');
    assert.equal(didYouMean('device-add', ['device_add', 'device_del']), 'device_add');
    assert.equal(didYouMean('completely-different', ['stop', 'cont']), undefined);
    // A name typed only partly means the name it begins, before any typo at the same distance, in any order.
    assert.equal(didYouMean('query-statu', ['query-stats', 'query-status']), 'query-status');
    assert.equal(didYouMean('query-statu', ['query-status', 'query-stats']), 'query-status');
    assert.equal(didYouMean('query-cpus', ['query-cpu-model-expansion', 'query-cpus-fast']), 'query-cpus-fast');
    // A typed name that runs past a candidate is one edit, not a prefix: the near typo wins.
    assert.equal(didYouMean('migrate-pase', ['migrate', 'migrate-pause']), 'migrate-pause');
  });

  test('didYouMean on every command of real schemas: a name cut short suggests the shortest command it begins', () => {
    for (const schema of Object.values(schemas)) {
      const names = schema.commands().map((c) => c.name);
      const known = new Set(names);
      for (const name of names) {
        for (const cut of [1, 2]) {
          const typed = name.slice(0, -cut);
          if (typed.length < 3 || known.has(typed)) continue;
          const begun = names.filter((c) => c.toLowerCase().replace(/_/g, '-').startsWith(typed.toLowerCase().replace(/_/g, '-')));
          const shortest = Math.min(...begun.map((c) => c.length));
          const got = didYouMean(typed, names);
          assert.ok(got !== undefined && begun.includes(got) && got.length === shortest, `${typed}: ${got} (shortest of ${begun.join(', ')})`);
        }
      }
    }
  });

  test('every diagnostic range lies within the text and codes are from the documented set', () => {
    const texts = ['{"execute": "blockdev-add", "arguments": {"driver": 5, "x": [1, 2}', '-> -> {', '{"a":', '}}}', '<- {'];
    const allowed = new Set(['json-syntax', 'unexpected-key', 'legacy-control', 'unknown-command', 'unknown-member', 'missing-member',
      'wrong-type', 'bad-enum', 'bad-tag', 'missing-tag', 'deprecated', 'unstable', 'oob-not-allowed', 'oob-not-negotiated', 'unknown-event']);
    for (const text of texts) {
      for (const d of run(text)) {
        assert.ok(d.start >= 0 && d.end <= text.length && d.start < d.end, `${text}: ${JSON.stringify(d)}`);
        assert.ok(allowed.has(d.code));
      }
    }
  });
});

describe('diagnose on nested flat unions (QEMU 10.0: migrate channels)', () => {
  const cmd = (addr: string): string =>
    `{"execute": "migrate-incoming", "arguments": {"channels": [{"channel-type": "main", "addr": ${addr}}]}}`;
  test('a valid nested union', () => {
    assert.deepEqual(errors(cmd('{"transport": "socket", "type": "unix", "path": "/tmp/s"}'), '10.0'), []);
  });
  test('a member of a sibling variant, a missing inner tag, a bad inner tag', () => {
    const u = only(cmd('{"transport": "socket", "type": "unix", "path": "/tmp/s", "host": "h"}'), 'unknown-member', '10.0');
    assert.match(u.d.message, /'channels\[0\]\.addr\.host' is unexpected/);
    assert.deepEqual(u.d.data?.path, ['channels', 0, 'addr']);
    const t = only(cmd('{"transport": "socket", "path": "/tmp/s"}'), 'missing-tag', '10.0');
    assert.deepEqual(t.d.data?.missing, ['type']);
    assert.equal(t.covered, '"addr"');
    assert.equal(only(cmd('{"transport": "socket", "type": "unx"}'), 'bad-tag', '10.0').d.data?.suggestion, 'unix');
  });
});

describe('diagnose never throws', () => {
  const seeds = [
    '-> {"execute": "blockdev-add", "arguments": {"driver": "qcow2", "node-name": "q", "file": {"driver": "file", "filename": "/x"}}}',
    '{"exec-oob": "yank", "arguments": {"instances": [{"type": "chardev", "id": "c"}]}, "control": {"run-oob": true}}',
    '{"wait-event": "BLOCK_JOB_COMPLETED", "data": {"device": "j"}, "timeout": 10}\n<- {"return": {}}',
  ];
  test('on cut and spliced commands, with ranges inside the text', () => {
    fc.assert(fc.property(fc.constantFrom(...seeds), fc.nat(), fc.nat(), fc.string({ maxLength: 8 }), (seed, a, b, insert) => {
      const i = a % (seed.length + 1);
      const j = Math.min(seed.length, i + (b % 12));
      const text = seed.slice(0, i) + insert + seed.slice(j);
      for (const d of run(text, '10.0')) {
        if (!(d.start >= 0 && d.end <= text.length && d.start < d.end)) return false;
      }
      return true;
    }), { numRuns: 500 });
  });
});
