// Export of a notebook (src/export): the qmp-shell script read back by our own qmp-shell parser gives the same
// commands (name, out-of-band, id, arguments with every literal exact), for the shipped samples and for values
// chosen to be hard (numeric-looking strings, spaces, quotes, big integers, nesting, ids); JSON lines are the
// commands as QEMU reads them; Markdown and HTML carry every cell and output, HTML escaped.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCell, parseNotebook, type CellData, type CommandItem } from '../../src/notebook/format';
import { exportNotebook, toJsonLines, toQmpShell } from '../../src/export/export';
import { fixtureSchema } from './schemaFixtures';

const root = path.resolve(__dirname, '..', '..', '..');
const schema = fixtureSchema('7.2');

function commandsOf(cells: readonly CellData[]): CommandItem[] {
  return cells.flatMap((c) => (c.kind === 'code' ? parseCell(c.source, c.language, schema).items : []))
    .filter((i): i is CommandItem => i.kind === 'command');
}

/** What a command is, for comparing: everything QEMU would receive. */
function essence(c: CommandItem): unknown {
  return { name: c.name, oob: c.oob, id: c.input.idText, args: c.argumentsText ?? null };
}

function shellRoundTrip(cells: readonly CellData[]): void {
  const script = toQmpShell(cells);
  const back = parseCell(script, 'qmp-shell', schema);
  assert.deepEqual(back.errors, [], script);
  const again = back.items.filter((i): i is CommandItem => i.kind === 'command');
  assert.deepEqual(again.map(essence), commandsOf(cells).map(essence), script);
}

const hard: CellData[] = [
  { kind: 'code', language: 'qmp', source: [
    '{ "execute": "qom-set", "arguments": { "path": "/machine", "property": "x", "value": "123" } }',
    '{ "execute": "qom-set", "arguments": { "path": "/machine peripheral", "property": "true", "value": 18446744073709551615 } }',
    '{ "execute": "human-monitor-command", "id": "mine-1", "arguments": { "command-line": "info \\"status\\" = x" } }',
    '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "n-1", "size": 1048576, "read-zeroes": false, "cache": { "direct": false, "no-flush": true } } }',
    '{ "execute": "transaction", "arguments": { "actions": [ { "type": "block-dirty-bitmap-add", "data": { "node": "n-1", "name": "b 0" } } ] } }',
    '{ "exec-oob": "query-yank", "id": 7 }',
    '{ "execute": "query-status" }',
    '{ "wait-event": "STOP", "timeout": 100 }',
  ].join('\n') },
  { kind: 'code', language: 'qmp-shell', source: 'device_del id=kbd0\nquery-yank --oob' },
  { kind: 'code', language: 'hmp', source: 'info status\ninfo version' },
];

describe('export: qmp-shell', () => {
  test('hard values read back as the same commands', () => {
    assert.equal(commandsOf(hard).length, 11, 'every command of the hard cells parses');
    shellRoundTrip(hard);
  });

  for (const file of readdirSync(path.join(root, 'samples')).filter((f) => f.endsWith('.qmp'))) {
    test(`samples/${file} reads back as the same commands`, () => {
      const cells = parseNotebook(readFileSync(path.join(root, 'samples', file), 'utf8')).cells;
      assert.ok(commandsOf(cells).length > 0);
      shellRoundTrip(cells);
    });
  }

  test('waits and expectations become comments; a cell with problems is said, not sent', () => {
    const script = toQmpShell([...hard, { kind: 'code', language: 'qmp', source: '{ "execute": ' }]);
    assert.match(script, /^# then wait for the event STOP \(at most 100 ms\)$/m);
    assert.match(script, /^# not exported: the cell has \d+ problems?$/m);
    assert.match(script, /^qom-set path=\/machine property=x value="123"$/m);
    assert.match(script, /^query-yank --oob --id=7$/m);
  });
});

describe('export: JSON lines, Markdown, HTML', () => {
  test('JSON lines: capabilities first, then one command per line, exact', () => {
    const lines = toJsonLines(hard).trimEnd().split('\n');
    assert.equal(lines[0], '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}');
    assert.deepEqual(lines.slice(1), commandsOf(hard).map((c) => c.json));
    assert.ok(lines.some((l) => l.includes('18446744073709551615')));
    for (const l of lines) JSON.parse(l);
  });

  test('Markdown keeps the prose, fences each cell and its outputs', () => {
    const data = parseNotebook(readFileSync(path.join(root, 'samples', 'saved-session.qmp'), 'utf8'));
    const md = exportNotebook(data, 'markdown', 'saved-session.qmp');
    assert.match(md, /^# saved-session\.qmp$/m);
    assert.match(md, /^# A saved session$/m);
    assert.match(md, /^```json\n\{ "execute": "query-status" \}\n```$/m);
    assert.match(md, /^Output:\n\n```text\n<- \{"return": \{"status": "prelaunch"/m);
  });

  test('HTML escapes everything and needs nothing from outside', () => {
    const html = exportNotebook({ cells: [{ kind: 'markdown', language: 'markdown', source: '<script>alert(1)</script>' }, ...hard] }, 'html', 'a <b> test');
    assert.doesNotMatch(html, /<script>/);
    assert.match(html, /&lt;script&gt;/);
    assert.match(html, /<title>a &lt;b&gt; test<\/title>/);
    assert.doesNotMatch(html, /(src|href)=/);
  });
});
