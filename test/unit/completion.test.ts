// Cursor-marker tests for completion in `qmp` cells: `|` marks the cursor, the chosen item is applied
// at its range (snippets expanded to their first choice) and the whole edited text is compared, which
// catches range and quoting bugs that a label check would miss. Every case runs against both schemas.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { complete } from '../../src/language/completion';
import type { QmpDocEntity, QmpDocs } from '../../src/language/manpage';
import { diagnose } from '../../src/language/diagnostics';
import { VERSIONS, applyItem, applyLabel, fixtureSchema, itemsAt, labels } from './completionHelpers';

for (const version of VERSIONS) {
  const schema = fixtureSchema(version);

  describe(`completion of command names (QEMU ${version})`, () => {
    test('inside the empty string after "execute"', () => {
      assert.equal(applyLabel('{"execute": "|"}', 'query-status', schema), '{"execute": "query-status"}');
    });
    test('with part of the name typed, the whole string is replaced', () => {
      assert.equal(applyLabel('{"execute": "query-st|"}', 'query-status', schema), '{"execute": "query-status"}');
    });
    test('without the closing quote', () => {
      assert.equal(applyLabel('{"execute": "query-st|', 'query-status', schema), '{"execute": "query-status"');
    });
    test('without any quote', () => {
      assert.equal(applyLabel('{"execute": query|}', 'query-status', schema), '{"execute": "query-status"}');
    });
    test('right after the colon', () => {
      assert.equal(applyLabel('{"execute":|}', 'stop', schema), '{"execute":"stop"}');
    });
    test('every command is offered, with a detail', () => {
      const items = itemsAt('{"execute": "|"}', schema);
      assert.equal(items.filter((i) => i.kind === 'command').length, schema.commands().length);
      const qs = items.find((i) => i.label === 'query-status');
      assert.match(qs?.detail ?? '', /^\(\) → /);
    });
    test('deprecated commands carry the deprecated tag and sort last; unstable ones say so', () => {
      const items = itemsAt('{"execute": "|"}', schema);
      const backup = items.find((i) => i.label === 'drive-backup');
      assert.deepEqual(backup?.tags, ['deprecated']);
      assert.equal(items.at(-1)?.tags?.[0], 'deprecated');
      const unstable = items.find((i) => i.label.startsWith('x-'));
      assert.match(unstable?.detail ?? '', /unstable/);
      assert.equal(items.find((i) => i.label === 'query-status')?.tags, undefined);
    });
    test('exec-oob offers only the commands that allow OOB', () => {
      const got = labels(itemsAt('{"exec-oob": "|"}', schema)).sort();
      assert.deepEqual(got, ['migrate-pause', 'migrate-recover', 'query-yank', 'yank']);
      assert.equal(applyLabel('{"exec-oob": "|", "id": "a"}', 'yank', schema), '{"exec-oob": "yank", "id": "a"}');
    });
    test('the second object of a cell, after doc-notation markers', () => {
      const text = '-> {"execute": "stop"}\n<- {"return": {}}\n-> {"execute": "c|"}';
      assert.equal(applyLabel(text, 'cont', schema), '-> {"execute": "stop"}\n<- {"return": {}}\n-> {"execute": "cont"}');
    });
    test('nothing inside a comment', () => {
      assert.deepEqual(itemsAt('// {"execute": "|"}', schema), []);
      assert.deepEqual(itemsAt('{"execute": "stop" // a c|omment\n}', schema), []);
    });
  });

  describe(`documentation in completion items (QEMU ${version})`, () => {
    test('the man page summary leads the command and event documentation', () => {
      const summary = (name: string): QmpDocEntity => ({
        name, kind: 'command', summary: `Summary of ${name}.`, markdown: '', plain: '', members: [], includes: [], examples: [], sections: [],
      });
      const docs: QmpDocs = {
        command: (n) => (n === 'stop' ? summary(n) : undefined), event: (n) => (n === 'STOP' ? summary(n) : undefined),
        type: () => undefined, member: () => undefined, entities: () => [], version: undefined,
      };
      const stop = itemsAt('{"execute": "|"}', schema, { docs }).find((i) => i.label === 'stop');
      assert.match(stop?.documentation ?? '', /^Summary of stop\.\n\n\*\*stop\*\*/);
      const event = itemsAt('{"wait-event": "|"}', schema, { docs }).find((i) => i.label === 'STOP');
      assert.equal(event?.documentation, 'Summary of STOP.');
      assert.match(itemsAt('|', schema, { docs }).find((i) => i.label === 'stop')?.documentation ?? '', /^Summary of stop\./);
    });
    test("the man page's member description leads an argument's documentation", () => {
      const asked: { entity: string; member: string; tags: unknown }[] = [];
      const docs: QmpDocs = {
        command: () => undefined, event: () => undefined, type: () => undefined, entities: () => [], version: undefined,
        member: (entity, member, tags) => {
          asked.push({ entity: typeof entity === 'string' ? entity : entity.name, member, tags });
          return member === 'force' ? { name: member, optional: true, section: 'Arguments', markdown: 'Force ejection.', plain: '' } : undefined;
        },
      };
      const items = itemsAt('{"execute": "eject", "arguments": {"id": "cd0", |}}', schema, { docs });
      const force = items.find((i) => i.label === 'force');
      assert.match(force?.documentation ?? '', /^Force ejection\.\n\n`force`: bool/);
      // Members without a description keep the schema's text alone.
      assert.match(items.find((i) => i.label === 'device')?.documentation ?? '', /^`device`: /);
      assert.ok(asked.some((a) => a.entity === 'eject' && a.member === 'force' && (a.tags as Record<string, unknown>)['id'] === 'cd0'));
      // Deeper objects are masked types the man page cannot be matched to: nothing is asked for them.
      asked.length = 0;
      itemsAt('{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "file": {|}}}', schema, { docs });
      assert.deepEqual(asked, []);
    });
  });

  describe(`whole-command skeletons (QEMU ${version})`, () => {
    test('an empty cell offers skeletons', () => {
      assert.equal(applyLabel('|', 'query-status', schema), '{"execute": "query-status"}');
    });
    test('typing { at the top level replaces the braces with the skeleton', () => {
      assert.equal(applyLabel('{|}', 'query-status', schema), '{"execute": "query-status"}');
      assert.equal(applyLabel('{|', 'stop', schema), '{"execute": "stop"}');
    });
    test('a bare word typed in the braces filters and is replaced', () => {
      assert.equal(applyLabel('{ query-sta|}', 'query-status', schema), '{"execute": "query-status"}');
    });
    test('required arguments become placeholders of the right shape', () => {
      assert.equal(applyLabel('|', 'block-dirty-bitmap-add', schema),
        '{"execute": "block-dirty-bitmap-add", "arguments": {"node": "", "name": ""}}');
      assert.equal(applyLabel('|', 'balloon', schema), '{"execute": "balloon", "arguments": {"value": 0}}');
      const blockdev = itemsAt('|', schema).find((i) => i.label === 'blockdev-add');
      assert.match(blockdev?.insertText ?? '', /"driver": "\$\{1\|blkdebug,/);
    });
    test('in braces spread over lines, the skeleton goes inside them', () => {
      assert.equal(applyLabel('{\n  |\n}', 'stop', schema), '{\n  "execute": "stop"\n}');
      assert.equal(applyLabel('{\n  qu|\n}', 'quit', schema), '{\n  "execute": "quit"\n}');
    });
    test('pretty-printed arguments complete like one-line ones', () => {
      const text = '{\n  "execute": "blockdev-add",\n  "arguments": {\n    "driver": "file",\n    |\n  }\n}';
      assert.equal(applyLabel(text, 'filename', schema), text.replace('|', '"filename": ""'));
    });
    test('a new object after a complete one, on its own line', () => {
      assert.equal(applyLabel('{"execute": "stop"}\n|', 'cont', schema), '{"execute": "stop"}\n{"execute": "cont"}');
    });
    test('a wait-event clause skeleton', () => {
      assert.equal(applyLabel('|', 'wait-event', schema), '{"wait-event": "", "timeout": 5000}');
    });
  });

  describe(`top-level keys (QEMU ${version})`, () => {
    test('after a comma: arguments and id, not execute again', () => {
      const got = labels(itemsAt('{"execute": "blockdev-add", |}', schema));
      assert.ok(got.includes('arguments'));
      assert.ok(got.includes('id'));
      assert.ok(!got.includes('execute'));
      assert.equal(applyLabel('{"execute": "blockdev-add", |}', 'arguments', schema), '{"execute": "blockdev-add", "arguments": {}}');
    });
    test('no arguments for a command that takes none', () => {
      assert.ok(!labels(itemsAt('{"execute": "query-status", |}', schema)).includes('arguments'));
    });
    test('with the opening quote typed', () => {
      assert.equal(applyLabel('{"execute": "eject", "arg|}', 'arguments', schema), '{"execute": "eject", "arguments": {}}');
    });
    test('inside a complete key followed by a colon, only the key is replaced', () => {
      assert.equal(applyLabel('{"exe|": "stop"}', 'execute', schema), '{"execute": "stop"}');
    });
    test('a comma is added when a member follows', () => {
      assert.equal(applyLabel('{"execute": "eject", | "id": 1}', 'arguments', schema), '{"execute": "eject", "arguments": {}, "id": 1}');
      assert.equal(applyLabel('{"execute": "eject", "arguments": {| "id": "cd0"}}', 'force', schema),
        '{"execute": "eject", "arguments": {"force": false, "id": "cd0"}}');
    });
    test('the wait clause offers data and timeout', () => {
      assert.equal(applyLabel('{"wait-event": "STOP", |}', 'timeout', schema), '{"wait-event": "STOP", "timeout": 5000}');
      assert.ok(labels(itemsAt('{"wait-event": "STOP", |}', schema)).includes('data'));
    });
  });

  describe(`argument members (QEMU ${version})`, () => {
    test('members of the arguments object, required first, each with its type', () => {
      const items = itemsAt('{"execute": "block-dirty-bitmap-add", "arguments": {|}}', schema);
      assert.deepEqual(labels(items).slice(0, 2), ['node', 'name']);
      assert.match(items[0]?.detail ?? '', /^str \(required\)/);
      assert.match(items.find((i) => i.label === 'persistent')?.detail ?? '', /^bool \(optional\)/);
    });
    test('members already present are not offered again', () => {
      const got = labels(itemsAt('{"execute": "block-dirty-bitmap-add", "arguments": {"node": "n0", |}}', schema));
      assert.ok(!got.includes('node'));
      assert.ok(got.includes('name'));
    });
    test('a key typed without quotes gets its quotes', () => {
      assert.equal(applyLabel('{"execute": "eject", "arguments": {dev|}}', 'device', schema),
        '{"execute": "eject", "arguments": {"device": ""}}');
    });
    test('a key typed with an opening quote', () => {
      assert.equal(applyLabel('{"execute": "eject", "arguments": {"dev|}}', 'device', schema),
        '{"execute": "eject", "arguments": {"device": ""}}');
    });
    test('inside the pair of quotes the editor closes automatically', () => {
      assert.equal(applyLabel('{"execute": "eject", "arguments": {"|"}}', 'device', schema),
        '{"execute": "eject", "arguments": {"device": ""}}');
      assert.equal(applyLabel('{"execute": "eject", "arguments": {"id": "cd0", "|"}}', 'force', schema),
        '{"execute": "eject", "arguments": {"id": "cd0", "force": false}}');
    });
    test('a complete key before a colon keeps its value', () => {
      assert.equal(applyLabel('{"execute": "eject", "arguments": {"dev|": "ide0"}}', 'device', schema),
        '{"execute": "eject", "arguments": {"device": "ide0"}}');
    });
    test('boolean members get a boolean value', () => {
      assert.equal(applyLabel('{"execute": "eject", "arguments": {"id": "cd0", |}}', 'force', schema),
        '{"execute": "eject", "arguments": {"id": "cd0", "force": false}}');
    });
    test('flat union: variant members appear once the tag has a value', () => {
      const before = labels(itemsAt('{"execute": "blockdev-add", "arguments": {|}}', schema));
      assert.ok(before.includes('driver'));
      assert.ok(!before.includes('filename'));
      const file = itemsAt('{"execute": "blockdev-add", "arguments": {"driver": "file", |}}', schema);
      assert.equal(file[0]?.label, 'filename', 'the variant\'s required member comes first');
      const nbd = labels(itemsAt('{"execute": "blockdev-add", "arguments": {"driver": "nbd", |}}', schema));
      assert.ok(nbd.includes('server'));
      assert.ok(!nbd.includes('filename'));
    });
    test('flat union: the tag offers its enum values while empty', () => {
      assert.equal(applyLabel('{"execute": "blockdev-add", "arguments": {"driver": "|"}}', 'null-co', schema),
        '{"execute": "blockdev-add", "arguments": {"driver": "null-co"}}');
    });
    test('nested objects: members of an alternate branch (BlockdevRef → BlockdevOptions)', () => {
      assert.equal(
        applyLabel('{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "node-name": "q", "file": {"driver": "file", |}}}', 'filename', schema),
        '{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "node-name": "q", "file": {"driver": "file", "filename": ""}}}');
    });
    test('arrays of objects: members of the element type', () => {
      const text = '{"execute": "transaction", "arguments": {"actions": [{"type": "block-dirty-bitmap-add", "data": {|}}]}}';
      const got = labels(itemsAt(text, schema));
      assert.ok(got.includes('node'), got.join(','));
      assert.ok(got.includes('name'));
    });
    test('members of a deeper object in a union variant', () => {
      const text = '{"execute": "blockdev-add", "arguments": {"driver": "nbd", "node-name": "n", "server": {"type": "inet", |}}}';
      const got = labels(itemsAt(text, schema));
      assert.ok(got.includes('host'), got.join(','));
      assert.ok(got.includes('port'));
    });
    test('event data members for a wait clause', () => {
      assert.equal(applyLabel('{"wait-event": "BLOCK_JOB_READY", "data": {"dev|}}', 'device', schema),
        '{"wait-event": "BLOCK_JOB_READY", "data": {"device": ""}}');
    });
    test('unknown commands give no members', () => {
      assert.deepEqual(itemsAt('{"execute": "no-such", "arguments": {|}}', schema), []);
    });
  });

  describe(`expected replies (QEMU ${version})`, () => {
    test('the return value of the command sent just before', () => {
      const sent = '-> {"execute": "query-status"}\n';
      assert.equal(applyLabel(`${sent}<- {"return": {"run|}}`, 'running', schema), `${sent}<- {"return": {"running": false}}`);
      assert.equal(applyLabel(`${sent}<- {"return": {"status": "pau|"}}`, 'paused', schema), `${sent}<- {"return": {"status": "paused"}}`);
      const block = '-> {"execute": "query-block"}\n';
      assert.ok(labels(itemsAt(`${block}<- {"return": [{|}]}`, schema)).includes('device'));
    });
    test('the keys of a reply, shaped by the return type', () => {
      assert.equal(applyLabel('-> {"execute": "query-block"}\n<- {|}', 'return', schema), '-> {"execute": "query-block"}\n<- {"return": []}');
      assert.ok(!labels(itemsAt('-> {"execute": "stop"}\n<- {|}', schema)).includes('stop'), 'no command skeletons in a reply');
    });
    test('event names in an expected event', () => {
      assert.equal(applyLabel('<- {"event": "RES|"}', 'RESUME', schema), '<- {"event": "RESUME"}');
    });
  });

  describe(`values (QEMU ${version})`, () => {
    test('enum values, quoted, replacing a partial string', () => {
      assert.equal(applyLabel('{"execute": "blockdev-add", "arguments": {"driver": "file", "filename": "/x", "aio": "thr|"}}', 'threads', schema),
        '{"execute": "blockdev-add", "arguments": {"driver": "file", "filename": "/x", "aio": "threads"}}');
    });
    test('enum values without a quote typed', () => {
      assert.equal(applyLabel('{"execute": "blockdev-add", "arguments": {"driver": "file", "aio": |}}', 'native', schema),
        '{"execute": "blockdev-add", "arguments": {"driver": "file", "aio": "native"}}');
    });
    test('true and false for booleans', () => {
      assert.deepEqual(labels(itemsAt('{"execute": "eject", "arguments": {"force": |}}', schema)), ['false', 'true']);
      assert.equal(applyLabel('{"execute": "eject", "arguments": {"force": t|}}', 'true', schema),
        '{"execute": "eject", "arguments": {"force": true}}');
    });
    test('null where the type allows it', () => {
      // blockdev-add's `backing` is BlockdevRefOrNull: object, string or null.
      const got = labels(itemsAt('{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "backing": |}}', schema));
      assert.ok(got.includes('null'), got.join(','));
      assert.ok(got.includes('{}'));
    });
    test('an object shape for object values, an array shape for arrays', () => {
      assert.equal(applyLabel('{"execute": "blockdev-add", "arguments": {"driver": "raw", "file": |}}', '{}', schema),
        '{"execute": "blockdev-add", "arguments": {"driver": "raw", "file": {"driver": "blkdebug"}}}');
      assert.equal(applyLabel('{"execute": "transaction", "arguments": {"actions": |}}', '[]', schema),
        '{"execute": "transaction", "arguments": {"actions": [{}]}}');
    });
    test('array items: an enum element type', () => {
      // yank's `instances` is an array of YankInstance (a union on `type`).
      assert.equal(applyLabel('{"execute": "yank", "arguments": {"instances": [{"type": "|"}]}}', 'migration', schema),
        '{"execute": "yank", "arguments": {"instances": [{"type": "migration"}]}}');
    });
    test('event names after "wait-event", with no schema nothing is offered', () => {
      assert.equal(applyLabel('{"wait-event": "STO|"}', 'STOP', schema), '{"wait-event": "STOP"}');
      assert.deepEqual(complete('{"wait-event": ""}', 16, undefined).items, []);
    });
    test('deprecated enum values are marked and sorted last', () => {
      // The transaction action `drive-backup` is deprecated in both versions.
      const items = itemsAt('{"execute": "transaction", "arguments": {"actions": [{"type": "|"}]}}', schema);
      const backup = items.find((i) => i.label === 'drive-backup');
      assert.deepEqual(backup?.tags, ['deprecated']);
      assert.equal(items.at(-1)?.label, 'drive-backup');
      assert.equal(items.find((i) => i.label === 'blockdev-backup')?.tags, undefined);
    });
  });
}

describe('skeletons agree with the diagnostics', () => {
  for (const version of VERSIONS) {
    test(`every command skeleton of QEMU ${version} is valid JSON with no unknown or mistyped member`, () => {
      const schema = fixtureSchema(version);
      const skeletons = complete('', 0, schema).items.filter((i) => i.kind === 'snippet' && i.label !== 'wait-event');
      assert.equal(skeletons.length, schema.commands().length);
      for (const item of skeletons) {
        const text = applyItem('', item);
        assert.doesNotThrow(() => JSON.parse(text), text);
        const bad = diagnose(text, schema).filter((d) => ['json-syntax', 'unknown-command', 'unknown-member', 'wrong-type', 'bad-enum', 'bad-tag', 'unexpected-key'].includes(d.code));
        assert.deepEqual(bad.map((d) => `${d.code}: ${d.message}`), [], text);
      }
    });
  }
});
