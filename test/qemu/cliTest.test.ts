// `qmp-notebook test` against real QEMU, through the bundled bin: a notebook kept as a regression test
// (run, --update, review, commit), its masks and event rules, and its exit codes.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCli } from '../support/cliBundle';

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

let bundle = '';
let dir = '';

function cli(args: string[], deadlineMs = 90_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const child = spawn(process.execPath, [bundle, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => { stdout += d; });
    child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
    const timer = setTimeout(() => child.kill('SIGKILL'), deadlineMs);
    child.on('error', reject);
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr, ms: Date.now() - started }); });
  });
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

const show = (r: CliResult): string => `exit ${r.code}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;

/** Text with every ```qmp-output block (and the blank lines before it) removed. */
const withoutOutputs = (t: string): string => t.replace(/\n*```qmp-output\n[\s\S]*?\n```/g, '');

before(async () => {
  bundle = await buildCli();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-cli-test-'));
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

// Hand-written, with odd spacing that a re-serialization would normalise: --update must keep it.
const REGRESSION = [
  '---', 'profile: sandbox', 'saveOutputs: true', '---', '', '',
  '#  A  regression  test   ', '', '', 'Some prose   with trailing spaces.   ', '',
  '```qmp', '{ "execute": "query-status" }', '```', '', '',
  '```qmp', '-> { "execute": "cont" }', '{ "wait-event": "RESUME", "timeout": 5000 }', '```', '',
  '\t* a list item with a tab', '',
  '```qmp-shell', 'device_del id=no-such-device', '```', '',
  '```hmp', 'info status', '```', '',
  '```qmp', '{ "execute": "query-chardev" }', '```',
].join('\n') + '\n';

describe('qmp-notebook test: the regression workflow on a sandbox', () => {
  let file = '';
  before(() => { file = write('regression.qmp', REGRESSION); });

  test('without saved outputs every cell that shows something fails, exit 1', async () => {
    const r = await cli(['test', file]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stdout, /no saved outputs for this cell \(run with --update to record them\)/);
    assert.match(r.stdout, /^0 passed, 5 failed$/m);
  });

  test('--update writes the outputs and changes nothing else, byte for byte', async () => {
    const r = await cli(['test', file, '--update']);
    assert.equal(r.code, 0, show(r));
    const text = readFileSync(file, 'utf8');
    assert.equal(withoutOutputs(text), withoutOutputs(REGRESSION));
    assert.notEqual(text, REGRESSION);
    // Stable forms: no client ids, no timestamps, no sandbox directory.
    assert.doesNotMatch(text, /"#\d+"/);
    assert.match(text, /"timestamp": \{"seconds": "SECS", "microseconds": "USECS"\}, "event": "RESUME"/);
    assert.match(text, /SANDBOX_DIR\/qmp\.sock/);
    assert.match(text, /-> \{"execute": "device_del", "arguments": \{"id": "no-such-device"\}\}/);
    // Saving the same session again gives the same bytes.
    const again = await cli(['test', file, '--update']);
    assert.equal(again.code, 0, show(again));
    assert.equal(readFileSync(file, 'utf8'), text);
    assert.match(again.stderr, /already up to date/);
  });

  test('a saved notebook run twice passes (new sandbox, new timestamps and paths each time)', async () => {
    for (let i = 0; i < 2; i++) {
      const r = await cli(['test', file]);
      assert.equal(r.code, 0, show(r));
      assert.match(r.stdout, /^5 passed, 0 failed$/m);
    }
  });

  test('a changed expected value fails with exit 1 and a readable diff', async () => {
    const saved = readFileSync(file, 'utf8');
    const changed = write('changed.qmp', saved.replace('"status": "prelaunch"', '"status": "running"'));
    const r = await cli(['test', changed]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stdout, /^FAIL .*changed\.qmp cell 2 \(line 13\): query-status \[[0-9a-f]{8}\]$/m);
    // The member that changed, both values, at its place in the file (a CI problem matcher's line).
    assert.match(r.stdout, /^.*changed\.qmp:17:26: error: cell 2 \(query-status \[[0-9a-f]{8}\]\): output 1 differs at return\.status: expected "running"; got "prelaunch"$/m);
    assert.match(r.stdout, /^--- saved\n\+\+\+ new\n@@ -17,1 \+17,1 @@\n-<- \{"return": \{"status": "running", "singlestep": false, "running": false\}\}\n\+<- \{"return": \{"status": "prelaunch", "singlestep": false, "running": false\}\}$/m);
    assert.equal(r.stdout.split('"singlestep"').length - 1, 2, 'the reply is shown once saved, once new');
    assert.match(r.stdout, /^4 passed, 1 failed$/m);
  });

  test('--junit writes one testcase per cell; --json one record per cell', async () => {
    const junit = path.join(dir, 'out.xml');
    const changed = path.join(dir, 'changed.qmp');
    const r = await cli(['test', file, changed, '--junit', junit, '--json']);
    assert.equal(r.code, 1, show(r));
    const xml = readFileSync(junit, 'utf8');
    assert.equal(xml.split('<testcase ').length - 1, 10);
    assert.match(xml, /<testsuites name="qmp-notebook test" tests="10" failures="1" errors="0"/);
    assert.match(xml, /<failure message="output 1 differs at return\.status: expected &quot;running&quot;; got &quot;prelaunch&quot;" type="mismatch">/);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.equal(lines.length, 11);
    assert.deepEqual(lines[10], { passed: 9, failed: 1 });
    assert.equal(lines.filter((l) => l['status'] === 'failed').length, 1);
  });
});

describe('qmp-notebook test: masks and event rules', () => {
  test('masks in front matter hide a value that differs', async () => {
    const body = '```qmp\n{ "execute": "query-status" }\n```\n\n```qmp-output\n<- {"return": {"status": "paused", "singlestep": false, "running": false}}\n```\n';
    const plain = write('nomask.qmp', body);
    const byPath = write('mask-path.qmp', `---\nmasks: ["return.status"]\n---\n\n${body}`);
    const byPattern = write('mask-pattern.qmp', `---\nmasks: ["/^(paused|prelaunch)$/"]\n---\n\n${body}`);
    const byCell = write('mask-cell.qmp', body.replace('{ "execute": "query-status" }', '// test: mask return.status\n{ "execute": "query-status" }'));
    const r = await cli(['test', plain]);
    assert.equal(r.code, 1, show(r));
    for (const f of [byPath, byPattern, byCell]) {
      const m = await cli(['test', f]);
      assert.equal(m.code, 0, `${f}\n${show(m)}`);
    }
    // A mask that does not parse is a usage error, before anything runs.
    const bad = write('mask-bad.qmp', `---\nmasks: ["/(/"]\n---\n\n${body}`);
    const b = await cli(['test', bad]);
    assert.equal(b.code, 2, show(b));
    assert.match(b.stderr, /bad pattern/);
  });

  test('an event that never comes fails at its timeout', async () => {
    // The saved outputs expect a STOP that this cell no longer causes (the guest is already stopped).
    const file = write('never.qmp', '```qmp\n{ "execute": "stop" }\n```\n\n```qmp-output\n<- {"return": {}}\n\n<- {"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "STOP"}\n```\n');
    const r = await cli(['test', file, '--timeout', '1500']);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stdout, /expected event STOP did not arrive/);
    // That it waited --timeout and no longer is shown on a frozen clock in test/unit/testFailureOutput.test.ts.
    // A wait clause that is not satisfied fails after its own timeout, shown in the diff.
    const waits = write('wait.qmp', '```qmp\n{ "execute": "stop" }\n{ "wait-event": "STOP", "timeout": 300 }\n```\n\n```qmp-output\n<- {"return": {}}\n```\n');
    const w = await cli(['test', waits]);
    assert.equal(w.code, 1, show(w));
    assert.match(w.stdout, /^\+\/\/ Timeout: line 2: .*STOP.* 300 ms\.?$/m);
  });

  test('an unexpected event is reported, unless declared ignorable', async () => {
    const cell = '```qmp\n{ "execute": "cont" }\n```\n\n```qmp-output\n<- {"return": {}}\n```\n';
    const file = write('unexpected.qmp', cell);
    const r = await cli(['test', file]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stdout, /unexpected event RESUME: <- \{"timestamp": \{"seconds": "SECS", "microseconds": "USECS"\}, "event": "RESUME"\}/);
    const front = write('ignored.qmp', `---\nignoreEvents: ["RESUME"]\n---\n\n${cell}`);
    const f = await cli(['test', front]);
    assert.equal(f.code, 0, show(f));
    const perCell = write('ignored-cell.qmp', cell.replace('{ "execute": "cont" }', '// test: ignore-events RESUME\n{ "execute": "cont" }'));
    const p = await cli(['test', perCell]);
    assert.equal(p.code, 0, show(p));
  });

  test('events in another order fail, unless the cell says any-order', async () => {
    const saved = '<- {"return": {}}\n\n<- {"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "STOP"}\n\n<- {"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "RESUME"}';
    const src = '{ "execute": "cont" }\n{ "execute": "stop" }';
    // Saved as if STOP came before RESUME (hand-edited): the real order is RESUME, STOP.
    const labelled = '<- {"return": {}}\n\n-> {"execute": "stop"}\n\n' + saved;
    const outputs = `-> {"execute": "cont"}\n\n${labelled}`;
    const file = write('order.qmp', '```qmp\n' + src + '\n```\n\n```qmp-output\n' + outputs + '\n```\n');
    const r = await cli(['test', file]);
    assert.equal(r.code, 1, show(r));
    assert.match(r.stdout, /events arrived in another order: expected STOP, RESUME; got RESUME, STOP/);
    const any = write('any.qmp', '```qmp\n// test: any-order\n' + src + '\n```\n\n```qmp-output\n' + outputs + '\n```\n');
    const a = await cli(['test', any]);
    assert.equal(a.code, 0, show(a));
  });
});

describe('expected events written in cells (<- {"event": …})', () => {
  const stopCell = '```qmp\n-> { "execute": "cont" }\n<- { "return": {} }\n-> { "execute": "stop" }\n' +
    '<- { "timestamp": { "seconds": 1700000000, "microseconds": 1 }, "event": "STOP" }\n<- { "return": {} }\n```\n';

  test('a stop cell with <- STOP passes in test (after --update) and says so in run', async () => {
    const file = write('expect-stop.qmp', `---\nignoreEvents: ["RESUME"]\n---\n\n${stopCell}`);
    const u = await cli(['test', file, '--update']);
    assert.equal(u.code, 0, show(u));
    const t = await cli(['test', file]);
    assert.equal(t.code, 0, show(t));
    assert.match(t.stdout, /^1 passed, 0 failed$/m);
    const r = await cli(['run', file]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^\/\/ the expected event STOP arrived$/m);
  });

  test('an expected event that never comes fails test with exit 1 in bounded time; run only reports it', async () => {
    // query-status causes no event: the STOP written under it never comes.
    const src = '```qmp\n{ "execute": "query-status" }\n<- { "event": "STOP" }\n```\n';
    const file = write('expect-never.qmp', src);
    const u = await cli(['test', file, '--update']);
    assert.equal(u.code, 0, show(u));
    const t = await cli(['test', file, '--timeout', '1500']);
    assert.equal(t.code, 1, show(t));
    assert.match(t.stdout, /expected event STOP \(line 3\): STOP did not arrive within 1500 ms/);
    assert.match(t.stdout, /^-<- \{"event": "STOP"\}$/m);
    const r = await cli(['run', file]);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /^\/\/ the expected event did not match: STOP did not arrive within 10000 ms; expected <- \{ "event": "STOP" \}$/m);
  });

  test('written in another order than QEMU sends them fails, unless the cell says any-order', async () => {
    const src = '-> { "execute": "cont" }\n-> { "execute": "stop" }\n<- { "event": "STOP" }\n<- { "event": "RESUME" }';
    const file = write('expect-order.qmp', '```qmp\n' + src + '\n```\n');
    assert.equal((await cli(['test', file, '--update'])).code, 0);
    const t = await cli(['test', file, '--timeout', '1500']);
    assert.equal(t.code, 1, show(t));
    assert.match(t.stdout, /RESUME arrived, but not in the order written/);
    const any = write('expect-any.qmp', '```qmp\n// test: any-order\n' + src + '\n```\n');
    assert.equal((await cli(['test', any, '--update'])).code, 0);
    const a = await cli(['test', any]);
    assert.equal(a.code, 0, show(a));
  });
});

describe('samples/regression.qmp', () => {
  test('passes on the sandbox as it is committed, and --update would not change it', async () => {
    const sample = path.join(__dirname, '..', '..', '..', 'samples', 'regression.qmp');
    const r = await cli(['test', sample, '--json']);
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(JSON.parse(r.stdout.trim().split('\n').pop() as string), { passed: 8, failed: 0 });
    const copy = write('regression-copy.qmp', readFileSync(sample, 'utf8'));
    const u = await cli(['test', copy, '--update']);
    assert.equal(u.code, 0, show(u));
    assert.equal(readFileSync(copy, 'utf8'), readFileSync(sample, 'utf8'));
  });
});

describe('qmp-notebook test: usage and connection errors exit 2', () => {
  test('no file, unknown options, an unreadable file, a socket nobody listens on', async () => {
    for (const args of [['test'], ['test', 'x.qmp', '--frobnicate'], ['test', 'x.qmp', '--timeout', '0'], ['test', 'x.qmp', '--socket', 'a', '--sandbox']]) {
      const r = await cli(args);
      assert.equal(r.code, 2, `${args.join(' ')}\n${show(r)}`);
    }
    const missing = await cli(['test', path.join(dir, 'does-not-exist.qmp')]);
    assert.equal(missing.code, 2, show(missing));
    assert.match(missing.stderr, /cannot read/);
    const file = write('nosocket.qmp', '```qmp\n{ "execute": "stop" }\n```\n');
    const r = await cli(['test', file, '--socket', path.join(dir, 'nobody.sock')]);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /cannot connect/);
    assert.equal(readFileSync(file, 'utf8'), '```qmp\n{ "execute": "stop" }\n```\n');
  });
  test('QEMU going away fails the run at once with exit 2; --update then writes nothing', async () => {
    const text = '```qmp\n{ "execute": "quit" }\n```\n\n```qmp\n{ "execute": "query-status" }\n```\n';
    const file = write('quit.qmp', text);
    const r = await cli(['test', file, '--update']);
    assert.equal(r.code, 2, show(r));
    assert.match(r.stderr, /QEMU went away during the run: .*nothing was written/);
    assert.equal(readFileSync(file, 'utf8'), text);
    const junit = path.join(dir, 'quit.xml');
    const t = await cli(['test', file, '--junit', junit]);
    assert.equal(t.code, 2, show(t));
    assert.match(readFileSync(junit, 'utf8'), /<error message="QEMU went away: /);
  });
  test('--help describes the subcommand', async () => {
    const r = await cli(['test', '--help']);
    assert.equal(r.code, 0, show(r));
    assert.match(r.stdout, /--update/);
  });
});
