// The language server as editors see it: the BUILT bin (dist/cli.js lsp --stdio) driven by a raw JSON-RPC
// client over stdio. Every wait is bounded; timings are asserted only with generous bounds.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { buildCli, repoRoot } from '../support/cliBundle';
import { applyLspEdits, cursors, frame, LspTestClient, type RpcMessage } from '../support/lspClient';

const schema10 = path.join(repoRoot, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json');

interface Item { label: string; textEdit?: { newText: string; range: unknown }; documentation?: { value: string }; data?: unknown }
interface Diag { message: string; code?: string; range: { start: { line: number; character: number } }; severity: number }

function notebook(cells: string[]): string {
  return ['# A notebook', '', ...cells.flatMap((c) => ['```qmp', c, '```', '', 'Some text.', ''])].join('\n');
}

function diagnosticsFor(uri: string, version?: number) {
  return (m: RpcMessage): boolean => {
    const p = m.params as { uri?: string; version?: number } | undefined;
    return m.method === 'textDocument/publishDiagnostics' && p?.uri === uri && (version === undefined || p.version === version);
  };
}

describe('qmp-notebook lsp over stdio (built bundle)', () => {
  let cli: string;
  let dir: string;
  let client: LspTestClient;

  before(async () => {
    cli = await buildCli();
    dir = mkdtempSync(path.join(os.tmpdir(), 'qmp-lsp-'));
    client = new LspTestClient(cli, ['lsp', '--stdio'], { ...process.env, XDG_CONFIG_HOME: path.join(dir, 'no-config'), HOME: dir });
    const init = await client.initialize(pathToFileURL(dir).href, { schemaFile: schema10 });
    const caps = (init.result as { capabilities: Record<string, unknown> }).capabilities;
    assert.equal((caps['textDocumentSync'] as { change: number }).change, 2, 'incremental sync');
    assert.ok(caps['completionProvider']);
    assert.ok(caps['semanticTokensProvider']);
  });

  after(async () => {
    client.proc.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('completes command names and members at cursor markers in a notebook, and resolves documentation', async () => {
    const { text, positions } = cursors(notebook(['{"execute": "query-sta¦"}', '{"execute": "device_add", "arguments": {"dr¦"}}']));
    const uri = pathToFileURL(path.join(dir, 'complete.qmp')).href;
    client.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
    const r1 = await client.request<{ items: Item[] }>('textDocument/completion', { textDocument: { uri }, position: positions[0] });
    const labels = r1.result?.items.map((i) => i.label) ?? [];
    assert.ok(labels.includes('query-status'), `query-status among ${labels.length} items`);
    const qs = r1.result?.items.find((i) => i.label === 'query-status') as Item;
    // The edit starts after the opening quote (the word a typing client filters on), and keeps the text right.
    assert.equal(qs.textEdit?.newText, 'query-status"');
    const line = text.split('\n')[positions[0]?.line ?? 0] as string;
    const range = qs.textEdit?.range as unknown as { start: { character: number }; end: { character: number } };
    assert.equal(line.slice(0, range.start.character) + 'query-status"' + line.slice(range.end.character), '{"execute": "query-status"}');
    // Long lists carry documentation on resolve only.
    const resolved = await client.request<Item>('completionItem/resolve', qs);
    assert.match(resolved.result?.documentation?.value ?? '', /query-status/);
    const r2 = await client.request<{ items: Item[] }>('textDocument/completion', { textDocument: { uri }, position: positions[1] });
    assert.ok(r2.result?.items.some((i) => i.label === 'driver'), 'device_add member driver');
    // Outside any cell: nothing.
    const r3 = await client.request<{ items: Item[] } | null>('textDocument/completion', { textDocument: { uri }, position: { line: 0, character: 3 } });
    assert.equal(r3.result, null);
  });

  it('hovers a command with the schema (and man page when installed)', async () => {
    const { text, positions } = cursors(notebook(['{"execute": "qom-l¦ist", "arguments": {"path": "/"}}']));
    const uri = pathToFileURL(path.join(dir, 'hover.qmp')).href;
    client.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
    const h = await client.request<{ contents: { kind: string; value: string }; range: { start: { line: number } } }>('textDocument/hover', { textDocument: { uri }, position: positions[0] });
    assert.equal(h.result?.contents.kind, 'markdown');
    assert.match(h.result?.contents.value ?? '', /qom-list/);
    assert.equal(h.result?.range.start.line, positions[0]?.line);
  });

  it('publishes diagnostics for a broken cell, offers a quick fix that applies, and updates on didChange', async () => {
    let text = notebook(['{"execute": "query-status"}', '{"execute": "qurey-status"}']);
    const uri = pathToFileURL(path.join(dir, 'broken.qmp')).href;
    client.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
    const pub = await client.waitFor(diagnosticsFor(uri, 1), 20_000, 'diagnostics');
    const diags = (pub.params as { diagnostics: Diag[] }).diagnostics;
    assert.equal(diags.length, 1, JSON.stringify(diags));
    const d = diags[0] as Diag;
    assert.equal(d.code, 'unknown-command');
    assert.equal(d.range.start.line, text.split('\n').findIndex((l) => l.includes('qurey')));
    const actions = await client.request<{ title: string; edit: { changes: Record<string, { range: never; newText: string }[]> } }[]>(
      'textDocument/codeAction', { textDocument: { uri }, range: d.range, context: { diagnostics: [d] } });
    const fix = actions.result?.find((a) => a.title.includes('query-status'));
    assert.ok(fix, JSON.stringify(actions.result));
    const fixed = applyLspEdits(text, fix.edit.changes[uri] ?? []);
    assert.ok(fixed.includes('{"execute": "query-status"}\n```\n\nSome text.\n\n```qmp\n{"execute": "query-status"}'), fixed);
    // Incremental change: apply the fix's edits as a didChange; the diagnostics go away.
    client.notifyServer('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: (fix.edit.changes[uri] ?? []).map((e: { range: never; newText: string }) => ({ range: e.range, text: e.newText })) });
    text = fixed;
    const pub2 = await client.waitFor(diagnosticsFor(uri, 2), 20_000, 'diagnostics v2');
    assert.deepEqual((pub2.params as { diagnostics: Diag[] }).diagnostics, []);
    // And a change that breaks it again.
    const line = text.split('\n').findIndex((l) => l.includes('query-status'));
    client.notifyServer('textDocument/didChange', { textDocument: { uri, version: 3 }, contentChanges: [{ range: { start: { line, character: 1 }, end: { line, character: 1 } }, text: '"bogus": 1, ' }] });
    const pub3 = await client.waitFor(diagnosticsFor(uri, 3), 20_000, 'diagnostics v3');
    const d3 = (pub3.params as { diagnostics: Diag[] }).diagnostics;
    assert.equal(d3.length, 1);
    assert.equal(d3[0]?.code, 'unexpected-key');
  });

  it('serves plain QMP JSON files and QEMU doc notation as one region', async () => {
    const { text, positions } = cursors('-> { "execute": "query-versio¦n" }\n<- { "return": {} }\n');
    const uri = pathToFileURL(path.join(dir, 'example.qmp.json')).href;
    client.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'json', version: 1, text } });
    const h = await client.request<{ contents: { value: string } }>('textDocument/hover', { textDocument: { uri }, position: positions[0] });
    assert.match(h.result?.contents.value ?? '', /query-version/);
    const pub = await client.waitFor(diagnosticsFor(uri, 1), 20_000, 'diagnostics');
    assert.deepEqual((pub.params as { diagnostics: Diag[] }).diagnostics, []);
  });

  it('lists one symbol per cell with its commands, and semantic tokens for commands and members', async () => {
    const text = notebook(['{"execute": "query-status"}\n{"execute": "cont"}', '{"wait-event": "RESUME"}']);
    const uri = pathToFileURL(path.join(dir, 'symbols.qmp')).href;
    client.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
    const s = await client.request<{ name: string; children: { name: string }[] }[]>('textDocument/documentSymbol', { textDocument: { uri } });
    assert.equal(s.result?.length, 2);
    assert.deepEqual(s.result?.[0]?.children.map((c) => c.name), ['query-status', 'cont']);
    assert.deepEqual(s.result?.[1]?.children.map((c) => c.name), ['wait-event RESUME']);
    const t = await client.request<{ data: number[] }>('textDocument/semanticTokens/full', { textDocument: { uri } });
    const data = t.result?.data ?? [];
    assert.equal(data.length % 5, 0);
    // Decode: the token at line 3 (first cell line) column 1 is the key "execute" (property = 1), then the command (function = 0).
    const tokens: { line: number; char: number; len: number; type: number }[] = [];
    let line = 0;
    let char = 0;
    for (let i = 0; i < data.length; i += 5) {
      line += data[i] as number;
      char = data[i] === 0 ? char + (data[i + 1] as number) : (data[i + 1] as number);
      tokens.push({ line, char, len: data[i + 2] as number, type: data[i + 3] as number });
    }
    const lines = text.split('\n');
    const words = tokens.map((k) => [lines[k.line]?.slice(k.char, k.char + k.len), k.type]);
    assert.deepEqual(words.slice(0, 2), [['"execute"', 1], ['"query-status"', 0]]);
    assert.ok(words.some(([w, ty]) => w === '"RESUME"' && ty === 5), JSON.stringify(words));
  });

  it('gives code lenses for OOB hints and switches a command to exec-oob', async () => {
    const text = notebook(['{"execute": "migrate-pause"}']);
    const uri = pathToFileURL(path.join(dir, 'lens.qmp')).href;
    client.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
    const l = await client.request<{ command: { title: string; command: string; arguments: unknown[] } }[]>('textDocument/codeLens', { textDocument: { uri } });
    const lens = l.result?.find((x) => x.command.command === 'qmp.switchToExecOob');
    assert.ok(lens, JSON.stringify(l.result));
    const applied = client.waitForNext((m) => m.method === 'workspace/applyEdit', 20_000, 'applyEdit');
    await client.request('workspace/executeCommand', { command: lens.command.command, arguments: lens.command.arguments });
    const edit = (await applied).params as { edit: { changes: Record<string, never[]> } };
    assert.match(applyLspEdits(text, edit.edit.changes[uri] ?? []), /\{"exec-oob": "migrate-pause"\}/);
  });

  it('refuses qmp.runCell without a configured QEMU (nothing connects)', async () => {
    const uri = pathToFileURL(path.join(dir, 'lens.qmp')).href;
    const r = await client.request<{ status: string; message: string }>('workspace/executeCommand', { command: 'qmp.runCell', arguments: [uri, { line: 3, character: 0 }] });
    assert.equal(r.result?.status, 'refused');
    assert.match(r.result?.message ?? '', /no QEMU is configured/);
  });

  it('answers malformed JSON-RPC with an error and keeps serving', async () => {
    const parseError = client.waitForNext((m) => m.error?.code === -32700, 10_000, 'parse error');
    client.sendRaw('{"jsonrpc": "2.0", "id": 99, "method": ');
    assert.equal((await parseError).id, null);
    const invalid = client.waitForNext((m) => m.error?.code === -32600, 10_000, 'invalid request');
    client.sendRaw('{"jsonrpc": "2.0", "id": 100, "method": 5}');
    assert.equal((await invalid).id, 100);
    const arr = client.waitForNext((m) => m.error?.code === -32600 && m.id === null, 10_000, 'invalid request (array)');
    client.sendRaw('[1, 2]');
    await arr;
    // Not UTF-8.
    const bad = client.waitForNext((m) => m.error?.code === -32700, 10_000, 'parse error (bytes)');
    client.proc.stdin.write(Buffer.concat([Buffer.from('Content-Length: 2\r\n\r\n', 'ascii'), Buffer.from([0xff, 0xfe])]));
    await bad;
    const unknown = await client.request('qmp/noSuchMethod', {});
    assert.equal(unknown.error?.code, -32601);
    // Still alive and correct.
    const uri = pathToFileURL(path.join(dir, 'complete.qmp')).href;
    const h = await client.request('textDocument/hover', { textDocument: { uri }, position: { line: 3, character: 16 } });
    assert.equal(h.error, undefined);
    assert.equal(client.proc.exitCode, null);
  });

  it('stays responsive on a 10,000-cell notebook: completion answers while diagnostics run, stale results are dropped', async () => {
    const cells: string[] = [];
    for (let i = 0; i < 10_000; i++) cells.push(i % 97 === 0 ? '{"execute": "qurey-status"}' : `{"execute": "qom-list", "arguments": {"path": "/machine/${i}"}}`);
    const text = notebook(cells);
    const uri = pathToFileURL(path.join(dir, 'big.qmp')).href;
    client.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
    const lines = text.split('\n');
    let last = lines.length - 1;
    while (last > 0 && !(lines[last] ?? '').startsWith('{"execute"')) last--;
    assert.ok(lines[last]?.startsWith('{"execute": "qom-list"'), lines[last]);
    // The request's own 30 s bound guards against a server that stops answering; how fast it answers is the
    // bench's to measure, not this test's.
    const r = await client.request<{ items: Item[] }>('textDocument/completion', { textDocument: { uri }, position: { line: last, character: 14 } }, 30_000);
    assert.ok(r.result?.items.some((i) => i.label === 'qom-list'));
    // An edit, then the diagnostics of that version; version 1's may or may not have been published.
    client.notifyServer('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: [{ range: { start: { line: last, character: 0 }, end: { line: last, character: 0 } }, text: ' ' }] });
    const pub = await client.waitFor(diagnosticsFor(uri, 2), 60_000, 'diagnostics of the big notebook');
    const diags = (pub.params as { diagnostics: Diag[] }).diagnostics;
    assert.equal(diags.length, Math.ceil(10_000 / 97));
    const h = await client.request('textDocument/hover', { textDocument: { uri }, position: { line: last, character: 16 } });
    assert.equal(h.error, undefined);
  });

  it('survives hostile cells (deep nesting, a megabyte string, a huge shell line): every request answered, diagnostics published', async () => {
    const deep = '{"execute": "qom-list", "arguments": ' + '['.repeat(100_000) + ']'.repeat(100_000) + '}';
    const long = '{"execute": "qom-list", "arguments": {"path": "' + 'a'.repeat(1_000_000) + '"}}';
    const text = '```qmp\n' + deep + '\n```\n\n```qmp\n' + long + '\n```\n\n```qmp-shell\n' + 'x='.repeat(50_000) + '\n```\n';
    const uri = pathToFileURL(path.join(dir, 'hostile.qmp')).href;
    client.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
    const requests: [string, unknown][] = [
      ['textDocument/hover', { textDocument: { uri }, position: { line: 1, character: 50 } }],
      ['textDocument/completion', { textDocument: { uri }, position: { line: 1, character: 100_010 } }],
      ['textDocument/completion', { textDocument: { uri }, position: { line: 5, character: 500_000 } }],
      ['textDocument/semanticTokens/full', { textDocument: { uri } }],
      ['textDocument/documentSymbol', { textDocument: { uri } }],
      ['textDocument/codeLens', { textDocument: { uri } }],
      ['textDocument/codeAction', { textDocument: { uri }, range: { start: { line: 1, character: 0 }, end: { line: 9, character: 0 } }, context: { diagnostics: [] } }],
    ];
    for (const [method, params] of requests) {
      // A reply (a result, or an error a feature raised) within the bound; the server itself stays up.
      const r = await client.request(method, params, 60_000);
      assert.ok(r.result !== undefined || r.error !== undefined, method);
    }
    const pub = await client.waitFor(diagnosticsFor(uri, 1), 60_000, 'diagnostics of the hostile notebook');
    assert.ok((pub.params as { diagnostics: Diag[] }).diagnostics.length >= 2);
    assert.equal(client.proc.exitCode, null);
    client.notifyServer('textDocument/didClose', { textDocument: { uri } });
  });

  it('shuts down and exits with code 0', async () => {
    assert.equal(await client.shutdown(), 0);
  });
});

describe('qmp-notebook lsp: configuration and the workspace file', () => {
  let cli: string;
  let dir: string;
  before(async () => {
    cli = await buildCli();
    dir = mkdtempSync(path.join(os.tmpdir(), 'qmp-lsp-ws-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const diagsOf = async (c: LspTestClient, uri: string): Promise<Diag[]> => {
    c.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'qmp', version: 1, text: '{"execute": "qurey-status"}\n' } });
    const pub = await c.waitFor(diagnosticsFor(uri, 1), 20_000, 'diagnostics');
    return (pub.params as { diagnostics: Diag[] }).diagnostics;
  };

  it('reads schemaFile from .qmp-notebook.json inside the workspace, and ignores one outside it', async () => {
    const ws = path.join(dir, 'ws1');
    mkdirSync(ws);
    writeFileSync(path.join(ws, 'schema.json'), JSON.stringify({ return: JSON.parse(await import('node:fs').then((f) => f.readFileSync(schema10, 'utf8'))) }));
    writeFileSync(path.join(ws, '.qmp-notebook.json'), JSON.stringify({ schemaFile: 'schema.json' }));
    const c = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'none') });
    await c.initialize(pathToFileURL(ws).href);
    const d = await diagsOf(c, pathToFileURL(path.join(ws, 'a.qmp.json')).href);
    assert.equal(d[0]?.code, 'unknown-command');
    assert.equal(await c.shutdown(), 0);

    const ws2 = path.join(dir, 'ws2');
    mkdirSync(ws2);
    writeFileSync(path.join(ws2, '.qmp-notebook.json'), JSON.stringify({ schemaFile: schema10 }));
    const c2 = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'none') });
    await c2.initialize(pathToFileURL(ws2).href);
    const d2 = await diagsOf(c2, pathToFileURL(path.join(ws2, 'a.qmp.json')).href);
    // Without a schema there is no unknown-command diagnostic.
    assert.deepEqual(d2.map((x) => x.code), []);
    const warned = await c2.waitFor((m) => m.method === 'window/logMessage' && /inside the workspace/.test((m.params as { message: string }).message), 10_000, 'warning');
    assert.ok(warned);
    assert.equal(await c2.shutdown(), 0);
  });

  it('does not connect to a socket the workspace file names unless the user trusts workspace connections', async () => {
    const ws = path.join(dir, 'ws3');
    mkdirSync(ws);
    const sock = path.join(ws, 'qmp.sock');
    const net = await import('node:net');
    let connections = 0;
    const server = net.createServer((s) => { connections++; s.destroy(); });
    await new Promise<void>((resolve) => server.listen(sock, resolve));
    try {
      writeFileSync(path.join(ws, '.qmp-notebook.json'), JSON.stringify({ socket: 'qmp.sock', sandbox: false }));
      const c = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'none') });
      await c.initialize(pathToFileURL(ws).href);
      await c.waitFor((m) => m.method === 'window/logMessage' && /trustWorkspaceConnections/.test((m.params as { message: string }).message), 10_000, 'trust warning');
      await c.request('textDocument/hover', { textDocument: { uri: 'file:///x.qmp' }, position: { line: 0, character: 0 } });
      assert.equal(connections, 0);
      assert.equal(await c.shutdown(), 0);

      const c2 = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'none') });
      await c2.initialize(pathToFileURL(ws).href, { trustWorkspaceConnections: true });
      await c2.waitFor((m) => m.method === 'window/logMessage' && /cannot connect/.test((m.params as { message: string }).message), 20_000, 'connection attempt');
      assert.ok(connections >= 1);
      assert.equal(await c2.shutdown(), 0);
    } finally {
      server.close();
    }
  });

  it('falls back to the schema cache the extension writes', async () => {
    const cache = path.join(dir, 'cfg', 'Code', 'User', 'globalStorage', 'qmp-notebook.qmp-notebook', 'schemas');
    mkdirSync(cache, { recursive: true, mode: 0o700 });
    const { readFileSync } = await import('node:fs');
    writeFileSync(path.join(cache, 'sandbox.json'), JSON.stringify({ format: 1, profile: 'sandbox', version: { major: 10, minor: 0, micro: 13 }, savedAt: new Date().toISOString(), schema: JSON.parse(readFileSync(schema10, 'utf8')) }), { mode: 0o600 });
    const c = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'cfg') });
    await c.initialize(null);
    const d = await diagsOf(c, 'file:///tmp/cached.qmp.json');
    assert.equal(d[0]?.code, 'unknown-command');
    assert.equal(await c.shutdown(), 0);
  });

  it('shows the user (window/showMessage) that there is no schema and how to give one; says nothing of it when there is one', async () => {
    const empty = path.join(dir, 'no-schema');
    mkdirSync(empty, { recursive: true });
    const c = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: empty, XDG_CONFIG_HOME: path.join(empty, 'cfg') });
    await c.initialize(pathToFileURL(empty).href, {});
    const shown = await c.waitFor((m) => m.method === 'window/showMessage', 10_000, 'showMessage');
    const p = shown.params as { type: number; message: string };
    assert.equal(p.type, 2, 'a warning');
    assert.match(p.message, /no schema/);
    assert.match(p.message, /"schemaFile"/);
    assert.match(p.message, /qmp-notebook schema --sandbox/);
    assert.equal(await c.shutdown(), 0);
    // A schema file that does not load: the message says why.
    const c2 = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: empty, XDG_CONFIG_HOME: path.join(empty, 'cfg') });
    await c2.initialize(pathToFileURL(empty).href, { schemaFile: path.join(empty, 'missing.json') });
    const shown2 = await c2.waitFor((m) => m.method === 'window/showMessage', 10_000, 'showMessage');
    assert.match((shown2.params as { message: string }).message, /schemaFile: .*missing\.json/);
    assert.equal(await c2.shutdown(), 0);
    // With a schema: no such message.
    const c3 = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: empty, XDG_CONFIG_HOME: path.join(empty, 'cfg') });
    await c3.initialize(pathToFileURL(empty).href, { schemaFile: schema10 });
    await c3.waitFor((m) => m.method === 'window/logMessage' && /schema from schema file/.test((m.params as { message: string }).message), 10_000, 'schema loaded');
    assert.equal(c3.notifications.some((m) => m.method === 'window/showMessage'), false);
    assert.equal(await c3.shutdown(), 0);
  });

  it('pulls diagnostics (textDocument/diagnostic) when the client supports it, instead of pushing them', async () => {
    const c = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'none') });
    const caps = { textDocument: { diagnostic: { dynamicRegistration: false }, completion: {} } };
    const init = await c.initialize(null, { schemaFile: schema10 }, caps);
    assert.ok((init.result as { capabilities: Record<string, unknown> }).capabilities['diagnosticProvider']);
    const uri = 'file:///tmp/pull.qmp.json';
    c.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'qmp', version: 1, text: '{"execute": "qurey-status"}\n' } });
    // The schema loads after `initialized`; ask until the verdict includes it (bounded).
    let items: Diag[] = [];
    for (let i = 0; i < 100 && items.length === 0; i++) {
      const r = await c.request<{ kind: string; items: Diag[] }>('textDocument/diagnostic', { textDocument: { uri } });
      assert.equal(r.result?.kind, 'full');
      items = r.result?.items ?? [];
      if (items.length === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(items[0]?.code, 'unknown-command');
    assert.equal(c.notifications.filter((m) => m.method === 'textDocument/publishDiagnostics').length, 0);
    assert.equal(await c.shutdown(), 0);
  });

  it('runs a cell on a sandbox QEMU the user configured (qmp.runCell returns the transcript)', async () => {
    const c = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'none') });
    await c.initialize(null, { sandbox: true });
    await c.waitFor((m) => m.method === 'window/logMessage' && /schema from a sandbox QEMU/.test((m.params as { message: string }).message), 60_000, 'live schema');
    const uri = 'file:///tmp/run.qmp';
    const text = '# Run\n\n```qmp\n{"execute": "query-status"}\n```\n\n```qmp\n{"execute": "no-such-command"}\n```\n\n' +
      '```qmp\n{"execute": "query-status", "id": 18446744073709551615}\n```\n';
    c.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
    const lenses = await c.request<{ command: { command: string; arguments: unknown[] } }[]>('textDocument/codeLens', { textDocument: { uri } });
    const run = lenses.result?.filter((l) => l.command.command === 'qmp.runCell') ?? [];
    assert.equal(run.length, 3);
    const ok = await c.request<{ status: string; transcript: string[]; records: { type: string }[] }>('workspace/executeCommand', { command: 'qmp.runCell', arguments: run[0]?.command.arguments }, 60_000);
    assert.equal(ok.result?.status, 'ok', JSON.stringify(ok.result));
    // The engine's records: the cell started, the command was written, QEMU replied, the cell finished.
    const types = ok.result?.records.map((r) => r.type) ?? [];
    for (const t of ['cell-started', 'written', 'reply', 'cell-finished']) assert.ok(types.includes(t), `${t} in ${types.join(',')}`);
    assert.match(ok.result?.transcript.join('\n') ?? '', /prelaunch/);
    const bad = await c.request<{ status: string; transcript: string[] }>('workspace/executeCommand', { command: 'qmp.runCell', arguments: [uri, { line: 7, character: 3 }] }, 60_000);
    assert.equal(bad.result?.status, 'failed');
    assert.match(bad.result?.transcript.join('\n') ?? '', /CommandNotFound/);
    // An id of 2^64-1 (QEMU echoes it exactly): the records carry it exactly on the wire, as `run --json` does.
    const big = await c.request<{ status: string; records: { type: string }[] }>('workspace/executeCommand', { command: 'qmp.runCell', arguments: run[2]?.command.arguments }, 60_000);
    assert.equal(big.result?.status, 'ok', JSON.stringify(big.result));
    const body = c.replyBodies.get(big.id as number) ?? '';
    assert.match(body, /"type":"written"[^}]*"id":18446744073709551615[,}]/);
    assert.match(body, /"type":"reply"[^{]*"id":18446744073709551615,"ok":true,"reply":\{.*"id": ?18446744073709551615\}/);
    assert.doesNotMatch(body, /18446744073709552000/);
    assert.equal(await c.shutdown(), 0);
  });

  it('rejects an unknown option with exit code 2', async () => {
    const { spawnSync } = await import('node:child_process');
    const r = spawnSync(process.execPath, [cli, 'lsp', '--tcp'], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /unknown option/);
    assert.equal(frame('x').length > 0, true);
  });
});
