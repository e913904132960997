// Export of a notebook (src/export): the qmp-shell script read back by our own qmp-shell parser gives the same
// commands (name, out-of-band, id, arguments with every literal exact), for the shipped samples and for values
// chosen to be hard (numeric-looking strings, spaces, quotes, big integers, nesting, ids); JSON lines are the
// commands as QEMU reads them; Markdown and HTML carry every cell and output, HTML escaped.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseCell, parseNotebook, type CellData, type CommandItem } from '../../src/format';
import { exportNotebook, toJsonLines, toQmpShell } from '../../src/export/export';
import { fixtureSchema } from './schemaFixtures';

const root = path.resolve(__dirname, '..', '..', '..');
const schema = fixtureSchema('7.2');

function commandsOf(cells: readonly CellData[]): CommandItem[] {
  return cells.flatMap((c) => (c.kind === 'code' ? parseCell(c.source, c.language, schema).items : []))
    .filter((i): i is CommandItem => i.kind === 'command');
}

/** What a command is, for comparing: everything QEMU would receive (qmp-shell sends no ids: `withId` false). */
function essence(c: CommandItem, withId = true): unknown {
  return { name: c.name, oob: c.oob, ...(withId ? { id: c.input.idText } : {}), args: c.argumentsText ?? null };
}

/**
 * The script read back by our own parser gives the same commands (ids aside) as the notebook, but for those it
 * says as a comment with their exact JSON (what QEMU's qmp-shell cannot send; test/qemu/interop.test.ts runs
 * the script through the real one). Lines it sends hold only what qmp-shell reads the same way: no options,
 * no quotes outside a JSON value, a JSON value with no space outside its strings.
 */
function shellRoundTrip(cells: readonly CellData[]): void {
  const script = toQmpShell(cells);
  const back = parseCell(script, 'qmp-shell', schema);
  assert.deepEqual(back.errors, [], script);
  const again = back.items.filter((i): i is CommandItem => i.kind === 'command');
  const unsaid = new Set(script.split('\n').flatMap((l) => /^# qmp-shell cannot send this command[^;]*; as JSON: (.*)$/.exec(l)?.[1] ?? []));
  const expected = commandsOf(cells).filter((c) => !unsaid.has(c.json) && c.name !== 'qmp_capabilities');
  assert.deepEqual(again.map((c) => essence(c, false)), expected.map((c) => essence(c, false)), script);
  for (const line of script.split('\n')) {
    if (line === '' || line.startsWith('# ')) continue;
    // qmp-shell's own tokenizer (qmp_shell.py, _build_cmd).
    for (const token of (line.match(/(?:[^\s"']|"(?:\\.|[^"])*"|'(?:\\.|[^'])*')+/g) ?? []).slice(1)) {
      const value = token.slice(token.indexOf('=') + 1);
      assert.ok(token.includes('=') && !token.startsWith('-'), `${token} in ${line}`);
      if (!/^[{[]/.test(value)) assert.doesNotMatch(value, /["'\s]/, line);
    }
  }
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

  test('waits, expectations and what qmp-shell cannot send become comments; a cell with problems is said, not sent', () => {
    const script = toQmpShell([...hard, { kind: 'code', language: 'qmp', source: '{ "execute": ' }]);
    assert.match(script, /^# then wait for the event STOP \(at most 100 ms\)/m);
    assert.match(script, /^# not exported: the cell has \d+ problems?$/m);
    // qmp-shell would send 123 (an integer), "info \"status\"" with its quotes, and has no out-of-band or ids.
    assert.match(script, /^# qmp-shell cannot send this command; as JSON: \{"execute":"qom-set",.*"value":"123"\}\}$/m);
    assert.match(script, /^# qmp-shell cannot send this command; as JSON: .*info \\"status\\" = x/m);
    assert.match(script, /^# qmp-shell cannot send this command \(out of band\); as JSON: \{"exec-oob":"query-yank","id":7\}$/m);
    assert.match(script, /^blockdev-add driver=null-co node-name=n-1 size=1048576 read-zeroes=false cache=\{"direct":false,"no-flush":true\}$/m);
    assert.match(script, /^transaction actions=\[\{"type":"block-dirty-bitmap-add","data":\{"node":"n-1","name":"b 0"\}\}\]$/m);
    // Every comment line is one whose second word has no '=': qmp-shell refuses it and sends nothing.
    for (const l of script.split('\n').filter((x) => x.startsWith('#'))) assert.match(l, /^# [^\s=]+( |$)/, l);
  });

  test('values at the edge of what qmp-shell can say', () => {
    const cell = (args: string): CellData => ({ kind: 'code', language: 'qmp', source: `{ "execute": "x-cmd", "arguments": ${args} }` });
    const line = (args: string): string => (toQmpShell([cell(args)]).trimEnd().split('\n').pop() as string);
    assert.equal(line('{ "a": "" }'), 'x-cmd a=');
    assert.equal(line('{ "a": -5, "b": 18446744073709551616, "c": true }'), 'x-cmd a=-5 b=18446744073709551616 c=true');
    assert.equal(line('{ "a": [ 1, "x y", { } ] }'), 'x-cmd a=[1,"x y",{}]');
    for (const args of ['{ "a": 1.5 }', '{ "a": 1e3 }', '{ "a": null }', '{ "a": "TRUE" }', '{ "a": "1_0" }', '{ "a": "\u0661" }',
      '{ "a": "x y" }', '{ "a": "it\'s" }', '{ "a": "{x" }', '{ "a.b": 1 }', '{ "a": "-x" }']) {
      assert.match(line(args), /^# qmp-shell cannot send this command; as JSON: /, args);
    }
    assert.equal(line('{ "a": "x" }').startsWith('x-cmd'), true);
    assert.equal(toQmpShell([{ kind: 'code', language: 'qmp', source: '{ "execute": "query-status", "id": "me" }' }]).trimEnd().split('\n').slice(-2).join('\n'),
      '# its id "me" is left out: qmp-shell sends none\nquery-status');
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
