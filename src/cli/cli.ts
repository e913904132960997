// The `qmp-notebook` command: argument handling, the three subcommands and their exit codes. It gets the
// protocol core and the notebook format through `CliDeps` (wired to the real modules in main.ts), so that
// everything here is plain data flow that the benchmark and the tests can call in-process.
//
// Exit codes: 0 success; 1 a QEMU error reply, a command or event-wait timeout, a malformed cell (run) or an
// error-severity problem (check); 2 a usage error, an unreadable file, or a connection problem, including
// QEMU going away in the middle of a run.
import { readFileSync } from 'node:fs';
import { languageService, liveNeeds, NamedScan, namesCreatedBy, parseCompatPolicy } from '../language/service';
import { parseCell } from '../format/cell';
import type { NotebookData, parseNotebook } from '../format/index';
import { Schema, type SchemaInfo } from '../qmp/index';
import { SchemaError } from '../qmp/introspect';
import { isCodeLanguage, notebookRules, planCell, StopRequest, type CellPlan, type EngineOptions } from '../run/index';
import { describeEndpoint, KernelSchemaError } from '../kernel/index';
import { CHECK_USAGE, DEFAULT_TIMEOUT_MS, parseArgs, RUN_USAGE, SCHEMA_USAGE, USAGE, type CheckRequest, type RunRequest, type SchemaRequest } from './args';
import { locateCells, type LineIndex } from './locate';
import { runCells, type RunCell } from './run';
import { testMain } from './test';
import { openShellSession, shellMain, SHELL_USAGE } from './shell';
import { style } from './style';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export type Severity = 'error' | 'warning' | 'info' | 'hint';

/** A problem in a cell, with UTF-16 offsets into the cell's source. */
export interface CellProblem {
  start: number;
  end: number;
  severity: Severity;
  message: string;
  code?: string;
}

export { hasCodeCells, readNotebook, resolveConnection, UsageFailure, warnNoCells, type CliDeps, type CliIo, type CliSession, type ResolvedConnection } from './common';
import { hasCodeCells, readNotebook, resolveConnection, UsageFailure, warnNoCells, type CliDeps, type CliIo, type CliSession, type ResolvedConnection } from './common';

/**
 * Opens the kernel of a connection for a subcommand (every subcommand accepts every kind of connection). A
 * failure is a usage error that names the connection; `signal` bounds every phase.
 */
export async function open(deps: CliDeps, c: ResolvedConnection, qemuBinary: string | undefined, signal?: AbortSignal,
  engine?: Omit<EngineOptions, 'client'>): Promise<CliSession> {
  try {
    const opening = deps.connect(c, { ...(qemuBinary !== undefined ? { qemuBinary } : {}), ...(signal ? { signal } : {}), ...(engine ? { engine } : {}) });
    if (!signal) return await opening;
    // The deadline bounds every phase, even one that does not watch the signal (starting a sandbox): a
    // session that opens after it has passed is closed at once.
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([opening, aborted]);
    } catch (err) {
      opening.then((late) => late.close(), () => undefined).then(undefined, () => undefined);
      throw err;
    } finally {
      if (onAbort) signal.removeEventListener('abort', onAbort);
    }
  } catch (err) {
    const why = signal?.aborted && signal.reason instanceof Error ? signal.reason.message : err instanceof Error ? err.message : String(err);
    throw new UsageFailure(`cannot connect to ${describeEndpoint(c)}: ${why}`);
  }
}

/** The model of a schema; a schema the model cannot use is a usage error of one line (exit 2), not a crash. */
function schemaFrom(infos: unknown, what: string): Schema {
  if (!Array.isArray(infos)) throw new UsageFailure(`${what} is not a query-qmp-schema reply (expected a JSON array)`);
  try {
    return Schema.fromIntrospection(infos as SchemaInfo[]);
  } catch (err) {
    if (err instanceof SchemaError) throw new UsageFailure(`${what}: ${err.message}`);
    throw err;
  }
}

/** The kernel's schema (read once per connection); one that cannot be read or used is a usage error. */
export async function fetchSchema(session: CliSession, signal?: AbortSignal): Promise<Schema> {
  try {
    return await session.loadSchema(signal ? { signal } : {});
  } catch (err) {
    if (err instanceof KernelSchemaError) throw new UsageFailure(err.message);
    throw err;
  }
}

/**
 * Cells that the connection refuses whatever the schema says: an `exec-oob` on a guest agent or through
 * libvirt (`run` refuses them before sending; `check` reports them as errors, in the same words).
 */
export function oobNeverProblems(plan: CellPlan, oobNever: string | undefined): CellProblem[] {
  if (oobNever === undefined) return [];
  const problems: CellProblem[] = [];
  for (const step of plan.steps) {
    if (step.kind !== 'command' || !step.oob) continue;
    problems.push({ start: step.offset, end: step.offset, severity: 'error', code: 'oob-never', message: `${step.name} cannot run out-of-band here: ${oobNever}` });
  }
  return problems;
}

/** A schema file holds the array `query-qmp-schema` returns, or the whole reply `{"return": [...]}`. */
export function readSchemaFile(deps: CliDeps, file: string): Schema {
  let value: unknown;
  try {
    value = JSON.parse(deps.readFile ? deps.readFile(file) : readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageFailure(`cannot read schema ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Array.isArray((value as { return?: unknown }).return)) {
    value = (value as { return: unknown[] }).return;
  }
  return schemaFrom(value, file);
}

interface LocatedProblem {
  cell: number;
  line: number;
  col: number;
  endLine: number;
  endCol: number;
  severity: Severity;
  message: string;
  code?: string;
}

/** Positions in the file for each cell's offsets. */
class FileMap {
  private readonly index: LineIndex;
  private readonly offsets: Array<number | undefined>;

  private readonly text: string;

  constructor(fileText: string, cells: ReadonlyArray<{ source: string; offset?: number }>) {
    // Every cell source is a verbatim slice of the text as the format reads it (no BOM; CRLF as LF only when
    // every line is CRLF), so each is found searching forward and none sends the search to the end of the
    // file (which made `check` quadratic on LF files with CRLF inside paragraphs).
    const located = locateCells(fileText, cells.map((c) => c.source));
    this.text = located.body;
    this.index = located.index;
    this.offsets = cells.map((c, i) => c.offset ?? located.offsets[i]);
  }

  /** File position of an offset in cell `i` (0-based); the file start when the cell was not found. */
  position(i: number, offsetInCell: number): { line: number; col: number } {
    const base = this.offsets[i];
    if (base === undefined) return { line: 1, col: 1 };
    return this.index.position(Math.min(base + offsetInCell, this.text.length));
  }

  cellLine(i: number): number | undefined {
    const base = this.offsets[i];
    return base === undefined ? undefined : this.index.position(base).line;
  }
}

function locate(map: FileMap, cellIndex: number, p: CellProblem): LocatedProblem {
  const s = map.position(cellIndex, p.start);
  const e = map.position(cellIndex, Math.max(p.start, p.end));
  return {
    cell: cellIndex + 1, line: s.line, col: s.col, endLine: e.line, endCol: e.col, severity: p.severity, message: p.message,
    ...(p.code !== undefined ? { code: p.code } : {}),
  };
}

function printProblems(io: CliIo, file: string, problems: readonly LocatedProblem[], json: boolean, toErr: boolean, color = false): void {
  const s = style(color && !toErr);
  for (const p of problems) {
    if (json) io.out(JSON.stringify({ file, ...p }));
    else {
      const severity = p.severity === 'error' ? s.red(p.severity) : p.severity === 'warning' ? s.yellow(p.severity) : p.severity;
      (toErr ? io.err : io.out).call(io, `${s.bold(`${file}:${p.line}:${p.col}:`)} ${severity}: ${p.message}${p.code ? ` [${p.code}]` : ''}`);
    }
  }
}

function planProblems(plan: CellPlan): CellProblem[] {
  return plan.problems.map((p) => ({ start: p.start ?? 0, end: p.end ?? p.start ?? 0, severity: 'error', message: p.message }));
}

interface ParsedRun {
  cells: RunCell[];
  problems: LocatedProblem[];
}

/**
 * While a connection opens meanwhile, planning gives the event loop a turn once it has run this long (checked
 * every PLAN_CHECK cells), so that each step of the handshake (connected, greeting, negotiated) waits at most
 * this for its turn: a cold process plans its first cells many times slower than a warm one. Once the
 * connection is open (or failed), planning runs on without a turn: nothing waits for one any more.
 */
const PLAN_SLICE_MS = 0.05;
const PLAN_CHECK = 4;

/**
 * Plans the code cells; step lines become 1-based lines in the file. While `yielding()` says so, the event loop
 * gets a turn every PLAN_SLICE_MS, so that a connection being opened meanwhile goes on with its handshake.
 */
async function planRunnable(notebook: Notebook, map: FileMap, schema?: Schema, yielding: () => boolean = () => false): Promise<ParsedRun> {
  const cells: RunCell[] = [];
  const problems: LocatedProblem[] = [];
  // The front matter's masks, ignorable events and event order: how expected events are compared.
  const rules = notebookRules(notebook).rules;
  let since = 0;
  let sliceStart = performance.now();
  for (let i = 0; i < notebook.cells.length; i++) {
    const cell = notebook.cells[i] as Notebook['cells'][number];
    if (cell.kind !== 'code' || !isCodeLanguage(cell.language)) continue;
    const plan = planCell(cell.source, cell.language, schema, rules);
    // Index loops, no spread: this runs once per cell before the first command is sent.
    if (plan.problems.length > 0) for (const p of planProblems(plan)) problems.push(locate(map, i, p));
    const steps = plan.steps;
    for (let k = 0; k < steps.length; k++) {
      const step = steps[k] as (typeof steps)[number];
      step.line = map.position(i, step.offset).line;
    }
    if (plan.expect) for (const e of plan.expect.events) e.line = map.position(i, e.offset).line;
    const line = map.cellLine(i);
    if (steps.length > 0) cells.push(line !== undefined ? { cell: i + 1, line, plan } : { cell: i + 1, plan });
    if (++since >= PLAN_CHECK && yielding()) {
      since = 0;
      if (performance.now() - sliceStart >= PLAN_SLICE_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        sliceStart = performance.now();
      }
    }
  }
  return { cells, problems };
}

type Notebook = ReturnType<typeof parseNotebook>;

/** A deadline for the whole command (--deadline): connecting, the schema, every cell; none without one. */
function deadline(ms: number | undefined): { signal?: AbortSignal; dispose(): void } {
  if (ms === undefined) return { dispose: () => undefined };
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(new StopRequest('timeout', `the run did not finish within ${ms} ms (--deadline)`)), ms);
  return { signal: controller.signal, dispose: () => clearTimeout(timer) };
}

/**
 * Whether a connection may be opened while the cells are still being planned: a plain QMP socket, where opening
 * and closing sends no command (connecting is part of the run's fixed cost, and this overlaps it with planning).
 * A process the run would start, a guest agent, or a libvirt domain (connecting marks it tainted) is opened only
 * once every cell is known to be good: a typo costs no QEMU.
 */
function opensEarly(c: ResolvedConnection): boolean {
  return c.kind === 'unix' || c.kind === 'tcp';
}

async function run(deps: CliDeps, req: RunRequest, io: CliIo): Promise<number> {
  const limit = deadline(req.deadlineMs);
  // A connection opened early (while the file is read and its cells are planned) is cancelled, unused, when the
  // file cannot be read, has no cells or has a malformed one.
  const early = new AbortController();
  let opening: Promise<CliSession> | undefined;
  const startOpening = (connection: ResolvedConnection): Promise<CliSession> => {
    deps.progress?.(`connecting to ${describeEndpoint(connection)}`);
    const signal = limit.signal ? AbortSignal.any([early.signal, limit.signal]) : early.signal;
    const session = open(deps, connection, req.qemuBinary, signal, { commandTimeoutMs: req.timeoutMs ?? DEFAULT_TIMEOUT_MS })
      .finally(() => deps.progress?.(''));
    // Its failure is reported where it is awaited; not as an unhandled rejection if nothing is run.
    session.catch(() => undefined);
    return session;
  };
  /** The early connection is not used: cancelled, and closed if it opened. */
  const dropEarly = async (why: string): Promise<void> => {
    if (!opening) return;
    early.abort(new Error(why));
    await opening.then((s) => s.close(), () => undefined);
  };
  try {
    // A socket named on the command line is known before the file is read: it is opened meanwhile.
    if (req.connection.kind !== 'default' && opensEarly(req.connection)) opening = startOpening(req.connection);
    let connection: ResolvedConnection;
    let text: string;
    let notebook: NotebookData;
    try {
      ({ text, notebook } = readNotebook(deps, req.file, io));
      connection = resolveConnection(req.connection, notebook.profile, true);
    } catch (err) {
      await dropEarly('the notebook cannot be run');
      throw err;
    }
    if (!hasCodeCells(notebook)) {
      // Nothing to run: said, and nothing is sent.
      await dropEarly('the notebook has no code cells');
      warnNoCells(io, req.file);
      return EXIT_OK;
    }
    // Otherwise a plain socket is opened while the cells are planned.
    if (!opening && opensEarly(connection)) opening = startOpening(connection);
    // Planning gives the event loop turns while a connection opens meanwhile (see PLAN_SLICE_MS).
    let opened = opening === undefined;
    opening?.then(() => { opened = true; }, () => { opened = true; });
    const map = new FileMap(text, notebook.cells);
    // Cells that parse without a schema are checked before anything is sent, so a typo costs no QEMU.
    const needsSchema = notebook.cells.some((c) => c.kind === 'code' && c.language === 'qmp-shell');
    const planned = await planRunnable({ ...notebook, cells: notebook.cells.map((c) => (c.language === 'qmp-shell' ? { ...c, kind: 'markdown' as const } : c)) },
      map, undefined, () => !opened);
    const reportMalformed = (problems: LocatedProblem[]): number => {
      printProblems(io, req.file, problems, req.json, !req.json);
      io.err(`qmp-notebook: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the notebook's cells; nothing was sent`);
      return EXIT_FAILED;
    };
    if (planned.problems.length) {
      await dropEarly('a cell is malformed: nothing is sent');
      return reportMalformed(planned.problems);
    }

    const session = await (opening ?? startOpening(connection));
    try {
      let cells = planned.cells;
      // The schema types qmp-shell values, and lets the client refuse an exec-oob of a command without
      // allow-oob before sending it (a storage daemon has none): it is loaded whenever the notebook has either.
      const hasOob = planned.cells.some((c) => c.plan.steps.some((st) => st.kind === 'command' && st.oob));
      if (needsSchema || hasOob) {
        const schema = await fetchSchema(session, limit.signal);
        const late = await planRunnable(notebook, map, schema);
        if (late.problems.length) return reportMalformed(late.problems);
        cells = late.cells;
      }
      deps.progress?.(`running ${req.file}: ${cells.length} cell${cells.length === 1 ? '' : 's'}`);
      const started = performance.now();
      const outcome = await runCells(session, cells,
        {
          json: req.json, commandTimeoutMs: req.timeoutMs ?? DEFAULT_TIMEOUT_MS, ...(limit.signal ? { signal: limit.signal } : {}),
          // Jobs' progress on the terminal's progress line (standard error, a terminal only).
          ...(deps.progress ? { jobProgress: (text: string) => deps.progress?.(text, true) } : {}),
        }, io);
      deps.progress?.('');
      // A closing line for a person at a terminal (the progress line's owner): how it ended and how long it took.
      if (deps.progress !== undefined && !req.json) {
        const secs = ((performance.now() - started) / 1000).toFixed(1);
        io.err(outcome.status === 'ok' ? `qmp-notebook: ${cells.length} cell${cells.length === 1 ? '' : 's'} ran in ${secs} s`
          : `qmp-notebook: stopped at cell ${outcome.cell} after ${secs} s`);
      }
      if (outcome.status === 'ok') return EXIT_OK;
      if (outcome.status === 'disconnected') {
        // A process we started that died says how (killed by a signal, its last words on stderr).
        const died = await session.describeLoss();
        if (died) io.err(`qmp-notebook: ${died}`);
        return EXIT_USAGE;
      }
      return EXIT_FAILED;
    } finally {
      await session.close();
    }
  } finally {
    limit.dispose();
  }
}

async function check(deps: CliDeps, req: CheckRequest, io: CliIo): Promise<number> {
  // Every notebook is read (and refused when unreadable) before anything starts; one schema serves them all.
  const read = req.files.map((file) => ({ file, ...readNotebook(deps, file, io) }));
  const first = read[0]?.notebook;
  let schema: Schema;
  let session: CliSession | undefined;
  const limit = deadline(req.deadlineMs);
  try {
    if (req.schemaFile !== undefined) {
      schema = readSchemaFile(deps, req.schemaFile);
    } else {
      session = await open(deps, resolveConnection(req.connection, first?.profile, false), req.qemuBinary, limit.signal);
      try {
        schema = await fetchSchema(session, limit.signal);
      } catch (err) {
        await session.close();
        throw err;
      }
    }
    let errors = 0;
    let others = 0;
    for (const { file, text, notebook } of read) {
      if (!hasCodeCells(notebook)) warnNoCells(io, file);
      const problems = await checkNotebook(notebook, text, schema, session, req);
      printProblems(io, file, problems, req.json, false, deps.color);
      const e = problems.filter((p) => p.severity === 'error').length;
      errors += e;
      others += problems.length - e;
    }
    if (!req.json && errors + others > 0) {
      io.err(`${errors} error${errors === 1 ? '' : 's'}, ${others} other problem${others === 1 ? '' : 's'}${read.length > 1 ? ` in ${read.length} notebooks` : ''}`);
    }
    return errors ? EXIT_FAILED : EXIT_OK;
  } finally {
    limit.dispose();
    await session?.close();
  }
}

/** The problems of one notebook's cells, located in its file and sorted. */
async function checkNotebook(notebook: NotebookData, text: string, schema: Schema, session: CliSession | undefined, req: CheckRequest): Promise<LocatedProblem[]> {
  // The -compat policy: --compat, else the notebook's front matter (both validated when read).
  const policyText = req.compat ?? notebook.compat;
  const parsedPolicy = policyText !== undefined ? parseCompatPolicy(policyText) : undefined;
  const compat = parsedPolicy !== undefined && 'policy' in parsedPolicy ? parsedPolicy.policy : undefined;
  // Connected: the names the QEMU holds are checked too (docs/live-values.md), against what it lists now plus
  // what earlier cells of the notebook create.
  const connected = session;
  const live = connected?.live;
  const made: Array<{ command: string; args: unknown }> = [];
  const map = new FileMap(text, notebook.cells);
  const problems: LocatedProblem[] = [];
  // Named replies: the names of the cells above and below each cell, so a use of an unknown name or one named
  // only below is a warning (one pass, the language server's).
  const names = new NamedScan(notebook.cells.map((c, i) => ({ text: c.source, language: c.kind === 'code' ? c.language : 'markdown', index: i })));
  for (const [i, cell] of notebook.cells.entries()) {
    const named = names.next();
    if (cell.kind !== 'code' || !isCodeLanguage(cell.language)) continue;
    if (live !== undefined) for (const n of liveNeeds(cell.language, cell.source)) await live.get(n.kind, n.scope);
    // One validator: the language service's diagnostics hold every problem the cell parser would refuse the
    // cell for, in its words, plus the schema's verdicts under the -compat policy.
    const found = languageService(cell.language)?.diagnose(cell.source, {
      schema, named, ...(compat !== undefined ? { compat } : {}), ...(live !== undefined ? { live, created: namesCreatedBy(made) } : {}),
    }) ?? [];
    problems.push(...found.map((p) => locate(map, i, p)));
    // What the connection refuses whatever the schema says (an exec-oob through libvirt): `run` would refuse it.
    if (connected !== undefined) problems.push(...oobNeverProblems(planCell(cell.source, cell.language, schema), connected.oobNever).map((p) => locate(map, i, p)));
    if (live !== undefined) {
      for (const item of parseCell(cell.source, cell.language, schema).items) {
        const name = item.kind === 'command' ? item.input.execute ?? item.input['exec-oob'] : undefined;
        if (item.kind === 'command' && name !== undefined) made.push({ command: name, args: item.input.arguments });
      }
    }
  }
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  return problems;
}

async function schemaCommand(deps: CliDeps, req: SchemaRequest, io: CliIo): Promise<number> {
  const connection = resolveConnection(req.connection, undefined, false);
  const limit = deadline(req.deadlineMs);
  try {
    const session = await open(deps, connection, req.qemuBinary, limit.signal);
    try {
      // The endpoint's schema entities: query-qmp-schema, or a guest agent's commands from guest-info.
      const infos = await session.connection.introspect({ ...(req.timeoutMs !== undefined ? { timeoutMs: req.timeoutMs } : {}), ...(limit.signal ? { signal: limit.signal } : {}) });
      if (session.kind === 'guest-agent') {
        io.err('qmp-notebook: note: the guest agent has no query-qmp-schema; this is the command list of its guest-info, ' +
          'in query-qmp-schema form (argument types are not published by the agent)');
      }
      io.out(JSON.stringify(infos));
      return EXIT_OK;
    } catch (err) {
      const why = limit.signal?.aborted && limit.signal.reason instanceof Error ? limit.signal.reason.message : err instanceof Error ? err.message : String(err);
      throw new UsageFailure(`${session.kind === 'guest-agent' ? 'guest-info' : 'query-qmp-schema'} failed: ${why}`);
    } finally {
      await session.close();
    }
  } finally {
    limit.dispose();
  }
}

/** The help of a command (`qmp-notebook run --help`), or the overview. */
function helpText(topic: 'run' | 'check' | 'schema' | 'shell' | undefined): string {
  switch (topic) {
    case 'run': return RUN_USAGE;
    case 'check': return CHECK_USAGE;
    case 'schema': return SCHEMA_USAGE;
    case 'shell': return SHELL_USAGE;
    default: return USAGE;
  }
}

/** Runs one command line; returns the exit code. Never throws for user or QEMU problems. */
export async function cliMain(argv: readonly string[], deps: CliDeps, io: CliIo): Promise<number> {
  // `test` parses its own options (src/cli/test.ts).
  if (argv[0] === 'test') return testMain(argv.slice(1), deps, io);
  const parsed = parseArgs(argv);
  if (!parsed.ok) {
    io.err(`qmp-notebook: ${parsed.message}`);
    io.err("Try 'qmp-notebook --help'.");
    return EXIT_USAGE;
  }
  const req = parsed.request;
  try {
    switch (req.command) {
      case 'help':
        for (const line of helpText(req.topic).trimEnd().split('\n')) io.out(line);
        return EXIT_OK;
      case 'version':
        io.out(`qmp-notebook ${deps.version}`);
        return EXIT_OK;
      case 'run':
        return await run(deps, req, io);
      case 'check':
        return await check(deps, req, io);
      case 'schema':
        return await schemaCommand(deps, req, io);
      case 'shell': {
        const streams = deps.shellStreams?.() ?? {
          input: process.stdin, output: process.stdout, terminal: process.stdin.isTTY === true && process.stdout.isTTY === true,
        };
        return await shellMain(req, deps, io, streams, async (c) => {
          try {
            return await openShellSession(deps, c, req.qemuBinary, req.timeoutMs ?? DEFAULT_TIMEOUT_MS);
          } catch (err) {
            throw new UsageFailure(`cannot connect to ${describeEndpoint(c)}: ${err instanceof Error ? err.message : String(err)}`);
          }
        }, (s) => fetchSchema(s));
      }
    }
  } catch (err) {
    if (err instanceof UsageFailure) {
      io.err(`qmp-notebook: ${err.message}`);
      return EXIT_USAGE;
    }
    throw err;
  }
}
