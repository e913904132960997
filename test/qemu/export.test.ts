// `qmp-notebook export --to jsonl` (the production CLI bundle) sent as it is to a real QEMU, the way socat sends
// a file: QEMU answers every line, and each reply equals the one our own client gets for the same command from
// a second QEMU of the same build. The qmp-shell export is read back by our parser (test/unit/export.test.ts).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import * as net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QmpClient } from '../../src/qmp';
import { parseCell, parseNotebook, type CommandItem } from '../../src/format';
import { buildCli, runCliBundle } from '../support/cliBundle';
import { startQemu, type TestQemu } from '../support/qemu';

const NOTEBOOK = [
  '---', 'profile: sandbox', '---', '', '# Export round trip', '',
  '```qmp',
  '{ "execute": "query-status" }',
  '{ "execute": "qom-get", "arguments": { "path": "/machine", "property": "type" } }',
  '{ "execute": "blockdev-add", "arguments": { "driver": "null-co", "node-name": "x1", "size": 1048576 } }',
  '{ "execute": "query-named-block-nodes", "arguments": { "flat": true } }',
  '```', '',
  '```qmp-shell', 'query-name', 'query-yank --oob', 'blockdev-del node-name=nope', '```', '',
  '```hmp', 'info status', '```', '',
].join('\n');

/** Reads QMP messages (one JSON object per line, as QEMU writes them) from a raw socket until `count` non-event ones came. */
function rawSession(socket: string, text: string, count: number, deadlineMs = 20_000): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const conn = net.createConnection(socket);
    const messages: unknown[] = [];
    let buffer = '';
    let greeted = false;
    const timer = setTimeout(() => { conn.destroy(); reject(new Error(`only ${messages.length} of ${count} replies within ${deadlineMs} ms`)); }, deadlineMs);
    conn.setEncoding('utf8');
    conn.on('data', (d: string) => {
      buffer += d;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl).trim();
        buffer = buffer.slice(nl + 1);
        if (line === '') continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if (!greeted) {
          greeted = true;
          conn.write(text);
          continue;
        }
        if ('event' in msg) continue;
        messages.push(msg);
        if (messages.length === count) {
          clearTimeout(timer);
          conn.end();
          resolve(messages);
        }
      }
    });
    conn.on('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

describe('export to JSON lines, sent to a real QEMU', () => {
  const qemus: TestQemu[] = [];
  let dir = '';
  let cli = '';
  before(async () => {
    cli = await buildCli();
    dir = mkdtempSync(path.join(tmpdir(), 'qmp-export-'));
  });
  after(async () => {
    await Promise.all(qemus.map((q) => q.stop()));
    rmSync(dir, { recursive: true, force: true });
  });

  test('every line is answered, and each answer equals what our client gets', async () => {
    const file = path.join(dir, 'roundtrip.qmp');
    writeFileSync(file, NOTEBOOK, { mode: 0o600 });
    const r = await runCliBundle(cli, ['export', '--to', 'jsonl', file]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    const commands = parseNotebook(NOTEBOOK).cells.flatMap((c) => (c.kind === 'code' ? parseCell(c.source, c.language).items : []))
      .filter((i): i is CommandItem => i.kind === 'command');
    assert.equal(lines.length, commands.length + 1, r.stdout);

    const [a, b] = await Promise.all([startQemu(), startQemu()]);
    qemus.push(a as TestQemu, b as TestQemu);
    const raw = await rawSession((a as TestQemu).socketPath, `${lines.join('\n')}\n`, lines.length);
    assert.deepEqual(raw[0], { return: {} }, 'qmp_capabilities');

    const client = new QmpClient();
    await client.connect({ kind: 'unix', path: (b as TestQemu).socketPath });
    const expected: Array<{ oob: boolean; reply: Record<string, unknown>; line: string }> = [];
    try {
      for (const [i, c] of commands.entries()) {
        const reply = await client.send(c.input, { timeoutMs: 10_000 });
        expected.push({ oob: c.oob, reply: reply.ok ? { return: reply.value } : { error: reply.error }, line: lines[i + 1] ?? '' });
      }
    } finally {
      await client.disconnect();
    }
    // In-band replies come in order; an out-of-band one may overtake them (QMP's rule), so it is matched apart.
    const got = raw.slice(1).map((m) => { const c = { ...(m as Record<string, unknown>) }; delete c['id']; return c; });
    for (const e of expected.filter((x) => x.oob)) {
      const at = got.findIndex((g) => JSON.stringify(g) === JSON.stringify(e.reply));
      assert.ok(at >= 0, `the out-of-band reply to ${e.line}: ${JSON.stringify(e.reply)} among ${JSON.stringify(got)}`);
      got.splice(at, 1);
    }
    assert.deepEqual(got, expected.filter((x) => !x.oob).map((x) => x.reply));
    assert.ok(expected.some((x) => 'error' in x.reply), 'an error reply is compared too');
  });

  test('usage errors exit 2 and say what to do', async () => {
    const r = await runCliBundle(cli, ['export', '--to', 'pdf', 'x.qmp']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /unknown format "pdf"[\s\S]*qmp-shell/);
  });
});
