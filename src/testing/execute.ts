// Runs a notebook's code cells as tests on a kernel's one engine (src/run/) and collects, for each cell, the
// outputs the one renderer (src/run/recordText.ts `renderRecord`) makes of its transcript, ready for
// comparison with the saved ones (src/kernel/testRun.ts).
//
// The test rules are the engine's (engine.ts, "Test rules"): the cells run as one batch `asTest` (every cell
// runs, one after another, so what a cell sees does not depend on timing; a failing cell does not skip the
// ones after it; a lost connection does), late events are the cell's that ended, and each cell waits, at
// most `settleMs`, for the events its saved outputs show (`awaitEvents`: DEVICE_DELETED comes after the
// reply to device_del).
import {
  isSessionFailure, type BatchOptions, type BatchResult, type CellJob, type CellPlan, type ExpectedEventRecord, type FailureRecord, type TranscriptRecord,
} from '../run/index';
import { renderRecord, type RenderState } from '../run/recordText';
import type { OutputLike } from './savedOutput';

export interface TestCell {
  /** The caller's key (1-based position in the notebook). */
  cell: number;
  line?: number;
  language: string;
  plan: CellPlan;
  /** Names of the events the saved outputs expect (the engine's `awaitEvents`), with repeats. */
  expectedEvents: readonly string[];
}

/** A kernel (src/kernel) as the test runner uses it: its one engine. */
export interface TestKernel {
  run(jobs: readonly CellJob[], sink: (r: TranscriptRecord) => void, options?: BatchOptions): Promise<BatchResult>;
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
  /** Sees every transcript record as it comes (the CLI's progress line of jobs). */
  onRecord?(r: TranscriptRecord): void;
}

/**
 * Runs every cell in order on the kernel's engine; the records of the cells that ran (the ones after a lost
 * connection did not). `onCell` is called as each cell ends.
 */
export async function executeCells(kernel: TestKernel, cells: readonly TestCell[], opts: ExecuteOptions,
  onCell?: (index: number, record: CellRecord) => void): Promise<CellRecord[]> {
  // Keys of their own (negative), so that a session's engine, which other notebooks' cells share, never
  // confuses a test cell with a cell of the editor.
  const key = (n: number): number => -(n + 1);
  const entries = cells.map(() => ({
    record: { outputs: [], replies: new Map(), expectedEvents: [], ms: 0 } as CellRecord,
    state: {} as RenderState, finished: false, skipped: false,
  }));
  const jobs: CellJob[] = cells.map((c, n) => ({
    cell: key(n), ...(c.line !== undefined ? { line: c.line } : {}), plan: c.plan, ...(opts.signal ? { signal: opts.signal } : {}),
    awaitEvents: { names: c.expectedEvents, timeoutMs: opts.settleMs },
  }));
  await kernel.run(jobs, (r) => {
    const n = -r.cell - 1;
    const cell = cells[n];
    const entry = entries[n];
    if (!cell || !entry) return;
    const { record } = entry;
    opts.onRecord?.(r);
    renderRecord(r, cell, record.outputs, entry.state);
    if (r.type === 'reply' && r.step !== undefined) record.replies.set(r.step, r.raw);
    if (r.type === 'expected-event') record.expectedEvents.push(r);
    if (r.type === 'failure' && isSessionFailure(r.kind)) record.lost = r;
    if (r.type === 'cell-finished') {
      record.ms = r.ms;
      entry.finished = true;
      entry.skipped = r.outcome === 'skipped';
      onCell?.(n, record);
    }
  }, { asTest: true });
  const out: CellRecord[] = [];
  for (const e of entries) {
    // After a lost connection the cells were skipped: they did not run.
    if (!e.finished || (e.skipped && out.some((r) => r.lost !== undefined))) break;
    out.push(e.record);
    if (e.record.lost) break;
  }
  return out;
}
