// Round trips through QEMU's own tools, from Debian's source package of QEMU 7.2 (test/support/qemuSource.ts;
// scripts/setup-family.sh fetches it): a notebook exported to a qmp-shell script and run by QEMU's qmp-shell,
// and exported to Python and run on QEMU's qemu.qmp, gives the replies `qmp-notebook run --json` gets from a
// second QEMU of the same build (masked as saved outputs are), and so do the exported JSON lines sent through
// qemu.qmp's legacy synchronous client; a log written by QEMU's qmp-shell imports to a
// notebook that passes `qmp-notebook test`. Every QEMU is one of test/support/qemu.ts (QMP_TEST_QEMU), so the
// qemu10 tier runs the same round trips against QEMU 10.0 with 7.2's tools.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseCell, parseNotebook, type CommandItem } from '../../src/format';
import { parseJsonTree, printJsonTree } from '../../src/testing/jsonTree';
import { stableOutputs } from '../../src/testing/savedOutput';
import { buildCli, runCliBundle } from '../support/cliBundle';
import { startQemu, type TestQemu } from '../support/qemu';
import { qemuSource, runPython } from '../support/qemuSource';

const NOTEBOOK = [
  '---', 'profile: sandbox', '---', '', '# Round trip through QEMU\'s own tools', '',
  '```qmp',
  '{ "execute": "query-status" }',
  '{ "execute": "qom-get", "arguments": { "path": "/machine", "property": "type" } }',
  '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "x1", "size": 1048576, "cache": { "direct": false, "no-flush": true } } }',
  '{ "execute": "query-name", "id": "mine-1" }',
  '{ "execute": "human-monitor-command", "arguments": { "command-line": "info version" } }',
  '```', '',
  '```qmp-shell',
  'block-dirty-bitmap-add node=x1 name=b0 persistent=false',
  'query-block-jobs',
  '```', '',
  '```qmp',
  '{ "execute": "transaction", "arguments": { "actions": [ { "type": "block-dirty-bitmap-add", "data": { "node": "x1", "name": "b 1" } } ] } }',
  '{ "execute": "query-named-block-nodes", "arguments": { "flat": true } }',
  '{ "execute": "cont" }',
  '{ "wait-event": "RESUME", "timeout": 5000 }',
  '{ "execute": "query-status" }',
  '```', '',
  '```qmp',
  '{ "execute": "blockdev-del", "arguments": { "node-name": "nope" } }',
  '```', '',
].join('\n');

/** A message as saved outputs keep it, without the id (qmp-shell and qemu.qmp send their own or none). */
function normal(json: string): string {
  const node = parseJsonTree(json);
  assert.ok(node !== undefined, `not JSON: ${json}`);
  const bare = node.type === 'object' ? { type: 'object' as const, members: node.members.filter((m) => m.key !== 'id') } : node;
  return (stableOutputs([{ kind: 'message', direction: '<-', json: printJsonTree(bare) }])[0] as { json: string }).json;
}

function commandsOf(text: string): CommandItem[] {
  return parseNotebook(text).cells.flatMap((c) => (c.kind === 'code' ? parseCell(c.source, c.language).items : []))
    .filter((i): i is CommandItem => i.kind === 'command');
}

interface RunRecord { type: string; reply?: unknown; event?: unknown; command?: string }

describe('round trips through QEMU\'s own qmp-shell and qemu.qmp (Debian\'s QEMU 7.2 source)', () => {
  const qemus: TestQemu[] = [];
  let dir = '';
  let cli = '';
  let notebook = '';
  /** What `qmp-notebook run --json` got on a fresh QEMU: replies and the events its waits took, in order. */
  let ours: RunRecord[] = [];

  async function fresh(): Promise<TestQemu> {
    const q = await startQemu();
    qemus.push(q);
    return q;
  }

  before(async () => {
    qemuSource();
    cli = await buildCli();
    dir = mkdtempSync(path.join(tmpdir(), 'qmp-interop-'));
    notebook = path.join(dir, 'roundtrip.qmp');
    writeFileSync(notebook, NOTEBOOK, { mode: 0o600 });
    const q = await fresh();
    const r = await runCliBundle(cli, ['run', notebook, '--socket', q.socketPath, '--json']);
    // The last cell fails on purpose (an error reply is compared too): exit 1.
    assert.equal(r.code, 1, r.stderr);
    ours = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as RunRecord).filter((x) => x.type === 'reply' || x.type === 'wait-satisfied');
    assert.equal(ours.filter((x) => x.type === 'reply').length, commandsOf(NOTEBOOK).length, r.stdout);
  });
  after(async () => {
    await Promise.all(qemus.map((q) => q.stop()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('an exported qmp-shell script run by QEMU\'s qmp-shell gets the replies the notebook gets', async () => {
    const exported = await runCliBundle(cli, ['export', '--to', 'qmp-shell', notebook]);
    assert.equal(exported.code, 0, exported.stderr);
    const script = exported.stdout;
    // What QEMU's qmp-shell cannot send is a comment with the JSON (here the HMP line, which has a space).
    const unsaid = new Set(script.split('\n').flatMap((l) => /^# qmp-shell cannot send this command[^;]*; as JSON: (.*)$/.exec(l)?.[1] ?? []));
    assert.deepEqual([...unsaid], ['{"execute":"human-monitor-command","arguments":{"command-line":"info version"}}']);

    const q = await fresh();
    const r = await runPython([qemuSource().qmpShell, q.socketPath], script);
    assert.equal(r.code, 0, r.stderr);
    // Not a TTY: each line's prompt is printed, then the reply (JSON, one line); comments are refused on stderr.
    const replies = r.stdout.split('(QEMU) ').map((s) => s.trim()).filter((s) => s.startsWith('{"return"') || s.startsWith('{"error"'));
    const commentLines = script.split('\n').filter((l) => l.startsWith('#')).length;
    assert.equal((r.stderr.match(/^Error while parsing command line: Expected a key=value pair, got /gm) ?? []).length, commentLines, r.stderr);

    const said = commandsOf(NOTEBOOK).map((c, i) => ({ c, i })).filter(({ c }) => !unsaid.has(c.json));
    const oursReplies = ours.filter((x) => x.type === 'reply');
    assert.deepEqual(replies.map(normal), said.map(({ i }) => normal(JSON.stringify(oursReplies[i]?.reply))));
    assert.ok(replies.some((x) => x.startsWith('{"error"')), 'an error reply is compared too');
  });

  test('an exported Python script run on QEMU\'s qemu.qmp gets the replies and events the notebook gets', async () => {
    const exported = await runCliBundle(cli, ['export', '--to', 'python', notebook]);
    assert.equal(exported.code, 0, exported.stderr);
    const script = path.join(dir, 'roundtrip.py');
    writeFileSync(script, exported.stdout, { mode: 0o600 });
    const q = await fresh();
    const r = await runPython([script, q.socketPath], '');
    assert.equal(r.code, 0, r.stderr);
    const got = r.stdout.split('\n').filter((l) => l.startsWith('<- ')).map((l) => normal(l.slice(3)));
    const expected = ours.map((x) => normal(JSON.stringify(x.type === 'reply' ? x.reply : x.event)));
    assert.deepEqual(got, expected);
    assert.ok(got.some((x) => x.includes('"RESUME"')), 'the wait\'s event is compared too');
  });

  test('the exported JSON lines sent through qemu.qmp\'s legacy QEMUMonitorProtocol get the replies the notebook gets', async () => {
    const exported = await runCliBundle(cli, ['export', '--to', 'jsonl', notebook]);
    assert.equal(exported.code, 0, exported.stderr);
    // The synchronous client iotests and older scripts use: it negotiates itself, so the handshake line is skipped.
    const driver = 'import json, sys\nfrom qemu.qmp.legacy import QEMUMonitorProtocol\n'
      + 'qmp = QEMUMonitorProtocol(sys.argv[1])\nqmp.connect(negotiate=True)\n'
      + 'for line in sys.stdin.read().splitlines()[1:]:\n    print(json.dumps(qmp.cmd_obj(json.loads(line))))\nqmp.close()\n';
    const q = await fresh();
    const r = await runPython(['-c', driver, q.socketPath], exported.stdout);
    assert.equal(r.code, 0, r.stderr);
    const got = r.stdout.trim().split('\n').map(normal);
    assert.deepEqual(got, ours.filter((x) => x.type === 'reply').map((x) => normal(JSON.stringify(x.reply))));
  });

  test('a log written by QEMU\'s qmp-shell imports to a notebook that passes qmp-notebook test', async () => {
    const exported = await runCliBundle(cli, ['export', '--to', 'qmp-shell', notebook]);
    const log = path.join(dir, 'qmp-shell.log');
    // QEMU 7.2's `qmp-shell -l FILE` passes FILE as QMPShell's `server` argument (positional), so it listens on
    // the monitor's socket path instead of connecting; its class takes the log by keyword as intended.
    const driver = 'import sys\nfrom qemu.qmp.qmp_shell import QMPShell\n'
      + 'with QMPShell(sys.argv[1], logfile=sys.argv[2]) as shell:\n    shell.connect()\n    for _ in shell.repl():\n        pass\n';
    const a = await fresh();
    const r = await runPython(['-c', driver, a.socketPath, log], exported.stdout);
    assert.equal(r.code, 0, r.stderr);
    const logged = readFileSync(log, 'utf8').trim().split('\n');
    assert.equal(logged.length, commandsOf(NOTEBOOK).length - 1, 'one log line per command sent (the HMP line is a comment)');

    const out = path.join(dir, 'imported.qmp');
    const imp = await runCliBundle(cli, ['import', log, '-o', out]);
    assert.equal(imp.code, 0, imp.stderr);
    const sent = commandsOf(NOTEBOOK).length - 1;
    assert.match(imp.stderr, new RegExp(`\\(qmp-shell-log\\): ${sent} cells`));
    // qmp-shell logs no events: the one the notebook causes (RESUME, of `cont`) is the one difference `test`
    // reports; saved once with --update, the notebook passes on a fresh QEMU.
    assert.match(imp.stderr, /qmp-shell logs hold no events/);
    const b = await fresh();
    const first = await runCliBundle(cli, ['test', out, '--socket', b.socketPath]);
    assert.equal(first.code, 1, `${first.stdout}\n${first.stderr}`);
    assert.match(first.stdout, new RegExp(`\\b${sent - 1} passed, 1 failed`));
    assert.deepEqual(first.stdout.split('\n').filter((l) => / error: /.test(l)).map((l) => l.replace(/^.*?error: /, '').replace(/ \[[0-9a-f]+\]/, '')),
      ['cell 9 (cont): unexpected event RESUME: <- {"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "RESUME"}']);
    const update = await runCliBundle(cli, ['test', out, '--update', '--socket', (await fresh()).socketPath]);
    assert.equal(update.code, 0, `${update.stdout}\n${update.stderr}`);
    const c = await fresh();
    const t = await runCliBundle(cli, ['test', out, '--socket', c.socketPath]);
    assert.equal(t.code, 0, `${t.stdout}\n${t.stderr}\n${readFileSync(out, 'utf8')}`);
    assert.match(t.stdout, new RegExp(`\\b${sent} passed`));

    // `-p` (pretty: indented over lines, keys sorted) logs the same exchange: it imports to the same cells.
    const prettyLog = path.join(dir, 'qmp-shell-pretty.log');
    const p = await runPython(['-c', driver.replace('logfile=sys.argv[2]', 'pretty=True, logfile=sys.argv[2]'), (await fresh()).socketPath, prettyLog], exported.stdout);
    assert.equal(p.code, 0, p.stderr);
    assert.ok(readFileSync(prettyLog, 'utf8').split('\n').length > 4 * sent, 'the pretty log spans lines');
    const prettyOut = path.join(dir, 'imported-pretty.qmp');
    const imp2 = await runCliBundle(cli, ['import', prettyLog, '-o', prettyOut]);
    assert.equal(imp2.code, 0, imp2.stderr);
    const values = (file: string): unknown[] => parseNotebook(readFileSync(file, 'utf8')).cells.filter((cell) => cell.kind === 'code')
      .map((cell) => [JSON.parse(cell.source) as unknown, (cell.outputs ?? []).map((o) => (o.kind === 'message' ? JSON.parse(o.json) as unknown : o.text))]);
    const again = path.join(dir, 'imported-again.qmp');
    assert.equal((await runCliBundle(cli, ['import', log, '-o', again])).code, 0);
    assert.deepEqual(values(prettyOut), values(again));
  });
});
