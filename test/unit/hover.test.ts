// Hover tests: the cursor is marked with `|`; the hover's text and the range it covers are checked,
// against both fixture schemas, with and without the man page documentation.

import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { hover, type HoverContext } from '../../src/language/hover';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseQmpManPage, type QmpDocEntity, type QmpDocMember, type QmpDocs } from '../../src/language/manpage';
import type { Schema } from '../../src/qmp/schema';
import { VERSIONS, cursor, fixtureSchema } from './completionHelpers';

function hoverAt(marked: string, schema: Schema | undefined, docs?: QmpDocs, ctx?: HoverContext): { contents: string; text: string } | undefined {
  const { text, offset } = cursor(marked);
  const h = hover(text, offset, schema, docs, ctx);
  return h === undefined ? undefined : { contents: h.contents, text: text.slice(h.range.start, h.range.end) };
}

/** A hand-written stand-in for the man page, so the docs path is tested on machines without it. */
function handDocs(): QmpDocs {
  const entity = (name: string, kind: 'command' | 'event', markdown: string, members: QmpDocMember[] = []): QmpDocEntity => ({
    name, kind, summary: markdown, markdown, plain: markdown, members, includes: [], examples: [], sections: [],
  });
  const commands = new Map([['query-status', entity('query-status', 'command', 'Query the run status (hand-written).')],
    ['eject', entity('eject', 'command', 'Ejects the medium.', [{ name: 'force', optional: true, section: 'Arguments', markdown: 'Force ejection (hand-written).', plain: '' }])]]);
  const events = new Map([['STOP', entity('STOP', 'event', 'Emitted when stopped (hand-written).')]]);
  return {
    command: (n) => commands.get(n),
    event: (n) => events.get(n),
    type: () => undefined,
    member: (e, m) => (typeof e === 'string' ? commands.get(e) ?? events.get(e) : e)?.members.find((x) => x.name === m),
    entities: () => [...commands.values(), ...events.values()],
    version: undefined,
  };
}

for (const version of VERSIONS) {
  const schema = fixtureSchema(version);
  const full = `${schema.version?.major}.${schema.version?.minor}.${schema.version?.micro}`;

  describe(`hover in qmp cells (QEMU ${version})`, () => {
    test('a command name: arguments, return type, the schema version', () => {
      const h = hoverAt('{"execute": "query-st|atus"}', schema);
      assert.equal(h?.text, '"query-status"');
      assert.match(h?.contents ?? '', /^\*\*query-status\*\* \(command\)/);
      assert.match(h?.contents ?? '', /Arguments: none\./);
      assert.match(h?.contents ?? '', /Returns: object \{running: bool, (singlestep: bool, )?status: 'debug' \| /);
      assert.match(h?.contents ?? '', new RegExp(`Schema of QEMU ${full.replace(/\./g, '\\.')}\\.`));
    });
    test('the cached note', () => {
      assert.match(hoverAt('{"execute": "st|op"}', schema, undefined, { cached: true })?.contents ?? '', /\(cached/);
      assert.doesNotMatch(hoverAt('{"execute": "st|op"}', schema)?.contents ?? '', /cached/);
    });
    test('allow-oob, deprecated and unstable are said', () => {
      assert.match(hoverAt('{"exec-oob": "ya|nk"}', schema)?.contents ?? '', /Can run out-of-band/);
      assert.doesNotMatch(hoverAt('{"execute": "st|op"}', schema)?.contents ?? '', /out-of-band/);
      assert.match(hoverAt('{"execute": "drive-ba|ckup"}', schema)?.contents ?? '', /\*\*Deprecated\*\*/);
      const unstable = schema.commands().find((c) => c.unstable);
      assert.match(hoverAt(`{"execute": "${unstable?.name.slice(0, 3)}|${unstable?.name.slice(3)}"}`, schema)?.contents ?? '', /\*\*Unstable\*\*/);
    });
    test('the execute key shows the command too', () => {
      assert.match(hoverAt('{"exe|cute": "stop"}', schema)?.contents ?? '', /^\*\*stop\*\* \(command\)/);
    });
    test('a flat union command lists its base members and its cases readably', () => {
      const h = hoverAt('{"execute": "blockdev-a|dd"}', schema)?.contents ?? '';
      assert.match(h, /- `driver`: 'blkdebug' \| /);
      assert.match(h, /union on `driver`: blkdebug \| blklogwrites \| /);
      assert.doesNotMatch(h, /\b\d{2,3}\b(?!\.)/, 'no masked type numbers');
    });
    test('a member: required or optional, its type', () => {
      const h = hoverAt('{"execute": "blockdev-add", "arguments": {"driver": "file", "file|name": "/x"}}', schema);
      assert.equal(h?.text, '"filename"');
      assert.match(h?.contents ?? '', /^\*\*filename\*\* \(member of `blockdev-add`\): required/);
      assert.match(h?.contents ?? '', /Type: str/);
      const opt = hoverAt('{"execute": "eject", "arguments": {"for|ce": true}}', schema)?.contents ?? '';
      assert.match(opt, /: optional/);
      assert.match(opt, /Type: bool/);
    });
    test('a nested member of an alternate: the union written readably', () => {
      const h = hoverAt('{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "fi|le": {}}}', schema)?.contents ?? '';
      assert.match(h, /Type: union on `driver`: blkdebug \| .* \| str/);
    });
    test('an enum value', () => {
      const h = hoverAt('{"execute": "blockdev-add", "arguments": {"driver": "file", "aio": "thre|ads"}}', schema);
      assert.equal(h?.text, '"threads"');
      assert.match(h?.contents ?? '', /^\*\*threads\*\*: one of 'threads' \| 'native'/);
      assert.match(hoverAt('{"execute": "transaction", "arguments": {"actions": [{"type": "drive-b|ackup"}]}}', schema)?.contents ?? '', /Deprecated/);
    });
    test('an event in a wait clause and in an expected reply', () => {
      assert.match(hoverAt('{"wait-event": "DEVICE_DEL|ETED"}', schema)?.contents ?? '', /^\*\*DEVICE_DELETED\*\* \(event\)\n\nData:\n- `device` \(optional\): str/);
      assert.match(hoverAt('<- {"event": "ST|OP"}', schema)?.contents ?? '', /^\*\*STOP\*\* \(event\)\n\nNo data\./);
    });
    test('a member of an expected reply, typed by the command before it', () => {
      const h = hoverAt('-> {"execute": "query-status"}\n<- {"return": {"sta|tus": "running"}}', schema)?.contents ?? '';
      assert.match(h, /^\*\*status\*\*: required\n\nType: 'debug' \| /);
    });
    test('nothing on punctuation, unknown names, or without a schema', () => {
      assert.equal(hoverAt('{"execute": "stop"|}', schema), undefined);
      assert.equal(hoverAt('{"execute": "no-su|ch"}', schema), undefined);
      assert.equal(hoverAt('{"execute": "st|op"}', undefined), undefined);
    });
  });

  describe(`hover in qmp-shell cells (QEMU ${version})`, () => {
    const shell: HoverContext = { language: 'qmp-shell' };
    test('command, key, enum value and event', () => {
      assert.match(hoverAt('query-st|atus', schema, undefined, shell)?.contents ?? '', /^\*\*query-status\*\* \(command\)/);
      const key = hoverAt('blockdev-add driver=file file|name=/x', schema, undefined, shell);
      assert.equal(key?.text, 'filename');
      assert.match(key?.contents ?? '', /required/);
      const value = hoverAt('blockdev-add driver=file aio=nat|ive', schema, undefined, shell);
      assert.equal(value?.text, 'native');
      assert.match(value?.contents ?? '', /one of 'threads' \| 'native'/);
      assert.match(hoverAt('wait-event ST|OP', schema, undefined, shell)?.contents ?? '', /\(event\)/);
    });
    test('a dotted key names the nested member', () => {
      const h = hoverAt('blockdev-add driver=qcow2 cache.dir|ect=true', schema, undefined, shell);
      assert.equal(h?.text, 'cache.direct');
      assert.match(h?.contents ?? '', /^\*\*direct\*\*: optional/);
    });
  });

  describe(`hover with documentation (QEMU ${version})`, () => {
    test('hand-written docs are appended for commands, members and events', () => {
      const docs = handDocs();
      assert.match(hoverAt('{"execute": "query-st|atus"}', schema, docs)?.contents ?? '', /Query the run status \(hand-written\)\./);
      assert.match(hoverAt('{"execute": "eject", "arguments": {"for|ce": true}}', schema, docs)?.contents ?? '', /Force ejection \(hand-written\)\./);
      assert.match(hoverAt('{"wait-event": "ST|OP"}', schema, docs)?.contents ?? '', /Emitted when stopped \(hand-written\)\./);
      assert.match(hoverAt('eject for|ce=true', schema, docs, { language: 'qmp-shell' })?.contents ?? '', /Force ejection/);
    });
    test("the man page's own heading is dropped: the name and kind are said once", () => {
      const base = handDocs();
      const headed = (e: QmpDocEntity | undefined): QmpDocEntity | undefined =>
        e === undefined ? undefined : { ...e, markdown: `**${e.name}** (${e.kind === 'command' ? 'Command' : 'Event'})\n\n${e.markdown}` };
      const docs: QmpDocs = { ...base, command: (n) => headed(base.command(n)), event: (n) => headed(base.event(n)) };
      const status = hoverAt('{"execute": "query-st|atus"}', schema, docs)?.contents ?? '';
      assert.match(status, /^\*\*query-status\*\* \(command\)/);
      assert.match(status, /Query the run status \(hand-written\)\./);
      assert.equal(status.match(/\*\*query-status\*\*/g)?.length, 1);
      const stop = hoverAt('{"wait-event": "ST|OP"}', schema, docs)?.contents ?? '';
      assert.match(stop, /Emitted when stopped/);
      assert.equal(stop.match(/\*\*STOP\*\*/g)?.length, 1);
    });
    test('the man page fixture (test/fixtures/manpage), as the reader parses it', () => {
      const file = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'manpage', 'qemu-qmp-ref-mini.7');
      const docs = parseQmpManPage(readFileSync(file, 'utf8'));
      const status = hoverAt('{"execute": "query-st|atus"}', schema, docs)?.contents ?? '';
      assert.match(status, /Report whether the guest runs/);
      assert.equal(status.match(/\*\*query-status\*\*/g)?.length, 1, status);
      // A variant member is found through the union's "members of" references.
      const member = hoverAt('{"execute": "blockdev-add", "arguments": {"driver": "file", "file|name": "/x"}}', schema, docs)?.contents ?? '';
      assert.match(member, /host file to open/);
    });
  });
}
