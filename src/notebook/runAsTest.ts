// "QMP: Run Notebook as Test": the editor's side of `qmp-notebook test`. The outputs a notebook holds when
// the command starts are the expected ones (what was saved, or last run); every code cell then runs on the
// notebook's kernel, one at a time (a failing cell does not skip the others), and its new outputs are
// compared with the expected ones by the same rules as the CLI (src/testing/compare.ts: masks, ignorable
// events, event order). Each cell shows whether it matched in its status bar; a mismatch links to VS
// Code's diff editor over the saved and the new outputs.
import * as vscode from 'vscode';
import { renderOutputs } from './format';
import { notebookType, type QmpControllers, type UnmetComparison } from './controller';
import { toOutputs, toSavedOutputs } from './serializer';
import { openKernel } from '../kernel/index';
import { testNotebook, type CellVerdict } from '../kernel/testRun';
import type { CellData, CellLanguage, SavedOutput } from './format';
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
    // A sandbox notebook is tested as `qmp-notebook test` tests it: on a fresh private sandbox QEMU, so that it
    // starts from a known state whatever ran on the live session before (and the live session is left alone).
    if (this.controllers.runsOnSandbox(nb)) {
      const tested = await this.runOnFreshSandbox(nb, cells, expected, front.rules);
      if (tested === undefined) return undefined;
      out.push(...tested);
      this.summarize(out, ' on a fresh private sandbox QEMU');
      return out;
    }
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
    this.summarize(out, ` on the live session "${this.controllers.profileOf(nb) ?? 'sandbox'}"`);
    return out;
  }

  private summarize(out: readonly CellTestResult[], where: string): void {
    const passed = out.filter((r) => r.status === 'passed').length;
    const summary = `${passed} passed, ${out.length - passed} failed${where}`;
    if (out.length - passed > 0) void vscode.window.showWarningMessage(`Run as Test: ${summary}. Each failing cell links to its difference.`);
    else void vscode.window.showInformationMessage(`Run as Test: ${summary}.`);
  }

  /**
   * The one test path (src/kernel/testRun.ts, as `qmp-notebook test`) on a private sandbox started for this
   * run and stopped after it; the new outputs are shown in the cells. Undefined when the sandbox cannot start.
   */
  private async runOnFreshSandbox(nb: vscode.NotebookDocument, cells: readonly vscode.NotebookCell[],
    expected: ReadonlyMap<vscode.NotebookCell, SavedOutput[]>, rules: Parameters<typeof testNotebook>[1]['rules']): Promise<CellTestResult[] | undefined> {
    const config = vscode.workspace.getConfiguration('qmp');
    const qemuPath = (config.get<string>('sandbox.qemuPath') ?? '').trim();
    const extraArgs = config.get<string[]>('sandbox.extraArgs') ?? [];
    const timeoutMs = config.get<number>('commandTimeoutMs') || 30_000;
    const data: CellData[] = nb.getCells().map((c) => {
      const saved = expected.get(c);
      return c.kind === vscode.NotebookCellKind.Code
        ? { kind: 'code' as const, language: c.document.languageId as CellLanguage, source: c.document.getText(), ...(saved?.length ? { outputs: saved } : {}) }
        : { kind: 'markdown' as const, language: 'markdown' as CellLanguage, source: c.document.getText() };
    });
    let verdicts: CellVerdict[] = [];
    const started = await vscode.window.withProgress({
      location: vscode.ProgressLocation.Notification, title: 'Running the notebook as a test on a fresh private sandbox QEMU', cancellable: true,
    }, async (_progress, token) => {
      let kernel;
      try {
        kernel = await openKernel({ kind: 'sandbox' }, {
          ...(qemuPath ? { qemuBinary: qemuPath } : {}), sandboxArgs: extraArgs,
          engine: { commandTimeoutMs: timeoutMs, expectedEventsTimeoutMs: timeoutMs },
        });
      } catch (err) {
        void vscode.window.showErrorMessage(`Run as Test could not start a private sandbox QEMU: ${err instanceof Error ? err.message : String(err)}`);
        return false;
      }
      // Cancelling stops the sandbox: the cells not run yet are reported as not run.
      const cancel = token.onCancellationRequested(() => { void kernel.close(); });
      try {
        verdicts = (await testNotebook(kernel, { cells: data, rules, timeoutMs })).verdicts;
      } catch (err) {
        void vscode.window.showErrorMessage(`Run as Test: ${err instanceof Error ? err.message : String(err)}`);
        return false;
      } finally {
        cancel.dispose();
        await kernel.close();
      }
      return true;
    });
    if (!started) return undefined;
    const out: CellTestResult[] = [];
    for (const v of verdicts) {
      const cell = nb.cellAt(v.cell - 1);
      if (!cells.includes(cell)) continue;
      const saved = expected.get(cell) ?? [];
      const masks = { masks: cellRules(cell.document.getText(), rules).rules.masks };
      const status = v.status === 'passed' ? 'passed' : 'failed';
      const result: Stored = {
        index: cell.index, status, problems: v.problems, diff: v.diff,
        saved: renderOutputs(stableOutputs(saved, masks) as OutputLike[]), actual: renderOutputs(v.stable),
      };
      // The expectations written in the cell that failed: their two sides under the outputs, so that the diff
      // shows the failing comparison even when the saved and the new outputs are the same.
      const sides = comparisonSides(v.comparisons ?? [], masks);
      if (sides) {
        result.saved += sides.expected;
        result.actual += sides.actual;
      }
      await this.controllers.showOutputs(nb, cell, toOutputs(v.actual as SavedOutput[]), status === 'passed');
      this.results.set(cell.document.uri.toString(), result);
      this.docChanged.fire(this.diffUri(cell, 'saved'));
      this.docChanged.fire(this.diffUri(cell, 'new'));
      out.push({ index: result.index, status: result.status, problems: result.problems, diff: result.diff });
    }
    this.changed.fire();
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
