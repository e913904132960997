// The one cell-execution engine: the scheduler, the step loop, the wait rule and the event-attribution rule,
// shared by the notebook controller, the CLI (`qmp-notebook run`) and the test runner. Pure: no vscode, no
// I/O of its own; it talks to a client port (the core's own QmpClient types) and reports everything it does
// as transcript records (transcript.ts), as they happen. docs/notebook-format.md ("Running cells") states
// the rules; each is implemented once, here.
//
// Scheduler. One engine per notebook (the controller) or per run (the CLI). In-band cells run one after
// another, in the order they were submitted, across batches, like a Jupyter kernel. A cell whose every
// command is out-of-band starts as soon as every cell submitted before it in the same batch has been SENT
// (handed all its commands to the client, or ended) and every in-band command still unanswered has been
// running for `busyMs` (QEMU is busy with it): it overtakes only what QEMU is busy with, never a cell that
// has not even gone out, nor a quick command QEMU is about to finish (QEMU runs an OOB command at once in its
// I/O thread, so a `yank` sent right behind a `chardev-add` would otherwise find no chardev). A batch (Run All) stops at its first failing cell: the cells of the batch that
// have not started yet are skipped.
//
// Step loop. A cell's commands go out one after another, each after the reply to the one before; a cell
// stops at its first failure (error reply, refusal before sending, timeout, interrupt, lost connection). The
// loop runs by callbacks, not awaits: a reply handed over by the client's sendThen (in the turn that read it)
// runs the rest of the step, the cell's next step or its end, and the next in-band cell's start, up to the
// next command's write, in one chain of calls; only a step that must wait (connecting, an event wait, expected
// events, the test rules' awaitEvents) goes through a promise.
//
// Wait rule. A cell takes an event cursor when it starts (its `cell-started`, before its caller hands over
// the client: a caller that waits first, for its window or a confirmation, changes nothing the cell sees); a
// wait is satisfied by the first matching event since that cursor that no earlier wait of the same cell has
// used. So an event that comes before the reply of the command that caused it counts, and `stop`, `cont`, wait
// RESUME, wait STOP passes.
//
// Expected events. `<- {"event": …}` lines of a cell are checked after its last step succeeded, among the
// events since the cell's cursor, masked as saved outputs are, in the written order unless the rules say
// `any`, waiting at most the cell's wait timeout (expectEvents.ts). A mismatch is information (an
// `expected-event` record), like an expected reply: `qmp-notebook test` fails the cell on it.
//
// Attribution rule. Each event is given to one cell: the cell of the oldest command still waiting for its
// reply; else the oldest running cell that is waiting for an event; else the most recently started running
// cell; else, in a batch run as a test (`asTest`), the cell of that batch that ended last, until the next
// cell starts (a late event: its record, marked `late`, follows that cell's `cell-finished`); else to no
// cell (it is not in the transcript). A cell keeps at most `eventsPerCell` event records; the rest are
// counted and reported once, as `events-dropped`, before the cell finishes.
//
// Test rules (docs/testing-notebooks.md), the options every door that tests gives (`qmp-notebook test`, the
// editor's Run as Test; both through src/kernel/testRun.ts): a batch run `asTest` runs every cell, one after
// another (each starts when the one before it ended, out-of-band cells too), a failing cell does not skip
// the ones after it (a lost connection does), and late events belong to the cell that ended. A job's
// `awaitEvents` (the events its saved outputs show) keeps the cell open after its steps until that many of
// each have been given to it, at most `timeoutMs`: a `DEVICE_DELETED` that comes after the reply to
// `device_del` is the cell's by the attribution rule, as it was when the outputs were saved.
//
// Jobs. A cell that starts or drives a block job or a migration follows it until it ends or the cell ends:
// `job-progress` and `job-finished` records, from the engine's one JobWatcher (progress.ts: what a job is, the
// bounded polls, which never appear as the cell's commands).
import type { CommandOptions, CommandReply, Disposable, QmpClient, QmpEventRecord } from '../qmp/client';
import { CommandCancelledError, CommandTimeoutError, EventsDroppedError, EventTimeoutError, OobRefusedError } from '../qmp/errors';
import { eventDataMatches } from '../format/eventMatch';
import { compareReplyText } from './compare';
import { EventMatcher } from './expectEvents';
import { errorMessage, failureKindOf, isSessionFailure, StopRequest } from './errors';
import { describeProblem, isOobPlan, type CellPlan, type CommandStep, type EventExpectations, type WaitStep } from './plan';
import { JobWatcher, type JobOwner } from './progress';
import { NamedReplies, substituteStep } from './namedReplies';
import type { CellStartedRecord, FailureKind, FailureRecord, ReplyRecord, RunOutcome, TranscriptRecord, TranscriptSink } from './transcript';

/** The calls the engine makes on a client: the core's own QmpClient types. */
export type EngineClient = Pick<QmpClient, 'send' | 'onEvent' | 'eventCursor' | 'waitForEvent'> & Partial<Pick<QmpClient, 'sendThen'>>;

/** The default cap on event records per cell. */
export const DEFAULT_EVENTS_PER_CELL = 1000;

/** How long an unanswered in-band command runs before an out-of-band cell counts QEMU as busy with it. */
export const DEFAULT_BUSY_MS = 200;

export interface CellJob {
  /** The caller's key of the cell, copied into every record (see transcript.ts). */
  cell: number;
  /** 1-based line of the cell in its file, when known (copied into `cell-started`). */
  line?: number;
  /** The plan the scheduler decides with (is the cell all out-of-band?). */
  plan: CellPlan;
  /** Plans again when the cell starts, after connecting (so a live schema types it); default: `plan`. */
  replan?: () => CellPlan;
  /** Stops this cell; the reason may be a StopRequest saying why (default: interrupted). */
  signal?: AbortSignal;
  /** The client for this cell (a door's own checks before it connects); default: the engine's `client`. */
  client?: () => EngineClient | Promise<EngineClient>;
  /** The named replies this cell reads and (with an `@name`) saves to; default: the engine's (namedReplies.ts). */
  names?: NamedReplies;
  /**
   * A test rule: the events (names, with repeats) the cell's saved outputs show; after its steps the cell
   * stays open until they have all been given to it, at most `timeoutMs` (see the file comment).
   */
  awaitEvents?: { names: readonly string[]; timeoutMs: number };
}

/** How a batch runs (see the file comment). */
export interface BatchOptions {
  /**
   * The test rules: every cell runs, one after another, a failing cell does not skip the ones after it (a
   * lost connection does), and events after a cell ended and before the next started are that cell's.
   */
  asTest?: boolean;
}

export interface EngineOptions {
  /** The client to run a cell on, connecting when needed; called when each cell starts. */
  client(cell: number): EngineClient | Promise<EngineClient>;
  /** Time limit of each command (read when each command is sent); undefined or 0: none. */
  commandTimeoutMs?: number | (() => number | undefined);
  /** Cap on event records per cell (default DEFAULT_EVENTS_PER_CELL). */
  eventsPerCell?: number;
  /** See DEFAULT_BUSY_MS. */
  busyMs?: number;
  /** Monotonic milliseconds; default performance.now(). */
  now?: () => number;
  /** The longest wait for a cell's expected events (its own timeout when shorter); default: none beyond it. */
  expectedEventsTimeoutMs?: number;
  /** The bound on job polls (query-jobs, query-migrate) per second for the whole engine; default 4 (progress.ts). */
  jobQueriesPerSecond?: number;
  /** The named replies of cells that give none of their own (default: a store of this engine's). */
  names?: NamedReplies;
}

export interface BatchResult {
  /** The outcome of each job, in submission order. */
  outcomes: RunOutcome[];
  /** The first failure of the batch in cell order, when there was one. */
  failure?: FailureRecord;
}

interface Batch {
  sink: TranscriptSink;
  failed: boolean;
  asTest: boolean;
  /** Rejects the batch's run() (a bug, never a QEMU or connection problem: those are records). */
  broke: (err: unknown) => void;
}

/** A step that goes on later: it calls its cell's `done` or drives the cell on when it completes. */
const PENDING = Symbol('pending');
type StepResult = RunOutcome | typeof PENDING | undefined;

/** A cell's step loop, resumable from a callback (see drive()). */
interface CellRun {
  state: RunningCell;
  client: EngineClient;
  plan: CellPlan;
  /** The step to run next. */
  i: number;
  /** The index of the cell's last command step (-1: none). */
  lastCommand: number;
  markSent: () => void;
  /** The wait rule: one cursor for the cell, and the events its waits have used (made when a wait needs it). */
  cursor: number;
  used: Set<number> | undefined;
  /** Called once, with how the cell's steps ended. */
  done: (outcome: RunOutcome) => void;
}

interface RunningCell {
  job: CellJob;
  batch: Batch;
  step: number | undefined;
  waiting: boolean;
  eventsKept: number;
  eventsDropped: number;
  failure?: FailureRecord;
  /** awaitEvents still to come, by name, and how many in all; `arrived` is called when none is left. */
  awaiting?: { need: Map<string, number>; missing: number; arrived: (() => void) | undefined };
  /** The client the cell runs on, once it has one. */
  client?: EngineClient;
  /**
   * The engine's client and its event cursor when the cell started, before the cell's caller handed over its
   * client (a caller may wait first: the editor for its window, for a confirmation): the wait rule counts from
   * the start, so what the cell sees does not depend on how long its caller took.
   */
  started?: { client: EngineClient; cursor: number };
  /** The cell's side of the job watcher, made when the cell first follows a job. */
  jobOwner?: JobOwner;
  /** The cell's `@name` (from its plan) and its last reply, saved under the name when the cell ends. */
  name?: string;
  lastReply?: string;
}

interface OpenCommand {
  cell: RunningCell;
  step: number;
  oob: boolean;
  /** When it was handed to the client. */
  t0: number;
  /** Called when it settles; set only when an out-of-band cell waits for it (untilBusy). */
  onSettled?: () => void;
  settled?: boolean;
}

/** How a cell ended: its outcome, and its failure record when it failed. */
interface CellEnd {
  outcome: RunOutcome;
  failure?: FailureRecord;
}

interface BusyCommand {
  cell: number;
  command: string;
}

const round = (ms: number): number => Math.round(ms * 1000) / 1000;

/** Why the caller stopped a cell: its StopRequest, or a plain interrupt. */
function stopReason(reason: unknown): { kind: FailureKind; said: string } {
  return reason instanceof StopRequest ? { kind: reason.kind, said: reason.message } : { kind: 'interrupted', said: 'The cell was interrupted' };
}

export class RunEngine implements Disposable {
  private readonly now: () => number;
  private readonly origin: number;
  private readonly eventsPerCell: number;
  /** The in-band order (inBand()): whether an in-band cell runs, and the starts of those waiting, from inBandHead. */
  private inBandRunning = false;
  private inBandQueue: Array<(() => void) | undefined> = [];
  private inBandHead = 0;
  /** nextInBand() is running, and the calls made from inside it that it still owes (see there). */
  private inBandAdvancing = false;
  private inBandOwed = 0;
  private order = 0;
  /** Jobs submitted and not yet ended (across batches): the event subscription stays while there are any. */
  private pending = 0;
  private readonly running: RunningCell[] = [];
  /** Commands handed to the client and not settled, oldest first. */
  private readonly open: OpenCommand[] = [];
  /** In-band commands written and then given up (interrupted, timed out): QEMU still owes their replies. */
  private busy: BusyCommand[] = [];
  private attached: { client: EngineClient; sub: Disposable } | undefined;
  /** The client the last cell ran on (see `busy`). */
  private lastClient: EngineClient | undefined;
  /** The cell of an `asTest` batch that ended last, while the next has not started: late events are its. */
  private late: RunningCell | undefined;
  /** The jobs running cells follow (progress.ts). */
  private readonly jobs: JobWatcher;
  /** The named replies of cells that bring no store of their own. */
  readonly names: NamedReplies;

  constructor(private readonly options: EngineOptions) {
    // The global `performance` is a lazy getter in Node: read it once, not on every record.
    const clock = performance;
    this.now = options.now ?? (() => clock.now());
    this.origin = this.now();
    this.eventsPerCell = Math.max(0, options.eventsPerCell ?? DEFAULT_EVENTS_PER_CELL);
    this.names = options.names ?? new NamedReplies();
    this.jobs = new JobWatcher({
      now: this.now,
      // QEMU still owes replies to given-up in-band commands: a poll would only queue behind them.
      hold: () => this.busy.length > 0,
      ...(options.jobQueriesPerSecond !== undefined ? { maxQueriesPerSecond: options.jobQueriesPerSecond } : {}),
    });
  }

  /** How many job polls the engine has sent (benches, tests). */
  get jobPolls(): number {
    return this.jobs.polls;
  }

  /** The cell's side of the job watcher: its reports become the cell's records, its polls use the cell's client. */
  private jobOwner(state: RunningCell): JobOwner | undefined {
    const client = state.client;
    if (client === undefined) return undefined;
    state.jobOwner ??= { client, report: (r) => this.emit(state.batch, { ...r, cell: state.job.cell, at: this.at() }) };
    return state.jobOwner;
  }

  private at(): number {
    return round(this.now() - this.origin);
  }

  /**
   * Schedules a batch of cells (in cell order) and resolves when all of them have ended. Never rejects for
   * QEMU or connection problems: they are records. Records go to `sink` as they happen.
   */
  async run(jobs: readonly CellJob[], sink: TranscriptSink, options: BatchOptions = {}): Promise<BatchResult> {
    this.pending += jobs.length;
    // A test batch: each cell starts when the one before it ended (see the file comment).
    let previous: Promise<unknown> = Promise.resolve();
    // How many cells from the start of the batch have been sent, and the cells waiting for more of them to be
    // (a cell waits until every cell above it has been sent). Nothing is allocated for a cell that need not wait.
    const sentFlags: boolean[] = new Array<boolean>(jobs.length).fill(false);
    let sentPrefix = 0;
    // The cells waiting, by how many cells above them must be sent: each index is visited once (linear).
    const waitingFor = new Map<number, Array<() => void>>();
    const outcomes: RunOutcome[] = new Array<RunOutcome>(jobs.length);
    const failures: Array<FailureRecord | undefined> = [];
    // Every job's end is counted (the first error rejects, as Promise.all would), not awaited one promise each:
    // a batch of many cells keeps one small closure per cell alive until it starts, not a promise and three
    // closures (a long batch's young-generation GCs copy whatever waits).
    let left = jobs.length;
    let finish: () => void = () => undefined;
    let broke: (err: unknown) => void = () => undefined;
    const all = new Promise<void>((resolve, reject) => { finish = resolve; broke = reject; });
    const batch: Batch = { sink, failed: false, asTest: options.asTest === true, broke };
    const markSent = (i: number): void => {
      if (sentFlags[i]) return;
      sentFlags[i] = true;
      const from = sentPrefix;
      while (sentPrefix < jobs.length && sentFlags[sentPrefix]) sentPrefix++;
      if (waitingFor.size === 0) return;
      for (let k = from + 1; k <= sentPrefix; k++) {
        const ready = waitingFor.get(k);
        if (!ready) continue;
        waitingFor.delete(k);
        for (const resolve of ready) resolve();
      }
    };
    // Starts cell i when it may start and calls `then` with its end. A cell that need not wait starts at once, in
    // this call: from the reply that ends one cell to the next cell's command is one chain of calls, no promise
    // in it (the critical path of a run), so the command is written in the turn that read the reply.
    const go = (i: number, oob: boolean, then: (end: CellEnd) => void): void => {
      if (sentPrefix >= i && !oob) {
        this.runJob(jobs[i] as CellJob, batch, () => markSent(i), then);
        return;
      }
      (async (): Promise<void> => {
        if (sentPrefix < i) {
          await new Promise<void>((resolve) => {
            const list = waitingFor.get(i);
            if (list) list.push(resolve);
            else waitingFor.set(i, [resolve]);
          });
        }
        if (oob) await this.untilBusy();
        this.runJob(jobs[i] as CellJob, batch, () => markSent(i), then);
      })().catch(broke);
    };
    const goLater = (i: number, oob: boolean): Promise<CellEnd> => new Promise<CellEnd>((resolve) => go(i, oob, resolve));
    // Cell i ended: its outcome and failure are kept, `next` (the next in-band cell) starts, the end is counted.
    const finished = (i: number, end: CellEnd, next?: () => void): void => {
      try {
        outcomes[i] = end.outcome;
        failures[i] = end.failure;
        next?.();
        if (--left === 0) finish();
      } catch (err) {
        broke(err);
      }
    };
    for (let i = 0; i < jobs.length; i++) {
      const job = jobs[i] as CellJob;
      if (batch.asTest) {
        const oob = isOobPlan(job.plan);
        const after = previous;
        const mine = oob ? after.then(() => goLater(i, true)) : this.inBand(() => after.then(() => goLater(i, false)));
        previous = mine.then(() => undefined, () => undefined);
        mine.then((v) => finished(i, v), broke);
      } else if (isOobPlan(job.plan)) {
        go(i, true, (v) => finished(i, v));
      } else {
        this.queueInBand(() => {
          try {
            go(i, false, (v) => finished(i, v, () => this.nextInBand()));
          } catch (err) {
            this.nextInBand();
            broke(err);
          }
        });
      }
    }
    if (left === 0) finish();
    try {
      await all;
    } finally {
      // Late events end with their batch.
      if (this.late?.batch === batch) this.late = undefined;
      this.detachWhenIdle();
    }
    const failure = failures.find((f) => f !== undefined);
    return failure ? { outcomes, failure } : { outcomes };
  }

  /**
   * Runs `start` when every in-band cell submitted before it (in any batch) has ended: the in-band order. The
   * next one starts in the same microtask as the previous one ends (no promise chain between two cells).
   */
  private inBand<T>(start: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queueInBand(() => {
        start().then((v) => { this.nextInBand(); resolve(v); }, (err: unknown) => { this.nextInBand(); reject(err); });
      });
    });
  }

  /** Queues `run` in the in-band order; `run` calls nextInBand() when its cell has ended. */
  private queueInBand(run: () => void): void {
    if (this.inBandRunning) this.inBandQueue.push(run);
    else {
      this.inBandRunning = true;
      // The first starts a microtask later, as it always did: after the batch is submitted.
      queueMicrotask(run);
    }
  }

  /**
   * The in-band cell that ran has ended: starts the next. A cell that ends at once (skipped, refused, no steps)
   * calls this again from inside next(): that call is counted and run by the loop here, so a long run of such
   * cells does not nest one call per cell.
   */
  private nextInBand(): void {
    if (this.inBandAdvancing) {
      this.inBandOwed++;
      return;
    }
    this.inBandAdvancing = true;
    try {
      this.inBandOwed = 1;
      while (this.inBandOwed > 0) {
        this.inBandOwed--;
        this.startNextInBand();
      }
    } finally {
      this.inBandAdvancing = false;
      this.inBandOwed = 0;
    }
  }

  private startNextInBand(): void {
    const next = this.inBandQueue[this.inBandHead];
    if (next === undefined) {
      this.inBandRunning = false;
      this.inBandQueue = [];
      this.inBandHead = 0;
      return;
    }
    this.inBandQueue[this.inBandHead++] = undefined;
    // Drop the started prefix now and then: the queue stays linear in the cells waiting.
    if (this.inBandHead > 1024 && this.inBandHead * 2 > this.inBandQueue.length) {
      this.inBandQueue = this.inBandQueue.slice(this.inBandHead);
      this.inBandHead = 0;
    }
    next();
  }

  /** Resolves when every in-band command now unanswered is answered or has run for busyMs. */
  private async untilBusy(): Promise<void> {
    const busyMs = this.options.busyMs ?? DEFAULT_BUSY_MS;
    for (const entry of this.open.filter((e) => !e.oob)) {
      const left = busyMs - (this.now() - entry.t0);
      if (left <= 0 || entry.settled) continue;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        timer = setTimeout(resolve, left);
        const before = entry.onSettled;
        entry.onSettled = () => { before?.(); resolve(); };
      });
      clearTimeout(timer);
    }
  }

  private emit(batch: Batch, record: TranscriptRecord): void {
    try {
      batch.sink(record);
    } catch {
      // A sink that throws must not stop the engine; the record is lost to that sink only.
    }
  }

  /**
   * Runs one cell and calls `then` once with how it ended; never throws (a bug in here rejects the batch). The
   * cell's steps run by callbacks (drive()): when a reply ends the cell, `then` runs in the same call.
   */
  private runJob(job: CellJob, batch: Batch, markSent: () => void, then: (end: CellEnd) => void): void {
    let state: RunningCell;
    let t0: number;
    try {
      if (batch.failed || job.signal?.aborted) {
        markSent();
        this.pending--;
        this.detachWhenIdle();
        this.emit(batch, { type: 'cell-finished', cell: job.cell, at: this.at(), outcome: 'skipped', ms: 0 });
        then({ outcome: 'skipped' });
        return;
      }
      t0 = this.now();
      state = { job, batch, step: undefined, waiting: false, eventsKept: 0, eventsDropped: 0 };
      if (job.awaitEvents && job.awaitEvents.names.length > 0) {
        const need = new Map<string, number>();
        for (const n of job.awaitEvents.names) need.set(n, (need.get(n) ?? 0) + 1);
        state.awaiting = { need, missing: job.awaitEvents.names.length, arrived: undefined };
      }
      // A cell starts: the cell that ended before it gets no more late events.
      this.late = undefined;
      const started: CellStartedRecord = { type: 'cell-started', cell: job.cell, at: this.at(), order: ++this.order };
      if (job.line !== undefined) started.line = job.line;
      // The cell runs from here: events from now on are its own (attribution, wait rule), also while its
      // caller has not handed over its client yet.
      if (this.attached) state.started = { client: this.attached.client, cursor: this.attached.client.eventCursor() };
      this.running.push(state);
      this.emit(batch, started);
    } catch (err) {
      batch.broke(err);
      return;
    }
    const cell = state;
    const start = t0;
    this.runCell(cell, markSent, (outcome) => {
      if (cell.awaiting !== undefined && outcome !== 'interrupted' && !(cell.failure && isSessionFailure(cell.failure.kind))) {
        this.awaitEvents(cell).then(
          () => this.jobEnded(cell, start, outcome, markSent, then),
          (err: unknown) => this.jobEnded(cell, start, this.failWith(cell, err), markSent, then));
        return;
      }
      this.jobEnded(cell, start, outcome, markSent, then);
    });
  }

  /** A cell's steps (and its awaited events) are over: its last records, then `then`. */
  private jobEnded(state: RunningCell, t0: number, outcome: RunOutcome, markSent: () => void, then: (end: CellEnd) => void): void {
    const { job, batch } = state;
    let end: CellEnd;
    try {
      markSent();
      const i = this.running.indexOf(state);
      if (i >= 0) this.running.splice(i, 1);
      if (state.jobOwner) this.jobs.ownerEnded(state.jobOwner);
      this.pending--;
      this.detachWhenIdle();
      // A test batch goes on after a failing cell, not after a lost connection.
      if (outcome !== 'succeeded' && (!batch.asTest || (state.failure !== undefined && isSessionFailure(state.failure.kind)))) batch.failed = true;
      if (state.name !== undefined) this.saveName(state, outcome);
      if (state.eventsDropped > 0) {
        this.emit(batch, { type: 'events-dropped', cell: job.cell, at: this.at(), count: state.eventsDropped, kept: this.eventsPerCell });
      }
      const t1 = this.now();
      this.emit(batch, { type: 'cell-finished', cell: job.cell, at: round(t1 - this.origin), outcome, ms: round(t1 - t0) });
      if (batch.asTest && !batch.failed && this.running.length === 0) this.late = state;
      end = state.failure ? { outcome, failure: state.failure } : { outcome };
    } catch (err) {
      batch.broke(err);
      return;
    }
    then(end);
  }

  /** The `awaitEvents` test rule: waits (as a wait step does, so events are the cell's) until they came, bounded. */
  private async awaitEvents(state: RunningCell): Promise<void> {
    const awaiting = state.awaiting;
    const limit = state.job.awaitEvents?.timeoutMs ?? 0;
    if (awaiting === undefined || awaiting.missing <= 0 || limit <= 0 || state.job.signal?.aborted) return;
    const waiting = awaiting;
    // (The cell is a running cell from its start to its end, runJob to jobEnded: events while it waits are its own.)
    state.waiting = true;
    const signal = state.job.signal;
    try {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, limit);
        const onAbort = (): void => done();
        signal?.addEventListener('abort', onAbort, { once: true });
        function done(): void {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          waiting.arrived = undefined;
          resolve();
        }
        waiting.arrived = done;
      });
    } finally {
      state.waiting = false;
    }
  }

  /** Saves a named cell's last reply under its name, or why there is none (a later reference says it). */
  private saveName(state: RunningCell, outcome: RunOutcome): void {
    const names = state.job.names ?? this.names;
    const name = state.name as string;
    const cell = state.job.cell;
    if (outcome === 'succeeded' && state.lastReply !== undefined) names.save(name, { ok: true, raw: state.lastReply, cell });
    else if (outcome === 'succeeded') names.save(name, { ok: false, reason: 'sent no command', cell });
    else names.save(name, { ok: false, reason: outcome === 'interrupted' ? 'was interrupted' : `failed (${state.failure?.message ?? outcome})`, cell });
  }

  /** An unexpected error ends the cell: its failure record (a kind from the error), never a throw. */
  private failWith(state: RunningCell, err: unknown): RunOutcome {
    return this.fail(state, failureKindOf(err), errorMessage(err));
  }

  private fail(state: RunningCell, kind: FailureKind, message: string, extra: Partial<FailureRecord> = {}): RunOutcome {
    const record: FailureRecord = { type: 'failure', cell: state.job.cell, at: this.at(), kind, message, ...extra };
    state.failure = record;
    this.emit(state.batch, record);
    return kind === 'interrupted' ? 'interrupted' : 'failed';
  }

  /** Listens to the client's events while cells run (detach() stops when none does). */
  private attach(client: EngineClient): void {
    if (this.lastClient !== client) {
      // A new client is a new QEMU session: QEMU owes nothing from the old one.
      this.busy = [];
      this.lastClient = client;
    }
    if (this.attached?.client === client) return;
    this.attached?.sub.dispose();
    this.attached = { client, sub: client.onEvent((e) => this.route(e)) };
  }

  /**
   * No cell runs or waits to run: events belong to no cell, so nothing needs to listen (and nothing keeps the
   * engine alive). Between the cells of a batch the subscription stays (an event then belongs to no cell
   * either), so a long batch does not subscribe and unsubscribe once per cell.
   */
  private detachWhenIdle(): void {
    if (this.pending > 0 || this.running.length > 0 || this.open.length > 0 || this.late !== undefined) return;
    this.attached?.sub.dispose();
    this.attached = undefined;
  }

  /** The attribution rule (see the file comment). */
  private route(event: QmpEventRecord): void {
    const owner = this.open[0]?.cell ?? this.running.find((c) => c.waiting) ?? this.running[this.running.length - 1] ?? this.late;
    if (owner) this.give(owner, event);
    // A late event is the ended cell's record, but the jobs it followed ended with it.
    if (this.jobs.watches(event.event)) this.jobs.event(event, owner && owner !== this.late ? this.jobOwner(owner) : undefined);
  }

  private give(owner: RunningCell, event: QmpEventRecord): void {
    const late = owner === this.late;
    const awaiting = owner.awaiting;
    if (awaiting) {
      const n = awaiting.need.get(event.event);
      if (n !== undefined && n > 0) {
        awaiting.need.set(event.event, n - 1);
        if (--awaiting.missing <= 0) awaiting.arrived?.();
      }
    }
    if (owner.eventsKept >= this.eventsPerCell) {
      // A late event beyond the cap is not counted: its cell has reported its count already.
      if (late) return;
      owner.eventsDropped++;
      return;
    }
    owner.eventsKept++;
    const step = this.open[0]?.cell === owner ? this.open[0].step : owner.step;
    this.emit(owner.batch, { type: 'event', cell: owner.job.cell, at: this.at(), ...(step !== undefined ? { step } : {}), ...(late ? { late: true } : {}), event });
  }

  /** Gets the cell's client and runs its steps; calls `done` once with how they ended. */
  private runCell(state: RunningCell, markSent: () => void, done: (outcome: RunOutcome) => void): void {
    const { job } = state;
    // A caller that refused the cell before connecting says why (a declined confirmation is not a lost connection).
    const refused = (err: unknown): RunOutcome => this.fail(state, err instanceof StopRequest ? err.kind : 'not-connected', errorMessage(err));
    let got: EngineClient | Promise<EngineClient>;
    try {
      got = job.client ? job.client() : this.options.client(job.cell);
    } catch (err) {
      done(refused(err));
      return;
    }
    if ('then' in got) {
      got.then((client) => this.startCell(state, client, markSent, done), (err: unknown) => done(refused(err)));
      return;
    }
    this.startCell(state, got, markSent, done);
  }

  /** The cell has its client: plans it and starts the step loop. */
  private startCell(state: RunningCell, client: EngineClient, markSent: () => void, done: (outcome: RunOutcome) => void): void {
    const { job } = state;
    let run: CellRun | undefined;
    let outcome: RunOutcome | undefined;
    try {
      if (job.signal?.aborted) outcome = this.stopped(state, job.signal.reason, undefined);
      else {
        this.attach(client);
        state.client = client;
        const plan = job.replan ? job.replan() : job.plan;
        if (plan.name !== undefined) state.name = plan.name;
        if (plan.problems.length > 0) {
          outcome = this.fail(state, 'not-sent-because-invalid',
            `The cell was not sent:\n${plan.problems.map(describeProblem).join('\n')}`,
            { problems: plan.problems.map((p) => ({ message: p.message, ...(p.line !== undefined ? { line: p.line } : {}), ...(p.column !== undefined ? { column: p.column } : {}) })) });
        } else {
          let lastCommand = -1;
          for (let i = 0; i < plan.steps.length; i++) if ((plan.steps[i] as CommandStep | WaitStep).kind === 'command') lastCommand = i;
          if (lastCommand < 0) markSent();
          // The cursor of the cell's start when the client is the one it started with (see RunningCell.started).
          const cursor = state.started?.client === client ? state.started.cursor : client.eventCursor();
          run = { state, client, plan, i: 0, lastCommand, markSent, cursor, used: undefined, done };
        }
      }
    } catch (err) {
      outcome = this.failWith(state, err);
    }
    if (run === undefined || outcome !== undefined) done(outcome ?? 'failed');
    else this.drive(run);
  }

  /**
   * The step loop: runs the cell's steps from `run.i` on, one after another while each completes at once. A step
   * that goes on later (a command waiting for its reply, a wait) returns PENDING and drives the loop on itself
   * when it completes; a command does so from the client's reply callback, in the turn that read the reply.
   */
  private drive(run: CellRun): void {
    let outcome: StepResult;
    try {
      outcome = this.steps(run);
    } catch (err) {
      // Not expected (each step turns every error into a failure); still a record, never a throw.
      outcome = this.failWith(run.state, err);
    }
    if (outcome !== PENDING) run.done(outcome ?? 'succeeded');
  }

  private steps(run: CellRun): StepResult {
    const { state, plan } = run;
    const { job } = state;
    for (; run.i < plan.steps.length; run.i++) {
      const i = run.i;
      const step = plan.steps[i] as CommandStep | WaitStep;
      state.step = i;
      if (job.signal?.aborted) return this.stopped(state, job.signal.reason, undefined);
      const result = step.kind === 'command' ? this.command(run, step, i) : this.waitStep(run, step, i);
      if (result !== undefined) return result;
    }
    if (plan.expect && plan.expect.events.length > 0) {
      this.expectEvents(state, run.client, plan.expect, run.cursor).then(run.done,
        (err: unknown) => run.done(this.failWith(state, err)));
      return PENDING;
    }
    return 'succeeded';
  }

  /** A step done: the loop goes on with the next one (undefined), or the cell ends with `outcome`. */
  private stepDone(run: CellRun, i: number, outcome: RunOutcome | undefined): void {
    if (outcome !== undefined) {
      run.done(outcome);
      return;
    }
    run.i = i + 1;
    this.drive(run);
  }

  /** A wait step (wait()), driving the loop on when it is over. */
  private waitStep(run: CellRun, step: WaitStep, i: number): StepResult {
    this.wait(run.state, run.client, step, i, run.cursor, (run.used ??= new Set())).then(
      (outcome) => this.stepDone(run, i, outcome),
      (err: unknown) => run.done(this.failWith(run.state, err)));
    return PENDING;
  }

  /** Checks the cell's expected events (see the file comment); one `expected-event` record each. */
  private async expectEvents(state: RunningCell, client: EngineClient, expect: EventExpectations, cursor: number): Promise<RunOutcome> {
    const { job, batch } = state;
    const t0 = this.now();
    const cap = this.options.expectedEventsTimeoutMs;
    const timeoutMs = cap !== undefined && cap < expect.timeoutMs ? cap : expect.timeoutMs;
    const matcher = new EventMatcher(expect);
    let why: string | undefined;
    state.waiting = true;
    try {
      // The predicate sees every event after the cursor once, in order (history first, then live ones).
      await client.waitForEvent((e) => matcher.feed(e), { after: cursor, timeoutMs, ...(job.signal ? { signal: job.signal } : {}) });
    } catch (err) {
      if (err instanceof CommandCancelledError && job.signal?.aborted) {
        const { kind, said } = stopReason(job.signal.reason);
        return this.fail(state, kind, `${said}: the wait for the cell's expected events was stopped.`);
      }
      if (err instanceof EventTimeoutError) why = `did not arrive within ${timeoutMs} ms`;
      else if (err instanceof EventsDroppedError) why = `could not be checked: ${errorMessage(err)}`;
      else return this.fail(state, failureKindOf(err), `while waiting for the cell's expected events: ${errorMessage(err)}`);
    } finally {
      state.waiting = false;
    }
    const ms = round(this.now() - t0);
    for (const v of matcher.verdicts()) {
      const x = expect.events[v.index];
      if (!x) continue;
      const message = v.match ? undefined
        : v.outOfOrder ? `${x.event} arrived, but not in the order written (order matters unless the cell says // test: any-order)`
          : `${x.event} ${why ?? 'did not arrive'}`;
      this.emit(batch, {
        type: 'expected-event', cell: job.cell, at: this.at(), index: v.index, event: x.event, expected: x.text, match: v.match,
        ...(v.actual ? { actual: v.actual.raw } : {}), ...(message !== undefined ? { message } : {}), line: x.line, ms,
      });
    }
    return 'succeeded';
  }

  /** A failure for a stop the caller asked for. `what`: the command or wait that was running. */
  private stopped(state: RunningCell, reason: unknown, what: { step: number; text: string } | undefined): RunOutcome {
    const { kind, said } = stopReason(reason);
    const message = what ? `${said}: ${what.text}` : `${said}.`;
    return this.fail(state, kind, message, what ? { step: what.step } : {});
  }

  /**
   * Sends one command: PENDING, and the loop goes on from the reply (stepDone()); an outcome when the cell ends
   * before anything is sent.
   */
  private command(run: CellRun, planned: CommandStep, i: number): StepResult {
    const { state, client } = run;
    const markSent = i === run.lastCommand ? run.markSent : undefined;
    const { job, batch } = state;
    const cell = job.cell;
    let step = planned;
    if (planned.refs) {
      // Named replies are substituted now, from the replies saved when the earlier cells ended (namedReplies.ts).
      const s = substituteStep(planned, job.names ?? this.names);
      if ('error' in s) {
        return this.fail(state, 'not-sent-because-invalid', `${planned.name} was not sent: ${s.error}`, { step: i, command: planned.name });
      }
      step = s.step;
    }
    let written: { sent: string; idText: string } | undefined;
    if (!step.oob && this.busy.length > 0) {
      this.emit(batch, { type: 'blocked', cell, at: this.at(), step: i, behind: this.busy.map((b) => ({ ...b })) });
    }
    // One clock read for the `sent` record and the command's start (a record's `at` and a `ms` agree).
    const t0 = this.now();
    this.emit(batch, { type: 'sent', cell, at: round(t0 - this.origin), step: i, command: step.name, oob: step.oob, label: step.label, line: step.line });
    const options: CommandOptions = {
      onWritten: (w) => {
        written = w;
        this.emit(batch, { type: 'written', cell, at: this.at(), step: i, command: step.name, idText: w.idText, wire: w.sent });
      },
    };
    if (job.signal) options.signal = job.signal;
    const limit = this.options.commandTimeoutMs;
    const timeoutMs = typeof limit === 'function' ? limit() : limit;
    if (timeoutMs !== undefined && timeoutMs > 0) options.timeoutMs = timeoutMs;
    // Events after this cursor are about the jobs the command starts or drives (progress.ts).
    const followsJobs = this.jobs.names(step.name);
    const jobCursor = followsJobs ? client.eventCursor() : 0;
    const entry: OpenCommand = { cell: state, step: i, oob: step.oob, t0 };
    this.open.push(entry);
    const settle = (): void => {
      const k = this.open.indexOf(entry);
      if (k >= 0) this.open.splice(k, 1);
      entry.settled = true;
      entry.onSettled?.();
    };
    const sent = step;
    // Called by the client in the turn that read the reply (sendThen), or a promise's reaction later (send).
    const onReply = (reply: CommandReply): void => {
      let outcome: RunOutcome | undefined;
      try {
        settle();
        outcome = this.replied(state, sent, i, reply, t0, followsJobs, jobCursor);
      } catch (err) {
        outcome = this.failWith(state, err);
      }
      this.stepDone(run, i, outcome);
    };
    const onError = (err: unknown): void => {
      let outcome: RunOutcome;
      try {
        settle();
        outcome = this.commandFailed(state, sent, i, err, written);
      } catch (e) {
        outcome = this.failWith(state, e);
      }
      run.done(outcome);
    };
    try {
      if (client.sendThen) client.sendThen(step.input, options, onReply, onError);
      else client.send(step.input, options).then(onReply, onError);
    } catch (err) {
      settle();
      return this.commandFailed(state, step, i, err, written);
    }
    markSent?.();
    return PENDING;
  }

  /** A command's reply: its records; an outcome when the cell ends here, undefined to go on. */
  private replied(state: RunningCell, step: CommandStep, i: number, reply: CommandReply, t0: number, followsJobs: boolean, jobCursor: number): RunOutcome | undefined {
    const { job, batch } = state;
    const cell = job.cell;
    // QEMU answers in-band commands in order: everything it owed before this one is answered now.
    if (!step.oob && this.busy.length > 0) this.busy = [];
    const t1 = this.now();
    const record: ReplyRecord = {
      type: 'reply', cell, at: round(t1 - this.origin), step: i, command: step.name, idText: reply.idText, ok: reply.ok,
      raw: reply.raw, wire: reply.sent, ms: round(t1 - t0), line: step.line,
    };
    if (reply.ok) record.value = reply.value;
    else record.error = reply.error;
    this.emit(batch, record);
    state.lastReply = reply.raw;
    if (step.expected) {
      // The one comparator (compare.ts): masks and exact integers, as the test runner compares.
      const c = compareReplyText(step.expected.text, reply.raw, step.expected.masks ? { masks: step.expected.masks } : {});
      this.emit(batch, { type: 'expected-reply', cell, at: this.at(), step: i, expected: step.expected.text, actual: reply.raw, match: c.match, differences: c.differences });
    }
    if (reply.ok && followsJobs) {
      const owner = this.jobOwner(state);
      if (owner) this.jobs.commandSucceeded(owner, step.input, jobCursor);
    }
    if (!reply.ok) {
      return this.fail(state, 'qemu-error', `${step.name}: ${reply.error.class}: ${reply.error.desc}`,
        { step: i, command: step.name, wire: reply.sent, idText: reply.idText });
    }
    return undefined;
  }

  private commandFailed(state: RunningCell, step: CommandStep, i: number, err: unknown,
    written: { sent: string; idText: string } | undefined): RunOutcome {
    const extra: Partial<FailureRecord> = { step: i, command: step.name, ...(written ? { wire: written.sent, idText: written.idText } : {}) };
    const owed = (): void => { if (written && !step.oob) this.busy.push({ cell: state.job.cell, command: step.name }); };
    if (err instanceof CommandCancelledError && state.job.signal?.aborted) {
      owed();
      const { kind, said } = stopReason(state.job.signal.reason);
      const message = written
        ? `${said} while ${step.name} was running: QEMU may still be working on it; its late reply will be dropped.`
        : `${said} before ${step.name} was sent; nothing of it reached QEMU.`;
      return this.fail(state, kind, message, extra);
    }
    if (err instanceof CommandTimeoutError) {
      if (!written) {
        const n = this.busy.length;
        return this.fail(state, 'queued-behind-wedged-window',
          `${step.name} was never sent: QEMU has not answered ${n > 0 ? `${n} earlier in-band command${n === 1 ? '' : 's'}` : 'the earlier in-band commands'} ` +
          `and this one waited behind them for ${err.timeoutMs} ms. Reconnect to start a fresh session.`, extra);
      }
      owed();
      return this.fail(state, 'timeout', `${step.name}: no reply within ${err.timeoutMs} ms; QEMU may still be working on it.`, extra);
    }
    const kind = failureKindOf(err);
    const message = kind === 'not-sent-because-invalid' ? `${errorMessage(err)}. Nothing was sent.` : errorMessage(err);
    return this.fail(state, kind, message, err instanceof OobRefusedError ? { ...extra, code: 'oob-refused' } : extra);
  }

  /** Waits for an event by the wait rule; returns an outcome when the cell ends here, undefined to go on. */
  private async wait(state: RunningCell, client: EngineClient, step: WaitStep, i: number, cursor: number,
    used: Set<number>): Promise<RunOutcome | undefined> {
    const { job, batch } = state;
    const t0 = this.now();
    const wanted = step.data;
    state.waiting = true;
    try {
      const seen = await client.waitForEvent(
        (e) => e.event === step.event && !used.has(e.seq) && (wanted === undefined || eventDataMatches(wanted, e.data ?? {})),
        { after: cursor, timeoutMs: step.timeoutMs, ...(job.signal ? { signal: job.signal } : {}) },
      );
      used.add(seen.seq);
      this.emit(batch, { type: 'wait-satisfied', cell: job.cell, at: this.at(), step: i, event: step.event, seq: seen.seq, raw: seen.raw, ms: round(this.now() - t0), line: step.line });
      return undefined;
    } catch (err) {
      const what = wanted === undefined ? step.event : `${step.event} with ${JSON.stringify(wanted)}`;
      if (err instanceof CommandCancelledError && job.signal?.aborted) {
        const { kind, said } = stopReason(job.signal.reason);
        return this.fail(state, kind, `${said}: the wait for ${what} was stopped.`, { step: i });
      }
      if (err instanceof EventTimeoutError) {
        this.emit(batch, {
          type: 'wait-timed-out', cell: job.cell, at: this.at(), step: i, event: step.event, ...(wanted ? { data: wanted } : {}),
          timeoutMs: step.timeoutMs, ms: round(this.now() - t0), line: step.line,
        });
        return this.fail(state, 'timeout', `no ${what} within ${step.timeoutMs} ms`, { step: i });
      }
      return this.fail(state, failureKindOf(err), `while waiting for ${what}: ${errorMessage(err)}`, { step: i });
    } finally {
      state.waiting = false;
    }
  }

  /** The keys of the cells running now, oldest first (a door tells a queued cell what it waits for). */
  runningCells(): number[] {
    return this.running.map((c) => c.job.cell);
  }

  dispose(): void {
    this.jobs.dispose();
    this.attached?.sub.dispose();
    this.attached = undefined;
  }
}
