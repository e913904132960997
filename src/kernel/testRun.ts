// The one test path: a notebook's code cells run as tests on a kernel (every cell, one after another, saved
// events awaited, late events kept by the cell that ended), each compared with its saved outputs and the
// `<-` replies and events written in it, by the test rules (masks, ignorable events, event order, exact
// integers). `qmp-notebook test` and the editor's Run as Test both call `testNotebook`; they differ only in
// how they print, save and show the verdicts. docs/testing-notebooks.md.
import { DEFAULT_WAIT_TIMEOUT_MS, type CellData, type SavedOutput, type ValueKindOracle } from '../format/index';
import { describeProblem, isCodeLanguage, planCell, type TestRules, type TranscriptRecord } from '../run/index';
import { cellRules, compareCell, type CellComparison, type WrittenEvent, type WrittenExpectation } from '../testing/compare';
import { executeCells, type CellRecord, type TestCell, type TestKernel } from '../testing/execute';
import { member, parseJsonTree } from '../testing/jsonTree';
import type { VolatileDir } from '../testing/masks';
import type { OutputLike } from '../testing/savedOutput';
import { testName } from '../testing/report';
import { KernelSchemaError, type Kernel } from './kernel';

export interface TestInput {
  /** The notebook's cells (markdown included: positions count them), with their saved outputs. */
  cells: readonly CellData[];
  /** The 1-based line of each cell in its file, when known. */
  lines?: ReadonlyArray<number | undefined>;
  /** The notebook's rules (front matter). */
  rules: TestRules;
  /** Limit of each command; saved events are awaited at most min(this, 10 s). */
  timeoutMs: number;
  /** The file's lines (BOM dropped, CRLF as LF): where each cell's saved outputs start, for failure locations. */
  fileLines?: readonly string[];
  /** Stops every cell (its reason, a StopRequest, says why: `test --deadline`). */
  signal?: AbortSignal;
  /** Called as each cell starts (0-based among the code cells; the count when all are done): progress lines. */
  onCell?(index: number, total: number, name: string | undefined): void;
  /** Sees every transcript record as it comes (the CLI's progress line of jobs). */
  onRecord?(r: TranscriptRecord): void;
}

export interface CellVerdict {
  /** 1-based position of the cell in the notebook (markdown cells counted). */
  cell: number;
  line?: number;
  /** The stable test name (testing/report.ts `testName`): the first command and a hash of the cell's text. */
  name: string;
  status: 'passed' | 'failed' | 'error';
  /** Why it did not pass. */
  type?: 'mismatch' | 'malformed-cell' | 'connection-lost' | 'not-run';
  /** Where in the file the first difference is (the saved value that changed). */
  at?: { line: number; col: number };
  problems: string[];
  diff: string;
  /** The expectations written in the cell that failed, as their two sides (what was written, what came). */
  comparisons?: CellComparison['comparisons'];
  /** The new outputs in their stable form (what an update saves). */
  stable: OutputLike[];
  /** What the run showed (unmasked). */
  actual: OutputLike[];
  ms: number;
}

export interface TestOutcome {
  verdicts: CellVerdict[];
  /** Cells with problems: nothing was sent. */
  malformed: boolean;
  /** Why the connection was lost during the run. */
  lost?: string;
}

interface PlannedCell {
  index: number;
  line?: number;
  /** The stable test name (testing/report.ts). */
  name: string;
  /** The 1-based file line of the first saved output. */
  savedLine?: number;
  data: CellData;
  run: TestCell;
  written: WrittenExpectation[];
  problems: string[];
}

/** The cell's expected events with the engine's verdicts, for the comparison. */
function writtenEvents(c: PlannedCell, rec: CellRecord): WrittenEvent[] {
  const byIndex = new Map(rec.expectedEvents.map((r) => [r.index, r] as const));
  return (c.run.plan.expect?.events ?? []).map((e, index) => {
    const v = byIndex.get(index);
    return {
      event: e.event, json: e.text, ...(c.line !== undefined ? { line: c.line + e.line } : {}),
      ...(v ? { verdict: { match: v.match, ...(v.message !== undefined ? { message: v.message } : {}), ...(v.actual !== undefined ? { actual: v.actual } : {}) } } : {}),
    };
  });
}

/** The event names a cell's saved outputs hold (the settle wait's targets), without the ignorable ones. */
function savedEventNames(outputs: readonly SavedOutput[] | undefined, ignore: ReadonlySet<string>): string[] {
  const names: string[] = [];
  for (const o of outputs ?? []) {
    if (o.kind !== 'message' || o.direction !== '<-') continue;
    const ev = member(parseJsonTree(o.json), 'event');
    if (ev?.type === 'string' && !ignore.has(ev.value)) names.push(ev.value);
  }
  return names;
}

const OUTPUT_FENCE = /^`{3,}[ \t]*qmp-output[ \t]*$/;

/**
 * The 1-based line of the first saved output of a code cell (the line after its ```qmp-output fence), found
 * after the cell's closing fence across blank lines; undefined when the cell has none or it is not there.
 */
function savedOutputsLine(fileLines: readonly string[], cellLine: number | undefined, cell: CellData): number | undefined {
  if (cellLine === undefined || cell.outputs === undefined || cell.outputs.length === 0) return undefined;
  let i = cellLine - 1 + cell.source.split('\n').length + 1;
  while (i < fileLines.length && (fileLines[i] ?? '').trim() === '') i++;
  return OUTPUT_FENCE.test(fileLines[i] ?? '') ? i + 2 : undefined;
}

/** The first command of a planned cell, for its test name: the command (an HMP line's own words), else the awaited event. */
function firstCommand(language: string, plan: ReturnType<typeof planCell>): string | undefined {
  const step = plan.steps[0];
  if (step === undefined) return undefined;
  if (step.kind === 'wait') return `wait-event ${step.event}`;
  const line = (step.input.arguments as Record<string, unknown> | undefined)?.['command-line'];
  return language === 'hmp' && typeof line === 'string' ? line : step.name;
}

function plan(input: TestInput, schema: ValueKindOracle | undefined): PlannedCell[] {
  const planned: PlannedCell[] = [];
  const repeats = new Map<string, number>();
  input.cells.forEach((cell, i) => {
    if (cell.kind !== 'code' || !isCodeLanguage(cell.language)) return;
    const cellPlan = planCell(cell.source, cell.language, schema, input.rules);
    const rules = cellRules(cell.source, input.rules);
    const line = input.lines?.[i];
    const written: WrittenExpectation[] = [];
    cellPlan.steps.forEach((s, step) => {
      if (s.kind !== 'command' || !s.expected) return;
      written.push({ step, command: s.name, json: s.expected.text.replace(/^\s*<-\s*/, ''), ...(line !== undefined ? { line: line + s.line } : {}) });
    });
    const repeat = (repeats.get(cell.source) ?? 0) + 1;
    repeats.set(cell.source, repeat);
    const savedLine = savedOutputsLine(input.fileLines ?? [], line, cell);
    planned.push({
      index: i + 1, data: cell, written, name: testName(cell.source, firstCommand(cell.language, cellPlan), repeat),
      ...(savedLine !== undefined ? { savedLine } : {}),
      run: {
        cell: i + 1, language: cell.language, plan: cellPlan, expectedEvents: savedEventNames(cell.outputs, rules.rules.ignoreEvents),
        ...(line !== undefined ? { line } : {}),
      },
      // A bad directive in a cell with expected events is a problem of the plan too: say it once.
      problems: [...new Set([...cellPlan.problems.map(describeProblem).filter((p) => !rules.errors.some((e) => p === `test directive: ${e}`)), ...rules.errors])],
      ...(line !== undefined ? { line } : {}),
    });
  });
  return planned;
}

/** A kernel as the test path uses it. */
export type TestableKernel = TestKernel & Pick<Kernel, 'loadSchema'> & { readonly dir?: string | undefined };

/**
 * Runs the notebook's code cells as tests on `kernel` and compares. Never throws for QEMU problems; throws
 * KernelSchemaError when the schema a cell needs cannot be read.
 */
export async function testNotebook(kernel: TestableKernel, input: TestInput): Promise<TestOutcome> {
  let cells = plan(input, undefined);
  // The schema types qmp-shell values and lets the client refuse an exec-oob the schema does not allow.
  const hasOob = cells.some((c) => c.run.plan.steps.some((st) => st.kind === 'command' && st.oob));
  if (hasOob || input.cells.some((c) => c.kind === 'code' && c.language === 'qmp-shell')) cells = plan(input, await kernel.loadSchema());
  const broken = cells.filter((c) => c.problems.length);
  if (broken.length) {
    return {
      malformed: true,
      verdicts: broken.map((c) => ({
        cell: c.index, ...(c.line !== undefined ? { line: c.line } : {}), name: c.name, status: 'failed' as const, type: 'malformed-cell' as const,
        problems: c.problems.map((p) => `malformed cell: ${p}`), diff: '', stable: [], actual: [], ms: 0,
      })),
    };
  }
  const dirs: VolatileDir[] = [];
  if (kernel.dir !== undefined && kernel.dir !== '') dirs.push({ path: kernel.dir, name: 'SANDBOX_DIR' });
  input.onCell?.(0, cells.length, cells[0]?.name);
  const records = await executeCells(kernel, cells.map((c) => c.run), {
    timeoutMs: input.timeoutMs, settleMs: Math.min(DEFAULT_WAIT_TIMEOUT_MS, input.timeoutMs), ...(input.signal ? { signal: input.signal } : {}),
    ...(input.onRecord ? { onRecord: input.onRecord } : {}),
  }, (n) => input.onCell?.(n + 1, cells.length, cells[n + 1]?.name));
  const verdicts: CellVerdict[] = [];
  let lost: string | undefined;
  records.forEach((rec, n) => {
    const c = cells[n] as PlannedCell;
    const rules = cellRules(c.data.source, input.rules).rules;
    const cmp = compareCell({
      saved: c.data.outputs, actual: rec.outputs, replies: rec.replies, written: c.written, writtenEvents: writtenEvents(c, rec), rules, dirs,
      ...(c.savedLine !== undefined ? { savedLine: c.savedLine, ...(input.fileLines ? { fileLines: input.fileLines } : {}) } : {}),
    });
    const where = { cell: c.index, ...(c.line !== undefined ? { line: c.line } : {}), name: c.name, ms: rec.ms, stable: cmp.stable, actual: rec.outputs };
    if (rec.lost !== undefined) {
      lost = rec.lost.message;
      verdicts.push({ ...where, status: 'error', type: 'connection-lost', problems: [`QEMU went away: ${rec.lost.message}`], diff: '' });
    } else {
      verdicts.push({
        ...where, status: cmp.ok ? 'passed' : 'failed', problems: cmp.problems, diff: cmp.diff,
        ...(cmp.comparisons.length > 0 ? { comparisons: cmp.comparisons } : {}),
        ...(cmp.ok ? {} : { type: 'mismatch' as const, ...(cmp.at !== undefined ? { at: cmp.at } : {}) }),
      });
    }
  });
  // Cells after a lost connection never ran.
  for (const c of cells.slice(records.length)) {
    verdicts.push({
      cell: c.index, ...(c.line !== undefined ? { line: c.line } : {}), name: c.name, status: 'error', type: 'not-run',
      problems: ['not run: QEMU went away before this cell'], diff: '', stable: [], actual: [], ms: 0,
    });
  }
  return { verdicts, malformed: false, ...(lost !== undefined ? { lost } : {}) };
}

export { KernelSchemaError };
