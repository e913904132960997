// A .qmp file opened as text is Markdown with the cell grammars (language `qmp-markdown`), while opening it
// normally still gives the notebook; the cell languages never fall back to random words from other files.
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { waitFor } from './hostHelpers';

suite('editor: .qmp as text', () => {
  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
  });

  function cellsFile(): vscode.Uri {
    const folder = vscode.workspace.workspaceFolders?.[0];
    assert.ok(folder, 'a workspace folder is open');
    return vscode.Uri.file(path.join(folder.uri.fsPath, 'cells.qmp'));
  }

  test('a .qmp opened as a text document has the qmp-markdown language, highlighted as Markdown with the cells', async () => {
    const doc = await vscode.workspace.openTextDocument(cellsFile());
    assert.equal(doc.languageId, 'qmp-markdown');
    const extension = vscode.extensions.getExtension('qmp-notebook.qmp-notebook');
    const grammars = extension?.packageJSON.contributes.grammars as { language?: string; scopeName: string; injectTo?: string[] }[];
    const own = grammars.find((g) => g.language === 'qmp-markdown');
    assert.ok(own, 'qmp-markdown has a grammar');
    assert.ok(grammars.some((g) => g.injectTo?.includes(own.scopeName)), 'the cell grammars are injected into it');
  });

  test('opening a .qmp the usual way still opens the notebook', async () => {
    const uri = cellsFile();
    await vscode.commands.executeCommand('vscode.open', uri);
    const editor = await waitFor(vscode.window.onDidChangeActiveNotebookEditor,
      () => (vscode.window.activeNotebookEditor?.notebook.uri.toString() === uri.toString() ? vscode.window.activeNotebookEditor : undefined),
      'the notebook editor of cells.qmp');
    assert.equal(editor.notebook.notebookType, 'qmp-notebook');
  });

  test('word-based suggestions are off in qmp, qmp-shell and hmp cells', () => {
    for (const languageId of ['qmp', 'qmp-shell', 'hmp']) {
      assert.equal(vscode.workspace.getConfiguration('editor', { languageId }).get('wordBasedSuggestions'), 'off', languageId);
    }
  });
});
