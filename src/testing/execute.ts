// Runs a notebook's code cells for `qmp-notebook test` and records what each cell saw, in the outputs the
// notebook would show and save. Unlike `run`, every cell runs (each is a test case), one after another, so
// that what a cell sees does not depend on timing: the events a cell sees are those that arrive from its
// start until the next cell starts. When the saved outputs of a cell list events that have not arrived when
// its commands are done (DEVICE_DELETED comes after the reply to device_del), the cell waits for them, at
// most `settleMs`, before the next cell starts.
//
// TODO(engine): this is the adapter to the one execution engine (src/run/, helper "engine"): once its
// transcript records exist, the cells run there and this file only turns records into outputs.

/** A command as the format's parseCell gives it (what the client sends). */
export interface TestCommand {
  kind: 'command';
  input: object;
  name: string;
  /** 1-based line in the cell. */
  line: number;
}

export interface TestWait {
  kind: 'wait';
  event: string;
  data?: object;
  timeoutMs: number;
  line: number;
}

export interface TestCell {
  /** 'qmp' cells show replies only; 'qmp-shell' and 'hmp' cells show the JSON they sent, too. */
  language: string;
  items: Array<TestCommand | TestWait>;
  /** Names of the events the saved outputs expect (for the settle wait), with repeats. */
  expectedEvents: string[];
}

export type RecordedOutput = { kind: 'message'; direction: '<-' | '->'; json: string } | { kind: 'text'; text: string };

export interface CellRecord {
  outputs: RecordedOutput[];
  /** Raw reply of each command in cell order; undefined when the command got none. */
  replies: Array<string | undefined>;
  /** Set when the connection was lost: the run stops. */
  lost?: string;
  ms: number;
}

export interface TestEvent {
  seq: number;
  event: string;
  data?: object;
  raw: string;
}

type Reply = { ok: boolean; raw: string; sent: string };

/** The parts of QmpClient this uses (structural, so tests can give a fake). */
export interface TestClient {
  send(input: never, options?: { timeoutMs?: number }): Promise<Reply>;
  onEvent(listener: (event: TestEvent) => void): { dispose(): void };
  eventCursor(): number;
  waitForEvent(predicate: (event: TestEvent) => boolean, options: { after?: number; timeoutMs: number }): Promise<TestEvent>;
}

export interface ExecuteOptions {
  /** Limit for each command. */
  timeoutMs: number;
  /** Limit for the wait for saved events that have not come yet. */
  settleMs: number;
  /** Whether an error means the session is gone (instanceof checks of the caller). */
  isConnectionLoss(err: unknown): boolean;
  /** Whether an error is a command timeout / an event-wait timeout (instanceof checks of the caller). */
  isTimeout(err: unknown): boolean;
  /** Subset match of event data (the format's eventDataMatches). */
  dataMatches(expected: unknown, actual: unknown): boolean;
}

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Runs every cell in order; stops only when the connection is lost. */
export async function executeCells(client: TestClient, cells: readonly TestCell[], opts: ExecuteOptions,
  onCell?: (index: number, record: CellRecord) => void): Promise<CellRecord[]> {
  const records: CellRecord[] = [];
  let current: CellRecord | undefined;
  let arrived: string[] = [];
  let notify: ((event: string) => void) | undefined;
  const sub = client.onEvent((e) => {
    current?.outputs.push({ kind: 'message', direction: '<-', json: e.raw.trim() });
    arrived.push(e.event);
    notify?.(e.event);
  });
  try {
    for (let c = 0; c < cells.length; c++) {
      const cell = cells[c] as TestCell;
      const record: CellRecord = { outputs: [], replies: [], ms: 0 };
      const t0 = performance.now();
      current = record;
      arrived = [];
      const cursor = client.eventCursor();
      let used = cursor;
      let stopped = false;
      const commands = cell.items.filter((i) => i.kind === 'command').length;
      for (const item of cell.items) {
        if (stopped) break;
        if (item.kind === 'command') {
          try {
            const reply = await client.send(item.input as never, { timeoutMs: opts.timeoutMs });
            if (cell.language !== 'qmp') record.outputs.push({ kind: 'message', direction: '->', json: reply.sent.trim() });
            record.outputs.push({ kind: 'message', direction: '<-', json: reply.raw.trim() });
            record.replies.push(reply.raw);
            // Like the notebook: a QEMU error ends the cell.
            if (!reply.ok) stopped = true;
          } catch (err) {
            record.replies.push(undefined);
            if (opts.isConnectionLoss(err)) { record.lost = message(err); stopped = true; break; }
            const title = opts.isTimeout(err) ? 'Timeout' : 'Not sent';
            record.outputs.push({ kind: 'text', text: `${title}: line ${item.line}: ${message(err)}` });
            stopped = true;
          }
        } else {
          try {
            const seen = await client.waitForEvent(
              (e) => e.event === item.event && e.seq > used && (item.data === undefined || opts.dataMatches(item.data, e.data ?? {})),
              { after: used, timeoutMs: item.timeoutMs },
            );
            // A second wait for the same event needs a later one (the notebook's rule).
            used = seen.seq;
          } catch (err) {
            if (opts.isConnectionLoss(err)) { record.lost = message(err); stopped = true; break; }
            const what = item.data === undefined ? item.event : `${item.event} with ${JSON.stringify(item.data)}`;
            record.outputs.push({ kind: 'text', text: `Event timeout: line ${item.line}: no ${what} within ${item.timeoutMs} ms.` });
            stopped = true;
          }
        }
      }
      while (record.replies.length < commands) record.replies.push(undefined);
      if (!record.lost) await settle(cell.expectedEvents, () => arrived, opts.settleMs, (f) => { notify = f; });
      notify = undefined;
      record.ms = performance.now() - t0;
      records.push(record);
      onCell?.(c, record);
      if (record.lost) break;
    }
  } finally {
    current = undefined;
    sub.dispose();
  }
  return records;
}

/** Resolves when every expected event name has arrived as often as expected, or after `ms`. Linear. */
async function settle(expected: readonly string[], arrived: () => readonly string[], ms: number,
  onArrive: (f: ((event: string) => void) | undefined) => void): Promise<void> {
  const need = new Map<string, number>();
  for (const e of expected) need.set(e, (need.get(e) ?? 0) + 1);
  let missing = expected.length;
  const take = (e: string): void => {
    const n = need.get(e);
    if (n !== undefined && n > 0) { need.set(e, n - 1); missing--; }
  };
  for (const e of arrived()) take(e);
  if (missing <= 0) return;
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    function done(): void { clearTimeout(timer); onArrive(undefined); resolve(); }
    onArrive((e) => { take(e); if (missing <= 0) done(); });
  });
}
