// Show Test Difference when only an expectation written in the cell fails (its saved output matches): the diff
// shows that comparison itself (what the cell wrote, what QEMU said), highlighted as QMP output; and the cell's
// execution status is a failure (✗), not a green ✓ beside its ✗ note, in test mode or not.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { parseNotebook } from '../../src/format';
import { toNotebookData } from '../../src/notebook/serializer';
import type { CellTestResult } from '../../src/notebook/runAsTest';
import { api, disconnectAll, endedSummaries, runCells, showWithKernel } from './hostHelpers';

const NOTEBOOK = [
  '---', 'profile: sandbox', 'saveOutputs: true', '---', '',
  '```qmp', '-> { "execute": "query-name" }', '<- { "return": { "name": "vm1" } }', '```', '',
  '```qmp-output', '<- {"return": {}}', '```', '',
  '```qmp', '{ "execute": "query-name" }', '```', '',
].join('\n');

suite('run as test: the difference of a written expectation', () => {
  suiteTeardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    await disconnectAll(await api());
  });

  test('the diff shows the failing <- comparison in the QMP output language; the cell ends as failed', async () => {
    const qmp = await api();
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', toNotebookData(parseNotebook(NOTEBOOK)));
    await showWithKernel(nb, qmp, 'sandbox');
    // Outside test mode: the run succeeds as commands go, but the written reply differs: ✗, not ✓.
    const ran = await runCells(qmp, nb, [0, 1]);
    assert.equal(ran.get(0), 'succeeded');
    const [withLine, plain] = await endedSummaries(nb, [0, 1]);
    assert.equal(withLine?.success, false, 'a cell with an unmet <- line shows a failure');
    assert.equal(plain?.success, true, 'a cell without expectations shows success');

    const results = await vscode.commands.executeCommand<CellTestResult[] | undefined>('qmp.runNotebookAsTest', nb.uri);
    assert.deepEqual(results?.map((r) => r.status), ['failed', 'passed'], JSON.stringify(results));
    await vscode.commands.executeCommand('qmp.showTestDiff', nb.cellAt(0).document.uri);
    const tab = vscode.window.tabGroups.activeTabGroup.activeTab;
    assert.ok(tab?.input instanceof vscode.TabInputTextDiff, `a diff editor is open (${tab?.label ?? 'no tab'})`);
    const input = tab.input as vscode.TabInputTextDiff;
    const written = await vscode.workspace.openTextDocument(input.original);
    const fromQemu = await vscode.workspace.openTextDocument(input.modified);
    assert.equal(written.languageId, 'qmp-output');
    assert.equal(fromQemu.languageId, 'qmp-output');
    assert.notEqual(written.getText(), fromQemu.getText(), 'the two sides differ');
    const heading = '# ✗ the <- reply to query-name: written in the cell (left), from QEMU (right)';
    assert.equal(written.getText(), `<- {"return": {}}\n\n${heading}\n<- {\n  "return": {\n    "name": "vm1"\n  }\n}\n`);
    assert.equal(fromQemu.getText(), `<- {"return": {}}\n\n${heading}\n<- {\n  "return": {}\n}\n`);
  });
});
