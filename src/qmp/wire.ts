// The wire types of QMP messages, spelled as on the wire, following QEMU's docs/interop/qmp-spec.rst
// ("Server Greeting", "Issuing Commands", "Commands Responses", "Asynchronous events"), plus the helpers that
// read and compare the raw JSON text of an `id` member.

/** `{"QMP": {"version": …, "capabilities": […]}}`, the first message of every session (qmp-spec 2.2). */
export interface QmpGreeting {
  QMP: {
    version: {
      qemu: { major: number; minor: number; micro: number };
      package: string;
    };
    capabilities: string[];
  };
}

/** A command as written to the socket (qmp-spec 2.3); exactly one of `execute` and `exec-oob`. */
export interface QmpCommand {
  execute?: string;
  'exec-oob'?: string;
  arguments?: Record<string, unknown>;
  id?: unknown;
}

/** A success response (qmp-spec 2.4.1). `id` is present when the command had one. */
export interface QmpSuccess {
  return: unknown;
  id?: unknown;
}

/** An error response (qmp-spec 2.4.2). QEMU answers input it cannot parse with an error that has no `id`. */
export interface QmpErrorResponse {
  error: { class: string; desc: string };
  id?: unknown;
}

/** An asynchronous event (qmp-spec 2.5). `data` is absent when the event has none. */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

export type QmpServerMessage = QmpGreeting | QmpSuccess | QmpErrorResponse | QmpEvent;

export function isGreeting(msg: unknown): msg is QmpGreeting {
  if (!isObject(msg) || !isObject(msg['QMP'])) return false;
  const qmp = msg['QMP'];
  const version = qmp['version'];
  if (!isObject(version) || !isObject(version['qemu'])) return false;
  const q = version['qemu'];
  return typeof q['major'] === 'number' && typeof q['minor'] === 'number' && typeof q['micro'] === 'number' &&
    Array.isArray(qmp['capabilities']) && qmp['capabilities'].every((c) => typeof c === 'string');
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The reserved prefix of the client's own ids (`"#1"`, `"#2"`, …); a caller's string id may not start with
 * it. It is one character on purpose: QEMU reads its input one byte per recvmsg(), so every byte of a
 * command costs several microseconds of round trip.
 */
export const OWN_ID_PREFIX = '#';

/**
 * Printable ASCII without `"` and `\\`: JSON.stringify would only add the quotes (ids, command names, wire text on
 * a hot path). A loop, not a regular expression (no match state per call).
 */
export function plainAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/**
 * The canonical form of a JSON value given as text, used to match a reply's `id` to its command.
 * QEMU re-serialises ids: `1e3` comes back `1000`, `"\u00e9"` comes back `"\u00E9"`, integers beyond 2^64
 * come back as floats (`1.8446744073709552e+19`), object members may come back in another order. So both
 * sides are reduced to one spelling: strings as JSON.stringify writes them, integers (no fraction or
 * exponent) in the int64/uint64 range as exact decimal digits, other numbers as the shortest form of the
 * double they denote, objects with sorted members, no whitespace.
 * Throws a SyntaxError when the text is not exactly one JSON value.
 */
export function canonicalJson(text: string): string {
  const p = new CanonicalParser(text);
  p.ws();
  const out = p.value(0);
  p.ws();
  if (p.pos !== text.length) p.fail('unexpected text after the value');
  return out;
}

const INT64_MIN = -(2n ** 63n);
const UINT64_MAX = 2n ** 64n - 1n;

class CanonicalParser {
  pos = 0;
  constructor(private readonly text: string) {}

  fail(why: string): never {
    throw new SyntaxError(`Invalid JSON at offset ${this.pos}: ${why}`);
  }

  ws(): void {
    const t = this.text;
    while (this.pos < t.length) {
      const c = t.charCodeAt(this.pos);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) this.pos++;
      else break;
    }
  }

  value(depth: number): string {
    if (depth > 1024) this.fail('nested too deeply');
    const t = this.text;
    const c = t[this.pos];
    if (c === '"') return JSON.stringify(this.stringValue());
    if (c === '{') {
      this.pos++;
      const members: Array<[string, string]> = [];
      this.ws();
      if (t[this.pos] === '}') { this.pos++; return '{}'; }
      for (;;) {
        this.ws();
        if (t[this.pos] !== '"') this.fail('expected a member name');
        const key = this.stringValue();
        this.ws();
        if (t[this.pos] !== ':') this.fail('expected ":"');
        this.pos++;
        this.ws();
        members.push([key, this.value(depth + 1)]);
        this.ws();
        if (t[this.pos] === ',') { this.pos++; continue; }
        if (t[this.pos] === '}') { this.pos++; break; }
        this.fail('expected "," or "}"');
      }
      members.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
      return '{' + members.map(([k, v]) => JSON.stringify(k) + ':' + v).join(',') + '}';
    }
    if (c === '[') {
      this.pos++;
      const items: string[] = [];
      this.ws();
      if (t[this.pos] === ']') { this.pos++; return '[]'; }
      for (;;) {
        this.ws();
        items.push(this.value(depth + 1));
        this.ws();
        if (t[this.pos] === ',') { this.pos++; continue; }
        if (t[this.pos] === ']') { this.pos++; break; }
        this.fail('expected "," or "]"');
      }
      return '[' + items.join(',') + ']';
    }
    for (const word of ['true', 'false', 'null']) {
      if (t.startsWith(word, this.pos)) { this.pos += word.length; return word; }
    }
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(t.slice(this.pos, this.pos + 400));
    if (!m) this.fail('expected a value');
    this.pos += m[0].length;
    if (m[1] === undefined && m[2] === undefined) {
      const n = BigInt(m[0]);
      if (n >= INT64_MIN && n <= UINT64_MAX) return n.toString();
    }
    const d = Number(m[0]);
    if (!Number.isFinite(d)) this.fail('number out of range');
    return Object.is(d, -0) ? '0' : String(d);
  }

  stringValue(): string {
    const t = this.text;
    const start = this.pos;
    let i = start + 1;
    for (;;) {
      const q = t.indexOf('"', i);
      if (q < 0) this.fail('unterminated string');
      let bs = 0;
      for (let j = q - 1; j > start && t.charCodeAt(j) === 0x5c; j--) bs++;
      i = q + 1;
      if (bs % 2 === 0) break;
    }
    this.pos = i;
    // JSON.parse validates the escapes and rejects raw control characters, as QEMU does.
    try {
      return JSON.parse(t.slice(start, i)) as string;
    } catch {
      return this.fail('invalid string');
    }
  }
}

/**
 * The raw text of a top-level member of a JSON object text, or undefined when absent. Used to read a reply's
 * `id` exactly as written when JSON.parse would lose it (integers beyond 2^53). The text must be valid JSON.
 */
export function topLevelMemberText(objectText: string, name: string): string | undefined {
  const t = objectText;
  let i = t.indexOf('{');
  if (i < 0) return undefined;
  i++;
  const n = t.length;
  const skipWs = (): void => {
    while (i < n) {
      const c = t.charCodeAt(i);
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) i++;
      else break;
    }
  };
  const skipString = (): void => {
    // i is at the opening quote.
    i++;
    while (i < n) {
      const c = t.charCodeAt(i);
      if (c === 0x5c) i += 2;
      else if (c === 0x22) { i++; return; }
      else i++;
    }
  };
  for (;;) {
    skipWs();
    if (i >= n || t[i] !== '"') return undefined;
    const keyStart = i;
    skipString();
    const rawKey = t.slice(keyStart, i);
    const key = rawKey.includes('\\') ? (JSON.parse(rawKey) as string) : rawKey.slice(1, -1);
    skipWs();
    i++; // ':'
    skipWs();
    const valueStart = i;
    let depth = 0;
    while (i < n) {
      const c = t.charCodeAt(i);
      if (c === 0x22) { skipString(); if (depth === 0) break; continue; }
      if (c === 0x7b || c === 0x5b) depth++;
      else if (c === 0x7d || c === 0x5d) {
        if (depth === 0) break;
        depth--;
        if (depth === 0) { i++; break; }
      } else if (depth === 0 && (c === 0x2c || c === 0x20 || c === 0x0d || c === 0x0a || c === 0x09)) break;
      i++;
    }
    if (key === name) return t.slice(valueStart, i).trim();
    skipWs();
    if (t[i] === ',') { i++; continue; }
    return undefined;
  }
}

/**
 * The nesting of a JSON text's objects and arrays (strings skipped; linear, no parse): `open` is the depth
 * left open at its end (> 0 while an object or array is unclosed), `max` the deepest point.
 */
export function jsonNesting(text: string): { open: number; max: number } {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) { if (++depth > max) max = depth; }
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return { open: depth, max };
}
