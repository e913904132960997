// Named replies in the language services: completion after a typed prefix (names, then members from the last
// reply or from the schema), the warning for a name no cell above defines, hover with the current value.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { languageService, type NamedContext } from '../../src/language/service';
import { fixtureSchema } from './schemaFixtures';
import { planCell } from '../../src/run/index';

const schema = fixtureSchema('10.0');
const REPLY = '{"return": {"status": "running", "running": true, "odd key": 1}, "id": "#1"}';

function ctx(replies: Record<string, string> = {}): NamedContext {
  return {
    above: new Map([['status', { command: 'query-status', cell: 0 }], ['blk', { command: 'query-named-block-nodes', cell: 1 }]]),
    below: new Set(['later']),
    reply: (name) => replies[name],
  };
}

/** Completes at `|` in `text`; returns the labels and the text after applying the first item. */
function complete(language: string, marked: string, named: NamedContext, label?: string): { labels: string[]; applied: string } {
  const offset = marked.indexOf('|');
  const text = marked.replace('|', '');
  const svc = languageService(language);
  assert.ok(svc);
  const items = svc.complete(text, offset, { schema, named }).items;
  const item = label !== undefined ? items.find((i) => i.label === label) : items[0];
  const applied = item ? text.slice(0, item.range.start) + item.insertText + text.slice(item.range.end) : text;
  return { labels: items.map((i) => i.label), applied };
}

describe('named replies: completion', () => {
  test('after {{ and a typed prefix: the names of the cells above', () => {
    const r = complete('qmp', '{"execute": "x", "arguments": {"a": "{{st|"}}', ctx(), 'status');
    assert.deepEqual(r.labels, ['status', 'blk']);
    assert.equal(r.applied, '{"execute": "x", "arguments": {"a": "{{status"}}');
    const shell = complete('qmp-shell', 'device_del id={{b|', ctx(), 'blk');
    assert.equal(shell.applied, 'device_del id={{blk');
  });

  test('after NAME. the members of the last reply; a key that is not a plain word is written ["key"]', () => {
    const replies = { status: REPLY };
    assert.deepEqual(complete('qmp', '"{{status.|', ctx(replies)).labels, ['return', 'id']);
    const r = complete('qmp', '"{{status.return.ru|}}"', ctx(replies), 'running');
    assert.deepEqual(r.labels, ['status', 'running', 'odd key']);
    assert.equal(r.applied, '"{{status.return.running}}"');
    assert.equal(complete('qmp', '"{{status.return.|', ctx(replies), 'odd key').applied, '"{{status.return["odd key"]');
  });

  test('before the named cell has run: the members of its command\'s return type, from the schema', () => {
    assert.deepEqual(complete('qmp', '"{{status.|', ctx()).labels, ['return']);
    const labels = complete('qmp-shell', 'stop x={{status.return.|', ctx()).labels;
    assert.ok(labels.includes('status') && labels.includes('running'), labels.join());
    const nodes = complete('qmp', '"{{blk.return[0].|', ctx()).labels;
    assert.ok(nodes.includes('node-name') && nodes.includes('image'), nodes.join());
  });

  test('outside a reference, completion is the usual one', () => {
    const r = complete('qmp', '{"execute": "query-st|"}', ctx());
    assert.ok(r.labels.includes('query-status'), r.labels.join());
  });
});

describe('named replies: diagnostics and hover', () => {
  test('a name no cell above defines is a warning; a name only a cell below defines says so', () => {
    const svc = languageService('qmp');
    assert.ok(svc);
    const text = '{"execute": "x", "arguments": {"a": "{{status.return}}", "b": "{{nope.x}}", "c": "{{later.return}}"}}';
    const d = svc.diagnose(text, { named: ctx() }).filter((x) => x.code === 'unknown-reply-name');
    assert.deepEqual(d.map((x) => text.slice(x.start, x.end)), ['{{nope.x}}', '{{later.return}}']);
    assert.match(d[0]?.message ?? '', /No cell above is named 'nope'/);
    assert.match(d[1]?.message ?? '', /named by a cell below this one/);
    assert.equal(d[0]?.severity, 'warning');
    assert.deepEqual(svc.diagnose(text, {}).filter((x) => x.code === 'unknown-reply-name'), [], 'no notebook, no warning');
  });

  test('a whole reference is not type-checked by the schema (its type is the named value\'s)', () => {
    const svc = languageService('qmp');
    assert.ok(svc);
    const text = '{"execute": "block_resize", "arguments": {"node-name": "n", "size": "{{status.return.size}}"}}';
    assert.deepEqual(svc.diagnose(text, { schema, named: ctx() }).filter((x) => x.code === 'wrong-type'), []);
    const plain = '{"execute": "block_resize", "arguments": {"node-name": "n", "size": "12"}}';
    assert.equal(svc.diagnose(plain, { schema }).filter((x) => x.code === 'wrong-type').length, 1);
  });

  test('a malformed {{ in a command string is an error where the runner refuses the cell; keys and replies are not checked', () => {
    const svc = languageService('qmp');
    assert.ok(svc);
    const text = '{"execute": "x", "arguments": {"{{k": "{{st.return.}}", "b": "\\\\{{ok"}}\n<- {"return": "{{"}';
    const d = svc.diagnose(text, {}).filter((x) => x.code === 'bad-reference');
    assert.deepEqual(d.map((x) => text.slice(x.start, x.end)), ['"{{st.return.}}"']);
    assert.equal(d[0]?.severity, 'error');
    assert.match(d[0]?.message ?? '', /expected a member name after '\.'.*the cell is not sent/);
    assert.ok(planCell(text, 'qmp').problems.some((p) => /expected a member name after '\.'/.test(p.message)), 'the runner refuses it too');
    const shell = languageService('qmp-shell');
    assert.ok(shell);
    const st = 'device_del id="{{st[x]}}"\n# {{ a comment';
    const sd = shell.diagnose(st, {}).filter((x) => x.code === 'bad-reference');
    assert.deepEqual(sd.map((x) => st.slice(x.start, x.end)), ['{{st[x]}}']);
    assert.ok(planCell(st, 'qmp-shell').problems.length > 0);
  });

  test('hover shows the value the reference has now, or that the cell has not run', () => {
    const svc = languageService('qmp-shell');
    assert.ok(svc);
    const text = 'stop x={{status.return.status}}';
    const h = svc.hover(text, 12, { named: ctx({ status: REPLY }) });
    assert.match(h?.contents ?? '', /status\.return\.status` now \(last reply of cell 1\):\n\n```json\n"running"\n```/);
    assert.deepEqual(h?.range, { start: 7, end: text.length });
    assert.match(svc.hover(text, 12, { named: ctx() })?.contents ?? '', /not run yet/);
  });
});

describe('named replies in qmp-notebook check', () => {
  test('a use of a name no cell above defines is a warning at its place; a malformed one an error', async () => {
    const { cliMain } = await import('../../src/cli/cli');
    const { realDeps } = await import('../../src/cli/deps');
    const { readFileSync } = await import('node:fs');
    const pathMod = await import('node:path');
    const schemaFile = pathMod.resolve(__dirname, '..', '..', '..', 'test', 'fixtures', 'qemu-7.2', 'query-qmp-schema.json');
    const nb = [
      '```qmp', '{"execute": "x", "arguments": {"a": "{{later.return}}"}}', '```', '',
      '```qmp', '// @name later', '{"execute": "query-status"}', '```', '',
      '```qmp-shell', 'device_del id={{later.return.status}} x={{nope.return}} y="{{later.}}"', '```', '',
    ].join('\n');
    const files: Record<string, string> = { '/nb.qmp': nb };
    const out: string[] = [];
    const err: string[] = [];
    const code = await cliMain(['check', '/nb.qmp', '--schema', schemaFile], {
      ...realDeps(),
      readFile: (p) => (p in files ? files[p] as string : readFileSync(p, 'utf8')),
      connect: () => { throw new Error('the CLI tried to connect'); },
    }, { out: (l) => out.push(l), err: (l) => err.push(l) });
    const text = [...out, ...err].join('\n');
    assert.equal(code, 1, text);
    assert.match(text, /nb\.qmp:2:\d+: warning: 'later' is named by a cell below this one/);
    assert.match(text, /nb\.qmp:11:\d+: warning: No cell above is named 'nope'/);
    assert.match(text, /nb\.qmp:11:\d+: error: expected a member name after '\.'/);
    assert.doesNotMatch(text, /nb\.qmp:11:\d+: warning: No cell above is named 'later'/);
  });
});
