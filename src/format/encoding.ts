// Decoding the bytes of a `.qmp` file. A notebook is UTF-8; bytes that are not valid UTF-8 are decoded to
// U+FFFD (as every editor does) but never silently: the caller gets a warning with the place of the first bad
// sequence, which the editor shows and the CLI prints. Pure: no vscode, no I/O.

/** A problem with a file that did not stop it from opening: its bytes, or a part of it read as plain text. */
export type FormatWarning = InvalidUtf8Warning | UnreadOutputsWarning;

/** Some bytes were not UTF-8 and were replaced by U+FFFD. */
export interface InvalidUtf8Warning {
  code: 'invalid-utf8';
  /** Byte offset of the first invalid sequence (0-based). */
  offset: number;
  /** Its line (1-based, counting LF bytes before it). */
  line: number;
  /** How many invalid sequences the file holds (each became one U+FFFD). */
  count: number;
  /** One line for a person: where, how many, and what saving will do. */
  message: string;
}

/** A ```qmp-output block not in the saved-output form: kept as Markdown text, so its cell has no saved outputs. */
export interface UnreadOutputsWarning {
  code: 'unread-outputs';
  /** The block's opening line (1-based). */
  line: number;
  message: string;
}

/** The warnings about the ```qmp-output blocks a parse kept as text (NotebookData.unreadOutputs). */
export function unreadOutputWarnings(data: { unreadOutputs?: readonly number[] }): UnreadOutputsWarning[] {
  return (data.unreadOutputs ?? []).map((line) => ({
    code: 'unread-outputs', line,
    message: `line ${line}: this \`\`\`qmp-output block was not read as saved outputs (kept as Markdown text): write ` +
      'each `<-`/`->` message or `//` line as qmp-notebook does, one blank line between them, or let a run ' +
      '(or qmp-notebook test --update) write it',
  }));
}

export interface DecodedNotebook {
  text: string;
  warnings: FormatWarning[];
}

const strict = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
const lenient = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/**
 * The UTF-8 sequence at `i`: its length when valid, or minus the length of the "maximal subpart" of an
 * ill-formed one (the lead byte and the continuation bytes that were still valid for it), which WHATWG's
 * decoder replaces by one U+FFFD. Rules as WHATWG's: no overlong forms, no surrogates, nothing above U+10FFFF.
 */
function step(b: Uint8Array, i: number): number {
  const c = b[i] ?? 0;
  if (c < 0x80) return 1;
  let need: number;
  let lo = 0x80;
  let hi = 0xbf;
  if (c >= 0xc2 && c <= 0xdf) need = 1;
  else if (c >= 0xe0 && c <= 0xef) {
    need = 2;
    if (c === 0xe0) lo = 0xa0;
    if (c === 0xed) hi = 0x9f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    need = 3;
    if (c === 0xf0) lo = 0x90;
    if (c === 0xf4) hi = 0x8f;
  } else return -1;
  for (let k = 1; k <= need; k++) {
    const d = b[i + k];
    if (d === undefined || d < lo || d > hi) return -k;
    lo = 0x80;
    hi = 0xbf;
  }
  return need + 1;
}

/** Finds the invalid sequences of `bytes`: the first one's offset and how many there are (one linear scan). */
export function findInvalidUtf8(bytes: Uint8Array): { first: number; count: number } | undefined {
  let first = -1;
  let count = 0;
  let i = 0;
  while (i < bytes.length) {
    const len = step(bytes, i);
    if (len > 0) {
      i += len;
      continue;
    }
    if (first < 0) first = i;
    count++;
    i -= len;
  }
  return first < 0 ? undefined : { first, count };
}

/**
 * Decodes the bytes of a notebook. Valid UTF-8 decodes exactly; invalid sequences become U+FFFD and the
 * result carries one `invalid-utf8` warning with the byte offset and line of the first one.
 */
export function decodeNotebookBytes(bytes: Uint8Array): DecodedNotebook {
  try {
    return { text: strict.decode(bytes), warnings: [] };
  } catch {
    // Not valid UTF-8: decode leniently and say where.
  }
  const text = lenient.decode(bytes);
  const found = findInvalidUtf8(bytes) ?? { first: 0, count: 1 };
  let line = 1;
  for (let i = 0; i < found.first; i++) if (bytes[i] === 10) line++;
  const many = found.count === 1 ? 'an invalid UTF-8 sequence' : `${found.count} invalid UTF-8 sequences`;
  return {
    text,
    warnings: [{
      code: 'invalid-utf8',
      offset: found.first,
      line,
      count: found.count,
      message: `not valid UTF-8: ${many}, the first at line ${line} (byte offset ${found.first}); `
        + 'shown as U+FFFD (\uFFFD), and saving the notebook writes U+FFFD in their place',
    }],
  };
}
