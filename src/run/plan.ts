// What running a cell means, as a list of steps: the engine's view of parseCell() from the format layer.
// The notebook controller, the CLI and the test runner plan cells here, so all of them send the same
// commands, wait the same way and compare the same expected replies.
import type { CommandInput } from '../qmp/client';
import {
  CODE_CELL_LANGUAGES, DEFAULT_WAIT_TIMEOUT_MS, findCellName, LineMap, parseCell, type CodeLanguage, type ValueKindOracle,
} from '../format/index';
import { argumentReferences } from './namedReplies';
import { eventKey } from './expectEvents';
import type { Mask } from './masks';
import { cellRules, type TestRules } from './rules';

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
  /** The `<-` reply written under the command, and the masks it is compared with (compareReplyText). */
  expected?: { text: string; value: unknown; masks?: readonly Mask[] };
  /** Its arguments use a named reply (`{{name.path}}`): the engine substitutes them just before sending. */
  refs?: true;
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

export type { EventExpectations, ExpectedEvent } from './expectations';
import type { EventExpectations, ExpectedEvent } from './expectations';

export interface CellPlan {
  steps: Step[];
  /** A cell with problems is not sent at all. */
  problems: PlanProblem[];
  /** Present when the cell expects events (a cell without `<-` events has none: nothing to wait for). */
  expect?: EventExpectations;
  /** The cell's `@name`: its last reply is saved under it for later cells (namedReplies.ts). */
  name?: string;
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

/** The event name of an expected `<-` value, when it is an event rather than a reply. */
function eventName(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  const e = (v as { event?: unknown }).event;
  return typeof e === 'string' ? e : undefined;
}

const NO_RULES: TestRules = { masks: [], ignoreEvents: new Set(), eventOrder: 'saved' };

/**
 * Plans a cell. The schema, when there is one, types qmp-shell values. A `<-` reply pasted under a command
 * becomes that command's expected reply (the first one). A `<-` event anywhere in the cell is an expected
 * event of the cell, compared by `rules` (the notebook's front matter; the cell's `test:` directives are
 * added here) unless they declare it ignorable.
 */
export function planCell(source: string, language: CodeLanguage, schema?: ValueKindOracle, rules?: TestRules): CellPlan {
  const parsed = parseCell(source, language, schema);
  const lines = new LineMap(source);
  const steps: Step[] = [];
  let last: CommandStep | undefined;
  let written: Array<{ event: string; text: string; offset: number; line: number }> | undefined;
  let longestWait: number | undefined;
  for (const item of parsed.items) {
    const line = lines.position(item.start).line - 1;
    if (item.kind === 'command') {
      last = { kind: 'command', input: item.input, name: item.name, oob: item.oob, label: item.json, offset: item.start, line };
      steps.push(last);
    } else if (item.kind === 'wait') {
      last = undefined;
      longestWait = Math.max(longestWait ?? 0, item.timeoutMs);
      steps.push({ kind: 'wait', event: item.event, timeoutMs: item.timeoutMs, offset: item.start, line, ...(item.data ? { data: item.data } : {}) });
    } else {
      const event = eventName(item.value);
      if (event !== undefined) (written ??= []).push({ event, text: item.text.replace(/^\s*<-\s*/, ''), offset: item.start, line });
      else if (last && !last.expected) last.expected = { text: item.text, value: item.value };
    }
  }
  const problems: PlanProblem[] = parsed.errors.map((e) => ({ message: e.message, line: e.line - 1, column: e.col - 1, start: e.start, end: e.end }));
  const named = namedParts(source, language, lines, steps, problems);
  const hasReplies = steps.some((st) => st.kind === 'command' && st.expected !== undefined);
  if (written === undefined && !hasReplies) return { steps, problems, ...named };
  const cellRuled = cellRules(source, rules ?? NO_RULES);
  const cell = cellRuled.rules;
  // The cell's expected events and replies are compared under its directives: one that does not parse (a mask
  // the linear-time engine cannot take, a flag it does not know) would silently change what matches.
  for (const e of cellRuled.errors) problems.push({ message: `test directive: ${e}` });
  // Written replies are compared with the same masks as the saved outputs (the notebook's and the cell's).
  if (hasReplies && cell.masks.length > 0) for (const st of steps) if (st.kind === 'command' && st.expected) st.expected.masks = cell.masks;
  if (written === undefined) return { steps, problems, ...named };
  const events: ExpectedEvent[] = [];
  for (const w of written) {
    if (cell.ignoreEvents.has(w.event)) continue;
    const key = eventKey(w.text, cell.masks);
    if (key !== undefined) events.push({ ...w, key });
  }
  return {
    steps, problems, ...named,
    expect: { events, order: cell.eventOrder, masks: cell.masks, timeoutMs: longestWait ?? DEFAULT_WAIT_TIMEOUT_MS },
  };
}

/**
 * The cell's `@name` and the steps that use named replies (marked `refs`); a malformed name line or reference
 * is a problem (the cell is not sent, as for any other problem).
 */
function namedParts(source: string, language: CodeLanguage, lines: LineMap, steps: Step[], problems: PlanProblem[]): { name?: string } {
  const found = findCellName(source, language);
  for (const e of found.errors) {
    const pos = lines.position(e.start);
    problems.push({ message: e.message, line: pos.line - 1, column: pos.col - 1, start: e.start, end: e.end });
  }
  for (const st of steps) {
    if (st.kind !== 'command') continue;
    const r = argumentReferences(st.input.argumentsText ?? (st.input.arguments !== undefined ? JSON.stringify(st.input.arguments) : undefined));
    if (r.refs.length > 0) st.refs = true;
    for (const message of r.errors) problems.push({ message, line: st.line });
  }
  return found.name ? { name: found.name.name } : {};
}

/** "line 3, column 5: message" with 1-based numbers. */
export function describeProblem(p: PlanProblem): string {
  if (p.line === undefined) return p.message;
  return `line ${p.line + 1}${p.column !== undefined ? `, column ${p.column + 1}` : ''}: ${p.message}`;
}
