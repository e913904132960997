// Live values in the editor (docs/live-values.md): on a sandbox that holds a block node and a chardev the test
// made, a qmp cell completes the node names the QEMU lists, a misspelt node name gets a warning with "did you
// mean", a qmp-shell cell completes chardev ids, and hovering a live name says what it is.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { toNotebookData } from '../../src/notebook/serializer';
import { api, closeAndForget, labelOf, waitFor } from './hostHelpers';

suite('live values', () => {
  let nb: vscode.NotebookDocument | undefined;

  suiteTeardown(async () => closeAndForget(await api(), nb ? [nb] : []));

  test('completion, a did-you-mean warning and a hover from the names the sandbox holds', async function () {
    this.timeout(90_000);
    const qmp = await api();
    assert.equal(await vscode.commands.executeCommand<boolean>('qmp.startSandbox'), true);
    const client = qmp.sessions.session('sandbox')?.liveClient;
    assert.ok(client);
    await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'disk0' });
    await client.execute('chardev-add', { id: 'serial0', backend: { type: 'null', data: {} } });

    nb = await vscode.workspace.openNotebookDocument('qmp-notebook', toNotebookData({
      profile: 'sandbox',
      cells: [
        { kind: 'code', language: 'qmp', source: '{ "execute": "blockdev-del", "arguments": { "node-name": "dsk0" } }' },
        { kind: 'code', language: 'qmp', source: '{ "execute": "blockdev-del", "arguments": { "node-name": "" } }' },
        { kind: 'code', language: 'qmp-shell', source: 'chardev-remove id=' },
      ],
    }));
    await vscode.window.showNotebookDocument(nb);
    const [misspelt, empty, shell] = nb.getCells().map((c) => c.document) as [vscode.TextDocument, vscode.TextDocument, vscode.TextDocument];

    const ds = await waitFor(vscode.languages.onDidChangeDiagnostics, () => {
      const found = vscode.languages.getDiagnostics(misspelt.uri).filter((d) => d.code === 'unknown-live-value');
      return found.length > 0 ? found : undefined;
    }, 'the unknown-node warning', 30_000);
    assert.equal(ds[0]?.severity, vscode.DiagnosticSeverity.Warning);
    assert.match(ds[0]?.message ?? '', /no block node 'dsk0' \(did you mean 'disk0'\?\)/);
    assert.equal(misspelt.getText(ds[0]?.range), '"dsk0"');

    const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider',
      empty.uri, new vscode.Position(0, empty.getText().indexOf('""') + 1));
    const nodes = list.items.filter((i) => i.kind === vscode.CompletionItemKind.Value).map(labelOf);
    assert.ok(nodes.includes('disk0'), `the node is offered: ${nodes.join(', ')}`);

    const shellList = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider',
      shell.uri, new vscode.Position(0, shell.getText().length));
    assert.ok(shellList.items.map(labelOf).includes('serial0'), 'the chardev is offered in a qmp-shell cell');

    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', misspelt.uri,
      new vscode.Position(0, misspelt.getText().indexOf('blockdev-del') + 2));
    assert.ok(hovers.length > 0, 'the command still has its hover');
    // A live name under the cursor: its hover says what it is.
    await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', empty.uri, new vscode.Position(0, 1));
    const edit = new vscode.WorkspaceEdit();
    edit.replace(empty.uri, new vscode.Range(0, 0, 0, empty.getText().length), '{ "execute": "blockdev-del", "arguments": { "node-name": "disk0" } }');
    await vscode.workspace.applyEdit(edit);
    const nodeHover = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', empty.uri,
      new vscode.Position(0, empty.getText().indexOf('disk0') + 1));
    const text = nodeHover.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    assert.match(text, /\*\*disk0\*\*: block node in the connected QEMU/);
    assert.match(text, /null-co/);
  });
});
