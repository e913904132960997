// The schema model against the query-qmp-schema fixtures captured from QEMU 7.2 and 10.0.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { Schema, type ObjectType, type SchemaType } from '../../src/qmp/schema';
import type { SchemaInfo } from '../../src/qmp/introspect';
import { fixtureInfos, fixtureSchema, type FixtureVersion } from './schemaFixtures';

const expected: Record<FixtureVersion, { commands: number; events: number; statusMembers: string[] }> = {
  '7.2': { commands: 216, events: 52, statusMembers: ['running', 'singlestep', 'status'] },
  '10.0': { commands: 233, events: 55, statusMembers: ['running', 'status'] },
};

function names(xs: readonly { name: string }[]): string[] {
  return xs.map((x) => x.name);
}

/** Every type reachable from commands and events, so that whole-graph properties can be checked. */
function reachableTypes(schema: Schema): SchemaType[] {
  const seen = new Set<SchemaType>();
  const stack: SchemaType[] = [];
  for (const c of schema.commands()) { stack.push(c.retType); if (c.argType) stack.push(c.argType); }
  for (const e of schema.events()) if (e.argType) stack.push(e.argType);
  while (stack.length) {
    const t = stack.pop() as SchemaType;
    if (seen.has(t)) continue;
    seen.add(t);
    if (t.kind === 'array') stack.push(t.element);
    else if (t.kind === 'alternate') stack.push(...t.members);
    else if (t.kind === 'object') {
      for (const m of t.members) stack.push(m.type);
      for (const v of t.variants) stack.push(v.type);
    }
  }
  return [...seen];
}

for (const version of ['7.2', '10.0'] as const) {
  describe(`Schema (QEMU ${version} fixture)`, () => {
    const schema = fixtureSchema(version);

    test('counts commands and events', () => {
      assert.equal(schema.commands().length, expected[version].commands);
      assert.equal(schema.events().length, expected[version].events);
      assert.deepEqual(schema.version, { major: Number(version.split('.')[0]), minor: Number(version.split('.')[1]), micro: version === '7.2' ? 22 : 13 });
      const sorted = [...names(schema.commands())].sort();
      assert.deepEqual(names(schema.commands()), sorted);
    });

    test('the allow-oob commands are exactly migrate-recover, migrate-pause, yank, query-yank', () => {
      assert.deepEqual(names(schema.oobCommands()), ['migrate-pause', 'migrate-recover', 'query-yank', 'yank']);
      assert.equal(schema.command('query-status')?.allowOob, false);
    });

    test('blockdev-add is a union on driver whose null-co variant adds size, latency-ns, read-zeroes', () => {
      const args = schema.command('blockdev-add')?.argType as ObjectType;
      assert.equal(args.kind, 'object');
      assert.equal(args.tag, 'driver');
      assert.ok(args.variants.some((v) => v.case === 'qcow2'));
      const base = names(schema.membersOf(args));
      assert.ok(base.includes('driver') && base.includes('node-name'));
      assert.ok(!base.includes('size'));
      const nullCo = names(schema.membersOf(args, { driver: 'null-co' }));
      for (const m of ['driver', 'node-name', 'size', 'latency-ns', 'read-zeroes']) assert.ok(nullCo.includes(m), m);
      assert.ok(!nullCo.includes('filename'));
      const file = names(schema.membersOf(args, { driver: 'file' }));
      assert.ok(file.includes('filename') && !file.includes('size'));
      assert.equal(schema.membersOf(args, { driver: 'no-such-driver' }).length, args.members.length);
      assert.equal(args.member('driver')?.optional, false);
      assert.equal(args.member('node-name')?.optional, true);
      assert.ok(schema.allMembersOf(args).some((m) => m.name === 'latency-ns'));
    });

    test('query-status returns running and status (an enum)', () => {
      const ret = schema.command('query-status')?.retType;
      assert.equal(ret?.kind, 'object');
      const obj = ret as ObjectType;
      assert.deepEqual(names(obj.members), expected[version].statusMembers);
      const status = obj.member('status')?.type;
      assert.equal(status?.kind, 'enum');
      assert.ok(status.kind === 'enum' && status.value('running') && status.value('paused'));
      assert.equal(obj.member('running')?.type.kind, 'builtin');
      assert.equal(schema.command('query-status')?.argType, undefined);
    });

    test('features: drive-backup deprecated, every x- command unstable, device_add open', () => {
      const db = schema.command('drive-backup');
      assert.equal(db?.deprecated, true);
      assert.equal(db?.unstable, false);
      const xs = schema.commands().filter((c) => c.name.startsWith('x-'));
      assert.ok(xs.length > 5);
      for (const c of xs) assert.equal(c.unstable, true, c.name);
      assert.equal(schema.command('query-status')?.deprecated, false);
      assert.equal(schema.command('device_add')?.open, true);
      assert.deepEqual(schema.command('device_add')?.features, ['json-cli', 'json-cli-hotplug']);
      // netdev_add and object-add are typed unions since QEMU 6.0: closed.
      assert.equal(schema.command('netdev_add')?.open, false);
      assert.equal(schema.command('object-add')?.open, false);
      assert.equal(schema.commands().filter((c) => c.open).length, 1);
    });

    test('enum values carry their own features', () => {
      const caps = schema.command('migrate-set-capabilities')?.argType?.member('capabilities')?.type;
      assert.equal(caps?.kind, 'array');
      const el = caps.kind === 'array' ? caps.element : undefined;
      assert.equal(el?.kind, 'object');
      const capEnum = (el as ObjectType).member('capability')?.type;
      assert.ok(capEnum?.kind === 'enum');
      assert.equal(capEnum.value('x-colo')?.unstable, true);
      assert.equal(capEnum.value('xbzrle')?.unstable, false);
    });

    test('events resolve their data', () => {
      const ev = schema.event('BLOCK_JOB_COMPLETED');
      assert.ok(ev?.argType?.member('device'));
      assert.equal(schema.event('STOP')?.argType, undefined);
      assert.equal(schema.event('NO_SUCH_EVENT'), undefined);
      assert.equal(schema.command('no-such-command'), undefined);
    });

    test('describeType is readable and never shows masked type names', () => {
      const args = schema.command('blockdev-add')?.argType as ObjectType;
      assert.match(schema.describeType(args), /^union on `driver`: blkdebug \| blklogwrites \| .* \| …$/);
      assert.equal(schema.describeType(schema.resolve('str')), 'str');
      assert.equal(schema.describeType(schema.resolve('[int]')), 'array of int');
      const ret = schema.command('query-status')?.retType as ObjectType;
      assert.match(schema.describeType(ret), /^object \{running: bool, .*status: 'debug' \| 'inmigrate' \| /);
      const file = schema.describeType(args.variant('qcow2')?.member('file')?.type as SchemaType);
      assert.match(file, /^union on `driver`: .* \| str$/);
      const masked = new Set(fixtureInfos(version).map((i) => i.name).filter((n) => /^\d+$/.test(n)));
      let checked = 0;
      for (const t of reachableTypes(schema)) {
        for (const depth of [0, 1, 2]) {
          const text = schema.describeType(t, { depth });
          // Enum values are quoted and may legitimately be digits (QKeyCode has '1'); strip them first.
          const unquoted = text.replace(/'[^']*'/g, "''");
          for (const tok of unquoted.split(/[^\w-]+/)) assert.ok(!masked.has(tok), `${text} shows ${tok}`);
          checked++;
        }
      }
      assert.ok(checked > 300);
    });

    test('valueKindsAt types qmp-shell values through objects, arrays, unions and alternates', () => {
      assert.deepEqual(schema.valueKindsAt('blockdev-add', ['driver']), ['string']);
      assert.deepEqual(schema.valueKindsAt('blockdev-add', ['read-only']), ['boolean']);
      assert.deepEqual(schema.valueKindsAt('blockdev-add', ['size'], { driver: 'null-co' }), ['int']);
      // Without the tag, every variant is searched.
      assert.deepEqual(schema.valueKindsAt('blockdev-add', ['size']), ['int']);
      assert.equal(schema.valueKindsAt('blockdev-add', ['size'], { driver: 'file' }), undefined);
      assert.deepEqual(schema.valueKindsAt('blockdev-add', ['file'], { driver: 'qcow2' })?.sort(), ['object', 'string']);
      assert.deepEqual(schema.valueKindsAt('blockdev-add', ['file', 'filename'], { driver: 'qcow2', file: { driver: 'file' } }), ['string']);
      assert.deepEqual(schema.valueKindsAt('block-dirty-bitmap-merge', ['bitmaps']), ['array']);
      assert.deepEqual(schema.valueKindsAt('block-dirty-bitmap-merge', ['bitmaps', '0'])?.sort(), ['object', 'string']);
      assert.deepEqual(schema.valueKindsAt('block-dirty-bitmap-merge', ['bitmaps', '0', 'node']), ['string']);
      assert.deepEqual(schema.valueKindsAt('qom-set', ['value']), ['any']);
      assert.deepEqual(schema.valueKindsAt('qom-set', ['value', 'deep', 'er']), ['any']);
      assert.deepEqual(schema.valueKindsAt('device_add', ['driver']), ['string']);
      assert.deepEqual(schema.valueKindsAt('device_add', ['addr']), ['any']);
      assert.equal(schema.valueKindsAt('query-status', ['x']), undefined);
      assert.equal(schema.valueKindsAt('no-such-command', []), undefined);
      assert.deepEqual(schema.valueKindsAt('query-status', []), ['object']);
      const throttle = schema.valueKindsAt('migrate-set-parameters', ['throttle-trigger-threshold']);
      assert.deepEqual(throttle, ['int']);
    });

    test('building is lazy and fast', (t) => {
      const infos = fixtureInfos(version);
      const times: number[] = [];
      let s: Schema | undefined;
      for (let i = 0; i < 20; i++) {
        const t0 = performance.now();
        s = Schema.fromIntrospection(infos);
        times.push(performance.now() - t0);
      }
      times.sort((a, b) => a - b);
      const built = s as Schema;
      assert.equal(built.stats().resolvedTypes, 0);
      assert.equal(built.stats().entities, infos.length);
      const t0 = performance.now();
      reachableTypes(built);
      const full = performance.now() - t0;
      t.diagnostic(`fromIntrospection median ${times[10]?.toFixed(2)} ms; resolving every reachable type ${full.toFixed(2)} ms`);
      assert.ok(built.stats().resolvedTypes > 100);
    });
  });
}

describe('Schema on old and damaged input', () => {
  test('enums without members (QEMU before 6.2) fall back to values', () => {
    const infos: SchemaInfo[] = [
      { name: 'q', 'meta-type': 'command', 'arg-type': 'a', 'ret-type': 'e' },
      { name: 'a', 'meta-type': 'object', members: [{ name: 'x', type: 'any' }] },
      { name: 'e', 'meta-type': 'enum', values: ['one', 'two'] },
      { name: 'any', 'meta-type': 'builtin', 'json-type': 'value' },
    ];
    const s = Schema.fromIntrospection(infos);
    const e = s.command('q')?.retType;
    assert.ok(e?.kind === 'enum');
    assert.deepEqual(names(e.values), ['one', 'two']);
    assert.equal(s.describeType(e), "'one' | 'two'");
    assert.deepEqual(s.valueKindsAt('q', ['x']), ['any']);
    assert.equal(s.version, undefined);
  });

  test('hand-marshalled commands with untyped arguments are open (old netdev_add)', () => {
    const infos: SchemaInfo[] = [
      { name: 'netdev_add', 'meta-type': 'command', 'arg-type': 'a', 'ret-type': '0' },
      { name: 'a', 'meta-type': 'object', members: [{ name: 'type', type: 'str' }, { name: 'id', type: 'str' }] },
      { name: '0', 'meta-type': 'object', members: [] },
      { name: 'str', 'meta-type': 'builtin', 'json-type': 'string' },
    ];
    const s = Schema.fromIntrospection(infos);
    assert.equal(s.command('netdev_add')?.open, true);
    assert.deepEqual(s.valueKindsAt('netdev_add', ['hostfwd']), ['any']);
    assert.equal(s.describeType(s.command('netdev_add')?.retType as SchemaType), 'object {}');
  });
});

describe('nested flat unions (QEMU 10.0: migrate channels)', () => {
  const schema = fixtureSchema('10.0');
  test('membersOf follows a variant that is itself a union', () => {
    const channels = schema.command('migrate-incoming')?.argType?.member('channels')?.type;
    assert.ok(channels?.kind === 'array' && channels.element.kind === 'object');
    const addr = channels.element.member('addr')?.type as ObjectType;
    assert.equal(addr.tag, 'transport');
    assert.deepEqual(names(schema.membersOf(addr, { transport: 'socket', type: 'unix' })), ['transport', 'type', 'path', 'abstract', 'tight']);
    assert.deepEqual(names(schema.membersOf(addr, { transport: 'socket' })), ['transport', 'type']);
    assert.equal(schema.memberOf(addr, 'cid', { transport: 'socket', type: 'inet' }), undefined);
    assert.equal(schema.memberOf(addr, 'cid', { transport: 'socket' })?.name, 'cid');
  });

  test('valueKindsAt goes through arrays into nested unions', () => {
    const partial = { channels: [{ addr: { transport: 'socket', type: 'inet' } }] };
    assert.deepEqual(schema.valueKindsAt('migrate-incoming', ['channels', '0', 'addr', 'port'], partial), ['string']);
    assert.deepEqual(schema.valueKindsAt('migrate-incoming', ['channels', '0', 'addr', 'numeric'], partial), ['boolean']);
    assert.equal(schema.valueKindsAt('migrate-incoming', ['channels', '0', 'addr', 'path'], partial), undefined);
    assert.deepEqual(schema.valueKindsAt('migrate-incoming', ['channels', '0', 'addr', 'path']), ['string']);
  });
});
