// A unified diff of two lists of lines, as `diff -u` prints it, for showing a cell's saved outputs against a
// new run. Bounded: after the common head and tail are trimmed, a longest-common-subsequence table is built
// only when it fits in MAX_CELLS; beyond that the middle is shown as removed then added (still a correct diff).

import { printJsonTree, type JsonNode } from './jsonTree';

const MAX_CELLS = 4_000_000;

/**
 * The longest line a report (diff, problem, JUnit, --json) shows whole. A saved output can be tens of MB on
 * one line; a report that repeated it would cost several times that in memory and on disk, so a longer line
 * is cut, saying how much was left out (the notebook and the comparison itself keep every byte).
 */
export const MAX_REPORT_LINE = 4096;

/** A line cut to MAX_REPORT_LINE characters, with a note of what was left out. */
export function clipLine(line: string, max = MAX_REPORT_LINE): string {
  if (line.length <= max) return line;
  return `${line.slice(0, max)}… (${line.length - max} more characters not shown)`;
}

/** Every line of a text cut to MAX_REPORT_LINE (linear; a text without long lines is returned as it is). */
export function clipText(text: string, max = MAX_REPORT_LINE): string {
  if (text.length <= max) return text;
  const out: string[] = [];
  let from = 0;
  let changed = false;
  for (;;) {
    const nl = text.indexOf('\n', from);
    const end = nl < 0 ? text.length : nl;
    if (end - from > max) changed = true;
    out.push(end - from > max ? clipLine(text.slice(from, end), max) : text.slice(from, end));
    if (nl < 0) break;
    from = nl + 1;
  }
  return changed ? out.join('\n') : text;
}

/** An edit script in two parallel arrays, so that a diff of 100,000 lines allocates no object per line. */
interface EditScript {
  /** Per step: SAME, REMOVED or ADDED. */
  readonly kinds: Uint8Array;
  /** Per step: the line (the caller's own strings, not copies). */
  readonly lines: string[];
}
const SAME = 0;
const REMOVED = 1;
const ADDED = 2;
const MARK = [' ', '-', '+'] as const;

function editScript(a: readonly string[], b: readonly string[]): EditScript {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const n = a.length - head - tail;
  const m = b.length - head - tail;
  // At most every line of both sides, once.
  const kinds = new Uint8Array(a.length + m);
  const lines: string[] = [];
  let k = 0;
  const step = (kind: number, line: string): void => { kinds[k++] = kind; lines.push(line); };
  for (let i = 0; i < head; i++) step(SAME, a[i] as string);
  if (n > 0 && m > 0 && (n + 1) * (m + 1) <= MAX_CELLS) {
    // lcs[i][j]: length of the LCS of a[head + i..] and b[head + j..] (the middles), in one flat table.
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = a[head + i] === b[head + j] ? (lcs[(i + 1) * w + j + 1] as number) + 1 : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (a[head + i] === b[head + j]) { step(SAME, a[head + i] as string); i++; j++; }
      else if ((lcs[(i + 1) * w + j] as number) >= (lcs[i * w + j + 1] as number)) step(REMOVED, a[head + i++] as string);
      else step(ADDED, b[head + j++] as string);
    }
    while (i < n) step(REMOVED, a[head + i++] as string);
    while (j < m) step(ADDED, b[head + j++] as string);
  } else {
    for (let i = 0; i < n; i++) step(REMOVED, a[head + i] as string);
    for (let j = 0; j < m; j++) step(ADDED, b[head + j] as string);
  }
  for (let i = a.length - tail; i < a.length; i++) step(SAME, a[i] as string);
  return { kinds: kinds.subarray(0, k), lines };
}

/**
 * `--- labelA` / `+++ labelB` and `@@ -l,n +l,n @@` hunks with `context` lines around each change; the empty
 * string when the lists are equal. `firstLine`: the number of the first line of `a` (and of `b`), so that
 * hunks name the lines of a file the lists were read from.
 */
export function unifiedDiff(a: readonly string[], b: readonly string[], labelA: string, labelB: string, context = 3, firstLine = 1): string {
  const { kinds, lines } = editScript(a, b);
  const total = kinds.length;
  if (kinds.every((kind) => kind === SAME)) return '';
  const out = [`--- ${labelA}`, `+++ ${labelB}`];
  // Lines of a and b before each step.
  const posA = new Int32Array(total);
  const posB = new Int32Array(total);
  let la = 0;
  let lb = 0;
  for (let k = 0; k < total; k++) {
    posA[k] = la;
    posB[k] = lb;
    if (kinds[k] !== ADDED) la++;
    if (kinds[k] !== REMOVED) lb++;
  }
  let k = 0;
  while (k < total) {
    while (k < total && kinds[k] === SAME) k++;
    if (k >= total) break;
    const start = Math.max(0, k - context);
    let end = k;
    // Extend while the next change is within 2*context unchanged lines.
    for (;;) {
      while (end < total && kinds[end] !== SAME) end++;
      let gap = end;
      while (gap < total && kinds[gap] === SAME) gap++;
      if (gap < total && gap - end <= 2 * context) { end = gap; continue; }
      end = Math.min(total, end + context);
      break;
    }
    let countA = 0;
    let countB = 0;
    for (let s = start; s < end; s++) {
      if (kinds[s] !== ADDED) countA++;
      if (kinds[s] !== REMOVED) countB++;
    }
    const startA = countA === 0 ? (posA[start] as number) : (posA[start] as number) + 1;
    const startB = countB === 0 ? (posB[start] as number) : (posB[start] as number) + 1;
    const shift = firstLine - 1;
    out.push(`@@ -${startA + shift},${countA} +${startB + shift},${countB} @@`);
    for (let s = start; s < end; s++) out.push(MARK[kinds[s] as number] + clipLine(lines[s] as string));
    k = end;
  }
  return out.join('\n');
}

/** The first line of `a` the diff changes (0-based), and the 1-based column where it first differs from its replacement. */
export function firstChange(a: readonly string[], b: readonly string[]): { index: number; col: number } | undefined {
  const { kinds, lines } = editScript(a, b);
  let ia = 0;
  for (let k = 0; k < kinds.length; k++) {
    const kind = kinds[k];
    if (kind === SAME) { ia++; continue; }
    if (kind === ADDED) {
      // Only added lines: they go before line ia (or after the last line).
      return { index: Math.min(ia, Math.max(0, a.length - 1)), col: 1 };
    }
    // A removed line: compare with the first added line of the same change, if any.
    let j = k + 1;
    while (j < kinds.length && kinds[j] === REMOVED) j++;
    const added = j < kinds.length && kinds[j] === ADDED ? lines[j] : undefined;
    const line = lines[k] as string;
    let col = 0;
    if (added !== undefined) {
      while (col < line.length && col < added.length && line[col] === added[col]) col++;
    } else {
      while (col < line.length && line[col] === ' ') col++;
    }
    return { index: ia, col: col + 1 };
  }
  return undefined;
}

/** One difference between two JSON values: where (a path like `return[0].image.virtual-size`), and both values. */
export interface JsonDifference {
  path: string;
  /** The saved value, shortened; undefined when the member is not in the saved value. */
  expected?: string;
  /** The new value, shortened; undefined when the member is not in the new value. */
  actual?: string;
  /** The member name the path ends in, when it ends in one (to find it on a line). */
  key?: string;
}

const SHOWN_MAX = 80;
const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

function shortJson(node: JsonNode): string {
  const s = printJsonTree(node);
  return s.length > SHOWN_MAX ? `${s.slice(0, SHOWN_MAX - 1)}…` : s;
}

function keyPath(path: string, key: string): string {
  return PLAIN_KEY.test(key) ? (path === '' ? key : `${path}.${key}`) : `${path}[${JSON.stringify(key)}]`;
}

function sameLiteral(a: JsonNode, b: JsonNode): boolean {
  if (a.type === 'string' && b.type === 'string') return a.value === b.value;
  return a.type === b.type && a.type !== 'object' && a.type !== 'array' && (a as { raw: string }).raw === (b as { raw: string }).raw;
}

/**
 * The members where two JSON values differ, at most `max`, in the saved value's order: objects are compared
 * member by member (order does not matter, as in the comparison), arrays element by element, strings by value
 * and other literals as written. Linear in the sizes of the values.
 */
export function jsonDifferences(expected: JsonNode, actual: JsonNode, max = 3): JsonDifference[] {
  const out: JsonDifference[] = [];
  const walk = (a: JsonNode, b: JsonNode, path: string, key: string | undefined): void => {
    if (out.length >= max) return;
    const at = (d: Omit<JsonDifference, 'path' | 'key'>): void => { out.push({ path, ...d, ...(key !== undefined ? { key } : {}) }); };
    if (a.type === 'object' && b.type === 'object') {
      const theirs = new Map(b.members.map((m) => [m.key, m.value] as const));
      const ours = new Set<string>();
      for (const m of a.members) {
        ours.add(m.key);
        const other = theirs.get(m.key);
        if (other === undefined) out.push({ path: keyPath(path, m.key), expected: shortJson(m.value), key: m.key });
        else walk(m.value, other, keyPath(path, m.key), m.key);
        if (out.length >= max) return;
      }
      for (const m of b.members) {
        if (ours.has(m.key)) continue;
        out.push({ path: keyPath(path, m.key), actual: shortJson(m.value), key: m.key });
        if (out.length >= max) return;
      }
      return;
    }
    if (a.type === 'array' && b.type === 'array') {
      const n = Math.max(a.items.length, b.items.length);
      for (let i = 0; i < n && out.length < max; i++) {
        const x = a.items[i];
        const y = b.items[i];
        const p = `${path}[${i}]`;
        if (x !== undefined && y !== undefined) walk(x, y, p, undefined);
        else if (x !== undefined) out.push({ path: p, expected: shortJson(x) });
        else if (y !== undefined) out.push({ path: p, actual: shortJson(y) });
      }
      return;
    }
    if (!sameLiteral(a, b)) at({ expected: shortJson(a), actual: shortJson(b) });
  };
  walk(expected, actual, '', undefined);
  return out;
}

/** `at return.status: expected "running"; got "paused"` (and how many more), for one line of a report. */
export function describeDifferences(diffs: readonly JsonDifference[], more: boolean): string {
  const one = (d: JsonDifference): string => {
    const where = d.path === '' ? 'the whole value' : d.path;
    if (d.expected === undefined) return `${where}: not saved; got ${d.actual}`;
    if (d.actual === undefined) return `${where}: missing; expected ${d.expected}`;
    return `${where}: expected ${d.expected}; got ${d.actual}`;
  };
  return `at ${diffs.map(one).join(', and at ')}${more ? ', and more' : ''}`;
}
