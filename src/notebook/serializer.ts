// A thin NotebookSerializer over the pure `.qmp` format (src/format): everything about the text
// lives there; this file only maps between its data and VS Code's.
//
// Notebook metadata keeps what the file header says (`profile`, `saveOutputs`) and how the file was written
// (`eol`, `bom`), so a save writes the same bytes back. Outputs are saved as `<-` lines when the notebook's
// own `saveOutputs` says so, or else when the `qmp.notebook.saveOutputs` setting does.
import * as vscode from 'vscode';
import {
  decodeNotebookBytes, parseNotebook, serializeNotebook, unreadOutputWarnings, type CellData, type FormatWarning, type NotebookData, type SavedOutput,
} from '../format';
import { nestingDepth } from '../format/notebook';
import { EventGroup, outputFromWire, outputMeta, savedEvent, textOutput } from './outputs';
import type { QmpEventRecord } from '../qmp';
import { groupOutputs } from '../run/eventGrouping';
import { stableOutputs, validMasks } from '../testing/savedOutput';
import { isCodeLanguage } from '../run/plan';
import { metadataFront } from '../run/rules';

const encoder = new TextEncoder();

/**
 * Saved messages nested deeper than this are shown as their text instead of being rebuilt as replies and
 * events: rebuilding pretty-prints the value with JSON.stringify, which recurses. QEMU itself refuses input
 * nested deeper than 1024 (MAX_NESTING).
 */
const MAX_RENDERED_DEPTH = 256;

/** A saved message too deep to rebuild: shown as text, with the metadata that saves it back unchanged. */
function deepMessageOutput(direction: '<-' | '->', json: string): vscode.NotebookCellOutput {
  return new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.text(`${direction} ${json}`, 'text/plain')],
    { qmp: { kind: direction === '->' ? 'sent' : 'reply', wire: json } });
}

function savedToOutput(o: SavedOutput): vscode.NotebookCellOutput {
  if (o.kind === 'text') return textOutput(o.text);
  return nestingDepth(o.json) > MAX_RENDERED_DEPTH ? deepMessageOutput(o.direction, o.json) : outputFromWire(o.direction, o.json);
}

/**
 * The outputs of a cell's saved lines, with consecutive `<-` events gathered into one event group each, as the
 * run gathered them (groupOutputs, the run's own rule): a cell saved with 10,000 events reopens as one output
 * showing the first and the last events and how many between, not as 10,000 outputs past VS Code's 500 (the
 * group keeps every event's text, so saving again writes them all back).
 */
export function toOutputs(saved: readonly SavedOutput[] | undefined): vscode.NotebookCellOutput[] {
  const events = new Map<SavedOutput, { record: QmpEventRecord; timed: boolean }>();
  const isEvent = (o: SavedOutput): boolean => {
    if (o.kind !== 'message' || o.direction !== '<-' || nestingDepth(o.json) > MAX_RENDERED_DEPTH) return false;
    const e = savedEvent(o.json);
    if (e) events.set(o, e);
    return e !== undefined;
  };
  return groupOutputs(saved ?? [], isEvent).map((item) => {
    if ('one' in item) return savedToOutput(item.one);
    // One event alone is shown as the run shows an event group of one: the same output either way.
    const group = new EventGroup();
    for (const o of item.events) {
      const e = events.get(o);
      if (e) group.add(e.record, e.timed);
    }
    return group.output();
  });
}

/** The outputs of a cell as the file keeps them; outputs that are not ours are left out. */
export function toSavedOutputs(outputs: readonly vscode.NotebookCellOutput[]): SavedOutput[] {
  const saved: SavedOutput[] = [];
  for (const o of outputs) {
    const meta = outputMeta(o);
    // Notes (✓/✗ of expected replies and events, waiting behind a busy QEMU) are derived, not QEMU's: a saved
    // note would be a line `qmp-notebook test` never produces, so the session would fail as a regression test.
    if (!meta || meta.kind === 'note') continue;
    if (meta.wires !== undefined) for (const json of meta.wires) saved.push({ kind: 'message', direction: '<-', json });
    else if (meta.kind === 'sent' && meta.wire !== undefined) saved.push({ kind: 'message', direction: '->', json: meta.wire });
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
  if (data.masks !== undefined) metadata['masks'] = data.masks;
  if (data.ignoreEvents !== undefined) metadata['ignoreEvents'] = data.ignoreEvents;
  if (data.eventOrder !== undefined) metadata['eventOrder'] = data.eventOrder;
  if (data.testOn !== undefined) metadata['testOn'] = data.testOn;
  if (data.eol !== undefined) metadata['eol'] = data.eol;
  if (data.bom !== undefined) metadata['bom'] = data.bom;
  nb.metadata = metadata;
  return nb;
}

export function fromNotebookData(nb: vscode.NotebookData, saveOutputsSetting: boolean): NotebookData {
  const md = nb.metadata ?? {};
  const front = metadataFront(md);
  const saveOutputs = typeof md['saveOutputs'] === 'boolean' ? md['saveOutputs'] : saveOutputsSetting;
  const cells: CellData[] = nb.cells.map((c) => {
    if (c.kind === vscode.NotebookCellKind.Markup) return { kind: 'markdown', language: 'markdown', source: c.value };
    // A code cell in a language the format cannot hold is kept as qmp rather than lost.
    const language = isCodeLanguage(c.languageId) ? c.languageId : 'qmp';
    const cell: CellData = { kind: 'code', language, source: c.value };
    if (saveOutputs && c.outputs?.length) {
      // Saved in their stable form: no client ids, volatile values masked (docs/notebook-format.md).
      const saved = stableOutputs(toSavedOutputs(c.outputs), { masks: validMasks(front.masks) });
      if (saved.length) cell.outputs = saved;
    }
    return cell;
  });
  const data: NotebookData = { cells };
  if (typeof md['profile'] === 'string' && md['profile'] !== '') data.profile = md['profile'];
  if (typeof md['saveOutputs'] === 'boolean') data.saveOutputs = md['saveOutputs'];
  Object.assign(data, front);
  if (md['eol'] === '\r\n') data.eol = '\r\n';
  if (md['bom'] === true) data.bom = true;
  return data;
}

/** Notebook metadata key of the warnings about a file's bytes (`FormatWarning[]`), for whoever shows them. */
export const FORMAT_WARNINGS_KEY = 'formatWarnings';

export class QmpNotebookSerializer implements vscode.NotebookSerializer {
  /** Shows a warning to the user; replaceable for tests. */
  constructor(private readonly warn: (message: string) => void = (m) => { void vscode.window.showWarningMessage(m); }) {}

  deserializeNotebook(content: Uint8Array): vscode.NotebookData {
    // Invalid UTF-8 opens (as U+FFFD, like any editor) but never silently: the user is told where it is and
    // that saving writes the replacement characters; the warnings also ride along in the metadata.
    const { text, warnings } = decodeNotebookBytes(content);
    const parsed = parseNotebook(text);
    const nb = toNotebookData(parsed);
    for (const w of warnings) this.warn(`QMP notebook ${w.message}.`);
    // An output block kept as text is shown in the Problems view only: the file opened as written.
    const all: FormatWarning[] = [...warnings, ...unreadOutputWarnings(parsed)];
    if (all.length > 0) nb.metadata = { ...nb.metadata, [FORMAT_WARNINGS_KEY]: all };
    return nb;
  }

  serializeNotebook(data: vscode.NotebookData): Uint8Array {
    const setting = vscode.workspace.getConfiguration('qmp').get<boolean>('notebook.saveOutputs') ?? false;
    return encoder.encode(serializeNotebook(fromNotebookData(data, setting)));
  }
}

/**
 * Shows the warnings about a notebook file (invalid UTF-8 read as U+FFFD, a ```qmp-output block kept as text)
 * as diagnostics of the file in the Problems view, for as long as the notebook is open.
 */
export function registerFormatDiagnostics(): vscode.Disposable {
  const collection = vscode.languages.createDiagnosticCollection('qmp-file');
  const show = (nb: vscode.NotebookDocument): void => {
    if (nb.notebookType !== 'qmp-notebook') return;
    const warnings = nb.metadata[FORMAT_WARNINGS_KEY] as FormatWarning[] | undefined;
    if (!Array.isArray(warnings) || warnings.length === 0) return;
    collection.set(nb.uri, warnings.map((w) => {
      const line = Math.max(0, w.line - 1);
      const d = new vscode.Diagnostic(new vscode.Range(line, 0, line, 0), w.message, vscode.DiagnosticSeverity.Warning);
      d.source = 'qmp';
      d.code = w.code;
      return d;
    }));
  };
  vscode.workspace.notebookDocuments.forEach(show);
  return vscode.Disposable.from(
    collection,
    vscode.workspace.onDidOpenNotebookDocument(show),
    vscode.workspace.onDidCloseNotebookDocument((nb) => collection.delete(nb.uri)),
  );
}
