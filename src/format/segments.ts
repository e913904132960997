// Splits the text of a `qmp` code cell into the JSON objects it holds, in one linear scan.
//
// A `qmp` cell is a sequence of JSON objects, each optionally prefixed with QEMU's documentation markers:
// `->` marks a command (sent) and `<-` an expected reply or event (not sent). `//` and `/* */` comments may
// appear anywhere. The segmenter never parses JSON; it only finds where each object starts and ends, so
// the language features can work on one object at a time, even while the user is still typing it.

/** What a segment of a `qmp` cell is. */
export type SegmentKind = 'send' | 'expect' | 'wait' | 'junk';

/**
 * One object of a `qmp` cell, or a run of text that is not an object.
 * `start`/`end` are UTF-16 offsets into the cell source, `end` exclusive. For objects they cover the object
 * text from its `{` to its `}` (the `->`/`<-` marker is not included); an unterminated object runs to the end
 * of the cell (or to the next line that starts with a marker). For junk they cover the offending text,
 * trimmed of surrounding whitespace.
 */
export interface Segment {
  kind: SegmentKind;
  start: number;
  end: number;
}

const enum Ch {
  Tab = 9,
  Lf = 10,
  Cr = 13,
  Space = 32,
  Quote = 34,
  Star = 42,
  Comma = 44,
  Dash = 45,
  Slash = 47,
  Colon = 58,
  Less = 60,
  Greater = 62,
  OpenBracket = 91,
  Backslash = 92,
  CloseBracket = 93,
  OpenBrace = 123,
  CloseBrace = 125,
}

function isSpace(c: number): boolean {
  return c === Ch.Space || c === Ch.Tab || c === Ch.Lf || c === Ch.Cr || c === 0x0b || c === 0x0c
    || c === 0xa0 || c === 0xfeff || c === 0x2028 || c === 0x2029;
}

/**
 * Returns the offset just after the comment that starts at `i`, or `i` itself when no comment starts there.
 * An unterminated block comment runs to the end of the text.
 */
export function skipComment(text: string, i: number): number {
  if (text.charCodeAt(i) !== Ch.Slash) return i;
  const next = text.charCodeAt(i + 1);
  if (next === Ch.Slash) {
    let j = i + 2;
    while (j < text.length && text.charCodeAt(j) !== Ch.Lf && text.charCodeAt(j) !== Ch.Cr) j++;
    return j;
  }
  if (next === Ch.Star) {
    const close = text.indexOf('*/', i + 2);
    return close < 0 ? text.length : close + 2;
  }
  return i;
}

/**
 * Returns the offset just after the double-quoted string that starts at `i`. A string ends at its closing
 * quote or, like jsonc-parser's scanner, at a line break (an unterminated string must not swallow the
 * rest of the cell).
 */
function skipString(text: string, i: number): number {
  let j = i + 1;
  while (j < text.length) {
    const c = text.charCodeAt(j);
    if (c === Ch.Quote) return j + 1;
    if (c === Ch.Lf || c === Ch.Cr) return j;
    j += c === Ch.Backslash ? 2 : 1;
  }
  return text.length;
}

/** The `->`/`<-` marker at `i`, if any. */
function markerAt(text: string, i: number): 'send' | 'expect' | undefined {
  const a = text.charCodeAt(i);
  const b = text.charCodeAt(i + 1);
  if (a === Ch.Dash && b === Ch.Greater) return 'send';
  if (a === Ch.Less && b === Ch.Dash) return 'expect';
  return undefined;
}

/** True when only spaces or tabs stand between the start of the line and `i`. */
function atLineStart(text: string, i: number): boolean {
  let j = i - 1;
  while (j >= 0) {
    const c = text.charCodeAt(j);
    if (c === Ch.Lf || c === Ch.Cr) return true;
    if (c !== Ch.Space && c !== Ch.Tab) return false;
    j--;
  }
  return true;
}

/** Trims whitespace from both ends of [start, end). */
function trimmed(text: string, start: number, end: number): [number, number] {
  while (start < end && isSpace(text.charCodeAt(start))) start++;
  while (end > start && isSpace(text.charCodeAt(end - 1))) end--;
  return [start, end];
}

interface ObjectScan {
  end: number;
  isWait: boolean;
}

/**
 * Scans the object whose `{` is at `start`. Braces and brackets nest (one counter: the segmenter finds
 * extents, the JSON parser reports mismatches); strings and comments are skipped whole so that braces in
 * them do not count. A line that starts with a `->`/`<-` marker while the object is still open ends it
 * early: a marker is never valid JSON, so the user has most likely not finished the object above.
 */
function scanObject(text: string, start: number): ObjectScan {
  let depth = 0;
  let isWait = false;
  // At depth 1, a string right after `{` or `,` is a key of the top-level object.
  let expectKey = false;
  let lastContent = start;
  let i = start;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c === Ch.Quote) {
      const j = skipString(text, i);
      if (depth === 1 && expectKey) {
        if (text.slice(i + 1, j - 1) === 'wait-event' && text.charCodeAt(j - 1) === Ch.Quote) isWait = true;
        expectKey = false;
      }
      lastContent = j;
      i = j;
      continue;
    }
    if (c === Ch.Slash) {
      const j = skipComment(text, i);
      if (j !== i) {
        i = j;
        continue;
      }
    }
    if (depth > 0 && (c === Ch.Dash || c === Ch.Less) && markerAt(text, i) !== undefined && atLineStart(text, i)) {
      return { end: lastContent, isWait };
    }
    if (c === Ch.OpenBrace || c === Ch.OpenBracket) {
      depth++;
      if (depth === 1) expectKey = true;
    } else if (c === Ch.CloseBrace || c === Ch.CloseBracket) {
      depth--;
      if (depth === 0) return { end: i + 1, isWait };
    } else if (c === Ch.Comma) {
      if (depth === 1) expectKey = true;
    } else if (!isSpace(c) && depth === 1) {
      expectKey = false;
    }
    if (!isSpace(c)) lastContent = i + 1;
    i++;
  }
  return { end: text.length, isWait };
}

/**
 * The offset just after the object whose `{` is at `start` (brace matching that respects strings and
 * comments); the end of the text when the object is not closed.
 */
export function objectEnd(text: string, start: number): number {
  return scanObject(text, start).end;
}

/**
 * Splits a `qmp` cell into its objects and junk, in source order.
 * Never throws; every non-whitespace, non-comment character of the source lies in exactly one segment
 * (a `->`/`<-` marker belongs to no segment when an object follows it, and is junk when none does).
 */
export function segmentJsonCell(source: string): Segment[] {
  const segments: Segment[] = [];
  let junkStart = -1;
  const flushJunk = (end: number): void => {
    if (junkStart < 0) return;
    const [s, e] = trimmed(source, junkStart, end);
    if (e > s) segments.push({ kind: 'junk', start: s, end: e });
    junkStart = -1;
  };
  let i = 0;
  const n = source.length;
  while (i < n) {
    const c = source.charCodeAt(i);
    if (c === Ch.Lf || c === Ch.Cr) {
      // Junk is reported one line at a time, so one stray word does not hide the next line's problem.
      flushJunk(i);
      i++;
      continue;
    }
    if (isSpace(c)) {
      i++;
      continue;
    }
    if (c === Ch.Slash) {
      const j = skipComment(source, i);
      if (j !== i) {
        flushJunk(i);
        i = j;
        continue;
      }
    }
    const marker = markerAt(source, i);
    if (marker !== undefined) {
      // A marker counts only when an object follows it (after spaces and comments).
      let j = i + 2;
      for (;;) {
        while (j < n && isSpace(source.charCodeAt(j))) j++;
        const k = skipComment(source, j);
        if (k === j) break;
        j = k;
      }
      if (source.charCodeAt(j) === Ch.OpenBrace) {
        flushJunk(i);
        const scan = scanObject(source, j);
        segments.push({ kind: scan.isWait ? 'wait' : marker, start: j, end: scan.end });
        i = scan.end;
        continue;
      }
      if (junkStart < 0) junkStart = i;
      i += 2;
      continue;
    }
    if (c === Ch.OpenBrace) {
      flushJunk(i);
      const scan = scanObject(source, i);
      segments.push({ kind: scan.isWait ? 'wait' : 'send', start: i, end: scan.end });
      i = scan.end;
      continue;
    }
    if (junkStart < 0) junkStart = i;
    // A string in junk is skipped whole, so a `{` inside it does not start an object.
    i = c === Ch.Quote ? skipString(source, i) : i + 1;
  }
  flushJunk(n);
  return segments;
}
