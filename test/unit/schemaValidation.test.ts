// Validation of query-qmp-schema replies at the boundary (issue 8, item 4): bad input is refused with one line
// that says where and what; every real schema passes, including the older shapes QEMU 2.5 to 6.1 sent; and a
// damaged schema either fails validation or builds a model that every Schema method handles.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertLinear } from '../support/linear';
import { SchemaError, validateIntrospection, type SchemaInfo } from '../../src/qmp/introspect';
import { Schema, type ObjectType, type SchemaType } from '../../src/qmp/schema';
import { fixtureInfos, type FixtureVersion } from './schemaFixtures';

const builtin = (name: string, jsonType = 'string'): unknown => ({ name, 'meta-type': 'builtin', 'json-type': jsonType });
const empty = { name: '0', 'meta-type': 'object', members: [] };

function refused(value: unknown, ...parts: (string | RegExp)[]): SchemaError {
  let error: unknown;
  try {
    Schema.fromIntrospection(value);
  } catch (err) {
    error = err;
  }
  assert.ok(error instanceof SchemaError, `expected a SchemaError for ${JSON.stringify(value)?.slice(0, 200)}, got ${String(error)}`);
  assert.equal(error.code, 'QMP_SCHEMA_INVALID');
  assert.ok(!error.message.includes('\n'), 'one line');
  for (const p of parts) {
    if (typeof p === 'string') assert.ok(error.message.includes(p), `${JSON.stringify(error.message)} should say ${JSON.stringify(p)}`);
    else assert.match(error.message, p);
  }
  return error;
}

describe('validateIntrospection refuses what the model cannot use, saying where', () => {
  test('not an array, or elements that are not entities', () => {
    refused({}, 'a JSON array', 'found an object');
    refused(null, 'found null');
    refused('[]', 'found the string');
    refused([null], 'entity 0', 'found null');
    refused([1, 2, 3], 'entity 0', 'found the number 1');
    refused([builtin('str'), []], 'entity 1', 'found an array');
  });

  test('names and meta-types', () => {
    refused([{ name: 5, 'meta-type': 'builtin', 'json-type': 'string' }], 'entity 0', '"name" must be a non-empty string, found the number 5');
    refused([{ name: '', 'meta-type': 'builtin', 'json-type': 'string' }], 'entity 0', '"name"');
    refused([{ name: 'x', 'json-type': 'string' }], 'entity 0 ("x")', 'missing "meta-type"');
    refused([{ name: 'x', 'meta-type': 'struct' }], 'entity 0 ("x")', 'unknown "meta-type" the string "struct"');
    refused([builtin('str'), builtin('str')], 'entity 1 ("str")', 'a second type of this name (the first is entity 0)');
    refused([empty, { name: 'stop', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0' }, { name: 'stop', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0' }],
      'entity 2 ("stop")', 'a second command');
  });

  test('the structure of each meta-type', () => {
    refused([{ name: 'b', 'meta-type': 'builtin', 'json-type': 'text' }], '"json-type" must be one of');
    refused([{ name: 'e', 'meta-type': 'enum' }], 'entity 0 ("e")', 'needs "members" or "values"');
    refused([{ name: 'e', 'meta-type': 'enum', values: ['a', 1] }], '"values"[1] must be a string');
    refused([{ name: 'e', 'meta-type': 'enum', members: [{ value: 'a' }] }], '"members"[0]');
    refused([{ name: 'o', 'meta-type': 'object' }], 'entity 0 ("o")', '"members" must be an array');
    refused([{ name: 'o', 'meta-type': 'object', members: [{ name: 'm' }] }], 'member "m"', '"type" must be a type name');
    refused([{ name: 'o', 'meta-type': 'object', members: [], variants: [{ case: 'a', type: 'o' }] }], '"variants" without a "tag"');
    refused([{ name: 'a', 'meta-type': 'alternate', members: [] }], '"members" must be a non-empty array');
    refused([empty, { name: 'c', 'meta-type': 'command', 'arg-type': '0' }], 'entity 1 ("c")', '"ret-type" must be a type name');
    refused([empty, { name: 'c', 'meta-type': 'command', 'arg-type': '0', 'ret-type': '0', 'allow-oob': 'yes' }], '"allow-oob" must be true or false');
    refused([builtin('str'), { name: 'o', 'meta-type': 'object', members: [], features: 'deprecated' }], '"features" must be an array of strings');
  });

  test('dangling type names and references of the wrong kind', () => {
    refused([empty, { name: 'o', 'meta-type': 'object', members: [{ name: 'size', type: '77' }] }],
      'entity 1 ("o"), member "size"', 'names the type "77", which the schema does not define');
    refused([empty, { name: 'q', 'meta-type': 'command', 'arg-type': 'nope', 'ret-type': '0' }], 'entity 1 ("q")', '"arg-type" names the type "nope"');
    refused([builtin('str'), { name: 'q', 'meta-type': 'command', 'arg-type': 'str', 'ret-type': 'str' }], '"arg-type" must name an object type, but "str" is a builtin');
    refused([builtin('str'), { name: 'E', 'meta-type': 'event', 'arg-type': 'str' }], 'entity 1 ("E")', 'must name an object type');
    refused([builtin('str'), { name: 'u', 'meta-type': 'object', members: [{ name: 't', type: 'str' }], tag: 't', variants: [{ case: 'a', type: 'str' }] }],
      'variant "a" must name an object type');
    refused([{ name: '[x]', 'meta-type': 'array', 'element-type': 'x' }], 'entity 0 ("[x]")', '"element-type" names the type "x"');
  });

  test('cycles the model would follow forever', () => {
    refused([{ name: '[a]', 'meta-type': 'array', 'element-type': '[b]' }, { name: '[b]', 'meta-type': 'array', 'element-type': '[a]' }], 'cyclic type', '"[a]" → "[b]" → "[a]"');
    refused([{ name: 'alt', 'meta-type': 'alternate', members: [{ type: 'alt' }] }], 'cyclic type');
    refused([{ name: 'alt', 'meta-type': 'alternate', members: [{ type: '[alt]' }] }, { name: '[alt]', 'meta-type': 'array', 'element-type': 'alt' }], 'cyclic type');
    refused([builtin('str'), { name: 'u', 'meta-type': 'object', members: [{ name: 't', type: 'str' }], tag: 't', variants: [{ case: 'a', type: 'v' }] },
      { name: 'v', 'meta-type': 'object', members: [{ name: 't', type: 'str' }], tag: 't', variants: [{ case: 'b', type: 'u' }] }], 'cyclic type');
  });

  test('recursion through object members is fine (a block node whose file is another block node)', () => {
    const infos = [
      builtin('str'),
      { name: 'node', 'meta-type': 'object', members: [{ name: 'file', type: 'ref', default: null }, { name: 'name', type: 'str' }] },
      { name: 'ref', 'meta-type': 'alternate', members: [{ type: 'node' }, { type: 'str' }] },
      { name: 'blockdev-add', 'meta-type': 'command', 'arg-type': 'node', 'ret-type': 'node' },
    ];
    const s = Schema.fromIntrospection(infos);
    assert.deepEqual(s.valueKindsAt('blockdev-add', ['file', 'file', 'file', 'name']), ['string']);
    assert.match(s.describeType(s.command('blockdev-add')?.retType as SchemaType, { depth: 3 }), /^object \{file\?: object \{/);
  });
});

/** The fixture reshaped as older QEMU sent it: no features, enums with `values` only, no `allow-oob`. */
function asOldQemu(infos: readonly SchemaInfo[]): unknown[] {
  return infos.map((info) => {
    const copy = JSON.parse(JSON.stringify(info)) as Record<string, unknown>;
    delete copy['features'];
    delete copy['allow-oob'];
    if (copy['meta-type'] === 'enum') {
      const members = copy['members'] as { name: string }[] | undefined;
      copy['values'] = copy['values'] ?? members?.map((m) => m.name) ?? [];
      delete copy['members'];
    }
    for (const m of (copy['members'] as Record<string, unknown>[] | undefined) ?? []) if (typeof m === 'object') delete m['features'];
    // Extras a validator must let through: conditions and keys a newer QEMU may add.
    copy['if'] = { all: ['CONFIG_X'] };
    copy['x-unknown-extra'] = [1, { a: null }];
    return copy;
  });
}

const VERSIONS: FixtureVersion[] = ['7.2', '10.0'];

describe('real schemas pass', () => {
  for (const version of VERSIONS) {
    test(`QEMU ${version} as captured, and reshaped as QEMU 2.5-6.1 sent it`, () => {
      assert.equal(validateIntrospection(fixtureInfos(version)).length, fixtureInfos(version).length);
      const old = Schema.fromIntrospection(asOldQemu(fixtureInfos(version)));
      assert.ok(old.commands().length > 100);
      assert.ok(old.command('query-status')?.allowOob === false);
      exercise(old);
    });
  }

  test('validation is linear in the schema', () => {
    // n object types and n commands taking them: every entity is checked and every reference resolved.
    const schema = (n: number): unknown[] => [
      { name: 'str', 'meta-type': 'builtin', 'json-type': 'string' },
      ...Array.from({ length: n }, (_, i) => ({ name: `T${i}`, 'meta-type': 'object', members: [{ name: 'a', type: 'str' }, { name: 'b', type: `T${(i + 1) % n}`, default: null }] })),
      ...Array.from({ length: n }, (_, i) => ({ name: `c${i}`, 'meta-type': 'command', 'arg-type': `T${i}`, 'ret-type': 'str', 'allow-oob': false })),
    ];
    assert.equal(validateIntrospection(schema(100)).length, 201);
    assertLinear('validateIntrospection', schema, validateIntrospection, 2000);
    assert.ok(validateIntrospection(fixtureInfos('10.0')).length > 1000);
  });
});

/** Calls every Schema method on everything the schema reaches from commands and events (bounded). */
function exercise(s: Schema): void {
  const seen = new Set<SchemaType>();
  const visitType = (t: SchemaType, depth: number): void => {
    s.describeType(t, { depth: 2 });
    s.kindsOf(t);
    if (seen.has(t) || depth > 6) return;
    seen.add(t);
    if (t.kind === 'object') {
      s.allMembersOf(t);
      s.membersOf(t, {});
      for (const v of t.variants) {
        s.membersOf(t, t.tag !== undefined ? { [t.tag]: v.case } : {});
        s.memberOf(t, 'x', t.tag !== undefined ? { [t.tag]: v.case } : {});
        visitType(v.type, depth + 1);
      }
      for (const m of t.members) visitType(m.type, depth + 1);
    } else if (t.kind === 'array') {
      visitType(t.element, depth + 1);
    } else if (t.kind === 'alternate') {
      for (const m of t.members) visitType(m, depth + 1);
    } else if (t.kind === 'enum') {
      for (const v of t.values) t.value(v.name);
    }
  };
  for (const c of s.commands()) {
    void c.open;
    visitType(c.retType, 0);
    const arg = c.argType as ObjectType | undefined;
    if (arg) {
      visitType(arg, 0);
      for (const m of s.allMembersOf(arg)) {
        s.valueKindsAt(c.name, [m.name]);
        s.valueKindsAt(c.name, [m.name, 'x', '0']);
      }
    }
    s.valueKindsAt(c.name, []);
  }
  for (const e of s.events()) if (e.argType) visitType(e.argType, 0);
  s.oobCommands();
}

describe('damaged real schemas: refused with a message, or a model every method handles', () => {
  for (const version of VERSIONS) {
    test(`random mutations of the QEMU ${version} schema`, () => {
      const infos = fixtureInfos(version);
      const names = infos.map((i) => i.name);
      const keys = ['name', 'meta-type', 'members', 'values', 'element-type', 'arg-type', 'ret-type', 'tag', 'variants', 'json-type', 'features', 'allow-oob', 'type', 'case', 'default'];
      const junk = fc.oneof(
        fc.constantFrom(null, 5, '', 'nope', [], {}, [null], true, 'builtin', 'object', 'enum', 'alternate', 'array'),
        fc.constantFrom(...names),
        fc.jsonValue({ maxDepth: 2 }),
      );
      const mutation = fc.tuple(fc.nat(infos.length - 1), fc.constantFrom('set', 'delete', 'set-member', 'duplicate', 'remove', 'self-variant'), fc.constantFrom(...keys), junk, fc.nat(50));
      fc.assert(fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (mutations) => {
        const copy = infos.slice() as unknown[];
        for (const [index, op, key, value, k] of mutations) {
          const target = index % copy.length;
          const entity = JSON.parse(JSON.stringify(copy[target] ?? null)) as Record<string, unknown> | null;
          if (op === 'remove') { copy.splice(target, 1); continue; }
          if (op === 'duplicate') { copy.push(entity); continue; }
          if (entity === null || typeof entity !== 'object') { copy[target] = value; continue; }
          if (op === 'set') entity[key] = value;
          else if (op === 'delete') delete entity[key];
          else if (op === 'self-variant') { entity['tag'] = 'x'; entity['variants'] = [{ case: 'x', type: entity['name'] }]; }
          else {
            const list = entity['members'] ?? entity['variants'];
            if (Array.isArray(list) && list.length > 0) {
              const m = list[k % list.length] as unknown;
              if (m !== null && typeof m === 'object') (m as Record<string, unknown>)[key] = value;
              else list[k % list.length] = value;
            }
          }
          copy[target] = entity;
        }
        let schema: Schema | undefined;
        try {
          schema = Schema.fromIntrospection(copy);
        } catch (err) {
          assert.ok(err instanceof SchemaError, `not a SchemaError: ${String(err)}`);
          assert.ok(err.message.length > 0 && !err.message.includes('\n'));
          return;
        }
        exercise(schema);
      }), { numRuns: version === '7.2' ? 40 : 25 });
    });
  }
});
