// The transcript: what running cells produced, as a stream of typed records. The engine (engine.ts) emits
// them as things happen; the notebook controller renders them as cell outputs, the CLI prints them (text or
// one JSON object per record with --json), and `qmp-notebook test` compares them. These shapes are a
// contract: add optional members, never rename or remove.
//
// Every record names the cell it belongs to by the caller's key (`cell`: the CLI and the test runner use
// the 1-based position of the cell in the notebook, markdown cells counted; the controller uses the cell's
// 0-based index). `step` is the 0-based index of the step (command or wait) in the cell's plan.
// `at` is milliseconds since the engine was created (a monotonic clock), for ordering and timings.

import type { QmpEventRecord } from '../qmp/client';
import type { JobEnd, JobView } from './progress';

/**
 * Why a cell failed.
 * - `qemu-error`: QEMU answered a command with an error reply.
 * - `protocol`: QEMU sent something a QMP client cannot accept; the session is gone.
 * - `connection-lost`: the connection ended (or was never there) while the cell ran.
 * - `not-connected`: connecting before the cell's first command failed.
 * - `timeout`: a command got no reply in time, or a wait saw no matching event in time.
 * - `interrupted`: the user (or the caller's AbortSignal) stopped the cell.
 * - `not-sent-because-invalid`: the cell has problems, or the client refused the command before sending
 *   it (out-of-band not allowed, an id already in flight, nested too deep); nothing of it reached QEMU.
 * - `queued-behind-wedged-window`: the command timed out without ever being written, because QEMU had not
 *   answered the earlier in-band commands that fill the client's in-band window.
 */
export type FailureKind =
  | 'qemu-error' | 'protocol' | 'connection-lost' | 'not-connected' | 'timeout' | 'interrupted'
  | 'not-sent-because-invalid' | 'queued-behind-wedged-window';

/** How a cell's run ended. `skipped`: an earlier cell of the same batch failed, so it never started. */
export type RunOutcome = 'succeeded' | 'failed' | 'interrupted' | 'skipped';

interface RecordBase {
  /** The caller's key of the cell (see the file comment). */
  cell: number;
  /** Milliseconds since the engine was created. */
  at: number;
}

/** The cell left the queue and is about to connect and send. `order`: 1, 2, 3... per engine. */
export interface CellStartedRecord extends RecordBase {
  type: 'cell-started';
  order: number;
  /** 1-based line of the cell's first source line in its file, when the caller knows it. */
  line?: number;
}

/** A command was handed to the client (written at once, or queued behind the in-band window). */
export interface SentRecord extends RecordBase {
  type: 'sent';
  step: number;
  command: string;
  oob: boolean;
  /**
   * A compact label of the command, as a reader wants to see it above its reply: the `->` JSON without the
   * id the client made up (with the author's own id when the cell gives one). Never the made-up `"#8"`.
   */
  label: string;
  /** 1-based line in the file (CLI) or 0-based line in the cell (controller), as the plan gave it. */
  line?: number;
}

/** The exact text written to the socket for a command, with its id (from the client when it was written). */
export interface WrittenRecord extends RecordBase {
  type: 'written';
  step: number;
  command: string;
  /** The id as JSON text, exactly as sent (`"#3"`, or the author's own). */
  idText: string;
  wire: string;
}

/** QEMU answered a command of the cell. */
export interface ReplyRecord extends RecordBase {
  type: 'reply';
  step: number;
  command: string;
  idText: string;
  ok: boolean;
  /** The `return` value (ok replies). */
  value?: unknown;
  /** The `error` member (error replies). */
  error?: { class: string; desc: string };
  /** QEMU's reply text, exactly as received. */
  raw: string;
  /** The command text exactly as written to the socket. */
  wire: string;
  /** From handing the command to the client to its reply. */
  ms: number;
  /** The command's line, as the plan gave it (see SentRecord.line). */
  line?: number;
}

/**
 * An event, given to one cell by the attribution rule (docs/notebook-format.md, "Which cell an event
 * belongs to"): the cell of the oldest command still waiting for its reply; else the oldest running cell
 * that waits for an event; else the cell of the last command sent. Each event is given to one cell only.
 */
export interface EventRecordEntry extends RecordBase {
  type: 'event';
  /** The step that was running when the event came, when there was one. */
  step?: number;
  /**
   * A late event (test rules only, engine.ts): it came after its cell ended and before the next cell started;
   * its record follows the cell's `cell-finished`.
   */
  late?: boolean;
  event: QmpEventRecord;
}

/** A cell received more than `eventsPerCell` events; the ones beyond were counted, not kept. */
export interface EventsDroppedRecord extends RecordBase {
  type: 'events-dropped';
  count: number;
  /** The cap that was reached. */
  kept: number;
}

/** A wait clause was satisfied. */
export interface WaitSatisfiedRecord extends RecordBase {
  type: 'wait-satisfied';
  step: number;
  event: string;
  seq: number;
  raw: string;
  ms: number;
  /** The wait's line, as the plan gave it (see SentRecord.line). */
  line?: number;
}

/** A wait clause saw no matching event in time (a `failure` of kind `timeout` follows). */
export interface WaitTimedOutRecord extends RecordBase {
  type: 'wait-timed-out';
  step: number;
  event: string;
  data?: Record<string, unknown>;
  timeoutMs: number;
  ms: number;
  line?: number;
}

/** A pasted `<-` reply compared with what QEMU said to the command above it. */
export interface ExpectedReplyRecord extends RecordBase {
  type: 'expected-reply';
  step: number;
  /** The `<-` text as the author wrote it. */
  expected: string;
  /** QEMU's reply text. */
  actual: string;
  match: boolean;
  /** What differs, one line each (`return.status: expected "running", QEMU said "paused"`); empty on a match. */
  differences: string[];
}

/**
 * An event written in the cell (`<- {"event": …}`) checked against the events QEMU sent since the cell
 * started (docs/notebook-format.md, "Expected events"). One record per expected event, in the order
 * written, after the cell's last step; none when the cell failed before (nothing was checked).
 */
export interface ExpectedEventRecord extends RecordBase {
  type: 'expected-event';
  /** 0-based index among the cell's expected events. */
  index: number;
  event: string;
  /** The `<-` text as the author wrote it (without the arrow). */
  expected: string;
  match: boolean;
  /** QEMU's event text, when one matched. */
  actual?: string;
  /** Why it did not match: it did not come in time, or came out of the written order. */
  message?: string;
  /** 0-based line in the cell (controller) or 1-based line in the file (CLI), as the plan gave it. */
  line?: number;
  /** How long the cell waited for its expected events after its last step. */
  ms: number;
}

/**
 * An in-band command of this cell went out while QEMU was still working on earlier in-band commands that
 * were interrupted or timed out (their replies are still due): QEMU answers in order, so this one waits.
 */
export interface BlockedRecord extends RecordBase {
  type: 'blocked';
  step: number;
  /** The commands QEMU is still busy with, oldest first: their cell and name. */
  behind: Array<{ cell: number; command: string }>;
}

/** Why the cell failed. A cell has at most one failure, followed by its `cell-finished`. */
export interface FailureRecord extends RecordBase {
  type: 'failure';
  kind: FailureKind;
  /** One line (or a few) a person can act on; names the command or wait and its line where known. */
  message: string;
  step?: number;
  command?: string;
  /** The command's text as written (or as it would have been), when there is one. */
  wire?: string;
  /** The id the command went out with, when it was written (a command sent but never answered). */
  idText?: string;
  /** A finer cause where one helps: `oob-refused` (the client refused out-of-band before sending). */
  code?: 'oob-refused';
  /** Problems that kept the cell from being sent (kind `not-sent-because-invalid`). */
  problems?: Array<{ message: string; line?: number; column?: number }>;
}

/**
 * What is known now of a job (block job or migration) the cell started or drives (progress.ts says which):
 * QEMU's status and counters, with the speed and time left estimated from them. One record when something
 * changed, at most as often as the connection's bounded polls and QEMU's job events; none after its
 * `job-finished`. A door draws them (a progress bar) and may drop them.
 */
export interface JobProgressRecord extends RecordBase, JobView {
  type: 'job-progress';
}

/**
 * A job the cell followed ended (`outcome` `concluded` or `aborted`, with QEMU's error when it said one), or
 * the cell ended while the job still ran (`running`). Exactly one per job the cell followed, before its
 * `cell-finished`.
 */
export interface JobFinishedRecord extends RecordBase, JobEnd {
  type: 'job-finished';
}

/** The cell ended. Every `cell-started` is followed by exactly one `cell-finished`; skipped cells get only this. */
export interface CellFinishedRecord extends RecordBase {
  type: 'cell-finished';
  outcome: RunOutcome;
  ms: number;
}

export type TranscriptRecord =
  | CellStartedRecord | SentRecord | WrittenRecord | ReplyRecord | EventRecordEntry | EventsDroppedRecord
  | WaitSatisfiedRecord | WaitTimedOutRecord | ExpectedReplyRecord | ExpectedEventRecord | BlockedRecord | FailureRecord | CellFinishedRecord
  | JobProgressRecord | JobFinishedRecord;

export type TranscriptSink = (record: TranscriptRecord) => void;
