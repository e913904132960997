// A thin NotebookSerializer over the pure `.qmp` format (src/notebook/format): everything about the text
// lives there; this file only maps between its data and VS Code's.
//
// Notebook metadata keeps what the file header says (`profile`, `saveOutputs`) and how the file was written
// (`eol`, `bom`), so a save writes the same bytes back. Outputs are saved as `<-` lines when the notebook's
// own `saveOutputs` says so, or else when the `qmp.notebook.saveOutputs` setting does.
import * as vscode from 'vscode';
import { parseNotebook, serializeNotebook, type CellData, type NotebookData, type SavedOutput } from './format';
import { outputFromWire, outputMeta, textOutput } from './outputs';
import { isCodeLanguage } from '../run/plan';

const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();

function toOutputs(saved: readonly SavedOutput[] | undefined): vscode.NotebookCellOutput[] {
  return (saved ?? []).map((o) => (o.kind === 'message' ? outputFromWire(o.direction, o.json) : textOutput(o.text)));
}

/** The outputs of a cell as the file keeps them; outputs that are not ours are left out. */
export function toSavedOutputs(outputs: readonly vscode.NotebookCellOutput[]): SavedOutput[] {
  const saved: SavedOutput[] = [];
  for (const o of outputs) {
    const meta = outputMeta(o);
    if (!meta) continue;
    if (meta.kind === 'sent' && meta.wire !== undefined) saved.push({ kind: 'message', direction: '->', json: meta.wire });
    else if (meta.kind !== 'failure' && meta.wire !== undefined) saved.push({ kind: 'message', direction: '<-', json: meta.wire });
    else if (meta.text !== undefined) saved.push({ kind: 'text', text: meta.text });
  }
  return saved;
}

/** Converts the format's data to VS Code's (also used by tests and the new-notebook command). */
export function toNotebookData(data: NotebookData): vscode.NotebookData {
  const cells = data.cells.map((c) => {
    const code = c.kind === 'code';
    const cell = new vscode.NotebookCellData(code ? vscode.NotebookCellKind.Code : vscode.NotebookCellKind.Markup,
      c.source, code ? c.language : 'markdown');
    if (code && c.outputs?.length) cell.outputs = toOutputs(c.outputs);
    return cell;
  });
  const nb = new vscode.NotebookData(cells);
  const metadata: Record<string, unknown> = {};
  if (data.profile !== undefined) metadata['profile'] = data.profile;
  if (data.saveOutputs !== undefined) metadata['saveOutputs'] = data.saveOutputs;
  if (data.eol !== undefined) metadata['eol'] = data.eol;
  if (data.bom !== undefined) metadata['bom'] = data.bom;
  nb.metadata = metadata;
  return nb;
}

export function fromNotebookData(nb: vscode.NotebookData, saveOutputsSetting: boolean): NotebookData {
  const md = nb.metadata ?? {};
  const saveOutputs = typeof md['saveOutputs'] === 'boolean' ? md['saveOutputs'] : saveOutputsSetting;
  const cells: CellData[] = nb.cells.map((c) => {
    if (c.kind === vscode.NotebookCellKind.Markup) return { kind: 'markdown', language: 'markdown', source: c.value };
    // A code cell in a language the format cannot hold is kept as qmp rather than lost.
    const language = isCodeLanguage(c.languageId) ? c.languageId : 'qmp';
    const cell: CellData = { kind: 'code', language, source: c.value };
    if (saveOutputs && c.outputs?.length) {
      const saved = toSavedOutputs(c.outputs);
      if (saved.length) cell.outputs = saved;
    }
    return cell;
  });
  const data: NotebookData = { cells };
  if (typeof md['profile'] === 'string' && md['profile'] !== '') data.profile = md['profile'];
  if (typeof md['saveOutputs'] === 'boolean') data.saveOutputs = md['saveOutputs'];
  if (md['eol'] === '\r\n') data.eol = '\r\n';
  if (md['bom'] === true) data.bom = true;
  return data;
}

export class QmpNotebookSerializer implements vscode.NotebookSerializer {
  deserializeNotebook(content: Uint8Array): vscode.NotebookData {
    let text: string;
    try {
      text = decoder.decode(content);
    } catch {
      // Opening would replace the bad bytes, and a save would then lose them: refuse instead.
      throw new Error('This .qmp file is not valid UTF-8. Open it with the text editor to repair it.');
    }
    return toNotebookData(parseNotebook(text));
  }

  serializeNotebook(data: vscode.NotebookData): Uint8Array {
    const setting = vscode.workspace.getConfiguration('qmp').get<boolean>('notebook.saveOutputs') ?? false;
    return encoder.encode(serializeNotebook(fromNotebookData(data, setting)));
  }
}
