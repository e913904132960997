// `qmp-notebook test --update`: writes new saved outputs into a notebook's text and changes nothing else,
// byte for byte. Rather than serializing the whole notebook again (which would normalise hand-written
// spacing), it finds each code cell's ```qmp-output block in the text and replaces only that block (or
// inserts one after the cell, or removes it). The result is checked: parsed again, it must give the same
// cells with only the outputs changed; otherwise nothing is written.
import { parseNotebook, parseOutputs, renderOutputs, type NotebookData, type SavedOutput } from '../format/index';

const CODE_OPEN = /^(`{3,})[ \t]*(qmp|qmp-shell|hmp)[ \t]*$/;
const OUTPUT_OPEN = /^(`{3,})[ \t]*qmp-output[ \t]*$/;
const CLOSE = /^ {0,3}(`{3,})[ \t]*$/;
const RAW_OPEN = /^<!-- markdown-cell( \d+)? -->$/;
const FRONT_MATTER_FENCE = /^---[ \t]*$/;

interface CodeBlock {
  /** Line of the closing fence of the code cell; -1 when the fence is not closed. */
  close: number;
  /** Lines [start, end] of the output block (fences included), when the cell has one. */
  output?: { start: number; end: number };
}

const isBlank = (l: string): boolean => /^[ \t]*$/.test(l);
const closes = (line: string, length: number): boolean => {
  const m = CLOSE.exec(line);
  return m !== null && (m[1]?.length ?? 0) >= length;
};

/**
 * The first line at or after `from` that closes a fence of `length` backticks, or -1. Linear over a whole
 * file: a search that fails is remembered, and a later search from further down for a fence at least as
 * long fails at once (a closer it could find, the earlier search would have found).
 */
class CloserIndex {
  private readonly failed = new Map<number, number>();
  constructor(private readonly lines: readonly string[]) {}

  find(from: number, length: number): number {
    for (const [len, pos] of this.failed) if (len <= length && pos <= from) return -1;
    for (let j = from; j < this.lines.length; j++) if (closes(this.lines[j] as string, length)) return j;
    const prev = this.failed.get(length);
    if (prev === undefined || from < prev) this.failed.set(length, from);
    return -1;
  }
}

/** The code cells of the text in order, with where their outputs are; the same walk as parseNotebook. */
function codeBlocks(lines: readonly string[], frontMatterEnd: number): CodeBlock[] {
  const blocks: CodeBlock[] = [];
  const n = lines.length;
  const closers = new CloserIndex(lines);
  // Closing markers of verbatim markdown cells by suffix, in order, each list walked once.
  const rawCloses = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const m = /^<!-- \/markdown-cell( \d+)? -->$/.exec(lines[i] as string);
    if (!m) continue;
    const list = rawCloses.get(m[1] ?? '');
    if (list) list.push(i);
    else rawCloses.set(m[1] ?? '', [i]);
  }
  const rawCursor = new Map<string, number>();
  const rawClose = (suffix: string, after: number): number => {
    const list = rawCloses.get(suffix) ?? [];
    let k = rawCursor.get(suffix) ?? 0;
    while (k < list.length && (list[k] as number) <= after) k++;
    rawCursor.set(suffix, k);
    return k < list.length ? (list[k] as number) : -1;
  };
  let i = frontMatterEnd;
  while (i < n) {
    const line = lines[i] as string;
    const raw = RAW_OPEN.exec(line);
    if (raw) {
      const j = rawClose(raw[1] ?? '', i);
      if (j >= 0) { i = j + 1; continue; }
    }
    const open = CODE_OPEN.exec(line);
    if (!open) { i++; continue; }
    const j = closers.find(i + 1, open[1]?.length ?? 3);
    if (j < 0) { blocks.push({ close: -1 }); break; }
    const block: CodeBlock = { close: j };
    blocks.push(block);
    i = j + 1;
    let k = i;
    while (k < n && isBlank(lines[k] as string)) k++;
    const out = k < n ? OUTPUT_OPEN.exec(lines[k] as string) : null;
    if (out) {
      const e = closers.find(k + 1, out[1]?.length ?? 3);
      if (e >= 0) {
        const body = lines.slice(k + 1, e).join('\n');
        const outputs = parseOutputs(body);
        if (outputs !== undefined && renderOutputs(outputs) === body) {
          block.output = { start: k, end: e };
          i = e + 1;
        }
      }
    }
  }
  return blocks;
}

function fenced(body: string): string[] {
  let longest = 0;
  for (const m of body.matchAll(/^ {0,3}(`+)/gm)) longest = Math.max(longest, m[1]?.length ?? 0);
  const fence = '`'.repeat(Math.max(3, longest + 1));
  return [`${fence}qmp-output`, ...body.split('\n'), fence];
}

function frontMatterEnd(lines: readonly string[], data: NotebookData): number {
  const has = data.profile !== undefined || data.saveOutputs !== undefined || data.masks !== undefined
    || data.ignoreEvents !== undefined || data.eventOrder !== undefined || data.testOn !== undefined;
  if (!has || !FRONT_MATTER_FENCE.test(lines[0] ?? '')) return 0;
  for (let i = 1; i < lines.length; i++) if (FRONT_MATTER_FENCE.test(lines[i] as string)) return i + 1;
  return 0;
}

function sameSave(a: readonly SavedOutput[] | undefined, b: readonly SavedOutput[] | undefined): boolean {
  return renderOutputs(a ?? []) === renderOutputs(b ?? []);
}

/**
 * The text with the outputs of code cell `k` (0-based among code cells) replaced by `outputs.get(k)`; cells
 * not in the map keep theirs. Returns an error instead when the result would change anything else.
 */
export function replaceOutputs(text: string, outputs: ReadonlyMap<number, readonly SavedOutput[]>): { text: string } | { error: string } {
  const before = parseNotebook(text);
  const bom = text.charCodeAt(0) === 0xfeff ? '\uFEFF' : '';
  let body = bom ? text.slice(1) : text;
  const crlf = before.eol === '\r\n';
  if (crlf) body = body.replace(/\r\n/g, '\n');
  const finalNewline = body.endsWith('\n');
  const lines = body.split('\n');
  if (finalNewline) lines.pop();
  const blocks = codeBlocks(lines, frontMatterEnd(lines, before));

  // Edits from the bottom up, so earlier line numbers stay valid.
  const edits: Array<{ start: number; deleteCount: number; insert: string[] }> = [];
  for (const [k, outs] of outputs) {
    const block = blocks[k];
    if (!block) return { error: `code cell ${k + 1} not found in the text` };
    const rendered = outs.length ? fenced(renderOutputs(outs)) : [];
    if (block.output) {
      // Replace the block; with nothing to save, also drop the blank lines that separated it from the cell.
      const start = outs.length ? block.output.start : block.close + 1;
      edits.push({ start, deleteCount: block.output.end - start + 1, insert: rendered });
    } else if (outs.length) {
      if (block.close < 0) return { error: `code cell ${k + 1} has no closing fence, so outputs cannot follow it` };
      edits.push({ start: block.close + 1, deleteCount: 0, insert: ['', ...rendered] });
    }
  }
  edits.sort((a, b) => b.start - a.start);
  for (const e of edits) lines.splice(e.start, e.deleteCount, ...e.insert);
  let result = lines.join('\n') + (finalNewline ? '\n' : '');
  if (crlf) result = result.replace(/\n/g, '\r\n');
  result = bom + result;

  // The check: the same notebook, outputs aside.
  const after = parseNotebook(result);
  const codeIndex = (d: NotebookData): number[] => d.cells.flatMap((c, i) => (c.kind === 'code' ? [i] : []));
  const same = after.cells.length === before.cells.length && after.cells.every((c, i) => {
    const b = before.cells[i];
    return b !== undefined && c.kind === b.kind && c.language === b.language && c.source === b.source;
  });
  if (!same) return { error: 'the notebook would read differently after the update (its structure is unusual here); nothing was written' };
  const idx = codeIndex(after);
  for (let k = 0; k < idx.length; k++) {
    const want = outputs.has(k) ? outputs.get(k) : before.cells[idx[k] as number]?.outputs;
    if (!sameSave(after.cells[idx[k] as number]?.outputs, want)) {
      return { error: `the outputs of code cell ${k + 1} would not read back as written; nothing was written` };
    }
  }
  return { text: result };
}
