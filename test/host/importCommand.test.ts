// "QMP: Import…" on the packaged extension: a text in QEMU's ->/<- notation with a line that cannot be read
// becomes a notebook, written where asked (atomically, private), opened in the editor, with the report of the
// unread line by its number; the command is in the palette, the notebook toolbar and the explorer's file menu.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseNotebook } from '../../src/format';
import { extensionId } from './hostHelpers';

suite('import', () => {
  let dir: string | undefined;
  teardown(async () => {
    await vscode.commands.executeCommand('workbench.action.closeAllEditors');
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  test('QMP: Import… writes the notebook, opens it and reports the line it could not read', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-host-import-'));
    const src = path.join(dir, 'mail.txt');
    fs.writeFileSync(src, 'From the bug report:\n-> { "execute": "query-status" }\n<- { "return": {"status": "running", "running": true} }\n-> nope\n' +
      '-> { "execute": "stop" }\n<- { "timestamp": { "seconds": 1, "microseconds": 2 }, "event": "STOP" }\n<- { "return": {} }\n');
    const target = vscode.Uri.file(path.join(dir, 'imported.qmp'));
    const r = await vscode.commands.executeCommand<{ target: string; cells: number; problems: number; report: string[] }>(
      'qmp.importRecording', { files: [vscode.Uri.file(src)], target, quiet: true });
    assert.ok(r, 'the command returns what it did');
    assert.equal(r.target, target.toString());
    assert.equal(r.cells, 2);
    assert.equal(r.problems, 1);
    assert.ok(r.report.some((l) => /mail\.txt:4: an arrow not followed by a JSON object/.test(l)), r.report.join('\n'));
    const text = fs.readFileSync(target.fsPath, 'utf8');
    assert.equal(fs.statSync(target.fsPath).mode & 0o777, 0o600);
    const nb = parseNotebook(text);
    assert.deepEqual(nb.cells.map((c) => c.source), ['{"execute": "query-status"}', '{"execute": "stop"}']);
    const open = vscode.window.activeNotebookEditor?.notebook;
    assert.equal(open?.uri.toString(), target.toString(), 'the imported notebook is open');
    assert.equal(open?.cellCount, 2);
    assert.ok(fs.readdirSync(dir).every((f) => f === 'mail.txt' || f === 'imported.qmp'), `no temporary file left: ${fs.readdirSync(dir).join(', ')}`);
  });

  test('the command is in the palette, the notebook toolbar and the explorer\'s context menu on files', () => {
    const pkg = vscode.extensions.getExtension(extensionId)?.packageJSON as { contributes: { commands: Array<{ command: string; title: string }>; menus: Record<string, Array<{ command: string; when?: string }>> } };
    assert.equal(pkg.contributes.commands.find((c) => c.command === 'qmp.importRecording')?.title, 'Import…');
    for (const menu of ['commandPalette', 'notebook/toolbar', 'explorer/context']) {
      assert.ok(pkg.contributes.menus[menu]?.some((e) => e.command === 'qmp.importRecording'), menu);
    }
  });
});
