// A streaming reader that cuts a byte stream into top-level JSON object texts without relying on newlines.
// QEMU ends each message with CRLF, but `-qmp-pretty` spreads one object over many lines, and a socket may
// split a message anywhere (even inside a UTF-8 sequence) or deliver several in one chunk. The reader only
// tracks brace/bracket depth and string/escape state on bytes; every byte that matters here is ASCII, so a
// multibyte UTF-8 sequence can never be mistaken for one, and text is decoded only once an object is whole.
//
// Two bytes are special between and inside objects (outside strings): 0xFF, which can never occur in UTF-8
// text, is the guest agent's resynchronisation sentinel (`guest-sync-delimited`): it drops any partial
// object and starts afresh; and nesting deeper than maxDepth is refused (QEMU never emits more than its
// MAX_NESTING of 1024, and a deeper value would overflow the stack of whatever recursive code meets it next).
import { DeepMessageError, MalformedMessageError, OversizedMessageError } from './errors';

export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** QEMU's json-streamer.c MAX_NESTING; also the default depth limit for what we accept. */
export const DEFAULT_MAX_MESSAGE_DEPTH = 1024;

export interface JsonObjectReaderOptions {
  /** A message larger than this throws OversizedMessageError (the session must end). Default 16 MiB. */
  maxMessageBytes?: number;
  /** A message nested deeper than this throws DeepMessageError. Default 1024. */
  maxDepth?: number;
}

const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SENTINEL = 0xff;

export class JsonObjectReader {
  readonly maxMessageBytes: number;
  readonly maxDepth: number;
  /** Chunks (or parts of chunks) of the object being read, when it spans more than one push. */
  private parts: Buffer[] = [];
  private partBytes = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;

  constructor(options: JsonObjectReaderOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_MESSAGE_DEPTH;
  }

  /** True when no object is partly read, i.e. the next byte starts a fresh message. */
  get idle(): boolean {
    return this.depth === 0 && this.partBytes === 0;
  }

  /** Bytes held for an object that is not complete yet. */
  get pendingBytes(): number {
    return this.partBytes;
  }

  /** Forgets any partial object (used when a session ends). */
  reset(): void {
    this.parts = [];
    this.partBytes = 0;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
  }

  /**
   * Feeds bytes and returns the texts of the objects they complete, in order.
   * Throws MalformedMessageError for bytes outside an object that are not whitespace, and
   * OversizedMessageError when one object grows beyond maxMessageBytes; the reader is unusable afterwards.
   */
  push(chunk: Buffer): string[] {
    const out: string[] = [];
    const n = chunk.length;
    let i = 0;
    // Where the current object starts inside this chunk (0 when it started in an earlier chunk).
    let start = 0;
    let depth = this.depth;
    let inString = this.inString;
    let escaped = this.escaped;
    // Position of the next backslash at or after i (-1: none left in this chunk), found lazily so that a
    // chunk with many strings and few escapes is searched once, not once per string.
    let nextBackslash = -2;
    // The next 0xFF (the guest agent's sentinel) at or after i, found lazily likewise: it ends a partial
    // object even inside a string, where the quote/backslash search would otherwise jump over it.
    let nextSentinel = -2;
    while (i < n) {
      if (depth === 0) {
        // Between objects: skip whitespace; anything else must open an object.
        const c = chunk[i]!;
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09 || c === SENTINEL) { i++; continue; }
        if (c !== LBRACE) {
          this.reset();
          throw new MalformedMessageError(
            `Expected "{" at the start of a message, got ${JSON.stringify(String.fromCharCode(c))}`,
            { received: chunk.toString('utf8', i, Math.min(n, i + 200)) });
        }
        start = i;
        depth = 1;
        i++;
        continue;
      }
      if (inString) {
        if (nextSentinel !== -1 && nextSentinel < i) nextSentinel = chunk.indexOf(SENTINEL, i);
        const q = chunk.indexOf(QUOTE, i);
        if (nextSentinel >= 0 && (q < 0 || nextSentinel < q)) {
          // A torn object before the sentinel: dropped, and reading starts afresh after it. (A quote before
          // the sentinel brings the loop back here, so no string hides a later sentinel.)
          this.parts = [];
          this.partBytes = 0;
          depth = 0;
          inString = false;
          escaped = false;
          i = nextSentinel + 1;
          continue;
        }
        if (escaped) { escaped = false; i++; continue; }
        // Jump to the next quote or backslash with native searches instead of looking at every byte.
        if (nextBackslash !== -1 && nextBackslash < i) nextBackslash = chunk.indexOf(BACKSLASH, i);
        const b = nextBackslash;
        if (b >= 0 && (q < 0 || b < q)) {
          i = b + 1;
          if (i < n) i++; else escaped = true;
          continue;
        }
        if (q < 0) { i = n; break; }
        inString = false;
        i = q + 1;
        continue;
      }
      const c = chunk[i]!;
      if (c === QUOTE) inString = true;
      else if (c === LBRACE || c === LBRACKET) {
        if (++depth > this.maxDepth) {
          this.reset();
          throw new DeepMessageError(this.maxDepth);
        }
      } else if (c === SENTINEL) {
        // Resynchronisation: whatever was partly read is dropped.
        this.parts = [];
        this.partBytes = 0;
        depth = 0;
        i++;
        continue;
      } else if (c === RBRACE || c === RBRACKET) {
        depth--;
        if (depth === 0) {
          const end = i + 1;
          if (this.partBytes === 0) {
            if (end - start > this.maxMessageBytes) {
              this.reset();
              throw new OversizedMessageError(this.maxMessageBytes, end - start);
            }
            out.push(chunk.toString('utf8', start, end));
          } else {
            this.parts.push(chunk.subarray(0, end));
            const total = this.partBytes + end;
            if (total > this.maxMessageBytes) {
              this.reset();
              throw new OversizedMessageError(this.maxMessageBytes, total);
            }
            out.push(Buffer.concat(this.parts, total).toString('utf8'));
            this.parts = [];
            this.partBytes = 0;
          }
        }
      }
      i++;
    }
    this.depth = depth;
    this.inString = inString;
    this.escaped = escaped;
    if (depth > 0) {
      // Keep the unfinished object; copy so the caller's buffer can be reused.
      const part = this.partBytes === 0 ? chunk.subarray(start) : chunk;
      this.parts.push(Buffer.from(part));
      this.partBytes += part.length;
      if (this.partBytes > this.maxMessageBytes) {
        const size = this.partBytes;
        this.reset();
        throw new OversizedMessageError(this.maxMessageBytes, size);
      }
    }
    return out;
  }
}

export interface MessageDecoderOptions {
  maxMessageBytes?: number;
  maxDepth?: number;
}

/**
 * Bytes in, whole messages (text and parsed value) out: the framing of a QMP byte stream, with the fast
 * path for QEMU's compact output. Throws a ProtocolError (the stream cannot be trusted any more) for bytes
 * that are not JSON objects, a message over maxMessageBytes, or one nested deeper than maxDepth.
 */
export class MessageDecoder {
  private readonly reader: JsonObjectReader;
  /** A line longer than this may be nested deeper than maxDepth, so it goes through the depth-tracking reader. */
  private readonly fastLineLimit: number;

  constructor(options: MessageDecoderOptions = {}) {
    this.reader = new JsonObjectReader(options);
    this.fastLineLimit = Math.min(this.reader.maxMessageBytes, 2 * this.reader.maxDepth);
  }

  get idle(): boolean {
    return this.reader.idle;
  }

  reset(): void {
    this.reader.reset();
  }

  push(chunk: Buffer, emit: (text: string, value: unknown) => void): void {
    // Fast path: QEMU's compact output is one `{…}\r\n` per message, often several per read when commands
    // are pipelined. While no object is partly read, each line that starts with `{` and that JSON.parse
    // accepts is exactly one message, so the byte scan is only needed from the first line that is not
    // (a pretty-printed object, a message cut by the read, or a line long enough to hide deep nesting);
    // the rest goes to the streaming reader.
    let from = 0;
    if (this.reader.idle) {
      const n = chunk.length;
      while (from < n && chunk[from] === LBRACE) {
        const nl = chunk.indexOf(0x0a, from);
        if (nl < 0 || nl - from > this.fastLineLimit) break;
        const end = chunk[nl - 1] === 0x0d ? nl - 1 : nl;
        if (chunk[end - 1] !== RBRACE) break;
        const text = chunk.toString('utf8', from, end);
        let value: unknown;
        try { value = JSON.parse(text); } catch { break; }
        emit(text, value);
        from = nl + 1;
      }
      if (from >= n) return;
    }
    const texts = this.reader.push(from > 0 ? chunk.subarray(from) : chunk);
    for (const text of texts) emit(text, parseMessage(text));
  }
}

/** JSON.parse with a ProtocolError for text that is not JSON (the reader already bounded size and depth). */
export function parseMessage(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    if (err instanceof RangeError) throw new DeepMessageError(DEFAULT_MAX_MESSAGE_DEPTH, { received: text.slice(0, 200) });
    throw new MalformedMessageError(`The server sent invalid JSON: ${(err as Error).message}`, { received: text.slice(0, 2000) });
  }
}
