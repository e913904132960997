// The QEMU explorer in an untrusted workspace (scripts/host-test.mjs --pass trust): it lists no session and
// sends no query, whatever is asked of it, and its view says why (a welcome text under !isWorkspaceTrusted).
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, extensionId } from './hostHelpers';

suite('QEMU explorer, untrusted', () => {
  test('no roots, no queries, and the view says the workspace is not trusted', async () => {
    assert.equal(vscode.workspace.isTrusted, false);
    const qmp = await api();
    await vscode.commands.executeCommand('qmpExplorer.focus');
    await vscode.commands.executeCommand('qmp.explorer.refresh');
    assert.deepEqual(await qmp.explorer.getChildren(), []);
    assert.deepEqual(await qmp.explorer.getChildren({ type: 'session', session: 'sandbox' }), []);
    assert.equal(qmp.explorer.queries, 0);
    assert.equal(qmp.sessions.session('sandbox')?.state ?? 'disconnected', 'disconnected');
    const contributes = (vscode.extensions.getExtension(extensionId)?.packageJSON as { contributes?: { viewsWelcome?: { view: string; when?: string; contents: string }[] } }).contributes;
    const welcome = contributes?.viewsWelcome?.find((w) => w.view === 'qmpExplorer' && w.when === '!isWorkspaceTrusted');
    assert.match(welcome?.contents ?? '', /not trusted/);
  });
});
