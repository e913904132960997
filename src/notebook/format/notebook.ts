// The `.qmp` notebook file: Markdown text with fenced code cells. See docs/notebook-format.md.
//
// Layout of a file this module writes (blocks joined by one blank line, one final newline):
//
//   ---                      optional front matter: only `profile` and `saveOutputs`, never secrets
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

import { formatOutputJson } from './json';
import { objectEnd, segmentJsonCell } from './segments';

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
  /** Regression-test settings (docs/testing-notebooks.md): masks of volatile values, as written. */
  masks?: string[];
  /** Events that may come or not in any cell without failing `qmp-notebook test`. */
  ignoreEvents?: string[];
  /** `any`: the events of a cell may arrive in any order; `saved` (the default): in the saved order. */
  eventOrder?: 'saved' | 'any';
  eol?: '\r\n';
  bom?: boolean;
  cells: CellData[];
}

const CODE_OPEN = /^(`{3,})[ \t]*(qmp|qmp-shell|hmp)[ \t]*$/;
const OUTPUT_OPEN = /^(`{3,})[ \t]*qmp-output[ \t]*$/;
const CLOSE = /^ {0,3}(`{3,})[ \t]*$/;
const CELL_MARKER = /^<!-- cell -->[ \t]*$/;
const RAW_OPEN = /^<!-- markdown-cell( \d+)? -->$/;
const RAW_CLOSE = /^<!-- \/markdown-cell( \d+)? -->$/;
const FRONT_MATTER_FENCE = /^---[ \t]*$/;
const FRONT_MATTER_LINE = /^(profile|saveOutputs|masks|ignoreEvents|eventOrder)[ \t]*:[ \t]*(.*?)[ \t]*$/;
/** A profile name written without quotes; anything else (or a YAML keyword) is written as a JSON string. */
const BARE_PROFILE = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const YAML_KEYWORDS = /^(true|false|yes|no|on|off|null|y|n)$/i;
/** Front matter longer than this is not ours: it is left as markdown. */
const FRONT_MATTER_MAX_LINES = 20;

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

function isCloser(line: string, fenceLength: number): boolean {
  const m = CLOSE.exec(line);
  return m !== null && (m[1]?.length ?? 0) >= fenceLength;
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
  const found: { profile?: string; saveOutputs?: boolean; masks?: string[]; ignoreEvents?: string[]; eventOrder?: 'saved' | 'any' } = {};
  for (let i = 1; i < lines.length && i <= FRONT_MATTER_MAX_LINES; i++) {
    const line = lines[i] ?? '';
    if (FRONT_MATTER_FENCE.test(line)) {
      if (i === 1) return 0;
      if (found.profile !== undefined) data.profile = found.profile;
      if (found.saveOutputs !== undefined) data.saveOutputs = found.saveOutputs;
      if (found.masks !== undefined) data.masks = found.masks;
      if (found.ignoreEvents !== undefined) data.ignoreEvents = found.ignoreEvents;
      if (found.eventOrder !== undefined) data.eventOrder = found.eventOrder;
      return i + 1;
    }
    const m = FRONT_MATTER_LINE.exec(line);
    if (m === null) return 0;
    const key = m[1];
    const value = m[2] ?? '';
    if (key === 'profile') {
      if (found.profile !== undefined) return 0;
      const name = parseProfileValue(value);
      if (name === undefined) return 0;
      found.profile = name;
    } else if (key === 'masks' || key === 'ignoreEvents') {
      const list = parseStringList(value);
      if (found[key] !== undefined || list === undefined) return 0;
      found[key] = list;
    } else if (key === 'eventOrder') {
      if (found.eventOrder !== undefined || (value !== 'saved' && value !== 'any')) return 0;
      found.eventOrder = value;
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

/** Parses the body of a ```qmp-output block; undefined when it is not in the form this module writes. */
export function parseOutputs(body: string): SavedOutput[] | undefined {
  const outputs: SavedOutput[] = [];
  let pos = 0;
  while (pos < body.length) {
    let lineEnd = body.indexOf('\n', pos);
    if (lineEnd < 0) lineEnd = body.length;
    const line = body.slice(pos, lineEnd);
    if (line === '') {
      pos = lineEnd + 1;
      continue;
    }
    if (line.startsWith('//')) {
      const text: string[] = [];
      while (pos < body.length) {
        let end = body.indexOf('\n', pos);
        if (end < 0) end = body.length;
        const l = body.slice(pos, end);
        if (!l.startsWith('//')) break;
        text.push(l.startsWith('// ') ? l.slice(3) : l.slice(2));
        pos = end + 1;
      }
      outputs.push({ kind: 'text', text: text.join('\n') });
      continue;
    }
    if ((line.startsWith('<- {') || line.startsWith('-> {'))) {
      const start = pos + 3;
      const end = objectEnd(body, start);
      if (end < body.length && body.charCodeAt(end) !== 10) return undefined;
      outputs.push({ kind: 'message', direction: line.startsWith('<-') ? '<-' : '->', json: body.slice(start, end) });
      pos = end + 1;
      continue;
    }
    return undefined;
  }
  return outputs;
}

function renderOutput(output: SavedOutput): string {
  if (output.kind === 'message') {
    const json = formatOutputJson(output.json);
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
 * structure (fences, front matter, markers, the blank lines between blocks) ends up in some cell; an empty
 * file gives one empty `qmp` cell.
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

function parseStructure(input: string): NotebookData {
  const data: NotebookData = { cells: [] };
  let text = input;
  if (text.charCodeAt(0) === 0xfeff) {
    data.bom = true;
    text = text.slice(1);
  }
  if (isAllCrlf(text)) {
    data.eol = '\r\n';
    text = text.replace(/\r\n/g, '\n');
  }
  const lines = text.split('\n');
  // The final newline ends the last line; it does not start an empty one.
  if (text.endsWith('\n')) lines.pop();
  const n = lines.length;

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
      const fenceLength = open[1]?.length ?? 3;
      let j = i + 1;
      while (j < n && !isCloser(lines[j] ?? '', fenceLength)) j++;
      const cell: CellData = { kind: 'code', language: (open[2] ?? 'qmp') as CodeLanguage, source: lines.slice(i + 1, j).join('\n') };
      data.cells.push(cell);
      i = j < n ? j + 1 : n;
      // Saved outputs: a well-formed ```qmp-output block right after the cell (blank lines between).
      let k = i;
      while (k < n && isBlank(lines[k] ?? '')) k++;
      const outOpen = k < n ? OUTPUT_OPEN.exec(lines[k] ?? '') : null;
      if (outOpen !== null) {
        let e = k + 1;
        while (e < n && !isCloser(lines[e] ?? '', outOpen[1]?.length ?? 3)) e++;
        if (e < n) {
          const body = lines.slice(k + 1, e).join('\n');
          const outputs = parseOutputs(body);
          // Only a block exactly as this module writes it is read as outputs; anything else stays text.
          if (outputs !== undefined && renderOutputs(outputs) === body) {
            if (outputs.length > 0) cell.outputs = outputs;
            i = e + 1;
          }
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
  if (data.cells.length === 0) data.cells.push(emptyCell());
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
  const hasFrontMatter = data.profile !== undefined || data.saveOutputs !== undefined || data.masks !== undefined
    || data.ignoreEvents !== undefined || data.eventOrder !== undefined;
  if (hasFrontMatter) {
    const lines = ['---'];
    if (data.profile !== undefined) lines.push(`profile: ${writeProfileValue(data.profile)}`);
    if (data.saveOutputs !== undefined) lines.push(`saveOutputs: ${data.saveOutputs ? 'true' : 'false'}`);
    if (data.masks !== undefined) lines.push(`masks: ${writeStringList(data.masks)}`);
    if (data.ignoreEvents !== undefined) lines.push(`ignoreEvents: ${writeStringList(data.ignoreEvents)}`);
    if (data.eventOrder !== undefined) lines.push(`eventOrder: ${data.eventOrder}`);
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
  let text = blocks.join('\n\n') + '\n';
  if (data.eol === '\r\n') text = text.replace(/\n/g, '\r\n');
  return data.bom === true ? '\uFEFF' + text : text;
}
