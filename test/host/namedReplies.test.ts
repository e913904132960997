// Named replies in the editor (docs/notebook-format.md, "Named replies"), on the packaged extension and a
// sandbox: a cell names its reply; typing `{{s` in a later cell completes the name, `{{st.return.` the members
// of the reply it saved; running the later cell shows the substituted command in its `->` label; hovering the
// reference shows the value; a name no cell above defines is a warning. One verdict: on a notebook with named
// replies (a good use, an unknown name, a name only a cell below defines, a malformed reference) the editor's
// diagnostics are the packaged `qmp-notebook check`'s, problem for problem (the language server's are compared
// with check's in test/lsp/namedReplies.test.ts).
import * as assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { api, closeAndForget, extensionId, labelOf, outputTexts, runCells, showWithKernel, waitFor } from './hostHelpers';

suite('named replies', () => {
  let nb: vscode.NotebookDocument | undefined;
  const nbs: vscode.NotebookDocument[] = [];
  const dirs: string[] = [];

  suiteTeardown(async () => {
    await closeAndForget(await api(), [...(nb ? [nb] : []), ...nbs]);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

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

  test('the editor\'s diagnostics of named replies are qmp-notebook check\'s on the same notebook', async function () {
    this.timeout(120_000);
    const root = path.resolve(__dirname, '..', '..', '..');
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-host-named-'));
    dirs.push(dir);
    const file = path.join(dir, 'named-replies-doors.qmp');
    copyFileSync(path.join(root, 'test', 'fixtures', 'named-replies-doors.qmp'), file);
    const ext = vscode.extensions.getExtension(extensionId);
    if (!ext) throw new Error(`${extensionId} is not loaded`);
    const schemaFile = path.join(root, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json');
    const stdout = await new Promise<string>((resolve, reject) => {
      execFile(process.execPath, [path.join(ext.extensionPath, 'dist', 'cli.js'), 'check', file, '--schema', schemaFile, '--json'],
        { encoding: 'utf8', timeout: 60_000 }, (err, out, errText) => (err !== null && (err as { code?: unknown }).code !== 1 ? reject(new Error(errText)) : resolve(out)));
    });
    type Located = { cell: number; line: number; col: number; endLine: number; endCol: number; severity: string; message: string; code?: string };
    const problems = stdout.trim().split('\n').map((l) => JSON.parse(l) as Located);
    const lines = (await vscode.workspace.fs.readFile(vscode.Uri.file(file))).toString().split('\n');
    // Each problem as (cell index, the text it marks, severity, message, code): the same whatever the positions are relative to.
    const expected = problems.map((p) => [p.cell - 1, p.line === p.endLine ? (lines[p.line - 1] ?? '').slice(p.col - 1, p.endCol - 1) : '?', p.severity, p.message, p.code]);
    assert.deepEqual(problems.map((p) => p.code), ['unknown-reply-name', 'unknown-reply-name', 'bad-reference']);

    const doc = await vscode.workspace.openNotebookDocument(vscode.Uri.file(file));
    nbs.push(doc);
    await vscode.window.showNotebookDocument(doc);
    const severity = (d: vscode.Diagnostic): string => (d.severity === vscode.DiagnosticSeverity.Error ? 'error' : d.severity === vscode.DiagnosticSeverity.Warning ? 'warning' : 'info');
    const editorProblems = (): unknown[] => doc.getCells().flatMap((c) => vscode.languages.getDiagnostics(c.document.uri)
      .filter((d) => d.severity !== vscode.DiagnosticSeverity.Hint)
      .map((d) => [c.index, c.document.getText(d.range), severity(d), d.message, typeof d.code === 'object' ? String(d.code.value) : d.code]));
    const named = (): number => editorProblems().filter((p) => /reply-name|bad-reference/.test(String((p as unknown[])[4]))).length;
    await waitFor(vscode.languages.onDidChangeDiagnostics, () => (named() >= expected.length ? true : undefined), 'the named-reply diagnostics', 60_000);
    assert.deepEqual(editorProblems(), expected);
  });
});
