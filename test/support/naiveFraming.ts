// A deliberately naive JSON object framer for fake servers, written independently of the production
// reader (src/qmp/framing.ts) so that a framing bug cannot hide on both sides of a test: it works on
// decoded text, one character at a time, and keeps everything it has not consumed in a string.
export class NaiveFramer {
  private buf = '';
  private depth = 0;
  private inString = false;
  private escaped = false;
  private start = -1;
  private scanned = 0;

  /** Appends text and returns each complete top-level `{…}` seen so far. Garbage between objects is skipped. */
  push(text: string): string[] {
    this.buf += text;
    const out: string[] = [];
    let i = this.scanned;
    for (; i < this.buf.length; i++) {
      const ch = this.buf[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (ch === '\\') this.escaped = true;
        else if (ch === '"') this.inString = false;
        continue;
      }
      if (this.depth === 0) {
        if (ch === '{') { this.start = i; this.depth = 1; }
        continue;
      }
      if (ch === '"') this.inString = true;
      else if (ch === '{' || ch === '[') this.depth++;
      else if (ch === '}' || ch === ']') {
        this.depth--;
        if (this.depth === 0) out.push(this.buf.slice(this.start, i + 1));
      }
    }
    if (this.depth === 0) {
      this.buf = '';
      this.scanned = 0;
    } else {
      this.buf = this.buf.slice(this.start);
      this.scanned = this.buf.length;
      this.start = 0;
    }
    return out;
  }
}
