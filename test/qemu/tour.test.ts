// The sample notebooks run through the bundled CLI (dist/cli.js, spawned as a user runs it) against a real
// sandbox QEMU, and checked against the saved QEMU 7.2 schema. The samples are what a new user runs first, so
// every command in them must do what the prose around it says: succeed, fail with the error the sample
// means to show, or wait for the event it names.
//
// A run stops at the first failing in-band cell, like the notebook's Run All. The tour shows two errors on
// purpose, so it is run three times: as it is (stops at the unknown command), with that cell disabled (stops
// at device_del), and with both disabled (runs to the end). A cell is disabled by renaming its fence from
// `qmp` to `text`, which keeps every line where it was, so the JSON output's `line` still names the sample.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCli, cliBundle as cli, repoRoot as root, runCliBundle, type CliResult } from '../support/cliBundle';
import { qemuBinary, testQemuVersion } from '../support/qemu';

const tourFile = path.join(root, 'samples', 'tour.qmp');
const savedFile = path.join(root, 'samples', 'saved-session.qmp');
const schema72 = path.join(root, 'test', 'fixtures', 'qemu-7.2', 'query-qmp-schema.json');


/** Spawns the CLI with an argument array; it is killed if it has not exited after `deadlineMs`. */
function runCli(args: string[], deadlineMs = 90_000): Promise<CliResult> {
  return runCliBundle(cli, args, { deadlineMs, cwd: root });
}

/** A command with its reply and events, or an event wait with its event, gathered from `run --json` records. */
interface RunRecord {
  cell: number;
  line: number;
  command?: string | undefined;
  reply?: { return?: unknown; error?: { class: string; desc: string }; id?: unknown } | undefined;
  events?: Array<{ event: string }> | undefined;
  'wait-event'?: string | undefined;
  event?: { event: string } | undefined;
}

function records(stdout: string): RunRecord[] {
  const all = stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  const out: RunRecord[] = [];
  for (const r of all) {
    if (r['type'] === 'reply') {
      const events = all.filter((e) => e['type'] === 'event' && e['cell'] === r['cell'] && e['step'] === r['step']).map((e) => e['event'] as { event: string });
      out.push({ cell: r['cell'] as number, line: r['line'] as number, command: r['command'] as string, reply: r['reply'] as RunRecord['reply'], events });
    } else if (r['type'] === 'wait-satisfied') {
      out.push({ cell: r['cell'] as number, line: r['line'] as number, 'wait-event': r['wait-event'] as string, event: r['event'] as { event: string } });
    }
  }
  return out;
}

/** The 1-based line of the only line of `text` that is exactly `needle` (trimmed); fails when not one. */
function lineOf(text: string, needle: string): number {
  const lines = text.split('\n');
  const found = lines.flatMap((l, i) => (l.trim() === needle ? [i + 1] : []));
  assert.equal(found.length, 1, `exactly one line of the sample reads ${needle} (found ${found.length})`);
  return found[0] as number;
}

/** Renames the fence of the `qmp` cell whose first line is `firstLine` to `text`, so that it is prose. */
function disableCell(text: string, firstLine: string): string {
  const fence = '```qmp\n' + firstLine + '\n';
  const at = text.indexOf(fence);
  assert.ok(at >= 0 && text.indexOf(fence, at + 1) < 0, `one qmp cell starts with ${firstLine}`);
  return text.slice(0, at) + '```text\n' + firstLine + '\n' + text.slice(at + fence.length);
}

/** The record of the command or wait on `line`; fails when there is none or more than one. */
function at(rs: RunRecord[], line: number): RunRecord {
  const found = rs.filter((r) => r.line === line);
  assert.equal(found.length, 1, `one record for line ${line}, got ${JSON.stringify(found)}`);
  return found[0] as RunRecord;
}

function assertOk(r: RunRecord, command: string): void {
  assert.equal(r.command, command);
  assert.ok(r.reply !== undefined && 'return' in r.reply, `${command} succeeded: ${JSON.stringify(r.reply)}`);
}

const tourText = readFileSync(tourFile, 'utf8');
const errorCommand = '{ "execute": "no-such-command" }';
const deviceDel = '{ "execute": "device_del", "arguments": { "id": "no-such-device" } }';
/** The out-of-band demo pair at the end (run one by one; its in-band cell fails by design after open-timeout).
 *  test/qemu/oobDemo.test.ts runs it; the runs to the end here leave it out. */
const demoBlock = '{ "execute": "blockdev-add", "arguments": { "driver": "nbd", "node-name": "stuck", "server": { "type": "unix", "path": "qmp.sock" }, "export": "demo", "open-timeout": 10 } }';
const demoOob = '{ "exec-oob": "query-yank", "id": "overtaking" }';
const withoutDemo = (text: string): string => disableCell(disableCell(text, demoBlock), demoOob);
/** Lines of the tour's commands and waits, found by their text so that edits to the prose move them freely. */
const L = {
  status: lineOf(tourText, '{ "execute": "query-status" }'),
  version: lineOf(tourText, '{ "execute": "query-version" }'),
  cont: lineOf(tourText, '-> { "execute": "cont" }'),
  stop: lineOf(tourText, '-> { "execute": "stop" }'),
  yank: lineOf(tourText, '{ "exec-oob": "query-yank" }'),
  unknown: lineOf(tourText, errorCommand),
  deviceDel: lineOf(tourText, deviceDel),
  blockdevAdd: lineOf(tourText, 'blockdev-add driver=null-co node-name=disk0 size=1048576 read-zeroes=true'),
  transaction: lineOf(tourText, 'transaction('),
  namedNodes: lineOf(tourText, 'query-named-block-nodes flat=true'),
  blockdevDel: lineOf(tourText, 'blockdev-del node-name=disk0'),
  shellYank: lineOf(tourText, 'query-yank --oob'),
  infoStatus: lineOf(tourText, 'info status'),
  infoVersion: lineOf(tourText, 'info version'),
  queryName: lineOf(tourText, '-> { "execute": "query-name" }'),
};

let dir: string;

/** Writes a variant of a sample into the private temporary folder. */
function variant(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

before(async () => {
  // The test runs the CLI users get, so it builds dist/ exactly as `npm run build` does.
  await buildCli();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-tour-test-'));
  chmodSync(dir, 0o700);
});

after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** Asserts what the cells before the first intentional error did; they are the same in every run. */
function assertOpeningCells(rs: RunRecord[]): void {
  const status = at(rs, L.status);
  assertOk(status, 'query-status');
  assert.equal((status.reply?.return as { status: string }).status, 'prelaunch', 'the sandbox starts with -S');
  const version = at(rs, L.version);
  assertOk(version, 'query-version');
  assert.equal((version.reply?.return as { qemu: { major: number } }).qemu.major, testQemuVersion().major);

  // The events the cells wait for are attached to the commands that caused them and satisfy the waits.
  const cont = at(rs, L.cont);
  assertOk(cont, 'cont');
  assert.deepEqual(cont.events?.map((e) => e.event), ['RESUME']);
  const resume = at(rs, L.cont + 1);
  assert.equal(resume['wait-event'], 'RESUME');
  assert.equal(resume.event?.event, 'RESUME');
  const stop = at(rs, L.stop);
  assertOk(stop, 'stop');
  assert.deepEqual(stop.events?.map((e) => e.event), ['STOP']);
  const stopWait = at(rs, L.stop + 1);
  assert.equal(stopWait['wait-event'], 'STOP');
  assert.equal(stopWait.event?.event, 'STOP');

  // The out-of-band cell is answered; it lists the yank instance of the monitor's own chardev.
  const yank = at(rs, L.yank);
  assertOk(yank, 'query-yank');
  assert.ok(Array.isArray(yank.reply?.return), 'query-yank returns a list');
  assert.ok((yank.reply?.return as Array<{ type: string }>).some((i) => i.type === 'chardev'));
}

describe(`samples/tour.qmp through the CLI on a sandbox QEMU ${testQemuVersion().text}`, () => {
  test('as it is: every command before the unknown one succeeds, and the run stops there with CommandNotFound', async () => {
    const r = await runCli(['run', tourFile, '--sandbox', '--qemu', qemuBinary, '--json']);
    assert.equal(r.code, 1, `exit 1 for a QEMU error reply\n${r.stderr}`);
    const rs = records(r.stdout);
    assertOpeningCells(rs);
    const unknown = at(rs, L.unknown);
    assert.equal(unknown.command, 'no-such-command');
    assert.equal(unknown.reply?.error?.class, 'CommandNotFound');
    assert.match(r.stderr, new RegExp(`\\(line ${L.unknown}\\): no-such-command: CommandNotFound`));
    // Nothing after the failing cell ran, like the notebook's Run All.
    assert.deepEqual(rs.filter((x) => x.line > L.unknown), []);
  });

  test('with the unknown command disabled: device_del of a missing device fails with DeviceNotFound', async () => {
    const file = variant('tour-1.qmp', disableCell(tourText, errorCommand));
    const r = await runCli(['run', file, '--sandbox', '--qemu', qemuBinary, '--json']);
    assert.equal(r.code, 1, r.stderr);
    const rs = records(r.stdout);
    assertOpeningCells(rs);
    assert.deepEqual(rs.filter((x) => x.line === L.unknown), [], 'the disabled cell is prose');
    const del = at(rs, L.deviceDel);
    assert.equal(del.command, 'device_del');
    assert.equal(del.reply?.error?.class, 'DeviceNotFound');
    assert.deepEqual(rs.filter((x) => x.line > L.deviceDel), []);
  });

  test('with both error cells disabled: every other command succeeds to the end', async () => {
    const file = variant('tour-2.qmp', withoutDemo(disableCell(disableCell(tourText, errorCommand), deviceDel)));
    const r = await runCli(['run', file, '--sandbox', '--qemu', qemuBinary, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rs = records(r.stdout);
    assertOpeningCells(rs);
    for (const x of rs) {
      if (x.command !== undefined) assert.ok(x.reply !== undefined && 'return' in x.reply, `line ${x.line} ${x.command}: ${JSON.stringify(x.reply)}`);
    }

    // qmp-shell: the node is added, both bitmaps come from one transaction, and the node is removed again.
    assertOk(at(rs, L.blockdevAdd), 'blockdev-add');
    assertOk(at(rs, L.transaction), 'transaction');
    const nodes = at(rs, L.namedNodes);
    assertOk(nodes, 'query-named-block-nodes');
    const disk0 = (nodes.reply?.return as Array<{ 'node-name': string; 'dirty-bitmaps'?: Array<{ name: string }> }>)
      .find((n) => n['node-name'] === 'disk0');
    assert.ok(disk0, 'disk0 is listed');
    assert.deepEqual(disk0['dirty-bitmaps']?.map((b) => b.name).sort(), ['bitmap0', 'bitmap1']);
    assertOk(at(rs, L.blockdevDel), 'blockdev-del');
    assertOk(at(rs, L.shellYank), 'query-yank');

    // hmp: the human monitor's text; the vCPUs were stopped by the earlier cell.
    const infoStatus = at(rs, L.infoStatus);
    assertOk(infoStatus, 'human-monitor-command');
    assert.match(infoStatus.reply?.return as string, /^VM status: paused/);
    const infoVersion = at(rs, L.infoVersion);
    assertOk(infoVersion, 'human-monitor-command');
    assert.ok((infoVersion.reply?.return as string).startsWith(`${testQemuVersion().text}`), String(infoVersion.reply?.return));

    // The pasted documentation example: QEMU answers what the `<-` line says it would.
    const name = at(rs, L.queryName);
    assertOk(name, 'query-name');
    assert.deepEqual(name.reply?.return, {});
    assert.deepEqual(rs.filter((x) => x.line === L.queryName + 1), [], 'the <- line is not sent');
  });

  test('text output: both query-yank commands go out as exec-oob', async () => {
    const file = variant('tour-3.qmp', withoutDemo(disableCell(disableCell(tourText, errorCommand), deviceDel)));
    const r = await runCli(['run', file, '--sandbox', '--qemu', qemuBinary]);
    assert.equal(r.code, 0, r.stderr);
    const sent = r.stdout.split('\n').filter((l) => l.startsWith('-> ') && l.includes('query-yank'));
    assert.equal(sent.length, 2, r.stdout);
    for (const l of sent) assert.match(l, /^-> \{"exec-oob":\s*"query-yank"/);
  });

  test('check against the QEMU 7.2 schema: the intentional unknown command is the only problem', async () => {
    const r = await runCli(['check', 'samples/tour.qmp', '--schema', schema72]);
    assert.equal(r.code, 1, 'the unknown command is an error');
    const problems = r.stdout.split('\n').filter((l) => l.trim() !== '');
    assert.deepEqual(problems, [`samples/tour.qmp:${L.unknown}:14: error: The command no-such-command has not been found [unknown-command]`]);
    assert.match(r.stderr, /^1 error, 0 other problems/m);
  });

  test('check against the QEMU 7.2 schema: without the error cell the tour has no problems at all', async () => {
    const file = variant('tour-4.qmp', disableCell(tourText, errorCommand));
    const r = await runCli(['check', file, '--schema', schema72]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(r.stdout.trim(), '');
  });
});

describe(`samples/saved-session.qmp through the CLI on a sandbox QEMU ${testQemuVersion().text}`, () => {
  const savedText = readFileSync(savedFile, 'utf8');

  test('the commands succeed up to the intentional device_del error, and RESUME satisfies the wait', async () => {
    const r = await runCli(['run', savedFile, '--sandbox', '--qemu', qemuBinary, '--json']);
    assert.equal(r.code, 1, r.stderr);
    const rs = records(r.stdout);
    const status = at(rs, lineOf(savedText, '{ "execute": "query-status" }'));
    assertOk(status, 'query-status');
    const contLine = lineOf(savedText, '-> { "execute": "cont" }');
    const cont = at(rs, contLine);
    assertOk(cont, 'cont');
    assert.deepEqual(cont.events?.map((e) => e.event), ['RESUME']);
    assert.equal(at(rs, contLine + 1).event?.event, 'RESUME');
    const delLine = lineOf(savedText, 'device_del id=no-such-device');
    const del = at(rs, delLine);
    assert.equal(del.command, 'device_del');
    assert.equal(del.reply?.error?.class, 'DeviceNotFound');
    // The saved outputs (`qmp-output` blocks) are never sent, and nothing runs after the failing cell.
    assert.deepEqual(rs.filter((x) => x.line > delLine), []);
    assert.equal(rs.filter((x) => x.command !== undefined).length, 3);
  });

  test('check against the QEMU 7.2 schema finds no problems', async () => {
    const r = await runCli(['check', savedFile, '--schema', schema72]);
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    assert.equal(r.stdout.trim(), '');
  });
});
