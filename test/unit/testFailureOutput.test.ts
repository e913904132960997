// Golden tests of what `qmp-notebook test` prints when a saved output no longer matches: the member that
// changed with both values, a `FILE:LINE:COL: error:` line at the changed value in the file, a diff of the
// saved output's own lines numbered as in the file; and JUnit XML read back by a strict JUnit reader
// (test/support/junit.ts): a short message, `type`, the detail in the body, names that survive edits elsewhere.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { testMain } from '../../src/cli/test';
import type { CliDeps, CliSession } from '../../src/cli/cli';
import type { CommandInput, CommandOptions, CommandReply, QmpEventRecord } from '../../src/qmp/client';
import { readJunit } from '../support/junit';
import { fakeKernel } from '../support/fakeKernel';
import { freezeTimers, runClock } from '../support/clock';

const dir = mkdtempSync(path.join(tmpdir(), 'qmp-failure-golden-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A client that answers each command with a fixed reply text. */
function answering(replies: Record<string, string>): CliSession['client'] {
  let ids = 0;
  return {
    send(command: CommandInput, options: CommandOptions = {}): Promise<CommandReply> {
      const name = (command.execute ?? command['exec-oob']) as string;
      const idText = `"#${++ids}"`;
      const sent = JSON.stringify({ execute: name });
      options.onWritten?.({ sent, idText });
      const body = replies[name] ?? '{"return": {}}';
      const raw = `${body.slice(0, -1)}, "id": ${idText}}`;
      return Promise.resolve({ idText, ok: true, value: JSON.parse(body).return, raw, sent } as CommandReply);
    },
    onEvent: (_l: (e: QmpEventRecord) => void) => ({ dispose: () => undefined }),
    eventCursor: () => 0,
    waitForEvent: () => new Promise<QmpEventRecord>(() => undefined),
    execute: () => Promise.reject(new Error('not used')),
    setSchema: () => undefined,
  } as unknown as CliSession['client'];
}

const NODES = '{"return": [{"node-name": "disk0", "drv": "null-co", "ro": false, "image": {"virtual-size": 1048576, "filename": "null-co://", "format": "null-co", "actual-size": 0}, "cache": {"direct": false, "no-flush": false, "writeback": true}}]}';

const NOTEBOOK = [
  '# Block nodes', '',
  '```qmp', '{"execute": "query-status"}', '```', '',
  '```qmp-output', '<- {"return": {"status": "prelaunch", "running": false}}', '```', '',
  'Prose.', '',
  '```qmp', '{"execute": "query-named-block-nodes"}', '```', '',
  '```qmp-output',
  '<- {',
  '  "return": [',
  '    {',
  '      "node-name": "disk0",',
  '      "drv": "null-co",',
  '      "ro": false,',
  '      "image": {',
  '        "virtual-size": 2097152,',
  '        "filename": "null-co://",',
  '        "format": "null-co",',
  '        "actual-size": 0',
  '      },',
  '      "cache": {"direct": false, "no-flush": false, "writeback": true}',
  '    }',
  '  ]',
  '}',
  '```', '',
].join('\n');

async function run(text: string, extra: string[] = []): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const deps: CliDeps = {
    version: '0', readFile: () => text,
    connect: async (_c, o) => fakeKernel(answering({ 'query-status': '{"return": {"status": "prelaunch", "running": false}}', 'query-named-block-nodes': NODES }), o.engine),
  };
  const code = await testMain(['nodes.qmp', '--sandbox', ...extra], deps, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('a changed integer in a pretty-printed saved reply', () => {
  test('the text report (golden)', async () => {
    const r = await run(NOTEBOOK);
    assert.equal(r.code, 1);
    const name = /cell 4 \(line 14\): (query-named-block-nodes \[[0-9a-f]{8}\])$/.exec(r.out[1] ?? '')?.[1] ?? '?';
    assert.deepEqual(r.out, [
      `ok   nodes.qmp cell 2 (line 4): ${/: (.*)$/.exec(r.out[0] ?? '')?.[1] ?? '?'}`,
      `FAIL nodes.qmp cell 4 (line 14): ${name}`,
      `nodes.qmp:25:25: error: cell 4 (${name}): output 1 differs at return[0].image.virtual-size: expected 2097152; got 1048576`,
      '--- saved',
      '+++ new',
      '@@ -22,7 +22,7 @@',
      '       "drv": "null-co",',
      '       "ro": false,',
      '       "image": {',
      '-        "virtual-size": 2097152,',
      '+        "virtual-size": 1048576,',
      '         "filename": "null-co://",',
      '         "format": "null-co",',
      '         "actual-size": 0',
      '1 passed, 1 failed',
    ]);
    // Line 25, column 25 of the file is the saved value.
    assert.equal(NOTEBOOK.split('\n')[24]?.slice(24), '2097152,');
    // The reply is not repeated: each changed line once on each side.
    assert.equal(r.out.join('\n').split('2097152').length - 1, 2);
  });

  test('JUnit: strict XML, short message, type, the detail in the body', async () => {
    const junit = path.join(dir, 'a.xml');
    const r = await run(NOTEBOOK, ['--junit', junit]);
    assert.equal(r.code, 1);
    const xml = readFileSync(junit, 'utf8');
    const cases = readJunit(xml);
    assert.equal(cases.length, 2);
    const failed = cases.find((c) => c.result !== undefined);
    assert.ok(failed?.result);
    assert.equal(failed.result.type, 'mismatch');
    assert.equal(failed.result.message, 'output 1 differs at return[0].image.virtual-size: expected 2097152; got 1048576');
    assert.ok(failed.result.message.length < 200);
    assert.match(failed.result.text, /^nodes\.qmp:25:25: error: /);
    assert.match(failed.result.text, /\n- {8}"virtual-size": 2097152,\n\+ {8}"virtual-size": 1048576,\n/);
    assert.ok(xml.length < 2000, `${xml.length} bytes`);
  });

  test('test names do not change when the notebook is edited elsewhere', async () => {
    const names = async (text: string): Promise<string[]> => {
      const junit = path.join(dir, `n${Math.random()}.xml`);
      await run(text, ['--junit', junit]);
      return readJunit(readFileSync(junit, 'utf8')).map((c) => c.name);
    };
    const before = await names(NOTEBOOK);
    // Prose and a new code cell above both cells: every line number moves.
    const edited = NOTEBOOK.replace('# Block nodes\n', '# Block nodes\n\nMore prose,\nover lines.\n\n```qmp\n{"execute": "query-name"}\n```\n');
    const afterEdit = await names(edited);
    assert.equal(afterEdit.length, 3, afterEdit.join(', '));
    assert.deepEqual(afterEdit.filter((n) => !n.startsWith('query-name [')), before);
    assert.equal(new Set(before).size, before.length);
  });

  test('two cells of the same text get distinct names', async () => {
    const twice = NOTEBOOK + '\n```qmp\n{"execute": "query-status"}\n```\n';
    const junit = path.join(dir, 'twice.xml');
    await run(twice, ['--junit', junit]);
    const names = readJunit(readFileSync(junit, 'utf8')).map((c) => c.name);
    assert.equal(names.length, 3);
    assert.equal(new Set(names).size, 3);
    assert.match(names[2] ?? '', / #2$/);
  });
});

describe('the strict JUnit reader refuses what CI would', () => {
  test('bad XML and bad shapes', () => {
    const ok = '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites tests="1" failures="0" errors="0"><testsuite name="a" tests="1" failures="0" errors="0"><testcase classname="a" name="x" time="0.1"/></testsuite></testsuites>\n';
    assert.equal(readJunit(ok).length, 1);
    assert.throws(() => readJunit(ok.replace('name="x"', 'name="x&y"')), /bare &/);
    assert.throws(() => readJunit(ok.replace('</testsuite>', '')), /closes|not closed/);
    assert.throws(() => readJunit(ok.replace('tests="1" failures="0" errors="0"><testcase', 'tests="2" failures="0" errors="0"><testcase')), /counts/);
    assert.throws(() => readJunit(ok.replace('<testcase classname="a" name="x" time="0.1"/>', '<testcase classname="a" name="x" time="0.1"><failure message="m">t</failure></testcase>')), /message and type/);
    assert.throws(() => readJunit(ok.replace('name="x"', 'name="x\u0001"')), /cannot hold/);
  });
});

describe('test --deadline', () => {
  test('the cells not done by then fail, with the reason; the command ends at the deadline', async (t) => {
    const clock = freezeTimers(t);
    const { ScriptedClient } = await import('../support/scriptedClient');
    const out: string[] = [];
    const err: string[] = [];
    const client = new ScriptedClient({ 'query-status': { hang: true } });
    const deps: CliDeps = {
      version: '0', readFile: () => NOTEBOOK,
      connect: async (_c, o) => fakeKernel(Object.assign(client, { execute: () => Promise.reject(new Error('no')), setSchema: () => undefined }), o.engine),
    };
    const { fakeMs, result } = await runClock(clock, testMain(['nodes.qmp', '--sandbox', '--deadline', '300'], deps, { out: (l) => out.push(l), err: (l) => err.push(l) }));
    assert.ok(fakeMs >= 300 && fakeMs <= 302, `ended at the 300 ms deadline: ${fakeMs} ms of fake time`);
    assert.equal(result.status === 'fulfilled' && result.value, 1);
    assert.match(out.join('\n'), /the test did not finish within 300 ms \(--deadline\)/);
    assert.match(out.join('\n'), /^0 passed, 2 failed$/m);
  });
});

describe('test --timeout', () => {
  test('a saved event that never comes fails the cell at --timeout, not later', async (t) => {
    // The deterministic half of test/qemu/cliTest.test.ts's "an event that never comes fails at its timeout".
    const clock = freezeTimers(t);
    const { ScriptedClient } = await import('../support/scriptedClient');
    const out: string[] = [];
    const client = new ScriptedClient({ stop: {} });
    const text = '```qmp\n{ "execute": "stop" }\n```\n\n```qmp-output\n<- {"return": {}}\n\n<- {"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "STOP"}\n```\n';
    const deps: CliDeps = {
      version: '0', readFile: () => text,
      connect: async (_c, o) => fakeKernel(Object.assign(client, { execute: () => Promise.reject(new Error('no')), setSchema: () => undefined }), o.engine),
    };
    const { fakeMs, result } = await runClock(clock, testMain(['never.qmp', '--sandbox', '--timeout', '1500'], deps, { out: (l) => out.push(l), err: (l) => out.push(l) }), { stepMs: 5 });
    assert.equal(result.status === 'fulfilled' && result.value, 1, out.join('\n'));
    assert.match(out.join('\n'), /expected event STOP did not arrive/);
    assert.ok(fakeMs >= 1500 && fakeMs <= 1520, `ended after ${fakeMs} ms of fake time, --timeout is 1500 ms`);
  });
});
