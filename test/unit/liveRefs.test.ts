// The live-value table against the real schemas of QEMU 7.2 and 10.0: every row names a member that exists and
// takes a string, every query a source sends exists with the arguments it passes.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createdBy, kindsChangedBy, liveRefAt, liveRefs, valuesAtPath, type LiveKind } from '../../src/qmp/liveRefs';
import { liveSources } from '../../src/qmp/liveValues';
import { fixtureSchema, type FixtureVersion } from './schemaFixtures';

const versions: FixtureVersion[] = ['7.2', '10.0'];

describe('live reference table', () => {
  test('every row names an existing string member in each schema that has its command', () => {
    for (const r of liveRefs) {
      const present = versions.filter((v) => fixtureSchema(v).command(r.command) !== undefined);
      assert.ok(present.length > 0, `${r.command} exists in neither 7.2 nor 10.0`);
      for (const v of present) {
        const schema = fixtureSchema(v);
        const kinds = schema.valueKindsAt(r.command, r.path);
        assert.ok(kinds, `${v}: ${r.command} has no member ${r.path.join('.')}`);
        assert.ok(kinds.includes('string'), `${v}: ${r.command} ${r.path.join('.')} takes ${kinds.join('|')}, not a string`);
        // Not open: a row must not rely on device_add accepting anything (driver and id are declared).
        if (r.scopeMember) assert.ok(schema.valueKindsAt(r.command, [r.scopeMember])?.includes('string'), `${v}: ${r.command} scope ${r.scopeMember}`);
      }
    }
  });

  test('no two rows for the same place', () => {
    const seen = new Set<string>();
    for (const r of liveRefs) {
      const k = `${r.command} ${r.path.join('.')}`;
      assert.ok(!seen.has(k), `duplicate row ${k}`);
      seen.add(k);
    }
  });

  test('every source query exists in both schemas, with the arguments it passes', () => {
    for (const v of versions) {
      const schema = fixtureSchema(v);
      for (const [kind, src] of Object.entries(liveSources)) {
        if (!src) continue;
        const q = src.query('/machine/x');
        if (!q) continue;
        assert.ok(schema.command(q.command), `${v}: ${kind} uses ${q.command}, which does not exist`);
        for (const arg of Object.keys(q.args ?? {})) {
          assert.ok(schema.valueKindsAt(q.command, [arg]), `${v}: ${q.command} has no argument ${arg}`);
        }
      }
    }
  });

  test('lookups: arrays, scopes, what a command creates and changes', () => {
    assert.deepEqual(liveRefAt('blockdev-del', ['node-name'])?.kinds, ['block-node']);
    assert.equal(liveRefAt('blockdev-del', ['nodename']), undefined);
    assert.equal(liveRefAt('block-dirty-bitmap-remove', ['name'])?.scopeMember, 'node');
    assert.deepEqual(liveRefAt('query-cpu-model-expansion', ['model', 'name'])?.kinds, ['cpu-model']);
    assert.deepEqual(valuesAtPath({ a: [{ b: 'x' }, { b: 2 }, {}] }, ['a', '*', 'b']).map((h) => [h.value, h.path.join('.')]),
      [['x', 'a.0.b'], [2, 'a.1.b']]);
    assert.deepEqual(createdBy('block-dirty-bitmap-add', { node: 'n0', name: 'b0' }), [{ kind: 'dirty-bitmap', value: 'b0', scope: 'n0' }]);
    assert.deepEqual(createdBy('blockdev-add', { driver: 'null-co', 'node-name': 'n1' }), [{ kind: 'block-node', value: 'n1' }]);
    assert.deepEqual(createdBy('blockdev-add', { driver: 'null-co' }), []);
    const changed = new Set<LiveKind>(kindsChangedBy('blockdev-del'));
    assert.ok(changed.has('block-node'));
    assert.deepEqual(kindsChangedBy('query-status'), []);
  });
});
