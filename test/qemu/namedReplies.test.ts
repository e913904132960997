// Named replies on a real QEMU, through every door that runs a notebook: `qmp-notebook run`, `qmp-notebook
// test` and the language server's `qmp.runCell`. The first cell names its reply; later cells (qmp and
// qmp-shell) use a value of it as a whole value (a number stays a number) and inside a string; a use of a
// missing member fails its cell "not sent" with the reason.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCli, runCliBundle, type CliResult } from '../support/cliBundle';
import { LspSession } from '../../src/lsp/session';

let bundle = '';
const runCli = (args: string[]): Promise<CliResult> => runCliBundle(bundle, args);
const qemu = process.env['QMP_TEST_QEMU'];
const qemuArgs = qemu ? ['--qemu', qemu] : [];
let dir = '';

before(async () => {
  bundle = await buildCli();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-named-'));
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

type Rec = Record<string, unknown>;

const CELLS: Array<[string, string]> = [
  ['qmp', '// @name poll\n{"execute": "object-add", "arguments": {"qom-type": "iothread", "id": "io0", "poll-max-ns": 12345}}\n' +
    '{"execute": "qom-get", "arguments": {"path": "/objects/io0", "property": "poll-max-ns"}}'],
  ['qmp-shell', 'qom-set path=/objects/io0 property=poll-grow value={{poll.return}}\n' +
    'object-add qom-type=iothread id="io-{{poll.return}}"'],
  ['qmp', '{"execute": "qom-get", "arguments": {"path": "/objects/io0", "property": "poll-grow"}}\n<- {"return": 12345}\n' +
    '{"execute": "qom-get", "arguments": {"path": "/objects/io-{{poll.return}}", "property": "poll-max-ns"}}'],
];

const notebook = (cells: Array<[string, string]>): string => cells.map(([lang, s]) => `\`\`\`${lang}\n${s}\n\`\`\`\n`).join('\n');

describe('named replies on QEMU', () => {
  test('run --json: later cells send the named value, and the sent label shows it', async () => {
    const file = path.join(dir, 'named.qmp');
    writeFileSync(file, notebook(CELLS));
    const run = await runCli(['run', file, '--sandbox', ...qemuArgs, '--json']);
    assert.equal(run.code, 0, run.stdout + run.stderr);
    const records = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec);
    const labels = records.filter((r) => r['type'] === 'sent').map((r) => r['label']);
    assert.ok(labels.includes('{"execute":"qom-set","arguments":{"path":"/objects/io0","property":"poll-grow","value":12345}}'), JSON.stringify(labels));
    assert.ok(labels.includes('{"execute":"object-add","arguments":{"qom-type":"iothread","id":"io-12345"}}'), JSON.stringify(labels));
    const expected = records.filter((r) => r['type'] === 'expected-reply');
    assert.deepEqual(expected.map((r) => r['match']), [true], JSON.stringify(expected));
    const last = records.filter((r) => r['type'] === 'reply').at(-1);
    // The iothread named from the reply exists: QEMU answers for its path.
    assert.equal(last?.['ok'], true, JSON.stringify(last));
    assert.equal(last?.['command'], 'qom-get');
  });

  test('test: the same notebook passes its written expectations; the language server\'s runCell substitutes the same', async () => {
    const file = path.join(dir, 'named-test.qmp');
    writeFileSync(file, notebook(CELLS));
    const t = await runCli(['test', file, '--sandbox', ...qemuArgs, '--json']);
    const results = t.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec).filter((r) => 'status' in r);
    const written = results.flatMap((r) => (r['problems'] as string[]).filter((p) => !/no saved outputs/.test(p)));
    assert.deepEqual(written, [], t.stdout + t.stderr);
    assert.equal(results.length, 3, t.stdout);

    const lsp = new LspSession({ kind: 'sandbox' }, qemu);
    const labels: unknown[] = [];
    try {
      for (const [i, [lang, source]] of CELLS.entries()) {
        const r = await lsp.runCell(source, lang, i + 1, 1);
        assert.ok(r.format === 1 && r.records, JSON.stringify(r));
        const records = r.records.map((x) => JSON.parse(x.text) as Record<string, unknown>);
        assert.ok(!records.some((x) => x['type'] === 'failure'), JSON.stringify(records));
        labels.push(...records.filter((x) => x['type'] === 'sent').map((x) => x['label']));
      }
    } finally {
      await lsp.dispose();
    }
    assert.ok(labels.includes('{"execute":"qom-set","arguments":{"path":"/objects/io0","property":"poll-grow","value":12345}}'), JSON.stringify(labels));
  });

  test('a missing member fails the cell "not sent", with the members there are', async () => {
    const file = path.join(dir, 'named-missing.qmp');
    writeFileSync(file, notebook([
      ['qmp', '// @name st\n{"execute": "query-status"}'],
      ['qmp', '{"execute": "qom-get", "arguments": {"path": "{{st.return.nope}}", "property": "x"}}'],
    ]));
    const run = await runCli(['run', file, '--sandbox', ...qemuArgs, '--json']);
    assert.equal(run.code, 1, run.stdout + run.stderr);
    const records = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec);
    const failure = records.find((r) => r['type'] === 'failure');
    assert.equal(failure?.['kind'], 'not-sent-because-invalid');
    assert.match(String(failure?.['message']), /qom-get was not sent: \{\{st\.return\.nope\}\}: st\.return has no member 'nope' \(its members: .*status/);
    assert.ok(!records.some((r) => r['type'] === 'written' && r['command'] === 'qom-get'), 'nothing of it was written');
  });
});

describe('named replies in qmp-notebook shell', () => {
  test('a # @name line names the next input\'s reply; a later line uses it', async () => {
    const script = '# @name st\nquery-status\nqom-get path=/machine property=x-{{st.return.status}}\n';
    const r = await runCliBundle(bundle, ['shell', '--sandbox', ...qemuArgs], { input: script, env: { ...process.env, HOME: dir }, deadlineMs: 60_000 });
    // QEMU names the property it was asked for: the substituted one.
    assert.match(`${r.stdout}${r.stderr}`, /x-prelaunch/, `${r.stdout}\n${r.stderr}`);
    assert.doesNotMatch(`${r.stdout}${r.stderr}`, /\{\{st/, 'nothing unsubstituted was sent or printed');
  });
});
