// The `.qmp` notebook file: Markdown text with fenced code cells. See docs/notebook-format.md.
//
// Layout of a file this module writes (blocks joined by one blank line, one final newline):
//
//   ---                      optional front matter: `profile`, `saveOutputs`, `compat`; never secrets
//   profile: sandbox
//   ---
//   Markdown text            a markdown cell
//   <!-- cell -->            boundary between two adjacent markdown cells
//   ```qmp                   a code cell (qmp, qmp-shell or hmp); the fence is longer than any backtick
//   ...                      run that starts a line of the source
//   ```
//   ```qmp-output            the saved outputs of the code cell just above, in QEMU's `<-` notation
//   <- {"return": {}}
//   ```
//   <!-- markdown-cell -->   a markdown cell whose text would otherwise read as structure (it holds a
//   ...                      ```qmp fence, starts with a blank line, is empty, ...), kept verbatim
//   <!-- /markdown-cell -->
//
// Parsing is one linear pass over the lines and never throws. Anything it does not recognise as structure
// is markdown text, so every character of a damaged or hand-written file ends up in some cell.

import { jsonNesting } from '../qmp/wire';
import { parseCompatPolicy } from './validate';
import { formatOutputJson, inlineStrictJson } from './json';
import { segmentJsonCell } from './segments';

/** Languages of notebook cells. */
export type CellLanguage = 'markdown' | 'qmp' | 'qmp-shell' | 'hmp';
/** Languages of code cells. */
export type CodeLanguage = 'qmp' | 'qmp-shell' | 'hmp';

/**
 * One saved output of a code cell. `message` is a QEMU message (reply or event: `<-`) or the command that was
 * sent (`->`), as JSON text; `text` is anything else the run printed (a timeout, a refusal).
 */
export type SavedOutput =
  | { kind: 'message'; direction: '<-' | '->'; json: string }
  | { kind: 'text'; text: string };

/** One cell. `outputs` only on code cells; absent or empty means none. */
export interface CellData {
  kind: 'markdown' | 'code';
  language: CellLanguage;
  source: string;
  outputs?: SavedOutput[];
}

/**
 * A notebook. `profile` names a connection profile (never a secret); `saveOutputs` asks for outputs to be
 * saved. `eol` and `bom` remember a file's CRLF line endings and byte order mark so they survive a save.
 */
export interface NotebookData {
  profile?: string;
  saveOutputs?: boolean;
  /** QEMU's -compat input policy the notebook is checked against (`deprecated-input=reject,…`; see parseCompatPolicy). */
  compat?: string;
  /** Regression-test settings (docs/testing-notebooks.md): masks of volatile values, as written. */
  masks?: string[];
  /** Events that may come or not in any cell without failing `qmp-notebook test`. */
  ignoreEvents?: string[];
  /** `any`: the events of a cell may arrive in any order; `saved` (the default): in the saved order. */
  eventOrder?: 'saved' | 'any';
  /**
   * Where `qmp-notebook test` and the editor's Run as Test run the notebook (docs/testing-notebooks.md): `fresh`
   * (the default) a private process started for the test when the profile starts one (sandbox, storage
   * daemon); `live-session` the profile's live session in the editor, one process shared by the run's
   * `live-session` notebooks on the command line.
   */
  testOn?: 'fresh' | 'live-session';
  eol?: '\r\n';
  bom?: boolean;
  cells: CellData[];
  /**
   * Lines (1-based) of ```qmp-output blocks that follow a code cell but are not in the form saved outputs are
   * written in: they were kept as Markdown text, byte for byte (see unreadOutputWarnings). Never serialized.
   */
  unreadOutputs?: number[];
}

const CODE_OPEN = /^(`{3,})[ \t]*(qmp|qmp-shell|hmp)[ \t]*$/;
const OUTPUT_OPEN = /^(`{3,})[ \t]*qmp-output[ \t]*$/;
const CLOSE = /^ {0,3}(`{3,})[ \t]*$/;
const CELL_MARKER = /^<!-- cell -->[ \t]*$/;
const RAW_OPEN = /^<!-- markdown-cell( \d+)? -->$/;
const RAW_CLOSE = /^<!-- \/markdown-cell( \d+)? -->$/;
const FRONT_MATTER_FENCE = /^---[ \t]*$/;
/** The key of a front matter line; its value is the rest of the line, trimmed of spaces and tabs (by hand:
 * a lazy regex group would backtrack over long runs of blanks, and `.` would not match U+2028/U+2029, which
 * a JSON-quoted profile may hold). */
const FRONT_MATTER_KEY = /^(profile|saveOutputs|compat|masks|ignoreEvents|eventOrder|testOn)[ \t]*:/;
/** A profile name written without quotes; anything else (or a YAML keyword) is written as a JSON string. */
const BARE_PROFILE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const YAML_KEYWORDS = /^(true|false|yes|no|on|off|null|y|n)$/i;
/** Front matter longer than this is not ours: it is left as markdown. */
const FRONT_MATTER_MAX_LINES = 20;
/** A -compat value as written in front matter: plain `key=value,…` text. */
const COMPAT_VALUE = /^[a-z-]+=[a-z]+(,[a-z-]+=[a-z]+)*$/;

/** The languages of code cells: the one list (src/run/plan.ts re-exports it for the controller and the CLI). */
export const CODE_CELL_LANGUAGES: readonly CodeLanguage[] = ['qmp', 'qmp-shell', 'hmp'];

const CODE_LANGUAGES: ReadonlySet<string> = new Set(CODE_CELL_LANGUAGES);

function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 32 && c !== 9) return false;
  }
  return true;
}

/** The text without leading and trailing spaces and tabs. */
function trimBlanks(s: string): string {
  let a = 0;
  let b = s.length;
  while (a < b && (s.charCodeAt(a) === 32 || s.charCodeAt(a) === 9)) a++;
  while (b > a && (s.charCodeAt(b - 1) === 32 || s.charCodeAt(b - 1) === 9)) b--;
  return s.slice(a, b);
}

/** The length of the backtick run when the line is a closing fence, else 0. */
function closerLength(line: string): number {
  const c = line.charCodeAt(0);
  if (c !== 96 && c !== 32) return 0;
  const m = CLOSE.exec(line);
  return m === null ? 0 : (m[1]?.length ?? 0);
}

/**
 * Finds closing fences in constant amortized time per query: `next[i]` is the first closing fence at or
 * after line i, and `longer[j]` the first closing fence after fence j that is longer than it. The closer of a
 * fence of length L after line p is found by following `longer` from `next[p]`; each step makes the fence at
 * least one backtick longer, so a query costs at most L steps, which the opening line itself paid for.
 * Scanning forward for each opener instead is quadratic on a file of unclosed fences.
 */
class Closers {
  private readonly length: Int32Array;
  private readonly next: Int32Array;
  private readonly longer: Int32Array;

  constructor(lines: readonly string[]) {
    const n = lines.length;
    this.length = new Int32Array(n);
    this.next = new Int32Array(n + 1);
    this.longer = new Int32Array(n);
    for (let i = 0; i < n; i++) this.length[i] = closerLength(lines[i] ?? '');
    this.next[n] = n;
    // Monotonic stack (from the end) of closing fences whose length increases strictly as we go down.
    const stack: number[] = [];
    for (let i = n - 1; i >= 0; i--) {
      const len = this.length[i] ?? 0;
      this.next[i] = len > 0 ? i : (this.next[i + 1] ?? n);
      if (len === 0) continue;
      while (stack.length > 0 && (this.length[stack[stack.length - 1] ?? 0] ?? 0) <= len) stack.pop();
      this.longer[i] = stack.length > 0 ? (stack[stack.length - 1] ?? n) : n;
      stack.push(i);
    }
  }

  /** The first line at or after `from` that closes a fence of `fenceLength` backticks; the line count if none. */
  find(from: number, fenceLength: number): number {
    const n = this.length.length;
    let j = from >= n ? n : (this.next[from] ?? n);
    while (j < n && (this.length[j] ?? 0) < fenceLength) j = this.longer[j] ?? n;
    return j;
  }
}

/** True when every line break of the text is CRLF (and there is at least one). */
function isAllCrlf(text: string): boolean {
  let lf = 0;
  for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) {
    if (text.charCodeAt(i - 1) !== 13) return false;
    lf++;
  }
  return lf > 0;
}

/** Reads the front matter at the top of `lines`; returns the index of the first line after it. */
function readFrontMatter(lines: string[], data: NotebookData): number {
  if (!FRONT_MATTER_FENCE.test(lines[0] ?? '')) return 0;
  const found: {
    profile?: string; saveOutputs?: boolean; compat?: string; masks?: string[]; ignoreEvents?: string[]; eventOrder?: 'saved' | 'any';
    testOn?: 'fresh' | 'live-session';
  } = {};
  for (let i = 1; i < lines.length && i <= FRONT_MATTER_MAX_LINES; i++) {
    const line = lines[i] ?? '';
    if (FRONT_MATTER_FENCE.test(line)) {
      if (i === 1) return 0;
      if (found.profile !== undefined) data.profile = found.profile;
      if (found.saveOutputs !== undefined) data.saveOutputs = found.saveOutputs;
      if (found.compat !== undefined) data.compat = found.compat;
      if (found.masks !== undefined) data.masks = found.masks;
      if (found.ignoreEvents !== undefined) data.ignoreEvents = found.ignoreEvents;
      if (found.eventOrder !== undefined) data.eventOrder = found.eventOrder;
      if (found.testOn !== undefined) data.testOn = found.testOn;
      return i + 1;
    }
    const m = FRONT_MATTER_KEY.exec(line);
    if (m === null) return 0;
    const key = m[1];
    const value = trimBlanks(line.slice(m[0].length));
    if (key === 'profile') {
      if (found.profile !== undefined) return 0;
      const name = parseProfileValue(value);
      if (name === undefined) return 0;
      found.profile = name;
    } else if (key === 'compat') {
      if (found.compat !== undefined || 'error' in parseCompatPolicy(value) || !COMPAT_VALUE.test(value)) return 0;
      found.compat = value;
    } else if (key === 'masks' || key === 'ignoreEvents') {
      const list = parseStringList(value);
      if (found[key] !== undefined || list === undefined) return 0;
      found[key] = list;
    } else if (key === 'eventOrder') {
      if (found.eventOrder !== undefined || (value !== 'saved' && value !== 'any')) return 0;
      found.eventOrder = value;
    } else if (key === 'testOn') {
      if (found.testOn !== undefined || (value !== 'fresh' && value !== 'live-session')) return 0;
      found.testOn = value;
    } else {
      if (found.saveOutputs !== undefined || (value !== 'true' && value !== 'false')) return 0;
      found.saveOutputs = value === 'true';
    }
  }
  return 0;
}

function parseProfileValue(value: string): string | undefined {
  if (value.startsWith('"')) {
    try {
      const parsed: unknown = JSON.parse(value);
      return typeof parsed === 'string' ? parsed : undefined;
    } catch {
      return undefined;
    }
  }
  return value === '' || value.startsWith("'") ? undefined : value;
}

/** A JSON array of strings (also valid YAML): `["return.uptime", "/pid [0-9]+/"]`. */
function parseStringList(value: string): string[] | undefined {
  if (!value.startsWith('[')) return undefined;
  try {
    const parsed: unknown = JSON.parse(value);
    return Array.isArray(parsed) && parsed.every((v) => typeof v === 'string') ? (parsed as string[]) : undefined;
  } catch {
    return undefined;
  }
}

function writeStringList(list: readonly string[]): string {
  return `[${list.map((s) => JSON.stringify(s)).join(', ')}]`;
}

function writeProfileValue(name: string): string {
  return BARE_PROFILE.test(name) && !YAML_KEYWORDS.test(name) ? name : JSON.stringify(name);
}

/**
 * Outputs nested deeper than this are written on one line (QEMU's wire style, literals exact) instead of
 * pretty-printed: the pretty printer works on a syntax tree built by recursion, and its cost grows with depth.
 * Real replies nest a dozen levels; QEMU itself refuses input nested deeper than 1024 (MAX_NESTING).
 */
export const MAX_PRETTY_DEPTH = 64;

/** The deepest nesting of `{`/`[` outside strings (a linear scan; no parsing, so no recursion). */
export function nestingDepth(json: string): number {
  return jsonNesting(json).max;
}

/** The saved spelling of a message's JSON: pretty when shallow, one line when deep; undefined when not JSON. */
function formatMessage(json: string): string | undefined {
  return nestingDepth(json) > MAX_PRETTY_DEPTH ? inlineStrictJson(json) : formatOutputJson(json);
}

/**
 * Reads the lines [from, to) of a ```qmp-output block as outputs, or undefined when they are not exactly in
 * the form renderOutputs writes. Fails at the first line that cannot be part of that form, so a block that
 * is not ours costs only the lines that looked like ours (the parser stays linear on damaged files).
 */
function readOutputLines(lines: readonly string[], from: number, to: number, text?: LineText): SavedOutput[] | undefined {
  const outputs: SavedOutput[] = [];
  let i = from;
  if (i >= to) return outputs;
  for (;;) {
    const line = lines[i] ?? '';
    if (line.startsWith('//')) {
      const text: string[] = [];
      for (; i < to; i++) {
        const l = lines[i] ?? '';
        if (!l.startsWith('//')) break;
        // Canonical text lines are `// text` or a bare `//` for an empty line.
        if (l.length > 2 && l.charCodeAt(2) !== 32) return undefined;
        text.push(l.slice(3));
      }
      const t = text.join('\n');
      // A text that reads as a message is written as one; such lines are not in canonical form as text.
      if (renderOutput({ kind: 'text', text: t }) !== lines.slice(i - text.length, i).join('\n')) return undefined;
      outputs.push({ kind: 'text', text: t });
    } else if (line.startsWith('<- {') || line.startsWith('-> {')) {
      let end = i + 1;
      if (line.length === 4) {
        // A message broken over lines: members indented by two spaces, then `}` alone.
        while (end < to && (lines[end] ?? '').startsWith('  ')) end++;
        if (end >= to || lines[end] !== '}') return undefined;
        end++;
      }
      // The message's JSON as a slice of the file's text when the caller has it (no copy of a large output).
      const json = end === i + 1 ? line.slice(3) : text !== undefined ? text.slice(i, end).slice(3) : lines.slice(i, end).join('\n').slice(3);
      // In the form renderOutput writes: `<- ` and the JSON exactly as formatMessage spells it (compared
      // without building the prefixed copy).
      const formatted = formatMessage(json);
      if (formatted === undefined || !formatted.startsWith('{') || formatted !== json) return undefined;
      outputs.push({ kind: 'message', direction: line.startsWith('<-') ? '<-' : '->', json });
      i = end;
    } else {
      return undefined;
    }
    if (i >= to) return outputs;
    // Exactly one blank line between outputs, none at the end.
    if (lines[i] !== '' || i + 1 >= to) return undefined;
    i++;
  }
}

/** Lines [from, to) of a text split at `\n`, as one slice of that text (no copy): what a join would give. */
class LineText {
  private readonly starts: number[] = [];
  constructor(private readonly text: string, lines: readonly string[]) {
    let at = 0;
    for (const l of lines) {
      this.starts.push(at);
      at += l.length + 1;
    }
    this.starts.push(at);
  }

  slice(from: number, to: number): string {
    return this.text.slice(this.starts[from] ?? 0, (this.starts[to] ?? 1) - 1);
  }
}

/** Parses the body of a ```qmp-output block; undefined when it is not exactly in the form this module writes. */
export function parseOutputs(body: string): SavedOutput[] | undefined {
  const lines = body === '' ? [] : body.split('\n');
  return readOutputLines(lines, 0, lines.length, new LineText(body, lines));
}

function renderOutput(output: SavedOutput): string {
  if (output.kind === 'message') {
    const json = formatMessage(output.json);
    if (json !== undefined && json.startsWith('{')) return `${output.direction} ${json}`;
    // Not a JSON object after all: kept as text so the block stays readable and parseable.
    return renderText(`${output.direction} ${output.json}`);
  }
  return renderText(output.text);
}

function renderText(text: string): string {
  return text.split('\n').map((l) => (l === '' ? '//' : `// ${l}`)).join('\n');
}

/** The body of a ```qmp-output block for these outputs: outputs separated by one blank line. */
export function renderOutputs(outputs: readonly SavedOutput[]): string {
  return outputs.map(renderOutput).join('\n\n');
}

/** A fence of backticks longer than any backtick run that starts a line of `body` (up to 3 spaces in). */
function fenceFor(body: string): string {
  let longest = 0;
  const re = /^ {0,3}(`+)/gm;
  for (let m = re.exec(body); m !== null; m = re.exec(body)) longest = Math.max(longest, m[1]?.length ?? 0);
  return '`'.repeat(Math.max(3, longest + 1));
}

function fenced(info: string, body: string): string {
  const fence = fenceFor(body);
  return body === '' ? `${fence}${info}\n${fence}` : `${fence}${info}\n${body}\n${fence}`;
}

/** True when a plain file of JSON objects (no prose) should open as code cells. */
function looksLikeQmp(text: string): boolean {
  const segments = segmentJsonCell(text);
  return segments.length > 0 && segments.every((s) => s.kind !== 'junk');
}

/** Splits a plain file of JSON objects into qmp code cells at blank lines that lie outside every object. */
function splitQmpText(text: string): CellData[] {
  const segments = segmentJsonCell(text);
  const cells: CellData[] = [];
  let pieceStart = 0;
  let seg = 0;
  let pos = 0;
  const push = (end: number): void => {
    const lines = text.slice(pieceStart, end).split('\n');
    while (lines.length > 0 && isBlank(lines[0] ?? '')) lines.shift();
    while (lines.length > 0 && isBlank(lines[lines.length - 1] ?? '')) lines.pop();
    if (lines.length > 0) cells.push({ kind: 'code', language: 'qmp', source: lines.join('\n') });
  };
  while (pos <= text.length) {
    let end = text.indexOf('\n', pos);
    if (end < 0) end = text.length;
    while (seg < segments.length && (segments[seg]?.end ?? 0) <= pos) seg++;
    const inside = seg < segments.length && (segments[seg]?.start ?? Infinity) < pos;
    if (!inside && isBlank(text.slice(pos, end))) {
      push(pos);
      pieceStart = end;
    }
    pos = end + 1;
  }
  push(text.length);
  return cells;
}

/**
 * Parses the text of a `.qmp` file. Never throws. Every character of the text that is not notebook
 * structure (fences, front matter, markers, the blank lines between blocks) ends up in some cell. An empty
 * file (or one of front matter only) has no cells; a file of blank lines gives one empty `qmp` cell.
 */
export function parseNotebook(input: string): NotebookData {
  try {
    return parseStructure(input);
  } catch {
    // The parser has no known throwing path; this keeps the promise that a file always opens.
    const text = input.replace(/^\uFEFF/, '');
    return { cells: [text.trim() === '' ? emptyCell() : { kind: 'markdown', language: 'markdown', source: text }] };
  }
}

function emptyCell(): CellData {
  return { kind: 'code', language: 'qmp', source: '' };
}

/**
 * The text the parser reads cell sources from: without the byte order mark, and with CRLF turned into LF only
 * when every line ends with CRLF (mixed files keep their carriage returns inside the cells). Every cell
 * source is a verbatim slice of it, in file order, so a caller that maps cell offsets back to the file
 * (the CLI's FILE:LINE:COL) finds each source by searching forward, never past its true place.
 */
export function notebookBodyText(input: string): string {
  const text = input.charCodeAt(0) === 0xfeff ? input.slice(1) : input;
  return isAllCrlf(text) ? text.replace(/\r\n/g, '\n') : text;
}

/**
 * Where the cells begin in a body text (notebookBodyText): just after the front matter's closing line, or 0 when
 * the notebook has none. A locator searching for cell sources starts here, so that a cell whose source is a
 * front matter line (`---`) is not found inside the front matter.
 */
export function cellsStart(body: string): number {
  const first = body.indexOf('\n');
  if (!FRONT_MATTER_FENCE.test(first < 0 ? body : body.slice(0, first))) return 0;
  const lines = body.split('\n', FRONT_MATTER_MAX_LINES + 2);
  const end = readFrontMatter(lines, { cells: [] });
  let offset = 0;
  for (let i = 0; i < end; i++) offset += (lines[i] ?? '').length + 1;
  return Math.min(offset, body.length);
}

function parseStructure(input: string): NotebookData {
  const data: NotebookData = { cells: [] };
  if (input.charCodeAt(0) === 0xfeff) data.bom = true;
  const text = notebookBodyText(input);
  if (text.length !== input.length - (data.bom === true ? 1 : 0)) data.eol = '\r\n';
  const lines = text.split('\n');
  // The final newline ends the last line; it does not start an empty one.
  if (text.endsWith('\n')) lines.pop();
  const n = lines.length;
  const closers = new Closers(lines);
  const lineText = new LineText(text, lines);

  // Closing raw markers by suffix, in order, so each opening marker finds its end without rescanning.
  const rawCloses = new Map<string, number[]>();
  for (let i = 0; i < n; i++) {
    const m = lines[i]?.startsWith('<!--') === true ? RAW_CLOSE.exec(lines[i] ?? '') : null;
    if (m !== null) {
      const key = m[1] ?? '';
      const list = rawCloses.get(key) ?? [];
      list.push(i);
      rawCloses.set(key, list);
    }
  }
  const rawCursor = new Map<string, number>();
  const findRawClose = (suffix: string, after: number): number => {
    const list = rawCloses.get(suffix) ?? [];
    let k = rawCursor.get(suffix) ?? 0;
    while (k < list.length && (list[k] ?? 0) <= after) k++;
    rawCursor.set(suffix, k);
    return k < list.length ? (list[k] ?? -1) : -1;
  };

  let plainMarkdownCells = 0;
  let rawMarkdownCells = 0;
  let region: string[] = [];
  const flush = (): void => {
    let a = 0;
    let b = region.length;
    while (a < b && isBlank(region[a] ?? '')) a++;
    while (b > a && isBlank(region[b - 1] ?? '')) b--;
    if (b > a) {
      data.cells.push({ kind: 'markdown', language: 'markdown', source: region.slice(a, b).join('\n') });
      plainMarkdownCells++;
    }
    region = [];
  };

  const frontMatterEnd = readFrontMatter(lines, data);
  const hasFrontMatter = frontMatterEnd > 0;
  let i = frontMatterEnd;
  while (i < n) {
    const line = lines[i] ?? '';
    const first = line.charCodeAt(0);
    // Structure starts with '`' or '<'; everything else is markdown text, without running any regex.
    if (first !== 96 && first !== 60) {
      region.push(line);
      i++;
      continue;
    }
    const open = CODE_OPEN.exec(line);
    if (open !== null) {
      flush();
      const j = closers.find(i + 1, open[1]?.length ?? 3);
      const cell: CellData = { kind: 'code', language: (open[2] ?? 'qmp') as CodeLanguage, source: lines.slice(i + 1, j).join('\n') };
      data.cells.push(cell);
      i = j < n ? j + 1 : n;
      // Saved outputs: a well-formed ```qmp-output block right after the cell (blank lines between).
      let k = i;
      while (k < n && isBlank(lines[k] ?? '')) k++;
      const outOpen = k < n ? OUTPUT_OPEN.exec(lines[k] ?? '') : null;
      if (outOpen !== null) {
        const e = closers.find(k + 1, outOpen[1]?.length ?? 3);
        // Only a block exactly as this module writes it is read as outputs; anything else stays text.
        const outputs = e < n ? readOutputLines(lines, k + 1, e, lineText) : undefined;
        if (outputs !== undefined) {
          if (outputs.length > 0) cell.outputs = outputs;
          i = e + 1;
        } else {
          (data.unreadOutputs ??= []).push(k + 1);
        }
      }
      continue;
    }
    const rawOpen = RAW_OPEN.exec(line);
    if (rawOpen !== null) {
      const close = findRawClose(rawOpen[1] ?? '', i);
      if (close >= 0) {
        flush();
        data.cells.push({ kind: 'markdown', language: 'markdown', source: lines.slice(i + 1, close).join('\n') });
        rawMarkdownCells++;
        i = close + 1;
        continue;
      }
    }
    if (CELL_MARKER.test(line)) {
      flush();
      i++;
      continue;
    }
    region.push(line);
    i++;
  }
  flush();

  const only = data.cells[0];
  if (data.cells.length === 1 && only !== undefined && only.kind === 'markdown' && plainMarkdownCells === 1
    && rawMarkdownCells === 0 && !hasFrontMatter && looksLikeQmp(only.source)) {
    // A plain file of JSON commands, or a QEMU documentation example pasted into an empty file.
    data.cells = splitQmpText(only.source);
  }
  // An empty file (or front matter and nothing else) is a notebook of no cells, which is also how one is
  // written; a file of blank lines opens as one empty cell to type in.
  if (data.cells.length === 0 && text !== '' && frontMatterEnd < n) data.cells.push(emptyCell());
  return data;
}

/**
 * True when a markdown cell can be written as plain text and read back as the same single cell.
 * `first`: it starts the file (so `---` would read as front matter); `alone`: it is the whole notebook
 * (so a text of JSON objects would open as code cells).
 */
function isPlainMarkdown(source: string, first: boolean, alone: boolean): boolean {
  if (source === '' || source.endsWith('\r')) return false;
  const lines = source.split('\n');
  if (isBlank(lines[0] ?? '') || isBlank(lines[lines.length - 1] ?? '')) return false;
  if (OUTPUT_OPEN.test(lines[0] ?? '')) return false;
  // At the top of the file `---` would open front matter and U+FEFF would read as a byte order mark.
  if (first && (FRONT_MATTER_FENCE.test(lines[0] ?? '') || source.startsWith('\uFEFF'))) return false;
  for (const line of lines) {
    if (CODE_OPEN.test(line) || RAW_OPEN.test(line) || CELL_MARKER.test(line)) return false;
  }
  return !(alone && looksLikeQmp(source));
}

function rawMarkdown(source: string): string {
  const lines = new Set(source.split('\n'));
  let suffix = '';
  for (let k = 1; lines.has(`<!-- /markdown-cell${suffix} -->`); k++) suffix = ` ${k}`;
  const body = source === '' ? '' : `${source}\n`;
  return `<!-- markdown-cell${suffix} -->\n${body}<!-- /markdown-cell${suffix} -->`;
}

/**
 * Writes a notebook as `.qmp` text. Deterministic; `parseNotebook(serializeNotebook(d))` gives back `d`
 * (outputs included when present: the caller drops them when outputs are not to be saved).
 */
export function serializeNotebook(data: NotebookData): string {
  const blocks: string[] = [];
  // A compat value the reader would refuse is not written (it would turn the front matter into markdown).
  const compat = data.compat !== undefined && COMPAT_VALUE.test(data.compat) && !('error' in parseCompatPolicy(data.compat)) ? data.compat : undefined;
  const hasFrontMatter = data.profile !== undefined || data.saveOutputs !== undefined || compat !== undefined
    || data.masks !== undefined || data.ignoreEvents !== undefined || data.eventOrder !== undefined || data.testOn !== undefined;
  if (hasFrontMatter) {
    const lines = ['---'];
    if (data.profile !== undefined) lines.push(`profile: ${writeProfileValue(data.profile)}`);
    if (data.saveOutputs !== undefined) lines.push(`saveOutputs: ${data.saveOutputs ? 'true' : 'false'}`);
    if (compat !== undefined) lines.push(`compat: ${compat}`);
    if (data.masks !== undefined) lines.push(`masks: ${writeStringList(data.masks)}`);
    if (data.ignoreEvents !== undefined) lines.push(`ignoreEvents: ${writeStringList(data.ignoreEvents)}`);
    if (data.eventOrder !== undefined) lines.push(`eventOrder: ${data.eventOrder}`);
    if (data.testOn !== undefined) lines.push(`testOn: ${data.testOn}`);
    lines.push('---');
    blocks.push(lines.join('\n'));
  }
  const alone = data.cells.length === 1 && !hasFrontMatter;
  let previousPlainMarkdown = false;
  for (const cell of data.cells) {
    if (cell.kind === 'markdown') {
      const plain = isPlainMarkdown(cell.source, blocks.length === 0, alone);
      if (plain && previousPlainMarkdown) blocks.push('<!-- cell -->');
      blocks.push(plain ? cell.source : rawMarkdown(cell.source));
      previousPlainMarkdown = plain;
      continue;
    }
    previousPlainMarkdown = false;
    const language = CODE_LANGUAGES.has(cell.language) ? cell.language : 'qmp';
    blocks.push(fenced(language, cell.source));
    if (cell.outputs !== undefined && cell.outputs.length > 0) blocks.push(fenced('qmp-output', renderOutputs(cell.outputs)));
  }
  // No cells and no front matter: the empty file, which reads back as no cells.
  let text = blocks.length === 0 ? '' : blocks.join('\n\n') + '\n';
  if (data.eol === '\r\n') text = text.replace(/\n/g, '\r\n');
  return data.bom === true ? '\uFEFF' + text : text;
}
