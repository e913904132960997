// `qmp-notebook test FILE.qmp…`: runs each notebook and compares what every cell saw with its saved outputs
// (and with the `<-` replies written in its cells), after masking volatile values. The iotests workflow for
// QMP notebooks: run, `--update` to regenerate the saved outputs, review the diff, commit. See
// docs/testing-notebooks.md.
//
// Exit codes: 0 every cell matched (or `--update` wrote the outputs); 1 a cell did not match, or a cell is
// malformed; 2 usage, an unreadable notebook or bad masks, a connection that could not be made, QEMU going
// away during the run.
import { parseArgs as nodeParseArgs } from 'node:util';
import { parseMilliseconds, DEFAULT_TIMEOUT_MS, EXIT_HELP, type ConnectionChoice } from './args';
import type { CliDeps, CliIo, CliSession } from './common';
import { hasCodeCells, readNotebook, resolveConnection } from './common';
import { describeEndpoint, endpointFromOptions, isPrivateEndpoint, KernelSchemaError, type EndpointOptions } from '../kernel/index';
import { testNotebook } from '../kernel/testRun';
import { locateCells } from './locate';
import { DEFAULT_WAIT_TIMEOUT_MS, type CellData, type NotebookData, type SavedOutput } from '../format/index';
import { writeFileAtomicSync } from '../format/atomicWrite';
import { StopRequest, type TranscriptRecord } from '../run/index';
import { JobProgressLine } from './run';
import { notebookRules } from '../testing/compare';
import { clipText } from '../testing/diff';
import { cellName, jsonRecord, junitChunks, locationLine, summaryLine, type CellResult } from '../testing/report';
import { replaceOutputs } from '../testing/update';
import { colorDiffLine, style } from './style';

export const TEST_USAGE = `Usage:
  qmp-notebook test FILE.qmp… [CONNECTION] [--update] [--junit OUT.xml] [--json] [--timeout MS] [--deadline MS]

CONNECTION is one of --socket PATH, --tcp HOST:PORT, --sandbox [--qemu BINARY] (the default), --storage-daemon,
--guest-agent SOCK, --libvirt DOMAIN [--connect URI], as for 'qmp-notebook run'.

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
Each notebook gets a fresh private sandbox (or storage daemon); the notebooks whose front matter says
'testOn: live-session' share one, in the order given.
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
        'storage-daemon': { type: 'boolean' }, 'guest-agent': { type: 'string' }, libvirt: { type: 'string' }, connect: { type: 'string' },
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
  // The same reader of the connection options as every other subcommand: every kind of connection.
  const chosen = endpointFromOptions(v as EndpointOptions);
  if (!chosen.ok) return { ok: false, message: chosen.message };
  const connection: ConnectionChoice = chosen.endpoint ?? { kind: 'default' };
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
  return locateCells(text, cells.map((c) => c.source)).lines;
}

interface TestContext {
  /** Aborted when `--deadline` passes. */
  deadline?: AbortSignal;
  deps: CliDeps;
  req: TestRequest;
  io: CliIo;
  results: CellResult[];
  /**
   * The private process (sandbox, storage daemon) that the run's `testOn: live-session` notebooks share, in
   * file order: the command line's live session. Closed when the run ends.
   */
  shared?: { kind: string; session: CliSession } | undefined;
}

/** Front matter that looks like test settings but did not parse: the notebook would silently lose them. */
function badFrontMatter(text: string, notebook: NotebookData): string | undefined {
  const first = notebook.cells[0];
  if (first?.kind !== 'markdown' || !/^\uFEFF?---[ \t]*\r?\n/.test(text)) return undefined;
  const m = /^(masks|ignoreEvents|eventOrder|testOn)[ \t]*:.*$/m.exec(first.source);
  return m ? `the front matter is not understood (${m[0].trim()}): masks and ignoreEvents are JSON arrays of strings, eventOrder is saved or any, testOn is fresh or live-session` : undefined;
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

  let connection;
  try {
    connection = resolveConnection(req.connection, notebook.profile, true);
  } catch (err) {
    throw new TestUsage(`${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  // `testOn: live-session` on a private process: the run's one shared process (see TestContext.shared). On a
  // socket, TCP, guest agent or libvirt every notebook runs on that live endpoint anyway.
  const shares = notebook.testOn === 'live-session' && isPrivateEndpoint(connection);
  let session: CliSession;
  if (shares && ctx.shared?.kind === connection.kind) session = ctx.shared.session;
  else try {
    // The kernel of the connection, with the test rules' time limits: each command, and expected events
    // written in cells at most `timeoutMs`.
    session = await deps.connect(connection, {
      ...(req.qemuBinary !== undefined ? { qemuBinary: req.qemuBinary } : {}), ...(ctx.deadline ? { signal: ctx.deadline } : {}),
      engine: { commandTimeoutMs: req.timeoutMs, expectedEventsTimeoutMs: req.timeoutMs },
    });
  } catch (err) {
    throw new TestUsage(`cannot connect to ${describeEndpoint(connection)} for ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (shares && ctx.shared?.session !== session) {
    await ctx.shared?.session.close();
    ctx.shared = { kind: connection.kind, session };
  }
  let lost = false;
  try {
    // The one test path (src/kernel/testRun.ts), as the editor's Run as Test.
    let outcome;
    // Jobs' progress on the terminal's progress line (standard error, a terminal only).
    const jobs = deps.progress ? new JobProgressLine((text) => deps.progress?.(text, true)) : undefined;
    try {
      outcome = await testNotebook(session, {
        ...(jobs ? { onRecord: (r: TranscriptRecord) => jobs.write(r) } : {}),
        cells: notebook.cells, lines, fileLines, rules: front.rules, timeoutMs: req.timeoutMs, ...(ctx.deadline ? { signal: ctx.deadline } : {}),
        onCell: (n, total, name) => deps.progress?.(n >= total ? '' : `testing ${file}: cell ${n + 1} of ${total} (${name ?? ''})`),
      });
      jobs?.clear();
      deps.progress?.('');
    } catch (err) {
      if (err instanceof KernelSchemaError) throw new TestUsage(`${file}: ${err.message}`);
      throw err;
    }
    if (outcome.malformed) {
      for (const v of outcome.verdicts) {
        ctx.results.push({ file, cell: v.cell, ...(v.line !== undefined ? { line: v.line } : {}), name: v.name, type: 'malformed-cell', status: 'failed', problems: v.problems, diff: '', ms: 0 });
        if (!req.json) for (const p of v.problems) io.err(`${file}: ${cellName(v)}: ${p.replace(/^malformed cell: /, '')}`);
      }
      io.err(`qmp-notebook: ${file}: malformed cells; nothing was sent`);
      return 'ok';
    }
    const updates = new Map<number, SavedOutput[]>();
    const codeIndex = new Map<number, number>();
    notebook.cells.filter((c) => c.kind === 'code').forEach((c, k) => codeIndex.set(notebook.cells.indexOf(c), k));
    for (const v of outcome.verdicts) {
      const where = { file, cell: v.cell, ...(v.line !== undefined ? { line: v.line } : {}), name: v.name, ms: v.ms };
      if (req.update && v.status !== 'error') {
        updates.set(codeIndex.get(v.cell - 1) as number, v.stable as SavedOutput[]);
        ctx.results.push({ ...where, status: 'passed', problems: [], diff: '' });
      } else {
        // Reports show long lines cut (a saved output may be tens of MB on one line): see MAX_REPORT_LINE.
        ctx.results.push({
          ...where, status: v.status, problems: v.problems.map((p) => clipText(p)), diff: clipText(v.diff),
          ...(v.type !== undefined ? { type: v.type } : {}), ...(v.at !== undefined ? { at: v.at } : {}),
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
    }
    if (outcome.lost !== undefined) {
      lost = true;
      io.err(`qmp-notebook: ${file}: QEMU went away during the run: ${outcome.lost}${req.update ? '; nothing was written' : ''}`);
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
    // A shared process stays for the next live-session notebook, unless it went away.
    if (!shares || lost) {
      if (ctx.shared?.session === session) ctx.shared = undefined;
      await session.close();
    }
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
    await ctx.shared?.session.close();
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
