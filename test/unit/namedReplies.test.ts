// Named replies: the notation (format/references.ts), resolving and substituting (run/namedReplies.ts), the
// plan's marks and the engine's hook (a later cell sends the value of an earlier cell's reply).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { findCellName, parseCell, scanString, wholeReference } from '../../src/format';
import {
  compactJson, NamedReplies, planCell, resolveReference, RunEngine, substituteStep,
  type EngineClient, type FailureRecord, type SentRecord, type TranscriptRecord,
} from '../../src/run/index';
import { parseJsonTree } from '../../src/run/jsonTree';
import type { CommandInput, CommandReply, QmpEventRecord } from '../../src/qmp/client';
import { assertLinear } from '../support/linear';

function store(entries: Record<string, string>): NamedReplies {
  const names = new NamedReplies();
  let cell = 0;
  for (const [k, raw] of Object.entries(entries)) names.save(k, { ok: true, raw, cell: cell++ });
  return names;
}

const STATUS = '{"return": {"status": "running", "running": true, "size": 18446744073709551615, "list": [{"a": 1}, {"odd key": "v"}]}, "id": "#1"}';

describe('named replies: the notation', () => {
  test('a reference reads a name, members, indexes and quoted keys; spaces inside the braces', () => {
    const s = scanString('x {{ st.return.list[1]["odd key"] }} y');
    assert.equal(s.errors.length, 0);
    assert.deepEqual(s.refs[0]?.path, [{ key: 'return' }, { key: 'list' }, { index: 1 }, { key: 'odd key' }]);
    assert.equal(s.refs[0]?.name, 'st');
    assert.deepEqual(s.pieces.map((p) => ('text' in p ? p.text : '@')), ['x ', '@', ' y']);
  });

  test('\\{{ is a literal {{; \\\\{{ is a backslash then a reference; a malformed {{ is an error', () => {
    assert.deepEqual(scanString('a\\{{b}}').pieces, [{ text: 'a{{b}}' }]);
    const two = scanString('a\\\\{{b}}');
    assert.deepEqual(two.pieces.map((p) => ('text' in p ? p.text : p.ref.name)), ['a\\', 'b']);
    assert.match(scanString('{{1x}}').errors[0]?.message ?? '', /\\\{\{ for a literal/);
    assert.match(scanString('{{a.}}').errors[0]?.message ?? '', /member name after '\.'/);
    assert.match(scanString('{{a[x]}}').errors[0]?.message ?? '', /index is written \[N\]/);
    assert.match(scanString('{{a.b').errors[0]?.message ?? '', /expected '\}\}'/);
  });

  test('whole-string references only when the string is exactly one reference', () => {
    assert.equal(wholeReference('{{a.return}}')?.name, 'a');
    assert.equal(wholeReference('{{a.return}} '), undefined);
    assert.equal(wholeReference('{{a}}{{b}}'), undefined);
    assert.equal(wholeReference('\\{{a}}'), undefined);
  });

  test('the name line: // @name in qmp, # or // in qmp-shell, # in hmp; one per cell; a plain name', () => {
    assert.equal(findCellName('// @name status\n-> {"execute": "query-status"}', 'qmp').name?.name, 'status');
    assert.equal(findCellName('  #   @name st-1  \nquery-status', 'qmp-shell').name?.name, 'st-1');
    assert.equal(findCellName('# @name h\ninfo status', 'hmp').name?.name, 'h');
    assert.equal(findCellName('# @name h\n{}', 'qmp').name, undefined, '# is not a comment in a qmp cell');
    assert.equal(findCellName('// @named x', 'qmp').name, undefined);
    assert.match(findCellName('// @name a\n// @name b', 'qmp').errors[0]?.message ?? '', /already named 'a'/);
    assert.match(findCellName('// @name 9a', 'qmp').errors[0]?.message ?? '', /not a reply name/);
    assert.match(findCellName('// @name', 'qmp').errors[0]?.message ?? '', /needs a name/);
  });

  test('scanning is linear in the string, and finding the name line in the cell', () => {
    assertLinear('scanString', (n) => '{{a.b}} x '.repeat(n) + '{{'.repeat(n) + '\\{{'.repeat(n), scanString, 100000);
    assertLinear('findCellName', (n) => '// @name\n'.repeat(n) + '# x\n'.repeat(n), (s) => findCellName(s, 'qmp-shell'), 100000);
  });

  test('a qmp-shell value {{…}} is a string (as qmp-shell reads it), even where the schema wants a number', () => {
    const items = parseCell('block_resize node-name=n size={{st.return.size}}', 'qmp-shell').items;
    assert.equal(items[0]?.kind === 'command' && items[0].argumentsText, '{"node-name":"n","size":"{{st.return.size}}"}');
  });
});

describe('named replies: resolve and substitute', () => {
  test('a whole-string reference keeps the type and the exact literal; inside a string it is text', () => {
    const names = store({ st: STATUS });
    const step = { input: { argumentsText: '{"a":"{{st.return.size}}","b":"is {{st.return.status}}/{{st.return.list[0]}}","c":"{{st.return.running}}","d":"\\\\{{x}}"}' }, label: '{"execute":"x","arguments":{}}' };
    const r = substituteStep(step, names);
    assert.ok('step' in r);
    assert.equal(r.step.input.argumentsText, '{"a":18446744073709551615,"b":"is running/{\\"a\\":1}","c":true,"d":"\\\\{{x}}"}'.replace('\\\\{{x}}', '{{x}}'));
    assert.equal(r.step.label, `{"execute":"x","arguments":${r.step.input.argumentsText}}`, 'the label shows what is sent');
  });

  test('an unknown name, a failed cell, a missing member or element: clear reasons', () => {
    const names = store({ st: STATUS });
    names.save('bad', { ok: false, reason: 'failed (device_add: GenericError: no)', cell: 3 });
    const why = (text: string): string => {
      const ref = scanString(text).refs[0];
      assert.ok(ref);
      const r = resolveReference(ref, names);
      return 'error' in r ? r.error : '';
    };
    assert.match(why('{{nope.return}}'), /no reply is named 'nope' yet: run the cell marked @name nope first/);
    assert.match(why('{{bad.return}}'), /the cell named 'bad' failed \(device_add: GenericError: no\)/);
    assert.match(why('{{st.return.stat}}'), /st\.return has no member 'stat' \(its members: status, running, size, list\)/);
    assert.match(why('{{st.return.list[5]}}'), /st\.return\.list has no element \[5\] \(it has 2\)/);
    assert.match(why('{{st.return.status.x}}'), /st\.return\.status is a string, not an object/);
    assert.match(why('{{st.return[0]}}'), /is an object, not an array/);
  });

  test('property: substitution never produces invalid JSON, whatever the replies and the strings', () => {
    const jsonValue = fc.jsonValue({ maxDepth: 3 });
    const refText = fc.tuple(fc.constantFrom('a', 'b'), fc.array(fc.oneof(fc.constantFrom('.return', '.x', '[0]', '[1]'), fc.string({ maxLength: 4 }).map((k) => `[${JSON.stringify(k)}]`)), { maxLength: 3 }))
      .map(([n, p]) => `{{${n}${p.join('')}}}`);
    const piece = fc.oneof(fc.string({ maxLength: 6 }), refText, fc.constantFrom('\\{{', '{{', '}}', '\\', '"'));
    const str = fc.array(piece, { maxLength: 4 }).map((ps) => ps.join(''));
    fc.assert(fc.property(jsonValue, jsonValue, fc.dictionary(fc.string({ maxLength: 4 }), fc.oneof(str, jsonValue), { maxKeys: 4 }), (a, b, args) => {
      const names = store({ a: JSON.stringify({ return: a }), b: JSON.stringify({ return: b, x: [a, b] }) });
      const argumentsText = JSON.stringify(args);
      const r = substituteStep({ input: { argumentsText }, label: `{"execute":"x","arguments":${argumentsText}}` }, names);
      if ('error' in r) return;
      const text = r.step.input.argumentsText ?? '';
      assert.doesNotThrow(() => JSON.parse(text), text);
      assert.ok(parseJsonTree(text) !== undefined);
      assert.doesNotThrow(() => JSON.parse(r.step.label));
      assert.equal(typeof JSON.parse(text), 'object');
    }), { numRuns: 400 });
  });

  test('substitution is linear in the number of references and in the length of the strings', () => {
    const names = store({ st: STATUS });
    assertLinear('many references in one string', (n) => ({ input: { argumentsText: JSON.stringify({ a: 'x{{st.return.status}}'.repeat(n), b: Array.from({ length: n }, () => '{{st.return.size}}') }) }, label: '{}' }),
      (step) => substituteStep(step, names), 2000);
  });

  test('compactJson keeps literals as written', () => {
    const t = parseJsonTree('{"a": [1.50, 18446744073709551616], "b": "\\u0041"}');
    assert.ok(t);
    assert.equal(compactJson(t), '{"a":[1.50,18446744073709551616],"b":"\\u0041"}');
  });
});

describe('named replies: plan and engine', () => {
  test('the plan carries the name, marks the steps that substitute, and refuses malformed references', () => {
    const plan = planCell('// @name st\n-> {"execute": "query-status"}', 'qmp');
    assert.equal(plan.name, 'st');
    const uses = planCell('-> {"execute": "x", "arguments": {"a": "{{st.return}}"}}\n-> {"execute": "y"}', 'qmp');
    assert.deepEqual(uses.steps.map((s) => s.kind === 'command' && s.refs === true), [true, false]);
    const bad = planCell('-> {"execute": "x", "arguments": {"a": "{{9}}"}}', 'qmp');
    assert.equal(bad.problems.length, 1);
    assert.equal(bad.problems[0]?.line, 0);
  });

  /** Replies to query-status with a scripted reply; records the arguments text of each command. */
  class Client implements EngineClient {
    readonly args: Array<string | undefined> = [];
    constructor(private readonly replies: Record<string, string>) {}
    send(input: CommandInput): Promise<CommandReply> {
      const name = input.execute as string;
      this.args.push(input.argumentsText);
      const raw = this.replies[name] ?? '{"return": {}}';
      const parsed = JSON.parse(raw) as { return?: unknown; error?: { class: string; desc: string } };
      return Promise.resolve(parsed.error
        ? { idText: '"#1"', ok: false, error: parsed.error, raw, sent: '' }
        : { idText: '"#1"', ok: true, value: parsed.return, raw, sent: '' });
    }
    onEvent(): { dispose(): void } { return { dispose: () => undefined }; }
    eventCursor(): number { return 0; }
    waitForEvent(): Promise<QmpEventRecord> { return Promise.reject(new Error('no events here')); }
  }

  test('a later cell sends the value of the earlier cell\'s reply; the sent label shows it; misses fail "not sent"', async () => {
    const client = new Client({ 'query-status': STATUS, 'broken': '{"error": {"class": "GenericError", "desc": "nope"}}' });
    const engine = new RunEngine({ client: () => client });
    const records: TranscriptRecord[] = [];
    const sink = (r: TranscriptRecord): void => { records.push(r); };
    await engine.run([{ cell: 1, plan: planCell('// @name st\n-> {"execute": "query-status"}', 'qmp') }], sink);
    const r2 = await engine.run([{ cell: 2, plan: planCell('echo s={{st.return.status}} n={{st.return.size}}', 'qmp-shell') }], sink);
    assert.deepEqual(r2.outcomes, ['succeeded']);
    assert.equal(client.args[1], '{"s":"running","n":18446744073709551615}');
    const sent = records.filter((r): r is SentRecord => r.type === 'sent' && r.cell === 2);
    assert.equal(sent[0]?.label, '{"execute":"echo","arguments":{"s":"running","n":18446744073709551615}}');
    // A failed named cell: the name holds the failure, and a use says so without sending anything.
    await engine.run([{ cell: 3, plan: planCell('// @name st\n-> {"execute": "broken"}', 'qmp') }], sink);
    const before = client.args.length;
    const r4 = await engine.run([{ cell: 4, plan: planCell('-> {"execute": "x", "arguments": {"v": "{{st.return}}"}}', 'qmp') }], sink);
    assert.deepEqual(r4.outcomes, ['failed']);
    assert.equal(client.args.length, before, 'nothing was sent');
    const failure = records.find((r): r is FailureRecord => r.type === 'failure' && r.cell === 4);
    assert.equal(failure?.kind, 'not-sent-because-invalid');
    assert.match(failure?.message ?? '', /x was not sent: \{\{st\.return\}\}: the cell named 'st' failed \(broken: GenericError: nope\)/);
    // A job's own store (one per notebook) is separate from the engine's.
    const own = new NamedReplies();
    const r5 = await engine.run([{ cell: 5, plan: planCell('// @name q\nquery-status', 'qmp-shell'), names: own }], sink);
    assert.deepEqual(r5.outcomes, ['succeeded']);
    assert.equal(own.get('q')?.ok, true);
    assert.equal(engine.names.get('q'), undefined);
    engine.dispose();
  });
});
