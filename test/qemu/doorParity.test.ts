// Door parity: the same notebooks through `qmp-notebook run`, `qmp-notebook test`, the language server's
// `qmp.runCell` (its session in this process, and the built `qmp-notebook lsp` over stdio) and `qmp-notebook shell` (the cells typed into it through a pipe), each on its own fresh sandbox
// QEMU, give the same verdicts and the same records: written `<-` replies with a masked value (thread-id) and
// integers beyond 2^53, an expected event, an out-of-band cell the schema refuses, a QEMU error. One kernel per
// connection (src/kernel) and one comparator make them agree. The shell shows each input's diagnostics as
// `check` does, then runs it as `run` runs the cell: the same records, refusals included.
// The editor's doors (Run, Run as Test) on the same notebooks, with late and saved events and two notebooks on
// one session, are compared with the packaged CLI in test/host/doorParity.test.ts.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildCli, runCliBundle, type CliResult } from '../support/cliBundle';
import { recordShape } from '../support/records';
import { LspTestClient } from '../support/lspClient';

let bundle = '';
const runCli = (args: string[], input?: string): Promise<CliResult> =>
  runCliBundle(bundle, args, input !== undefined ? { input, env: { ...process.env, HOME: dir } } : {});
import { LspSession } from '../../src/lsp/session';

const qemu = process.env['QMP_TEST_QEMU'];
const qemuArgs = qemu ? ['--qemu', qemu] : [];
let dir = '';

before(async () => {
  bundle = await buildCli();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-parity-'));
});
after(() => { rmSync(dir, { recursive: true, force: true }); });

interface Case {
  name: string;
  cells: string[];
  /** What every door must say about the written expectations: all met, or which do not. */
  verdict: 'met' | 'reply-differs' | 'refused' | 'qemu-error';
}

const cases: Case[] = [
  {
    name: 'replies and a masked thread-id', verdict: 'met',
    cells: [
      '{"execute": "query-name"}\n<- {"return": {}}',
      '{"execute": "object-add", "arguments": {"qom-type": "iothread", "id": "io0", "poll-max-ns": 0}}\n<- {"return": {}}\n' +
        '{"execute": "qom-get", "arguments": {"path": "/objects/io0", "property": "poll-max-ns"}}\n<- {"return": 0}',
    ],
  },
  {
    name: 'an expected event', verdict: 'met',
    cells: ['{"execute": "cont"}\n<- {"event": "RESUME"}'],
  },
  {
    name: 'an integer beyond 2^53', verdict: 'reply-differs',
    cells: ['{"execute": "object-add", "arguments": {"qom-type": "iothread", "id": "io1", "poll-max-ns": 0}}\n' +
      '{"execute": "qom-get", "arguments": {"path": "/objects/io1", "property": "poll-max-ns"}}\n<- {"return": 9007199254740993}'],
  },
  {
    name: 'an out-of-band cell the schema refuses', verdict: 'refused',
    cells: ['{"exec-oob": "query-name"}'],
  },
  {
    name: 'a QEMU error', verdict: 'qemu-error',
    cells: ['{"execute": "no-such-command"}'],
  },
];

type Rec = Record<string, unknown>;

const shape = recordShape;

/**
 * The language server over stdio (the built `qmp-notebook lsp`, a sandbox configured as a user does): the
 * notebook opened, each cell's "▶ Run cell" lens executed in order (`qmp.runCell`), the records of the replies.
 */
async function runCellOverStdio(cells: readonly string[]): Promise<Rec[]> {
  const c = new LspTestClient(bundle, ['lsp'], { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'none') });
  try {
    await c.initialize(null, { sandbox: true, ...(qemu !== undefined ? { qemuBinary: qemu } : {}) });
    await c.waitFor((m) => m.method === 'window/logMessage' && /schema from a sandbox QEMU/.test((m.params as { message: string }).message), 60_000, 'the live schema');
    const uri = 'file:///tmp/door-parity.qmp';
    c.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text: cells.map((s) => `\`\`\`qmp\n${s}\n\`\`\`\n`).join('\n') } });
    const lenses = await c.request<Array<{ command: { command: string; arguments: unknown[] } }>>('textDocument/codeLens', { textDocument: { uri } });
    const run = (lenses.result ?? []).filter((l) => l.command.command === 'qmp.runCell');
    assert.equal(run.length, cells.length, JSON.stringify(lenses.result));
    const records: Rec[] = [];
    for (const lens of run) {
      const r = await c.request<{ status: string; format?: number; records?: Rec[] }>('workspace/executeCommand', { command: 'qmp.runCell', arguments: lens.command.arguments }, 60_000);
      assert.equal(r.result?.format, 1, JSON.stringify(r));
      records.push(...(r.result?.records ?? []));
    }
    assert.equal(await c.shutdown(), 0);
    return records;
  } finally {
    c.proc.kill('SIGKILL');
  }
}

/** The records of each cell, in the order the cells started. */
function byCell(records: readonly Rec[]): Rec[][] {
  const cells: Rec[][] = [];
  for (const r of records) {
    if (r['type'] === 'cell-started') cells.push([]);
    cells[cells.length - 1]?.push(r);
  }
  return cells;
}

/**
 * The cells typed into `qmp-notebook shell --json` through a pipe, as a user gives them: a cell of one line as
 * that line, a cell of several lines (with its `<-` replies) pasted with its fences. Each gives `run`'s records
 * for the same cell, refusals included (the shell shows check's diagnostics first but refuses only what run
 * refuses).
 */
async function shellAgrees(cells: readonly string[], runRecords: readonly Rec[]): Promise<Rec[]> {
  const input = `${cells.map((s) => (s.includes('\n') ? `\`\`\`qmp\n${s}\n\`\`\`` : s)).join('\n')}\n`;
  const sh = await runCli(['shell', '--sandbox', ...qemuArgs, '--json'], input);
  const lines = sh.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec);
  assert.deepEqual(lines[0], { type: 'transcript', format: 1 }, sh.stdout + sh.stderr);
  const shellRecords = lines.slice(1);
  const shellCells = byCell(shellRecords);
  const runCells = byCell(runRecords);
  assert.equal(shellCells.length, cells.length, sh.stdout);
  cells.forEach((_source, i) => {
    const got = shellCells[i] as Rec[];
    assert.deepEqual(got.map(shape), (runCells[i] ?? []).map(shape), `cell ${i + 1}: shell ${JSON.stringify(got)}\nrun ${JSON.stringify(runCells[i])}`);
  });
  // A script exits 1 when a command failed (refused, an error reply), as run does.
  assert.equal(sh.code, verdictOf(shellRecords) === 'refused' || verdictOf(shellRecords) === 'qemu-error' ? 1 : 0, sh.stderr);
  return shellRecords;
}

function verdictOf(records: readonly Rec[]): Case['verdict'] {
  const failure = records.find((r) => r['type'] === 'failure');
  if (failure?.['kind'] === 'not-sent-because-invalid') return 'refused';
  if (failure?.['kind'] === 'qemu-error') return 'qemu-error';
  if (records.some((r) => (r['type'] === 'expected-reply' || r['type'] === 'expected-event') && r['match'] === false)) return 'reply-differs';
  return 'met';
}

for (const c of cases) {
  describe(`door parity: ${c.name}`, () => {
    test('run --json, test, runCell and the shell agree on the verdict and the records', async () => {
      const file = path.join(dir, `${c.name.replace(/\W+/g, '-')}.qmp`);
      writeFileSync(file, c.cells.map((s) => `\`\`\`qmp\n${s}\n\`\`\`\n`).join('\n'));

      // qmp-notebook run --json: one batch (it stops at the first failure; every case fails in its last cell).
      const run = await runCli(['run', file, '--sandbox', ...qemuArgs, '--json']);
      const lines = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec);
      assert.deepEqual(lines[0], { type: 'transcript', format: 1 });
      const runRecords = lines.slice(1);
      assert.equal(verdictOf(runRecords), c.verdict, run.stdout + run.stderr);
      assert.equal(run.code, c.verdict === 'refused' || c.verdict === 'qemu-error' ? 1 : 0, run.stderr);

      // The language server: the same cells on one kernel, one call each.
      const lsp = new LspSession({ kind: 'sandbox' }, qemu);
      const lspRecords: Rec[] = [];
      try {
        for (const [i, source] of c.cells.entries()) {
          const r = await lsp.runCell(source, 'qmp', i + 1, 1);
          assert.ok(r.format === 1 && r.records, JSON.stringify(r));
          lspRecords.push(...r.records.map((x) => JSON.parse(x.text) as Rec));
        }
      } finally {
        await lsp.dispose();
      }
      assert.equal(verdictOf(lspRecords), c.verdict, JSON.stringify(lspRecords));
      // Identical records, but for timing, ids and QEMU's own texts (the run's cell numbers are positions).
      assert.deepEqual(lspRecords.map(shape), runRecords.map(shape));
      // And over the wire, as an editor calls it: the same records.
      assert.deepEqual((await runCellOverStdio(c.cells)).map(shape), runRecords.map(shape));

      // qmp-notebook shell: run's records, cell for cell, and so run's verdict.
      const shellRecords = await shellAgrees(c.cells, runRecords);
      assert.equal(verdictOf(shellRecords), c.verdict);

      // qmp-notebook test: every written expectation is part of the cell's verdict.
      const t = await runCli(['test', file, '--sandbox', ...qemuArgs, '--json']);
      const results = t.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec).filter((r) => 'status' in r);
      const written = results.flatMap((r) => (r['problems'] as string[]).filter((p) => !/no saved outputs/.test(p)));
      if (c.verdict === 'met') assert.deepEqual(written, [], t.stdout);
      else if (c.verdict === 'reply-differs') assert.ok(written.some((p) => /differs from the <- reply written under it/.test(p)), t.stdout);
      else {
        // The failure is the cell's output, which the test compares: the same words as run's failure record.
        const diff = results.map((r) => r['diff'] as string).join('\n');
        const failure = runRecords.find((r) => r['type'] === 'failure') as Rec;
        const words = c.verdict === 'refused' ? String(failure['message']).split('\n')[0] as string : 'CommandNotFound';
        assert.ok(diff.includes(words.replace(/^line \d+: /, '')), `${words}\n${t.stdout}`);
        assert.equal(t.code, 1);
      }
    });
  });
}

test('door parity: a host thread id in a written reply is masked by every door', async () => {
  const file = path.join(dir, 'thread-id.qmp');
  const cell = '{"execute": "object-add", "arguments": {"qom-type": "iothread", "id": "io2"}}\n{"execute": "query-iothreads"}\n' +
    '<- {"return": [{"id": "io2", "thread-id": 111}]}';
  writeFileSync(file, `\`\`\`qmp\n${cell}\n\`\`\`\n`);
  const run = await runCli(['run', file, '--sandbox', ...qemuArgs, '--json']);
  const expected = run.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec).find((r) => r['type'] === 'expected-reply');
  // The written reply lists fewer members than QEMU's: it differs, but never in thread-id.
  assert.ok(expected && expected['match'] === false, run.stdout);
  assert.ok(!(expected['differences'] as string[]).some((d) => /thread-id/.test(d)), JSON.stringify(expected));
  const lsp = new LspSession({ kind: 'sandbox' }, qemu);
  try {
    const r = await lsp.runCell(cell, 'qmp', 1, 1);
    const e = r.records?.map((x) => JSON.parse(x.text) as Rec).find((x) => x['type'] === 'expected-reply');
    assert.deepEqual(e?.['differences'], expected['differences']);
  } finally {
    await lsp.dispose();
  }
  // The shell, the cell pasted with its fences: the same differences.
  const shell = await shellAgrees([cell], run.stdout.trim().split('\n').slice(1).map((l) => JSON.parse(l) as Rec));
  assert.deepEqual(shell.find((r) => r['type'] === 'expected-reply')?.['differences'], expected['differences']);
});
