// "QMP: Import…": recordings of other tools (a libvirtd log, a qmp-shell log or history, an iotests .out, text in
// QEMU's ->/<- notation) as a new notebook. The files are read by src/import, the same code as `qmp-notebook
// import`; this file only asks (which files, where to save), shows the report (lines that could not be read,
// skipped ranges, what was left out), writes the notebook atomically and opens it. Nothing connects or runs.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { importFiles, ImportFailure, type ImportedFiles } from '../import/cli';
import { writeAtomically } from '../session/writeAtomically';

export const importCommand = 'qmp.importRecording';

/** What the command did (returned for tests and scripts). */
export interface ImportCommandResult {
  target: string;
  cells: number;
  problems: number;
  /** The report as `qmp-notebook import` prints it. */
  report: string[];
}

/** The report without the CLI's prefix, for a reader in the editor. */
function reportText(imported: Pick<ImportedFiles, 'messages'>): string {
  return imported.messages.map((m) => m.replace(/^qmp-notebook import: /, '')).join('\n');
}

function isUriList(v: unknown): v is vscode.Uri[] {
  return Array.isArray(v) && v.length > 0 && v.every((u) => u instanceof vscode.Uri);
}

/**
 * `first`: a file URI (the explorer's context menu; `more` then holds every selected file), or `{ files, target,
 * domain, all }` (tests, scripts); otherwise the files are asked for.
 */
async function importRecording(first?: unknown, more?: unknown): Promise<ImportCommandResult | undefined> {
  const given = (typeof first === 'object' && first !== null && !(first instanceof vscode.Uri) ? first : {}) as {
    files?: unknown; target?: unknown; domain?: unknown; all?: unknown; quiet?: unknown;
  };
  let files: vscode.Uri[] | undefined = isUriList(given.files) ? given.files
    : isUriList(more) ? more : first instanceof vscode.Uri ? [first] : undefined;
  files ??= await vscode.window.showOpenDialog({
    title: 'Import QMP sessions (libvirtd log, qmp-shell log or history, iotests .out, ->/<- text)',
    canSelectMany: true, canSelectFiles: true, canSelectFolders: false, openLabel: 'Import',
  });
  if (!files || files.length === 0) return undefined;
  const local = files.filter((f) => f.scheme === 'file');
  if (local.length !== files.length) {
    void vscode.window.showErrorMessage('Import reads files on this machine: pick local files.');
    return undefined;
  }
  let imported: ImportedFiles;
  try {
    imported = await importFiles(local.map((f) => f.fsPath), {
      ...(typeof given.domain === 'string' ? { domain: given.domain } : {}),
      ...(given.all === true ? { all: true } : {}),
    });
  } catch (err) {
    const message = err instanceof ImportFailure ? err.message : err instanceof Error ? err.message : String(err);
    void vscode.window.showErrorMessage(`Could not import: ${message}`);
    return undefined;
  }
  let target = given.target instanceof vscode.Uri ? given.target : undefined;
  if (!target) {
    const firstFile = local[0] as vscode.Uri;
    const base = path.basename(firstFile.fsPath).replace(/\.[^.]*$/, '') || 'imported';
    target = await vscode.window.showSaveDialog({
      title: 'Save the imported notebook',
      defaultUri: vscode.Uri.file(path.join(path.dirname(firstFile.fsPath), `${base}.qmp`)),
      filters: { 'QMP notebooks': ['qmp'] },
    });
    if (!target) return undefined;
  }
  try {
    await writeAtomically(target, imported.text);
  } catch (err) {
    void vscode.window.showErrorMessage(`Could not write ${target.fsPath}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  const nb = await vscode.workspace.openNotebookDocument(target);
  await vscode.window.showNotebookDocument(nb);
  const result: ImportCommandResult = { target: target.toString(), cells: imported.cells, problems: imported.problems, report: imported.messages };
  if (given.quiet !== true) void tell(imported);
  return result;
}

/** Says what was imported; the report (lines not read, skipped, left out) is one click away. */
async function tell(imported: ImportedFiles): Promise<void> {
  const summary = `Imported ${imported.cells} cell${imported.cells === 1 ? '' : 's'}` +
    (imported.problems > 0 ? `; ${imported.problems} line${imported.problems === 1 ? '' : 's'} could not be read` : '');
  const show = 'Show Report';
  const picked = imported.problems > 0
    ? await vscode.window.showWarningMessage(summary, show)
    : await vscode.window.showInformationMessage(summary, show);
  if (picked !== show) return;
  const doc = await vscode.workspace.openTextDocument({ content: reportText(imported), language: 'plaintext' });
  await vscode.window.showTextDocument(doc, { preview: true });
}

export function registerImportCommand(): vscode.Disposable {
  return vscode.commands.registerCommand(importCommand, importRecording);
}
