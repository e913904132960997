// The language features in a real extension host, through VS Code's own provider commands (the same path the
// editor's suggest widget, hover, problems, light bulb and code lenses take): completion, hover, diagnostics,
// quick fixes and the out-of-band lens on the cells of a QMP notebook.
//
// The features need a schema. A cached one may or may not exist on a fresh machine, so the suite starts the
// sandbox QEMU first: the schema is then the live one, whatever the disk cache holds.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { toNotebookData } from '../../src/notebook/serializer';
import { api, disconnectAll, waitFor } from './hostHelpers';

/** The cells of the test notebook, by index; the notebook also starts with a markdown cell (index 0). */
const cellSources = {
  valid: '{ "execute": "query-status" }',
  unknown: '{ "execute": "query-verison" }',
  oob: '{ "execute": "query-yank" }',
  emptyExecute: '{ "execute": "" }',
  emptyExecOob: '{ "exec-oob": "" }',
};
type CellName = keyof typeof cellSources;
const cellOrder = Object.keys(cellSources) as CellName[];

function labelOf(item: vscode.CompletionItem): string {
  return typeof item.label === 'string' ? item.label : item.label.label;
}

function hoverText(hovers: vscode.Hover[]): string {
  return hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
}

/** The `qmp` diagnostics of a document once `ok` accepts them, re-checked whenever diagnostics change. */
function diagnosticsWhen(uri: vscode.Uri, ok: (ds: vscode.Diagnostic[]) => boolean, what: string): Promise<vscode.Diagnostic[]> {
  return waitFor(vscode.languages.onDidChangeDiagnostics, () => {
    const ds = vscode.languages.getDiagnostics(uri).filter((d) => d.source === 'qmp');
    return ok(ds) ? ds : undefined;
  }, what);
}

/** Resolves at the next change of any document, or after `ms` (lenses may also change with the schema). */
function nextChange(ms: number): Promise<void> {
  return new Promise<void>((resolve) => {
    const done = (): void => {
      clearTimeout(timer);
      sub.dispose();
      resolve();
    };
    const timer = setTimeout(done, ms);
    const sub = vscode.workspace.onDidChangeTextDocument(done);
  });
}

/** The lenses of a document once `ok` accepts them, asked again after each change until a deadline. */
async function lensesWhen(uri: vscode.Uri, ok: (ls: vscode.CodeLens[]) => boolean, what: string): Promise<vscode.CodeLens[]> {
  const deadline = Date.now() + 30_000;
  let latest: vscode.CodeLens[] = [];
  for (;;) {
    latest = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', uri);
    if (ok(latest)) return latest;
    const left = deadline - Date.now();
    if (left <= 0) assert.fail(`timed out waiting for ${what}; lenses: ${latest.map((l) => l.command?.title).join(' / ')}`);
    // New lenses come with a change of the document or of the schema; either ends this wait early.
    await nextChange(Math.min(left, 1000));
  }
}

suite('language features', () => {
  let nb: vscode.NotebookDocument;
  const cell = (name: CellName): vscode.TextDocument => nb.cellAt(cellOrder.indexOf(name) + 1).document;

  suiteSetup(async () => {
    const qmp = await api();
    const started = await vscode.commands.executeCommand<boolean>('qmp.startSandbox');
    assert.equal(started, true, 'the sandbox QEMU started');
    const live = qmp.schemaSource.current();
    assert.ok(live && !live.cached, 'the live schema of the sandbox is loaded');
    assert.equal(qmp.schemaSource.oobNegotiated(), true, 'the sandbox connection negotiated OOB');

    const data = toNotebookData({
      profile: 'sandbox',
      cells: [
        { kind: 'markdown', language: 'markdown', source: '# Language features' },
        ...cellOrder.map((name) => ({ kind: 'code' as const, language: 'qmp' as const, source: cellSources[name] })),
      ],
    });
    nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
    await vscode.window.showNotebookDocument(nb);
    assert.deepEqual(nb.getCells().map((c) => c.document.languageId), ['markdown', 'qmp', 'qmp', 'qmp', 'qmp', 'qmp']);
    assert.equal(qmp.schemaSource.current(cell('valid').uri)?.cached, false, 'the cells see the live schema');
  });

  suiteTeardown(async () => {
    // The notebook is untitled and was edited: revert it so that closing it asks nothing.
    if (nb !== undefined && !nb.isClosed) {
      await vscode.window.showNotebookDocument(nb);
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    }
    await disconnectAll(await api());
  });

  test('completion inside "execute" offers the commands of the live schema, with details', async () => {
    const doc = cell('emptyExecute');
    const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider',
      doc.uri, new vscode.Position(0, '{ "execute": "'.length));
    const byLabel = new Map(list.items.map((i) => [labelOf(i), i]));
    for (const name of ['query-status', 'query-version', 'cont', 'stop', 'blockdev-add']) {
      assert.ok(byLabel.has(name), `${name} is offered (got ${list.items.length} items)`);
    }
    assert.ok(list.items.length > 150, `every command of QEMU 7.2 is offered, got ${list.items.length}`);
    assert.equal(byLabel.get('query-status')?.kind, vscode.CompletionItemKind.Function);
    assert.ok(byLabel.get('query-status')?.detail, 'a command comes with a detail');
    // The documentation comes when the editor shows an item's details (resolve), not with the list of hundreds.
    const docText = (i: vscode.CompletionItem | undefined): string =>
      typeof i?.documentation === 'string' ? i.documentation : i?.documentation?.value ?? '';
    assert.equal(list.items.filter((i) => docText(i) !== '').length, 0, 'no item of the list carries its documentation');
    const resolved = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider',
      doc.uri, new vscode.Position(0, '{ "execute": "'.length), undefined, list.items.length);
    const status = resolved.items.find((i) => labelOf(i) === 'query-status');
    assert.match(docText(status), /query-status/, `query-status's documentation once resolved: ${docText(status)}`);
  });

  test('completion inside "exec-oob" offers only the commands that may run out-of-band', async () => {
    const doc = cell('emptyExecOob');
    const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider',
      doc.uri, new vscode.Position(0, '{ "exec-oob": "'.length));
    const labels = list.items.map(labelOf);
    assert.ok(labels.includes('query-yank'), `query-yank is offered: ${labels.join(', ')}`);
    assert.ok(!labels.includes('query-status'), 'query-status cannot run out-of-band');
  });

  test('hover on a command name shows its documentation from the live schema', async () => {
    const doc = cell('valid');
    const at = new vscode.Position(0, '{ "execute": "query-st'.length);
    const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', doc.uri, at);
    const text = hoverText(hovers);
    assert.match(text, /\*\*query-status\*\* \(command\)/);
    assert.match(text, /Returns: object \{/);
    assert.match(text, /Schema of QEMU 7\.2\.\d+/);
    assert.doesNotMatch(text, /cached/, 'the schema is live, not cached');
    const ranged = hovers.find((h) => h.range !== undefined);
    assert.equal(ranged && doc.getText(ranged.range), '"query-status"', 'the hover covers the command name');
  });

  test('an unknown command gets an error diagnostic on its name; a valid command gets none', async () => {
    const bad = cell('unknown');
    const [d] = await diagnosticsWhen(bad.uri, (ds) => ds.length > 0, 'a diagnostic on the unknown command');
    assert.ok(d);
    assert.equal(d.severity, vscode.DiagnosticSeverity.Error);
    assert.equal(d.code, 'unknown-command');
    assert.match(d.message, /query-verison/);
    assert.equal(bad.getText(d.range), '"query-verison"');
    // Diagnostics ran for the notebook's cells (the unknown one has its error), so none here means none found.
    assert.deepEqual(vscode.languages.getDiagnostics(cell('valid').uri).filter((x) => x.source === 'qmp'), []);
  });

  test('the quick fix for the unknown command renames it, and the diagnostic goes away', async () => {
    const doc = cell('unknown');
    const [d] = await diagnosticsWhen(doc.uri, (ds) => ds.length > 0, 'a diagnostic on the unknown command');
    assert.ok(d);
    const actions = await vscode.commands.executeCommand<Array<vscode.CodeAction | vscode.Command>>(
      'vscode.executeCodeActionProvider', doc.uri, d.range, vscode.CodeActionKind.QuickFix.value);
    const found = actions.find((a) => a.title === "Change to 'query-version'");
    const fix = found !== undefined && typeof found.command !== 'string' ? found as vscode.CodeAction : undefined;
    assert.ok(fix, `a quick fix names the near miss: ${actions.map((a) => a.title).join(' / ')}`);
    assert.ok(fix.kind && vscode.CodeActionKind.QuickFix.contains(fix.kind), 'it is a quick fix');
    assert.ok(fix.edit, 'the fix carries its edit');
    assert.equal(await vscode.workspace.applyEdit(fix.edit), true);
    assert.equal(doc.getText(), '{ "execute": "query-version" }');
    await diagnosticsWhen(doc.uri, (ds) => ds.length === 0, 'the diagnostic to go away after the fix');
  });

  test('an in-band query-yank gets the out-of-band lens, and its command rewrites the cell to exec-oob', async () => {
    const doc = cell('oob');
    const lenses = await lensesWhen(doc.uri, (ls) => ls.some((l) => /can run out-of-band/.test(l.command?.title ?? '')), 'the OOB lens');
    const lens = lenses.find((l) => /can run out-of-band/.test(l.command?.title ?? ''));
    assert.ok(lens?.command);
    assert.equal(doc.getText(lens.range), '"query-yank"', 'the lens sits on the command name');
    assert.equal(vscode.languages.getDiagnostics(doc.uri).filter((x) => x.source === 'qmp' && x.severity === vscode.DiagnosticSeverity.Error).length, 0);
    const valid = await vscode.commands.executeCommand<vscode.CodeLens[]>('vscode.executeCodeLensProvider', cell('valid').uri);
    assert.deepEqual(valid.map((l) => l.command?.title), [], 'query-status cannot run out-of-band: no lens');

    await vscode.commands.executeCommand(lens.command.command, ...(lens.command.arguments ?? []));
    assert.match(doc.getText(), /^\{ "exec-oob": "query-yank" \}$/);
    await lensesWhen(doc.uri, (ls) => !ls.some((l) => /can run out-of-band/.test(l.command?.title ?? '')), 'the lens to go once the cell is exec-oob');
  });
});
