// The extension under development is loaded into a real extension host and activates without error.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';

const extensionId = 'qmp-notebook.qmp-notebook';

suite('activation', () => {
  test('the extension under development is present', () => {
    const extension = vscode.extensions.getExtension(extensionId);
    assert.ok(extension, `${extensionId} is not loaded in this extension host`);
    assert.equal(extension.packageJSON.name, 'qmp-notebook');
    // A development extension is loaded from its folder, so its manifest names the bundle we built.
    assert.equal(extension.packageJSON.main, './dist/extension.js');
  });

  test('the extension activates', async () => {
    const extension = vscode.extensions.getExtension(extensionId);
    assert.ok(extension);
    await extension.activate();
    assert.equal(extension.isActive, true);
  });

  test('the tests run in a Node extension host, not a web worker', () => {
    // The extension declares extensionKind workspace; code-server must give it the Node host it needs.
    assert.equal(typeof process.versions.node, 'string');
    assert.ok(vscode.workspace.workspaceFolders?.length, 'a workspace folder is open');
  });
});
