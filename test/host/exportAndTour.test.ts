// The editor's export ("QMP: Export Notebook…" to a file, written atomically; the cell menu's "Copy as…" to
// the clipboard), the tour's name (it opens as "QMP Tour.qmp", not "Untitled-2"), and a cell's problems saying
// which cell they are in (the Problems panel shows only "Ln 1, Col 14").
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseNotebook } from '../../src/format';
import { toNotebookData } from '../../src/notebook/serializer';
import { waitFor } from './hostHelpers';

const NOTEBOOK = [
  '---', 'profile: sandbox', 'saveOutputs: true', '---', '', '# Report', '',
  '```qmp', '{ "execute": "query-status" }', '```', '',
  '```qmp-output', '<- {"return": {"status": "running", "singlestep": false, "running": true}}', '```', '',
  '```qmp-shell', 'device_del id=kbd0', '```', '',
].join('\n');

suite('export and the tour\'s name', () => {
  let dir: string | undefined;
  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  test('Export Notebook writes each format; Copy as puts one cell on the clipboard', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-host-export-'));
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', toNotebookData(parseNotebook(NOTEBOOK)));
    await vscode.window.showNotebookDocument(nb);
    const jsonl = vscode.Uri.file(path.join(dir, 'report.jsonl'));
    assert.equal(await vscode.commands.executeCommand('qmp.exportNotebook', { notebook: nb.uri, format: 'jsonl', target: jsonl }), jsonl.toString());
    assert.equal(fs.readFileSync(jsonl.fsPath, 'utf8'),
      '{"execute":"qmp_capabilities","arguments":{"enable":["oob"]}}\n{"execute":"query-status"}\n{"execute":"device_del","arguments":{"id":"kbd0"}}\n');
    const md = vscode.Uri.file(path.join(dir, 'report.md'));
    await vscode.commands.executeCommand('qmp.exportNotebook', { notebook: nb.uri, format: 'markdown', target: md });
    assert.match(fs.readFileSync(md.fsPath, 'utf8'), /^# Report$[\s\S]*```json\n\{ "execute": "query-status" \}\n```[\s\S]*<- \{"return": \{"status": "running"/m);
    assert.deepEqual(fs.readdirSync(dir).sort(), ['report.jsonl', 'report.md'], 'no temporary file is left');

    const copied = await vscode.commands.executeCommand<string>('qmp.copyCellAs', nb.cellAt(2), 'qmp-shell');
    assert.match(copied, /^device_del id=kbd0$/m);
    assert.equal(await vscode.env.clipboard.readText(), copied);
  });

  test('the tour opens as "QMP Tour.qmp", a second one as "QMP Tour 2.qmp"', async () => {
    await vscode.commands.executeCommand('qmp.openTour');
    const first = await waitFor(vscode.window.onDidChangeActiveNotebookEditor, () => vscode.window.activeNotebookEditor?.notebook, 'the tour');
    assert.equal(first.isUntitled, true);
    assert.equal(path.basename(first.uri.path), 'QMP Tour.qmp');
    assert.equal(first.metadata['profile'], 'sandbox');
    assert.ok(first.cellCount > 10);
    await vscode.commands.executeCommand('qmp.openTour');
    const second = await waitFor(vscode.window.onDidChangeActiveNotebookEditor,
      () => (vscode.window.activeNotebookEditor?.notebook !== first ? vscode.window.activeNotebookEditor?.notebook : undefined), 'a second tour');
    assert.equal(path.basename(second.uri.path), 'QMP Tour 2.qmp');
    for (const nb of [second, first]) {
      await vscode.window.showNotebookDocument(nb);
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    }
  });

  test('a cell\'s problem names its cell in related information', async () => {
    const data = new vscode.NotebookData([
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "query-status" }', 'qmp'),
      new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": ', 'qmp'),
    ]);
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
    await vscode.window.showNotebookDocument(nb);
    const uri = nb.cellAt(1).document.uri;
    const [d] = await waitFor(vscode.languages.onDidChangeDiagnostics, () => {
      const ds = vscode.languages.getDiagnostics(uri).filter((x) => x.source === 'qmp');
      return ds.length > 0 ? ds : undefined;
    }, 'a problem in cell 2');
    assert.equal(d?.relatedInformation?.[0]?.message, 'cell 2');
    assert.equal(d?.relatedInformation?.[0]?.location.uri.toString(), uri.toString());
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  });
});
