// What running a cell means, as a list of steps: the glue's view of parseCell() from src/notebook/format.
// Keeping this one small adapter means the controller does not depend on how the format layer spells its
// items.
import type { CommandInputLike, SchemaLike } from '../session/ports';
import { LineMap, parseCell } from './format';

export type CellLanguage = 'qmp' | 'qmp-shell' | 'hmp';

export type RunStep =
  | { kind: 'command'; input: CommandInputLike; oob: boolean; line: number }
  /** Wait for an event whose data contains `data`; `timeoutMs` as written in the cell. */
  | { kind: 'wait'; event: string; data: object | undefined; timeoutMs: number; line: number };

export interface CellProblemView {
  message: string;
  /** 0-based line and column in the cell, when known. */
  line?: number;
  column?: number;
}

export interface CellPlan {
  steps: RunStep[];
  problems: CellProblemView[];
}

export function isCellLanguage(id: string): id is CellLanguage {
  return id === 'qmp' || id === 'qmp-shell' || id === 'hmp';
}

/** A cell whose every command is out-of-band never waits behind in-band cells. */
export function isOobPlan(plan: CellPlan): boolean {
  const commands = plan.steps.filter((s) => s.kind === 'command');
  return commands.length > 0 && commands.every((s) => s.oob);
}

/**
 * Plans a cell with parseCell() from the format layer. Expected replies (`<-`) are documentation and are not
 * part of the plan. The schema, when there is one, types qmp-shell values.
 */
export function planCell(source: string, language: CellLanguage, schema: SchemaLike | undefined): CellPlan {
  const parsed = parseCell(source, language, schema);
  const lines = new LineMap(source);
  const steps: RunStep[] = [];
  for (const item of parsed.items) {
    const line = lines.position(item.start).line - 1;
    if (item.kind === 'command') steps.push({ kind: 'command', input: item.input, oob: item.oob, line });
    else if (item.kind === 'wait') steps.push({ kind: 'wait', event: item.event, data: item.data, timeoutMs: item.timeoutMs, line });
  }
  const problems = parsed.errors.map((e) => ({ message: e.message, line: e.line - 1, column: e.col - 1 }));
  return { steps, problems };
}

/** "line 3, column 5: message" with 1-based numbers, for cell failures. */
export function describeProblem(p: CellProblemView): string {
  if (p.line === undefined) return p.message;
  return `line ${p.line + 1}${p.column !== undefined ? `, column ${p.column + 1}` : ''}: ${p.message}`;
}
