// What running a cell means, as a list of steps: the engine's view of parseCell() from the format layer.
// The notebook controller, the CLI and the test runner plan cells here, so all of them send the same
// commands, wait the same way and compare the same expected replies.
import type { CommandInput } from '../qmp/client';
import { CODE_CELL_LANGUAGES, LineMap, parseCell, type CodeLanguage, type ValueKindOracle } from '../notebook/format/index';

/** The languages of code cells, in one place: what the controller offers and the CLI runs. */
export const CODE_LANGUAGES: readonly CodeLanguage[] = CODE_CELL_LANGUAGES;

export type { CodeLanguage };

export function isCodeLanguage(id: string): id is CodeLanguage {
  return (CODE_LANGUAGES as readonly string[]).includes(id);
}

/** A command of a cell. */
export interface CommandStep {
  kind: 'command';
  input: CommandInput;
  /** The command name (`human-monitor-command` for an HMP line). */
  name: string;
  oob: boolean;
  /** The `->` JSON as the cell means it (compact, the author's id when given, no made-up id). */
  label: string;
  /** Offset of the command in the cell source. */
  offset: number;
  /** 0-based line of the command in the cell (the CLI rewrites it to the 1-based line in the file). */
  line: number;
  /** The `<-` reply the author pasted under the command, when there is one (its text and value). */
  expected?: { text: string; value: unknown };
}

/** `{"wait-event": NAME, "data": {...}, "timeout": ms}`. */
export interface WaitStep {
  kind: 'wait';
  event: string;
  /** A subset the event's data must contain (format/eventMatch.ts). */
  data?: Record<string, unknown>;
  timeoutMs: number;
  offset: number;
  line: number;
}

export type Step = CommandStep | WaitStep;

export interface PlanProblem {
  message: string;
  /** 0-based line and column in the cell, when known. */
  line?: number;
  column?: number;
  /** Offsets in the cell source, when known. */
  start?: number;
  end?: number;
}

export interface CellPlan {
  steps: Step[];
  /** A cell with problems is not sent at all. */
  problems: PlanProblem[];
}

/** Whether every command of the plan is out-of-band (and it has one): such a cell may overtake in-band ones. */
export function isOobPlan(plan: CellPlan): boolean {
  let commands = 0;
  for (const s of plan.steps) {
    if (s.kind !== 'command') continue;
    if (!s.oob) return false;
    commands++;
  }
  return commands > 0;
}

/** Whether an expected `<-` value is an event rather than a reply (events are documentation, not compared). */
function isEventValue(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof (v as { event?: unknown }).event === 'string';
}

/**
 * Plans a cell. The schema, when there is one, types qmp-shell values. A `<-` reply pasted under a command
 * becomes that command's expected reply (the first one; expected events are documentation and are skipped).
 */
export function planCell(source: string, language: CodeLanguage, schema?: ValueKindOracle): CellPlan {
  const parsed = parseCell(source, language, schema);
  const lines = new LineMap(source);
  const steps: Step[] = [];
  let last: CommandStep | undefined;
  for (const item of parsed.items) {
    const line = lines.position(item.start).line - 1;
    if (item.kind === 'command') {
      last = { kind: 'command', input: item.input, name: item.name, oob: item.oob, label: item.json, offset: item.start, line };
      steps.push(last);
    } else if (item.kind === 'wait') {
      last = undefined;
      steps.push({ kind: 'wait', event: item.event, timeoutMs: item.timeoutMs, offset: item.start, line, ...(item.data ? { data: item.data } : {}) });
    } else if (last && !last.expected && !isEventValue(item.value)) {
      last.expected = { text: item.text, value: item.value };
    }
  }
  const problems = parsed.errors.map((e) => ({ message: e.message, line: e.line - 1, column: e.col - 1, start: e.start, end: e.end }));
  return { steps, problems };
}

/** "line 3, column 5: message" with 1-based numbers. */
export function describeProblem(p: PlanProblem): string {
  if (p.line === undefined) return p.message;
  return `line ${p.line + 1}${p.column !== undefined ? `, column ${p.column + 1}` : ''}: ${p.message}`;
}
