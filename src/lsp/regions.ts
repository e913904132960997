// Where the language features apply in a document the server has open, and how positions map between the
// document and a cell. A `.qmp` notebook is parsed with the project's format parser (src/format) and
// its code cells are found in the text the way the CLI finds them (src/cli/locate.ts); any other document
// (`*.qmp.json`, languageId `qmp`, QEMU's `->`/`<-` documentation notation) is one `qmp` region.
// Pure: no vscode, no LSP types beyond plain {line, character} positions.

import { cellsStart, parseNotebook, type CodeLanguage } from '../format/index';

export interface LinePosition {
  line: number;
  character: number;
}

/** One code cell (or a whole plain document), with the line starts of its text for position mapping. */
export interface Region {
  language: CodeLanguage;
  /** 1-based index of the cell in the notebook (markdown cells count), 1 for a plain document. */
  index: number;
  /** The cell text exactly as the features see it. */
  text: string;
  /** Document line of the cell's first line. */
  startLine: number;
  /** Document character of the cell's first character on its first line. */
  startCharacter: number;
  /** Offsets in `text` where each line starts. */
  lineStarts: number[];
  /** The cell is a fenced block (its body can change without changing the notebook's structure). */
  fenced?: boolean;
  /** A closing fence follows the cell (else the cell runs to the end of the file, whose last line break is not its own). */
  closed?: boolean;
}

/** A line that opens a code cell (as the format writes and reads it). */
const CODE_FENCE = /^`{3,}[ \t]*(qmp|qmp-shell|hmp)[ \t]*$/;
/** A line that may close a code cell. */
const CLOSING_FENCE = /^ {0,3}`{3,}[ \t]*$/;

function lineStartsOf(text: string): number[] {
  const starts = [0];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) starts.push(i + 1);
    else if (c === 13 && text.charCodeAt(i + 1) !== 10) starts.push(i + 1);
  }
  return starts;
}

function makeRegion(language: CodeLanguage, index: number, text: string, startLine: number, startCharacter: number): Region {
  return { language, index, text, startLine, startCharacter, lineStarts: lineStartsOf(text) };
}

/** Whether a document is a `.qmp` notebook (Markdown with fenced cells) rather than a plain file of commands. */
export function isNotebookDocument(uri: string, languageId: string): boolean {
  if (/\.qmp\.json$/i.test(uri)) return false;
  if (/\.qmp$/i.test(uri)) return true;
  return languageId === 'qmp-notebook' || languageId === 'markdown';
}

/**
 * The regions of a document, in document order. Linear in the size of the text. Regions of `hmp` cells are
 * included (document symbols list them) but carry no language features.
 */
export function findRegions(text: string, notebook: boolean, languageId = 'qmp'): Region[] {
  if (!notebook) return [makeRegion(languageId === 'qmp-shell' ? 'qmp-shell' : 'qmp', 1, text, 0, 0)];
  // The format parser strips a byte order mark and reads an all-CRLF file as LF; the cells are found in the
  // text it saw, and positions are the same lines and characters (shifted by the mark on line 0).
  const bom = text.charCodeAt(0) === 0xfeff ? 1 : 0;
  let body = bom === 1 ? text.slice(1) : text;
  const data = parseNotebook(text);
  if (data.eol === '\r\n') body = body.replace(/\r\n/g, '\n');
  const offsets = findCellOffsets(body, data.cells.map((c) => c.source), cellsStart(body));
  const lines = lineStartsOf(body);
  const regions: Region[] = [];
  let li = 0;
  data.cells.forEach((cell, i) => {
    const at = offsets[i];
    if (cell.kind !== 'code' || at === undefined) return;
    while (li + 1 < lines.length && (lines[li + 1] as number) <= at) li++;
    const character = at - (lines[li] as number) + (li === 0 ? bom : 0);
    const region = makeRegion(cell.language as CodeLanguage, i + 1, cell.source, li, character);
    if (li > 0 && character === 0 && CODE_FENCE.test(body.slice(lines[li - 1] as number, (lines[li] as number) - 1))) {
      region.fenced = true;
      const end = at + cell.source.length;
      if (body.charCodeAt(end) === 10 && CLOSING_FENCE.test(body.slice(end + 1, body.indexOf('\n', end + 1) >>> 0))) region.closed = true;
    }
    regions.push(region);
  });
  return regions;
}

/**
 * Where each source occurs in `text`, searching forward from the end of the previous one, at a line start and
 * followed by a line break or the end; undefined for an empty source or one not found (the format escaped it).
 */
export function findCellOffsets(text: string, sources: readonly string[], start = 0): Array<number | undefined> {
  let from = start;
  return sources.map((source) => {
    if (source === '') return undefined;
    for (let at = text.indexOf(source, from); at >= 0; at = text.indexOf(source, at + 1)) {
      const before = at === 0 ? 10 : text.charCodeAt(at - 1);
      const after = at + source.length === text.length ? 10 : text.charCodeAt(at + source.length);
      if (before === 10 && (after === 10 || after === 13)) {
        from = at + source.length;
        return at;
      }
    }
    return undefined;
  });
}

/** The index of the region that contains a document position (its end included), or -1. */
export function regionIndexAt(regions: readonly Region[], pos: LinePosition): number {
  let lo = 0;
  let hi = regions.length - 1;
  let found = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if ((regions[mid] as Region).startLine <= pos.line) {
      found = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  if (found < 0) return -1;
  const r = regions[found] as Region;
  const rel = pos.line - r.startLine;
  if (rel >= r.lineStarts.length) return -1;
  if (rel === 0 && pos.character < r.startCharacter) return -1;
  return found;
}

/** The region offset of a document position (clamped to the line), or undefined when outside the region. */
export function toCellOffset(r: Region, pos: LinePosition): number | undefined {
  const rel = pos.line - r.startLine;
  if (rel < 0 || rel >= r.lineStarts.length) return undefined;
  const lineStart = r.lineStarts[rel] as number;
  const lineEnd = rel + 1 < r.lineStarts.length ? lineEndBefore(r.text, r.lineStarts[rel + 1] as number) : r.text.length;
  const ch = rel === 0 ? pos.character - r.startCharacter : pos.character;
  if (ch < 0) return undefined;
  return Math.min(lineStart + ch, lineEnd);
}

function lineEndBefore(text: string, nextStart: number): number {
  let e = nextStart;
  if (text.charCodeAt(e - 1) === 10) e--;
  if (text.charCodeAt(e - 1) === 13) e--;
  return e;
}

/** The document position of a region offset. */
export function toDocPosition(r: Region, offset: number): LinePosition {
  const o = Math.max(0, Math.min(offset, r.text.length));
  let lo = 0;
  let hi = r.lineStarts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if ((r.lineStarts[mid] as number) <= o) lo = mid;
    else hi = mid - 1;
  }
  const character = o - (r.lineStarts[lo] as number) + (lo === 0 ? r.startCharacter : 0);
  return { line: r.startLine + lo, character };
}

/** The document range of a region offset range. */
export function toDocRange(r: Region, start: number, end: number): { start: LinePosition; end: LinePosition } {
  return { start: toDocPosition(r, start), end: toDocPosition(r, end) };
}

export interface RegionChange {
  range: { start: LinePosition; end: LinePosition };
  /** The text the range held before the change. */
  oldText: string;
  text: string;
}

function count(text: string, ch: number): number {
  let n = 0;
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === ch) n++;
  return n;
}

/**
 * Whether the whole lines of `text` around [start, end) could be notebook structure, or become it with
 * their neighbours: a backtick (a fence: "```x" loses its `x`, "`` `" its space), a carriage return (line ends),
 * or `<!--` (a raw markdown cell's end marker, which an earlier opener looks for past code cells).
 */
function structuralLines(text: string, start: number, end: number): boolean {
  let a = start;
  while (a > 0 && text.charCodeAt(a - 1) !== 10) a--;
  let b = end;
  while (b < text.length && text.charCodeAt(b) !== 10) b++;
  for (let k = a; k < b; k++) {
    const c = text.charCodeAt(k);
    if (c === 96 || c === 13 || (c === 60 && text.startsWith('<!--', k))) return true;
  }
  return false;
}

/**
 * The regions after an edit that stays inside one code cell and cannot change the notebook's structure,
 * without parsing the document again; undefined when the edit needs a full parse. The structure is decided
 * by whole lines, so the lines the edit touches are looked at before and after it (structuralLines), not only
 * the characters it removes and inserts. Linear in the number of regions (the ones below shift) plus the
 * size of the cell.
 */
export function updateRegions(regions: readonly Region[], change: RegionChange): Region[] | undefined {
  const { range, oldText, text } = change;
  if (/[`\r]/.test(oldText) || /[`\r]/.test(text)) return undefined;
  const i = regionIndexAt(regions, range.start);
  const r = regions[i];
  if (r === undefined || regionIndexAt(regions, range.end) !== i) return undefined;
  // A plain document, or a .qmp file of bare JSON, is re-read whole: whether it is JSON decides its shape.
  if (r.fenced !== true) return undefined;
  const s = toCellOffset(r, range.start);
  const e = toCellOffset(r, range.end);
  if (s === undefined || e === undefined || r.text.slice(s, e) !== oldText) return undefined;
  if (structuralLines(r.text, s, e)) return undefined;
  // A cell without a closing fence ends at the end of the file: its last line decides where its text ends.
  if (r.closed !== true && e >= (r.lineStarts[r.lineStarts.length - 1] as number)) return undefined;
  const cellText = r.text.slice(0, s) + text + r.text.slice(e);
  if (structuralLines(cellText, s, s + text.length)) return undefined;
  // An emptied cell has no region (as a fresh parse finds); let the parse decide.
  if (cellText === '') return undefined;
  const delta = count(text, 10) - count(oldText, 10);
  const out = regions.slice(0, i);
  out.push({ ...makeRegion(r.language, r.index, cellText, r.startLine, r.startCharacter), fenced: true, ...(r.closed === true ? { closed: true } : {}) });
  for (let k = i + 1; k < regions.length; k++) {
    const next = regions[k] as Region;
    out.push(delta === 0 ? next : { ...next, startLine: next.startLine + delta });
  }
  return out;
}
