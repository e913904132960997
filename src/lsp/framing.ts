// The LSP base protocol's framing, read strictly: header lines `Name: value` ending in CRLF, an empty line, then
// exactly Content-Length bytes of body. vscode-jsonrpc's ReadableStreamMessageReader reports a bad header as an
// error and goes on reading the following bytes as if they were a header (and waits forever for a CRLF CRLF
// that an LF-only client never sends), so one bad frame left the server deaf but alive. The base protocol has
// no way to find the next message once a header is wrong (a body may contain anything), so a framing error is
// fatal here: the reader calls `onFatal` with a message that names the fault and never quotes the input.
// A body that is framed right but is not JSON is not a framing error: the guard answers it and reading goes on.
// Linear in the input: a header is looked for in at most MAX_HEADER_BYTES, a body is joined once.
/** More header than this without the empty line that ends it is a framing error. */
export const MAX_HEADER_BYTES = 8192;
/** A larger Content-Length is refused before any of it is buffered. */
export const MAX_BODY_BYTES = 256 * 1024 * 1024;

export interface FrameHandlers {
  message(body: Uint8Array): void;
  /** The input cannot be read further; no more calls follow. */
  fatal(reason: string): void;
}

const HEADER_LINE = /^([!#-'*+.0-9A-Z^-z|~-]+):[ \t]*(.*?)[ \t]*$/;

export class FrameReader {
  private chunks: Buffer[] = [];
  private total = 0;
  /** The body length being waited for, or -1 while reading a header. */
  private need = -1;
  private dead = false;

  constructor(private readonly on: FrameHandlers) {}

  /** Bytes held that are not a whole message yet (a partial header or body). */
  get pending(): number {
    return this.total;
  }

  get failed(): boolean {
    return this.dead;
  }

  push(chunk: Buffer): void {
    if (this.dead || chunk.length === 0) return;
    this.chunks.push(chunk);
    this.total += chunk.length;
    while (!this.dead) {
      if (this.need < 0) {
        if (!this.readHeader()) return;
      } else {
        if (this.total < this.need) return;
        const all = this.join();
        const body = all.subarray(0, this.need);
        const rest = all.subarray(this.need);
        this.chunks = rest.length > 0 ? [rest] : [];
        this.total = rest.length;
        this.need = -1;
        this.on.message(body);
      }
    }
  }

  private join(): Buffer {
    if (this.chunks.length !== 1) this.chunks = [Buffer.concat(this.chunks, this.total)];
    return this.chunks[0] as Buffer;
  }

  private fail(reason: string): false {
    this.dead = true;
    this.chunks = [];
    this.total = 0;
    this.on.fatal(reason);
    return false;
  }

  /** Reads one header if it is complete; false when more bytes are needed (or the input is dead). */
  private readHeader(): boolean {
    const buf = this.join();
    const end = buf.subarray(0, MAX_HEADER_BYTES + 4).indexOf('\r\n\r\n');
    if (end < 0) {
      const seen = buf.subarray(0, MAX_HEADER_BYTES + 4);
      const lf = seen.indexOf('\n\n');
      if (lf >= 0 && (lf === 0 || seen[lf - 1] !== 13)) return this.fail('a header ends with LF LF; LSP header lines end with CR LF');
      if (buf.length > MAX_HEADER_BYTES) return this.fail(`no end of header (an empty line) within ${MAX_HEADER_BYTES} bytes`);
      return false;
    }
    const text = buf.subarray(0, end).toString('latin1');
    let length: number | undefined;
    for (const line of text.split('\r\n')) {
      const m = HEADER_LINE.exec(line);
      if (m === null) {
        return this.fail(line.includes(':') ? 'a header line with a malformed name' : 'a header line without a colon (expected "Name: value")');
      }
      const name = (m[1] as string).toLowerCase();
      const value = m[2] as string;
      if (name === 'content-length') {
        if (!/^\d{1,10}$/.test(value)) return this.fail('Content-Length is not a non-negative decimal number');
        const n = Number(value);
        if (length !== undefined && length !== n) return this.fail('two different Content-Length headers');
        if (n > MAX_BODY_BYTES) return this.fail(`Content-Length ${n} is over the limit of ${MAX_BODY_BYTES} bytes`);
        length = n;
      } else if (name === 'content-type') {
        const charset = /;\s*charset\s*=\s*"?([^";\s]+)/i.exec(value)?.[1]?.toLowerCase();
        if (charset !== undefined && charset !== 'utf-8' && charset !== 'utf8') return this.fail('Content-Type names a charset other than utf-8');
      }
    }
    if (length === undefined) return this.fail('a header without Content-Length');
    const rest = buf.subarray(end + 4);
    this.chunks = rest.length > 0 ? [rest] : [];
    this.total = rest.length;
    this.need = length;
    return true;
  }
}
