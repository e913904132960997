// Saved outputs that do not churn, and the comparison `qmp-notebook test` makes: masks, the JSON tree that
// keeps literals, cell comparison with its event rules, the unified diff, JUnit XML, and --update's splice.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assertLinear } from '../support/linear';
import { canonicalJson, parseJsonTree, printJsonTree, MAX_DEPTH } from '../../src/testing/jsonTree';
import { maskMessage, maskText, parseMask, MASKED, type Mask } from '../../src/testing/masks';
import { stableOutputs, validMasks } from '../../src/testing/savedOutput';
import { cellRules, compareCell, notebookRules, type TestRules } from '../../src/testing/compare';
import { unifiedDiff } from '../../src/testing/diff';
import { junitXml, summaryLine, xmlEscape, jsonRecord, type CellResult } from '../../src/testing/report';
import { replaceOutputs } from '../../src/testing/update';
import { parseNotebook, serializeNotebook, type SavedOutput } from '../../src/format/index';

const masks = (...texts: string[]): Mask[] => texts.map((t) => {
  const m = parseMask(t);
  if ('error' in m) throw new Error(m.error);
  return m;
});
const rules = (over: Partial<TestRules> = {}): TestRules => ({ masks: [], ignoreEvents: new Set(), eventOrder: 'saved', ...over });
const reply = (json: string): SavedOutput => ({ kind: 'message', direction: '<-', json });
const sent = (json: string): SavedOutput => ({ kind: 'message', direction: '->', json });
const ev = (name: string, data = '', secs = 1700000000): SavedOutput =>
  reply(`{"timestamp": {"seconds": ${secs}, "microseconds": ${secs % 1000000}}, "event": "${name}"${data ? `, "data": ${data}` : ''}}`);

describe('json tree', () => {
  test('keeps literals exactly (integers beyond 2^53, exponents, escapes) and member order', () => {
    const text = '{"b":18446744073709551615,"a":[1.50e3,-0,"\\u00e9\\n"],"c":{"x":null,"y":true}}';
    const tree = parseJsonTree(text);
    assert.ok(tree);
    assert.equal(printJsonTree(tree), '{"b": 18446744073709551615, "a": [1.50e3, -0, "\\u00e9\\n"], "c": {"x": null, "y": true}}');
  });
  test('rejects what is not exactly one JSON value', () => {
    for (const bad of ['', '{', '{"a":1,}', '{"a" 1}', '[1,2', '{} {}', "{'a':1}", '{"a":1}x', 'nul']) {
      assert.equal(parseJsonTree(bad), undefined, bad);
    }
  });
  test('deep nesting is refused, not a stack overflow (QEMU stops at 1024 too)', () => {
    const deep = '['.repeat(200_000) + ']'.repeat(200_000);
    assert.equal(parseJsonTree(deep), undefined);
    const ok = '['.repeat(MAX_DEPTH) + ']'.repeat(MAX_DEPTH);
    assert.ok(parseJsonTree(ok));
    // maskMessage keeps such text as it is rather than throwing.
    assert.equal(maskMessage(deep), deep);
  });
  test('masking and comparing a message nested as deep as QEMU allows does not overflow', () => {
    const deep = `{"return": ${'['.repeat(MAX_DEPTH - 1)}{"thread-id": 1}${']'.repeat(MAX_DEPTH - 1)}}`;
    const masked = maskMessage(deep, { masks: masks('**.x', 'return.*') });
    assert.ok(masked.startsWith('{"return": '));
    const r = compareCell({ saved: [reply(deep)], actual: [reply(deep)], replies: new Map(), written: [], rules: rules({ masks: masks('**.thread-id') }) });
    assert.equal(r.ok, true);
  });
  test('canonical form ignores member order and string escapes, not values', () => {
    const a = parseJsonTree('{"a": 1, "b": "\\u0041"}');
    const b = parseJsonTree('{"b":"A","a":1}');
    const c = parseJsonTree('{"b":"A","a":2}');
    assert.ok(a && b && c);
    assert.equal(canonicalJson(a), canonicalJson(b));
    assert.notEqual(canonicalJson(a), canonicalJson(c));
  });
  test('property: print(parse(x)) parses to the same value as x', () => {
    fc.assert(fc.property(fc.jsonValue({ maxDepth: 6 }), (v) => {
      const text = JSON.stringify(v);
      const tree = parseJsonTree(text);
      assert.ok(tree);
      assert.deepEqual(JSON.parse(printJsonTree(tree)), JSON.parse(text));
    }), { numRuns: 300 });
  });
});

describe('masks: built-in volatile values', () => {
  test('event timestamps take a stable form', () => {
    assert.equal(maskMessage('{"timestamp": {"seconds": 1764081234, "microseconds": 258595}, "event": "RESUME"}'),
      '{"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "RESUME"}');
  });
  test('a timestamp member in a reply is not an event timestamp and stays', () => {
    assert.equal(maskMessage('{"return": {"timestamp": 5}}'), '{"return": {"timestamp": 5}}');
  });
  test("the client's own ids are elided; ids the author wrote are kept, whatever their type", () => {
    assert.equal(maskMessage('{"return": {}, "id": "#12"}'), '{"return": {}}');
    assert.equal(maskMessage('{"id": "#4", "error": {"class": "GenericError", "desc": "x"}}'), '{"error": {"class": "GenericError", "desc": "x"}}');
    assert.equal(maskMessage('{"return": {}, "id": "mine"}'), '{"return": {}, "id": "mine"}');
    assert.equal(maskMessage('{"return": {}, "id": 12345678901234567890}'), '{"return": {}, "id": 12345678901234567890}');
    assert.equal(maskMessage('{"execute":"stop","id":"#3"}'), '{"execute": "stop"}');
  });
  test('host thread ids in replies are masked at any depth', () => {
    assert.equal(maskMessage('{"return": [{"cpu-index": 0, "thread-id": 4242, "props": {"core-id": 0}}]}'),
      '{"return": [{"cpu-index": 0, "thread-id": "MASKED", "props": {"core-id": 0}}]}');
  });
  test('paths under a volatile directory are written with its name', () => {
    const dirs = [{ path: '/tmp/qmp-sandbox-Ab12Cd', name: 'SANDBOX_DIR' }];
    assert.equal(maskMessage('{"return": [{"filename": "/tmp/qmp-sandbox-Ab12Cd/disk.img"}]}', { dirs }),
      '{"return": [{"filename": "SANDBOX_DIR/disk.img"}]}');
    assert.equal(maskText('cannot open /tmp/qmp-sandbox-Ab12Cd/x', { dirs }), 'cannot open SANDBOX_DIR/x');
  });
  test('text that is not JSON gets only the text masks and is not lost', () => {
    assert.equal(maskMessage('{"broken": ', { masks: masks('/broken/') }), `{"${MASKED}": `);
  });
});

describe('masks: the notebook\'s own', () => {
  test('a path masks one value in every message, and `*`/`**` reach further', () => {
    assert.equal(maskMessage('{"return": {"uptime": 12.5, "x": 1}}', { masks: masks('return.uptime') }), '{"return": {"uptime": "MASKED", "x": 1}}');
    assert.equal(maskMessage('{"return": [{"a": 1}, {"a": 2}]}', { masks: masks('return.*.a') }), '{"return": [{"a": "MASKED"}, {"a": "MASKED"}]}');
    assert.equal(maskMessage('{"return": [{"a": 1}, {"a": 2}]}', { masks: masks('return.1.a') }), '{"return": [{"a": 1}, {"a": "MASKED"}]}');
    assert.equal(maskMessage('{"data": {"deep": {"offset": 7}}, "event": "X", "timestamp": {"seconds": 1, "microseconds": 2}}', { masks: masks('**.offset') }),
      '{"data": {"deep": {"offset": "MASKED"}}, "event": "X", "timestamp": {"seconds": "SECS", "microseconds": "USECS"}}');
  });
  test('a path that reaches nothing changes nothing', () => {
    assert.equal(maskMessage('{"return": {}}', { masks: masks('return.uptime.x') }), '{"return": {}}');
  });
  test('a pattern replaces what it matches inside strings and text lines, never JSON structure', () => {
    assert.equal(maskMessage('{"return": "pid 1234 running", "id": "u"}', { masks: masks('/pid [0-9]+/') }), '{"return": "MASKED running", "id": "u"}');
    assert.equal(maskMessage('{"return": {"pid 1": 1}}', { masks: masks('/pid [0-9]+/') }), '{"return": {"pid 1": 1}}');
    assert.equal(maskText('took 12 ms', { masks: masks('/[0-9]+ ms/') }), 'took MASKED');
  });
  test('bad masks are errors with a reason', () => {
    for (const bad of ['', 'a..b', '.a', '/(/', '//', '**']) {
      const m = parseMask(bad);
      assert.ok('error' in m, `expected an error for '${bad}'`);
    }
    assert.deepEqual(notebookRules({ masks: ['return.x', '/[/'] }).errors.length, 1);
    assert.equal(validMasks(['return.x', '/[/']).length, 1);
  });
  test('property: masking is idempotent, so saving a saved session again changes nothing', () => {
    const opts = { masks: masks('return.uptime', '/v[0-9]+/', '**.offset'), dirs: [{ path: '/tmp/d', name: 'DIR' }] };
    const arbMessage = fc.record({
      kind: fc.constantFrom('reply', 'event', 'sent'),
      id: fc.oneof(fc.constant(undefined), fc.nat().map((n) => `#${n}`), fc.string()),
      value: fc.jsonValue({ maxDepth: 4 }),
      secs: fc.nat(),
    }).map(({ kind, id, value, secs }) => {
      const body = kind === 'event'
        ? { timestamp: { seconds: secs, microseconds: secs % 1000 }, event: 'E', data: { offset: value, v: 'v12 /tmp/d/x' } }
        : kind === 'reply' ? { return: { uptime: value, other: value } } : { execute: 'x', arguments: { a: value } };
      return JSON.stringify(id === undefined ? body : { ...body, id });
    });
    fc.assert(fc.property(arbMessage, (m) => {
      const once = maskMessage(m, opts);
      assert.equal(maskMessage(once, opts), once);
      const outs = stableOutputs([reply(m)], opts);
      assert.deepEqual(stableOutputs(outs, opts), outs);
    }), { numRuns: 300 });
  });
  test('the same session saved twice is the same bytes', () => {
    const run = (secs: number, id: number): string => serializeNotebook({
      saveOutputs: true,
      cells: [{ kind: 'code', language: 'qmp', source: '{"execute": "stop"}', outputs: stableOutputs([reply(`{"return": {}, "id": "#${id}"}`), ev('STOP', '', secs)]) }],
    });
    assert.equal(run(1764081234, 2), run(1800000000, 9));
  });
});

describe('front matter and cell directives', () => {
  test('masks, ignoreEvents and eventOrder round-trip through the notebook format', () => {
    const text = '---\nprofile: sandbox\nsaveOutputs: true\nmasks: ["return.uptime", "/pid [0-9]+/"]\nignoreEvents: ["RTC_CHANGE"]\neventOrder: any\n---\n\n# T\n';
    const nb = parseNotebook(text);
    assert.deepEqual(nb.masks, ['return.uptime', '/pid [0-9]+/']);
    assert.deepEqual(nb.ignoreEvents, ['RTC_CHANGE']);
    assert.equal(nb.eventOrder, 'any');
    assert.equal(serializeNotebook(nb), text);
  });
  test('a bad value leaves the block as markdown, losing nothing', () => {
    for (const bad of ['masks: return.uptime', 'masks: [1]', 'eventOrder: sometimes', 'ignoreEvents: ["A"]\nignoreEvents: ["B"]']) {
      const text = `---\n${bad}\n---\n\ntext\n`;
      const nb = parseNotebook(text);
      assert.equal(nb.masks, undefined);
      assert.equal(nb.cells[0]?.kind, 'markdown');
      assert.ok(nb.cells[0]?.source.includes(bad.split('\n')[0] as string));
    }
  });
  test('cell directives add to the notebook rules', () => {
    const base = notebookRules({ ignoreEvents: ['A'] }).rules;
    const r = cellRules('// test: any-order\n{"execute": "x"}\n// test: ignore-events B, C\n# test: mask return.uptime', base);
    assert.deepEqual(r.errors, []);
    assert.equal(r.rules.eventOrder, 'any');
    assert.deepEqual([...r.rules.ignoreEvents].sort(), ['A', 'B', 'C']);
    assert.equal(r.rules.masks.length, 1);
    assert.equal(base.ignoreEvents.size, 1, 'the notebook rules are not changed');
    const bad = cellRules('// test: whatever\n// test: mask /(/', base);
    assert.equal(bad.errors.length, 2);
    assert.match(bad.errors[0] as string, /line 1: unknown test directive/);
  });
});

describe('compareCell', () => {
  const base = { replies: new Map<number, string>(), written: [], rules: rules() };
  test('the same session with other timestamps and client ids matches', () => {
    const saved = stableOutputs([reply('{"return": {}, "id": "#2"}'), ev('STOP', '', 1)]);
    const r = compareCell({ ...base, saved, actual: [ev('STOP', '', 99), reply('{"return": {}, "id": "#7"}')] });
    assert.equal(r.ok, true, r.problems.join('\n'));
    assert.equal(r.diff, '');
  });
  test('a changed value fails with a unified diff in the <- notation', () => {
    const saved = [reply('{"return": {"status": "prelaunch", "running": false}}')];
    const r = compareCell({ ...base, saved, actual: [reply('{"return": {"status": "running", "running": true}, "id": "#3"}')] });
    assert.equal(r.ok, false);
    assert.equal(r.problems[0], 'output 1 differs at return.status: expected "prelaunch"; got "running", and at return.running: expected false; got true');
    assert.equal(r.diff, [
      '--- saved', '+++ new', '@@ -1,1 +1,1 @@',
      '-<- {"return": {"status": "prelaunch", "running": false}}',
      '+<- {"return": {"status": "running", "running": true}}',
    ].join('\n'));
  });
  test('member order does not matter; values and their types do', () => {
    const saved = [reply('{"return": {"a": 1, "b": "2"}}')];
    assert.equal(compareCell({ ...base, saved, actual: [reply('{"return": {"b": "2", "a": 1}}')] }).ok, true);
    assert.equal(compareCell({ ...base, saved, actual: [reply('{"return": {"b": 2, "a": 1}}')] }).ok, false);
  });
  test('events keep their saved order unless the rules say any', () => {
    const saved = [reply('{"return": {}}'), ev('A'), ev('B')];
    const actual = [ev('B'), reply('{"return": {}}'), ev('A')];
    const strict = compareCell({ ...base, saved, actual });
    assert.equal(strict.ok, false);
    assert.match(strict.problems.join('\n'), /another order: expected A, B; got B, A/);
    assert.equal(compareCell({ ...base, saved, actual, rules: rules({ eventOrder: 'any' }) }).ok, true);
  });
  test('where an event falls between replies is not compared', () => {
    const saved = [reply('{"return": {}}'), ev('STOP')];
    assert.equal(compareCell({ ...base, saved, actual: [ev('STOP'), reply('{"return": {}}')] }).ok, true);
  });
  test('a missing event and an unexpected one are named', () => {
    const saved = [reply('{"return": {}}'), ev('DEVICE_DELETED', '{"device": "k"}')];
    const r = compareCell({ ...base, saved, actual: [reply('{"return": {}}'), ev('RTC_CHANGE', '{"offset": 1}')] });
    assert.equal(r.ok, false);
    assert.match(r.problems.join('\n'), /expected event DEVICE_DELETED did not arrive/);
    assert.match(r.problems.join('\n'), /unexpected event RTC_CHANGE/);
  });
  test('ignorable events may come or not; masks apply to event data', () => {
    const saved = [reply('{"return": {}}'), ev('BLOCK_JOB_READY', '{"offset": 5}')];
    const actual = [reply('{"return": {}}'), ev('RTC_CHANGE'), ev('BLOCK_JOB_READY', '{"offset": 9}')];
    assert.equal(compareCell({ ...base, saved, actual }).ok, false);
    assert.equal(compareCell({ ...base, saved, actual, rules: rules({ ignoreEvents: new Set(['RTC_CHANGE']), masks: masks('data.offset') }) }).ok, true);
    assert.equal(compareCell({ ...base, saved: [reply('{"return": {}}')], actual, rules: rules({ ignoreEvents: new Set(['RTC_CHANGE', 'BLOCK_JOB_READY']) }) }).ok, true);
  });
  test('a cell without saved outputs fails unless it shows nothing', () => {
    const r = compareCell({ ...base, saved: undefined, actual: [reply('{"return": {}}')] });
    assert.equal(r.ok, false);
    assert.match(r.problems[0] as string, /--update/);
    assert.equal(compareCell({ ...base, saved: undefined, actual: [] }).ok, true);
  });
  test('failure text lines and sent commands are compared in order', () => {
    const saved = [sent('{"execute": "x"}'), reply('{"return": {}}'), { kind: 'text' as const, text: 'Timeout: line 2: no STOP event within 10 ms' }];
    assert.equal(compareCell({ ...base, saved, actual: saved }).ok, true);
    const r = compareCell({ ...base, saved, actual: saved.slice(0, 2) });
    assert.equal(r.ok, false);
    assert.match(r.problems[0] as string, /missing output: \/\/ Timeout/);
  });
  test('a <- reply written in the cell is compared with masks, its id only when written', () => {
    const written = [{ step: 0, command: 'query-x', json: '{"return": {"uptime": 1, "a": "b"}}', line: 4 }];
    const replies = new Map([[0, '{"return": {"a": "b", "uptime": 99}, "id": "#5"}']]);
    const saved = [reply('{"return": {"a": "b", "uptime": 1}}')];
    const actual = [reply('{"return": {"a": "b", "uptime": 99}}')];
    const masked = rules({ masks: masks('return.uptime') });
    assert.equal(compareCell({ saved, actual, replies, written, rules: masked }).ok, true);
    const r = compareCell({ saved, actual, replies, written, rules: rules() });
    assert.equal(r.ok, false);
    assert.match(r.problems.join('\n'), /the reply to query-x \(line 4\) differs from the <- reply written under it/);
    assert.match(r.diff, /--- written in the cell/);
    const none = compareCell({ saved, actual, replies: new Map(), written, rules: masked });
    assert.match(none.problems.join('\n'), /got no reply/);
  });
  test('a flood of events compares in linear time', () => {
    const flood = (n: number): { saved: SavedOutput[]; actual: SavedOutput[] } => ({
      saved: Array.from({ length: n }, (_, i) => ev('E', `{"i": ${i}}`)),
      actual: Array.from({ length: n }, (_, i) => ev('E', `{"i": ${n - 1 - i}}`, i)),
    });
    const { saved, actual } = flood(20_000);
    assert.equal(compareCell({ ...base, saved, actual, rules: rules({ eventOrder: 'any' }) }).ok, true);
    assert.equal(compareCell({ ...base, saved, actual }).ok, false);
    assertLinear('compareCell, any event order', flood, (f) => compareCell({ ...base, ...f, rules: rules({ eventOrder: 'any' }) }), 2500);
    assertLinear('compareCell, strict event order', flood, (f) => compareCell({ ...base, ...f }), 2500);
  });
});

describe('unified diff', () => {
  test('equal lists give nothing', () => {
    assert.equal(unifiedDiff(['a'], ['a'], 'x', 'y'), '');
  });
  test('hunks with context, as diff -u prints them', () => {
    const a = ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10'];
    const b = ['1', '2', '3', '4', 'five', '6', '7', '8', '9', '10', '11'];
    assert.equal(unifiedDiff(a, b, 'saved', 'new'), [
      '--- saved', '+++ new',
      '@@ -2,9 +2,10 @@', ' 2', ' 3', ' 4', '-5', '+five', ' 6', ' 7', ' 8', ' 9', ' 10', '+11',
    ].join('\n'));
    assert.equal(unifiedDiff([], ['x'], 'a', 'b'), '--- a\n+++ b\n@@ -0,0 +1,1 @@\n+x');
    assert.equal(unifiedDiff(['x'], [], 'a', 'b'), '--- a\n+++ b\n@@ -1,1 +0,0 @@\n-x');
  });
  test('far-apart changes make separate hunks', () => {
    const a = Array.from({ length: 30 }, (_, i) => String(i));
    const b = a.map((l, i) => (i === 2 || i === 25 ? `${l}!` : l));
    const d = unifiedDiff(a, b, 'a', 'b');
    assert.equal(d.split('\n').filter((l) => l.startsWith('@@')).length, 2);
  });
  test('property: applying the diff\'s - and + lines gives back both sides', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 30 }), fc.array(fc.constantFrom('a', 'b', 'c', 'd'), { maxLength: 30 }), (a, b) => {
      const d = unifiedDiff(a, b, 'A', 'B', 1_000_000);
      if (d === '') { assert.deepEqual(a, b); return; }
      const body = d.split('\n').slice(3);
      assert.deepEqual(body.filter((l) => !l.startsWith('+')).map((l) => l.slice(1)), a);
      assert.deepEqual(body.filter((l) => !l.startsWith('-')).map((l) => l.slice(1)), b);
    }), { numRuns: 300 });
  });
  test('huge inputs stay bounded (no quadratic table beyond the cap)', () => {
    const lines = (n: number): { a: string[]; b: string[] } => ({
      a: Array.from({ length: n }, (_, i) => `a${i}`),
      b: Array.from({ length: n }, (_, i) => `b${i}`),
    });
    const { a, b } = lines(50_000);
    assert.equal(unifiedDiff(a, b, 'a', 'b').split('\n').length, 3 + 100_000);
    // 12,500 lines and 8×: both sizes meet V8's young-generation collections (at 6,250 the small one fits whole
    // in the young generation and its 8× alone pays the collector: ratio 60 on a linear diff).
    assertLinear('unifiedDiff beyond its table cap', lines, (x) => unifiedDiff(x.a, x.b, 'a', 'b'), 12_500);
  });
});

describe('reports', () => {
  const results: CellResult[] = [
    { file: 'a.qmp', cell: 2, line: 5, status: 'passed', problems: [], diff: '', ms: 12 },
    { file: 'a.qmp', cell: 4, line: 9, status: 'failed', problems: ['output 1 differs: <"&>'], diff: '--- saved\n+++ new\n-<- {"a": 1}\n+<- {"a": 2}', ms: 3, name: 'query-x [01234567]', type: 'mismatch', at: { line: 12, col: 8 } },
    { file: 'b.qmp', cell: 1, status: 'error', problems: ['QEMU went away: \u0001 bye'], diff: '', ms: 1 },
  ];
  test('JUnit XML: one testcase per cell, failures with their diff, errors, escaped', () => {
    const xml = junitXml(results, ['a.qmp', 'b.qmp']);
    assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<testsuites name="qmp-notebook test" tests="3" failures="1" errors="1"/);
    assert.match(xml, /<testsuite name="a.qmp" tests="2" failures="1" errors="0" skipped="0" time="0.015">/);
    assert.match(xml, /<testcase classname="a.qmp" name="cell 2 \(line 5\)" time="0.012"\/>/);
    assert.match(xml, /<testcase classname="a.qmp" name="query-x \[01234567\]" time="0.003">/);
    assert.match(xml, /<failure message="output 1 differs: &lt;&quot;&amp;&gt;" type="mismatch">a.qmp:12:8: error: cell 4 \(query-x \[01234567\]\): output 1 differs: &lt;"&amp;&gt;\n\n--- saved\n\+\+\+ new\n-&lt;- \{"a": 1\}/);
    assert.match(xml, /<error message="QEMU went away: \uFFFD bye" type="notebook-error">/);
    assert.equal(xml.split('<testcase ').length - 1, 3);
    // Well-formed: every opened element closes.
    for (const tag of ['testsuites', 'testsuite', 'testcase', 'failure', 'error']) {
      const opens = (xml.match(new RegExp(`<${tag}[ >]`, 'g')) ?? []).length;
      const selfClosed = (xml.match(new RegExp(`<${tag} [^>]*/>`, 'g')) ?? []).length;
      const closes = (xml.match(new RegExp(`</${tag}>`, 'g')) ?? []).length;
      assert.equal(opens - selfClosed, closes, tag);
    }
  });
  test('xmlEscape drops what XML cannot hold and keeps astral characters', () => {
    assert.equal(xmlEscape('a\u0000b\uD800c😀'), 'a\uFFFDb\uFFFDc😀');
    assert.equal(xmlEscape('"\n', true), '&quot;&#10;');
  });
  test('closing line and JSON records', () => {
    assert.equal(summaryLine(results), '1 passed, 2 failed');
    const rec = JSON.parse(jsonRecord(results[1] as CellResult)) as Record<string, unknown>;
    assert.deepEqual(Object.keys(rec), ['file', 'cell', 'line', 'name', 'status', 'type', 'at', 'problems', 'diff', 'ms']);
    assert.equal(rec['status'], 'failed');
  });
});

describe('--update: only the outputs change', () => {
  const odd = [
    '---', 'profile: sandbox', 'saveOutputs: true', '---', '', '',
    '#   Odd   formatting  ', 'text with trailing spaces   ', '', '', '',
    '```qmp', '{ "execute": "query-status" }', '```', '',
    '```qmp-output', '<- {"return": {"status": "old"}}', '```', '', '',
    '<!-- markdown-cell -->', '```qmp', 'not a cell', '```', '<!-- /markdown-cell -->', '',
    '````hmp', 'info status', '````', '\t\tindented text', '',
    '```qmp-shell', 'stop', '```',
  ].join('\n');
  const outs = (...json: string[]): SavedOutput[] => json.map(reply);

  test('replaces, inserts and removes output blocks; every other byte stays', () => {
    const r = replaceOutputs(odd, new Map([[0, outs('{"return": {"status": "new"}}')], [1, outs('{"return": "VM status: paused\\r\\n"}')], [2, []]]));
    assert.ok('text' in r, 'error' in r ? r.error : '');
    const expected = odd
      .replace('<- {"return": {"status": "old"}}', '<- {"return": {"status": "new"}}')
      .replace('info status\n````', 'info status\n````\n\n```qmp-output\n<- {"return": "VM status: paused\\r\\n"}\n```');
    assert.equal(r.text, expected);
    const again = replaceOutputs(r.text, new Map([[0, []]]));
    assert.ok('text' in again);
    assert.equal(again.text, expected.replace('\n\n```qmp-output\n<- {"return": {"status": "new"}}\n```', ''));
  });
  test('CRLF files and a byte order mark are kept', () => {
    const text = '\uFEFF' + '```qmp\r\n{"execute": "stop"}\r\n```\r\n';
    const r = replaceOutputs(text, new Map([[0, outs('{"return": {}}')]]));
    assert.ok('text' in r);
    assert.equal(r.text, '\uFEFF```qmp\r\n{"execute": "stop"}\r\n```\r\n\r\n```qmp-output\r\n<- {"return": {}}\r\n```\r\n');
  });
  test('a file without a final newline keeps it that way', () => {
    const r = replaceOutputs('```qmp\n{"execute": "stop"}\n```', new Map([[0, outs('{"return": {}}')]]));
    assert.ok('text' in r);
    assert.equal(r.text, '```qmp\n{"execute": "stop"}\n```\n\n```qmp-output\n<- {"return": {}}\n```');
  });
  test('an unclosed fence or a plain JSON file cannot take outputs: an error, nothing written', () => {
    const r = replaceOutputs('```qmp\n{"execute": "stop"}\n', new Map([[0, outs('{"return": {}}')]]));
    assert.ok('error' in r);
    const plain = replaceOutputs('{"execute": "stop"}\n', new Map([[0, outs('{"return": {}}')]]));
    assert.ok('error' in plain);
  });
  test('outputs holding backtick fences get a longer fence and read back', () => {
    const withFences: SavedOutput[] = [...outs('{"return": "```\\n"}'), { kind: 'text', text: '```' }];
    const r = replaceOutputs('```hmp\ninfo x\n```\n', new Map([[0, withFences]]));
    assert.ok('text' in r, 'error' in r ? r.error : '');
    assert.deepEqual(parseNotebook(r.text).cells[0]?.outputs?.length, 2);
  });
  test('linear on hostile files: many unclosed output fences and verbatim-cell markers', () => {
    const hostile = (n: number): string => Array.from({ length: n }, () => '```qmp\n{"execute": "stop"}\n```\n```qmp-output\n<!-- markdown-cell -->\njunk').join('\n') + '\n';
    const text = hostile(20_000);
    const r = replaceOutputs(text, new Map([[0, outs('{"return": {}}')]]));
    if ('text' in r) assert.equal(r.text.length > text.length, true);
    assertLinear('replaceOutputs on unclosed fences', hostile, (t) => replaceOutputs(t, new Map([[0, outs('{"return": {}}')]])), 2500);
  });
  test('property: for generated notebooks, only the outputs change', () => {
    const cell = fc.record({
      language: fc.constantFrom('qmp', 'qmp-shell', 'hmp'),
      source: fc.constantFrom('{"execute": "stop"}', 'stop', 'info status', ''),
      before: fc.array(fc.constantFrom('# text', '', 'some  words  ', '```bash', 'ls', '```'), { maxLength: 4 }),
      outputs: fc.option(fc.array(fc.constantFrom('{"return": {}}', '{"return": 1}'), { maxLength: 2 })),
      next: fc.option(fc.array(fc.constantFrom('{"return": {"x": 1}}', '{"return": []}'), { maxLength: 2 })),
    });
    fc.assert(fc.property(fc.array(cell, { minLength: 1, maxLength: 5 }), (cells) => {
      const text = cells.map((c) => [
        ...c.before, '', '```' + c.language, ...(c.source ? [c.source] : []), '```',
        ...(c.outputs && c.outputs.length ? ['', '```qmp-output', c.outputs.map((o) => `<- ${o}`).join('\n\n'), '```'] : []),
      ].join('\n')).join('\n\n') + '\n';
      const before = parseNotebook(text);
      const codeCount = before.cells.filter((c) => c.kind === 'code').length;
      const updates = new Map<number, SavedOutput[]>();
      cells.forEach((c, k) => { if (k < codeCount && c.next) updates.set(k, outs(...c.next)); });
      const r = replaceOutputs(text, updates);
      if ('error' in r) return; // refusing is allowed; writing something else is not
      const after = parseNotebook(r.text);
      assert.deepEqual(after.cells.map((c) => [c.kind, c.language, c.source]), before.cells.map((c) => [c.kind, c.language, c.source]));
      const strip = (t: string): string => t.replace(/\n*```qmp-output\n[\s\S]*?\n```/g, '');
      assert.equal(strip(r.text), strip(text));
    }), { numRuns: 300 });
  });
});
