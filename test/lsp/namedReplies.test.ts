// Named replies through the language server (the built bin over stdio, a sandbox the user configured):
// completion after `{{st.return.` offers the members of query-status's return type from the schema before the
// naming cell has run, the members of its saved reply after `qmp.runCell` ran it, and hover shows the value.
// And one verdict: the server's diagnostics of a notebook with named replies (a good use, an unknown name, a
// name only a cell below defines, a malformed reference) are `qmp-notebook check`'s, place for place (the
// editor's are compared with check's in test/host/namedReplies.test.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildCli, runCliBundle } from '../support/cliBundle';
import { cursors, LspTestClient } from '../support/lspClient';

interface Item { label: string }

describe('named replies in the language server', () => {
  let cli: string;
  let dir: string;

  before(async () => {
    cli = await buildCli();
    dir = mkdtempSync(path.join(os.tmpdir(), 'qmp-lsp-named-'));
  });
  after(() => { rmSync(dir, { recursive: true, force: true }); });

  it('diagnostics: the same as qmp-notebook check on the same notebook, and they change when a name moves', async () => {
    const root = path.resolve(__dirname, '..', '..', '..');
    const file = path.join(root, 'test', 'fixtures', 'named-replies-doors.qmp');
    const schemaFile = path.join(root, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json');
    const text = readFileSync(file, 'utf8');
    const check = await runCliBundle(cli, ['check', file, '--schema', schemaFile, '--json']);
    assert.equal(check.code, 1, check.stderr);
    type Located = { line: number; col: number; endLine: number; endCol: number; severity: string; message: string; code?: string };
    const expected = check.stdout.trim().split('\n').map((l) => JSON.parse(l) as Located).map((p) => ({
      range: { start: { line: p.line - 1, character: p.col - 1 }, end: { line: p.endLine - 1, character: p.endCol - 1 } },
      severity: p.severity === 'error' ? 1 : p.severity === 'warning' ? 2 : 3, message: p.message, code: p.code,
    }));
    // What the notebook is there to show: each kind of named-reply problem once, and the good use says nothing.
    assert.deepEqual(expected.map((d) => d.code), ['unknown-reply-name', 'unknown-reply-name', 'bad-reference']);

    const c = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'none') });
    type Published = { uri: string; version?: number; diagnostics: Array<{ range: unknown; severity: number; message: string; code?: string }> };
    try {
      await c.initialize(null, { schemaFile });
      const uri = 'file:///tmp/named-doors.qmp';
      const published = async (version: number): Promise<Published['diagnostics']> => {
        const m = await c.waitFor((x) => x.method === 'textDocument/publishDiagnostics'
          && (x.params as Published).uri === uri && (x.params as Published).version === version, 30_000, `diagnostics of version ${version}`);
        return (m.params as Published).diagnostics;
      };
      c.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
      const got = await published(1);
      assert.deepEqual(got.map((d) => ({ range: d.range, severity: d.severity, message: d.message, code: d.code })), expected);

      // The cell that names 'later' moves above its use: the cell's text is the same, its warning goes (the
      // remembered diagnostics depend on the names around a cell, not on its text alone).
      const naming = '```qmp-shell\n# @name later\nquery-name\n```\n';
      const moved = text.replace(naming, '').replace('```qmp\n// @name st', `${naming}\n${'```'}qmp\n// @name st`);
      assert.notEqual(moved, text);
      c.notifyServer('textDocument/didChange', { textDocument: { uri, version: 2 }, contentChanges: [{ text: moved }] });
      const after = await published(2);
      assert.deepEqual(after.map((d) => d.code), ['unknown-reply-name', 'bad-reference'], JSON.stringify(after));
      assert.ok(!after.some((d) => /later/.test(d.message)), JSON.stringify(after));
      assert.equal(await c.shutdown(), 0);
    } finally {
      c.proc.kill('SIGKILL');
    }
  });

  it('completes names and members (schema, then the saved reply) and hovers the value', async () => {
    const c = new LspTestClient(cli, ['lsp'], { ...process.env, HOME: dir, XDG_CONFIG_HOME: path.join(dir, 'none') });
    try {
      await c.initialize(null, { sandbox: true });
      await c.waitFor((m) => m.method === 'window/logMessage' && /schema from a sandbox QEMU/.test((m.params as { message: string }).message), 60_000, 'live schema');
      const { text, positions } = cursors('# Named\n\n```qmp\n// @name st\n{"execute": "query-status"}\n```\n\n' +
        '```qmp\n{"execute": "qom-get", "arguments": {"path": "/machine", "property": "{{s¦"}}\n```\n\n' +
        '```qmp-shell\nqom-get path=/machine property={{st.return.¦}}\n```\n\n```qmp-shell\nqom-get path=/machine property={{st.re¦turn}}\n```\n');
      const uri = 'file:///tmp/named.qmp';
      c.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text } });
      const labels = async (i: number): Promise<string[]> => {
        const r = await c.request<{ items: Item[] }>('textDocument/completion', { textDocument: { uri }, position: positions[i] });
        return r.result?.items.map((x) => x.label) ?? [];
      };
      assert.deepEqual(await labels(0), ['st']);
      const fromSchema = await labels(1);
      assert.ok(fromSchema.includes('status') && fromSchema.includes('running'), fromSchema.join());

      const lenses = await c.request<{ command: { command: string; arguments: unknown[] } }[]>('textDocument/codeLens', { textDocument: { uri } });
      const run = lenses.result?.filter((l) => l.command.command === 'qmp.runCell') ?? [];
      const ok = await c.request<{ status: string }>('workspace/executeCommand', { command: 'qmp.runCell', arguments: run[0]?.command.arguments }, 60_000);
      assert.equal(ok.result?.status, 'ok', JSON.stringify(ok.result));
      const fromReply = await labels(1);
      assert.ok(fromReply.includes('status') && fromReply.includes('running'), fromReply.join());

      const hover = await c.request<{ contents: { value: string } } | null>('textDocument/hover', { textDocument: { uri }, position: positions[2] });
      assert.match(hover.result?.contents.value ?? '', /st\.return` now \(last reply of cell \d+\):\n\n```json\n\{.*"status": "prelaunch"/s);
      assert.equal(await c.shutdown(), 0);
    } finally {
      c.proc.kill('SIGKILL');
    }
  });
});
