// A raw JSON-RPC 2.0 client for the language server tests: it spawns the BUILT server (dist/cli.js lsp
// --stdio), frames messages with Content-Length headers itself (no vscode-jsonrpc on this side, so the tests
// check the wire, not a library's view of it), and waits for replies and notifications with a bound.
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';

export interface RpcMessage {
  jsonrpc: '2.0';
  id?: number | string | null;
  method?: string;
  params?: unknown;
  result?: unknown;
  error?: { code: number; message: string; data?: unknown };
}

/** Splits a byte stream into framed messages; tolerant of any chunking. */
export class Framer {
  private buf: Buffer = Buffer.alloc(0);
  constructor(private readonly onMessage: (m: RpcMessage, body: string) => void) {}

  push(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      const head = this.buf.indexOf('\r\n\r\n');
      if (head < 0) return;
      const m = /Content-Length: *(\d+)/i.exec(this.buf.subarray(0, head).toString('ascii'));
      if (m === null) throw new Error(`no Content-Length in ${this.buf.subarray(0, head).toString()}`);
      const len = Number(m[1]);
      if (this.buf.length < head + 4 + len) return;
      const body = this.buf.subarray(head + 4, head + 4 + len).toString('utf8');
      this.buf = this.buf.subarray(head + 4 + len);
      this.onMessage(JSON.parse(body) as RpcMessage, body);
    }
  }
}

export function frame(body: string): Buffer {
  const bytes = Buffer.from(body, 'utf8');
  return Buffer.concat([Buffer.from(`Content-Length: ${bytes.length}\r\n\r\n`, 'ascii'), bytes]);
}

export class LspTestClient {
  readonly proc: ChildProcessWithoutNullStreams;
  private nextId = 1;
  private readonly pending = new Map<number | string, (m: RpcMessage) => void>();
  readonly notifications: RpcMessage[] = [];
  private readonly waiters: { match: (m: RpcMessage) => boolean; resolve: (m: RpcMessage) => void }[] = [];
  /** Error replies with id null (parse errors) and every other reply nobody waits for. */
  readonly stray: RpcMessage[] = [];
  stderr = '';
  /** The exact body of each reply, by id (JSON.parse rounds integers beyond 2^53; the wire must not). */
  readonly replyBodies = new Map<number | string, string>();
  /** Server-to-client requests are answered with this (workspace/applyEdit, configuration, refresh...). */
  readonly serverRequests: RpcMessage[] = [];

  constructor(cli: string, args: string[] = ['lsp', '--stdio'], env: NodeJS.ProcessEnv = process.env) {
    this.proc = spawn(process.execPath, [cli, ...args], { stdio: ['pipe', 'pipe', 'pipe'], env });
    const framer = new Framer((m, body) => {
      if (m.method === undefined && (typeof m.id === 'number' || typeof m.id === 'string')) this.replyBodies.set(m.id, body);
      this.dispatch(m);
    });
    this.proc.stdout.on('data', (c: Buffer) => framer.push(c));
    this.proc.stderr.on('data', (c: Buffer) => { this.stderr += c.toString(); });
  }

  private dispatch(m: RpcMessage): void {
    if (m.method !== undefined && m.id !== undefined && m.id !== null) {
      this.serverRequests.push(m);
      this.sendRaw(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: m.method === 'workspace/applyEdit' ? { applied: true } : null }));
      this.notify(m);
      return;
    }
    if (m.method !== undefined) {
      this.notifications.push(m);
      this.notify(m);
      return;
    }
    const cb = m.id !== undefined && m.id !== null ? this.pending.get(m.id) : undefined;
    if (cb !== undefined) {
      this.pending.delete(m.id as number);
      cb(m);
    } else {
      this.stray.push(m);
      this.notify(m);
    }
  }

  private notify(m: RpcMessage): void {
    for (let i = 0; i < this.waiters.length; i++) {
      const w = this.waiters[i];
      if (w !== undefined && w.match(m)) {
        this.waiters.splice(i, 1);
        w.resolve(m);
        return;
      }
    }
  }

  sendRaw(body: string): void {
    this.proc.stdin.write(frame(body));
  }

  request<T = unknown>(method: string, params?: unknown, timeoutMs = 20_000): Promise<RpcMessage & { result?: T }> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`${method}: no reply within ${timeoutMs} ms; stderr: ${this.stderr}`));
      }, timeoutMs);
      this.pending.set(id, (m) => { clearTimeout(timer); resolve(m as RpcMessage & { result?: T }); });
      this.sendRaw(JSON.stringify({ jsonrpc: '2.0', id, method, ...(params !== undefined ? { params } : {}) }));
    });
  }

  notifyServer(method: string, params?: unknown): void {
    this.sendRaw(JSON.stringify({ jsonrpc: '2.0', method, ...(params !== undefined ? { params } : {}) }));
  }

  /** The first message (already received or coming) that matches, within a bound. */
  waitFor(match: (m: RpcMessage) => boolean, timeoutMs = 20_000, what = 'message'): Promise<RpcMessage> {
    const seen = [...this.notifications, ...this.stray, ...this.serverRequests].find(match);
    if (seen !== undefined) return Promise.resolve(seen);
    return this.waitForNext(match, timeoutMs, what);
  }

  /** The next message that matches, ignoring those already received. */
  waitForNext(match: (m: RpcMessage) => boolean, timeoutMs = 20_000, what = 'message'): Promise<RpcMessage> {
    return new Promise((resolve, reject) => {
      const w = { match, resolve: (m: RpcMessage) => { clearTimeout(timer); resolve(m); } };
      const timer = setTimeout(() => {
        const i = this.waiters.indexOf(w);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(new Error(`no ${what} within ${timeoutMs} ms; stderr: ${this.stderr}`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  /** Resolves with the exit code, killing the process if it does not exit within the bound. */
  exited(timeoutMs = 10_000): Promise<number | null> {
    if (this.proc.exitCode !== null) return Promise.resolve(this.proc.exitCode);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.proc.kill('SIGKILL'); resolve(null); }, timeoutMs);
      this.proc.once('exit', (code) => { clearTimeout(timer); resolve(code); });
    });
  }

  async initialize(rootUri: string | null, initializationOptions?: unknown, capabilities: object = defaultCapabilities()): Promise<RpcMessage> {
    const r = await this.request('initialize', { processId: process.pid, rootUri, capabilities, ...(initializationOptions !== undefined ? { initializationOptions } : {}) });
    this.notifyServer('initialized', {});
    return r;
  }

  async shutdown(): Promise<number | null> {
    await this.request('shutdown');
    this.notifyServer('exit');
    return this.exited();
  }
}

export function defaultCapabilities(): object {
  return {
    textDocument: {
      completion: { completionItem: { snippetSupport: true, resolveSupport: { properties: ['documentation'] } } },
      hover: { contentFormat: ['markdown', 'plaintext'] },
      publishDiagnostics: { versionSupport: true },
      codeAction: { codeActionLiteralSupport: { codeActionKind: { valueSet: ['quickfix', 'refactor.rewrite'] } } },
      synchronization: { didSave: false },
    },
    workspace: { applyEdit: true },
  };
}

/** Removes `|` cursor markers (one per position) from text; returns the text and the marker positions. */
export function cursors(marked: string): { text: string; positions: { line: number; character: number }[] } {
  const positions: { line: number; character: number }[] = [];
  let text = '';
  let line = 0;
  let character = 0;
  for (const ch of marked) {
    if (ch === '¦') {
      positions.push({ line, character });
      continue;
    }
    text += ch;
    if (ch === '\n') {
      line++;
      character = 0;
    } else {
      character += ch.length;
    }
  }
  return { text, positions };
}

/** Applies LSP text edits (non-overlapping) to a text. */
export function applyLspEdits(text: string, edits: { range: { start: { line: number; character: number }; end: { line: number; character: number } }; newText: string }[]): string {
  const starts = [0];
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) === 10) starts.push(i + 1);
  const off = (p: { line: number; character: number }): number => (starts[p.line] ?? text.length) + p.character;
  const sorted = [...edits].sort((a, b) => off(b.range.start) - off(a.range.start));
  let out = text;
  for (const e of sorted) out = out.slice(0, off(e.range.start)) + e.newText + out.slice(off(e.range.end));
  return out;
}
