// A unified diff of two lists of lines, as `diff -u` prints it, for showing a cell's saved outputs against a
// new run. Bounded: after the common head and tail are trimmed, a longest-common-subsequence table is built
// only when it fits in MAX_CELLS; beyond that the middle is shown as removed then added (still a correct diff).

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

type Op = { op: ' ' | '-' | '+'; line: string };

function editScript(a: readonly string[], b: readonly string[]): Op[] {
  let head = 0;
  while (head < a.length && head < b.length && a[head] === b[head]) head++;
  let tail = 0;
  while (tail < a.length - head && tail < b.length - head && a[a.length - 1 - tail] === b[b.length - 1 - tail]) tail++;
  const ops: Op[] = a.slice(0, head).map((line) => ({ op: ' ', line }));
  const am = a.slice(head, a.length - tail);
  const bm = b.slice(head, b.length - tail);
  const n = am.length;
  const m = bm.length;
  if (n > 0 && m > 0 && (n + 1) * (m + 1) <= MAX_CELLS) {
    // lcs[i][j]: length of the LCS of am[i..] and bm[j..], in one flat table.
    const w = m + 1;
    const lcs = new Uint32Array((n + 1) * w);
    for (let i = n - 1; i >= 0; i--) {
      for (let j = m - 1; j >= 0; j--) {
        lcs[i * w + j] = am[i] === bm[j] ? (lcs[(i + 1) * w + j + 1] as number) + 1 : Math.max(lcs[(i + 1) * w + j] as number, lcs[i * w + j + 1] as number);
      }
    }
    let i = 0;
    let j = 0;
    while (i < n && j < m) {
      if (am[i] === bm[j]) { ops.push({ op: ' ', line: am[i] as string }); i++; j++; }
      else if ((lcs[(i + 1) * w + j] as number) >= (lcs[i * w + j + 1] as number)) ops.push({ op: '-', line: am[i++] as string });
      else ops.push({ op: '+', line: bm[j++] as string });
    }
    while (i < n) ops.push({ op: '-', line: am[i++] as string });
    while (j < m) ops.push({ op: '+', line: bm[j++] as string });
  } else {
    for (const line of am) ops.push({ op: '-', line });
    for (const line of bm) ops.push({ op: '+', line });
  }
  for (const line of a.slice(a.length - tail)) ops.push({ op: ' ', line });
  return ops;
}

/**
 * `--- labelA` / `+++ labelB` and `@@ -l,n +l,n @@` hunks with `context` lines around each change; the empty
 * string when the lists are equal.
 */
export function unifiedDiff(a: readonly string[], b: readonly string[], labelA: string, labelB: string, context = 3): string {
  const ops = editScript(a, b);
  if (ops.every((o) => o.op === ' ')) return '';
  const out = [`--- ${labelA}`, `+++ ${labelB}`];
  // Line numbers before each op.
  const posA: number[] = [];
  const posB: number[] = [];
  let la = 0;
  let lb = 0;
  for (const o of ops) {
    posA.push(la);
    posB.push(lb);
    if (o.op !== '+') la++;
    if (o.op !== '-') lb++;
  }
  let k = 0;
  while (k < ops.length) {
    while (k < ops.length && (ops[k] as Op).op === ' ') k++;
    if (k >= ops.length) break;
    const start = Math.max(0, k - context);
    let end = k;
    // Extend while the next change is within 2*context unchanged lines.
    for (;;) {
      while (end < ops.length && (ops[end] as Op).op !== ' ') end++;
      let gap = end;
      while (gap < ops.length && (ops[gap] as Op).op === ' ') gap++;
      if (gap < ops.length && gap - end <= 2 * context) { end = gap; continue; }
      end = Math.min(ops.length, end + context);
      break;
    }
    const slice = ops.slice(start, end);
    const countA = slice.filter((o) => o.op !== '+').length;
    const countB = slice.filter((o) => o.op !== '-').length;
    const startA = countA === 0 ? (posA[start] as number) : (posA[start] as number) + 1;
    const startB = countB === 0 ? (posB[start] as number) : (posB[start] as number) + 1;
    out.push(`@@ -${startA},${countA} +${startB},${countB} @@`);
    for (const o of slice) out.push(`${o.op}${clipLine(o.line)}`);
    k = end;
  }
  return out.join('\n');
}
