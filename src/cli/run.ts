// The heart of `qmp-notebook run`: runs the planned cells on the engine (src/run) and prints its transcript
// as `->`/`<-` text or as one JSON object per record. The rules of running (scheduler, waits, which cell an
// event belongs to, stopping at the first failure) are the engine's; this file only prints.
//
// Order of output: cell order. The records of the first unfinished cell are printed as they come; records
// of a cell further down (an out-of-band cell that overtook a busy one) are held until every cell above it has
// finished, then printed. Held records are bounded: the engine keeps at most `eventsPerCell` events per cell.
//
// When: the records of a turn of the event loop (a reply, the end of its cell, the next cell's start and its
// command written) are printed when that turn's synchronous work is done, from one microtask: after the next
// command has gone out, while QEMU works on it, never in between a reply and the next command. (Printing many
// cells at once every 20 ms instead put that batch in front of whichever reply arrived meanwhile: `--json` runs
// took 2–3% longer.) Standard output itself is still written at most every 20 ms or 64 KiB (src/cli.ts).
import { parseJsonTree } from '../run/jsonTree';
import { isSessionFailure, RunEngine, type BatchResult, type CellJob, type EngineClient, type FailureRecord, type JobView, type TranscriptRecord } from '../run/index';
import { jobLine } from '../run/recordText';
import { plainAscii } from '../qmp/wire';

export interface RunIo {
  /** Writes one line (without its newline) to standard output. */
  out(line: string): void;
  /** Writes one line to standard error. */
  err(line: string): void;
}

export interface RunOptions {
  json: boolean;
  /** Stops the run (the CLI's --timeout deadline); the reason is a StopRequest. */
  signal?: AbortSignal;
  /** Cap on event records per cell (default: the engine's). */
  eventsPerCell?: number;
  /** Time limit of each command. */
  commandTimeoutMs?: number;
  /**
   * Draws the live jobs' progress (a terminal's progress line on standard error): called with one line for
   * every job the cells follow, '' when none is live. Default: none.
   */
  jobProgress?(text: string): void;
}

/** How a run ended; the CLI turns it into an exit code. */
export type RunResult =
  | { status: 'ok' }
  /** A QEMU error reply, a command refused before sending, a command or event-wait timeout: exit 1. */
  | { status: 'failed'; cell: number; message: string }
  /** The connection was lost (or QEMU broke the protocol): exit 2. */
  | { status: 'disconnected'; cell: number; message: string };

/** What runs a batch of cells: a kernel (src/kernel), or an engine. */
export interface CellRunner {
  run(jobs: readonly CellJob[], sink: (r: TranscriptRecord) => void): Promise<BatchResult>;
}

/** A cell of the notebook, planned, with its 1-based position and the line of its first source line. */
export type RunCell = Omit<CellJob, 'signal' | 'replan'>;

/** Prints transcript records in cell order (see the file comment). */
export class TranscriptPrinter {
  private head = 0;
  private readonly held = new Map<number, TranscriptRecord[]>();
  private readonly position = new Map<number, number>();
  private readonly finished = new Set<number>();
  private readonly lines = new Map<number, number | undefined>();

  constructor(private readonly io: RunIo, private readonly json: boolean, private readonly cells: readonly RunCell[]) {
    cells.forEach((c, i) => { this.position.set(c.cell, i); this.lines.set(c.cell, c.line); });
  }

  write(r: TranscriptRecord): void {
    const pos = this.position.get(r.cell) ?? this.head;
    if (pos === this.head) this.print(r);
    else {
      let list = this.held.get(r.cell);
      if (!list) this.held.set(r.cell, (list = []));
      list.push(r);
    }
    if (r.type === 'cell-finished') {
      this.finished.add(r.cell);
      while (this.head < this.cells.length && this.finished.has((this.cells[this.head] as RunCell).cell)) {
        this.head++;
        const next = this.cells[this.head];
        if (!next) break;
        const list = this.held.get(next.cell);
        this.held.delete(next.cell);
        for (const h of list ?? []) this.print(h);
      }
    }
  }

  private where(cell: number): string {
    const line = this.lines.get(cell);
    return `cell ${cell}${line !== undefined ? ` (line ${line})` : ''}`;
  }

  private print(r: TranscriptRecord): void {
    if (this.json) {
      this.io.out(jsonLine(r));
      if (r.type === 'failure') this.io.err(`qmp-notebook: ${this.failureText(r)}`);
      return;
    }
    const out = (l: string): void => this.io.out(l);
    switch (r.type) {
      case 'cell-started': out(`// ${this.where(r.cell)}`); break;
      case 'written': out(`-> ${r.wire}`); break;
      case 'reply': {
        // An HMP reply is text for a person: printed as its lines, not as an escaped JSON string.
        const text = r.command === 'human-monitor-command' && r.ok ? hmpText(r.raw) : undefined;
        if (text === undefined) out(`<- ${r.raw.trimEnd()}`);
        else for (const l of text === '' ? [] : text.split('\n')) out(l);
        break;
      }
      case 'event': out(`<- ${r.event.raw.trimEnd()}`); break;
      case 'events-dropped': out(`// ${r.count} more event${r.count === 1 ? '' : 's'} not shown (a cell keeps the first ${r.kept})`); break;
      case 'wait-satisfied': out(`// ${r.event} arrived (waited ${r.ms} ms)`); break;
      case 'expected-reply':
      case 'expected-event':
        out(expectationNote(r));
        break;
      case 'job-finished': out(`// job ${jobLine(r, false)}`); break;
      case 'blocked':
        out(`// waiting: QEMU is still working on ${r.behind.map((b) => `${b.command} (cell ${b.cell})`).join(', ')}, and answers in-band commands in order`);
        break;
      case 'failure': this.io.err(`qmp-notebook: ${this.failureText(r)}`); break;
      default: break;
    }
  }

  failureText(r: FailureRecord): string {
    const cell = this.cells[this.position.get(r.cell) ?? -1];
    const step = r.step !== undefined ? cell?.plan.steps[r.step] : undefined;
    const at = step && cell?.line !== undefined && step.line !== cell.line ? ` (line ${step.line})` : '';
    if (r.kind === 'connection-lost' || r.kind === 'protocol') {
      const sep = r.message.startsWith('while ') ? ' ' : ': ';
      return `QEMU went away during ${this.where(r.cell)}${r.command ? `; ${r.command} got no reply` : ''}${sep}${r.message}`;
    }
    if (r.kind === 'not-sent-because-invalid' && r.problems) return `${this.where(r.cell)}: ${r.message}`;
    if (r.kind === 'qemu-error') return `${this.where(r.cell)}: ${r.command ?? ''}${at}: ${r.message.slice((r.command ?? '').length + 2)}`;
    return `${this.where(r.cell)}${at}: ${r.message}`;
  }
}

/** The note on a written `<-` reply or event: whether it matched, and how not (`run`'s text, the shell's). */
export function expectationNote(r: Extract<TranscriptRecord, { type: 'expected-reply' | 'expected-event' }>): string {
  if (r.type === 'expected-reply') return r.match ? '// the reply matches the expected <- reply' : `// the reply differs from the expected <- reply: ${r.differences.join('; ')}`;
  return r.match ? `// the expected event ${r.event} arrived` : `// the expected event did not match: ${r.message ?? r.event}; expected <- ${r.expected}`;
}

/** An HMP reply's text (the `return` string) without its final line end; undefined when not a string reply. */
export function hmpText(raw: string): string | undefined {
  const tree = parseJsonTree(raw.trim());
  const ret = tree?.type === 'object' ? tree.members.find((m) => m.key === 'return')?.value : undefined;
  return ret?.type === 'string' ? ret.value.replace(/\r?\n$/, '').replace(/\r\n/g, '\n') : undefined;
}

/** The last string str() escaped, and its JSON: a command's wire text is in its `written` and its `reply` record. */
let lastIn = '';
let lastOut = '""';

/** JSON.stringify of a string, without its cost for the plain ASCII of command names and wire text. */
function str(s: string): string {
  if (s === lastIn) return lastOut;
  const out = plainAscii(s) ? `"${s}"` : JSON.stringify(s);
  if (s.length > 16) {
    lastIn = s;
    lastOut = out;
  }
  return out;
}

/** The version of the machine records (`--json`, `qmp.runCell`): schemas/transcript.schema.json. */
export const TRANSCRIPT_FORMAT = 1;

/** The first record of a `--json` transcript: what it is and its format version. */
export function formatLine(): string {
  return `{"type":"transcript","format":${TRANSCRIPT_FORMAT}}`;
}

/**
 * A record as the machine interface gives it (`--json` lines, `qmp.runCell`'s `records`): one set of names.
 * One JSON object per record. QEMU's own texts (replies, events, ids) are embedded as they came, so that
 * numbers beyond 2^53 reach the reader exactly; everything else is JSON.stringify'd.
 */
export function jsonLine(r: TranscriptRecord): string {
  switch (r.type) {
    case 'reply':
      return `{"type":"reply","cell":${r.cell},"step":${r.step},"command":${str(r.command)},"id":${r.idText},` +
        `"ok":${r.ok},"reply":${r.raw.trim()},"sent":${str(r.wire)},"ms":${r.ms},"at":${r.at}${r.line !== undefined ? `,"line":${r.line}` : ''}}`;
    case 'event':
      return `{"type":"event","cell":${r.cell},${r.step !== undefined ? `"step":${r.step},` : ''}${r.late === true ? '"late":true,' : ''}"event":${r.event.raw.trim()},"at":${r.at}}`;
    case 'written':
      return `{"type":"written","cell":${r.cell},"step":${r.step},"command":${str(r.command)},"id":${r.idText},"sent":${str(r.wire)},"at":${r.at}}`;
    case 'wait-satisfied':
      return `{"type":"wait-satisfied","cell":${r.cell},"step":${r.step},"wait-event":${str(r.event)},"event":${r.raw.trim()},"ms":${r.ms},"at":${r.at}${r.line !== undefined ? `,"line":${r.line}` : ''}}`;
    case 'cell-started':
      return `{"type":"cell-started","cell":${r.cell},"at":${r.at},"order":${r.order}${r.line !== undefined ? `,"line":${r.line}` : ''}}`;
    case 'sent':
      return `{"type":"sent","cell":${r.cell},"at":${r.at},"step":${r.step},"command":${str(r.command)},"oob":${r.oob},` +
        `"label":${str(r.label)}${r.line !== undefined ? `,"line":${r.line}` : ''}}`;
    case 'cell-finished':
      return `{"type":"cell-finished","cell":${r.cell},"at":${r.at},"outcome":"${r.outcome}","ms":${r.ms}}`;
    case 'failure': {
      // The written text is `sent`, as in `written` and `reply` records (the engine's field is `wire`).
      const { idText, wire, ...rest } = r;
      const text = JSON.stringify(wire === undefined ? rest : { ...rest, sent: wire });
      return idText === undefined ? text : `${text.slice(0, -1)},"id":${idText}}`;
    }
    default:
      return JSON.stringify(r);
  }
}

/**
 * The progress of the jobs running cells follow, as one line (`m0 (mirror): running, 45% […] 16.0 MiB/s, 2 s
 * left; b0 (backup): …`) for a terminal's progress line: redrawn on each `job-progress` record (at most as
 * often as the engine's bounded polls), '' once no job is live. `run` and `test` draw it on standard error,
 * only on a terminal.
 */
export class JobProgressLine {
  private readonly live = new Map<string, JobView>();

  constructor(private readonly show: (text: string) => void) {}

  write(r: TranscriptRecord): void {
    if (r.type !== 'job-progress' && r.type !== 'job-finished') return;
    const key = `${r.cell}\u0000${r.kind}\u0000${r.job}`;
    if (r.type === 'job-progress') this.live.set(key, r);
    else if (!this.live.delete(key)) return;
    this.show([...this.live.values()].map((v) => jobLine(v)).join('; '));
  }

  /** No job is shown any more (the run ended). */
  clear(): void {
    if (this.live.size === 0) return;
    this.live.clear();
    this.show('');
  }
}

/** At most this many records wait to be printed; more are printed at once. */
const MAX_DEFERRED = 1024;

/**
 * Hands the records of a turn to a printer when the turn's synchronous work is done (see the file comment): the
 * path from a reply to the next command only pushes the record, and one microtask per turn prints them, after
 * the next command was written.
 */
class DeferredPrinter {
  /** Two queues used in turn (records written while one is printed go to the other): no new array per print. */
  private queue: TranscriptRecord[] = [];
  private spare: TranscriptRecord[] = [];
  private printing = false;
  private scheduled = false;
  private readonly onTurnDone = (): void => {
    this.scheduled = false;
    this.flush();
  };

  constructor(private readonly printer: TranscriptPrinter) {}

  write(r: TranscriptRecord): void {
    this.queue.push(r);
    if (this.queue.length >= MAX_DEFERRED && !this.printing) this.flush();
    else if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(this.onTurnDone);
    }
  }

  /**
   * Prints everything waiting, now. Called again while it prints (a printer that wrote a record), it leaves the
   * new records queued: the microtask write() scheduled prints them after the ones being printed, in order.
   */
  flush(): void {
    if (this.printing) return;
    const queue = this.queue;
    this.printing = true;
    this.queue = this.spare;
    try {
      for (let i = 0; i < queue.length; i++) this.printer.write(queue[i] as TranscriptRecord);
    } finally {
      queue.length = 0;
      this.spare = queue;
      this.printing = false;
    }
  }
}

/**
 * Runs the cells in order on one engine and prints the transcript. Never throws for QEMU or connection
 * problems. The client is connected already.
 */
export async function runCells(on: EngineClient | CellRunner, cells: readonly RunCell[], options: RunOptions, io: RunIo): Promise<RunResult> {
  // A kernel's one engine (the connection's), or an engine of this run on a bare client.
  const own = 'run' in on ? undefined : new RunEngine({
    client: () => on,
    ...(options.eventsPerCell !== undefined ? { eventsPerCell: options.eventsPerCell } : {}),
    ...(options.commandTimeoutMs !== undefined ? { commandTimeoutMs: options.commandTimeoutMs } : {}),
  });
  const engine: CellRunner = own ?? (on as CellRunner);
  const printer = new TranscriptPrinter(io, options.json, cells);
  if (options.json) io.out(formatLine());
  const deferred = new DeferredPrinter(printer);
  const jobs = options.jobProgress ? new JobProgressLine(options.jobProgress) : undefined;
  try {
    const cellJobs: CellJob[] = options.signal ? cells.map((c) => ({ ...c, signal: options.signal as AbortSignal })) : [...cells];
    const result = await engine.run(cellJobs, (r) => { jobs?.write(r); deferred.write(r); });
    deferred.flush();
    const f = result.failure;
    if (!f) return { status: 'ok' };
    const message = printer.failureText(f);
    return isSessionFailure(f.kind) ? { status: 'disconnected', cell: f.cell, message } : { status: 'failed', cell: f.cell, message };
  } finally {
    jobs?.clear();
    deferred.flush();
    own?.dispose();
  }
}
