// In an untrusted workspace (scripts/host-test.mjs --pass trust) nothing connects, launches QEMU or runs.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, outputTexts, runCells, showWithKernel } from './hostHelpers';

suite('untrusted workspace', () => {
  test('connecting and starting the sandbox are refused, and nothing is started', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const qmp = await api();
    assert.equal(await vscode.commands.executeCommand('qmp.connect', 'sandbox'), false);
    assert.equal(await vscode.commands.executeCommand('qmp.startSandbox'), false);
    await assert.rejects(qmp.sessions.connect('sandbox'), (err: Error) => err.name === 'UntrustedWorkspaceError');
    const s = qmp.sessions.session('sandbox');
    assert.equal(s?.state, 'disconnected');
    assert.equal(s?.sandbox, undefined, 'no QEMU was launched');
  });

  test('a cell does not run and says why', async () => {
    const qmp = await api();
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder);
    const nb = await vscode.workspace.openNotebookDocument(vscode.Uri.joinPath(folder.uri, 'cells.qmp'));
    await showWithKernel(nb, qmp, 'sandbox');
    const outcomes = await runCells(qmp, nb, [1]);
    assert.equal(outcomes.get(1), 'failed');
    assert.match(outputTexts(nb.cellAt(1)).texts.join('\n'), /untrusted workspace/i);
    assert.equal(qmp.sessions.session('sandbox')?.state, 'disconnected');
  });
});
