// Fault tier, the language server's input: malformed frames, closed pipes, and requests outside the LSP
// lifecycle, against the production bundle over stdio. Each case asserts how the process ends (exit code,
// a message on stderr that never quotes the input) within a bound, or the spec's error reply.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import fc from 'fast-check';
import { buildCli } from '../support/cliBundle';
import { frame, LspTestClient } from '../support/lspClient';

/** Every way a process here must end: well inside this. */
const END_BOUND_MS = 8000;

describe('qmp-notebook lsp: hostile input on stdin', () => {
  let cli: string;
  let dir: string;
  const clients: LspTestClient[] = [];

  before(async () => {
    cli = await buildCli();
    dir = mkdtempSync(path.join(os.tmpdir(), 'qmp-lsp-fault-'));
  });
  after(() => {
    for (const c of clients) c.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  const start = (): LspTestClient => {
    const c = new LspTestClient(cli, ['lsp', '--stdio'], { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'none') });
    clients.push(c);
    return c;
  };
  const started = async (): Promise<LspTestClient> => {
    const c = start();
    await c.initialize(pathToFileURL(dir).href, {});
    return c;
  };

  // The base protocol cannot find the next message after a bad header: the server says why and exits 2.
  const badFrames: Array<[string, string | Buffer, RegExp]> = [
    ['a header without Content-Length', 'Content-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}', /without Content-Length/],
    ['a non-numeric length', 'Content-Length: twelve\r\n\r\n{}', /not a non-negative decimal/],
    ['a negative length', 'Content-Length: -5\r\n\r\n{}', /not a non-negative decimal/],
    ['a header line without a colon', 'Content-Length 2\r\n\r\n{}', /without a colon/],
    ['LF-only separators', 'Content-Length: 2\n\n{}', /LF LF/],
    ['an endless header', Buffer.alloc(20_000, 0x41), /no end of header/],
    ['a length over the limit', 'Content-Length: 9999999999\r\n\r\n', /over the limit/],
    ['a charset other than utf-8', 'Content-Length: 2\r\nContent-Type: application/json; charset=latin1\r\n\r\n{}', /charset/],
  ];
  for (const [name, bytes, why] of badFrames) {
    it(`exits 2 with a message on ${name} (after initialize), not quoting the input`, async () => {
      const c = await started();
      c.proc.stdin.write(bytes);
      const code = await c.exited(END_BOUND_MS);
      assert.equal(code, 2, c.stderr);
      assert.match(c.stderr, /unreadable input from the client/);
      assert.match(c.stderr, why);
      assert.doesNotMatch(c.stderr, /twelve|AAAA|latin1|Content-Length 2/);
    });
  }

  it('a length shorter than its body: a parse error for the cut body, then the rest cannot be framed (exit 2)', async () => {
    const c = await started();
    const parseError = c.waitForNext((m) => m.error?.code === -32700, END_BOUND_MS, 'parse error');
    const body = JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'shutdown' });
    c.proc.stdin.write(`Content-Length: 5\r\n\r\n${body}`);
    await parseError;
    c.proc.stdin.write(frame(JSON.stringify({ jsonrpc: '2.0', id: 8, method: 'shutdown' })));
    assert.equal(await c.exited(END_BOUND_MS), 2, c.stderr);
  });

  it('a length longer than its body: waits for the rest, and ends (exit 1) when the input ends mid-message', async () => {
    const c = await started();
    c.proc.stdin.write('Content-Length: 500\r\n\r\n{"jsonrpc":');
    c.proc.stdin.end();
    assert.equal(await c.exited(END_BOUND_MS), 1);
    assert.match(c.stderr, /in the middle of a message/);
  });

  it('random bytes after initialize: the process always ends once the input ends (exit 1 or 2), never hangs', async () => {
    await fc.assert(fc.asyncProperty(fc.uint8Array({ minLength: 1, maxLength: 400 }), fc.boolean(), async (bytes, withHeader) => {
      const c = await started();
      c.proc.stdin.write(withHeader ? Buffer.concat([Buffer.from(`Content-Length: ${bytes.length >> 1}\r\n\r\n`), bytes]) : bytes);
      c.proc.stdin.end();
      const code = await c.exited(END_BOUND_MS);
      assert.ok(code === 1 || code === 2, `exit ${code}: ${c.stderr}`);
      assert.doesNotMatch(c.stderr, /ConnectionError|at .*\.js:\d+/);
    }), { numRuns: 12 });
  });

  it('closing stdin after initialize ends the server (exit 1, a message on stderr)', async () => {
    const c = await started();
    c.proc.stdin.end();
    assert.equal(await c.exited(END_BOUND_MS), 1);
    assert.match(c.stderr, /closed the input without "shutdown"/);
  });

  it('closing stdin mid-frame (in the header) ends the server', async () => {
    const c = await started();
    c.proc.stdin.write('Content-Len');
    c.proc.stdin.end();
    assert.equal(await c.exited(END_BOUND_MS), 1);
    assert.match(c.stderr, /in the middle of a message/);
  });

  it('closing stdin with diagnostics pending ends cleanly (no ConnectionError, no stack)', async () => {
    const c = await started();
    const cells = Array.from({ length: 3000 }, (_, i) => `\`\`\`qmp\n{"execute": "qurey-status", "id": ${i}}\n\`\`\`\n`).join('\n');
    c.notifyServer('textDocument/didOpen', { textDocument: { uri: pathToFileURL(path.join(dir, 'big.qmp')).href, languageId: 'qmp', version: 1, text: cells } });
    c.notifyServer('textDocument/didChange', { textDocument: { uri: pathToFileURL(path.join(dir, 'big.qmp')).href, version: 2 }, contentChanges: [{ text: cells + '\n' }] });
    c.proc.stdin.end();
    assert.equal(await c.exited(END_BOUND_MS), 1);
    assert.doesNotMatch(c.stderr, /ConnectionError|Error:|\n\s+at /);
  });

  it('closing stdin after shutdown (without exit) ends with 0', async () => {
    const c = await started();
    await c.request('shutdown');
    c.proc.stdin.end();
    assert.equal(await c.exited(END_BOUND_MS), 0);
  });

  it('a request before initialize gets ServerNotInitialized (-32002); notifications then are dropped; initialize still works', async () => {
    const c = start();
    c.notifyServer('textDocument/didOpen', { textDocument: { uri: 'file:///x.qmp.json', languageId: 'qmp', version: 1, text: '{"execute": "x"}' } });
    const h = await c.request('textDocument/hover', { textDocument: { uri: 'file:///x.qmp.json' }, position: { line: 0, character: 3 } }, END_BOUND_MS);
    assert.equal(h.error?.code, -32002);
    assert.equal(h.result, undefined);
    const init = await c.initialize(null, {});
    assert.ok((init.result as { capabilities?: unknown }).capabilities);
    // The didOpen before initialize was dropped: the document is not open.
    const h2 = await c.request('textDocument/hover', { textDocument: { uri: 'file:///x.qmp.json' }, position: { line: 0, character: 3 } }, END_BOUND_MS);
    assert.equal(h2.error, undefined);
    assert.equal(h2.result, null);
    assert.equal(await c.shutdown(), 0);
  });

  it('exit before initialize ends with 1', async () => {
    const c = start();
    c.notifyServer('exit');
    assert.equal(await c.exited(END_BOUND_MS), 1);
  });

  it('a request after shutdown gets InvalidRequest (-32600); exit then ends with 0', async () => {
    const c = await started();
    await c.request('shutdown');
    const h = await c.request('textDocument/hover', { textDocument: { uri: 'file:///x.qmp.json' }, position: { line: 0, character: 0 } }, END_BOUND_MS);
    assert.equal(h.error?.code, -32600);
    const again = await c.request('shutdown', undefined, END_BOUND_MS);
    assert.equal(again.error?.code, -32600);
    c.notifyServer('exit');
    assert.equal(await c.exited(END_BOUND_MS), 0);
  });
});
