// `qmp-notebook test FILE.qmp…`: runs each notebook and compares what every cell saw with its saved outputs
// (and with the `<-` replies written in its cells), after masking volatile values. The iotests workflow for
// QMP notebooks: run, `--update` to regenerate the saved outputs, review the diff, commit. See
// docs/testing-notebooks.md.
//
// Exit codes: 0 every cell matched (or `--update` wrote the outputs); 1 a cell did not match, or a cell is
// malformed; 2 usage, an unreadable notebook or bad masks, a connection that could not be made, QEMU going
// away during the run.
import { parseArgs as nodeParseArgs } from 'node:util';
import { parseHostPort, parseMilliseconds, DEFAULT_TIMEOUT_MS, EXIT_HELP, type ConnectionChoice } from './args';
import type { CliDeps, CliIo, CliSession } from './cli';
import { hasCodeCells, readNotebook, resolveConnection } from './cli';
import { findSourceOffsets, LineIndex } from './locate';
import {
  DEFAULT_WAIT_TIMEOUT_MS, type CellData, type NotebookData, type SavedOutput, type ValueKindOracle,
} from '../notebook/format/index';
import { Schema, type SchemaInfo } from '../qmp/index';
import { describeProblem, isCodeLanguage, planCell, StopRequest } from '../run/index';
import { cellRules, compareCell, notebookRules, type WrittenEvent, type WrittenExpectation } from '../testing/compare';
import { executeCells, type CellRecord, type TestCell } from '../testing/execute';
import { cellName, jsonRecord, junitChunks, locationLine, summaryLine, testName, type CellResult } from '../testing/report';
import { clipText } from '../testing/diff';
import { replaceOutputs } from '../testing/update';
import { writeFileAtomicSync } from '../notebook/format/atomicWrite';
import { member, parseJsonTree } from '../testing/jsonTree';
import type { VolatileDir } from '../testing/masks';
import { colorDiffLine, style } from './style';

export const TEST_USAGE = `Usage:
  qmp-notebook test FILE.qmp… [--socket PATH | --tcp HOST:PORT | --sandbox] [--update] [--junit OUT.xml] [--json]
                              [--timeout MS] [--deadline MS] [--qemu BINARY]

Runs each notebook and compares every reply and event each cell saw with the cell's saved outputs (the
\`\`\`qmp-output block) and with the <- replies and events written in the cell, after masking volatile values.

  --update           write the new outputs into the notebooks instead of comparing (nothing else changes)
  --junit OUT.xml    also write JUnit XML, one testcase per cell
  --json             one JSON object per cell, then {"passed": N, "failed": N}
  --deadline MS      the cells not done by then fail (the notebooks left are still compared, quickly)
  --timeout MS       time limit for each command (default ${DEFAULT_TIMEOUT_MS}); saved events that have not
                     come when a cell ends are awaited at most ${DEFAULT_WAIT_TIMEOUT_MS} ms, or MS when smaller;
                     <- events written in a cell at most its longest wait-event timeout (else
                     ${DEFAULT_WAIT_TIMEOUT_MS} ms), or MS when smaller

A FILE of '-' is standard input (not with --update). A notebook without code cells fails ("no cells to test").
A failure prints FILE:LINE:COL: error: … at the first saved value that differs (a CI problem matcher's line),
then a diff of the saved outputs' lines numbered as in the file.

${EXIT_HELP}`;

export interface TestRequest {
  files: string[];
  connection: ConnectionChoice;
  update: boolean;
  junit?: string;
  json: boolean;
  timeoutMs: number;
  /** `--deadline MS`: every notebook's cells stop then (the cells not done fail). */
  deadlineMs?: number;
  qemuBinary?: string;
  help: boolean;
}

/** Parses the arguments after `test`. Never throws. */
export function parseTestArgs(argv: readonly string[]): { ok: true; request: TestRequest } | { ok: false; message: string } {
  let parsed;
  try {
    parsed = nodeParseArgs({
      args: [...argv],
      allowPositionals: true,
      strict: true,
      options: {
        socket: { type: 'string' }, tcp: { type: 'string' }, sandbox: { type: 'boolean' }, qemu: { type: 'string' },
        update: { type: 'boolean' }, junit: { type: 'string' }, json: { type: 'boolean' }, timeout: { type: 'string' }, deadline: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (err) {
    // node:util's messages name the option: "Unknown option '--x'", "Option '--junit <value>' argument missing".
    return { ok: false, message: `test: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}` };
  }
  const v = parsed.values;
  const help = v.help === true;
  const given = (['socket', 'tcp', 'sandbox'] as const).filter((n) => v[n] !== undefined);
  if (given.length > 1) return { ok: false, message: `give only one of ${given.map((n) => `--${n}`).join(', ')}` };
  let connection: ConnectionChoice = { kind: 'default' };
  if (v.socket !== undefined) {
    if (v.socket === '') return { ok: false, message: '--socket needs a value' };
    connection = { kind: 'unix', path: v.socket };
  } else if (v.tcp !== undefined) {
    const hp = parseHostPort(v.tcp);
    if (!hp) return { ok: false, message: `--tcp expects HOST:PORT with a port from 1 to 65535, got '${v.tcp}'` };
    connection = { kind: 'tcp', ...hp };
  } else if (v.sandbox) connection = { kind: 'sandbox' };
  if (v.qemu !== undefined && connection.kind !== 'sandbox' && connection.kind !== 'default') {
    return { ok: false, message: '--qemu only applies to --sandbox' };
  }
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (v.timeout !== undefined) {
    if (!/^\d+$/.test(v.timeout) || Number(v.timeout) <= 0 || Number(v.timeout) > 2_147_483_647) {
      return { ok: false, message: `--timeout expects a positive number of milliseconds up to 2147483647, got '${v.timeout}'` };
    }
    timeoutMs = Number(v.timeout);
  }
  let deadline = {};
  if (v.deadline !== undefined) {
    const ms = parseMilliseconds('deadline', v.deadline);
    if (typeof ms === 'string') return { ok: false, message: ms };
    deadline = { deadlineMs: ms };
  }
  if (v.junit === '') return { ok: false, message: '--junit needs a file name' };
  if (v.update && v.junit !== undefined) return { ok: false, message: '--update writes outputs and compares nothing: --junit does not apply' };
  if (v.update && parsed.positionals.includes('-')) return { ok: false, message: "--update writes into the notebook files: standard input ('-') cannot be updated" };
  if (!help && parsed.positionals.length === 0) return { ok: false, message: "'test' needs at least one notebook file" };
  return {
    ok: true,
    request: {
      files: parsed.positionals, connection, update: v.update === true, json: v.json === true, timeoutMs, help, ...deadline,
      ...(v.junit !== undefined ? { junit: v.junit } : {}), ...(v.qemu !== undefined ? { qemuBinary: v.qemu } : {}),
    },
  };
}

class TestUsage extends Error {}

/** The 1-based line of each cell's first source line in the file (the CLI's own cell locator). */
function cellLines(text: string, cells: readonly CellData[]): Array<number | undefined> {
  const body = text.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n');
  const index = new LineIndex(body);
  return findSourceOffsets(body, cells.map((c) => c.source)).map((at) => (at === undefined ? undefined : index.position(at).line));
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

function plan(notebook: NotebookData, lines: Array<number | undefined>, schema: ValueKindOracle | undefined, fileLines: readonly string[] = []): PlannedCell[] {
  const base = notebookRules(notebook).rules;
  const planned: PlannedCell[] = [];
  const repeats = new Map<string, number>();
  notebook.cells.forEach((cell, i) => {
    if (cell.kind !== 'code' || !isCodeLanguage(cell.language)) return;
    const cellPlan = planCell(cell.source, cell.language, schema, base);
    const rules = cellRules(cell.source, base);
    const line = lines[i];
    const written: WrittenExpectation[] = [];
    cellPlan.steps.forEach((s, step) => {
      if (s.kind !== 'command' || !s.expected) return;
      written.push({ step, command: s.name, json: s.expected.text.replace(/^\s*<-\s*/, ''), ...(line !== undefined ? { line: line + s.line } : {}) });
    });
    const repeat = (repeats.get(cell.source) ?? 0) + 1;
    repeats.set(cell.source, repeat);
    const savedLine = savedOutputsLine(fileLines, line, cell);
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

interface TestContext {
  /** Aborted when `--deadline` passes. */
  deadline?: AbortSignal;
  deps: CliDeps;
  req: TestRequest;
  io: CliIo;
  results: CellResult[];
}

/** Front matter that looks like test settings but did not parse: the notebook would silently lose them. */
function badFrontMatter(text: string, notebook: NotebookData): string | undefined {
  const first = notebook.cells[0];
  if (first?.kind !== 'markdown' || !/^\uFEFF?---[ \t]*\r?\n/.test(text)) return undefined;
  const m = /^(masks|ignoreEvents|eventOrder)[ \t]*:.*$/m.exec(first.source);
  return m ? `the front matter is not understood (${m[0].trim()}): masks and ignoreEvents are JSON arrays of strings, eventOrder is saved or any` : undefined;
}

async function testFile(ctx: TestContext, file: string): Promise<'ok' | 'lost'> {
  const { deps, req, io } = ctx;
  const { text, notebook } = readNotebook(deps, file, io, (m) => new TestUsage(m));
  const bad = badFrontMatter(text, notebook);
  if (bad) throw new TestUsage(`${file}: ${bad}`);
  const front = notebookRules(notebook);
  if (front.errors.length) throw new TestUsage(`${file}: ${front.errors.join('; ')}`);
  // Nothing to test is a failure, not a silent pass (a `query-status` line outside a fence is Markdown).
  if (!hasCodeCells(notebook)) {
    const message = 'no cells to test: the notebook has no code cells (commands go in fenced blocks: ```qmp, ```qmp-shell or ```hmp)';
    ctx.results.push({ file, cell: 0, status: 'failed', type: 'notebook-error', problems: [message], diff: '', ms: 0 });
    if (req.json) io.out(jsonRecord(ctx.results[ctx.results.length - 1] as CellResult));
    else io.out(`${style(deps.color).red('FAIL')} ${file}: ${message}`);
    return 'ok';
  }
  const lines = cellLines(text, notebook.cells);
  const fileLines = text.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n').split('\n');

  let cells = plan(notebook, lines, undefined, fileLines);
  let connection;
  try {
    connection = resolveConnection(req.connection, notebook.profile, true);
  } catch (err) {
    throw new TestUsage(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  let session: CliSession;
  try {
    session = await deps.connect(connection, { ...(req.qemuBinary !== undefined ? { qemuBinary: req.qemuBinary } : {}), ...(ctx.deadline ? { signal: ctx.deadline } : {}) });
  } catch (err) {
    throw new TestUsage(`cannot connect for ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  try {
    if (notebook.cells.some((c) => c.kind === 'code' && c.language === 'qmp-shell')) {
      let infos: unknown;
      try {
        infos = await session.client.execute('query-qmp-schema', undefined, { timeoutMs: 30_000 });
      } catch (err) {
        throw new TestUsage(`${file}: query-qmp-schema failed: ${err instanceof Error ? err.message : String(err)}`);
      }
      if (!Array.isArray(infos)) throw new TestUsage('query-qmp-schema did not return an array');
      const schema = Schema.fromIntrospection(infos as SchemaInfo[]);
      session.client.setSchema(schema);
      cells = plan(notebook, lines, schema, fileLines);
    }
    const broken = cells.filter((c) => c.problems.length);
    if (broken.length) {
      for (const c of broken) {
        ctx.results.push({
          file, cell: c.index, ...(c.line !== undefined ? { line: c.line } : {}), name: c.name, type: 'malformed-cell', status: 'failed',
          problems: c.problems.map((p) => `malformed cell: ${p}`), diff: '', ms: 0,
        });
        if (!req.json) for (const p of c.problems) io.err(`${file}: ${cellName({ cell: c.index, ...(c.line !== undefined ? { line: c.line } : {}) })}: ${p}`);
      }
      io.err(`qmp-notebook: ${file}: malformed cells; nothing was sent`);
      return 'ok';
    }
    const dirs: VolatileDir[] = [];
    const dir = (session as { dir?: unknown }).dir;
    if (typeof dir === 'string' && dir !== '') dirs.push({ path: dir, name: 'SANDBOX_DIR' });
    const cellProgress = (n: number): void => {
      const c = cells[n];
      deps.progress?.(c === undefined ? '' : `testing ${file}: cell ${n + 1} of ${cells.length} (${c.name})`);
    };
    cellProgress(0);
    const records = await executeCells(session.client, cells.map((c) => c.run), {
      timeoutMs: req.timeoutMs, settleMs: Math.min(DEFAULT_WAIT_TIMEOUT_MS, req.timeoutMs), ...(ctx.deadline ? { signal: ctx.deadline } : {}),
    }, (n) => cellProgress(n + 1));
    deps.progress?.('');
    const updates = new Map<number, SavedOutput[]>();
    const codeIndex = new Map<number, number>();
    notebook.cells.filter((c) => c.kind === 'code').forEach((c, k) => codeIndex.set(notebook.cells.indexOf(c), k));
    let lost: string | undefined;
    records.forEach((rec, n) => {
      const c = cells[n] as PlannedCell;
      const rules = cellRules(c.data.source, front.rules).rules;
      const cmp = compareCell({
        saved: c.data.outputs, actual: rec.outputs, replies: rec.replies, written: c.written, writtenEvents: writtenEvents(c, rec), rules, dirs,
        ...(c.savedLine !== undefined ? { savedLine: c.savedLine } : {}),
      });
      const where = { file, cell: c.index, ...(c.line !== undefined ? { line: c.line } : {}), name: c.name, ms: rec.ms };
      if (rec.lost !== undefined) {
        lost = rec.lost.message;
        ctx.results.push({ ...where, status: 'error', type: 'connection-lost', problems: [`QEMU went away: ${rec.lost.message}`], diff: '' });
      } else if (req.update) {
        updates.set(codeIndex.get(c.index - 1) as number, cmp.stable);
        ctx.results.push({ ...where, status: 'passed', problems: [], diff: '' });
      } else {
        // Reports show long lines cut (a saved output may be tens of MB on one line): see MAX_REPORT_LINE.
        ctx.results.push({
          ...where, status: cmp.ok ? 'passed' : 'failed', problems: cmp.problems.map((p) => clipText(p)), diff: clipText(cmp.diff),
          ...(cmp.ok ? {} : { type: 'mismatch' as const, ...(cmp.at !== undefined ? { at: cmp.at } : {}) }),
        });
      }
      const r = ctx.results[ctx.results.length - 1] as CellResult;
      if (req.json) io.out(jsonRecord(r));
      else if (!req.update) {
        const s = style(deps.color);
        io.out(`${r.status === 'passed' ? s.green('ok  ') : s.red('FAIL')} ${file} ${cellName(r)}: ${r.name ?? ''}`);
        // The first problem as FILE:LINE:COL: error: (a CI problem matcher's line), then the others, then the diff.
        const located = locationLine(r);
        if (located !== undefined) io.out(s.bold(located));
        for (const p of r.problems.slice(1)) io.out(`  ${p}`);
        if (r.diff) for (const l of r.diff.split('\n')) io.out(colorDiffLine(l, s));
      }
    });
    // Cells after a lost connection never ran.
    for (const c of cells.slice(records.length)) {
      ctx.results.push({
        file, cell: c.index, ...(c.line !== undefined ? { line: c.line } : {}), name: c.name, type: 'not-run', status: 'error',
        problems: ['not run: QEMU went away before this cell'], diff: '', ms: 0,
      });
    }
    if (lost !== undefined) {
      io.err(`qmp-notebook: ${file}: QEMU went away during the run: ${lost}${req.update ? '; nothing was written' : ''}`);
      return 'lost';
    }
    if (req.update) {
      const result = replaceOutputs(text, updates);
      if ('error' in result) throw new TestUsage(`${file}: ${result.error}`);
      if (result.text !== text) {
        try {
          writeFileAtomicSync(file, result.text);
        } catch (err) {
          throw new TestUsage(`cannot write ${file}: ${err instanceof Error ? err.message : String(err)}`);
        }
        io.err(`qmp-notebook: ${file}: saved outputs updated`);
      } else {
        io.err(`qmp-notebook: ${file}: saved outputs already up to date`);
      }
    }
    return 'ok';
  } finally {
    await session.close();
  }
}

/** `qmp-notebook test …` (argv after `test`); returns the exit code. */
export async function testMain(argv: readonly string[], deps: CliDeps, io: CliIo): Promise<number> {
  const parsed = parseTestArgs(argv);
  if (!parsed.ok) {
    io.err(`qmp-notebook: ${parsed.message}`);
    io.err("Try 'qmp-notebook test --help'.");
    return 2;
  }
  const req = parsed.request;
  if (req.help) {
    for (const l of TEST_USAGE.trimEnd().split('\n')) io.out(l);
    return 0;
  }
  const ctx: TestContext = { deps, req, io, results: [] };
  const controller = new AbortController();
  const deadlineTimer = req.deadlineMs === undefined ? undefined
    : setTimeout(() => controller.abort(new StopRequest('timeout', `the test did not finish within ${req.deadlineMs} ms (--deadline)`)), req.deadlineMs);
  if (deadlineTimer !== undefined) ctx.deadline = controller.signal;
  let code = 0;
  try {
    for (const file of req.files) {
      try {
        if ((await testFile(ctx, file)) === 'lost') code = 2;
      } catch (err) {
        if (!(err instanceof TestUsage)) throw err;
        io.err(`qmp-notebook: ${err.message}`);
        code = 2;
        ctx.results.push({ file, cell: 0, status: 'error', type: 'notebook-error', problems: [err.message], diff: '', ms: 0 });
      }
    }
  } finally {
    clearTimeout(deadlineTimer);
  }
  if (req.junit !== undefined) {
    try {
      writeFileAtomicSync(req.junit, junitChunks(ctx.results, req.files));
    } catch (err) {
      io.err(`qmp-notebook: cannot write ${req.junit}: ${err instanceof Error ? err.message : String(err)}`);
      code = 2;
    }
  }
  const failed = ctx.results.some((r) => r.status !== 'passed');
  if (req.json) {
    const passed = ctx.results.filter((r) => r.status === 'passed').length;
    io.out(JSON.stringify({ passed, failed: ctx.results.length - passed }));
  } else if (!req.update) {
    const line = summaryLine(ctx.results);
    io.out(failed ? style(deps.color).red(line) : style(deps.color).green(line));
  }
  if (code !== 0) return code;
  return failed ? 1 : 0;
}
