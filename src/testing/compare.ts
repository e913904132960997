// Comparing a cell's new run with what the notebook expects: its saved outputs (the ```qmp-output block) and
// the `<-` replies written in the cell. Pure; docs/testing-notebooks.md describes the rules:
//
// - Everything is compared in its stable form (masks.ts), as structures: member order does not matter.
// - Replies, sent commands and `//` text lines must match one for one, in order.
// - Events are compared among themselves: the expected events must all arrive, in the saved order unless the
//   notebook or the cell says `any` order, and no other event may arrive, except the ignorable ones. Where an
//   event falls between replies is not compared (QEMU sends STOP before or after the reply to `stop`).
import { canonicalJson, member, parseJsonTree, printJsonTree, type JsonNode } from './jsonTree';
import { compareReplyText, stripIdUnlessWritten } from '../run/compare';
import { maskTree, maskText, type MaskOptions, type VolatileDir } from './masks';
import type { TestRules } from '../run/rules';
import { stableOutputs, type OutputLike } from './savedOutput';
import { describeDifferences, firstChange, jsonDifferences, unifiedDiff, type JsonDifference } from './diff';
import { renderOutputs } from '../format/index';

export { cellRules, notebookRules, type TestRules } from '../run/rules';

/** A `<-` reply written in the cell under a command, and that command's step (0-based, in the cell's plan). */
export interface WrittenExpectation {
  step: number;
  /** The command's name, for messages. */
  command: string;
  json: string;
  /** 1-based line in the file, for messages. */
  line?: number;
}

/** An event written in the cell (`<- {"event": …}`) and the engine's verdict on it (src/run/expectEvents.ts). */
export interface WrittenEvent {
  event: string;
  json: string;
  /** 1-based line in the file, for messages. */
  line?: number;
  /** The engine's verdict; undefined when it was not checked (the cell failed before its end). */
  verdict?: { match: boolean; message?: string; actual?: string };
}

export interface CellComparisonInput {
  /** The saved outputs; undefined when the cell has no ```qmp-output block. */
  saved: readonly OutputLike[] | undefined;
  /** What the new run showed, in arrival order. */
  actual: readonly OutputLike[];
  /** The raw reply of each command step that got one, by step. */
  replies: ReadonlyMap<number, string>;
  written: readonly WrittenExpectation[];
  /** The events written in the cell that the rules do not declare ignorable. */
  writtenEvents?: readonly WrittenEvent[];
  rules: TestRules;
  dirs?: readonly VolatileDir[];
  /** The file line of the first line of the saved outputs (inside the ```qmp-output block): diff hunks and `at` name file lines. */
  savedLine?: number;
  /**
   * The file's lines (BOM dropped, CRLF as LF), when the caller has them: the saved outputs' own lines are
   * read there from `savedLine` on rather than rendered again (a large output would cost copies of itself).
   * Used only when the file has the outputs' shape there; otherwise the outputs are rendered.
   */
  fileLines?: readonly string[];
}

export interface CellComparison {
  ok: boolean;
  /** One line per difference, for summaries and JUnit messages. */
  problems: string[];
  /** A unified diff in the `<-` notation (saved above, new below); '' when there is nothing to show. */
  diff: string;
  /** The new outputs in their stable form: what `--update` saves. */
  stable: OutputLike[];
  /**
   * Where the first difference is in the file (1-based line and column), when `savedLine` was given: the first
   * saved line the diff changes (at the changed member's value when known), else the line of a `<-` written in the cell.
   */
  at?: { line: number; col: number };
  /**
   * The expectations written in the cell that failed, each as its two sides: what the cell wrote and what QEMU
   * said (its raw reply), or why nothing came, in parentheses (Show Test Difference shows them).
   */
  comparisons: Array<{ what: string; expected: string; actual: string }>;
}

interface Entry {
  output: OutputLike;
  /**
   * The canonical text of the masked message (or the text line), computed when asked and not kept: a saved
   * output can be tens of MB, and the comparison should not hold a copy of it per form.
   */
  key(): string;
  /** How it reads in messages, cut to 120 characters: the stable form. */
  shown(): string;
  event?: string;
  /** The masked message, when it is JSON. */
  tree?: JsonNode;
}

function entries(outputs: readonly OutputLike[], opts: MaskOptions): Entry[] {
  return outputs.map((output) => {
    if (output.kind === 'text') {
      const text = `// ${maskText(output.text, opts)}`;
      return { output, key: () => text, shown: () => short(text) };
    }
    const tree = parseJsonTree(output.json);
    if (tree === undefined) {
      const text = `${output.direction} ${maskText(output.json, opts)}`;
      return { output, key: () => text, shown: () => short(text) };
    }
    const ev = member(tree, 'event');
    const masked = maskTree(tree, opts);
    return {
      output, key: () => `${output.direction} ${canonicalJson(masked)}`, shown: () => short(`${output.direction} ${printJsonTree(masked)}`), tree: masked,
      ...(output.direction === '<-' && ev?.type === 'string' ? { event: ev.value } : {}),
    };
  });
}

/** Outputs as lines of a ```qmp-output block (the saved outputs' own lines in the file). */
function blockLines(outputs: readonly OutputLike[]): string[] {
  return outputs.length === 0 ? [] : renderOutputs(outputs).split('\n');
}

function countLines(text: string): number {
  let n = 1;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) n++;
  return n;
}

/**
 * The saved outputs' lines as the file holds them, when `fileLines` (from the block's first line) has them:
 * as many lines as the outputs have (one blank line between two), then the closing fence, each output
 * starting where it should. Parsed saved outputs are in the rendered form, so these are blockLines(outputs)
 * without rendering them again; undefined when the file does not match that shape.
 */
function fileBlockLines(outputs: readonly OutputLike[], fileLines: readonly string[] | undefined, from: number): string[] | undefined {
  if (fileLines === undefined || outputs.length === 0) return undefined;
  let at = from;
  for (const o of outputs) {
    const head = o.kind === 'message' ? `${o.direction} ` : '//';
    if (at > from && fileLines[at++] !== '') return undefined;
    if (!(fileLines[at] ?? '').startsWith(head)) return undefined;
    at += countLines(o.kind === 'message' ? o.json : o.text);
  }
  return /^ {0,3}`{3,}/.test(fileLines[at] ?? '') ? fileLines.slice(from, at) : undefined;
}

/** A message for a one-line report: at most 120 characters. */
function short(text: string): string {
  return text.length > 120 ? `${text.slice(0, 119)}…` : text;
}

function countKeys(keys: readonly string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

/** Linear: counts by canonical key. */
function compareEvents(expected: Entry[], actual: Entry[], order: 'saved' | 'any', problems: string[]): void {
  const expKeys = expected.map((e) => e.key());
  const actKeys = actual.map((e) => e.key());
  if (order === 'saved') {
    let i = 0;
    while (i < expected.length && i < actual.length && expKeys[i] === actKeys[i]) i++;
    if (i === expected.length && i === actual.length) return;
    // The same events in another order: say so, rather than listing each as missing and unexpected.
    const want = countKeys(expKeys);
    const got = countKeys(actKeys);
    if (expected.length === actual.length && [...want].every(([k, n]) => got.get(k) === n)) {
      const names = (list: Entry[]): string => list.slice(0, 20).map((e) => e.event).join(', ') + (list.length > 20 ? ', …' : '');
      problems.push(`events arrived in another order: expected ${names(expected)}; got ${names(actual)}`);
      return;
    }
  }
  const left = countKeys(actKeys);
  expected.forEach((e, i) => {
    const key = expKeys[i] as string;
    const n = left.get(key) ?? 0;
    if (n > 0) left.set(key, n - 1);
    else problems.push(`expected event ${e.event ?? '?'} did not arrive: ${e.shown()}`);
  });
  actual.forEach((e, i) => {
    const key = actKeys[i] as string;
    const n = left.get(key) ?? 0;
    if (n > 0) { left.set(key, n - 1); problems.push(`unexpected event ${e.event ?? '?'}: ${e.shown()}`); }
  });
}

/** Compares one cell. Linear in the number of outputs (plus the bounded diff). */
export function compareCell(input: CellComparisonInput): CellComparison {
  const opts: MaskOptions = { masks: input.rules.masks, ...(input.dirs ? { dirs: input.dirs } : {}) };
  const stable = stableOutputs(input.actual, opts);
  const problems: string[] = [];
  const ignorable = (e: Entry): boolean => e.event !== undefined && input.rules.ignoreEvents.has(e.event);
  const act = entries(input.actual, opts).filter((e) => !ignorable(e));

  let diff = '';
  let at: CellComparison['at'];
  let firstDiff: JsonDifference | undefined;
  if (input.saved === undefined) {
    if (input.actual.length > 0) {
      problems.push('no saved outputs for this cell (run with --update to record them)');
      diff = unifiedDiff([], blockLines(stable), 'saved', 'new');
    }
  } else {
    const exp = entries(input.saved, opts).filter((e) => !ignorable(e));
    const expOther = exp.filter((e) => e.event === undefined);
    const actOther = act.filter((e) => e.event === undefined);
    const n = Math.max(expOther.length, actOther.length);
    for (let i = 0; i < n; i++) {
      const a = expOther[i];
      const b = actOther[i];
      if (a && b && a.key() === b.key()) continue;
      // Where the values differ, member by member; the whole message only when they are not both JSON.
      const diffs = a?.tree !== undefined && b?.tree !== undefined ? jsonDifferences(a.tree, b.tree, 4) : [];
      if (a && b && diffs.length > 0) {
        firstDiff ??= diffs[0];
        problems.push(`output ${i + 1} differs ${describeDifferences(diffs.slice(0, 3), diffs.length > 3)}`);
      } else if (a && b) problems.push(`output ${i + 1} differs: expected ${a.shown()}; got ${b.shown()}`);
      else if (a) problems.push(`missing output: ${a.shown()}`);
      else if (b) problems.push(`extra output: ${b.shown()}`);
    }
    compareEvents(exp.filter((e) => e.event !== undefined), act.filter((e) => e.event !== undefined), input.rules.eventOrder, problems);
    if (problems.length) {
      // The saved outputs as the file holds them, with the file's line numbers, against the new ones as --update would save them.
      const savedLines = fileBlockLines(input.saved, input.fileLines, (input.savedLine ?? 1) - 1) ?? blockLines(input.saved);
      const newLines = blockLines(stable);
      diff = unifiedDiff(savedLines, newLines, 'saved', 'new', 3, input.savedLine ?? 1);
      const change = firstChange(savedLines, newLines);
      if (change !== undefined && input.savedLine !== undefined) {
        const text = savedLines[change.index] ?? '';
        // At the changed member's value when its name is on the line.
        const key = firstDiff?.key !== undefined ? text.indexOf(`${JSON.stringify(firstDiff.key)}: `) : -1;
        at = { line: input.savedLine + change.index, col: key >= 0 ? key + JSON.stringify(firstDiff?.key).length + 3 : change.col };
      }
    }
  }

  // `<-` replies written in the cell: each against the reply of its command (an event against the cell's events).
  const written: string[] = [];
  const comparisons: CellComparison['comparisons'] = [];
  for (const w of input.written) {
    const tree = parseJsonTree(w.json);
    if (tree === undefined) continue;
    const where = w.line !== undefined ? ` (line ${w.line})` : '';
    const raw = input.replies.get(w.step);
    // The one comparator of written replies (src/run/compare.ts), as `run` and the editor compare them.
    const verdict = raw === undefined ? undefined : compareReplyText(w.json, raw, opts);
    if (verdict === undefined || !verdict.match) {
      const got = raw === undefined ? undefined : parseJsonTree(raw);
      // A written reply without an id matches whatever id the client used.
      const gotTree = got === undefined ? undefined : maskTree(stripIdUnlessWritten(got, tree), opts);
      if (at === undefined && w.line !== undefined) at = { line: w.line, col: 1 };
      problems.push(raw === undefined
        ? `${w.command}${where} got no reply; the cell expects <- ${w.json}`
        : `the reply to ${w.command}${where} differs from the <- reply written under it: ${verdict?.differences.join('; ') ?? ''}`);
      written.push(`-<- ${printJsonTree(maskTree(tree, opts))}`, ...(gotTree !== undefined ? [`+<- ${printJsonTree(gotTree)}`] : raw !== undefined ? [`+<- ${raw.trim()}`] : []));
      comparisons.push({ what: `the <- reply to ${w.command}`, expected: w.json, actual: raw === undefined ? '(no reply)' : raw.trim() });
    }
  }
  for (const w of input.writtenEvents ?? []) {
    if (w.verdict?.match) continue;
    const where = w.line !== undefined ? ` (line ${w.line})` : '';
    problems.push(w.verdict
      ? `expected event ${w.event}${where}: ${w.verdict.message ?? 'did not match'}`
      : `expected event ${w.event}${where} was not checked: the cell failed before its end`);
    const tree = parseJsonTree(w.json);
    written.push(`-<- ${tree === undefined ? w.json : printJsonTree(maskTree(tree, opts))}`);
    comparisons.push({ what: `the expected event ${w.event}`, expected: w.json, actual: w.verdict?.actual ?? `(${w.verdict?.message ?? 'it did not arrive'})` });
  }
  if (written.length) diff = [diff, ['--- written in the cell', '+++ new', ...written].join('\n')].filter((d) => d !== '').join('\n');
  return { ok: problems.length === 0, problems, diff, stable, comparisons, ...(at !== undefined ? { at } : {}) };
}
