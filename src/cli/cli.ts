// The `qmp-notebook` command: argument handling, the three subcommands and their exit codes. It gets the
// protocol core and the notebook format through `CliDeps` (wired to the real modules in main.ts), so that
// everything here is plain data flow that the benchmark and the tests can call in-process.
//
// Exit codes: 0 success; 1 a QEMU error reply, a command or event-wait timeout, a malformed cell (run) or an
// error-severity problem (check); 2 a usage error, an unreadable file, or a connection problem, including
// QEMU going away in the middle of a run.
import { readFileSync } from 'node:fs';
import { decodeNotebookBytes } from '../notebook/format/encoding';
import { notebookBodyText } from '../notebook/format/notebook';
import { SchemaError } from '../qmp/introspect';
import { parseArgs, USAGE, type CheckRequest, type ConnectionChoice, type RunRequest, type SchemaRequest } from './args';
import { findSourceOffsets, LineIndex } from './locate';
import type { RunnerClient } from './ports';
import { runCells, type RunCell, type RunIo, type RunItem, type TraceSink } from './run';

export const EXIT_OK = 0;
export const EXIT_FAILED = 1;
export const EXIT_USAGE = 2;

export type Severity = 'error' | 'warning' | 'info' | 'hint';

/** A problem in a cell, with UTF-16 offsets into the cell's source. */
export interface CellProblemLike {
  start: number;
  end: number;
  severity: Severity;
  message: string;
  code?: string;
}

export interface NotebookCellLike {
  kind: 'markdown' | 'code';
  language: string;
  source: string;
  /** Offset of the source in the file text, when the format knows it. */
  offset?: number;
}

export interface NotebookLike {
  /** The connection profile the notebook names; the CLI can resolve only `sandbox` by itself. */
  profile?: string;
  cells: NotebookCellLike[];
}

/** A live connection, owned by the CLI for one subcommand. */
export interface CliSession {
  client: RunnerClient & { execute(name: string, args?: object, options?: { timeoutMs?: number }): Promise<unknown> };
  /** Hands the schema model to the client (for its allow-oob check). */
  setSchema(schema: object): void;
  /** Whether an error thrown by the client means the session is gone. */
  isConnectionLoss(err: unknown): boolean;
  attachTrace(sink: TraceSink | undefined): void;
  /** Disconnects and stops a sandbox the session started. */
  close(): Promise<void>;
}

export type ResolvedConnection = Exclude<ConnectionChoice, { kind: 'default' }>;

export interface CliDeps {
  version: string;
  parseNotebook(text: string): NotebookLike;
  /** The runnable items of a code cell and its syntax problems. */
  parseCell(source: string, language: string, schema?: object): { items: RunItem[]; problems: CellProblemLike[] };
  /** The language features' diagnostics for a code cell, when they exist. */
  diagnose?(source: string, language: string, schema: object): CellProblemLike[];
  schemaFromIntrospection(infos: unknown[]): object;
  connect(connection: ResolvedConnection, options: { qemuBinary?: string }): Promise<CliSession>;
  readFile?(path: string): string;
}

export type CliIo = RunIo;

class UsageFailure extends Error {}

/** Which languages hold commands to send; markdown and unknown languages are skipped. */
const RUNNABLE = new Set(['qmp', 'qmp-shell', 'hmp']);

function readNotebookFile(deps: CliDeps, file: string, io: CliIo): string {
  let bytes: Uint8Array;
  try {
    if (deps.readFile) return deps.readFile(file);
    bytes = readFileSync(file);
  } catch (err) {
    throw new UsageFailure(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  // Invalid UTF-8 is decoded to U+FFFD, never silently: a warning says where (the run goes on).
  const { text, warnings } = decodeNotebookBytes(bytes);
  for (const w of warnings) io.err(`qmp-notebook: warning: ${file}: ${w.message}`);
  return text;
}

/** The connection to use: what the user gave, else the notebook's profile when the CLI can resolve it. */
export function resolveConnection(choice: ConnectionChoice, profile: string | undefined, strict: boolean): ResolvedConnection {
  if (choice.kind !== 'default') return choice;
  if (profile === undefined || profile === '' || profile === 'sandbox' || !strict) return { kind: 'sandbox' };
  throw new UsageFailure(
    `the notebook uses the connection profile '${profile}', which lives in VS Code settings; ` +
      'give --socket PATH, --tcp HOST:PORT or --sandbox',
  );
}

function describe(c: ResolvedConnection): string {
  return c.kind === 'unix' ? c.path : c.kind === 'tcp' ? `${c.host}:${c.port}` : 'a sandbox QEMU';
}

async function open(deps: CliDeps, c: ResolvedConnection, qemuBinary: string | undefined): Promise<CliSession> {
  try {
    return await deps.connect(c, qemuBinary !== undefined ? { qemuBinary } : {});
  } catch (err) {
    throw new UsageFailure(`cannot connect to ${describe(c)}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function fetchSchema(deps: CliDeps, session: CliSession): Promise<object> {
  let infos: unknown;
  try {
    infos = await session.client.execute('query-qmp-schema', undefined, { timeoutMs: 30_000 });
  } catch (err) {
    throw new UsageFailure(`query-qmp-schema failed: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!Array.isArray(infos)) throw new UsageFailure('query-qmp-schema did not return an array');
  return buildSchema(deps, infos, 'the schema QEMU sent');
}

/** The model of a schema; a schema the model cannot use is a usage error of one line (exit 2), not a crash. */
function buildSchema(deps: CliDeps, infos: unknown[], source: string): object {
  try {
    return deps.schemaFromIntrospection(infos);
  } catch (err) {
    if (err instanceof SchemaError) throw new UsageFailure(`${source}: ${err.message}`);
    throw err;
  }
}

/** A schema file holds the array `query-qmp-schema` returns, or the whole reply `{"return": [...]}`. */
export function readSchemaFile(deps: CliDeps, file: string): object {
  let value: unknown;
  try {
    value = JSON.parse(deps.readFile ? deps.readFile(file) : readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageFailure(`cannot read schema ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (value !== null && typeof value === 'object' && !Array.isArray(value) && Array.isArray((value as { return?: unknown }).return)) {
    value = (value as { return: unknown[] }).return;
  }
  if (!Array.isArray(value)) throw new UsageFailure(`${file} is not a query-qmp-schema reply (expected a JSON array)`);
  return buildSchema(deps, value, file);
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

  constructor(fileText: string, cells: readonly NotebookCellLike[]) {
    // Every cell source is a verbatim slice of the text as the format reads it (no BOM; CRLF as LF only when
    // every line is CRLF), so each is found searching forward and none sends the search to the end of the
    // file (which made `check` quadratic on LF files with CRLF inside paragraphs).
    const text = notebookBodyText(fileText);
    this.text = text;
    this.index = new LineIndex(text);
    const found = findSourceOffsets(text, cells.map((c) => c.source));
    this.offsets = cells.map((c, i) => c.offset ?? found[i]);
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

function locate(map: FileMap, cellIndex: number, p: CellProblemLike): LocatedProblem {
  const s = map.position(cellIndex, p.start);
  const e = map.position(cellIndex, Math.max(p.start, p.end));
  return {
    cell: cellIndex + 1, line: s.line, col: s.col, endLine: e.line, endCol: e.col, severity: p.severity, message: p.message,
    ...(p.code !== undefined ? { code: p.code } : {}),
  };
}

function printProblems(io: CliIo, file: string, problems: readonly LocatedProblem[], json: boolean, toErr: boolean): void {
  for (const p of problems) {
    if (json) io.out(JSON.stringify({ file, ...p }));
    else (toErr ? io.err : io.out).call(io, `${file}:${p.line}:${p.col}: ${p.severity}: ${p.message}${p.code ? ` [${p.code}]` : ''}`);
  }
}

interface ParsedRun {
  cells: RunCell[];
  problems: LocatedProblem[];
}

function parseRunnable(deps: CliDeps, notebook: NotebookLike, map: FileMap, which: (language: string) => boolean, schema?: object): ParsedRun {
  const cells: RunCell[] = [];
  const problems: LocatedProblem[] = [];
  notebook.cells.forEach((cell, i) => {
    if (cell.kind !== 'code' || !RUNNABLE.has(cell.language) || !which(cell.language)) return;
    const parsed = deps.parseCell(cell.source, cell.language, schema);
    const errors = parsed.problems.filter((p) => p.severity === 'error');
    problems.push(...errors.map((p) => locate(map, i, p)));
    const line = map.cellLine(i);
    const items = parsed.items.map((item) => (item.offset !== undefined ? { ...item, line: map.position(i, item.offset).line } : item));
    if (items.length) cells.push({ index: i + 1, ...(line !== undefined ? { line } : {}), items });
  });
  return { cells, problems };
}

async function run(deps: CliDeps, req: RunRequest, io: CliIo): Promise<number> {
  const text = readNotebookFile(deps, req.file, io);
  const notebook = deps.parseNotebook(text);
  const connection = resolveConnection(req.connection, notebook.profile, true);
  const map = new FileMap(text, notebook.cells);

  // Cells that parse without a schema are checked before anything starts, so a typo costs no QEMU.
  const needsSchema = (language: string): boolean => language === 'qmp-shell';
  const early = parseRunnable(deps, notebook, map, (l) => !needsSchema(l));
  const reportMalformed = (problems: LocatedProblem[]): number => {
    printProblems(io, req.file, problems, req.json, !req.json);
    io.err(`qmp-notebook: ${problems.length} problem${problems.length === 1 ? '' : 's'} in the notebook's cells; nothing was sent`);
    return EXIT_FAILED;
  };
  if (early.problems.length) return reportMalformed(early.problems);

  const session = await open(deps, connection, req.qemuBinary);
  try {
    let cells = early.cells;
    if (notebook.cells.some((c) => c.kind === 'code' && needsSchema(c.language))) {
      const schema = await fetchSchema(deps, session);
      session.setSchema(schema);
      const late = parseRunnable(deps, notebook, map, () => true, schema);
      if (late.problems.length) return reportMalformed(late.problems);
      cells = late.cells;
    }
    const outcome = await runCells(session.client, cells, {
      json: req.json, timeoutMs: req.timeoutMs, attachTrace: (s) => session.attachTrace(s), isConnectionLoss: session.isConnectionLoss,
    }, io);
    if (outcome.status === 'ok') return EXIT_OK;
    if (req.json) io.err(`qmp-notebook: ${outcome.message}`);
    return outcome.status === 'disconnected' ? EXIT_USAGE : EXIT_FAILED;
  } finally {
    await session.close();
  }
}

async function check(deps: CliDeps, req: CheckRequest, io: CliIo): Promise<number> {
  const text = readNotebookFile(deps, req.file, io);
  const notebook = deps.parseNotebook(text);
  let schema: object;
  if (req.schemaFile !== undefined) {
    schema = readSchemaFile(deps, req.schemaFile);
  } else {
    const session = await open(deps, resolveConnection(req.connection, notebook.profile, false), req.qemuBinary);
    try {
      schema = await fetchSchema(deps, session);
    } finally {
      await session.close();
    }
  }
  const map = new FileMap(text, notebook.cells);
  const problems: LocatedProblem[] = [];
  notebook.cells.forEach((cell, i) => {
    if (cell.kind !== 'code' || !RUNNABLE.has(cell.language)) return;
    const found = deps.diagnose ? deps.diagnose(cell.source, cell.language, schema).map((p) => locate(map, i, p)) : [];
    // The parser and the diagnostics often flag one syntax error a character apart, in their own words; on a
    // line the diagnostics already flag, the diagnostics' words are kept.
    const flagged = new Set(found.filter((p) => p.severity === 'error').map((p) => p.line));
    const syntax = deps.parseCell(cell.source, cell.language, schema).problems.map((p) => locate(map, i, p)).filter((p) => !flagged.has(p.line));
    problems.push(...syntax, ...found);
  });
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  printProblems(io, req.file, problems, req.json, false);
  const errors = problems.filter((p) => p.severity === 'error').length;
  if (!req.json && problems.length) {
    io.err(`${errors} error${errors === 1 ? '' : 's'}, ${problems.length - errors} other problem${problems.length - errors === 1 ? '' : 's'}`);
  }
  return errors ? EXIT_FAILED : EXIT_OK;
}

async function schemaCommand(deps: CliDeps, req: SchemaRequest, io: CliIo): Promise<number> {
  const connection = resolveConnection(req.connection, undefined, false);
  const session = await open(deps, connection, req.qemuBinary);
  try {
    const infos = await session.client.execute('query-qmp-schema', undefined, { timeoutMs: 30_000 });
    io.out(JSON.stringify(infos));
    return EXIT_OK;
  } catch (err) {
    throw new UsageFailure(`query-qmp-schema failed: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    await session.close();
  }
}

/** Runs one command line; returns the exit code. Never throws for user or QEMU problems. */
export async function cliMain(argv: readonly string[], deps: CliDeps, io: CliIo): Promise<number> {
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
        for (const line of USAGE.trimEnd().split('\n')) io.out(line);
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
    }
  } catch (err) {
    if (err instanceof UsageFailure) {
      io.err(`qmp-notebook: ${err.message}`);
      return EXIT_USAGE;
    }
    throw err;
  }
}
