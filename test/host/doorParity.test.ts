// Door parity in the editor: the notebooks of test/qemu/doorParity.test.ts (and two with events that come
// after the reply) through the editor's Run (outputs) and Run as Test (test results), against what the
// packaged CLI says about the same files in the same run (`qmp-notebook test --json`, and `test --update` for
// what the outputs of a run are): the same verdict on every written expectation, the same per-cell
// verdicts and problems from Run as Test and `test`, the same saved outputs from Run as from the CLI's
// renderer. Nothing is hard-coded: every expectation is computed by the CLI here. The packaged CLI's shell gets
// the same cells through a pipe (each pasted with its fences, `--json`): the same verdict. And two notebooks on
// one session: an event is attributed to one cell only.
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseNotebook, type SavedOutput } from '../../src/format';
import { toNotebookData, toSavedOutputs } from '../../src/notebook/serializer';
import type { CellTestResult } from '../../src/notebook/runAsTest';
import { compareCell, notebookRules } from '../../src/testing/compare';
import { api, collectRuns, closeAndForget, executeCells, extensionId, outputTexts, showWithKernel } from './hostHelpers';

type Verdict = 'met' | 'reply-differs' | 'refused' | 'qemu-error';

interface Case {
  name: string;
  /** The notebook's text (cells, and for some saved outputs). */
  text: string;
}

const fence = (cells: string[]): string => cells.map((s) => `\`\`\`qmp\n${s}\n\`\`\`\n`).join('\n');

const MIRROR = '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "src", "size": 1048576}}\n' +
  '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "dst", "size": 1048576}}\n' +
  // 2 MiB/s over 1 MiB: the job is ready about half a second after the reply.
  '{"execute": "blockdev-mirror", "arguments": {"job-id": "m0", "device": "src", "target": "dst", "sync": "full", "speed": 2097152}}';
const TS = '"timestamp": {"seconds": "SECS", "microseconds": "USECS"}';

const cases: Case[] = [
  { name: 'replies and a masked thread-id', text: fence(['{"execute": "query-name"}\n<- {"return": {}}',
    '{"execute": "object-add", "arguments": {"qom-type": "iothread", "id": "io0", "poll-max-ns": 0}}\n<- {"return": {}}\n' +
    '{"execute": "qom-get", "arguments": {"path": "/objects/io0", "property": "poll-max-ns"}}\n<- {"return": 0}']) },
  { name: 'an expected event', text: fence(['{"execute": "cont"}\n<- {"event": "RESUME"}']) },
  { name: 'an integer beyond 2^53', text: fence(['{"execute": "object-add", "arguments": {"qom-type": "iothread", "id": "io1", "poll-max-ns": 0}}\n' +
    '{"execute": "qom-get", "arguments": {"path": "/objects/io1", "property": "poll-max-ns"}}\n<- {"return": 9007199254740993}']) },
  { name: 'an out-of-band cell the schema refuses', text: fence(['{"exec-oob": "query-name"}']) },
  { name: 'a QEMU error', text: fence(['{"execute": "no-such-command"}']) },
  // An event that comes after the reply, written in the cell: every door waits for it (the engine's rule).
  { name: 'a late event written in the cell', text: fence([`${MIRROR}\n<- {"event": "BLOCK_JOB_READY", "data": {"device": "m0", "len": 1048576, "offset": 1048576, "speed": 2097152, "type": "mirror"}}`]) },
  // Events after the reply that only the saved outputs show: a test waits for them (the engine's awaitEvents),
  // and they are the first cell's, not the second's.
  {
    name: 'saved events that come after the reply',
    text: `\`\`\`qmp\n${MIRROR}\n\`\`\`\n\n\`\`\`qmp-output\n` + [
      '-> {"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "src", "size": 1048576}}',
      '<- {"return": {}}',
      '-> {"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "dst", "size": 1048576}}',
      '<- {"return": {}}',
      '-> {"execute": "blockdev-mirror", "arguments": {"job-id": "m0", "device": "src", "target": "dst", "sync": "full", "speed": 2097152}}',
      `<- {${TS}, "event": "JOB_STATUS_CHANGE", "data": {"status": "created", "id": "m0"}}`,
      `<- {${TS}, "event": "JOB_STATUS_CHANGE", "data": {"status": "running", "id": "m0"}}`,
      '<- {"return": {}}',
      `<- {${TS}, "event": "JOB_STATUS_CHANGE", "data": {"status": "ready", "id": "m0"}}`,
      `<- {${TS}, "event": "BLOCK_JOB_READY", "data": {"device": "m0", "len": 1048576, "offset": 1048576, "speed": 2097152, "type": "mirror"}}`,
    ].join('\n\n') + '\n```\n\n```qmp\n{"execute": "query-name"}\n```\n\n```qmp-output\n<- {"return": {}}\n```\n',
  },
];

let dir = '';
let cli = '';

function runCli(args: string[], input?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = execFile(process.execPath, [cli, ...args], { encoding: 'utf8', timeout: 120_000, env: { ...process.env, NO_COLOR: '1', HOME: dir } }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1;
      resolve({ code, stdout, stderr });
    });
    child.stdin?.end(input ?? '');
  });
}

type Rec = Record<string, unknown>;

/** The verdict of `qmp-notebook test --json` on the written expectations, as test/qemu/doorParity.test.ts reads it. */
function testVerdict(results: readonly Rec[]): Verdict {
  const problems = results.flatMap((r) => (r['problems'] as string[]).filter((p) => !/no saved outputs/.test(p)));
  const diff = results.map((r) => String(r['diff'])).join('\n');
  if (/Out-of-band refused|Cell not sent/.test(diff)) return 'refused';
  if (/"error": \{"class"/.test(diff)) return 'qemu-error';
  if (problems.some((p) => /differs from the <- reply written under it|did not arrive/.test(p))) return 'reply-differs';
  return 'met';
}

/** The verdict of a transcript's records (`shell --json`) on the written expectations, as test/qemu/doorParity.test.ts reads it. */
function recordsVerdict(records: readonly Rec[]): Verdict {
  const failure = records.find((r) => r['type'] === 'failure');
  if (failure?.['kind'] === 'not-sent-because-invalid') return 'refused';
  if (failure?.['kind'] === 'qemu-error') return 'qemu-error';
  if (records.some((r) => (r['type'] === 'expected-reply' || r['type'] === 'expected-event') && r['match'] === false)) return 'reply-differs';
  return 'met';
}

/** The verdict of the editor's Run on the written expectations: from the cells' outputs and their unmet expectations. */
function runVerdict(nb: vscode.NotebookDocument, unmet: readonly string[]): Verdict {
  for (const cell of nb.getCells()) {
    const { kinds, texts } = outputTexts(cell);
    if (kinds.includes('failure') && texts.some((t) => /refused|not sent|Cell not sent/i.test(t))) return 'refused';
    if (kinds.includes('error')) return 'qemu-error';
  }
  return unmet.length > 0 ? 'reply-differs' : 'met';
}

suite('door parity in the editor', () => {
  const notebooks: vscode.NotebookDocument[] = [];
  suiteSetup(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'qmp-host-parity-'));
    const ext = vscode.extensions.getExtension(extensionId);
    if (!ext) throw new Error(`${extensionId} is not loaded`);
    cli = path.join(ext.extensionPath, 'dist', 'cli.js');
  });
  suiteTeardown(async () => {
    await closeAndForget(await api(), notebooks);
    rmSync(dir, { recursive: true, force: true });
  });

  for (const c of cases) {
    test(`${c.name}: Run, Run as Test, qmp-notebook test and the shell give the same verdicts`, async function () {
      this.timeout(240_000);
      const qmp = await api();
      const file = path.join(dir, `${c.name.replace(/\W+/g, '-')}.qmp`);
      writeFileSync(file, `---\nprofile: sandbox\n---\n\n${c.text}`);
      const saved = parseNotebook(readFileSync(file, 'utf8'));

      // The CLI on the file: its verdict per cell; and what a run's outputs are (`--update`, on a copy).
      const t = await runCli(['test', file, '--sandbox', '--json']);
      const results = t.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec).filter((r) => 'status' in r);
      assert.ok(results.length > 0, `${t.stdout}\n${t.stderr}`);
      const copy = `${file}.update.qmp`;
      copyFileSync(file, copy);
      const u = await runCli(['test', copy, '--sandbox', '--update']);
      assert.equal(u.code, 0, u.stderr);
      const updated = parseNotebook(readFileSync(copy, 'utf8')).cells.filter((x) => x.kind === 'code');

      // The shell, the notebook's code cells pasted with their fences: test's verdict (it refuses what run refuses).
      const codeCells = saved.cells.filter((x) => x.kind === 'code');
      const sh = await runCli(['shell', '--sandbox', '--json'], codeCells.map((x) => `\`\`\`${x.language}\n${x.source}\n\`\`\`\n`).join(''));
      const shellRecords = sh.stdout.trim().split('\n').map((l) => JSON.parse(l) as Rec).slice(1);
      assert.equal(recordsVerdict(shellRecords), testVerdict(results), `shell: ${sh.stdout}\n${sh.stderr}\ntest --json: ${t.stdout}`);

      // Run as Test in the editor, on a fresh private sandbox as the CLI: the same verdict and problems per cell.
      const nb = await vscode.workspace.openNotebookDocument(vscode.Uri.file(file));
      notebooks.push(nb);
      await showWithKernel(nb, qmp, 'sandbox');
      const tested = await vscode.commands.executeCommand<CellTestResult[] | undefined>('qmp.runNotebookAsTest', nb.uri);
      assert.ok(tested, 'Run as Test returned results');
      const cellIndex = (r: Rec): number => (r['cell'] as number) - 1;
      // The same words, but for the file line the command line names (the editor has no file lines).
      const unlined = (problems: unknown): string[] => (problems as string[]).map((p) => p.replace(/ \(line \d+\)/g, ''));
      assert.deepEqual(
        tested.map((r) => [r.index, r.status, unlined(r.problems)]),
        results.map((r) => [cellIndex(r), r['status'] === 'passed' ? 'passed' : 'failed', unlined(r['problems'])]),
        `Run as Test: ${JSON.stringify(tested, null, 2)}\ntest --json: ${t.stdout}`,
      );

      // The editor's Run (Run All on the live sandbox, fresh for this notebook): the same verdict on what the cells
      // wrote, and outputs that the CLI's comparator finds equal to what the CLI's run rendered.
      await qmp.sessions.disconnect('sandbox');
      await vscode.commands.executeCommand('notebook.clearAllCellsOutputs');
      const runs = collectRuns(qmp);
      try {
        const code = nb.getCells().filter((x) => x.kind === vscode.NotebookCellKind.Code);
        const ended = runs.wait(code);
        await Promise.race([ended, executeCells(nb, code.map((x) => x.index)).then(() => ended)]);
        const outcomes = await ended;
        const unmet = runs.ended.flatMap((r) => [...r.unmet]);
        assert.equal(runVerdict(nb, unmet), testVerdict(results), `Run: ${JSON.stringify(unmet)}\ntest --json: ${t.stdout}`);
        // Events that come after the reply are a test's (awaitEvents), not the editor Run's: those cells are not compared.
        if (!/saved events/.test(c.name)) {
          code.forEach((cell, k) => {
            if (outcomes.get(cell.index) === 'skipped') return;
            const cmp = compareCell({
              saved: updated[k]?.outputs as SavedOutput[] | undefined, actual: toSavedOutputs(cell.outputs), replies: new Map(), written: [],
              rules: notebookRules({}).rules,
            });
            assert.deepEqual(cmp.problems, [], `cell ${cell.index}: the editor's outputs and the CLI's differ\n${cmp.diff}`);
          });
        }
      } finally {
        runs.dispose();
      }
      assert.ok(saved.cells.length > 0);
    });
  }

  test('two notebooks on one session: an event is attributed to one cell only', async function () {
    this.timeout(120_000);
    const qmp = await api();
    await qmp.sessions.disconnect('sandbox');
    const open = async (text: string): Promise<vscode.NotebookDocument> => {
      const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', toNotebookData(parseNotebook(`---\nprofile: sandbox\n---\n\n${text}`)));
      notebooks.push(nb);
      await showWithKernel(nb, qmp, 'sandbox');
      return nb;
    };
    const a = await open(fence([MIRROR.replace(/"m0"/g, '"m1"').replace(/"src"/g, '"s1"').replace(/"dst"/g, '"d1"')]));
    // A's command starts a job that is ready about half a second after its reply; B's cell, queued behind A's
    // on the session's one engine, waits for that READY: it is B's, and not A's too.
    const b = await open(fence(['{"wait-event": "BLOCK_JOB_READY", "timeout": 20000}']));
    const runs = collectRuns(qmp);
    try {
      // One wait each: the two cells have the same index in their notebooks.
      const ended = Promise.all([runs.wait([a.cellAt(0)]), runs.wait([b.cellAt(0)])]);
      await vscode.window.showNotebookDocument(a);
      void executeCells(a, [0]);
      await vscode.window.showNotebookDocument(b);
      void executeCells(b, [0]);
      const outcomes = await ended;
      assert.deepEqual(outcomes.map((o) => o.get(0)), ['succeeded', 'succeeded']);
    } finally {
      runs.dispose();
    }
    const ready = (nb: vscode.NotebookDocument): number => toSavedOutputs(nb.cellAt(0).outputs)
      .filter((o) => o.kind === 'message' && /"BLOCK_JOB_READY"/.test(o.json)).length;
    const created = (nb: vscode.NotebookDocument): number => toSavedOutputs(nb.cellAt(0).outputs)
      .filter((o) => o.kind === 'message' && /"created"/.test(o.json)).length;
    assert.equal(ready(b), 1, `B: ${outputTexts(b.cellAt(0)).texts.join('\n')}`);
    assert.equal(ready(a) + ready(b), 1, `A: ${outputTexts(a.cellAt(0)).texts.join('\n')}\nB: ${outputTexts(b.cellAt(0)).texts.join('\n')}`);
    assert.equal(created(a) + created(b), 1);
  });
});
