// "QMP: Run Notebook as Test": the editor's side of `qmp-notebook test`. The outputs a notebook holds when
// the command starts are the expected ones (what was saved, or last run); every code cell then runs on the
// notebook's kernel, one at a time (a failing cell does not skip the others), and its new outputs are
// compared with the expected ones by the same rules as the CLI (src/testing/compare.ts: masks, ignorable
// events, event order). Each cell shows whether it matched in its status bar; a mismatch links to VS
// Code's diff editor over the saved and the new outputs.
import * as vscode from 'vscode';
import { renderOutputs } from './format';
import { notebookType, type QmpControllers, type UnmetComparison } from './controller';
import { toSavedOutputs } from './serializer';
import { cellRules, compareCell, notebookRules } from '../testing/compare';
import { metadataFront } from '../run/rules';
import { stableOutputs } from '../testing/savedOutput';
import type { OutputLike } from '../testing/savedOutput';

export const runAsTestCommand = 'qmp.runNotebookAsTest';
export const showTestDiffCommand = 'qmp.showTestDiff';
const diffScheme = 'qmp-test-output';

/** The result of one cell, as the command returns it (plain data: tests read it). */
export interface CellTestResult {
  index: number;
  status: 'passed' | 'failed';
  problems: string[];
  diff: string;
}

interface Stored extends CellTestResult {
  saved: string;
  actual: string;
}

/** Longest time to wait for one cell's run to end (the cell's own timeouts end it much sooner). */
const CELL_DEADLINE_MS = 10 * 60_000;

/** A JSON text pretty-printed one member a line (so that a diff points at the member), or as it is when not JSON. */
function pretty(json: string): string {
  try {
    return JSON.stringify(JSON.parse(json), null, 2);
  } catch {
    return json;
  }
}

/**
 * The two sides of the unmet expectations of a cell, as sections to put under its saved and its new outputs:
 * the same heading on both sides, then what the cell wrote (left) and what QEMU said (right), one member a
 * line, client ids dropped and volatile values masked as in the outputs.
 */
export function comparisonSides(comparisons: readonly UnmetComparison[], masks: { masks: ReturnType<typeof cellRules>['rules']['masks'] }):
  { expected: string; actual: string } | undefined {
  if (comparisons.length === 0) return undefined;
  let expected = '';
  let actual = '';
  for (const c of comparisons) {
    const heading = `\n\n# ✗ ${c.what}: written in the cell (left), from QEMU (right)\n`;
    const exp = c.expected.replace(/^<-\s*/, '');
    const [stableExp] = stableOutputs([{ kind: 'message' as const, direction: '<-' as const, json: exp }], masks);
    expected += `${heading}<- ${pretty(stableExp?.json ?? exp)}`;
    if (c.actual.startsWith('(')) {
      actual += `${heading}${c.actual}`;
    } else {
      const [stableAct] = stableOutputs([{ kind: 'message' as const, direction: '<-' as const, json: c.actual }], masks);
      actual += `${heading}<- ${pretty(stableAct?.json ?? c.actual)}`;
    }
  }
  return { expected, actual };
}

export class NotebookTestRunner implements vscode.Disposable {
  /** By cell document URI. */
  private readonly results = new Map<string, Stored>();
  private readonly changed = new vscode.EventEmitter<void>();
  private readonly docChanged = new vscode.EventEmitter<vscode.Uri>();
  private readonly disposables: vscode.Disposable[] = [];

  constructor(private readonly controllers: QmpControllers) {
    this.disposables.push(
      this.changed, this.docChanged,
      vscode.commands.registerCommand(runAsTestCommand, (arg?: unknown) => this.run(arg)),
      vscode.commands.registerCommand(showTestDiffCommand, (arg?: unknown) => this.showDiff(arg)),
      vscode.notebooks.registerNotebookCellStatusBarItemProvider(notebookType, {
        onDidChangeCellStatusBarItems: this.changed.event,
        provideCellStatusBarItems: (cell) => this.statusItems(cell),
      }),
      vscode.workspace.registerTextDocumentContentProvider(diffScheme, {
        onDidChange: this.docChanged.event,
        provideTextDocumentContent: (uri) => this.diffText(uri),
      }),
      // Editing a cell makes its verdict stale.
      vscode.workspace.onDidChangeTextDocument((e) => {
        if (this.results.delete(e.document.uri.toString())) this.changed.fire();
      }),
    );
  }

  private notebookOf(arg: unknown): vscode.NotebookDocument | undefined {
    if (arg instanceof vscode.Uri) return vscode.workspace.notebookDocuments.find((n) => n.uri.toString() === arg.toString());
    const fromToolbar = (arg as { notebookEditor?: { notebookUri?: unknown } } | undefined)?.notebookEditor?.notebookUri;
    if (fromToolbar instanceof vscode.Uri) return this.notebookOf(fromToolbar);
    return vscode.window.activeNotebookEditor?.notebook;
  }

  /** Runs every code cell of the notebook and compares; returns the results (also for tests). */
  async run(arg?: unknown): Promise<CellTestResult[] | undefined> {
    const nb = this.notebookOf(arg);
    if (!nb || nb.notebookType !== notebookType) {
      void vscode.window.showErrorMessage('Open a QMP notebook to run it as a test.');
      return undefined;
    }
    if (!vscode.workspace.isTrusted) {
      void vscode.window.showErrorMessage('Running a notebook as a test needs a trusted workspace: nothing connects or runs in an untrusted one.');
      return undefined;
    }
    const front = notebookRules(metadataFront(nb.metadata));
    if (front.errors.length) {
      void vscode.window.showErrorMessage(`The notebook's masks do not parse: ${front.errors.join('; ')}`);
      return undefined;
    }
    const cells = nb.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
    // The expected outputs: what the notebook holds now, before anything runs.
    const expected = new Map(cells.map((c) => [c, toSavedOutputs(c.outputs)] as const));
    for (const c of cells) this.results.delete(c.document.uri.toString());
    this.changed.fire();

    const out: CellTestResult[] = [];
    await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title: 'Running the notebook as a test', cancellable: true }, async (progress, token) => {
      for (const cell of cells) {
        if (token.isCancellationRequested) break;
        progress.report({ message: `cell ${cell.index + 1}` });
        const { unmet, comparisons } = await this.runCell(nb, cell);
        const rules = cellRules(cell.document.getText(), front.rules);
        const saved = expected.get(cell) ?? [];
        const actual = toSavedOutputs(cell.outputs);
        const cmp = compareCell({
          saved: saved.length ? saved : undefined, actual, replies: new Map(), written: [], rules: rules.rules,
        });
        const problems = [...rules.errors, ...unmet, ...cmp.problems];
        const masks = { masks: rules.rules.masks };
        const result: Stored = {
          index: cell.index, status: problems.length ? 'failed' : 'passed', problems, diff: cmp.diff,
          saved: renderOutputs(stableOutputs(saved, masks) as OutputLike[]), actual: renderOutputs(stableOutputs(actual, masks) as OutputLike[]),
        };
        // The expectations written in the cell that failed: their two sides under the outputs, so that the diff
        // shows the failing comparison even when the saved and the new outputs are the same.
        const sides = comparisonSides(comparisons, masks);
        if (sides) {
          result.saved += sides.expected;
          result.actual += sides.actual;
        }
        this.results.set(cell.document.uri.toString(), result);
        this.docChanged.fire(this.diffUri(cell, 'saved'));
        this.docChanged.fire(this.diffUri(cell, 'new'));
        this.changed.fire();
        out.push({ index: result.index, status: result.status, problems: result.problems, diff: result.diff });
      }
    });
    const passed = out.filter((r) => r.status === 'passed').length;
    const summary = `${passed} passed, ${out.length - passed} failed`;
    if (out.length - passed > 0) void vscode.window.showWarningMessage(`Run as Test: ${summary}. Each failing cell links to its difference.`);
    else void vscode.window.showInformationMessage(`Run as Test: ${summary}.`);
    return out;
  }

  /**
   * Runs one cell on the notebook's kernel and resolves when its run has ended, with the expectations written
   * in the cell that the run did not meet (the engine's verdicts, as `qmp-notebook test` gets them).
   */
  private runCell(nb: vscode.NotebookDocument, cell: vscode.NotebookCell): Promise<{ unmet: readonly string[]; comparisons: readonly UnmetComparison[] }> {
    return new Promise((resolve) => {
      let ended: { unmet: readonly string[]; comparisons: readonly UnmetComparison[] } = { unmet: [], comparisons: [] };
      const timer = setTimeout(done, CELL_DEADLINE_MS);
      const sub = this.controllers.onDidEndRun((r) => { if (r.cell === cell) { ended = r; done(); } });
      function done(): void { clearTimeout(timer); sub.dispose(); resolve({ unmet: ended.unmet, comparisons: ended.comparisons }); }
      vscode.commands.executeCommand('notebook.cell.execute', { ranges: [{ start: cell.index, end: cell.index + 1 }], document: nb.uri })
        .then(undefined, () => done());
    });
  }

  private statusItems(cell: vscode.NotebookCell): vscode.NotebookCellStatusBarItem[] {
    const r = this.results.get(cell.document.uri.toString());
    if (!r) return [];
    if (r.status === 'passed') {
      const item = new vscode.NotebookCellStatusBarItem('$(pass) Matches saved output', vscode.NotebookCellStatusBarAlignment.Left);
      item.tooltip = 'Run as Test: the new outputs match the saved ones.';
      return [item];
    }
    const item = new vscode.NotebookCellStatusBarItem('$(error) Differs from saved output', vscode.NotebookCellStatusBarAlignment.Left);
    item.tooltip = `Run as Test:\n${r.problems.join('\n')}\nClick to compare.`;
    item.command = { title: 'Show Test Difference', command: showTestDiffCommand, arguments: [cell.document.uri] };
    return [item];
  }

  private diffUri(cell: vscode.NotebookCell, side: 'saved' | 'new'): vscode.Uri {
    return vscode.Uri.from({ scheme: diffScheme, path: `/cell-${cell.index + 1}-${side}.qmp-output`, query: `${side}&${cell.document.uri.toString()}` });
  }

  private diffText(uri: vscode.Uri): string {
    const amp = uri.query.indexOf('&');
    const side = uri.query.slice(0, amp);
    const r = this.results.get(uri.query.slice(amp + 1));
    if (!r) return '';
    return (side === 'saved' ? r.saved : r.actual) + '\n';
  }

  /** Opens VS Code's diff editor over a cell's saved and new outputs. */
  async showDiff(arg?: unknown): Promise<void> {
    const cellUri = arg instanceof vscode.Uri ? arg : vscode.window.activeNotebookEditor?.notebook.cellAt(vscode.window.activeNotebookEditor.selection.start)?.document.uri;
    const cell = cellUri && vscode.workspace.notebookDocuments.flatMap((n) => n.getCells()).find((c) => c.document.uri.toString() === cellUri.toString());
    if (!cell || !this.results.has(cell.document.uri.toString())) {
      void vscode.window.showInformationMessage('Run the notebook as a test first (QMP: Run Notebook as Test).');
      return;
    }
    await vscode.commands.executeCommand('vscode.diff', this.diffUri(cell, 'saved'), this.diffUri(cell, 'new'),
      `Cell ${cell.index + 1}: saved ↔ new outputs`);
  }

  dispose(): void {
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
