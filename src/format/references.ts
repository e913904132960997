// Named replies, the notation (docs/notebook-format.md, "Named replies"): a cell names its reply with a comment
// line `// @name NAME` (`# @name NAME` in qmp-shell and hmp cells), and a later cell uses a value from it as
// `{{NAME.return.path}}` inside a JSON string (a qmp-shell value, an HMP line). The text stays valid JSON and
// valid qmp-shell text. This file is the syntax only: finding the name line and the references, linearly.
// Resolving them against saved replies and substituting them into a command is src/run/namedReplies.ts; the
// language features are src/language/namedReplies.ts. It lives in the format layer because the cell reader
// (a qmp-shell `{{…}}` value is a string) and the language layer need the same reading.

/** A reply name: a letter or `_`, then letters, digits, `_` and `-` (QMP's own names have dashes). */
export const NAME_RE = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** One step of a path: a member (`.key`, `["key"]`) or an element (`[3]`). */
export type PathStep = { key: string } | { index: number };

/** A `{{…}}` in a string: where it is (offsets in the decoded string, end exclusive), its name and path. */
export interface Reference {
  start: number;
  end: number;
  name: string;
  path: PathStep[];
  /** The text between the braces, trimmed (for messages: `status.return.status`). */
  text: string;
}

/** A `{{` that does not read as a reference: where, and why. */
export interface ReferenceError {
  start: number;
  end: number;
  message: string;
}

/** A piece of a string: literal text (escapes already undone) or a reference. */
export type Piece = { text: string } | { ref: Reference };

export interface ScannedString {
  pieces: Piece[];
  refs: Reference[];
  errors: ReferenceError[];
}

const NAME_START = /[A-Za-z_]/;
const KEY_CHAR = /[A-Za-z0-9_-]/;

/** Whether a string holds `{{` at all (the cheap test before scanning). */
export function mayHoldReference(s: string): boolean {
  return s.includes('{{');
}

/**
 * Splits a string into literal text and references, in one pass. `{{` opens a reference that must be
 * `NAME` followed by steps (`.key`, `[0]`, `["any key"]`) and `}}`, spaces allowed just inside the braces.
 * `\{{` is a literal `{{` (the backslash is dropped); `\\{{` is a literal backslash followed by a reference.
 * Any other backslash is literal text. A `{{` that does not read as a reference is an error (write `\{{`).
 */
export function scanString(s: string): ScannedString {
  const pieces: Piece[] = [];
  const refs: Reference[] = [];
  const errors: ReferenceError[] = [];
  let text = '';
  let from = 0;
  let i = s.indexOf('{{');
  while (i >= 0) {
    let literal = s.slice(from, i);
    // `\{{`: a literal `{{`; `\\{{`: a literal `\` then a reference.
    if (literal.endsWith('\\') && !literal.endsWith('\\\\')) {
      text += literal.slice(0, -1) + '{{';
      from = i + 2;
      i = s.indexOf('{{', from);
      continue;
    }
    if (literal.endsWith('\\\\')) literal = literal.slice(0, -1);
    text += literal;
    const r = readReference(s, i);
    if ('message' in r) {
      errors.push(r);
      text += s.slice(i, r.end);
      from = r.end;
    } else {
      if (text !== '') pieces.push({ text });
      text = '';
      pieces.push({ ref: r });
      refs.push(r);
      from = r.end;
    }
    i = s.indexOf('{{', from);
  }
  text += s.slice(from);
  if (text !== '') pieces.push({ text });
  return { pieces, refs, errors };
}

/** Reads the reference that starts at `at` (`{{`); its end is after `}}`. */
function readReference(s: string, at: number): Reference | ReferenceError {
  let i = at + 2;
  const bad = (message: string): ReferenceError => {
    // The error spans up to the next `}}` (or the end), so the scan goes on after it.
    const close = s.indexOf('}}', at + 2);
    return { start: at, end: close < 0 ? s.length : close + 2, message };
  };
  while (s[i] === ' ') i++;
  const nameStart = i;
  if (i >= s.length || !NAME_START.test(s[i] as string)) {
    return bad('a reference is {{NAME.path}} with NAME the name of an earlier cell\'s reply (write \\{{ for a literal {{)');
  }
  while (i < s.length && KEY_CHAR.test(s[i] as string)) i++;
  const name = s.slice(nameStart, i);
  const path: PathStep[] = [];
  for (;;) {
    const c = s[i];
    if (c === '.') {
      const k0 = ++i;
      while (i < s.length && KEY_CHAR.test(s[i] as string)) i++;
      if (i === k0) return bad(`expected a member name after '.' in the reference {{${s.slice(nameStart, i).trim()}…}}`);
      path.push({ key: s.slice(k0, i) });
    } else if (c === '[') {
      i++;
      if (s[i] === '"') {
        // A quoted key, JSON-style: `\"` and `\\` are its escapes.
        let key = '';
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && (s[i + 1] === '"' || s[i + 1] === '\\')) i++;
          key += s[i];
          i++;
        }
        if (s[i] !== '"' || s[i + 1] !== ']') return bad('a quoted key is written ["key"] in a reference');
        i += 2;
        path.push({ key });
      } else {
        const d0 = i;
        while (i < s.length && (s[i] ?? '') >= '0' && (s[i] ?? '') <= '9') i++;
        if (i === d0 || s[i] !== ']' || i - d0 > 9) return bad('an index is written [N] with N a whole number in a reference');
        path.push({ index: Number(s.slice(d0, i)) });
        i++;
      }
    } else {
      break;
    }
  }
  const end = i;
  while (s[i] === ' ') i++;
  if (s[i] !== '}' || s[i + 1] !== '}') return bad(`expected '}}' to close the reference {{${s.slice(nameStart, end)}`);
  return { start: at, end: i + 2, name, path, text: s.slice(nameStart, end) };
}

/** Whether the whole string is one reference (then it takes the referenced value with its type). */
export function wholeReference(s: string): Reference | undefined {
  if (!s.startsWith('{{') || !s.endsWith('}}')) return undefined;
  const scanned = scanString(s);
  const only = scanned.pieces.length === 1 ? scanned.pieces[0] : undefined;
  return only !== undefined && 'ref' in only && scanned.errors.length === 0 ? only.ref : undefined;
}

/** A path as it is written after the name: `.return.status`, `[0]`, `["odd key"]`. */
export function formatPath(path: readonly PathStep[]): string {
  return path.map((p) => ('index' in p ? `[${p.index}]` : /^[A-Za-z0-9_-]+$/.test(p.key) ? `.${p.key}` : `[${JSON.stringify(p.key)}]`)).join('');
}

/** The `@name` line of a cell. `start`/`end`: the name's offsets in the cell source. */
export interface CellName {
  name: string;
  start: number;
  end: number;
  /** 0-based line in the cell. */
  line: number;
}

/** Name-line problems listed per cell at most (the rest of such lines are not looked at). */
const MAX_NAME_ERRORS = 100;

export interface CellNameResult {
  name?: CellName;
  errors: ReferenceError[];
}

/**
 * Finds the `@name` comment line of a cell: `// @name NAME` (qmp, qmp-shell), `# @name NAME` (qmp-shell, hmp),
 * spaces around allowed. One pass over the lines. A second name line, or a name that is not a plain name, is
 * an error (the cell is not sent: which name would a later cell mean?).
 */
export function findCellName(source: string, language: string): CellNameResult {
  const errors: ReferenceError[] = [];
  let found: CellName | undefined;
  const hash = language === 'qmp-shell' || language === 'hmp';
  const slash = language === 'qmp' || language === 'qmp-shell';
  let lineStart = 0;
  for (let line = 0; lineStart <= source.length; line++) {
    let lineEnd = source.indexOf('\n', lineStart);
    if (lineEnd < 0) lineEnd = source.length;
    let i = lineStart;
    while (i < lineEnd && (source[i] === ' ' || source[i] === '\t')) i++;
    let marker = 0;
    if (slash && source.startsWith('//', i)) marker = 2;
    else if (hash && source[i] === '#') marker = 1;
    if (marker > 0 && errors.length < MAX_NAME_ERRORS) {
      let j = i + marker;
      while (j < lineEnd && (source[j] === ' ' || source[j] === '\t')) j++;
      if (source.startsWith('@name', j) && (j + 5 === lineEnd || /\s/.test(source[j + 5] as string))) {
        let k = j + 5;
        while (k < lineEnd && /\s/.test(source[k] as string)) k++;
        let e = lineEnd;
        while (e > k && /\s/.test(source[e - 1] as string)) e--;
        const name = source.slice(k, e);
        if (!NAME_RE.test(name)) {
          errors.push({ start: k, end: Math.max(e, k), message: name === '' ? '@name needs a name: // @name status' : `'${name}' is not a reply name: a letter or _, then letters, digits, _ and -` });
        } else if (found !== undefined) {
          errors.push({ start: k, end: e, message: `the cell is already named '${found.name}' (line ${found.line + 1}): a cell has one name` });
        } else {
          found = { name, start: k, end: e, line };
        }
      }
    }
    lineStart = lineEnd + 1;
  }
  return found ? { name: found, errors } : { errors };
}
