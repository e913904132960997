// Run with workspace trust enabled and the workspace left untrusted (scripts/host-test.mjs --pass trust):
// the extension must behave as its manifest's `capabilities.untrustedWorkspaces` declares.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';

const extensionId = 'qmp-notebook.qmp-notebook';

interface Manifest {
  capabilities?: { untrustedWorkspaces?: { supported?: boolean | 'limited' } };
}

function manifest(): Manifest {
  // The development extension's folder is given by the runner, because a disabled extension has no packageJSON.
  const root = process.env['QMP_EXTENSION_ROOT'];
  assert.ok(root, 'QMP_EXTENSION_ROOT names the extension folder');
  return JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as Manifest;
}

suite('workspace trust', () => {
  test('the workspace is open and untrusted', () => {
    assert.ok(vscode.workspace.workspaceFolders?.length, 'a workspace folder is open');
    assert.equal(vscode.workspace.isTrusted, false);
  });

  test('the extension follows its declared untrusted-workspace support', async () => {
    const supported = manifest().capabilities?.untrustedWorkspaces?.supported ?? false;
    const extension = vscode.extensions.getExtension(extensionId);
    if (supported === false) {
      // VS Code keeps an extension that needs trust out of an untrusted workspace entirely.
      assert.equal(extension, undefined);
      return;
    }
    assert.ok(extension, `${extensionId} declares untrusted support '${String(supported)}' but is not loaded`);
    await extension.activate();
    assert.equal(extension.isActive, true);
  });
});
