// Outputs that explain themselves (issue 9 §3) and Run All with an out-of-band cell (§4), in a real extension
// host on the sandbox: each reply under a compact label of its command, QEMU errors as notebook error outputs
// named by their class, a pasted `<-` reply compared with QEMU's, and execution order that follows the cells.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, disconnectAll, endedSummaries, outputTexts, runCells, showWithKernel } from './hostHelpers';

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
});
