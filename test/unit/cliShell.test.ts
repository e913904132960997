// The pieces of `qmp-notebook shell` that need no terminal and no QEMU: gathering typed lines into inputs,
// completion candidates as readline takes them, and how replies print. The terminal itself is tested in
// test/qemu/cliShell.test.ts (tmux).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { hmpText, InputGatherer, HISTORY_SIZE, readHistory, ShellCore, showMessage, writeHistory, type ShellOutput } from '../../src/cli/shell';
import type { CliSession } from '../../src/cli/cli';
import { fixtureSchema } from './schemaFixtures';
import { fakeKernel } from '../support/fakeKernel';

describe('InputGatherer', () => {
  test('one line is one input, in the language its first character says', () => {
    const g = new InputGatherer(false);
    assert.deepEqual(g.feed('query-status'), { kind: 'cell', language: 'qmp-shell', source: 'query-status' });
    assert.deepEqual(g.feed('  {"execute": "query-name"}'), { kind: 'cell', language: 'qmp', source: '{"execute": "query-name"}' });
    assert.deepEqual(g.feed('!info status'), { kind: 'cell', language: 'hmp', source: 'info status' });
    assert.equal(g.feed('   '), undefined);
    assert.equal(g.feed('# a comment'), undefined);
  });

  test('-H makes every line HMP', () => {
    assert.deepEqual(new InputGatherer(true).feed('info block'), { kind: 'cell', language: 'hmp', source: 'info block' });
  });

  test('an open JSON object continues until it closes (braces inside strings do not count)', () => {
    const g = new InputGatherer(false);
    assert.equal(g.feed('{"execute": "qom-get", "arguments": {'), undefined);
    assert.equal(g.open, true);
    assert.equal(g.feed('  "path": "/machine{", "property": "type"'), undefined);
    assert.deepEqual(g.feed('}}'), { kind: 'cell', language: 'qmp', source: '{"execute": "qom-get", "arguments": {\n  "path": "/machine{", "property": "type"\n}}' });
    assert.equal(g.open, false);
  });

  test('a transaction gathers its actions up to the line )', () => {
    const g = new InputGatherer(false);
    assert.equal(g.feed('transaction('), undefined);
    assert.equal(g.feed('  block-dirty-bitmap-add node=n1 name=b0'), undefined);
    assert.deepEqual(g.feed(')'), { kind: 'cell', language: 'qmp-shell', source: 'transaction(\n  block-dirty-bitmap-add node=n1 name=b0\n)' });
  });

  test('a line ending in ? asks for the hover of the word before it', () => {
    assert.deepEqual(new InputGatherer(false).feed('blockdev-add driver?'), { kind: 'hover', language: 'qmp-shell', source: 'blockdev-add driver', offset: 19 });
  });

  test('a cell pasted with its fences is one input in its language, <- lines and all', () => {
    const g = new InputGatherer(false);
    assert.equal(g.feed('```qmp'), undefined);
    assert.equal(g.open, true);
    assert.equal(g.feed('{"execute": "query-name"}'), undefined);
    // Inside a fence, completion looks at the cell so far in the fence's language.
    assert.deepEqual(g.context('<- {"ret'), { language: 'qmp', text: '{"execute": "query-name"}\n<- {"ret' });
    assert.equal(g.feed('<- {"return": {}}'), undefined);
    assert.deepEqual(g.feed('```'), { kind: 'cell', language: 'qmp', source: '{"execute": "query-name"}\n<- {"return": {}}' });
    assert.equal(g.open, false);
    assert.equal(g.feed('``` qmp-shell'), undefined);
    assert.equal(g.feed('query-status'), undefined);
    assert.deepEqual(g.feed('````'), { kind: 'cell', language: 'qmp-shell', source: 'query-status' });
    // An empty pasted cell is nothing to run; a `# @name` line before a fence names the cell's reply.
    g.feed('```hmp');
    assert.equal(g.feed('```'), undefined);
    g.feed('# @name st');
    g.feed('```qmp');
    g.feed('{"execute": "query-status"}');
    assert.deepEqual(g.feed('```'), { kind: 'cell', language: 'qmp', source: '// @name st\n{"execute": "query-status"}' });
  });

  test('reset drops an open input', () => {
    const g = new InputGatherer(false);
    g.feed('transaction(');
    g.reset();
    assert.deepEqual(g.feed('query-status'), { kind: 'cell', language: 'qmp-shell', source: 'query-status' });
  });
});

describe('printing', () => {
  test('the client id is left out, an id of the author kept, literals exact', () => {
    assert.equal(showMessage('{"return": {"n": 18446744073709551615}, "id": "#7"}', false), '{"return": {"n": 18446744073709551615}}');
    assert.equal(showMessage('{"return": {}, "id": "mine"}', false), '{"return": {}, "id": "mine"}');
    assert.equal(showMessage('{"return": {"a": [1, 2]}}', true), '{\n  "return": {\n    "a": [\n      1,\n      2\n    ]\n  }\n}');
  });

  test('HMP replies print as text', () => {
    assert.equal(hmpText('{"return": "VM status: paused (prelaunch)\\r\\n"}'), 'VM status: paused (prelaunch)');
    assert.equal(hmpText('{"return": "a\\r\\nb\\r\\n"}'), 'a\nb');
    assert.equal(hmpText('{"error": {"class": "GenericError", "desc": "x"}}'), undefined);
  });
});

function fakeSession(): CliSession {
  const client = {
    onEvent: () => ({ dispose: () => undefined }),
    execute: async () => [],
    send: () => { throw new Error('not used'); },
    eventCursor: () => 0,
    waitForEvent: () => { throw new Error('not used'); },
    setSchema: () => undefined,
  };
  return fakeKernel(client);
}

describe('completion candidates for readline', () => {
  const schema = fixtureSchema('7.2');
  const quiet: ShellOutput = { out: () => undefined, err: () => undefined, event: () => undefined };
  const core = new ShellCore(fakeSession(), schema, quiet, { pretty: false });

  test('a command prefix: the matching commands, and the prefix they replace', async () => {
    const [items, typed] = await core.complete('qmp-shell', 'query-stat');
    assert.equal(typed, 'query-stat');
    assert.deepEqual(items.sort(), ['query-stats ', 'query-stats-schemas ', 'query-status']);
  });

  test('a dotted key at depth 2 and an enum value', async () => {
    assert.deepEqual(await core.complete('qmp-shell', 'blockdev-add driver=null-co cache.dir'), [['direct='], 'dir']);
    assert.deepEqual(await core.complete('qmp-shell', 'blockdev-add driver=null-c'), [['null-co'], 'null-c']);
    assert.deepEqual(await core.complete('qmp-shell', 'blockdev-add driver=null-co cache.direct=t'), [['true'], 't']);
  });

  test('JSON input completes too', async () => {
    const [items, typed] = await core.complete('qmp', '{"execute": "query-stat');
    assert.equal(typed, '"query-stat');
    assert.ok(items.some((i) => i.startsWith('"query-status"')), items.join(' '));
    assert.ok(items.every((i) => i.startsWith(typed)));
  });

  test('HMP and unknown text complete nothing', async () => {
    assert.deepEqual(await core.complete('hmp', 'info st'), [[], '']);
    assert.deepEqual(await core.complete(undefined, 'x'), [[], '']);
  });

  test('hover text is plain text', async () => {
    const text = await core.hover('qmp-shell', 'query-status', 12);
    assert.match(text, /^query-status \(command\)/);
    assert.doesNotMatch(text, /\*\*|`/);
  });
});

describe('named replies in the shell', () => {
  test('{{ completes the names the connection saved and the members of their replies; hover shows the value', async () => {
    const session = fakeSession();
    const core = new ShellCore(session, fixtureSchema('7.2'), { out: () => undefined, err: () => undefined, event: () => undefined }, { pretty: false });
    // Nothing saved yet: no name to offer.
    assert.ok(!(await core.complete('qmp-shell', 'qom-get path=/machine property={{s'))[0].includes('st'));
    session.engine.names.save('st', { ok: true, raw: '{"return": {"status": "prelaunch", "running": false}, "id": "#3"}', cell: 1 });
    assert.deepEqual(await core.complete('qmp-shell', 'qom-get path=/machine property={{s'), [['st'], 's']);
    assert.deepEqual(await core.complete('qmp-shell', 'qom-get path=/machine property={{st.return.'), [['status', 'running'], '']);
    const text = 'qom-get path=/machine property={{st.return.status}}';
    assert.match(await core.hover('qmp-shell', text, text.indexOf('status}}') + 1), /last reply of cell 1\):\s+"prelaunch"/);
    core.dispose();
  });
});

describe('history file', () => {
  test('private, oldest first, bounded, long lines left out', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-hist-'));
    try {
      const file = path.join(dir, 'h');
      const newestFirst = Array.from({ length: HISTORY_SIZE + 50 }, (_, i) => `cmd${HISTORY_SIZE + 49 - i}`);
      writeHistory(file, ['x'.repeat(5000), ...newestFirst]);
      assert.equal(statSync(file).mode & 0o777, 0o600);
      const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
      assert.equal(lines.length, HISTORY_SIZE);
      assert.equal(lines[lines.length - 1], `cmd${HISTORY_SIZE + 49}`);
      assert.deepEqual(readHistory(file).slice(0, 2), [`cmd${HISTORY_SIZE + 49}`, `cmd${HISTORY_SIZE + 48}`]);
      assert.deepEqual(readHistory(path.join(dir, 'missing')), []);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
