// The vocabulary of the CLI's subcommands, shared by cli.ts (run, check, schema) and test.ts so that neither
// imports the other: what a subcommand gets (CliDeps, CliIo), its connection (a kernel), reading a notebook
// file, and choosing the connection.
import { readFileSync } from 'node:fs';
import { decodeNotebookBytes, unreadOutputWarnings, type FormatWarning } from '../format/encoding';
import { parseNotebook, type NotebookData } from '../format/index';
import { isCodeLanguage, type EngineOptions } from '../run/index';
import type { Endpoint, OpenKernel } from '../kernel/index';
import type { ConnectionChoice } from './args';
import type { RunIo } from './run';

/** A live connection, owned by the CLI for one subcommand: the kernel of the connection (src/kernel). */
export type CliSession = OpenKernel;

export type ResolvedConnection = Endpoint;

/** The shell's terminal: `qmp-notebook shell` reads and writes these. */
export interface ShellStreams {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream;
  /** True when both are a terminal: prompts, completion, history. */
  terminal: boolean;
}

/** What varies between the real CLI and its tests: how to connect, and how files are read. */
export interface CliDeps {
  version: string;
  /** Opens the connection's kernel; `engine` holds the subcommand's rules (time limits). */
  connect(connection: ResolvedConnection, options: { qemuBinary?: string; signal?: AbortSignal; engine?: Omit<EngineOptions, 'client'> }): Promise<CliSession>;
  readFile?(path: string): string;
  /** The shell's terminal (default: this process's stdin and stdout; a terminal when both are one). */
  shellStreams?(): ShellStreams;
  /** Colour standard output (a terminal without NO_COLOR: see style.ts). Default: no colours. */
  color?: boolean;
  /**
   * Shows what is being waited for on a progress line (standard error, a terminal only; drawn once the wait
   * lasts a second, with the time so far); '' clears it. `live`: a line drawn at once as it is (jobs'
   * progress), giving way to the waiting line again when ''. Default: none.
   */
  progress?(text: string, live?: boolean): void;
}

export type CliIo = RunIo;

/** A usage problem: the subcommand prints it and exits 2. */
export class UsageFailure extends Error {}

/**
 * Reads and parses a notebook for a subcommand: invalid UTF-8 is decoded to U+FFFD and a ```qmp-output block
 * not in the saved-output form stays text, never silently (a warning each; the run goes on). `fail` makes the
 * subcommand's usage error for a file that cannot be read.
 */
export function readNotebook(deps: CliDeps, file: string, io: CliIo, fail: (message: string) => Error = (m) => new UsageFailure(m)): { text: string; notebook: NotebookData } {
  let text: string;
  let warnings: FormatWarning[];
  try {
    if (deps.readFile) {
      text = deps.readFile(file);
      warnings = [];
    } else {
      // `-` is standard input (read to its end; the notebook is not written back).
      ({ text, warnings } = decodeNotebookBytes(readFileSync(file === '-' ? 0 : file)));
    }
  } catch (err) {
    throw fail(`cannot read ${file}: ${err instanceof Error ? err.message : String(err)}`);
  }
  const notebook = parseNotebook(text);
  for (const w of [...warnings, ...unreadOutputWarnings(notebook)]) io.err(`qmp-notebook: warning: ${file}: ${w.message}`);
  return { text, notebook };
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

/** True when the notebook has a code cell (a `query-status` line outside a fence is Markdown, not a cell). */
export function hasCodeCells(notebook: NotebookData): boolean {
  return notebook.cells.some((c) => c.kind === 'code' && isCodeLanguage(c.language));
}

/** The warning for a notebook without code cells (run and check go on: there is nothing to do). */
export function warnNoCells(io: CliIo, file: string): void {
  io.err(`qmp-notebook: warning: ${file}: no code cells (commands go in fenced blocks: \`\`\`qmp, \`\`\`qmp-shell or \`\`\`hmp)`);
}
