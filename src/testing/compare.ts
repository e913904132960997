// Comparing a cell's new run with what the notebook expects: its saved outputs (the ```qmp-output block) and
// the `<-` replies written in the cell. Pure; docs/testing-notebooks.md describes the rules:
//
// - Everything is compared in its stable form (masks.ts), as structures: member order does not matter.
// - Replies, sent commands and `//` text lines must match one for one, in order.
// - Events are compared among themselves: the expected events must all arrive, in the saved order unless the
//   notebook or the cell says `any` order, and no other event may arrive, except the ignorable ones. Where an
//   event falls between replies is not compared (QEMU sends STOP before or after the reply to `stop`).
import { canonicalJson, member, parseJsonTree, printJsonTree, type JsonNode } from './jsonTree';
import { maskTree, maskText, parseMask, type Mask, type MaskOptions, type VolatileDir } from './masks';
import { stableOutputs, type OutputLike } from './savedOutput';
import { unifiedDiff } from './diff';

export interface TestRules {
  masks: Mask[];
  /** Event names that may come or not without failing the cell. */
  ignoreEvents: Set<string>;
  eventOrder: 'saved' | 'any';
}

/** The rules of a notebook's front matter; `errors` name the masks that do not parse. */
export function notebookRules(front: { masks?: readonly string[]; ignoreEvents?: readonly string[]; eventOrder?: 'saved' | 'any' }): { rules: TestRules; errors: string[] } {
  const errors: string[] = [];
  const masks: Mask[] = [];
  for (const t of front.masks ?? []) {
    const m = parseMask(t);
    if ('error' in m) errors.push(m.error);
    else masks.push(m);
  }
  return { rules: { masks, ignoreEvents: new Set(front.ignoreEvents ?? []), eventOrder: front.eventOrder ?? 'saved' }, errors };
}

/** `// test: any-order`, `# test: ignore-events RTC_CHANGE, BALLOON_CHANGE`, `// test: mask return.uptime`. */
const DIRECTIVE = /^[ \t]*(?:\/\/|#)[ \t]*test:[ \t]*(.*?)[ \t]*$/;

/**
 * A cell's own rules: the notebook's, plus what the cell's directive comments add. A directive is a comment
 * line (`//`, or `#` in qmp-shell and hmp cells) starting with `test:`.
 */
export function cellRules(source: string, base: TestRules): { rules: TestRules; errors: string[] } {
  const rules: TestRules = { masks: [...base.masks], ignoreEvents: new Set(base.ignoreEvents), eventOrder: base.eventOrder };
  const errors: string[] = [];
  const lines = source.split('\n');
  lines.forEach((line, i) => {
    const m = DIRECTIVE.exec(line);
    if (!m) return;
    const body = m[1] as string;
    const [word = '', ...rest] = body.split(/[ \t]+/);
    const arg = body.slice(word.length).trim();
    if (word === 'any-order' && rest.length === 0) rules.eventOrder = 'any';
    else if (word === 'saved-order' && rest.length === 0) rules.eventOrder = 'saved';
    else if (word === 'ignore-events' && arg !== '') for (const e of arg.split(/[\s,]+/)) { if (e) rules.ignoreEvents.add(e); }
    else if (word === 'mask' && arg !== '') {
      const mask = parseMask(arg);
      if ('error' in mask) errors.push(`line ${i + 1}: ${mask.error}`);
      else rules.masks.push(mask);
    } else {
      errors.push(`line ${i + 1}: unknown test directive '${body}' (expected any-order, saved-order, ignore-events NAME…, mask PATH|/PATTERN/)`);
    }
  });
  return { rules, errors };
}

/** A `<-` reply written in the cell under a command, and that command's step (0-based, in the cell's plan). */
export interface WrittenExpectation {
  step: number;
  /** The command's name, for messages. */
  command: string;
  json: string;
  /** 1-based line in the file, for messages. */
  line?: number;
}

export interface CellComparisonInput {
  /** The saved outputs; undefined when the cell has no ```qmp-output block. */
  saved: readonly OutputLike[] | undefined;
  /** What the new run showed, in arrival order. */
  actual: readonly OutputLike[];
  /** The raw reply of each command step that got one, by step. */
  replies: ReadonlyMap<number, string>;
  written: readonly WrittenExpectation[];
  rules: TestRules;
  dirs?: readonly VolatileDir[];
}

export interface CellComparison {
  ok: boolean;
  /** One line per difference, for summaries and JUnit messages. */
  problems: string[];
  /** A unified diff in the `<-` notation (saved above, new below); '' when there is nothing to show. */
  diff: string;
  /** The new outputs in their stable form: what `--update` saves. */
  stable: OutputLike[];
}

interface Entry {
  output: OutputLike;
  /** The canonical text of the masked message (or the text line). */
  key: string;
  /** How it reads in messages: the stable form. */
  shown: string;
  event?: string;
}

function entries(outputs: readonly OutputLike[], opts: MaskOptions): Entry[] {
  return outputs.map((output) => {
    if (output.kind === 'text') {
      const text = `// ${maskText(output.text, opts)}`;
      return { output, key: text, shown: text };
    }
    const tree = parseJsonTree(output.json);
    if (tree === undefined) {
      const text = `${output.direction} ${maskText(output.json, opts)}`;
      return { output, key: text, shown: text };
    }
    const ev = member(tree, 'event');
    const masked = maskTree(tree, opts);
    return {
      output, key: `${output.direction} ${canonicalJson(masked)}`, shown: `${output.direction} ${printJsonTree(masked)}`,
      ...(output.direction === '<-' && ev?.type === 'string' ? { event: ev.value } : {}),
    };
  });
}

/** How an output reads in a diff: the `<-` notation on one line. */
function line(o: OutputLike): string {
  return o.kind === 'text' ? `// ${o.text}` : `${o.direction} ${o.json}`;
}

function countKeys(list: readonly Entry[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const e of list) m.set(e.key, (m.get(e.key) ?? 0) + 1);
  return m;
}

/** Linear: counts by canonical key. */
function compareEvents(expected: Entry[], actual: Entry[], order: 'saved' | 'any', problems: string[]): void {
  if (order === 'saved') {
    let i = 0;
    while (i < expected.length && i < actual.length && (expected[i] as Entry).key === (actual[i] as Entry).key) i++;
    if (i === expected.length && i === actual.length) return;
    // The same events in another order: say so, rather than listing each as missing and unexpected.
    const want = countKeys(expected);
    const got = countKeys(actual);
    if (expected.length === actual.length && [...want].every(([k, n]) => got.get(k) === n)) {
      const names = (list: Entry[]): string => list.slice(0, 20).map((e) => e.event).join(', ') + (list.length > 20 ? ', …' : '');
      problems.push(`events arrived in another order: expected ${names(expected)}; got ${names(actual)}`);
      return;
    }
  }
  const left = countKeys(actual);
  for (const e of expected) {
    const n = left.get(e.key) ?? 0;
    if (n > 0) left.set(e.key, n - 1);
    else problems.push(`expected event ${e.event ?? '?'} did not arrive: ${e.shown}`);
  }
  for (const e of actual) {
    const n = left.get(e.key) ?? 0;
    if (n > 0) { left.set(e.key, n - 1); problems.push(`unexpected event ${e.event ?? '?'}: ${e.shown}`); }
  }
}

/** Compares one cell. Linear in the number of outputs (plus the bounded diff). */
export function compareCell(input: CellComparisonInput): CellComparison {
  const opts: MaskOptions = { masks: input.rules.masks, ...(input.dirs ? { dirs: input.dirs } : {}) };
  const stable = stableOutputs(input.actual, opts);
  const problems: string[] = [];
  const ignorable = (e: Entry): boolean => e.event !== undefined && input.rules.ignoreEvents.has(e.event);
  const act = entries(input.actual, opts).filter((e) => !ignorable(e));

  let diff = '';
  if (input.saved === undefined) {
    if (input.actual.length > 0) {
      problems.push('no saved outputs for this cell (run with --update to record them)');
      diff = unifiedDiff([], stable.map(line), 'saved', 'new');
    }
  } else {
    const exp = entries(input.saved, opts).filter((e) => !ignorable(e));
    const expOther = exp.filter((e) => e.event === undefined);
    const actOther = act.filter((e) => e.event === undefined);
    const n = Math.max(expOther.length, actOther.length);
    for (let i = 0; i < n; i++) {
      const a = expOther[i];
      const b = actOther[i];
      if (a && b && a.key === b.key) continue;
      if (a && b) problems.push(`output ${i + 1} differs: expected ${a.shown}; got ${b.shown}`);
      else if (a) problems.push(`missing output: ${a.shown}`);
      else if (b) problems.push(`extra output: ${b.shown}`);
    }
    compareEvents(exp.filter((e) => e.event !== undefined), act.filter((e) => e.event !== undefined), input.rules.eventOrder, problems);
    if (problems.length) {
      const savedLines = stableOutputs(input.saved, opts).map(line);
      diff = unifiedDiff(savedLines, stable.map(line), 'saved', 'new');
    }
  }

  // `<-` replies written in the cell: each against the reply of its command (an event against the cell's events).
  const written: string[] = [];
  for (const w of input.written) {
    const tree = parseJsonTree(w.json);
    if (tree === undefined) continue;
    const wantKey = canonicalJson(maskTree(tree, opts));
    const where = w.line !== undefined ? ` (line ${w.line})` : '';
    const raw = input.replies.get(w.step);
    const got = raw === undefined ? undefined : parseJsonTree(raw);
    // A written reply without an id matches whatever id the client used.
    const gotTree = got === undefined ? undefined : maskTree(stripIdUnlessWritten(got, tree), opts);
    const gotKey = gotTree === undefined ? undefined : canonicalJson(gotTree);
    if (gotKey !== wantKey) {
      problems.push(raw === undefined
        ? `${w.command}${where} got no reply; the cell expects <- ${w.json}`
        : `the reply to ${w.command}${where} differs from the <- reply written under it`);
      written.push(`-<- ${printJsonTree(maskTree(tree, opts))}`, ...(gotTree !== undefined ? [`+<- ${printJsonTree(gotTree)}`] : raw !== undefined ? [`+<- ${raw.trim()}`] : []));
    }
  }
  if (written.length) diff = [diff, ['--- written in the cell', '+++ new', ...written].join('\n')].filter((d) => d !== '').join('\n');
  return { ok: problems.length === 0, problems, diff, stable };
}

function stripIdUnlessWritten(got: JsonNode, written: JsonNode): JsonNode {
  if (got.type !== 'object' || member(written, 'id') !== undefined) return got;
  return { type: 'object', members: got.members.filter((m) => m.key !== 'id') };
}
