// The heart of `qmp-notebook run`: sends the commands of parsed cells through a connected client, cell by
// cell like the notebook's Run All, and reports what happened as `->`/`<-` text or as JSON lines.
//
// Like the notebook controller: the commands of a cell go out one after another, each after the reply of the
// one before; in-band cells run in order and the first failing one stops those after it; a cell whose every
// command is out-of-band is sent at once, without waiting for the in-band cells before it, so it can overtake
// one that QEMU is still working on. An event wait blocks until a matching event arrives; it looks at every
// event since its cell started (a cursor taken before the cell's first command), because QEMU may send an
// event before the reply of the command that caused it. A cell fails at its first error reply, command
// refused before sending, command timeout or event-wait timeout.
import type { CommandInputLike, CommandReplyLike, EventRecord, RunnerClient } from './ports';
import { eventDataMatches } from '../notebook/format/eventMatch';

/** A command ready for the client, and where it came from in the notebook file. */
export interface RunCommand {
  kind: 'command';
  input: CommandInputLike;
  /** The command name, for messages and JSON output. */
  name: string;
  /** Offset of the command in its cell's source, when known. */
  offset?: number;
  /** 1-based line in the notebook file, when known. */
  line?: number;
}

/** A `{"wait-event": NAME, "data": {...}, "timeout": ms}` item. */
export interface RunWait {
  kind: 'wait';
  event: string;
  /** A subset the event's data must contain (objects compared member by member, recursively). */
  data?: object;
  timeoutMs?: number;
  offset?: number;
  line?: number;
}

export type RunItem = RunCommand | RunWait;

export interface RunCell {
  /** 1-based position of the cell in the notebook (markdown cells count too). */
  index: number;
  /** 1-based line of the cell's first source line in the file, when known. */
  line?: number;
  items: RunItem[];
}

export interface RunIo {
  /** Writes one line (without its newline) to standard output. */
  out(line: string): void;
  /** Writes one line to standard error. */
  err(line: string): void;
}

export type TraceSink = (dir: '->' | '<-', text: string) => void;

export interface RunOptions {
  json: boolean;
  /** Time limit for each command and for each wait that gives none. */
  timeoutMs: number;
  /**
   * Routes the client's wire trace to the runner, or stops it (undefined). With it, text output shows every
   * message in the order it really crossed the wire; without it, each command is printed when its reply
   * arrives, and events as they arrive.
   */
  attachTrace?: (sink: TraceSink | undefined) => void;
  /** Whether an error thrown by the client means the session is gone (not just this command failing). */
  isConnectionLoss?: (err: unknown) => boolean;
}

export type RunOutcome =
  | { status: 'ok' }
  /** A QEMU error reply, a command refused before sending, a command or event-wait timeout: exit 1. */
  | { status: 'failed'; cell: number; message: string }
  /** The connection was lost: exit 2. */
  | { status: 'disconnected'; cell: number; message: string };


/** Whether every command of a cell is out-of-band: such a cell goes out at once, like in the notebook. */
export function isOobCell(cell: RunCell): boolean {
  const commands = cell.items.filter((i): i is RunCommand => i.kind === 'command');
  return commands.length > 0 && commands.every((c) => c.input['exec-oob'] !== undefined || c.input.control?.['run-oob'] === true);
}

interface CommandRecord {
  item: RunCommand;
  startedAt: number;
  ms?: number;
  reply?: CommandReplyLike;
  failure?: Error;
  settled: boolean;
  events: string[];
}

interface WaitRecord {
  item: RunWait;
  ms: number;
  event?: EventRecord;
  failure?: string;
}

const nowMs = (): number => performance.now();
const round = (ms: number): number => Math.round(ms * 1000) / 1000;

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Fallback for callers that give no isConnectionLoss: the error names of src/qmp/errors.ts. */
function lossByName(err: unknown): boolean {
  return err instanceof Error && /^(DisconnectedError|StateError|ProtocolError|BadGreetingError|MalformedMessageError|ServerParseError|OversizedMessageError)$/.test(err.name);
}

/** What all cells of one run share: the order commands went out in, for giving events to commands. */
interface RunState {
  sent: CommandRecord[];
  /** Index in `sent` before which every command is settled, so the search for the owner stays short. */
  firstOpen: number;
}

/**
 * Runs the cells like the notebook's Run All and never throws for QEMU or connection problems.
 * In-band cells run one after another and the first that fails stops the ones after it; a cell whose every
 * command is out-of-band goes out at once, even while an in-band cell waits for QEMU (so it can overtake it).
 */
export async function runCells(client: RunnerClient, cells: readonly RunCell[], options: RunOptions, io: RunIo): Promise<RunOutcome> {
  const state: RunState = { sent: [], firstOpen: 0 };
  const text = !options.json;
  // An event goes to the oldest command still waiting for its reply, or else to the last command sent:
  // events caused by a command come either before its reply (STOP, RESUME) or after it (DEVICE_DELETED).
  const eventSub = client.onEvent((e) => {
    while (state.firstOpen < state.sent.length && (state.sent[state.firstOpen] as CommandRecord).settled) state.firstOpen++;
    const owner = state.sent[state.firstOpen] ?? state.sent[state.sent.length - 1];
    owner?.events.push(e.raw);
    if (text && !options.attachTrace) io.out(`<- ${e.raw}`);
  });
  if (text) options.attachTrace?.((dir, t) => io.out(`${dir} ${t.trimEnd()}`));

  const outcomes: RunOutcome[] = [];
  let inBandTail: Promise<void> | undefined;
  let stopped = false;
  const done: Promise<void>[] = [];
  try {
    for (const cell of cells) {
      if (isOobCell(cell)) {
        done.push(runCell(client, cell, options, io, state).then((o) => { if (o.status !== 'ok') outcomes.push(o); }));
        continue;
      }
      const runInBand = async (): Promise<void> => {
        if (stopped) return;
        const o = await runCell(client, cell, options, io, state);
        if (o.status !== 'ok') { stopped = true; outcomes.push(o); }
      };
      // The first in-band cell starts right away, so that with nothing blocking, commands leave in file order.
      inBandTail = inBandTail ? inBandTail.then(runInBand) : runInBand();
      done.push(inBandTail);
    }
    await Promise.all(done);
  } finally {
    eventSub.dispose();
    if (text) options.attachTrace?.(undefined);
  }
  return outcomes.find((o) => o.status === 'disconnected') ?? outcomes[0] ?? { status: 'ok' };
}

async function runCell(client: RunnerClient, cell: RunCell, options: RunOptions, io: RunIo, state: RunState): Promise<RunOutcome> {
  const where = `cell ${cell.index}${cell.line !== undefined ? ` (line ${cell.line})` : ''}`;
  const text = !options.json;
  const isLoss = options.isConnectionLoss ?? lossByName;
  if (text) io.out(`// ${where}`);

  // Waits look at every event since the cell started, because QEMU may send an event before the reply of
  // the command that caused it; each event satisfies at most one wait.
  const cursor = client.eventCursor();
  const usedEvents = new Set<number>();
  const order: Array<CommandRecord | WaitRecord> = [];
  let failure: { message: string; disconnected: boolean } | undefined;
  const at = (line: number | undefined): string => (line !== undefined && line !== cell.line ? ` (line ${line})` : '');

  for (const item of cell.items) {
    if (item.kind === 'command') {
      const rec: CommandRecord = { item, startedAt: nowMs(), settled: false, events: [] };
      order.push(rec);
      state.sent.push(rec);
      try {
        const reply = await client.send(item.input, { timeoutMs: options.timeoutMs });
        rec.reply = reply;
        if (text && !options.attachTrace) { io.out(`-> ${reply.sent.trimEnd()}`); io.out(`<- ${reply.raw.trimEnd()}`); }
        if (!reply.ok) failure = { message: `${where}: ${item.name}${at(item.line)}: ${reply.error.class}: ${reply.error.desc}`, disconnected: false };
      } catch (err) {
        rec.failure = err instanceof Error ? err : new Error(String(err));
        const loss = isLoss(err);
        failure = {
          message: loss ? `QEMU went away during ${where}; ${item.name} got no reply: ${errorMessage(err)}` : `${where}: ${item.name}${at(item.line)}: ${errorMessage(err)}`,
          disconnected: loss,
        };
      } finally {
        rec.ms = nowMs() - rec.startedAt;
        rec.settled = true;
      }
      if (failure) break;
      continue;
    }
    const rec: WaitRecord = { item, ms: 0 };
    order.push(rec);
    const timeoutMs = item.timeoutMs ?? options.timeoutMs;
    const t0 = nowMs();
    try {
      const ev = await client.waitForEvent(
        (e) => e.event === item.event && !usedEvents.has(e.seq) && (item.data === undefined || eventDataMatches(item.data, e.data ?? {})),
        { after: cursor, timeoutMs },
      );
      rec.ms = nowMs() - t0;
      rec.event = ev;
      usedEvents.add(ev.seq);
      if (text) io.out(`// ${item.event} arrived (waited ${round(rec.ms)} ms)`);
    } catch (err) {
      rec.ms = nowMs() - t0;
      const loss = isLoss(err);
      const what = item.data === undefined ? item.event : `${item.event} with ${JSON.stringify(item.data)}`;
      rec.failure = loss ? `QEMU went away: ${errorMessage(err)}` : `no ${what} event within ${timeoutMs} ms`;
      failure = {
        message: loss ? `QEMU went away during ${where} while waiting for ${item.event}: ${errorMessage(err)}` : `${where}: ${rec.failure}${at(item.line)}`,
        disconnected: loss,
      };
      break;
    }
  }

  if (options.json) emitJson(cell, order, io);
  if (!failure) return { status: 'ok' };
  if (text) io.err(`qmp-notebook: ${failure.message}`);
  return failure.disconnected
    ? { status: 'disconnected', cell: cell.index, message: failure.message }
    : { status: 'failed', cell: cell.index, message: failure.message };
}

/**
 * One JSON object per command, in cell order, built from QEMU's own texts so that ids and numbers QEMU sent
 * reach the reader exactly (JSON.parse would round integers beyond 2^53). Waits get one object each too.
 */
function emitJson(cell: RunCell, order: ReadonlyArray<CommandRecord | WaitRecord>, io: RunIo): void {
  for (const r of order) {
    let parts: string[];
    if ('startedAt' in r) {
      parts = [
        `"cell":${cell.index}`,
        `"command":${JSON.stringify(r.item.name)}`,
        `"id":${r.reply ? r.reply.idText : r.item.input.idText ?? 'null'}`,
        `"reply":${r.reply ? r.reply.raw.trim() : 'null'}`,
        `"events":[${r.events.map((e) => e.trim()).join(',')}]`,
        `"ms":${round(r.ms ?? nowMs() - r.startedAt)}`,
      ];
      if (r.item.line !== undefined) parts.push(`"line":${r.item.line}`);
      if (r.failure) parts.push(`"error":${JSON.stringify(r.failure.message)}`);
      else if (!r.settled) parts.push('"error":"no reply (the cell stopped first)"');
    } else {
      parts = [
        `"cell":${cell.index}`,
        `"wait-event":${JSON.stringify(r.item.event)}`,
        `"event":${r.event ? r.event.raw.trim() : 'null'}`,
        `"ms":${round(r.ms)}`,
      ];
      if (r.item.line !== undefined) parts.push(`"line":${r.item.line}`);
      if (r.failure) parts.push(`"error":${JSON.stringify(r.failure)}`);
    }
    io.out(`{${parts.join(',')}}`);
  }
}
