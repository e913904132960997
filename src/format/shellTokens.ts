// The one tokenizer of `qmp-shell` text. The cell parser (shell.ts), completion and the word lookup of hover
// (language/shellCompletion.ts), live values (language/live.ts), the quick fixes (language/shellDiagnostics.ts)
// and the terminal shell (cli/shell.ts) all cut a line into words here, so they agree on where each word
// starts and ends. Whitespace separates words, except inside quotes ('…' or "…", with backslash escapes) and
// inside `{…}`/`[…]` (JSON or Python values may hold spaces). Linear: each character is looked at once.

export interface ShellToken {
  text: string;
  /** Offsets in the text given to the tokenizer (line offset + base), `end` exclusive. */
  start: number;
  end: number;
}

export interface ShellLineTokens {
  tokens: ShellToken[];
  /** Where a quote opened that the line never closes (its token runs to the end of the line). */
  unterminated: number | undefined;
}

function isSpace(code: number): boolean {
  // What /\s/ matches, without a regular expression per character.
  return code === 32 || (code >= 9 && code <= 13) || code === 0xa0 || code === 0x1680 || (code >= 0x2000 && code <= 0x200a)
    || code === 0x2028 || code === 0x2029 || code === 0x202f || code === 0x205f || code === 0x3000 || code === 0xfeff;
}

/** Splits one line (no newline in it) into words; offsets are `base` + the offset in the line. */
export function tokenizeShellLine(line: string, base = 0): ShellLineTokens {
  const tokens: ShellToken[] = [];
  let unterminated: number | undefined;
  const n = line.length;
  let i = 0;
  while (i < n) {
    while (i < n && isSpace(line.charCodeAt(i))) i++;
    if (i >= n) break;
    const start = i;
    let depth = 0;
    while (i < n) {
      const c = line.charCodeAt(i);
      if (depth === 0 && isSpace(c)) break;
      if (c === 34 /* " */ || c === 39 /* ' */) {
        let j = i + 1;
        while (j < n && line.charCodeAt(j) !== c) j += line.charCodeAt(j) === 92 /* \ */ ? 2 : 1;
        if (j >= n) {
          unterminated ??= base + i;
          i = n;
          break;
        }
        i = j + 1;
        continue;
      }
      if (c === 123 /* { */ || c === 91 /* [ */) depth++;
      else if ((c === 125 /* } */ || c === 93 /* ] */) && depth > 0) depth--;
      i++;
    }
    tokens.push({ text: line.slice(start, i), start: base + start, end: base + i });
  }
  return { tokens, unterminated };
}

/** One line of a `qmp-shell` cell with its words. */
export interface ShellLine extends ShellLineTokens {
  /** The line's range in the cell (without its newline). */
  start: number;
  end: number;
  /** A `#` or `//` comment line: no tokens. */
  comment: boolean;
  /** Inside a `transaction(` block: the first word is an action type. */
  inTransaction: boolean;
}

/** Every line of a cell with its words, in one linear pass; comment lines have none. */
export function shellLines(text: string): ShellLine[] {
  const out: ShellLine[] = [];
  let inTransaction = false;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    const t = line.trim();
    const comment = t.startsWith('#') || t.startsWith('//');
    const words = comment ? { tokens: [], unterminated: undefined } : tokenizeShellLine(line, start);
    out.push({ ...words, start, end, comment, inTransaction });
    if (/^transaction\s*\(/.test(t) && !/\)\s*$/.test(t)) inTransaction = true;
    else if (t.startsWith(')')) inTransaction = false;
    start = end + 1;
  }
  return out;
}

/** The word of `tokens` that holds `offset` (its end counts: the word just typed), if any. */
export function shellTokenAt(tokens: readonly ShellToken[], offset: number): ShellToken | undefined {
  for (const t of tokens) {
    if (t.start <= offset && offset <= t.end) return t;
    if (t.start > offset) break;
  }
  return undefined;
}
