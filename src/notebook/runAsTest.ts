// "QMP: Run Notebook as Test": the editor's side of `qmp-notebook test`, the same function (src/kernel/
// testRun.ts `testNotebook`, with the engine's test rules). The outputs a notebook holds when the command
// starts are the expected ones (what was saved, or last run); every code cell then runs, one at a time (a
// failing cell does not skip the others), on a fresh private process for a profile the extension starts
// (sandbox, storage daemon) or on the profile's live session (any other profile, or `testOn: live-session`),
// and is compared by the CLI's rules. Each cell shows whether it matched in its status bar; a mismatch links
// to VS Code's diff editor over the saved and the new outputs.
import * as vscode from 'vscode';
import { renderOutputs } from '../format';
import { notebookType, type QmpControllers, type UnmetComparison } from './controller';
import { toOutputs, toSavedOutputs } from './serializer';
import { openKernel } from '../kernel/index';
import { testNotebook, type CellVerdict, type TestableKernel } from '../kernel/testRun';
import type { CellData, CellLanguage, SavedOutput } from '../format';
import { cellRules, notebookRules } from '../testing/compare';
import { metadataFront } from '../run/rules';
import { isCodeLanguage, planCell, StopRequest, type CodeLanguage, type TestRules } from '../run/index';
import { isLaunchedProfile, type Profile } from '../session/profiles';
import { commandsOf, confirmStateChanges } from '../session/endpointPrompts';
import { errorText, type Session } from '../session/sessionManager';
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

    // Where it runs: a profile whose process the extension starts (sandbox, storage daemon) is tested as
    // `qmp-notebook test` tests it, on a fresh private one started for the test and stopped after it, so that
    // it starts from a known state whatever ran on the live session before (which is left alone); unless the
    // notebook says `testOn: live-session`. Any other profile is tested on its live session.
    const name = this.controllers.profileOf(nb) ?? this.controllers.sessions.sandboxProfileName();
    const profile = name === undefined ? undefined : this.controllers.sessions.profile(name);
    if (!profile) {
      void vscode.window.showErrorMessage(`Run as Test: the notebook runs on "${name ?? 'sandbox'}", which is not in the qmp.connections setting.`);
      return undefined;
    }
    const fresh = metadataFront(nb.metadata).testOn !== 'live-session' && isLaunchedProfile(profile);
    const where = fresh ? ` on a fresh private ${profile.kind === 'sandbox' ? 'sandbox QEMU' : 'qemu-storage-daemon'}` : ` on the live session "${profile.name}"`;
    const out = await this.test(nb, profile, fresh, where, cells, expected, front.rules);
    if (out === undefined) return undefined;
    this.summarize(out, where);
    return out;
  }

  private summarize(out: readonly CellTestResult[], where: string): void {
    const passed = out.filter((r) => r.status === 'passed').length;
    const summary = `${passed} passed, ${out.length - passed} failed${where}`;
    if (out.length - passed > 0) void vscode.window.showWarningMessage(`Run as Test: ${summary}. Each failing cell links to its difference.`);
    else void vscode.window.showInformationMessage(`Run as Test: ${summary}.`);
  }

  /** The kernel a test runs on: a fresh private process (closed after it), or the profile's live session. */
  private async kernelFor(profile: Profile, fresh: boolean, data: readonly CellData[], rules: TestRules, timeoutMs: number):
    Promise<{ kernel: TestableKernel; close(): Promise<void> } | string> {
    const config = vscode.workspace.getConfiguration('qmp');
    if (fresh) {
      const daemon = profile.kind === 'storage-daemon';
      const binary = (config.get<string>(daemon ? 'storageDaemon.path' : 'sandbox.qemuPath') ?? '').trim();
      try {
        const kernel = await openKernel({ kind: daemon ? 'storage-daemon' : 'sandbox' }, {
          ...(binary ? (daemon ? { storageDaemonBinary: binary } : { qemuBinary: binary }) : {}),
          ...(daemon ? {} : { sandboxArgs: config.get<string[]>('sandbox.extraArgs') ?? [] }),
          engine: { commandTimeoutMs: timeoutMs, expectedEventsTimeoutMs: timeoutMs },
        });
        return { kernel, close: () => kernel.close() };
      } catch (err) {
        return `could not start a private ${daemon ? 'qemu-storage-daemon' : 'sandbox QEMU'}: ${errorText(err)}`;
      }
    }
    let session: Session;
    try {
      session = await this.controllers.sessions.connect(profile.name);
    } catch (err) {
      return `could not connect to "${profile.name}": ${errorText(err)}`;
    }
    // A VM the extension does not own: ask once, for every command of the notebook that changes its state.
    const commands = data.filter((c) => c.kind === 'code' && isCodeLanguage(c.language))
      .flatMap((c) => commandsOf(planCell(c.source, c.language as CodeLanguage, session.schema?.schema, rules).steps));
    if (!(await confirmStateChanges(session, commands))) return 'the notebook changes the state of the VM and that was not confirmed; nothing was sent';
    return { kernel: session.kernel, close: async () => undefined };
  }

  /**
   * The one test path (src/kernel/testRun.ts, as `qmp-notebook test`) on the kernel the notebook is tested on;
   * the new outputs are shown in the cells. Undefined when there is nothing to test on.
   */
  private async test(nb: vscode.NotebookDocument, profile: Profile, fresh: boolean, where: string, cells: readonly vscode.NotebookCell[],
    expected: ReadonlyMap<vscode.NotebookCell, SavedOutput[]>, rules: TestRules): Promise<CellTestResult[] | undefined> {
    const timeoutMs = vscode.workspace.getConfiguration('qmp').get<number>('commandTimeoutMs') || 30_000;
    const data: CellData[] = nb.getCells().map((c) => {
      const saved = expected.get(c);
      return c.kind === vscode.NotebookCellKind.Code
        ? { kind: 'code' as const, language: c.document.languageId as CellLanguage, source: c.document.getText(), ...(saved?.length ? { outputs: saved } : {}) }
        : { kind: 'markdown' as const, language: 'markdown' as CellLanguage, source: c.document.getText() };
    });
    let verdicts: CellVerdict[] = [];
    const ran = await vscode.window.withProgress({
      location: vscode.ProgressLocation.Notification, title: `Running the notebook as a test${where}`, cancellable: true,
    }, async (progress, token) => {
      const target = await this.kernelFor(profile, fresh, data, rules, timeoutMs);
      if (typeof target === 'string') {
        void vscode.window.showErrorMessage(`Run as Test: ${target}.`);
        return false;
      }
      // Cancelling stops the cells (the ones not run yet are reported as not run).
      const stop = new AbortController();
      const cancel = token.onCancellationRequested(() => stop.abort(new StopRequest('interrupted', 'Run as Test was cancelled')));
      try {
        verdicts = (await testNotebook(target.kernel, {
          cells: data, rules, timeoutMs, signal: stop.signal,
          onCell: (n, total) => { if (n < total) progress.report({ message: `cell ${n + 1} of ${total}` }); },
        })).verdicts;
      } catch (err) {
        void vscode.window.showErrorMessage(`Run as Test: ${errorText(err)}`);
        return false;
      } finally {
        cancel.dispose();
        await target.close();
      }
      return true;
    });
    if (!ran) return undefined;
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
