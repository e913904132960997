// The kernel layer without QEMU: one reader of the connection options for every subcommand (test included),
// the one comparator of written replies (masks, exact integers) that every door uses, and one engine per
// kernel shared by every caller, so an event is attributed once.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { endpointFromOptions, describeEndpoint, Kernel, ENDPOINT_KINDS, endpointKind } from '../../src/kernel/index';
import { parseArgs } from '../../src/cli/args';
import { parseTestArgs } from '../../src/cli/test';
import { compareReplyText } from '../../src/run/compare';
import { compareCell } from '../../src/testing/compare';
import { notebookRules } from '../../src/run/rules';
import { planCell, type TranscriptRecord } from '../../src/run/index';
import { parseNotebook } from '../../src/format/index';
import { ScriptedClient } from '../support/scriptedClient';

describe('one reader of the connection options', () => {
  const cases: Array<[string[], string]> = [
    [['--socket', '/run/q.sock'], '/run/q.sock'],
    [['--tcp', 'localhost:4444'], 'localhost:4444'],
    [['--sandbox'], 'a sandbox QEMU'],
    [['--storage-daemon'], 'a qemu-storage-daemon'],
    [['--guest-agent', '/run/qga.sock'], 'the guest agent at /run/qga.sock'],
    [['--guest-agent', '127.0.0.1:5555'], 'the guest agent at 127.0.0.1:5555'],
    [['--libvirt', 'vm1', '--connect', 'qemu:///system'], 'the libvirt domain vm1 (qemu:///system)'],
  ];
  for (const [flags, described] of cases) {
    test(`run, check, schema and test accept ${flags.join(' ')} alike`, () => {
      const results = [
        parseArgs(['run', 'x.qmp', ...flags]), parseArgs(['check', 'x.qmp', ...flags]), parseArgs(['schema', ...flags]),
      ].map((r) => {
        assert.ok(r.ok && 'connection' in r.request, JSON.stringify(r));
        return r.request.connection;
      });
      const t = parseTestArgs(['x.qmp', ...flags]);
      assert.ok(t.ok, JSON.stringify(t));
      for (const c of [...results, t.request.connection]) {
        assert.notEqual(c.kind, 'default');
        assert.equal(describeEndpoint(c as never), described);
      }
    });
  }

  test('the same usage errors from every subcommand', () => {
    for (const argv of [['--socket', 'a', '--libvirt', 'd'], ['--connect', 'qemu:///system', '--sandbox'], ['--qemu', 'q', '--storage-daemon'], ['--tcp', 'nohost']]) {
      const run = parseArgs(['run', 'x.qmp', ...argv]);
      const t = parseTestArgs(['x.qmp', ...argv]);
      assert.ok(!run.ok && !t.ok, argv.join(' '));
      assert.equal(t.message, run.message);
    }
  });

  test('every endpoint kind has a kind of program and words', () => {
    assert.deepEqual(ENDPOINT_KINDS, ['unix', 'tcp', 'sandbox', 'storage-daemon', 'guest-agent', 'libvirt']);
    assert.equal(endpointKind({ kind: 'libvirt', domain: 'd' }), 'libvirt');
    assert.equal(endpointKind({ kind: 'tcp', host: 'h', port: 1 }), 'qemu');
    const r = endpointFromOptions({});
    assert.ok(r.ok && r.endpoint === undefined);
  });
});

describe('one comparator for written replies', () => {
  test('host thread ids are masked (run used to say "thread-id: expected 111")', () => {
    const c = compareReplyText('<- {"return": [{"id": "iot0", "thread-id": 111, "poll-max-ns": 32768}]}',
      '{"return": [{"poll-max-ns": 32768, "thread-id": 4242, "id": "iot0"}], "id": "#7"}');
    assert.deepEqual(c, { match: true, differences: [] });
  });

  test('integers beyond 2^53 are compared exactly, as written', () => {
    const differ = compareReplyText('{"return": {"offset": 9007199254740993}}', '{"return": {"offset": 9007199254740992}}');
    assert.equal(differ.match, false);
    assert.deepEqual(differ.differences, ['return.offset: expected 9007199254740993, QEMU said 9007199254740992']);
    assert.equal(compareReplyText('{"return": {"offset": 18446744073709551615}}', '{"return": {"offset": 18446744073709551615}}').match, true);
  });

  test('the notebook\'s masks apply to written replies in the plan, as to saved outputs', () => {
    const notebook = parseNotebook('---\nmasks: ["return.uptime"]\n---\n\n```qmp\n{"execute": "x"}\n<- {"return": {"uptime": 1}}\n```\n');
    const rules = notebookRules(notebook).rules;
    const plan = planCell('{"execute": "x"}\n<- {"return": {"uptime": 1}}', 'qmp', undefined, rules);
    const step = plan.steps[0];
    assert.ok(step?.kind === 'command' && step.expected?.masks?.length === 1);
    assert.equal(compareReplyText(step.expected.text, '{"return": {"uptime": 77}}', { masks: step.expected.masks }).match, true);
    assert.equal(compareReplyText(step.expected.text, '{"return": {"uptime": 77}}').match, false);
  });

  test('run (the engine\'s expected-reply) and test (compareCell) give the same verdict', async () => {
    const pairs: Array<[string, string]> = [
      ['{"return": [{"thread-id": 1}]}', '{"return": [{"thread-id": 2}]}'],
      ['{"return": 9007199254740993}', '{"return": 9007199254740992}'],
      ['{"return": {"a": 1, "b": [1, 2]}}', '{"return": {"b": [1, 2], "a": 1}}'],
      ['{"return": {"a": 1}}', '{"return": {"a": 1.0}}'],
      ['{"return": {}, "id": "mine"}', '{"return": {}, "id": "other"}'],
    ];
    for (const [written, raw] of pairs) {
      const test = compareCell({
        saved: [], actual: [], replies: new Map([[0, raw]]), written: [{ step: 0, command: 'x', json: written }],
        rules: { masks: [], ignoreEvents: new Set(), eventOrder: 'saved' },
      });
      assert.equal(test.ok, compareReplyText(written, raw).match, `${written} vs ${raw}`);
    }
  });
});

describe('one engine per kernel', () => {
  test('two callers (two notebooks) on one kernel: each event is attributed once', async () => {
    const client = new ScriptedClient({ stop: { delayMs: 20, after: ['STOP'] }, 'query-status': { delayMs: 200 } });
    const kernel = new Kernel({ client: () => client as never });
    const a: TranscriptRecord[] = [];
    const b: TranscriptRecord[] = [];
    await Promise.all([
      kernel.run([{ cell: 1, plan: planCell('{"execute": "stop"}', 'qmp') }], (r) => a.push(r)),
      kernel.run([{ cell: 2, plan: planCell('{"execute": "query-status"}', 'qmp') }], (r) => b.push(r)),
    ]);
    const events = [...a, ...b].filter((r) => r.type === 'event');
    assert.equal(events.length, 1, JSON.stringify(events));
    // The second caller's cell queued behind the first (QEMU answers in-band commands in order).
    const startedB = b.find((r) => r.type === 'cell-started');
    const finishedA = a.find((r) => r.type === 'cell-finished');
    assert.ok(startedB && finishedA && startedB.at >= finishedA.at);
    kernel.dispose();
  });
});

describe('the machine interface: one set of record names, described by the shipped JSON Schema', () => {
  test('every --json record of a run validates, the first says the format, and failure says sent (not wire)', async () => {
    const { readFileSync } = await import('node:fs');
    const path = await import('node:path');
    // ajv comes with the development tools (eslint); the schema itself is plain JSON Schema 2020-12.
    const { default: Ajv2020 } = await import('ajv/dist/2020');
    const schema = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'schemas', 'transcript.schema.json'), 'utf8')) as object;
    const validate = new Ajv2020({ strict: false }).compile(schema);
    const { runCells } = await import('../../src/cli/run');
    const client = new ScriptedClient({ stop: { after: ['STOP'] }, gone: { disconnect: true } });
    const lines: string[] = [];
    await runCells(client, [
      { cell: 1, plan: planCell('{"execute": "stop"}\n<- {"return": {}}\n{"wait-event": "STOP", "timeout": 100}\n<- {"event": "STOP"}', 'qmp') },
      { cell: 2, plan: planCell('{"execute": "gone"}', 'qmp') },
    ], { json: true }, { out: (l) => lines.push(l), err: () => undefined });
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(records[0], { type: 'transcript', format: 1 });
    for (const r of records) assert.ok(validate(r), `${JSON.stringify(r)}: ${JSON.stringify(validate.errors)}`);
    const types = new Set(records.map((r) => r.type));
    for (const t of ['cell-started', 'sent', 'written', 'reply', 'event', 'wait-satisfied', 'expected-reply', 'expected-event', 'failure', 'cell-finished']) assert.ok(types.has(t), t);
    const failure = records.find((r) => r.type === 'failure');
    assert.equal(typeof failure?.sent, 'string');
    assert.ok(!('wire' in (failure ?? {})));
    assert.ok(!records.some((r) => 'wire' in r), 'no record says wire');
  });
});

describe('one cell locator for the CLI', () => {
  test('mixed line endings: check (FileMap) and test (cellLines) find the same lines', async () => {
    const { locateCells } = await import('../../src/cli/locate');
    // CRLF in the first paragraph only: the format keeps carriage returns (not every line is CRLF).
    const text = 'Intro\r\nmore\r\n\n```qmp\n{"execute": "a"}\n```\n\nText\n\n```qmp\n{"execute": "b"}\n```\n';
    const nb = parseNotebook(text);
    const sources = nb.cells.map((c) => c.source);
    const located = locateCells(text, sources);
    const code = nb.cells.map((c, i) => [c.kind, located.lines[i]] as const).filter(([k]) => k === 'code').map(([, l]) => l);
    assert.deepEqual(code, [5, 11]);
  });
});
