// In an untrusted workspace (scripts/host-test.mjs --pass trust) nothing connects, launches QEMU or runs.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, collectRuns, outputTexts, showWithKernel } from './hostHelpers';

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
    // VS Code itself asks for trust before it calls a kernel; the controller must refuse on its own too, so
    // the test calls its execute handler as VS Code would.
    await showWithKernel(nb, qmp, 'sandbox');
    const controller = qmp.controllers.controllerFor('sandbox');
    assert.ok(controller);
    const runs = collectRuns(qmp);
    let outcomes;
    try {
      await controller.executeHandler([nb.cellAt(1)], nb, controller);
      outcomes = await runs.wait([nb.cellAt(1)]);
    } finally {
      runs.dispose();
    }
    assert.equal(outcomes.get(1), 'failed');
    assert.match(outputTexts(nb.cellAt(1)).texts.join('\n'), /untrusted workspace/i);
    assert.equal(qmp.sessions.session('sandbox')?.state, 'disconnected');
  });
});
