// Runs a notebook's code cells on the one execution engine (src/run/) for `qmp-notebook test`, and turns
// each cell's transcript into the outputs the notebook shows and saves (the same rendering as the notebook
// controller's), ready for comparison with the saved ones.
//
// Unlike `run`, every cell runs (each is a test case): each cell is its own batch, so a failing cell does
// not skip the ones after it, and cells run one after another, so what a cell sees does not depend on
// timing. A cell sees the events the engine gives it while it runs, and those that arrive after it ended
// until the next cell starts (the engine gives those to no cell). When the saved outputs of a cell list
// events that have not arrived when the cell ends (DEVICE_DELETED comes after the reply to device_del), the
// next cell waits for them, at most `settleMs`.
import type { QmpEventRecord } from '../qmp/client';
import {
  RunEngine, isSessionFailure, type BatchResult, type CellJob, type CellPlan, type EngineClient, type ExpectedEventRecord, type FailureRecord, type TranscriptRecord,
} from '../run/index';
import type { OutputLike } from './savedOutput';
import { eventsDroppedText, failureText, failureTitle } from '../run/recordText';

export interface TestCell {
  /** The caller's key (1-based position in the notebook). */
  cell: number;
  line?: number;
  language: string;
  plan: CellPlan;
  /** Names of the events the saved outputs expect (for the settle wait), with repeats. */
  expectedEvents: readonly string[];
}

/** A kernel (src/kernel) as the test runner uses it: its connected client and its one engine. */
export interface TestKernel {
  readonly client: EngineClient;
  run(jobs: readonly CellJob[], sink: (r: TranscriptRecord) => void): Promise<BatchResult>;
}

export interface CellRecord {
  outputs: OutputLike[];
  /** Raw reply of each step that got one, by step index. */
  replies: Map<number, string>;
  /** The verdict on each `<-` event written in the cell (none when the cell failed before its end). */
  expectedEvents: ExpectedEventRecord[];
  /** Set when the session was lost: the run stops. */
  lost?: FailureRecord;
  ms: number;
}

export interface ExecuteOptions {
  /** Limit for each command, and the most expected events written in cells are awaited (their cell's own
   * wait timeout, or 10 s, when shorter). */
  timeoutMs: number;
  /** Limit for the wait for saved events that have not come yet. */
  settleMs: number;
  /** Stops every cell (its reason, a StopRequest, says why: `test --deadline`). */
  signal?: AbortSignal;
}

/**
 * The outputs of one transcript record, rendered as the controller renders and the serializer saves them (the
 * agent's audit notebook, src/mcp/, records with it too).
 */
export function renderRecord(r: TranscriptRecord, cell: Pick<TestCell, 'language' | 'plan'>, out: OutputLike[]): void {
  const commands = cell.plan.steps.filter((s) => s.kind === 'command').length;
  const labelled = cell.language !== 'qmp' || commands > 1;
  switch (r.type) {
    case 'sent': {
      // A command that used named replies is labelled too: the label is what was sent (substituted).
      const step = cell.plan.steps[r.step];
      if (labelled || (step?.kind === 'command' && step.refs === true)) out.push({ kind: 'message', direction: '->', json: r.label });
      break;
    }
    case 'reply':
      out.push({ kind: 'message', direction: '<-', json: r.raw.trim() });
      break;
    case 'event':
      out.push({ kind: 'message', direction: '<-', json: r.event.raw.trim() });
      break;
    case 'events-dropped':
      out.push({ kind: 'text', text: eventsDroppedText(r.count, r.kept) });
      break;
    case 'failure': {
      if (r.kind === 'qemu-error') break;
      const step = r.step !== undefined ? cell.plan.steps[r.step] : undefined;
      const label = step?.kind === 'command' ? step.label : undefined;
      out.push({ kind: 'text', text: `${failureTitle(r)}: ${failureText(r.message, step, label)}` });
      break;
    }
    default:
      break;
  }
}

/** Runs every cell in order on `client`; stops only when the session is lost. */
export async function executeCells(on: EngineClient | TestKernel, cells: readonly TestCell[], opts: ExecuteOptions,
  onCell?: (index: number, record: CellRecord) => void): Promise<CellRecord[]> {
  // A kernel's one engine (its options carry the test's time limits), or an engine of this run on a bare client.
  const kernel = 'run' in on ? on : undefined;
  const client: EngineClient = kernel ? kernel.client : on as EngineClient;
  const own = kernel ? undefined : new RunEngine({ client: () => client, commandTimeoutMs: opts.timeoutMs, expectedEventsTimeoutMs: opts.timeoutMs });
  const engine: Pick<TestKernel, 'run'> = kernel ?? (own as RunEngine);
  const records: CellRecord[] = [];
  // Events after a cell ended and before the next one started belong to the cell that ended.
  let after: { record: CellRecord; arrived: (name: string) => void } | undefined;
  const sub = client.onEvent((e: QmpEventRecord) => {
    if (!after) return;
    after.record.outputs.push({ kind: 'message', direction: '<-', json: e.raw.trim() });
    after.arrived(e.event);
  });
  try {
    for (let c = 0; c < cells.length; c++) {
      const cell = cells[c] as TestCell;
      const record: CellRecord = { outputs: [], replies: new Map(), expectedEvents: [], ms: 0 };
      const need = new Map<string, number>();
      for (const e of cell.expectedEvents) need.set(e, (need.get(e) ?? 0) + 1);
      let missing = cell.expectedEvents.length;
      let settled: (() => void) | undefined;
      const arrived = (name: string): void => {
        const n = need.get(name);
        if (n !== undefined && n > 0) { need.set(name, n - 1); missing--; }
        if (missing <= 0) settled?.();
      };
      const t0 = performance.now();
      await engine.run([{ cell: cell.cell, ...(cell.line !== undefined ? { line: cell.line } : {}), plan: cell.plan, ...(opts.signal ? { signal: opts.signal } : {}) }], (r) => {
        if (r.type === 'cell-started') after = undefined;
        renderRecord(r, cell, record.outputs);
        if (r.type === 'event') arrived(r.event.event);
        if (r.type === 'reply' && r.step !== undefined) record.replies.set(r.step, r.raw);
        if (r.type === 'expected-event') record.expectedEvents.push(r);
        if (r.type === 'failure' && isSessionFailure(r.kind)) record.lost = r;
        if (r.type === 'cell-finished' && !record.lost) after = { record, arrived };
      });
      if (!record.lost && missing > 0 && opts.signal?.aborted !== true) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, opts.settleMs);
          function done(): void { clearTimeout(timer); settled = undefined; resolve(); }
          settled = done;
        });
      }
      record.ms = performance.now() - t0;
      records.push(record);
      onCell?.(c, record);
      if (record.lost) break;
    }
  } finally {
    after = undefined;
    sub.dispose();
    own?.dispose();
  }
  return records;
}
