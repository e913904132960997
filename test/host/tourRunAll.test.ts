// The first thing a new user does: QMP: Open the Tour, the sandbox kernel, Run All. Every cell above the tour's
// deliberate unknown command succeeds, that cell fails with QEMU's CommandNotFound, and Run All stops there
// (the cells below it are not run).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, collectRuns, disconnectAll, outputTexts, showWithKernel, waitFor } from './hostHelpers';

suite('the tour with Run All', () => {
  teardown(async () => {
    await disconnectAll(await api());
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  test('runs every cell down to the deliberate error, which fails, and stops there', async function () {
    this.timeout(180_000);
    const qmp = await api();
    await vscode.commands.executeCommand('qmp.openTour');
    const nb = await waitFor(vscode.window.onDidChangeActiveNotebookEditor,
      () => vscode.window.activeNotebookEditor?.notebook, 'the tour notebook');
    await showWithKernel(nb, qmp, 'sandbox');
    const code = nb.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
    const errorCell = code.find((c) => /no-such-command|query-verison|does-not-exist/.test(c.document.getText()));
    assert.ok(errorCell, 'the tour has a deliberate unknown command');
    const above = code.filter((c) => c.index < errorCell.index);
    const runs = collectRuns(qmp);
    try {
      void vscode.commands.executeCommand('notebook.execute', nb.uri);
      const ended = await waitFor(qmp.controllers.onDidEndRun, () => {
        const done = new Map(runs.ended.map((r) => [r.cell.index, r.outcome]));
        // Cells end asynchronously (their last outputs are flushed in batches): wait for all of them.
        return done.has(errorCell.index) && above.every((c) => done.has(c.index)) ? done : undefined;
      }, 'Run All to reach the deliberate error', 150_000).catch((err: unknown) => {
        const seen = runs.ended.map((r) => `${r.cell.index}:${r.outcome}`).join(' ');
        throw new Error(`${String(err)}; cells ended: ${seen}; code cells at ${code.map((c) => c.index).join(',')}`);
      });
      for (const c of above) {
        assert.equal(ended.get(c.index), 'succeeded', `cell ${c.index} (${c.document.getText().slice(0, 60)}): ${JSON.stringify(outputTexts(c))}`);
      }
      assert.equal(ended.get(errorCell.index), 'failed');
      assert.match(outputTexts(errorCell).texts.join('\n') + JSON.stringify(outputTexts(errorCell)), /CommandNotFound/);
      // Run All stops at the first failure: nothing below it started (the engine reports those cells skipped).
      const below = code.filter((c) => c.index > errorCell.index);
      assert.deepEqual(below.filter((c) => ended.has(c.index) && ended.get(c.index) !== 'skipped').map((c) => `${c.index}:${ended.get(c.index)}`), []);
    } finally {
      runs.dispose();
    }
  });
});
