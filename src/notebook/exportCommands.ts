// "QMP: Export Notebook…" (a file next to the notebook, in a format of src/export) and the cell menu's
// "Copy as…" (one cell, to the clipboard). The formats and their text are src/export's; this file only asks,
// writes and copies. A file is written atomically: a private temporary file beside it, then a rename.
import * as path from 'node:path';
import * as vscode from 'vscode';
import { EXPORT_DESCRIPTIONS, EXPORT_EXTENSIONS, EXPORT_FORMATS, exportNotebook, type ExportFormat } from '../export/export';
import type { CellData, NotebookData } from '../format';
import { toSavedOutputs } from './serializer';
import { writeAtomically } from '../session/writeAtomically';
import { isCodeLanguage } from '../run/plan';
import { notebookType } from './controller';

export const exportNotebookCommand = 'qmp.exportNotebook';
export const copyCellAsCommand = 'qmp.copyCellAs';

/** A cell as the format's data, with its outputs as the file would save them. */
function cellData(cell: vscode.NotebookCell): CellData {
  if (cell.kind === vscode.NotebookCellKind.Markup) return { kind: 'markdown', language: 'markdown', source: cell.document.getText() };
  const language = isCodeLanguage(cell.document.languageId) ? cell.document.languageId : 'qmp';
  const outputs = toSavedOutputs(cell.outputs);
  return { kind: 'code', language, source: cell.document.getText(), ...(outputs.length ? { outputs } : {}) };
}

function notebookData(nb: vscode.NotebookDocument): NotebookData {
  const profile: unknown = nb.metadata?.['profile'];
  return { ...(typeof profile === 'string' && profile !== '' ? { profile } : {}), cells: nb.getCells().map(cellData) };
}

async function pickFormat(title: string): Promise<ExportFormat | undefined> {
  const picked = await vscode.window.showQuickPick(EXPORT_FORMATS.map((f) => ({ label: f, description: EXPORT_DESCRIPTIONS[f], format: f })), { title });
  return picked?.format;
}

function isFormat(v: unknown): v is ExportFormat {
  return typeof v === 'string' && (EXPORT_FORMATS as readonly string[]).includes(v);
}


/** `arg`: the notebook's URI (toolbar, palette: the active notebook), or `{ notebook, format, target }` (tests, scripts). */
async function exportActive(arg: unknown): Promise<string | undefined> {
  const given = (typeof arg === 'object' && arg !== null && !(arg instanceof vscode.Uri) ? arg : {}) as { notebook?: unknown; format?: unknown; target?: unknown };
  const uri = arg instanceof vscode.Uri ? arg : given.notebook instanceof vscode.Uri ? given.notebook : undefined;
  const nb = uri ? vscode.workspace.notebookDocuments.find((n) => n.uri.toString() === uri.toString()) : vscode.window.activeNotebookEditor?.notebook;
  if (!nb || nb.notebookType !== notebookType) {
    void vscode.window.showErrorMessage('Open a QMP notebook to export it.');
    return undefined;
  }
  const format = isFormat(given.format) ? given.format : await pickFormat('Export the notebook as');
  if (!format) return undefined;
  const base = path.basename(nb.uri.path).replace(/\.qmp$/, '') || 'notebook';
  let target = given.target instanceof vscode.Uri ? given.target : undefined;
  if (!target) {
    const folder = nb.uri.scheme === 'file' ? vscode.Uri.file(path.dirname(nb.uri.fsPath)) : vscode.workspace.workspaceFolders?.[0]?.uri;
    target = await vscode.window.showSaveDialog({
      title: `Export as ${format}`,
      ...(folder ? { defaultUri: vscode.Uri.joinPath(folder, `${base}${EXPORT_EXTENSIONS[format]}`) } : {}),
    });
    if (!target) return undefined;
  }
  try {
    await writeAtomically(target, exportNotebook(notebookData(nb), format, path.basename(nb.uri.path)));
  } catch (err) {
    void vscode.window.showErrorMessage(`Could not export to ${target.fsPath}: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  return target.toString();
}

/** `arg`: the cell (the cell menu) or its document URI; `format` skips the question. Returns the copied text. */
async function copyCellAs(arg: unknown, format?: unknown): Promise<string | undefined> {
  const key = arg instanceof vscode.Uri ? arg.toString()
    : (arg as { document?: { uri?: unknown } } | undefined)?.document?.uri instanceof vscode.Uri ? String((arg as vscode.NotebookCell).document.uri) : undefined;
  const editor = vscode.window.activeNotebookEditor;
  const cell = key !== undefined
    ? vscode.workspace.notebookDocuments.flatMap((n) => n.getCells()).find((c) => c.document.uri.toString() === key)
    : editor?.notebook.cellAt(editor.selection.start);
  if (!cell || cell.notebook.notebookType !== notebookType) return undefined;
  const chosen = isFormat(format) ? format : await pickFormat(`Copy cell ${cell.index + 1} as`);
  if (!chosen) return undefined;
  const text = exportNotebook({ cells: [cellData(cell)] }, chosen, `Cell ${cell.index + 1}`);
  await vscode.env.clipboard.writeText(text);
  void vscode.window.setStatusBarMessage(`Copied cell ${cell.index + 1} as ${chosen}`, 3000);
  return text;
}

export function registerExportCommands(): vscode.Disposable {
  return vscode.Disposable.from(
    vscode.commands.registerCommand(exportNotebookCommand, exportActive),
    vscode.commands.registerCommand(copyCellAsCommand, copyCellAs),
  );
}
