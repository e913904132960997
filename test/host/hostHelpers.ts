// Shared helpers of the session and notebook host tests: the extension's internal test API, waiting on its
// events with generous deadlines (never sleeping), and running cells through VS Code's own commands.
import { execFile } from 'node:child_process';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { QmpTestApi } from '../../src/extension';
import type { CellTestResult } from '../../src/notebook/runAsTest';
import type { CellRunRecord, RunOutcome } from '../../src/notebook/controller';
import type { Session } from '../../src/session/sessionManager';

export const extensionId = 'qmp-notebook.qmp-notebook';
export const deadlineMs = 30_000;

export async function api(): Promise<QmpTestApi> {
  const extension = vscode.extensions.getExtension<QmpTestApi>(extensionId);
  if (!extension) throw new Error(`${extensionId} is not loaded`);
  return extension.activate();
}

/** Resolves when `check` returns something other than undefined, re-checking whenever `event` fires. */
export function waitFor<T, E>(event: vscode.Event<E>, check: () => T | undefined, what: string, timeoutMs = deadlineMs): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const now = check();
    if (now !== undefined) {
      resolve(now);
      return;
    }
    const timer = setTimeout(() => {
      sub.dispose();
      reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
    }, timeoutMs);
    const sub = event(() => {
      const v = check();
      if (v !== undefined) {
        clearTimeout(timer);
        sub.dispose();
        resolve(v);
      }
    });
  });
}

export function waitForState(qmp: QmpTestApi, name: string, states: Session['state'][], timeoutMs = deadlineMs): Promise<Session> {
  return waitFor(qmp.sessions.onDidChangeState, () => {
    const s = qmp.sessions.session(name);
    return s && states.includes(s.state) ? s : undefined;
  }, `session ${name} to be ${states.join(' or ')} (it is ${qmp.sessions.session(name)?.state ?? 'missing'})`, timeoutMs);
}

/** Records every state a session goes through from now on. */
export function recordStates(qmp: QmpTestApi, name: string): { states: Session['state'][]; dispose(): void } {
  const states: Session['state'][] = [];
  const sub = qmp.sessions.onDidChangeState((s) => {
    if (s.name === name && states[states.length - 1] !== s.state) states.push(s.state);
  });
  return { states, dispose: () => sub.dispose() };
}

export async function disconnectAll(qmp: QmpTestApi): Promise<void> {
  await Promise.all(qmp.sessions.allSessions().map((s) => qmp.sessions.disconnect(s.name)));
}

/**
 * After a test that opened notebooks and added profiles: closes the notebooks unsaved (taking them out of the
 * list), disconnects every session and removes the workspace's connection profiles.
 */
export async function closeAndForget(qmp: QmpTestApi, notebooks: vscode.NotebookDocument[]): Promise<void> {
  for (const nb of notebooks.splice(0)) {
    if (nb.isClosed) continue;
    await vscode.window.showNotebookDocument(nb);
    await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
  }
  await disconnectAll(qmp);
  await vscode.workspace.getConfiguration('qmp').update('connections', undefined, vscode.ConfigurationTarget.Workspace);
}

/** A completion item's label as text (VS Code allows a string or a label with details). */
export const labelOf = (item: vscode.CompletionItem): string => (typeof item.label === 'string' ? item.label : item.label.label);

/** Opens a notebook in an editor and selects the controller of `profile` for it. */
export async function showWithKernel(nb: vscode.NotebookDocument, qmp: QmpTestApi, profile: string): Promise<void> {
  await vscode.window.showNotebookDocument(nb);
  const controller = qmp.controllers.controllerFor(profile);
  if (!controller) throw new Error(`no controller for ${profile}`);
  await vscode.commands.executeCommand('notebook.selectKernel', { id: controller.id, extension: extensionId });
  await waitFor(qmp.controllers.onDidChangeNotebookProfile, () => (qmp.controllers.profileOf(nb) === profile ? true : undefined),
    `${profile} to be selected`);
}

/** Starts collecting run outcomes now; `wait(cells)` resolves once each of them ended. */
export function collectRuns(qmp: QmpTestApi): { ended: CellRunRecord[]; wait(cells: vscode.NotebookCell[]): Promise<Map<number, RunOutcome>>; dispose(): void } {
  const ended: CellRunRecord[] = [];
  const sub = qmp.controllers.onDidEndRun((r) => ended.push(r));
  return {
    ended,
    wait: (cells) => waitFor(qmp.controllers.onDidEndRun, () => {
      const done = new Map<number, RunOutcome>();
      for (const r of ended) if (cells.includes(r.cell)) done.set(r.cell.index, r.outcome);
      return done.size === cells.length ? done : undefined;
    }, `cells ${cells.map((c) => c.index).join(', ')} to end`),
    dispose: () => sub.dispose(),
  };
}

/**
 * Asks VS Code to run cells, as the run button does. The command's promise may only settle when the cells
 * end, so callers wait on run events instead; a failing command still fails the caller.
 */
export function executeCells(nb: vscode.NotebookDocument, indices: number[]): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    vscode.commands.executeCommand('notebook.cell.execute', {
      ranges: indices.map((i) => ({ start: i, end: i + 1 })), document: nb.uri,
    }).then(() => resolve(), reject);
  });
}

/** Runs cells with VS Code's own command (the same path as the run button) and waits for their ends. */
export async function runCells(qmp: QmpTestApi, nb: vscode.NotebookDocument, indices: number[]): Promise<Map<number, RunOutcome>> {
  const runs = collectRuns(qmp);
  try {
    const cells = indices.map((i) => nb.cellAt(i));
    const ended = runs.wait(cells);
    await Promise.race([ended, executeCells(nb, indices).then(() => ended)]);
    return await ended;
  } finally {
    runs.dispose();
  }
}

export function outputTexts(cell: vscode.NotebookCell): { mimes: string[]; texts: string[]; kinds: string[] } {
  const decoder = new TextDecoder();
  const mimes: string[] = [];
  const texts: string[] = [];
  const kinds: string[] = [];
  for (const o of cell.outputs) {
    const meta = o.metadata?.['qmp'] as { kind?: string } | undefined;
    kinds.push(meta?.kind ?? '?');
    for (const item of o.items) {
      // The Markdown item beside a note's or a `->` line's plain text only makes it wrap: the same text.
      if (item.mime === 'text/markdown' && o.items.some((i) => i.mime === 'text/plain')) continue;
      mimes.push(item.mime);
      texts.push(decoder.decode(item.data));
    }
  }
  return { mimes, texts, kinds };
}

/** The execution summaries of cells once VS Code has recorded their ends (that reaches the document later). */
export function endedSummaries(nb: vscode.NotebookDocument, indices: number[]): Promise<vscode.NotebookCellExecutionSummary[]> {
  return waitFor(vscode.workspace.onDidChangeNotebookDocument, () => {
    const summaries = indices.map((i) => nb.cellAt(i).executionSummary);
    return summaries.every((x) => x?.success !== undefined && x.timing !== undefined)
      ? summaries as vscode.NotebookCellExecutionSummary[] : undefined;
  }, `the execution summaries of cells ${indices.join(', ')}`);
}

/**
 * The packaged `qmp-notebook test FILE … --json` (the .vsix's dist/cli.js): the per-cell results, each with its
 * 0-based cell index, its verdict and its problems (but for the file lines the command line names).
 */
export async function cliTestResults(file: string, flags: readonly string[]): Promise<{ results: Array<[number, string, string[]]>; stdout: string }> {
  const ext = vscode.extensions.getExtension(extensionId);
  if (!ext) throw new Error(`${extensionId} is not loaded`);
  const stdout = await new Promise<string>((resolve) => {
    execFile(process.execPath, [path.join(ext.extensionPath, 'dist', 'cli.js'), 'test', file, ...flags, '--json'],
      { encoding: 'utf8', timeout: 120_000 }, (_err, out, errText) => resolve(out + (out.trim() === '' ? errText : '')));
  });
  const results = stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => 'status' in r)
    .map((r): [number, string, string[]] => [(r['cell'] as number) - 1, r['status'] === 'passed' ? 'passed' : 'failed', unlined(r['problems'])]);
  return { results, stdout };
}

/** Problems without the file lines only the command line names. */
function unlined(problems: unknown): string[] {
  return (problems as string[]).map((p) => p.replace(/ \(line \d+\)/g, ''));
}

/**
 * Run as Test in the editor on `nb` as its file holds it (outputs a run left in the cells cleared first), then
 * (after `between`: a guest agent or a QEMU monitor serves one client at a time) the packaged `qmp-notebook
 * test FILE --json` with `flags`: the same verdict and the same problems per cell.
 */
export async function sameTestVerdicts(nb: vscode.NotebookDocument, file: string, flags: readonly string[], between?: () => Promise<void>): Promise<void> {
  await vscode.window.showNotebookDocument(nb);
  await vscode.commands.executeCommand('notebook.clearAllCellsOutputs');
  const tested = await vscode.commands.executeCommand<CellTestResult[] | undefined>('qmp.runNotebookAsTest', nb.uri);
  assert.ok(tested, 'Run as Test returned results');
  await between?.();
  const { results, stdout } = await cliTestResults(file, flags);
  assert.ok(results.length > 0, stdout);
  assert.deepEqual(tested.map((r) => [r.index, r.status, unlined(r.problems)]), results,
    `Run as Test: ${JSON.stringify(tested, null, 2)}\ntest --json: ${stdout}`);
}
