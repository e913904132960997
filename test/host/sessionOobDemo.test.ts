// The tour's out-of-band demo in the notebook, as a user runs it from the walkthrough: QMP: Open the Tour, the
// default sandbox, the last two cells. The in-band cell blocks QEMU; the exec-oob cell is answered meanwhile; the
// block ends by itself (open-timeout) with the error the tour announces.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, collectRuns, disconnectAll, executeCells, outputTexts, runCells, showWithKernel, waitFor } from './hostHelpers';

suite('session: the tour\'s out-of-band demo', () => {
  teardown(async () => {
    await disconnectAll(await api());
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });

  test('Open the Tour; the blocked in-band cell, the exec-oob cell answered meanwhile, then the release', async () => {
    const qmp = await api();
    await vscode.commands.executeCommand('qmp.openTour');
    const nb = await waitFor(vscode.window.onDidChangeActiveNotebookEditor,
      () => vscode.window.activeNotebookEditor?.notebook, 'the tour notebook');
    assert.equal(nb.isUntitled, true, 'the tour opens as a copy');
    const cells = nb.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
    const block = cells.find((c) => c.document.getText().includes('"node-name": "stuck"'));
    const overtake = cells.find((c) => c.document.getText().includes('"id": "overtaking"'));
    assert.ok(block && overtake, 'the tour has the demo pair');
    assert.equal(qmp.controllers.profileOf(nb), 'sandbox', 'the tour names the sandbox profile');
    await showWithKernel(nb, qmp, 'sandbox');
    // The sandbox starts first (as the first run of any cell would start it), so that the waits below time only the demo.
    assert.equal(await vscode.commands.executeCommand<boolean>('qmp.startSandbox'), true);

    const sent: string[] = [];
    const trace = qmp.sessions.onDidTrace((t) => { if (t.dir === '->') sent.push(t.text); });
    const runs = collectRuns(qmp);
    try {
      const ran = executeCells(nb, [block.index]).then(() => 'the execute command settled', (e: unknown) => `the execute command failed: ${String(e)}`);
      await waitFor(qmp.sessions.onDidTrace, () => (sent.some((t) => t.includes('"stuck"')) ? true : undefined), 'blockdev-add on the wire')
        .catch(async (err: unknown) => {
          const state = await Promise.race([ran, new Promise((r) => setTimeout(() => r('the execute command is pending'), 100))]);
          throw new Error(`${String(err)}; cell ${block.index} of ${nb.cellCount}, ${String(state)}, ended: ${JSON.stringify(runs.ended.map((r) => [r.cell.index, r.outcome]))}, `
            + `outputs: ${JSON.stringify(outputTexts(block))}, sent: ${JSON.stringify(sent.slice(-5))}`);
        });
      const oob = await runCells(qmp, nb, [overtake.index]);
      assert.equal(oob.get(overtake.index), 'succeeded', JSON.stringify(outputTexts(overtake)));
      // The order is the claim: the OOB cell ended while the in-band one is still blocked (no clock needed).
      assert.equal(runs.ended.some((r) => r.cell === block), false, 'the in-band cell is still blocked when the OOB cell ends');
      assert.match(outputTexts(overtake).texts.join('\n'), /"stuck"/, 'the OOB reply lists the stuck node');

      // The release: open-timeout ends the block with QEMU's error, and the cell fails with it.
      const released = await runs.wait([block]);
      assert.equal(released.get(block.index), 'failed');
      assert.match(outputTexts(block).texts.join('\n'), /cancelled by timeout/);
    } finally {
      runs.dispose();
      trace.dispose();
    }
  });
});
