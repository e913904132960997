// What parsing one code cell produces: the commands to send, the replies the author expects, and the events
// to wait for, each with its place in the cell source.
import type { CommandInput as ClientCommandInput } from '../qmp/client';

/** The JSON kinds a `qmp-shell` value may take at a place in a command's arguments. */
export type ValueKind = 'string' | 'int' | 'number' | 'boolean' | 'null' | 'object' | 'array' | 'any';

/**
 * What the cell parser asks of a schema. `Schema` in src/qmp/schema.ts has this method; without one, values
 * are guessed the way QEMU's qmp-shell guesses them. `path` is a list of member names from the command's
 * arguments; `partialArgs` are the arguments as far as known (so a union's tag, such as blockdev-add's
 * `driver`, picks its variant); undefined means the schema does not know the place.
 */
export interface ValueKindOracle {
  valueKindsAt(command: string, path: string[], partialArgs?: unknown): ValueKind[] | undefined;
}

/**
 * A command ready for `QmpClient.send` (same shape as `CommandInput` in src/qmp/client.ts). `idText` is the
 * author's own `id` as raw JSON text, sliced from the source so integers beyond 2^53 stay exact.
 */
/** The core's command input (src/qmp/client.ts), with the arguments as the parsed JSON object they always are here. */
export type CommandInput = Omit<ClientCommandInput, 'arguments'> & { arguments?: Record<string, unknown> };

/** A command of the cell. */
export interface CommandItem {
  kind: 'command';
  input: CommandInput;
  /** Sent out of band (`exec-oob`, `"control": {"run-oob": true}`, or qmp-shell's `--oob`). */
  oob: boolean;
  /** The command name (`human-monitor-command` for an HMP line). */
  name: string;
  /** Range of the command in the cell source (UTF-16 offsets, end exclusive). */
  start: number;
  end: number;
  /** The command as the author wrote it (the source slice). */
  text: string;
  /** The command as JSON, compact, literals exact, before the client adds its id: what the cell shows as sent. */
  json: string;
  /** The arguments as compact JSON with every literal exact (integers beyond 2^53 included), when present. */
  argumentsText?: string;
}

/** A reply or event the author expects (`<-` in QEMU's documentation notation); never sent. */
export interface ExpectItem {
  kind: 'expect';
  value: unknown;
  start: number;
  end: number;
  text: string;
}

/** Wait for an event after the cell's commands: `{"wait-event": NAME, "data": {...}, "timeout": ms}`. */
export interface WaitItem {
  kind: 'wait';
  event: string;
  /** A subset the event's data must match (deep: every given member equal, objects matched recursively). */
  data?: Record<string, unknown>;
  timeoutMs: number;
  start: number;
  end: number;
}

export type CellItem = CommandItem | ExpectItem | WaitItem;

/** A problem in a cell. `line`/`col` are 1-based; `message` has no position in it (see `formatCellProblem`). */
export interface CellProblem {
  start: number;
  end: number;
  line: number;
  col: number;
  message: string;
  /** The validator's stable code (see validate.ts), when the problem came from it. */
  code?: string;
}

/** A cell with problems is not sent at all: the runner refuses it and shows the problems. */
export interface ParsedCell {
  items: CellItem[];
  errors: CellProblem[];
}

/** How long a wait-event clause waits when it gives no timeout. */
export const DEFAULT_WAIT_TIMEOUT_MS = 10000;

/** `line 3, col 14: expected ',' or '}'`. */
export function formatCellProblem(problem: CellProblem): string {
  return `line ${problem.line}, col ${problem.col}: ${problem.message}`;
}

/**
 * Turns UTF-16 offsets into 1-based line and column numbers, as editors count them: a line ends at LF, CRLF
 * or a lone CR. One pass over the text finds the line starts; each lookup is a binary search. The one line
 * index of the project (cells, notebook files, CLI positions).
 */
export class LineIndex {
  private readonly starts: number[] = [0];

  constructor(text: string) {
    for (let i = 0; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) this.starts.push(i + 1);
      else if (c === 13 && text.charCodeAt(i + 1) !== 10) this.starts.push(i + 1);
    }
  }

  position(offset: number): { line: number; col: number } {
    let lo = 0;
    let hi = this.starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - (this.starts[lo] ?? 0) + 1 };
  }

  problem(start: number, end: number, message: string): CellProblem {
    return { start, end, ...this.position(start), message };
  }
}

/** The former name of LineIndex, kept so that callers can move over one at a time. */
export const LineMap = LineIndex;
export type LineMap = LineIndex;
