// One NotebookController per connection profile, and the rendering of cell runs.
//
// Running is the engine's (src/run): the ONE engine of the session's kernel (src/kernel), shared by every
// notebook that runs on the session, schedules the cells (in-band cells in order on one queue, like a Jupyter
// kernel; an all-out-of-band cell as soon as every cell above it in its batch has been sent; a batch stops at
// its first failure), runs their steps, waits for events and gives each event to one cell (once, whichever
// notebook the cell is in). A cell that waits behind another notebook's running cell is told so. This file connects the session when a cell starts, and renders the engine's transcript
// records as cell outputs, coalesced (at most one append per 50 ms per cell).
//
// A running cell stops at once when it is interrupted, when its session loses its connection, or when its
// execution is cancelled: its AbortSignal fires with a StopRequest saying why.
import * as vscode from 'vscode';
import type { QmpEventRecord } from '../qmp';
import { describeProfile, type Profile } from '../session/profiles';
import { commandsOf, confirmStateChanges } from '../session/endpointPrompts';
import { errorText, type Session, type SessionManager } from '../session/sessionManager';
import { explainUntrusted, UntrustedWorkspaceError } from '../session/trust';
import {
  Batcher, CODE_LANGUAGES, EventGrouping, isCodeLanguage, metadataRules, NamedReplies, planCell, RunEngine, StopRequest,
  type CellPlan, type CommandStep, type EngineClient, type JobFinishedRecord, type JobProgressRecord, type RunOutcome, type TranscriptRecord,
} from '../run/index';
import { jobKey, JobProgressView } from './jobProgress';
import { EventGroup, expectedReplyOutput, failureOutput, noteOutput, replyOutput, sentOutput, transcriptTextOutput } from './outputs';
import { failureTitle, renderRecord, type RenderedOutput, type RenderState } from '../run/recordText';
import { CellActivity } from './cellActivity';
import { defaultPacing, WindowPacing, type PacingStats, type WindowPacingOptions } from './windowPacing';
import { WindowFrames } from './windowFrames';

export const notebookType = 'qmp-notebook';
export const cellLanguages: string[] = [...CODE_LANGUAGES];

/** The metadata key of a notebook that names its profile (written by the serializer as the file header). */
export const profileMetadataKey = 'profile';

export type { RunOutcome };

/** An output redrawn in place as it changes: an event group, a job's progress. */
interface Redrawn {
  readonly version: number;
  output(): vscode.NotebookCellOutput;
  items(): vscode.NotebookCellOutputItem[];
}

/** What a cell's output batcher carries: a new output, or "the open event group (a job's progress) has changed". */
type OutputOp = { kind: 'append'; output: vscode.NotebookCellOutput } | { kind: 'group'; group: Redrawn } | { kind: 'update'; group: Redrawn }
  | { kind: 'items'; output: vscode.NotebookCellOutput; items: vscode.NotebookCellOutputItem[] };

/** One cell's execution, from queued to ended. */
class CellRun {
  readonly abort = new AbortController();
  readonly outputs: Batcher<OutputOp>;
  started = false;
  /** The engine started the cell (its clock starts once the window has caught up: QmpControllers.begin). */
  engineStarted = false;
  /** Set once the cell has a connection; only then does losing it stop the cell. */
  connected = false;
  ended = false;
  plan: CellPlan | undefined;
  /** The schema the plan was made with was a cached one: plan again once connected. */
  planCached = false;
  /** Expectations written in the cell that the engine found unmet (its expected-reply and expected-event records). */
  readonly unmet: string[] = [];
  /** The same unmet expectations as the two sides of their comparison (what the cell wrote, what came). */
  readonly comparisons: UnmetComparison[] = [];
  /** The step whose command waits behind commands QEMU still owes replies to (its status line says so). */
  blockedStep: number | undefined;
  /** What the one renderer (src/run/recordText.ts) remembers between the cell's records. */
  readonly rendering: RenderState = {};
  /**
   * When the engine finished the cell (Date.now()). The execution ends with this time, not with the time its
   * outputs reached the window, so each cell shows its own duration however long the window takes to draw.
   */
  finishedAt: number | undefined;
  /** The last query-named-block-nodes reply of the cell: a block graph's nodes show its driver, file and size. */
  named: unknown;
  /**
   * The round trip of the cell's last outputs through the window (ms): handed over → the window's answer. It
   * says how long what is queued for the window takes now (QmpControllers paces a Run All by it).
   */
  roundTripMs: number | undefined;
  /** The window's answer to the last call handed to it (handOver), its failure swallowed. */
  private lastAnswer: Promise<void> = Promise.resolve();
  /** Work the end of the cell waits for (bounded: a follow-up query with a time limit). */
  private readonly later: Promise<void>[] = [];
  /** The events arriving now, one output while nothing else is shown between them (EventGroup, by EventGrouping). */
  private grouping = new EventGrouping<EventGroup>(() => new EventGroup());
  private updateQueued = false;
  /** The outputs handed to VS Code, in order, with the group each shows; for the final rewrite of stale groups. */
  private shown: Array<{ output: vscode.NotebookCellOutput; group?: Redrawn; shownVersion: number }> = [];
  /** The progress output of each job the cell follows (by jobKey). */
  private jobs = new Map<string, JobProgressView>();
  private groups: EventGroup[] = [];
  /** A group was updated in place after it was appended: its metadata (the saved events) must be rewritten. */
  private groupsGrew = false;
  /**
   * The outputs of an earlier run are still shown: the first batch replaces them (one message to the window
   * instead of a clear and an append per cell), or the end clears them when the run wrote nothing.
   */
  private clearPending = false;

  /** VS Code's execution of the cell, once made (EXECUTIONS_AHEAD says when); `refused`: VS Code would not make one. */
  private made: vscode.NotebookCellExecution | undefined;
  private refused = false;

  /** Where the run is, in words (for the tests' logs of a run that stalls). */
  describeState(): string {
    return `started ${this.started}, engine started ${this.engineStarted}, ended ${this.ended}, stopped ${this.stopped}, ` +
      `execution ${this.made !== undefined ? 'made' : this.refused ? 'refused' : 'not made'}`;
  }

  /** The cell's execution order, shown in the window's next frame (with its start). */
  showOrder(order: number): void {
    const execution = this.execution;
    void this.frames.turn().then(() => { execution.executionOrder = order; }).then(undefined, () => undefined);
  }

  /** `create` makes the cell's execution in VS Code (it throws when VS Code refuses: the cell runs already). */
  constructor(readonly key: number, readonly cell: vscode.NotebookCell, private readonly create: () => vscode.NotebookCellExecution,
    readonly profile: string, private readonly frames: WindowFrames) {
    this.outputs = new Batcher((ops) => (this.ended ? undefined : this.flush(ops)));
  }

  /** Makes the cell's execution if it has none yet; undefined when VS Code refused it (then nothing is shown). */
  ensureExecution(): vscode.NotebookCellExecution | undefined {
    if (this.made === undefined && !this.refused) {
      try {
        this.made = this.create();
        this.made.token.onCancellationRequested(() => this.stop('interrupted', 'Cancelled'));
      } catch {
        this.refused = true;
      }
    }
    return this.made;
  }

  /** The cell's execution, made now if needed; only for a run that has one (it throws when VS Code refused it). */
  get execution(): vscode.NotebookCellExecution {
    const made = this.ensureExecution();
    if (made === undefined) throw new Error('VS Code did not make an execution for the cell.');
    return made;
  }

  get stopped(): boolean {
    return this.abort.signal.aborted;
  }

  append(output: vscode.NotebookCellOutput): void {
    if (this.ended) return;
    this.grouping.other();
    this.outputs.push({ kind: 'append', output });
  }

  /** Replaces the items of an output appended earlier (in order with the other outputs). */
  replaceItems(output: vscode.NotebookCellOutput, items: vscode.NotebookCellOutputItem[]): void {
    if (this.ended) return;
    this.outputs.push({ kind: 'items', output, items });
  }

  /** The cell ends after `work` (which must settle by itself, in bounded time). */
  waitFor(work: Promise<void>): void {
    this.later.push(work.then(undefined, () => undefined));
  }

  /** An event given to the cell: into the open event group (one output, updated in place), else a new group. */
  event(e: QmpEventRecord): void {
    if (this.ended) return;
    const { group, opened } = this.grouping.event();
    group.add(e);
    if (opened) {
      this.groups.push(group);
      this.outputs.push({ kind: 'group', group });
      return;
    }
    if (!this.updateQueued) {
      this.updateQueued = true;
      this.outputs.push({ kind: 'update', group });
    }
  }

  /** A job's progress: its own output, redrawn in place (at most once per batch, as event groups are). */
  job(r: JobProgressRecord | JobFinishedRecord): void {
    if (this.ended) return;
    const key = jobKey(r);
    const view = this.jobs.get(key);
    if (view === undefined || view.ended) {
      this.grouping.other();
      const fresh = new JobProgressView(r);
      if (r.type === 'job-finished') fresh.update(r);
      this.jobs.set(key, fresh);
      this.outputs.push({ kind: 'group', group: fresh });
      return;
    }
    const before = view.version;
    view.update(r);
    if (view.version !== before && !view.queued) {
      view.queued = true;
      this.outputs.push({ kind: 'update', group: view });
    }
  }

  /** Whether the event with this sequence number stays visible in the cell whatever events follow. */
  showsEventForGood(seq: number): boolean {
    return this.groups.some((g) => g.showsForGood(seq));
  }

  /** The run started: what an earlier run left is replaced by this run's first outputs. */
  clearOnFirstOutput(): void {
    this.outputs.then(() => { this.clearPending = true; });
  }

  /**
   * Hands a call to the window (its outputs) without waiting for its answer, which the next batch and the cell's
   * end wait for (lastAnswer): what a cell tells the window goes out in one frame with its end, and the window's
   * answers come in order (one execution's calls are one ordered queue).
   */
  private handOver(call: () => Thenable<void>): void {
    const sent = Date.now();
    const answer = Promise.resolve(call()).then(() => { this.roundTripMs = Date.now() - sent; });
    // Its failure (the execution already ended elsewhere) is the Batcher's to swallow, as a thrown call is.
    this.lastAnswer = answer.then(undefined, () => undefined);
  }

  /** Appends outputs, replacing the earlier run's first when they are still shown. */
  private async appendOutputs(outputs: vscode.NotebookCellOutput[]): Promise<void> {
    await this.frames.turn();
    if (this.clearPending) {
      this.clearPending = false;
      this.handOver(() => this.execution.replaceOutput(outputs));
    } else {
      this.handOver(() => this.execution.appendOutput(outputs));
    }
  }

  /** Hands a batch to VS Code: consecutive new outputs in one append, stale groups replaced in place. */
  private async flush(ops: OutputOp[]): Promise<void> {
    // One batch on its way to the window at a time: a cell flooded with events does not queue batches there.
    await this.lastAnswer;
    this.updateQueued = false;
    for (const v of this.jobs.values()) v.queued = false;
    let appends: vscode.NotebookCellOutput[] = [];
    // Redraws of outputs already shown go out together (one round trip to the window, not one each: a cell
    // with several jobs redraws them all each time): each targets an output appended by an earlier batch.
    for (const op of ops) {
      if (op.kind === 'append') {
        this.shown.push({ output: op.output, shownVersion: 0 });
        appends.push(op.output);
        continue;
      }
      if (op.kind === 'group') {
        // A group is drawn as it is when handed over (the events that came since it opened are in it).
        const output = op.group.output();
        this.shown.push({ output, group: op.group, shownVersion: op.group.version });
        appends.push(output);
        continue;
      }
      if (op.kind === 'items') {
        const shown = this.shown.find((e) => e.output === op.output);
        if (shown === undefined) continue;
        if (appends.length > 0) {
          await this.appendOutputs(appends);
          appends = [];
        }
        await this.frames.turn();
        this.handOver(() => this.execution.replaceOutputItems(op.items, op.output));
        // What a final rewrite of the outputs (end()) writes again.
        op.output.items = op.items;
        continue;
      }
      const entry = this.shown.find((e) => e.group === op.group);
      if (entry === undefined || entry.shownVersion === op.group.version) continue;
      if (appends.length > 0) {
        await this.appendOutputs(appends);
        appends = [];
      }
      entry.shownVersion = op.group.version;
      this.groupsGrew = true;
      const output = entry.output;
      await this.frames.turn();
      this.handOver(() => this.execution.replaceOutputItems(op.group.items(), output));
    }
    if (appends.length > 0) await this.appendOutputs(appends);
  }

  stop(kind: 'interrupted' | 'connection-lost', message: string): void {
    if (this.stopped || this.ended) return;
    this.abort.abort(new StopRequest(kind, message));
  }

  async end(success: boolean | undefined): Promise<void> {
    if (this.ended) return;
    // A cell VS Code refused an execution for shows nothing: there is nothing to end.
    if (this.ensureExecution() === undefined) {
      this.ended = true;
      this.outputs.dispose();
      return;
    }
    if (this.later.length) await Promise.all(this.later.splice(0));
    await this.outputs.settle();
    // After the start and the outputs handed over in earlier frames (in order), with the other cells of this frame.
    await this.frames.turn();
    // Groups updated in place still carry the events of their first draw in their metadata (replaceOutputItems
    // cannot change it): the outputs are written once more, whole, so that saving keeps every event.
    if (this.groupsGrew) {
      const outputs = this.shown.map((e) => (e.group ? e.group.output() : e.output));
      this.handOver(() => this.execution.replaceOutput(outputs));
    } else if (this.clearPending) {
      this.clearPending = false;
      this.handOver(() => this.execution.clearOutput());
    }
    this.ended = true;
    for (const g of this.groups) g.release();
    this.shown = [];
    this.groups = [];
    this.jobs.clear();
    this.grouping.other();
    // A queued cell that never ran is still started first (without a time, so no clock shows): ending an
    // execution that never started is not something every VS Code version accepts.
    if (!this.started) this.execution.start();
    // In the same turn as its last outputs (VS Code sends the outputs it holds back with the end); the cell is on
    // its way to the window until the window answered them.
    this.execution.end(success, this.started ? (this.finishedAt ?? Date.now()) : undefined);
    await this.lastAnswer;
  }
}

/** How long a block graph's follow-up query-named-block-nodes may take before the graph is left with names only. */
const GRAPH_DETAILS_TIMEOUT_MS = 2000;

/** Nothing to send: what the engine schedules a cell by until its real plan is made, when it starts. */
const NOT_PLANNED_YET: CellPlan = { steps: [], problems: [] };

/**
 * The engine's job for a cell. The engine needs a plan up front only to see whether a cell is all out-of-band;
 * a cell whose text cannot be (no `oob` in it, and no `\u` escape that could spell it) is planned when it
 * starts instead, so that Run All of thousands of cells does not parse them all before the first one runs
 * (seconds of a blocked extension host at 2,000 cells on a loaded machine).
 */
function deferredJob(run: CellRun, plan: () => CellPlan): { cell: number; plan: CellPlan; replan: () => CellPlan; signal: AbortSignal } {
  const text = run.cell.document.getText();
  const upfront = /oob/i.test(text) || text.includes('\\u') ? plan() : undefined;
  return {
    cell: run.key, plan: upfront ?? NOT_PLANNED_YET, signal: run.abort.signal,
    // Planned again when the plan was made with a cached schema (or not made yet); clientFor() may have made it.
    replan: () => (run.plan === undefined || run.planCached ? plan() : run.plan),
  };
}

/** Everything that runs in one notebook. */
class NotebookRunner {
  readonly runs = new Map<number, CellRun>();
  /** The notebook's named replies (docs/notebook-format.md, "Named replies"), whichever session its cells ran on. */
  readonly names = new NamedReplies();
  /** The run of each cell queued or running (a cell is run once at a time: a second Run All skips it). */
  readonly byCell = new Map<vscode.NotebookCell, CellRun>();
  constructor(readonly notebook: vscode.NotebookDocument) {}
}

/**
 * How many queued cells of a batch have an execution in VS Code ahead of the running one. VS Code shows those
 * as pending; the others show our "Queued" status line and get theirs when they come near. Making all of them
 * up front (5,000 for a Run All of 5,000 cells) made every execution change in the window cost O(pending
 * executions): each is checked against every pending one (measured: 1.7 s of the renderer's 21 s at 1,000 cells
 * in making executions alone, against 0.4 s for a controller that makes them one at a time).
 */
const EXECUTIONS_AHEAD = 16;

/*
 * How many finished cells may still be on their way to the window (outputs not yet taken, execution not yet
 * ended) before the next cell starts is paced by time (WindowPacing, windowPacing.ts): the engine runs a query
 * cell in well under a millisecond, the window draws one in milliseconds to tens, and what the user types
 * (completion, an edit's echo) waits behind whatever is queued for the window. A fixed bound of 128 cells was
 * seconds of queue on a loaded machine (measured: completion p95 of 18 s at 5,000 cells) and throttled an idle
 * one; the pacing keeps each cell's round trip within a target of the window's own time, between
 * defaultPacing's min and max cells.
 */
/**
 * A frame's length (windowFrames.ts). Measured at 1,000 cells (Run All, nobody typing, against the trivial
 * controller's 3.8–6.0 s): no frames 19.5 s, 16 ms 12.4 s, 50 ms 10.2–11.2 s; 50 ms with each cell's end in
 * the frame of its outputs 8.6 s.
 */
const FRAME_MS = 50;

/** Cells queued or running in all beyond which a cell waits for the window to take those before it (pacing). */
const PACED_FROM = 16;

/** The longest a cell waits for the window to take the cells before it (a window that never answers). */
const UNDRAWN_WAIT_MS = 2_000;

/** How long a queued cell waits before it is told which other notebook's cell it waits for. */
const QUEUED_NOTE_MS = 1000;

export interface CellRunRecord {
  cell: vscode.NotebookCell;
  outcome: RunOutcome;
  /** The expectations written in the cell (`<-` replies and events) that the run did not meet, in words. */
  unmet: readonly string[];
  /** Each of them as a comparison: what the cell wrote and what QEMU said (Show Test Difference shows them). */
  comparisons: readonly UnmetComparison[];
}

/** An expectation written in a cell that the run did not meet, as the two sides of a diff. */
export interface UnmetComparison {
  /** What it is about: `the <- reply to query-status`, `the expected event RESUME`. */
  what: string;
  /** The `<-` line as written in the cell. */
  expected: string;
  /** What QEMU said (its reply as received), or why nothing came, in parentheses. */
  actual: string;
}

export class QmpControllers implements vscode.Disposable {
  /**
   * The id of the one kernel that is not a connection: "Add QMP Connection…". Picking it in the kernel picker
   * (or running a cell while it is the only kernel, the picker's empty state) runs "QMP: Add Connection…" and
   * selects the new profile's kernel; cancelling puts back the kernel the notebook had.
   */
  static readonly addConnectionId = 'qmp-notebook.addConnection';
  private readonly controllers = new Map<string, vscode.NotebookController>();
  private readonly addKernel: vscode.NotebookController;
  /** The add-connection flow running for a notebook (by URI): one at a time, shared by selection and run. */
  private readonly adding = new Map<string, Promise<string | undefined>>();
  private readonly selected = new Map<string, string>();
  private readonly runners = new WeakMap<vscode.NotebookDocument, NotebookRunner>();
  /** Cell keys, unique across notebooks (they share a session's engine); and whose each key is. */
  private nextKey = 0;
  private readonly keyOwners = new Map<number, { runner: NotebookRunner; run: CellRun }>();
  /** The cells whose end is on its way to the window (finish() not done): the next cell waits while too many are. */
  private readonly undrawn = new Set<Promise<unknown>>();
  /** How many may be (by the window's round trip); made afresh when a batch starts while none runs. */
  private pacing = new WindowPacing(defaultPacing);
  /**
   * The pacing's target and bounds for the next Run All: defaultPacing (the scale bench, test/host/scale.test.ts,
   * measures others beside it to chart what each costs).
   */
  pacingOptions: WindowPacingOptions = defaultPacing;
  /** The first cell each notebook editor showed when its visible cells last changed (a scroll moves it). */
  private readonly firstShown = new WeakMap<vscode.NotebookEditor, number>();
  /** The interactions noted since the last Run All began, by kind. */
  private readonly interactionKinds = new Map<string, number>();
  /** The batches (execute calls) running now, in every notebook. */
  private batches = 0;
  /**
   * What every cell tells the window goes out in frames, many cells' at once (windowFrames.ts), while a stream of
   * finished cells is on its way to it (a Run All) and nobody works in the window; a cell run by itself, or a
   * Run All giving way to the user (one cell at a time), talks to the window at once.
   */
  private readonly frames = new WindowFrames(FRAME_MS, () => this.undrawn.size >= 2 && !this.pacing.interacting(Date.now()));
  /** The engine of cells whose profile is not configured: they fail when they start (no session to run on). */
  private readonly noSession = new RunEngine({ client: () => { throw new Error('The notebook\'s connection profile is not configured.'); } });
  private readonly disposables: vscode.Disposable[] = [];
  private readonly profileEmitter = new vscode.EventEmitter<vscode.NotebookDocument>();
  private readonly runEmitter = new vscode.EventEmitter<CellRunRecord>();
  /** Each queued or running cell's status line: what it does now and for how long. */
  private readonly activity = new CellActivity(notebookType);
  /** Fires when a notebook's profile changes (a controller was selected for it). */
  readonly onDidChangeNotebookProfile = this.profileEmitter.event;
  /** Fires when a cell run ends; for tests and for anything that reports on runs. */
  readonly onDidEndRun = this.runEmitter.event;

  /**
   * `extensionId`: this extension's id (publisher.name), which VS Code puts in front of a controller's id to
   * name the kernel when one is selected by command.
   */
  constructor(readonly sessions: SessionManager, private readonly log: vscode.LogOutputChannel,
    private readonly extensionId = 'qmp-notebook.qmp-notebook') {
    this.disposables.push(this.profileEmitter, this.runEmitter, this.activity);
    this.addKernel = this.createAddConnectionKernel();
    this.syncControllers();
    this.disposables.push(
      sessions.onDidChangeProfiles(() => this.syncControllers()),
      sessions.onDidChangeState((s) => this.onSessionState(s)),
      vscode.workspace.onDidOpenNotebookDocument((nb) => this.applyAffinity(nb)),
      vscode.workspace.onDidCloseNotebookDocument((nb) => this.selected.delete(nb.uri.toString())),
      vscode.window.onDidChangeActiveNotebookEditor((editor) => this.preselect(editor)),
      // The earliest signs of a user at work that the extension host sees (completion, hover and signature
      // requests come from the language adapter, src/extension.ts): a Run All gives way to each (interacted).
      // The output channels' documents change with what they log, not with what a user does.
      vscode.workspace.onDidChangeTextDocument((e) => { if (e.contentChanges.length > 0 && e.document.uri.scheme !== 'output') this.interacted('edit'); }),
      vscode.window.onDidChangeTextEditorSelection((e) => { if (e.textEditor.document.uri.scheme !== 'output') this.interacted('selection'); }),
      vscode.window.onDidChangeTextEditorVisibleRanges((e) => { if (e.textEditor.document.uri.scheme !== 'output') this.interacted('scroll'); }),
      vscode.window.onDidChangeNotebookEditorSelection(() => this.interacted('cell selection')),
      vscode.window.onDidChangeNotebookEditorVisibleRanges((e) => {
        // A scroll moves the first cell shown. Only the last one moving is the cells above growing (a Run All's
        // outputs appearing in the cells on screen), which is no one at work: it made every Run All give way.
        const first = e.visibleRanges[0]?.start ?? -1;
        const before = this.firstShown.get(e.notebookEditor);
        this.firstShown.set(e.notebookEditor, first);
        if (before !== undefined && before !== first) this.interacted('notebook scroll');
      }),
    );
    this.preselect(vscode.window.activeNotebookEditor);
  }

  /** The controller id of a profile: stable, so VS Code remembers the choice per notebook. */
  static controllerId(profile: string): string {
    return `qmp-notebook.profile.${encodeURIComponent(profile)}`;
  }

  /** The status line a queued or running cell shows now (text, tooltip); undefined when none. For tests. */
  activityOf(cell: vscode.NotebookCell): { text: string; tooltip: string } | undefined {
    return this.activity.describe(cell);
  }

  controllerFor(profile: string): vscode.NotebookController | undefined {
    return this.controllers.get(profile);
  }

  /** The profile a notebook runs on: the controller selected for it, else the one its file names. */
  profileOf(notebook: vscode.NotebookDocument): string | undefined {
    const chosen = this.selected.get(notebook.uri.toString());
    if (chosen) return chosen;
    const named: unknown = notebook.metadata?.[profileMetadataKey];
    return typeof named === 'string' && named !== '' ? named : undefined;
  }

  /**
   * Shows outputs a run elsewhere produced (Run as Test) in a cell, as an execution of the
   * notebook's kernel. False when the notebook has no kernel of ours or the cell is running.
   */
  async showOutputs(notebook: vscode.NotebookDocument, cell: vscode.NotebookCell, outputs: vscode.NotebookCellOutput[], success: boolean): Promise<boolean> {
    const name = this.wantedProfile(notebook);
    const controller = name === undefined ? undefined : this.controllers.get(name);
    if (!controller) return false;
    let execution: vscode.NotebookCellExecution;
    try {
      execution = controller.createNotebookCellExecution(cell);
    } catch {
      return false;
    }
    execution.start(Date.now());
    try {
      await execution.replaceOutput(outputs);
    } finally {
      execution.end(success, Date.now());
    }
    return true;
  }

  private syncControllers(): void {
    const profiles = this.sessions.profiles;
    for (const [name, controller] of this.controllers) {
      if (!profiles.some((p) => p.name === name)) {
        controller.dispose();
        this.controllers.delete(name);
      }
    }
    for (const profile of profiles) {
      let controller = this.controllers.get(profile.name);
      if (!controller) {
        controller = this.createController(profile);
        this.controllers.set(profile.name, controller);
      }
      controller.description = describeProfile(profile);
      const s = this.sessions.session(profile.name);
      if (s) this.describeState(controller, s);
    }
    for (const nb of vscode.workspace.notebookDocuments) this.applyAffinity(nb);
  }

  private createController(profile: Profile): vscode.NotebookController {
    const name = profile.name;
    const controller = vscode.notebooks.createNotebookController(
      QmpControllers.controllerId(name), notebookType, `QMP: ${name}`,
      (cells, notebook) => this.execute(name, controller, cells, notebook),
    );
    controller.supportedLanguages = cellLanguages;
    controller.supportsExecutionOrder = true;
    controller.interruptHandler = (notebook) => this.interrupt(name, notebook);
    controller.onDidChangeSelectedNotebooks(({ notebook, selected }) => {
      if (selected) void this.select(notebook, name);
      else if (this.selected.get(notebook.uri.toString()) === name) this.selected.delete(notebook.uri.toString());
    }, undefined, this.disposables);
    return controller;
  }

  private describeState(controller: vscode.NotebookController, s: Session): void {
    controller.detail = s.describeState();
  }

  /** Remembers the choice, and writes it into the notebook so that the file names its profile. */
  private async select(notebook: vscode.NotebookDocument, name: string): Promise<void> {
    this.selected.set(notebook.uri.toString(), name);
    this.profileEmitter.fire(notebook);
    const named: unknown = notebook.metadata?.[profileMetadataKey];
    if (named === name) return;
    // A notebook that names no profile runs on the sandbox already; opening it must not make it dirty.
    if ((named === undefined || named === '') && name === this.sessions.sandboxProfileName()) return;
    const edit = new vscode.WorkspaceEdit();
    edit.set(notebook.uri, [vscode.NotebookEdit.updateNotebookMetadata({ ...notebook.metadata, [profileMetadataKey]: name })]);
    await vscode.workspace.applyEdit(edit);
  }

  /** The profile a notebook should run on when nobody picked one: the one it names, else the sandbox. */
  private wantedProfile(notebook: vscode.NotebookDocument): string | undefined {
    return this.profileOf(notebook) ?? this.sessions.sandboxProfileName();
  }

  private createAddConnectionKernel(): vscode.NotebookController {
    const kernel = vscode.notebooks.createNotebookController(QmpControllers.addConnectionId, notebookType,
      'Add QMP Connection…', (cells, notebook) => this.runOnNewConnection(cells, notebook));
    kernel.description = 'a QEMU socket or TCP address, a sandbox, a storage daemon, a guest agent, a libvirt domain';
    kernel.detail = 'Saves a profile in qmp.connections and selects its kernel';
    kernel.supportedLanguages = cellLanguages;
    kernel.onDidChangeSelectedNotebooks(({ notebook, selected }) => {
      if (selected) void this.addFromKernelPicker(notebook);
    }, undefined, this.disposables);
    this.disposables.push(kernel);
    return kernel;
  }

  /**
   * Runs "QMP: Add Connection…" for a notebook whose kernel is "Add QMP Connection…" (one flow per notebook).
   * The flow selects the new profile's kernel; when it was cancelled or refused, the kernel the notebook ran on
   * before (or would run on) is selected again, so the notebook is never left on a kernel that cannot run.
   */
  private addFromKernelPicker(notebook: vscode.NotebookDocument): Promise<string | undefined> {
    const key = notebook.uri.toString();
    const running = this.adding.get(key);
    if (running) return running;
    const flow = (async (): Promise<string | undefined> => {
      let added: string | undefined;
      try {
        added = await vscode.commands.executeCommand<string | undefined>('qmp.addConnection');
      } catch (err) {
        this.log.error(`Add Connection from the kernel picker failed: ${errorText(err)}`);
      }
      const target = added ?? this.wantedProfile(notebook);
      const controller = target === undefined ? undefined : this.controllers.get(target);
      const editor = vscode.window.activeNotebookEditor;
      if (controller && editor?.notebook === notebook && this.selected.get(key) !== target) {
        await vscode.commands.executeCommand('notebook.selectKernel', { id: controller.id, extension: this.extensionId })
          .then(undefined, (err: unknown) => this.log.warn(`could not select the kernel of "${target}": ${errorText(err)}`));
      }
      return added;
    })().finally(() => this.adding.delete(key));
    this.adding.set(key, flow);
    return flow;
  }

  /**
   * Cells run while "Add QMP Connection…" is the kernel (VS Code offers it alone when no profile exists): ask
   * for a connection, then run them on it. Cancelled: nothing runs, and the log says why.
   */
  private async runOnNewConnection(cells: vscode.NotebookCell[], notebook: vscode.NotebookDocument): Promise<void> {
    const added = await this.addFromKernelPicker(notebook);
    const controller = added === undefined ? undefined : this.controllers.get(added);
    if (added === undefined || !controller) {
      this.log.info('cells were not run: no connection was added');
      return;
    }
    // The new kernel is selected by the flow; executions can only be created once VS Code has bound it (its
    // selection event, select() → onDidChangeNotebookProfile), which is awaited at most 5 s.
    const key = notebook.uri.toString();
    if (this.selected.get(key) !== added) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, 5_000);
        const sub = this.profileEmitter.event((nb) => { if (nb === notebook && this.selected.get(key) === added) done(); });
        function done(): void { clearTimeout(timer); sub.dispose(); resolve(); }
      });
    }
    await this.execute(added, controller, cells, notebook);
  }

  /** Prefers the controller of the profile a notebook names (the sandbox for a notebook that names none). */
  private applyAffinity(notebook: vscode.NotebookDocument): void {
    if (notebook.notebookType !== notebookType) return;
    const wanted = this.wantedProfile(notebook);
    for (const [name, controller] of this.controllers) {
      controller.updateNotebookAffinity(notebook,
        name === wanted ? vscode.NotebookControllerAffinity.Preferred : vscode.NotebookControllerAffinity.Default);
    }
  }

  /**
   * Selects the kernel of the profile a notebook names when its editor becomes active and none is selected.
   * VS Code's kernel picker ignores affinity: with two or more profiles it shows "Select Kernel" and asks on the
   * first run, although the file says which profile it runs on. The "Add QMP Connection…" kernel counts: with
   * one profile there are two kernels, so VS Code would no longer pick the profile by itself.
   */
  private preselect(editor: vscode.NotebookEditor | undefined): void {
    if (editor === undefined || editor.notebook.notebookType !== notebookType) return;
    if (this.selected.has(editor.notebook.uri.toString())) return;
    const wanted = this.wantedProfile(editor.notebook);
    // A notebook naming a profile that is not configured leaves the choice to the user.
    if (wanted === undefined || !this.controllers.has(wanted)) return;
    // The command acts on the active notebook editor, and skips a notebook that has a kernel already (one the
    // user picked, or that VS Code remembered).
    vscode.commands.executeCommand('notebook.selectKernel',
      { id: QmpControllers.controllerId(wanted), extension: this.extensionId, skipIfAlreadySelected: true })
      .then(undefined, (err: unknown) => this.log.warn(`could not select the kernel of "${wanted}": ${errorText(err)}`));
  }

  /** The last reply saved under a name in a notebook (its raw text), for the language features' hover and completion. */
  namedReply(notebook: vscode.NotebookDocument, name: string): string | undefined {
    const e = this.runners.get(notebook)?.names.get(name);
    return e?.ok === true ? e.raw : undefined;
  }

  private runner(notebook: vscode.NotebookDocument): NotebookRunner {
    let r = this.runners.get(notebook);
    if (!r) {
      r = new NotebookRunner(notebook);
      this.runners.set(notebook, r);
    }
    return r;
  }

  private interrupt(profile: string, notebook: vscode.NotebookDocument): void {
    for (const run of this.runner(notebook).runs.values()) {
      if (run.profile === profile) run.stop('interrupted', 'Interrupted');
    }
  }

  /** Stops every cell of a session whose connection went away, at once. */
  private onSessionState(s: Session): void {
    const controller = this.controllers.get(s.name);
    if (controller) this.describeState(controller, s);
    if (s.state === 'connected' || s.state === 'connecting') return;
    for (const nb of vscode.workspace.notebookDocuments) {
      for (const run of this.runners.get(nb)?.runs.values() ?? []) {
        if (run.profile === s.name && run.connected) {
          run.stop('connection-lost', `The connection to "${s.name}" ended while the cell ran${s.lastError ? `: ${s.lastError}` : ''}`);
        }
      }
    }
  }

  private async execute(profile: string, controller: vscode.NotebookController, cells: vscode.NotebookCell[],
    notebook: vscode.NotebookDocument): Promise<void> {
    const runner = this.runner(notebook);
    if (this.selected.get(notebook.uri.toString()) !== profile) void this.select(notebook, profile);
    const runs: CellRun[] = [];
    for (const cell of cells) {
      if (cell.kind !== vscode.NotebookCellKind.Code) continue;
      // The cell is queued or running already (run twice): it runs once.
      if (runner.byCell.has(cell)) {
        this.log.warn(`cell ${cell.index + 1} was not run: it is queued or running already`);
        continue;
      }
      const run = new CellRun(++this.nextKey, cell, () => controller.createNotebookCellExecution(cell), profile, this.frames);
      // The first cells' executions now (VS Code shows them pending); the rest as the run comes near them.
      if (runs.length < EXECUTIONS_AHEAD && run.ensureExecution() === undefined) {
        // This controller is not the notebook's, or the cell runs elsewhere: nothing to run.
        this.log.warn(`cell ${cell.index + 1} was not run: VS Code did not make an execution for it`);
        continue;
      }
      this.keyOwners.set(run.key, { runner, run });
      runner.runs.set(run.key, run);
      runner.byCell.set(cell, run);
      runs.push(run);
      this.activity.set(cell, { kind: 'queued' });
    }
    if (!vscode.workspace.isTrusted) {
      for (const run of runs) await this.refuseUntrusted(runner, run);
      void explainUntrusted(new UntrustedWorkspaceError('Running QMP cells'));
      return;
    }
    const jobs = runs.map((run) => ({ ...deferredJob(run, () => this.plan(run)), client: () => this.clientFor(runner, run.key), names: runner.names }));
    // The session's one engine; cells of every notebook on the session queue on it as QEMU queues them.
    const engine = this.sessions.session(profile)?.kernel.engine ?? this.noSession;
    const note = setTimeout(() => this.noteQueued(engine, runner, runs), QUEUED_NOTE_MS);
    // A batch that starts while none runs paces afresh (what the window did before it is not its state now).
    if (this.batches++ === 0 && this.undrawn.size === 0) {
      // (The user's interaction going on now carries over as it was, ending quietMs after the last one: Run All
      // may have been started while typing. Not from now: a run started just after a click would give way a
      // whole quiet spell for nothing.)
      const previous = this.pacing;
      this.pacing = new WindowPacing(this.pacingOptions);
      if (previous.interacting(Date.now())) this.pacing.interacted(previous.lastInteractionAt);
      this.interactionKinds.clear();
    }
    // When a cell starts, the cells EXECUTIONS_AHEAD below it get their executions (in order, each once).
    const position = new Map(runs.map((run, i) => [run.key, i] as const));
    let made = Math.min(runs.length, EXECUTIONS_AHEAD);
    try {
      await engine.run(jobs, (r) => {
        if (r.type === 'cell-started') {
          const upTo = Math.min(runs.length, (position.get(r.cell) ?? 0) + 1 + EXECUTIONS_AHEAD);
          // In the window's next frame, with the other cells' news (windowFrames.ts); a cell that starts first
          // makes its own at once (begin).
          for (; made < upTo; made++) {
            const ahead = runs[made];
            if (ahead) void this.frames.turn().then(() => { ahead.ensureExecution(); });
          }
        }
        this.render(runner, r);
      });
    } finally {
      this.batches--;
      clearTimeout(note);
      if (runs.length > 1) {
        const p = this.pacing.stats(Date.now());
        this.log.debug(`ran ${runs.length} cells: the window's round trip p50 ${p.roundTripP50Ms} ms, p95 ${p.roundTripP95Ms} ms ` +
          `(base ${p.baseMs} ms); cells on their way to it at once ${p.lowest}–${p.highest}; gave way to ${p.interactions} interactions ` +
          `for ${p.gaveWayMs} ms`);
      }
      for (const run of runs) {
        this.keyOwners.delete(run.key);
        // A run the engine never finished (it threw) must not keep its cell from running again.
        if (!run.ended && runner.runs.get(run.key) === run && runner.byCell.get(run.cell) === run) runner.byCell.delete(run.cell);
      }
    }
  }

  /** Tells each cell still queued which other notebook's running cell it waits for (the note goes when it starts). */
  private noteQueued(engine: Pick<RunEngine, 'runningCells'>, runner: NotebookRunner, runs: readonly CellRun[]): void {
    const other = engine.runningCells().map((k) => this.keyOwners.get(k)).find((o) => o !== undefined && o.runner !== runner);
    if (!other) return;
    const name = other.runner.notebook.uri.path.split('/').pop() ?? other.runner.notebook.uri.toString();
    for (const run of runs) {
      if (run.started || run.engineStarted || run.ended || run.stopped || run.ensureExecution() === undefined) continue;
      // Outputs can be written only to a started execution: started without a time, it shows no clock.
      run.execution.start();
      run.started = true;
      run.append(noteOutput(`Waiting: cell ${other.run.cell.index + 1} of ${name} is still running on "${run.profile}"; ` +
        'this cell runs when it ends (QEMU answers in-band commands in order).'));
    }
  }

  /** Starts the cell's execution with its clock, once (outputs need a started execution). */
  private begin(run: CellRun): void {
    if (run.started || run.ended || run.ensureExecution() === undefined) return;
    const execution = run.execution;
    const at = Date.now();
    run.started = true;
    // In the window's next frame, before the cell's outputs and end (which wait for their frames after this).
    void this.frames.turn().then(() => execution.start(at)).then(undefined, (err: unknown) => this.log.debug(`starting cell ${run.cell.index + 1}: ${errorText(err)}`));
  }

  /** What the pacing of the last Run All did (the window's round trips, the limit's range). For tests and the log. */
  pacingStats(): PacingStats {
    return this.pacing.stats(Date.now());
  }

  /**
   * The user interacted (typed, moved the cursor, scrolled, asked for completion, hover or signature help): a
   * Run All gives way to the window until the interactions stop for a while (WindowPacing.limitAt).
   * `what` is counted for the log and the scale measurements.
   */
  interacted(what: string): void {
    this.interactionKinds.set(what, (this.interactionKinds.get(what) ?? 0) + 1);
    this.pacing.interacted(Date.now());
  }

  /** Where a cell's run is, and the pacing's state now, in words (for the tests' logs of a run that stalls). */
  describeRun(cell: vscode.NotebookCell): string {
    const run = this.runners.get(cell.notebook)?.byCell.get(cell);
    const now = Date.now();
    return `${run ? run.describeState() : 'no run'}; ${this.undrawn.size} on their way to the window, limit ${this.pacing.limitAt(now)}` +
      `${this.pacing.interacting(now) ? ' (giving way)' : ''}, ${this.batches} batches`;
  }

  /** The interactions noted since the last Run All began, by kind (for the scale measurements). */
  interactionCounts(): Record<string, number> {
    return Object.fromEntries(this.interactionKinds);
  }

  /**
   * Waits until fewer finished cells than the pacing allows now are on their way to the window: at most
   * UNDRAWN_WAIT_MS (a window that never answers, a user who never stops typing: the run still moves on).
   */
  private async windowCaughtUp(): Promise<void> {
    // A few cells queued or running in all (this one among them) cannot flood the window: none of them waits for
    // it (one cell in each of two notebooks on a session: the second would wait up to a quiet spell for the
    // first's end to be drawn). The cell has started in the engine: its events count from there (the wait rule),
    // so what it waits for may come during this wait and is still its own.
    if (this.keyOwners.size <= PACED_FROM) return;
    if (this.undrawn.size < this.pacing.limitAt(Date.now())) return;
    const deadline = Date.now() + UNDRAWN_WAIT_MS;
    for (let now = Date.now(); this.undrawn.size >= this.pacing.limitAt(now) && now < deadline; now = Date.now()) {
      // Until a cell is drawn, the interactions' quiet spell ends (the limit rises) or the deadline.
      const until = Math.min(deadline, this.pacing.interacting(now) ? this.pacing.quietAt(now) : deadline);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([...this.undrawn, new Promise((r) => { timer = setTimeout(r, Math.max(1, until - now)); })]);
      clearTimeout(timer);
    }
  }

  /** Parses with the schema the session has now (live or cached). */
  private plan(run: CellRun): CellPlan {
    const language = run.cell.document.languageId;
    if (!isCodeLanguage(language)) {
      return { steps: [], problems: [{ message: `Cells in ${language} cannot run on QEMU; use ${CODE_LANGUAGES.join(', ')}.` }] };
    }
    const schema = this.sessions.session(run.profile)?.schema;
    run.planCached = schema?.cached ?? true;
    const plan = planCell(run.cell.document.getText(), language, schema?.schema, metadataRules(run.cell.notebook.metadata));
    run.plan = plan;
    return plan;
  }

  /** The engine asks for the client when a cell starts: connect its session first when needed. */
  private async clientFor(runner: NotebookRunner, key: number): Promise<EngineClient> {
    const run = runner.runs.get(key);
    if (!run) throw new Error('The cell is no longer running.');
    await this.windowCaughtUp();
    this.begin(run);
    const session = await this.connected(run);
    const client = session.liveClient;
    if (!client) throw new Error(`"${run.profile}" is not connected.`);
    run.connected = true;
    // A VM the extension does not own: ask before commands that change its state (qmp.confirmStateChanges).
    if (!(await confirmStateChanges(session, commandsOf((run.plan ?? this.plan(run)).steps)))) {
      throw new StopRequest('not-sent-because-invalid', 'The cell changes the state of the VM and was not confirmed; nothing was sent.');
    }
    return client;
  }

  /**
   * A block graph whose cell listed no node details: query-named-block-nodes is asked once, right after (an
   * ordinary in-band query with a time limit; a failure leaves the graph with names only), and the graph's
   * output is drawn again with each node's driver, file name and size. The cell ends when it is answered.
   */
  private completeGraph(run: CellRun, redraw: (named: unknown) => vscode.NotebookCellOutput, output: vscode.NotebookCellOutput): void {
    const client = this.sessions.session(run.profile)?.liveClient;
    if (!client) return;
    run.waitFor(client.execute('query-named-block-nodes', { flat: true }, { timeoutMs: GRAPH_DETAILS_TIMEOUT_MS }).then((named) => {
      run.replaceItems(output, redraw(named).items);
    }));
  }

  /**
   * Renders one transcript record as outputs of its cell: what is saved comes from the one renderer
   * (src/run/recordText.ts `renderRecord`), mapped to VS Code's outputs (`cellOutput`); notes (never saved) and
   * the cell's status line are the controller's own.
   */
  private render(runner: NotebookRunner, r: TranscriptRecord): void {
    const run = runner.runs.get(r.cell);
    if (!run) return;
    if (r.type !== 'cell-started' && r.type !== 'cell-finished') this.begin(run);
    const step = r.type !== 'cell-started' && r.type !== 'cell-finished' && 'step' in r && r.step !== undefined ? run.plan?.steps[r.step] : undefined;
    const command = step?.kind === 'command' ? step : undefined;
    const saved: RenderedOutput[] = [];
    renderRecord(r, { language: run.cell.document.languageId, plan: run.plan ?? NOT_PLANNED_YET }, saved, run.rendering);
    for (const o of saved) this.cellOutput(run, r, o, command);
    switch (r.type) {
      case 'cell-started':
        if (run.ensureExecution() === undefined) {
          // VS Code would not make an execution for it (the cell runs elsewhere): it is not run here.
          run.stop('interrupted', 'The cell was not run: VS Code did not make an execution for it.');
          break;
        }
        run.showOrder(r.order);
        run.engineStarted = true;
        // Its clock starts in clientFor, once the window has caught up with the cells before it, so that the
        // duration shown is the cell's own (or with the first record of it, when it fails before that).
        run.clearOnFirstOutput();
        if (this.sessions.session(run.profile)?.state !== 'connected') this.activity.set(run.cell, { kind: 'connecting', profile: run.profile });
        else this.showNextStep(run, 0);
        break;
      case 'sent':
        if (run.blockedStep !== r.step) this.activity.set(run.cell, { kind: 'command', command: r.command });
        break;
      case 'reply':
        this.showNextStep(run, r.step + 1);
        break;
      case 'expected-reply':
        if (!r.match) {
          run.unmet.push(`the reply to ${command?.name ?? 'a command'} differs from the <- reply written under it: ${r.differences.join('; ')}`);
          run.comparisons.push({ what: `the <- reply to ${command?.name ?? 'a command'}`, expected: r.expected.trim(), actual: r.actual.trim() });
        }
        run.append(expectedReplyOutput(r.match, r.expected, r.actual, r.differences));
        break;
      case 'expected-event':
        if (!r.match) {
          run.unmet.push(r.message ?? `the expected event ${r.event} did not arrive`);
          run.comparisons.push({ what: `the expected event ${r.event}`, expected: r.expected.trim(), actual: `(${r.message ?? 'it did not arrive'})` });
        }
        run.append(noteOutput(r.match ? `✓ The expected event ${r.event} arrived: ${r.expected}` : `✗ ${r.message ?? r.event}: ${r.expected}`));
        break;
      case 'wait-satisfied':
        this.showNextStep(run, r.step + 1);
        // In a flood the event that ended the wait can be one of the events a group does not show (or one the
        // engine no longer kept): a note below says it came, so what ended the wait is always visible.
        if (!run.showsEventForGood(r.seq)) run.append(noteOutput(`✓ ${r.event} arrived (waited ${r.ms} ms): ${r.raw.trim()}`));
        break;
      case 'job-progress':
      case 'job-finished':
        run.job(r);
        break;
      case 'blocked':
        run.blockedStep = r.step;
        this.activity.set(run.cell, { kind: 'blocked', behind: r.behind.map((b) => b.command) });
        run.append(noteOutput(`Waiting: QEMU is still working on ${r.behind.map((b) => b.command).join(', ')} ` +
          '(interrupted or timed out earlier) and answers in-band commands in order.'));
        break;
      case 'failure':
        if (r.kind === 'not-connected' && run.stopped === false) this.maybeExplainUntrusted(r.message);
        break;
      case 'cell-finished':
        run.finishedAt = Date.now();
        this.drawing(this.finish(runner, run, r.outcome));
        break;
      default:
        break;
    }
  }

  /** One output of the one renderer as VS Code shows it (the same saved text; the reply renderer's item added). */
  private cellOutput(run: CellRun, r: TranscriptRecord, o: RenderedOutput, command: CommandStep | undefined): void {
    if (r.type === 'event') run.event(r.event);
    else if (r.type === 'reply' && o.kind === 'message') {
      const reply = {
        idText: r.idText, raw: o.json, sent: r.wire,
        ...(r.ok ? { ok: true as const, value: r.value } : { ok: false as const, error: r.error ?? { class: 'GenericError', desc: '' } }),
      };
      // A block graph is drawn with the node details of the cell's query-named-block-nodes, or of one asked
      // right after when the cell has none (completeGraph).
      if (r.ok && command?.name === 'query-named-block-nodes') run.named = r.value;
      const graph = r.ok && command?.name === 'x-debug-query-block-graph';
      const output = replyOutput(reply, true, command?.label, graph ? run.named : undefined);
      run.append(output);
      if (graph && run.named === undefined) this.completeGraph(run, (named) => replyOutput(reply, true, command?.label, named), output);
    } else if (o.kind === 'message') run.append(sentOutput(o.json, true));
    else if (r.type === 'failure') {
      // The renderer's `Title: text`, as an error output named by its title.
      const title = failureTitle(r);
      run.append(failureOutput(title, o.text.startsWith(`${title}: `) ? o.text.slice(title.length + 2) : o.text));
    } else run.append(transcriptTextOutput(o.text));
  }

  /** The cell's status line before step `i`: a wait says what it waits for; a command says so once it is sent. */
  private showNextStep(run: CellRun, i: number): void {
    const next = run.plan?.steps[i];
    if (next?.kind === 'wait') this.activity.set(run.cell, { kind: 'wait', event: next.event });
    else this.activity.clear(run.cell);
  }

  private maybeExplainUntrusted(message: string): void {
    if (!vscode.workspace.isTrusted) void explainUntrusted(new UntrustedWorkspaceError(message));
  }

  private async refuseUntrusted(runner: NotebookRunner, run: CellRun): Promise<void> {
    run.execution.start(Date.now());
    run.started = true;
    await run.execution.clearOutput();
    run.append(failureOutput('Untrusted workspace',
      'Cells do not run in an untrusted workspace. Use "Manage Workspace Trust" to trust it.'));
    await this.finish(runner, run, 'failed');
  }

  /** Counts a cell's end as on its way to the window until it is there (windowCaughtUp waits on it). */
  private drawing(finishing: Promise<unknown>): void {
    this.undrawn.add(finishing);
    const done = (): void => { this.undrawn.delete(finishing); };
    finishing.then(done, done);
  }

  private async finish(runner: NotebookRunner, run: CellRun, outcome: RunOutcome): Promise<RunOutcome> {
    runner.runs.delete(run.key);
    if (runner.byCell.get(run.cell) === run) runner.byCell.delete(run.cell);
    // A finished cell is no longer anyone's running cell (noteQueued): its entry goes now, not when the batch ends.
    this.keyOwners.delete(run.key);
    this.activity.clear(run.cell);
    try {
      // A cell whose commands all succeeded but whose written expectations (<- lines) were not met shows ✗, not
      // a green ✓ beside its ✗ note.
      await run.end(outcome === 'succeeded' ? run.unmet.length === 0 : outcome === 'skipped' ? undefined : false);
      if (run.roundTripMs !== undefined) this.pacing.observe(run.roundTripMs);
    } catch (err) {
      this.log.debug(`ending cell ${run.cell.index + 1}: ${errorText(err)}`);
    }
    this.runEmitter.fire({ cell: run.cell, outcome, unmet: run.unmet, comparisons: run.comparisons });
    // The plan (the parsed cell) is not needed once the cell ended; the batch keeps the run until it ends.
    run.plan = undefined;
    return outcome;
  }

  /** The session of the run, connecting first when needed; a failure says what to do. */
  private async connected(run: CellRun): Promise<Session> {
    const existing = this.sessions.session(run.profile);
    if (!existing) {
      throw new Error(`The notebook runs on "${run.profile}", which is not in the qmp.connections setting.`);
    }
    if (existing.state === 'connected') return existing;
    try {
      return await this.sessions.connect(run.profile);
    } catch (err) {
      if (err instanceof UntrustedWorkspaceError || run.stopped) throw err;
      const hint = existing.profile.kind === 'sandbox'
        ? 'Check that QEMU is installed (setting qmp.sandbox.qemuPath) and see the QMP log.'
        : `Start QEMU with its QMP monitor at ${describeProfile(existing.profile)}, or pick another kernel.`;
      throw new Error(`Could not connect to "${run.profile}": ${errorText(err)}\n${hint}`);
    }
  }

  dispose(): void {
    for (const c of this.controllers.values()) c.dispose();
    this.controllers.clear();
    for (const d of this.disposables.splice(0)) d.dispose();
  }
}
