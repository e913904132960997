// Named replies through the language server (the built bin over stdio, a sandbox the user configured):
// completion after `{{st.return.` offers the members of query-status's return type from the schema before the
// naming cell has run, the members of its saved reply after `qmp.runCell` ran it, and hover shows the value.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { buildCli } from '../support/cliBundle';
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
