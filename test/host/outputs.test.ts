// Outputs that explain themselves (issue 9 §3) and Run All with an out-of-band cell (§4), in a real extension
// host on the sandbox: each reply under a compact label of its command, QEMU errors as notebook error outputs
// named by their class, a pasted `<-` reply or event compared with what QEMU sent, and execution order that
// follows the cells.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { startQemu } from '../support/qemu';
import { toSavedOutputs } from '../../src/notebook/serializer';
import { api, collectRuns, disconnectAll, endedSummaries, executeCells, outputTexts, runCells, showWithKernel, waitFor } from './hostHelpers';

const errorMime = 'application/vnd.code.notebook.error';

function errorsOf(cell: vscode.NotebookCell): Array<{ name: string; message: string }> {
  const found: Array<{ name: string; message: string }> = [];
  for (const o of cell.outputs) {
    for (const item of o.items) {
      if (item.mime === errorMime) found.push(JSON.parse(new TextDecoder().decode(item.data)) as { name: string; message: string });
    }
  }
  return found;
}

async function sandboxNotebook(cells: Array<[string, string]>): Promise<vscode.NotebookDocument> {
  const data = new vscode.NotebookData(cells.map(([language, source]) =>
    new vscode.NotebookCellData(vscode.NotebookCellKind.Code, source, language)));
  data.metadata = { profile: 'sandbox' };
  const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
  await showWithKernel(nb, await api(), 'sandbox');
  return nb;
}

suite('outputs', () => {
  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await disconnectAll(await api());
  });

  test('a cell with several commands shows each reply under a compact label; shell and HMP labels have no made-up id', async () => {
    const qmp = await api();
    const nb = await sandboxNotebook([
      ['qmp', '{ "execute": "query-status" }\n{ "execute": "query-name", "id": "mine" }'],
      ['qmp-shell', 'query-status'],
      ['hmp', 'info status'],
      ['qmp', '{ "execute": "query-status" }'],
    ]);
    const outcomes = await runCells(qmp, nb, [0, 1, 2, 3]);
    assert.deepEqual([...outcomes.values()], ['succeeded', 'succeeded', 'succeeded', 'succeeded']);
    const multi = outputTexts(nb.cellAt(0));
    assert.deepEqual(multi.kinds, ['sent', 'reply', 'sent', 'reply']);
    const labels = multi.texts.filter((t) => t.startsWith('-> '));
    assert.deepEqual(labels, ['-> {"execute":"query-status"}', '-> {"execute":"query-name","id":"mine"}'],
      'the author\'s id is kept, the client\'s is not shown');
    for (const i of [1, 2]) {
      const out = outputTexts(nb.cellAt(i));
      assert.deepEqual(out.kinds, ['sent', 'reply']);
      assert.doesNotMatch(out.texts[0] ?? '', /"id"/, `cell ${i}: ${out.texts[0]}`);
    }
    assert.deepEqual(outputTexts(nb.cellAt(3)).kinds, ['reply'], 'a single JSON command needs no label');
  });

  test('a QEMU error is a notebook error output named by its class, with the message and the command', async () => {
    const qmp = await api();
    const nb = await sandboxNotebook([['qmp', '{ "execute": "device_del", "arguments": { "id": "no-such-device" } }']]);
    const outcomes = await runCells(qmp, nb, [0]);
    assert.equal(outcomes.get(0), 'failed');
    const errors = errorsOf(nb.cellAt(0));
    assert.equal(errors.length, 1, 'one error output, not a second failure output');
    assert.equal(errors[0]?.name, 'DeviceNotFound');
    assert.match(errors[0]?.message ?? '', /no-such-device.*not found/i);
    assert.match(errors[0]?.message ?? '', /command: \{"execute":"device_del","arguments":\{"id":"no-such-device"\}\}/);
    assert.doesNotMatch(errors[0]?.message ?? '', /"#\d+"|__qmp/);
  });

  test('failures of the cell itself are error outputs named for what happened', async () => {
    const qmp = await api();
    const nb = await sandboxNotebook([['qmp', '{ "execute": "query-status" }\n{ "wait-event": "RESET", "timeout": 200 }']]);
    const outcomes = await runCells(qmp, nb, [0]);
    assert.equal(outcomes.get(0), 'failed');
    const errors = errorsOf(nb.cellAt(0));
    assert.equal(errors[0]?.name, 'Timeout');
    assert.match(errors[0]?.message ?? '', /line 2: no RESET within 200 ms/);
  });

  test('a pasted <- reply is shown beside QEMU\'s, matching or differing with the difference', async () => {
    const qmp = await api();
    const nb = await sandboxNotebook([
      ['qmp', '-> { "execute": "query-name" }\n<- { "return": {} }'],
      ['qmp', '-> { "execute": "query-status" }\n<- { "return": { "status": "no-such-status", "singlestep": false, "running": "maybe" } }'],
    ]);
    const outcomes = await runCells(qmp, nb, [0, 1]);
    assert.deepEqual([...outcomes.values()], ['succeeded', 'succeeded'], 'a differing reply is information, not a failure');
    const same = outputTexts(nb.cellAt(0));
    assert.deepEqual(same.kinds, ['reply', 'note']);
    assert.match(same.texts[same.texts.length - 1] ?? '', /^✓ The reply matches the expected/);
    const differs = outputTexts(nb.cellAt(1));
    const note = differs.texts[differs.texts.length - 1] ?? '';
    assert.match(note, /^✗ The reply differs from the expected reply:/);
    assert.match(note, /return\.status: expected "no-such-status", QEMU said "[a-z-]+"/);
    assert.match(note, /return\.running: expected "maybe", QEMU said (true|false)/);
    const differences = note.split('\n').filter((l) => l.startsWith('  '));
    assert.equal(differences.length, 2, note);
    assert.ok(!differences.some((l) => l.includes('singlestep')), 'what matches is not listed');
    // Saved, the cell keeps QEMU's reply and not the note (qmp-notebook test would never print it).
    const saved = toSavedOutputs(nb.cellAt(1).outputs);
    assert.deepEqual(saved.map((o) => o.kind), ['message']);
  });

  test('an expected <- event is checked: a note says it arrived, or why not (information, not a failure)', async () => {
    const qmp = await api();
    const nb = await sandboxNotebook([
      ['qmp', '-> { "execute": "cont" }\n-> { "execute": "stop" }\n<- { "timestamp": { "seconds": 1, "microseconds": 2 }, "event": "STOP" }'],
      ['qmp', '-> { "execute": "cont" }\n{ "wait-event": "RESUME", "timeout": 3000 }\n<- { "event": "SHUTDOWN" }'],
    ]);
    const outcomes = await runCells(qmp, nb, [0, 1]);
    assert.deepEqual([...outcomes.values()], ['succeeded', 'succeeded']);
    const arrived = outputTexts(nb.cellAt(0));
    assert.equal(arrived.kinds[arrived.kinds.length - 1], 'note');
    assert.match(arrived.texts[arrived.texts.length - 1] ?? '', /^✓ The expected event STOP arrived: \{ "timestamp"/);
    const missing = outputTexts(nb.cellAt(1));
    assert.equal(missing.texts[missing.texts.length - 1], '✗ SHUTDOWN did not arrive within 3000 ms: { "event": "SHUTDOWN" }');
  });

  test('Run All with an out-of-band cell: execution order follows the cells', async () => {
    const qmp = await api();
    const nb = await sandboxNotebook([
      ['qmp', '{ "execute": "query-status" }'],
      ['qmp', '{ "exec-oob": "query-yank" }'],
      ['qmp', '{ "execute": "query-name" }'],
    ]);
    const outcomes = await runCells(qmp, nb, [0, 1, 2]);
    assert.deepEqual([...outcomes.values()].sort(), ['succeeded', 'succeeded', 'succeeded']);
    const orders = (await endedSummaries(nb, [0, 1, 2])).map((s) => s.executionOrder ?? 0);
    assert.ok(orders[0]! > 0 && orders[0]! < orders[1]! && orders[1]! < orders[2]!, `execution order ${orders.join(',')}`);
  });

  test('interrupting a blocked command says QEMU may still be working on it; the next in-band cell says it waits behind it', async () => {
    const qmp = await api();
    const qemu = await startQemu({ machine: ['-M', 'q35', '-m', '128M', '-accel', 'tcg'] });
    const fifo = path.join(qemu.dir, 'dump.fifo');
    assert.equal(spawnSync('mkfifo', ['-m', '0600', fifo]).status, 0, 'mkfifo');
    const config = vscode.workspace.getConfiguration('qmp');
    await config.update('connections', [{ name: 'busy', socket: qemu.socketPath }], vscode.ConfigurationTarget.Workspace);
    try {
      await waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.controllers.controllerFor('busy'), 'the busy controller');
      const data = new vscode.NotebookData([
        new vscode.NotebookCellData(vscode.NotebookCellKind.Code,
          `{ "execute": "dump-guest-memory", "arguments": { "paging": false, "protocol": "file:${fifo}" } }`, 'qmp'),
        new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "query-status" }', 'qmp'),
      ]);
      data.metadata = { profile: 'busy' };
      const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
      await showWithKernel(nb, qmp, 'busy');
      const sent: string[] = [];
      const traceSub = qmp.sessions.onDidTrace((t) => { if (t.dir === '->') sent.push(t.text); });
      const runs = collectRuns(qmp);
      try {
        void executeCells(nb, [0]);
        await waitFor(qmp.sessions.onDidTrace, () => (sent.some((t) => t.includes('dump-guest-memory')) ? true : undefined), 'the dump on the wire');
        await qmp.controllers.controllerFor('busy')?.interruptHandler?.(nb);
        const first = await runs.wait([nb.cellAt(0)]);
        assert.equal(first.get(0), 'interrupted');
        const stopped = outputTexts(nb.cellAt(0)).texts.join('\n');
        assert.match(stopped, /QEMU may still be working on it/);

        // QEMU answers in-band commands in order: the next one waits behind the dump, and says so meanwhile.
        void executeCells(nb, [1]);
        await waitFor(vscode.workspace.onDidChangeNotebookDocument,
          () => (outputTexts(nb.cellAt(1)).texts.some((t) => /still working on dump-guest-memory/.test(t)) ? true : undefined),
          'the waiting note');
        assert.equal(runs.ended.some((r) => r.cell.index === 1), false, 'the cell is still waiting');
        // Reading the FIFO lets the dump finish, and then the waiting command is answered.
        const drained = new Promise<void>((resolve, reject) => {
          fs.createReadStream(fifo).on('data', () => undefined).on('end', () => resolve()).on('error', reject);
        });
        const second = await runs.wait([nb.cellAt(1)]);
        await drained;
        assert.equal(second.get(1), 'succeeded', JSON.stringify(outputTexts(nb.cellAt(1))));
        const out = outputTexts(nb.cellAt(1));
        assert.equal(out.kinds[0], 'note');
        assert.equal(out.kinds[out.kinds.length - 1], 'reply');
        // The dump's DUMP_COMPLETED comes while query-status is the oldest unanswered command: it is that cell's.
        assert.ok(out.kinds.filter((k) => k === 'event').length <= 1, JSON.stringify(out.kinds));
      } finally {
        runs.dispose();
        traceSub.dispose();
      }
    } finally {
      await config.update('connections', undefined, vscode.ConfigurationTarget.Workspace);
      await qemu.stop();
    }
  });
});
