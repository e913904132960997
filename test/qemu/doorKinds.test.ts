// Every door on a QEMU's own sockets: one QEMU listening on a unix socket and on TCP, and on each of them the
// CLI's schema, check, run, test (--update, then test) and shell, and the language server's runCell (its
// kernel, as `qmp-notebook lsp` makes it), one after another (QEMU serves one client per monitor at a time).
// Each door accepts both kinds and says the same thing: run's records are the shell's and runCell's, record for
// record. The family tier does the same on the storage daemon, the guest agent and libvirt
// (test/family/kernel.test.ts); docs/testing.md has the table of which test proves which door on which kind.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';
import { buildCli, runCliBundle, type CliResult } from '../support/cliBundle';
import { startQemu, type TestQemu } from '../support/qemu';
import { jsonRecords, recordShape, type TranscriptRec } from '../support/records';
import { LspSession } from '../../src/lsp/session';
import type { Endpoint } from '../../src/kernel/index';

let bundle = '';
let dir = '';
let qemu: TestQemu;
let port = 0;

const runCli = (args: string[], input?: string): Promise<CliResult> =>
  runCliBundle(bundle, args, { env: { ...process.env, HOME: dir }, ...(input !== undefined ? { input } : {}) });

before(async () => {
  bundle = await buildCli();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-door-kinds-'));
  // A port the kernel just handed out and took back is free unless another process grabs it meanwhile.
  port = await new Promise<number>((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const address = server.address() as net.AddressInfo;
      server.close(() => resolve(address.port));
    });
  });
  qemu = await startQemu({ tcpPort: port });
});
after(async () => {
  await qemu?.stop();
  rmSync(dir, { recursive: true, force: true });
});

// A cell whose reply is the same on every run (a QEMU started without -name has none), with it written under
// it, and a qmp-shell cell (typed by the live schema).
const CELLS = ['{"execute": "query-name"}\n<- {"return": {}}', 'query-status'];
const notebookText = CELLS.map((s, i) => `\`\`\`${i === 0 ? 'qmp' : 'qmp-shell'}\n${s}\n\`\`\`\n`).join('\n');

const kinds: Array<{ name: string; flags: () => string[]; endpoint: () => Endpoint }> = [
  { name: 'a unix socket', flags: () => ['--socket', qemu.socketPath], endpoint: () => ({ kind: 'unix', path: qemu.socketPath }) },
  { name: 'TCP', flags: () => ['--tcp', `127.0.0.1:${port}`], endpoint: () => ({ kind: 'tcp', host: '127.0.0.1', port }) },
];

for (const k of kinds) {
  describe(`every door on ${k.name}`, () => {
    test('schema, check, run, test, the shell and runCell accept it and agree', async () => {
      const file = path.join(dir, `${k.name.replace(/\W+/g, '-')}.qmp`);
      writeFileSync(file, notebookText);

      const schema = await runCli(['schema', ...k.flags()]);
      assert.equal(schema.code, 0, schema.stderr);
      assert.ok((JSON.parse(schema.stdout) as Array<{ name: string }>).some((e) => e.name === 'query-status'));

      const check = await runCli(['check', file, ...k.flags()]);
      assert.equal(check.code, 0, check.stdout + check.stderr);
      assert.equal(check.stdout, '');

      const run = await runCli(['run', file, ...k.flags(), '--json']);
      assert.equal(run.code, 0, run.stdout + run.stderr);
      const runRecords = jsonRecords(run.stdout);
      assert.deepEqual(runRecords.filter((r) => r['type'] === 'expected-reply').map((r) => r['match']), [true]);
      assert.equal(runRecords.filter((r) => r['type'] === 'reply').length, 2);

      // The shell: the first cell pasted with its fences, the second typed as a line.
      const shell = await runCli(['shell', ...k.flags(), '--json'], `\`\`\`qmp\n${CELLS[0]}\n\`\`\`\n${CELLS[1]}\n`);
      assert.equal(shell.code, 0, shell.stdout + shell.stderr);
      assert.deepEqual(jsonRecords(shell.stdout).map(recordShape), runRecords.map(recordShape));

      // The language server's runCell, through its kernel: one call per cell.
      const lsp = new LspSession(k.endpoint());
      const lspRecords: TranscriptRec[] = [];
      try {
        for (const [i, source] of CELLS.entries()) {
          const r = await lsp.runCell(source, i === 0 ? 'qmp' : 'qmp-shell', i + 1, 1);
          assert.equal(r.status, 'ok', r.transcript.join('\n'));
          lspRecords.push(...(r.records ?? []).map((x) => JSON.parse(x.text) as TranscriptRec));
        }
        assert.ok(lsp.live, 'live values while connected');
      } finally {
        await lsp.dispose();
      }
      assert.deepEqual(lspRecords.map(recordShape), runRecords.map(recordShape));

      // test: --update writes the outputs of this run, and the notebook then passes.
      const copy = `${file}.update.qmp`;
      copyFileSync(file, copy);
      const u = await runCli(['test', copy, ...k.flags(), '--update']);
      assert.equal(u.code, 0, u.stdout + u.stderr);
      assert.match(readFileSync(copy, 'utf8'), /```qmp-output/);
      const t = await runCli(['test', copy, ...k.flags(), '--json']);
      assert.equal(t.code, 0, t.stdout + t.stderr);
      assert.match(t.stdout, /"passed":2,"failed":0/);
    });
  });
}
