import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCell, parseNotebook, serializeNotebook, type CellItem } from '../../src/format';
import { fixtureSchema } from './schemaFixtures';

const root = path.resolve(__dirname, '..', '..', '..');

describe('samples/tour.qmp', () => {
  const text = readFileSync(path.join(root, 'samples', 'tour.qmp'), 'utf8');
  const data = parseNotebook(text);

  test('is in the form the extension writes: parse and serialize give the same bytes', () => {
    assert.equal(serializeNotebook(data), text);
    assert.equal(data.profile, 'sandbox');
  });

  test('every code cell parses without problems against QEMU 7.2\'s schema', () => {
    const schema = fixtureSchema('7.2');
    for (const cell of data.cells) {
      if (cell.kind !== 'code') continue;
      assert.deepEqual(parseCell(cell.source, cell.language, schema).errors, [], cell.source);
    }
  });

  test('tours what it promises: status, version, events, OOB, errors, qmp-shell, HMP and a documentation example', () => {
    const items: CellItem[] = data.cells.flatMap((c) => (c.kind === 'code' ? parseCell(c.source, c.language).items : []));
    const sent = items.flatMap((i) => (i.kind === 'command' ? [i.json] : []));
    for (const json of [
      '{"execute":"query-status"}', '{"execute":"query-version"}', '{"execute":"cont"}', '{"execute":"stop"}',
      '{"exec-oob":"query-yank"}', '{"execute":"no-such-command"}',
      '{"execute":"human-monitor-command","arguments":{"command-line":"info status"}}',
    ]) assert.ok(sent.includes(json), json);
    assert.ok(sent.some((j) => j.startsWith('{"execute":"transaction"')));
    assert.ok(sent.some((j) => j.startsWith('{"execute":"device_del"')));
    assert.deepEqual(items.flatMap((i) => (i.kind === 'wait' ? [i.event] : [])), ['RESUME', 'STOP']);
    assert.ok(items.some((i) => i.kind === 'expect'));
    assert.deepEqual([...new Set(data.cells.map((c) => c.language))].sort(), ['hmp', 'markdown', 'qmp', 'qmp-shell']);
  });
});

describe('samples/saved-session.qmp', () => {
  const text = readFileSync(path.join(root, 'samples', 'saved-session.qmp'), 'utf8');
  const data = parseNotebook(text);

  test('a session saved from a real QEMU reads back with its outputs, byte for byte', () => {
    assert.equal(data.saveOutputs, true);
    assert.equal(serializeNotebook(data), text);
    const code = data.cells.filter((c) => c.kind === 'code');
    assert.ok(code.length >= 3 && code.every((c) => (c.outputs?.length ?? 0) > 0));
    const json = code.flatMap((c) => c.outputs ?? []).flatMap((o) => (o.kind === 'message' ? [JSON.parse(o.json) as unknown] : []));
    assert.ok(json.some((m) => typeof m === 'object' && m !== null && (m as { event?: string }).event === 'RESUME'));
    assert.ok(json.some((m) => (m as { error?: { class?: string } }).error?.class === 'DeviceNotFound'));
  });
});
