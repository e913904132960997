// The editor at scale (issue 25), on the packaged extension:
// - Run All of a 2,000-cell notebook on the sandbox: every cell's output, in order, each with its own duration
//   (bounded by a constant, not growing with its position), against a trivial controller of the same notebook
//   in the same code-server (the floor: it starts, ends and writes one small output per cell, nothing else);
// - a flood of 10,000 STOP/RESUME events into a cell waiting for RESET: the cell keeps few outputs and RESET is
//   visible in it;
// - completion and hover in a notebook whose profile never connected: the bundled QEMU 10.0 schema, labelled.
// The measurements (times, the extension host's memory, completion latency during Run All) are written to
// out/results/scale.json for `npm run bench`. QMP_SCALE_BENCH=1 also measures 1,000 and 5,000 cells.
import * as assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { Session as InspectorSession } from 'node:inspector';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as vscode from 'vscode';
import type { PacingStats, WindowPacingOptions } from '../../src/notebook/windowPacing';
import { api, disconnectAll, extensionId, showWithKernel, waitFor } from './hostHelpers';

const STATUS = '{ "execute": "query-status" }';
const VERSION = '{ "execute": "query-version" }';
/** No cell of a Run All may take longer than this, wherever it is in the notebook (each is one command). */
const CELL_BOUND_MS = 3_000;

function labelOf(item: vscode.CompletionItem): string {
  return typeof item.label === 'string' ? item.label : item.label.label;
}

/** A notebook of `code` query cells (status and version alternating), a markdown cell every tenth. */
function bigNotebook(code: number, profile: string): vscode.NotebookData {
  const cells: vscode.NotebookCellData[] = [];
  for (let i = 0; i < code; i++) {
    if (i % 10 === 0) cells.push(new vscode.NotebookCellData(vscode.NotebookCellKind.Markup, `## Part ${i / 10}`, 'markdown'));
    cells.push(new vscode.NotebookCellData(vscode.NotebookCellKind.Code, i % 2 === 0 ? STATUS : VERSION, 'qmp'));
  }
  const data = new vscode.NotebookData(cells);
  data.metadata = { profile };
  return data;
}

function textOf(cell: vscode.NotebookCell): string {
  const decoder = new TextDecoder();
  return cell.outputs.flatMap((o) => o.items.map((i) => decoder.decode(i.data))).join('\n');
}

/**
 * Resolves when every code cell of `nb` has an execution summary with an end (as the document sees it),
 * counting the changes as they come (O(1) each) so that waiting does not load the extension host itself.
 */
function allEnded(nb: vscode.NotebookDocument, timeoutMs: number): Promise<number> {
  const code = new Set(nb.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code));
  const ended = new Set<vscode.NotebookCell>();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      sub.dispose();
      // What the first cells not ended show (their execution, their outputs): why the run stalled.
      const stalled = [...code].filter((c) => !ended.has(c)).slice(0, 3)
        .map((c) => `cell ${c.index}: ${JSON.stringify(c.executionSummary)} ${textOf(c).slice(0, 300)}`).join('; ');
      reject(new Error(`only ${ended.size} of ${code.size} cells ended in ${timeoutMs} ms; ${stalled}`));
    }, timeoutMs);
    const sub = vscode.workspace.onDidChangeNotebookDocument((e) => {
      if (e.notebook !== nb) return;
      for (const c of e.cellChanges) {
        if (code.has(c.cell) && c.cell.executionSummary?.timing?.endTime !== undefined) ended.add(c.cell);
      }
      if (ended.size === code.size) {
        clearTimeout(timer);
        sub.dispose();
        resolve(Date.now());
      }
    });
  });
}

/** The id VS Code knows the test harness by (the extension the tests run in). */
function harnessId(): string {
  const h = vscode.extensions.all.find((e) => (e.packageJSON as { name?: string }).name === 'qmp-notebook-host-harness');
  if (!h) throw new Error('the host harness extension is not loaded');
  return h.id;
}

/**
 * The floor: a controller that starts, writes one small output and ends each cell, and nothing else. Its
 * variants (QMP_SCALE_VARIANTS=1) each add one thing ours does, to measure what the workbench charges for it:
 * `rich` writes our reply output (its JSON, text and reply-renderer items, as src/notebook/outputs.ts makes
 * them for these two commands) instead of "ok"; `order` sets each cell's execution order (one more update).
 */
function trivialController(variant: 'plain' | 'rich' | 'order' = 'plain'): vscode.NotebookController {
  const c = vscode.notebooks.createNotebookController(variant === 'plain' ? 'qmp-scale-trivial' : `qmp-scale-trivial-${variant}`, 'qmp-notebook',
    `Trivial (scale floor${variant === 'plain' ? '' : `, ${variant}`})`);
  c.supportedLanguages = ['qmp', 'qmp-shell', 'hmp'];
  if (variant === 'order') c.supportsExecutionOrder = true;
  let order = 0;
  const rich = (cell: vscode.NotebookCell): vscode.NotebookCellOutput => {
    const status = cell.document.getText().includes('query-status');
    const value = status ? { status: 'running', singlestep: false, running: true }
      : { qemu: { micro: 0, minor: 2, major: 7 }, package: 'Debian 1:7.2+dfsg-7' };
    const text = JSON.stringify(value, null, 2);
    return new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.text(text, 'application/json'), vscode.NotebookCellOutputItem.text(text, 'text/plain'),
      vscode.NotebookCellOutputItem.json({ command: status ? 'query-status' : 'query-version', return: value }, 'application/vnd.qmp.reply+json')]);
  };
  c.executeHandler = (cells) => {
    for (const cell of cells) {
      const ex = c.createNotebookCellExecution(cell);
      if (variant === 'order') ex.executionOrder = ++order;
      ex.start(Date.now());
      void ex.replaceOutput([variant === 'rich' ? rich(cell) : new vscode.NotebookCellOutput([vscode.NotebookCellOutputItem.text('ok')])]);
      ex.end(true, Date.now());
    }
  };
  return c;
}

async function closeAll(): Promise<void> {
  await vscode.commands.executeCommand('workbench.action.closeAllEditors');
}

/** Closes an untitled notebook the test edited without a save prompt, so that it does not stay in memory. */
async function discard(nb: vscode.NotebookDocument): Promise<void> {
  if (nb.isClosed) return;
  await vscode.window.showNotebookDocument(nb);
  await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
}

/**
 * A full garbage collection in this extension host, where possible: code-server's host has no --expose-gc, but
 * V8 takes the flag at run time, and a new context then has `gc`. Undefined when that is refused.
 */
const collectGarbage: (() => void) | undefined = (() => {
  try {
    v8.setFlagsFromString('--expose-gc');
    const gc: unknown = vm.runInNewContext('gc');
    return typeof gc === 'function' ? () => { (gc as () => void)(); } : undefined;
  } catch {
    return undefined;
  }
})();

/** The extension host's heap in use after settling and a full collection (twice: weak references go in the second). */
async function settledHeap(): Promise<number | undefined> {
  if (!collectGarbage) return undefined;
  await new Promise((r) => setTimeout(r, 1000));
  collectGarbage();
  collectGarbage();
  return process.memoryUsage().heapUsed;
}

/**
 * The harness's own completion provider for qmp cells (it offers nothing): the workbench calls it with ours, so
 * the time it is called says when a request reached the extension host. Each call answers the oldest request
 * still waiting for it (requests reach the host in order).
 */
const probeCalls: Array<(at: number) => void> = [];
/** How many completion requests the probe leaves unanswered at once. */
const COMPLETIONS_OWED = 3;
let probeProvider: vscode.Disposable | undefined;

/** How long the probes of an interaction run type and ask from its start, at most (ms). */
const PROBE_MS = 30_000;

/** QMP_SCALE_PROFILE=1: a CPU profile of the extension host (in-process inspector) during the bench's runs. */
const PROFILE = process.env['QMP_SCALE_PROFILE'] === '1';

/**
 * The window's renderer, measured by scripts/host-test.mjs between two log lines: its main-thread lag (how late
 * a 20 ms timer runs there: what a keystroke waits for before the window echoes it), p50/p95/max; undefined when
 * the runner does not answer (another runner, or it took longer than 20 s).
 */
function rendererLagFile(name: string): string {
  return path.join(process.env['QMP_EXTENSION_ROOT'] ?? tmpdir(), 'out', 'results', `scale-${name}-renderer-lag.json`);
}

/** `keys`: the runner also types into the focused cell editor and times each key until the DOM shows it. */
function startRendererLag(name: string, keys: boolean): void {
  rmSync(rendererLagFile(name), { force: true });
  console.log(`[measure] renderer start ${name}${PROFILE ? ' cpu' : ''}${keys ? ' keys' : ''}`);
}

interface RendererMeasure {
  p50Ms: number; p95Ms: number; maxMs: number; samples: number;
  keys?: { count: number; p50Ms: number; p95Ms: number; maxMs: number; focus: string };
  /** Completion as a user meets it: a prefix typed into the cell editor until the suggest widget shows a row. */
  suggest?: { count: number; p50Ms: number; p95Ms: number; maxMs: number };
}

async function stopRendererLag(name: string): Promise<RendererMeasure | undefined> {
  console.log(`[measure] renderer stop ${name}`);
  for (let i = 0; i < 200; i++) {
    try {
      return JSON.parse(readFileSync(rendererLagFile(name), 'utf8')) as RendererMeasure;
    } catch {
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  return undefined;
}

/** Starts the extension host's CPU profiler; the returned function stops it and writes `<name>.cpuprofile`. */
async function startProfile(name: string): Promise<() => Promise<unknown>> {
  const session = new InspectorSession();
  session.connect();
  const post = (method: string, params?: object): Promise<unknown> => new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err, result) => { if (err) reject(err); else resolve(result); });
  });
  await post('Profiler.enable');
  await post('Profiler.setSamplingInterval', { interval: 2000 });
  await post('Profiler.start');
  return async () => {
    const { profile } = await post('Profiler.stop') as { profile: CpuProfile };
    session.disconnect();
    const dir = path.join(process.env['QMP_EXTENSION_ROOT'] ?? tmpdir(), 'out', 'results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, `scale-${name}-exthost.cpuprofile`), JSON.stringify(profile));
    return summarize(profile);
  };
}

interface CpuProfile {
  nodes: Array<{ id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }>;
  samples: number[]; timeDeltas: number[]; startTime: number; endTime: number;
}

/** Self time by where the code is (our bundle, the extension host, Node, idle) and the top functions. */
function summarize(p: CpuProfile): unknown {
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) self.set(p.samples[i] as number, (self.get(p.samples[i] as number) ?? 0) + (p.timeDeltas[i] ?? 0));
  const where = (url: string, fn: string): string => {
    if (fn === '(idle)' || fn === '(program)' || fn === '(garbage collector)') return fn;
    if (url.includes('/qmp-notebook.qmp-notebook-') && url.includes('/dist/')) return 'ours';
    // VS Code's built-in Markdown extension syncs every notebook change to its language server.
    if (url.includes('/markdown-language-features/')) return 'markdown extension';
    if (url.includes('extensionHost') || url.includes('/vs/')) return 'extension host';
    if (url.startsWith('node:') || url === '') return 'node';
    return 'other';
  };
  const areas: Record<string, number> = {};
  const fns = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const area = where(n.callFrame.url, n.callFrame.functionName);
    areas[area] = (areas[area] ?? 0) + us;
    const key = `${n.callFrame.functionName || '(anonymous)'} ${path.basename(n.callFrame.url)}:${n.callFrame.lineNumber} [${area}]`;
    fns.set(key, (fns.get(key) ?? 0) + us);
  }
  const ms = (us: number): number => Math.round(us / 1000);
  return {
    totalMs: ms(p.endTime - p.startTime),
    areasMs: Object.fromEntries(Object.entries(areas).map(([k, v]) => [k, ms(v)])),
    topSelfMs: [...fns].sort((a, b) => b[1] - a[1]).slice(0, 25).map(([k, v]) => `${ms(v)} ${k}`),
  };
}

interface RunMeasure {
  cells: number; ms: number; rssGrowthMb: number; heapGrowthMb: number;
  /** The heap in use after the run, settled and collected, less the same before it (undefined: no gc). */
  gcHeapGrowthMb?: number;
  /** The heap in use once the notebook is closed, collected, less the same before it was opened: what the run left. */
  heapLeftAfterCloseMb?: number;
  /** The completion provider's own time during the run (the extension host's share), p95 and max. */
  completionOwnP95Ms?: number; completionOwnMaxMs?: number;
  /**
   * The window's renderer main-thread lag during the run, p95 and max (scripts/host-test.mjs samples it): what
   * a keystroke typed into a cell waits for before the window echoes it.
   */
  rendererLagP95Ms?: number; rendererLagMaxMs?: number;
  /** The extension host's CPU profile summary (QMP_SCALE_PROFILE=1). */
  profile?: unknown;
  /** The extension host's event loop: how late a 20 ms timer fired, p95 and max (is the host starved?). */
  loopLagP95Ms: number; loopLagMaxMs: number;
  /**
   * Completion through the workbench (vscode.executeCompletionItemProvider, asked every 200 ms): the whole
   * wait; the part until the extension host's providers were called; each request as [asked at (ms into the
   * run), to the host, answered] ms.
   */
  completionP95Ms?: number; completionMaxMs?: number; completions?: number; completionToHostP95Ms?: number;
  completionSeries?: Array<[number, number, number]>;
  /** An edit's round trip, the extension host → the window → the extension host (applyEdit): not a keystroke. */
  editRoundTripP95Ms?: number;
  /** A key typed into a cell editor in the window (playwright), until the DOM shows it: p95, max, count. */
  keystrokeP95Ms?: number; keystrokeMaxMs?: number; keystrokes?: number;
  /**
   * Completion as a user meets it (playwright): `{"execute": "query-` typed into the cell editor, from its last
   * key until the suggest widget shows a query- row: p50, p95, max, how many tries.
   */
  completionTypedP50Ms?: number; completionTypedP95Ms?: number; completionTypedMaxMs?: number; completionsTyped?: number;
  /** The notebook's change events during the run, and the cell changes in them. */
  documentChanges?: number; cellChanges?: number; changeKinds?: Record<string, number>;
  /** Ours: what the pacing by the window's round trip did (src/notebook/windowPacing.ts). */
  pacing?: PacingStats;
  /** Ours with a pacing other than the default (the bench's QMP_SCALE_CURVE). */
  pacingOptions?: WindowPacingOptions;
  /** Ours: the interactions the run gave way to, by kind (src/notebook/controller.ts, interacted). */
  interactions?: Record<string, number>;
  /** How long the probes ran from the start of the run (ms): the interaction run's window. */
  probeMs?: number;
  /** The machine's load average (1, 5, 15 min) when the run ended: what the figures were measured under. */
  loadAverage?: number[];
}

/**
 * Opens a `code`-cell notebook, runs it all on `kernel` (ours: a profile; else the trivial controller).
 * Two kinds of run, as a user meets them: `probe` false, Run All timed with nobody typing (what a user who
 * starts it and waits sees); `probe` true, a user working while it runs: the probes (completion typed into a
 * cell editor, keystrokes, completion and edits through the API) from its start for at most `probeMs` (ours
 * gives way to them: the run's time then says little), their figures the measure; `probe` 'user', a user alone:
 * only the keys and the completion typed into the cell editor, without the API's probes and their load.
 */
async function measureRunAll(code: number, kernel: { profile: string; connectInRun?: boolean } | { trivial: vscode.NotebookController },
  probe: boolean | 'user' = false, name?: string, probeMs = PROBE_MS, run: boolean | 'before' = true): Promise<{ m: RunMeasure; nb: vscode.NotebookDocument; heapBeforeOpen: number | undefined }> {
  const qmp = await api();
  const profile = 'profile' in kernel ? kernel.profile : 'sandbox';
  const heapBeforeOpen = await settledHeap();
  const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', bigNotebook(code, profile));
  if ('profile' in kernel) await showWithKernel(nb, qmp, kernel.profile);
  else {
    await vscode.window.showNotebookDocument(nb);
    kernel.trivial.updateNotebookAffinity(nb, vscode.NotebookControllerAffinity.Preferred);
    await vscode.commands.executeCommand('notebook.selectKernel', { id: kernel.trivial.id, extension: harnessId() });
    // A controller made by the test code is not the harness's in every version: the workbench files it under
    // "nullExtensionDescription" (its warning lists the kernels it has). The outputs below say which ran.
    await vscode.commands.executeCommand('notebook.selectKernel', { id: kernel.trivial.id, extension: 'nullExtensionDescription' });
  }
  // As a user's first Run All: the run connects (the state and schema change while every cell is open).
  if ('profile' in kernel && kernel.connectInRun === true) await qmp.sessions.disconnect(kernel.profile);
  // 'before': the notebook is run all first (its cells show their outputs, as after a Run All), and then nothing runs.
  if (run === 'before') {
    const ended = allEnded(nb, Math.max(120_000, code * 60));
    void vscode.commands.executeCommand('notebook.execute', nb.uri);
    await ended;
  }
  // Let the opening settle (diagnostics of every cell, the first render) before the clock starts.
  await new Promise((r) => setTimeout(r, 1500));
  const heap0 = await settledHeap();
  const stopProfile = name !== undefined && PROFILE ? await startProfile(name) : undefined;
  probeCalls.length = 0;
  const ownBefore = qmp.completionCount();
  if (probe !== false && name !== undefined) {
    // The key typed during the run goes into the first code cell's editor, at the end of its line (completion
    // is asked at column 15 of the same line, which the keys do not change).
    const first = nb.getCells().find((c) => c.kind === vscode.NotebookCellKind.Code);
    const editor = vscode.window.activeNotebookEditor;
    // The cell's editor takes the focus once the notebook editor is ready for it: asked until it has.
    for (let i = 0; i < 25 && first && editor?.notebook === nb; i++) {
      editor.selections = [new vscode.NotebookRange(first.index, first.index + 1)];
      await vscode.commands.executeCommand('notebook.cell.edit');
      const text = vscode.window.activeTextEditor;
      if (text?.document === first.document) {
        const end = first.document.lineAt(0).text.length;
        text.selection = new vscode.Selection(0, end, 0, end);
        break;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
  }
  if (name !== undefined) startRendererLag(name, probe !== false);
  const mem0 = process.memoryUsage();
  const lags: number[] = [];
  let last = Date.now();
  const sampler = setInterval(() => { const now = Date.now(); lags.push(Math.max(0, now - last - 20)); last = now; }, 20);
  // The notebook's change events during the run (what every onDidChangeNotebookDocument listener, ours and the
  // workbench's built-in Markdown extension's, handles): how many per cell, ours against the floor.
  let documentChanges = 0;
  let cellChanges = 0;
  // What each cell change changed (o: outputs, e: execution summary, m: metadata, d: the cell's text).
  const changeKinds: Record<string, number> = {};
  const changes = vscode.workspace.onDidChangeNotebookDocument((e) => {
    if (e.notebook !== nb) return;
    documentChanges++;
    cellChanges += e.cellChanges.length;
    for (const c of e.cellChanges) {
      const kind = `${c.outputs ? 'o' : ''}${c.executionSummary ? 'e' : ''}${c.metadata ? 'm' : ''}${c.document ? 'd' : ''}` || '-';
      changeKinds[kind] = (changeKinds[kind] ?? 0) + 1;
    }
  });
  const t0 = Date.now();
  // run false: nothing runs, the probes alone for probeMs (what the window gives a user with no Run All: the baseline).
  const done = run === true ? allEnded(nb, Math.max(120_000, code * 60)) : new Promise<number>((r) => { setTimeout(() => r(Date.now()), probeMs); });
  // Progress in the log every 15 s (a run that stalls says where).
  const progress = setInterval(() => {
    console.log(`[scale] ${name ?? code} at ${Date.now() - t0} ms: ${cellChanges} cell changes` +
      ('profile' in kernel ? `, pacing ${JSON.stringify(qmp.controllers.pacingStats())}, interactions ${JSON.stringify(qmp.controllers.interactionCounts())}; ` +
        `the first cell not ended: ${(() => {
          const c = nb.getCells().find((x) => x.kind === vscode.NotebookCellKind.Code && x.executionSummary?.timing?.endTime === undefined);
          return c ? `${c.index}: ${qmp.controllers.describeRun(c)}; ${JSON.stringify(qmp.controllers.activityOf(c))}` : 'none';
        })()}` : ''));
  }, 15_000);
  void done.then(() => clearInterval(progress), () => clearInterval(progress));
  // The probes stop when the run ends or probeMs after it began, whichever comes first.
  let probeTimer: ReturnType<typeof setTimeout> | undefined;
  const probeEnd = probe !== false ? Promise.race([done.then(() => undefined, () => undefined), new Promise<void>((r) => { probeTimer = setTimeout(r, probeMs); })]) : undefined;
  if (run === true) void vscode.commands.executeCommand('notebook.execute', nb.uri);
  // While it runs: completion in the first code cell, asked every 200 ms whether or not the one before was
  // answered (a user does not wait for the last answer to type again; at most three owed), each with the time the request took to
  // reach the extension host's providers (the harness's probe provider is called with ours); and, on their own,
  // an edit's round trip through the window (applyEdit: the extension host → the window → back).
  const asked: Array<{ at: number; ms?: number; toHostMs?: number }> = [];
  const editMs: number[] = [];
  let running = true;
  void probeEnd?.then(() => { running = false; });
  // 'user': only what a user does in the window (the keys and the completion typed), none of the API's probes.
  const probing = probe === true ? (async () => {
    const first = nb.getCells().find((c) => c.kind === vscode.NotebookCellKind.Code);
    const md = nb.getCells().find((c) => c.kind === vscode.NotebookCellKind.Markup);
    if (!first || !md) return;
    const answers: Array<Promise<void>> = [];
    const editing = (async () => {
      while (running) {
        const e0 = Date.now();
        const edit = new vscode.WorkspaceEdit();
        edit.insert(md.document.uri, new vscode.Position(0, md.document.lineAt(0).text.length), 'x');
        await vscode.workspace.applyEdit(edit);
        editMs.push(Date.now() - e0);
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    // At most COMPLETIONS_OWED unanswered at once: the probe must not become the load it measures (asked
    // unbounded at 5,000 cells, 1,868 requests queued in the window themselves).
    let owed = 0;
    while (running && asked.length < 2_000) {
      if (owed >= COMPLETIONS_OWED) {
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      owed++;
      const c0 = Date.now();
      const entry: { at: number; ms?: number; toHostMs?: number } = { at: c0 - t0 };
      asked.push(entry);
      probeCalls.push((at) => { entry.toHostMs = at - c0; });
      answers.push(Promise.resolve(vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider',
        first.document.uri, new vscode.Position(0, 15))).then((list) => {
        entry.ms = Date.now() - c0;
        owed--;
        assert.ok(list.items.some((i) => labelOf(i).includes('query-status')), 'completion during Run All offers query-status');
      }));
      await new Promise((r) => setTimeout(r, 200));
    }
    // Answers still owed when the run ended are waited for (at most 60 s; one never answered counts its wait).
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([Promise.all(answers), new Promise((r) => { timer = setTimeout(r, 60_000); })]);
    clearTimeout(timer);
    for (const e of asked) e.ms ??= Date.now() - t0 - e.at;
    await editing;
  })() : Promise.resolve();
  // The window's measurements (typing included) stop with the probes; without probes, when the run ends.
  const renderer = (async () => {
    if (probeEnd) await probeEnd; else await done.catch(() => undefined);
    return name !== undefined ? await stopRendererLag(name) : undefined;
  })();
  const end = await done;
  running = false;
  clearTimeout(probeTimer);
  changes.dispose();
  if (run === true && !('profile' in kernel)) {
    // The floor is the trivial controller's run (its one output, "ok"; a variant's own), not ours.
    const first = nb.getCells().find((c) => c.kind === vscode.NotebookCellKind.Code);
    if (kernel.trivial.id.endsWith('-rich')) assert.equal(first?.outputs[0]?.items.length, 3, 'the rich floor ran on its trivial controller');
    else assert.equal(first ? textOf(first) : '', 'ok', 'the floor ran on the trivial controller');
  }
  await probing;
  clearInterval(sampler);
  const rendered = await renderer;
  const cpu = stopProfile ? await stopProfile() : undefined;
  // The provider's calls since the probes began (the API's and the typed ones; the extension keeps the last 1,000).
  const ownCalls = qmp.completionCount() - ownBefore;
  const ownTimes = ownCalls > 0 ? qmp.completionTimes().slice(-ownCalls) : [];
  const mem1 = process.memoryUsage();
  const heap1 = heap0 === undefined ? undefined : await settledHeap();
  const p95 = (xs: number[]): number | undefined => {
    if (xs.length === 0) return undefined;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.min(s.length - 1, Math.ceil(s.length * 0.95) - 1)];
  };
  const mb = (bytes: number): number => Math.round(bytes / 1e5) / 10;
  const m: RunMeasure = {
    cells: code, ms: end - t0, rssGrowthMb: mb(mem1.rss - mem0.rss), heapGrowthMb: mb(mem1.heapUsed - mem0.heapUsed),
    loopLagP95Ms: p95(lags) ?? 0, loopLagMaxMs: Math.max(0, ...lags),
    ...(heap0 !== undefined && heap1 !== undefined ? { gcHeapGrowthMb: mb(heap1 - heap0) } : {}),
    ...(rendered !== undefined ? { rendererLagP95Ms: rendered.p95Ms, rendererLagMaxMs: rendered.maxMs } : {}),
    ...(rendered?.keys !== undefined && rendered.keys.count > 0 ? { keystrokeP95Ms: rendered.keys.p95Ms, keystrokeMaxMs: rendered.keys.maxMs, keystrokes: rendered.keys.count } : {}),
    ...(rendered?.suggest !== undefined && rendered.suggest.count > 0 ? {
      completionTypedP50Ms: rendered.suggest.p50Ms, completionTypedP95Ms: rendered.suggest.p95Ms, completionTypedMaxMs: rendered.suggest.maxMs,
      completionsTyped: rendered.suggest.count,
    } : {}),
    ...(cpu !== undefined ? { profile: cpu } : {}),
  };
  m.loadAverage = loadavg().map((l) => Math.round(l * 100) / 100);
  m.documentChanges = documentChanges;
  if ('profile' in kernel) {
    m.pacing = qmp.controllers.pacingStats();
    m.interactions = qmp.controllers.interactionCounts();
  }
  if (probe !== false) m.probeMs = Math.min(probeMs, m.ms);
  m.cellChanges = cellChanges;
  m.changeKinds = changeKinds;
  if (probe === true) {
    const completionMs = asked.map((e) => e.ms ?? 0);
    m.completions = completionMs.length;
    const cp = p95(completionMs);
    if (cp !== undefined) m.completionP95Ms = cp;
    m.completionMaxMs = Math.max(0, ...completionMs);
    const toHost = asked.flatMap((e) => (e.toHostMs === undefined ? [] : [e.toHostMs]));
    const th = p95(toHost);
    if (th !== undefined) m.completionToHostP95Ms = th;
    m.completionSeries = asked.map((e) => [e.at, e.toHostMs ?? -1, e.ms ?? -1]);
    const ep = p95(editMs);
    if (ep !== undefined) m.editRoundTripP95Ms = ep;
  }
  const own = p95(ownTimes);
  if (probe !== false && own !== undefined) {
    m.completionOwnP95Ms = Math.round(own * 10) / 10;
    m.completionOwnMaxMs = Math.round(Math.max(...ownTimes) * 10) / 10;
  }
  return { m, nb, heapBeforeOpen };
}

/** Closes the notebook and adds what the run left in the heap once it is gone (collected) to its measures. */
async function discardAndMeasure(r: { m: RunMeasure; nb: vscode.NotebookDocument; heapBeforeOpen: number | undefined }): Promise<void> {
  await discard(r.nb);
  const after = await settledHeap();
  if (after !== undefined && r.heapBeforeOpen !== undefined) r.m.heapLeftAfterCloseMb = Math.round((after - r.heapBeforeOpen) / 1e5) / 10;
}

function writeMeasures(key: string, value: unknown): void {
  const measureFile = process.env['QMP_MEASURE_FILE'];
  if (!measureFile) return;
  const file = path.join(path.dirname(measureFile), 'scale.json');
  let all: Record<string, unknown> = {};
  try { all = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>; } catch { all = {}; }
  all[key] = value;
  all['measuredAt'] = new Date().toISOString();
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, JSON.stringify(all, null, 2) + '\n');
}

suite('the editor at scale', () => {
  suiteSetup(() => {
    probeProvider = vscode.languages.registerCompletionItemProvider({ language: 'qmp' }, {
      provideCompletionItems: () => { probeCalls.shift()?.(Date.now()); return []; },
    });
  });
  suiteTeardown(async () => {
    probeProvider?.dispose();
    await disconnectAll(await api());
    await closeAll();
  });

  test('Run All of 2,000 cells: every output, in order, each cell with its own duration; the floor beside it', async function () {
    this.timeout(process.env['QMP_SCALE_BENCH'] === '1' ? 3_600_000 : 900_000);
    const qmp = await api();
    await qmp.sessions.connect('sandbox');
    const trivial = trivialController();
    // (QMP_SCALE_CI_CELLS: fewer, to get to the bench's runs sooner when measuring.)
    const ciCells = Number(process.env['QMP_SCALE_CI_CELLS'] ?? 2_000);
    try {
      // Ours first: the run after another pays for collecting the garbage the one before left. Run All timed with
      // nobody typing, ours and the floor back to back.
      const ours = await measureRunAll(ciCells, { profile: 'sandbox' }, false, 'ours2000');
      // Nobody touched the window: the run never gave way (the outputs appearing in the cells on screen change
      // the notebook's visible cells, which is not a scroll).
      assert.equal(ours.m.pacing?.gaveWayMs, 0, `a Run All nobody touches does not give way: ${JSON.stringify(ours.m.interactions)}`);
      const floor = await measureRunAll(ciCells, { trivial }, false, 'floor2000');
      await discard(floor.nb);
      // A first Run All, which connects the sandbox: every open cell's context changes while the cells run.
      const first = await measureRunAll(ciCells, { profile: 'sandbox', connectInRun: true });
      await discard(first.nb);
      // A user at work during a Run All (of 300 cells, for its first 5 s): completion answers, and the run gives
      // way to what the user does and then ends all the same.
      const typed = await measureRunAll(300, { profile: 'sandbox' }, true, 'oursTyped300', 5_000);
      await discard(typed.nb);
      assert.ok((typed.m.completions ?? 0) > 0, 'completion was asked during Run All');
      assert.ok((typed.m.interactions?.['completion'] ?? 0) > 0 && (typed.m.interactions?.['edit'] ?? 0) > 0,
        `the run saw the user's completion requests and edits: ${JSON.stringify(typed.m.interactions)}`);
      const code = ours.nb.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
      const durations = code.map((c) => (c.executionSummary?.timing?.endTime ?? 0) - (c.executionSummary?.timing?.startTime ?? 0));
      const sorted = [...durations].sort((a, b) => a - b);
      // Written before the checks, so that a run that fails them still reports what it measured.
      writeMeasures('run2000', {
        ours: ours.m, floor: floor.m, oursConnecting: first.m, oursTyped300: typed.m, ratio: Math.round((ours.m.ms / floor.m.ms) * 100) / 100,
        cellMedianMs: sorted[Math.floor(sorted.length / 2)], cellMaxMs: sorted[sorted.length - 1], loadAverage: loadavg(), cells: ciCells,
      });
      if (process.env['QMP_SCALE_BENCH'] === '1') {
        // Each figure is written as soon as it is measured, so that a run cut short still reports the rest.
        const bench: Record<string, unknown> = {};
        const step = async (key: string, code: number, kernel: { profile: string } | { trivial: vscode.NotebookController }, probe: boolean | 'user',
          pacing?: WindowPacingOptions, run: boolean | 'before' = true): Promise<void> => {
          // A prefix, or a whole key when it ends with '$'.
          if (only !== undefined && !only.some((o) => (o.endsWith('$') ? key === o.slice(0, -1) : key.startsWith(o)))) return;
          const controllers = (await api()).controllers;
          const before = controllers.pacingOptions;
          if (pacing) controllers.pacingOptions = pacing;
          let r: Awaited<ReturnType<typeof measureRunAll>>;
          try {
            r = await measureRunAll(code, kernel, probe, key, PROBE_MS, run);
          } finally {
            controllers.pacingOptions = before;
          }
          if (pacing) r.m.pacingOptions = pacing;
          await discardAndMeasure(r);
          bench[key] = r.m;
          bench['loadAverage'] = loadavg();
          writeMeasures('bench', bench);
          console.log(`scale bench ${key}: ${JSON.stringify(r.m)}`);
        };
        // Ours and the floor back to back at each size, so that each ratio is measured under the same load: first
        // Run All timed with nobody typing (ours<n>, floor<n>), then a user at work during it (ours<n>Typed,
        // floor<n>Typed: the probes for PROBE_MS). QMP_SCALE_SIZES (default 1000,5000) picks the sizes;
        // QMP_SCALE_ONLY (key prefixes, comma-separated) picks runs; QMP_SCALE_BEFORE=1 adds ours with the pacing
        // of before (delay-based, always on: ours<n>Before, nobody typing); QMP_SCALE_IDLE other bounds while nobody
        // types (ours<n>Idle<cells>); QMP_SCALE_VARIANTS=1 adds the floor's
        // variants (what the workbench charges for our outputs, for an execution order); QMP_SCALE_CURVE adds
        // runs of ours with other pacings and a user alone typing (`target/min/max/interactive/quietMs[/idle],…` in ms
        // and cells; idle defaults to max).
        const sizes = (process.env['QMP_SCALE_SIZES'] ?? '1000,5000').split(',').map(Number).filter((n) => n > 0);
        const only = process.env['QMP_SCALE_ONLY'] ? process.env['QMP_SCALE_ONLY'].split(',') : undefined;
        const curve = (process.env['QMP_SCALE_CURVE'] ?? '').split(',').filter((t) => t !== '').map((t): WindowPacingOptions => {
          const [targetMs = 100, min = 16, max = 128, interactive = 0, quietMs = 500, idle = max] = t.split('/').map(Number);
          // idle 0: none (the delay-based limit always applies, as the pacing of before).
          return { targetMs, min, max, initial: Math.min(max, Math.max(min, 32)), idle: idle > 0 ? idle : undefined, interactive, quietMs };
        });
        // The pacing before this one: delay-based, whether or not anyone interacts.
        const before: WindowPacingOptions = { targetMs: 100, min: 16, max: 128, initial: 32, idle: undefined, interactive: 128, quietMs: 0 };
        const variants = process.env['QMP_SCALE_VARIANTS'] === '1' ? { rich: trivialController('rich'), order: trivialController('order') } : undefined;
        try {
          for (const n of sizes) {
            await step(`ours${n}`, n, { profile: 'sandbox' }, false);
            await step(`floor${n}`, n, { trivial }, false);
            if (process.env['QMP_SCALE_BEFORE'] === '1') await step(`ours${n}Before`, n, { profile: 'sandbox' }, false, before);
            // QMP_SCALE_IDLE (cells, comma-separated): ours with other bounds while nobody types, timed as ours<n>.
            for (const idle of (process.env['QMP_SCALE_IDLE'] ?? '').split(',').map(Number).filter((v) => Number.isInteger(v) && v > 0)) {
              await step(`ours${n}Idle${idle}`, n, { profile: 'sandbox' }, false, { ...(await api()).controllers.pacingOptions, idle });
            }
            await step(`ours${n}Typed`, n, { profile: 'sandbox' }, true);
            await step(`floor${n}Typed`, n, { trivial }, true);
            // A user alone: typing and completion in the cell editor, without the API's probes (their load); and
            // the same user in the same notebook with nothing running (the window's own figures: the baseline).
            await step(`ours${n}User`, n, { profile: 'sandbox' }, 'user');
            await step(`floor${n}User`, n, { trivial }, 'user');
            await step(`quiet${n}User`, n, { profile: 'sandbox' }, 'user', undefined, false);
            // The same after a Run All (the cells show their outputs, as while and after it runs).
            await step(`ran${n}User`, n, { profile: 'sandbox' }, 'user', undefined, 'before');
            if (variants) {
              await step(`floorRich${n}`, n, { trivial: variants.rich }, false);
              await step(`floorOrder${n}`, n, { trivial: variants.order }, false);
            }
            // The pacing curve at the first size only (each point is a whole Run All).
            if (n === sizes[0]) {
              for (const p of curve) {
                await step(`ours${n}User-pacing-${p.targetMs}-${p.min}-${p.max}-${p.interactive}-${p.quietMs}-${p.idle ?? 'none'}`, n, { profile: 'sandbox' }, 'user', p);
              }
            }
          }
        } finally {
          variants?.rich.dispose();
          variants?.order.dispose();
        }
      }
      // Checked after the bench's runs (when asked for), so that a failed check still leaves every figure measured.
      assert.equal(code.length, ciCells);
      let lastOrder = 0;
      let lastStart = 0;
      for (const [i, cell] of code.entries()) {
        const s = cell.executionSummary;
        assert.equal(s?.success, true, `cell ${cell.index} succeeded: ${textOf(cell)}`);
        const text = textOf(cell);
        if (i % 2 === 0) assert.match(text, /"status": "(running|paused|prelaunch)"/, `cell ${cell.index} shows query-status's reply`);
        else assert.match(text, /"qemu": \{/, `cell ${cell.index} shows query-version's reply`);
        assert.equal(cell.outputs.length, 1, `cell ${cell.index} has one output`);
        // In order: execution order and start times grow with the position.
        assert.ok((s?.executionOrder ?? 0) > lastOrder, `cell ${cell.index} ran after the cell above`);
        lastOrder = s?.executionOrder ?? 0;
        const start = s?.timing?.startTime ?? 0;
        assert.ok(start >= lastStart, `cell ${cell.index} started after the cell above`);
        lastStart = start;
        const took = durations[i] ?? -1;
        assert.ok(took >= 0 && took <= CELL_BOUND_MS, `cell ${cell.index} took ${took} ms (bound ${CELL_BOUND_MS} ms)`);
      }
      await discard(ours.nb);
    } finally {
      trivial.dispose();
    }
  });

  test('a flood of 10,000 events into a cell waiting for RESET: few outputs, and RESET is visible', async function () {
    this.timeout(180_000);
    const qmp = await api();
    const ext = vscode.extensions.getExtension(extensionId);
    assert.ok(ext);
    const bundled = JSON.parse(readFileSync(path.join(ext.extensionPath, 'schemas', 'qemu-10.0.json'), 'utf8')) as { schema: unknown[] };
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-flood-'));
    const socketPath = path.join(dir, 'qmp.sock');
    const server = fakeQemu(socketPath, bundled.schema);
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const config = vscode.workspace.getConfiguration('qmp');
    await config.update('connections', [{ name: 'flood', socket: socketPath }], vscode.ConfigurationTarget.Workspace);
    try {
      await waitFor(qmp.sessions.onDidChangeProfiles, () => (qmp.sessions.session('flood') ? true : undefined), 'the flood profile');
      const data = new vscode.NotebookData([new vscode.NotebookCellData(vscode.NotebookCellKind.Code,
        '{ "execute": "query-status" }\n{ "wait-event": "RESET", "timeout": 60000 }', 'qmp')]);
      data.metadata = { profile: 'flood' };
      const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
      await showWithKernel(nb, qmp, 'flood');
      const ended = new Promise<string>((resolve) => {
        const sub = qmp.controllers.onDidEndRun((r) => { if (r.cell.notebook === nb) { sub.dispose(); resolve(r.outcome); } });
      });
      void vscode.commands.executeCommand('notebook.execute', nb.uri);
      assert.equal(await ended, 'succeeded');
      const cell = nb.cellAt(0);
      await waitFor(vscode.workspace.onDidChangeNotebookDocument, () => (cell.executionSummary?.timing?.endTime !== undefined ? true : undefined), 'the cell to end');
      const text = textOf(cell);
      assert.ok(cell.outputs.length <= 10, `the cell keeps few outputs (${cell.outputs.length})`);
      assert.match(text, /RESET/, 'the RESET that ended the wait is visible');
      assert.match(text, /more events/, 'the events not shown are counted');
      await vscode.commands.executeCommand('workbench.action.revertAndCloseActiveEditor');
    } finally {
      await qmp.sessions.disconnect('flood').catch(() => undefined);
      await config.update('connections', undefined, vscode.ConfigurationTarget.Workspace);
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('reopening a saved cell of 10,000 events: one output for them, as the run showed them, the last event visible', async function () {
    this.timeout(120_000);
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-reopen-'));
    const file = path.join(dir, 'flood.qmp');
    const event = (i: number): string =>
      `<- {"timestamp": {"seconds": 1700000000, "microseconds": ${i}}, "event": "${i % 2 === 0 ? 'STOP' : 'RESUME'}"}`;
    // Saved outputs as the format writes them: one blank line between outputs (docs/notebook-format.md).
    const outputs = ['<- {"return": {"status": "running", "running": true}}', ...Array.from({ length: 10_000 }, (_, i) => event(i)),
      // (Under 100 columns: a longer message is written one member per line.)
      '<- {"timestamp": {"seconds": 1700000001, "microseconds": 0}, "event": "RESET"}'];
    writeFileSync(file, ['---', 'saveOutputs: true', '---', '', '```qmp', '{ "execute": "query-status" }', '```', '',
      '```qmp-output', outputs.join('\n\n'), '```', ''].join('\n'));
    try {
      const nb = await vscode.workspace.openNotebookDocument(vscode.Uri.file(file));
      const cell = nb.cellAt(0);
      assert.equal(cell.outputs.length, 2, `the reply and one output for the events (${cell.outputs.length})`);
      const text = textOf(cell);
      assert.match(text, /"status": "running"/);
      const lines = text.split('\n');
      assert.match(lines[lines.length - 1] ?? '', / RESET$/, 'the last event is the last line shown');
      assert.match(text, /… 9981 more events …/, 'the events not shown are counted');
      assert.ok(lines.length < 40, `a few lines (${lines.length})`);
      // Edited and saved again, every event is written back (the group keeps their text).
      await vscode.window.showNotebookDocument(nb);
      const edit = new vscode.WorkspaceEdit();
      edit.set(nb.uri, [vscode.NotebookEdit.insertCells(1, [new vscode.NotebookCellData(vscode.NotebookCellKind.Markup, 'Saved again.', 'markdown')])]);
      await vscode.workspace.applyEdit(edit);
      assert.ok(await nb.save(), 'saved');
      const back = readFileSync(file, 'utf8');
      assert.equal(back.split('\n').filter((l) => l.includes('"event"')).length, 10_001, 'every event saved back');
      await closeAll();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('completion and hover before any connection: the bundled QEMU 10.0 schema, labelled', async function () {
    this.timeout(60_000);
    const qmp = await api();
    const config = vscode.workspace.getConfiguration('qmp');
    await config.update('connections', [{ name: 'never-connected', socket: path.join(tmpdir(), 'qmp-no-such-dir', 'qmp.sock') }],
      vscode.ConfigurationTarget.Workspace);
    try {
      await waitFor(qmp.sessions.onDidChangeProfiles, () => (qmp.sessions.session('never-connected') ? true : undefined), 'the profile');
      assert.equal(qmp.sessions.session('never-connected')?.schema, undefined, 'a fresh profile has no schema of its own');
      const data = new vscode.NotebookData([new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "query-status" }', 'qmp')]);
      data.metadata = { profile: 'never-connected' };
      const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
      const uri = nb.cellAt(0).document.uri;
      const list = await vscode.commands.executeCommand<vscode.CompletionList>('vscode.executeCompletionItemProvider', uri, new vscode.Position(0, 16));
      const labels = list.items.map(labelOf);
      assert.ok(labels.some((l) => l.includes('query-status')), `completion offers QEMU's commands: ${labels.slice(0, 10).join(', ')}`);
      assert.ok(labels.some((l) => l.includes('blockdev-add')), 'completion offers QEMU 10.0 commands');
      const hovers = await vscode.commands.executeCommand<vscode.Hover[]>('vscode.executeHoverProvider', uri, new vscode.Position(0, 18));
      const text = hovers.flatMap((h) => h.contents.map((c) => (typeof c === 'string' ? c : c.value))).join('\n');
      assert.match(text, /bundled QEMU 10\.0 \(not connected\)/, `hover names the bundled schema: ${text}`);
      assert.equal(qmp.sessions.session('never-connected')?.state === 'connected', false, 'nothing connected');
    } finally {
      await closeAll();
      await config.update('connections', undefined, vscode.ConfigurationTarget.Workspace);
    }
  });
});

/**
 * A fake QEMU on a unix socket: it answers the connection's questions from the bundled schema and, when a
 * cell asks `query-status`, answers it and sends 10,000 STOP/RESUME events, then RESET.
 */
function fakeQemu(socketPath: string, schema: unknown[]): net.Server {
  void socketPath;
  const commands = schema.filter((e): e is { name: string; 'meta-type': string } =>
    typeof e === 'object' && e !== null && (e as { 'meta-type'?: unknown })['meta-type'] === 'command').map((e) => ({ name: e.name }));
  return net.createServer((s) => {
    s.on('error', () => undefined);
    s.write('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 0, "major": 10}, "package": ""}, "capabilities": []}}\r\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('utf8');
      for (;;) {
        const m = /"id":\s*("(?:[^"\\]|\\.)*"|\d+)\s*\}/.exec(buf);
        if (!m) return;
        const upto = m.index + m[0].length;
        const cmd = buf.slice(0, upto);
        buf = buf.slice(upto);
        const id = m[1] as string;
        const name = /"(?:execute|exec-oob)":\s*"([^"]*)"/.exec(cmd)?.[1] ?? '';
        const reply = (value: unknown): void => { s.write(`{"return": ${JSON.stringify(value)}, "id": ${id}}\r\n`); };
        if (name === 'query-qmp-schema') reply(schema);
        else if (name === 'query-version') reply({ qemu: { major: 10, minor: 0, micro: 0 }, package: '' });
        else if (name === 'query-commands') reply(commands);
        else if (name === 'query-status') {
          reply({ status: 'running', running: true, singlestep: false });
          const ts = (i: number): string => `{"seconds": 1700000000, "microseconds": ${i % 1_000_000}}`;
          let text = '';
          for (let i = 0; i < 10_000; i++) text += `{"timestamp": ${ts(i)}, "event": "${i % 2 === 0 ? 'STOP' : 'RESUME'}"}\r\n`;
          text += `{"timestamp": ${ts(10_000)}, "event": "RESET", "data": {"guest": true, "reason": "guest-reset"}}\r\n`;
          s.write(text);
        } else if (name.startsWith('query-') || name === 'qom-list-types') reply([]);
        else reply({});
      }
    });
  });
}
