// A streaming reader that cuts a byte stream into top-level JSON object texts without relying on newlines.
// QEMU ends each message with CRLF, but `-qmp-pretty` spreads one object over many lines, and a socket may
// split a message anywhere (even inside a UTF-8 sequence) or deliver several in one chunk. The reader only
// tracks brace/bracket depth and string/escape state on bytes; every byte that matters here is ASCII, so a
// multibyte UTF-8 sequence can never be mistaken for one, and text is decoded only once an object is whole.
//
// Two things are special: for the guest agent only (option `guestAgent`), a 0xFF byte, which can never occur
// in UTF-8 text, is the resynchronisation sentinel (`guest-sync-delimited`): everything before the first one
// is skipped whatever it is (the tail of a reply an earlier client left unread), and wherever a later one
// comes it drops any partial object and reading starts afresh. On QMP proper 0xFF is just a byte (invalid
// UTF-8 inside a string, decoded as U+FFFD like any other invalid sequence), so the reader never loses its
// place in a message that holds one; and nesting deeper than maxDepth is refused (QEMU never emits more than its
// MAX_NESTING of 1024, and a deeper value would overflow the stack of whatever recursive code meets it next).
import { DeepMessageError, MalformedMessageError, OversizedMessageError } from './errors';

export const DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** QEMU's json-streamer.c MAX_NESTING; also the default depth limit for what we accept. */
export const DEFAULT_MAX_MESSAGE_DEPTH = 1024;

export interface JsonObjectReaderOptions {
  /** A message larger than this throws OversizedMessageError (the session must end). Default 16 MiB. */
  maxMessageBytes?: number;
  /** A message nested deeper than this throws DeepMessageError. Default 1024. */
  maxDepth?: number | undefined;
  /**
   * The guest agent's framing: bytes are skipped up to the first 0xFF sentinel (the answer to the
   * `guest-sync-delimited` every session starts with), and each later 0xFF drops a partial object.
   */
  guestAgent?: boolean | undefined;
}

const LBRACE = 0x7b;
const RBRACE = 0x7d;
const LBRACKET = 0x5b;
const RBRACKET = 0x5d;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SENTINEL = 0xff;
const EMPTY = Buffer.alloc(0);

export class JsonObjectReader {
  readonly maxMessageBytes: number;
  readonly maxDepth: number;
  /**
   * The bytes of the object being read, when it spans more than one push, in one growable buffer (capacity
   * doubles), so that a message drip-fed one byte per read costs linear time and no per-chunk objects.
   */
  private acc: Buffer = EMPTY;
  private partBytes = 0;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** 0xFF is the guest agent's sentinel (see the header). */
  readonly guestAgent: boolean;
  /** Skipping everything until the first sentinel (guest agent only). */
  private awaitingSentinel: boolean;
  private skippedBytes = 0;

  constructor(options: JsonObjectReaderOptions = {}) {
    this.maxMessageBytes = options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_MESSAGE_DEPTH;
    this.guestAgent = options.guestAgent === true;
    this.awaitingSentinel = this.guestAgent;
  }

  /** True when no object is partly read, i.e. the next byte starts a fresh message. */
  get idle(): boolean {
    return this.depth === 0 && this.partBytes === 0 && !this.awaitingSentinel;
  }

  /** Bytes skipped while waiting for the guest agent's first sentinel (none once it came). */
  get skippedBeforeSentinel(): number {
    return this.awaitingSentinel ? this.skippedBytes : 0;
  }

  /** Bytes held for an object that is not complete yet. */
  get pendingBytes(): number {
    return this.partBytes;
  }

  /** Forgets any partial object (used when a session ends). */
  reset(): void {
    this.acc = EMPTY;
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
    if (!this.guestAgent) return this.scan(chunk);
    let ff = chunk.indexOf(SENTINEL);
    let from = 0;
    if (this.awaitingSentinel) {
      if (ff < 0) {
        this.skippedBytes += chunk.length;
        return [];
      }
      this.awaitingSentinel = false;
      this.skippedBytes = 0;
      from = ff + 1;
      ff = chunk.indexOf(SENTINEL, from);
    }
    if (ff < 0) return this.scan(from > 0 ? chunk.subarray(from) : chunk);
    // Resynchronisation: each 0xFF (anywhere, even inside a string) drops whatever was partly read.
    const out: string[] = [];
    while (ff >= 0) {
      for (const t of this.scan(chunk.subarray(from, ff))) out.push(t);
      this.reset();
      from = ff + 1;
      ff = chunk.indexOf(SENTINEL, from);
    }
    for (const t of this.scan(chunk.subarray(from))) out.push(t);
    return out;
  }

  private scan(chunk: Buffer): string[] {
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
    while (i < n) {
      if (depth === 0) {
        // Between objects: skip whitespace; anything else must open an object.
        const c = chunk[i]!;
        if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) { i++; continue; }
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
        if (escaped) { escaped = false; i++; continue; }
        // Jump to the next quote or backslash with native searches instead of looking at every byte.
        const q = chunk.indexOf(QUOTE, i);
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
            const total = this.partBytes + end;
            if (total > this.maxMessageBytes) {
              this.reset();
              throw new OversizedMessageError(this.maxMessageBytes, total);
            }
            this.append(chunk, 0, end);
            out.push(this.acc.toString('utf8', 0, total));
            this.release();
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
      const from = this.partBytes === 0 ? start : 0;
      if (this.partBytes + (n - from) > this.maxMessageBytes) {
        const size = this.partBytes + (n - from);
        this.reset();
        throw new OversizedMessageError(this.maxMessageBytes, size);
      }
      this.append(chunk, from, n);
    }
    return out;
  }

  /** Copies chunk[from, to) after the held bytes, growing the buffer geometrically. */
  private append(chunk: Buffer, from: number, to: number): void {
    const need = this.partBytes + (to - from);
    if (need > this.acc.length) {
      const grown = Buffer.allocUnsafe(Math.max(need, Math.min(this.acc.length * 2, this.maxMessageBytes), 256));
      this.acc.copy(grown, 0, 0, this.partBytes);
      this.acc = grown;
    }
    chunk.copy(this.acc, this.partBytes, from, to);
    this.partBytes = need;
  }

  /** Forgets the held bytes; a large buffer is let go so one big message does not pin its memory. */
  private release(): void {
    this.partBytes = 0;
    if (this.acc.length > 64 * 1024) this.acc = EMPTY;
  }
}

export interface MessageDecoderOptions {
  maxMessageBytes?: number;
  maxDepth?: number | undefined;
  /** The guest agent's framing (JsonObjectReaderOptions.guestAgent). */
  guestAgent?: boolean | undefined;
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
    // For the guest agent the fast path is skipped for a chunk holding a 0xFF sentinel, which only the
    // reader understands (and until the first sentinel came, the reader is not idle).
    if (this.reader.idle && (!this.reader.guestAgent || chunk.indexOf(SENTINEL) < 0)) {
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
