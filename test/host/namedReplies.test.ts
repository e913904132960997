// Named replies in the editor (docs/notebook-format.md, "Named replies"), on the packaged extension and a
// sandbox: a cell names its reply; typing `{{s` in a later cell completes the name, `{{st.return.` the members
// of the reply it saved; running the later cell shows the substituted command in its `->` label; hovering the
// reference shows the value; a name no cell above defines is a warning.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { api, closeAndForget, labelOf, outputTexts, runCells, showWithKernel, waitFor } from './hostHelpers';

suite('named replies', () => {
  let nb: vscode.NotebookDocument | undefined;

  suiteTeardown(async () => closeAndForget(await api(), nb ? [nb] : []));

  test('completion after a typed prefix, the substituted label, hover and the unknown-name warning', async function () {
    this.timeout(120_000);
    const qmp = await api();
    const data = new vscode.NotebookData([
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '// @name st\n{ "execute": "query-status" }', 'qmp'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "object-add", "arguments": { "qom-type": "iothread", "id": "io-{{st.return.status}}" } }', 'qmp'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, 'object-del id={{s', 'qmp-shell'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "x", "arguments": { "a": "{{nope.return}}" } }', 'qmp'),
    ]);
    data.metadata = { profile: 'sandbox' };
    nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
    await showWithKernel(nb, qmp, 'sandbox');
    const [, uses, typing, unknown] = nb.getCells().map((c) => c.document) as [vscode.TextDocument, vscode.TextDocument, vscode.TextDocument, vscode.TextDocument];

    // The warning: no cell above is named 'nope'.
    const ds = await waitFor(vscode.languages.onDidChangeDiagnostics, () => {
      const found = vscode.languages.getDiagnostics(unknown.uri).filter((d) => d.code === 'unknown-reply-name');
      return found.length > 0 ? found : undefined;
    }, 'the unknown-name warning', 30_000);
    assert.match(ds[0]?.message ?? '', /No cell above is named 'nope'/);
    assert.equal(unknown.getText(ds[0]?.range), '{{nope.return}}');

    // Completion of the name after the typed prefix `{{s`, before anything ran.
    const names = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider',
      typing.uri, new vscode.Position(0, typing.getText().length));
    assert.ok(names.items.map(labelOf).includes('st'), names.items.map(labelOf).join(', '));

    // Run the naming cell and the cell that uses it.
    const outcomes = await runCells(qmp, nb, [0, 1]);
    assert.deepEqual([...outcomes.values()], ['succeeded', 'succeeded']);
    const status = (JSON.parse(qmp.controllers.namedReply(nb, 'st') ?? '{}') as { return?: { status?: string } }).return?.status;
    assert.ok(typeof status === 'string' && status !== '', 'the reply is saved under its name');
    const out = outputTexts(nb.cellAt(1));
    assert.ok(out.texts.includes(`-> {"execute":"object-add","arguments":{"qom-type":"iothread","id":"io-${status}"}}`), out.texts.join('\n'));

    // Completion of the members of the saved reply after `{{st.return.`.
    const edit = new vscode.WorkspaceEdit();
    edit.replace(typing.uri, new vscode.Range(0, 0, 0, typing.getText().length), 'object-del id={{st.return.');
    assert.ok(await vscode.workspace.applyEdit(edit));
    const members = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider',
      typing.uri, new vscode.Position(0, typing.getText().length));
    assert.ok(members.items.map(labelOf).includes('status'), members.items.map(labelOf).join(', '));

    // Hover: the value the reference has now.
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uses.uri,
      new vscode.Position(0, uses.getText().indexOf('{{st') + 4));
    const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
    assert.ok(text.includes(`"${status}"`), text);
  });
});
