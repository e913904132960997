// The language server (the built `qmp-notebook lsp`) on the family's endpoints: a private qemu-storage-daemon
// configured by the user (`"storageDaemon": true`), a guest agent named by a trusted workspace file
// (`"guestAgent": "qga.sock"`, resolved against the workspace) and a libvirt domain (`"libvirt"`, `"connect"`). Completion comes from each endpoint's own
// schema (the storage daemon's query-qmp-schema, the guest agent's guest-info) and its live values (a node a
// cell made), and `qmp.runCell` runs a cell on it through the kernel.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildCli } from '../support/cliBundle';
import { cursors, LspTestClient, type RpcMessage } from '../support/lspClient';
import { createTestDomain, destroyTestDomain, ensureLibvirtd, libvirtUri, startGuestAgent, type TestGuestAgent } from '../support/daemons';

interface Item { label: string }
interface RunResult { status: string; transcript: string[]; records: { type: string }[]; message?: string }

let cli: string;
let home: string;
let agent: TestGuestAgent;
before(async () => {
  cli = await buildCli();
  home = mkdtempSync(path.join(tmpdir(), 'qmp-lsp-family-'));
  agent = await startGuestAgent();
});
after(async () => {
  await agent.stop();
  rmSync(home, { recursive: true, force: true });
});

/** A server with no schema cache (HOME and XDG_CONFIG_HOME point at an empty directory). */
function server(): LspTestClient {
  return new LspTestClient(cli, ['lsp'], { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, 'none'), XDG_DATA_HOME: path.join(home, 'none') });
}

const logged = (re: RegExp) => (m: RpcMessage): boolean => m.method === 'window/logMessage' && re.test((m.params as { message: string }).message);

async function completionLabels(c: LspTestClient, uri: string, text: string): Promise<{ labels: string[]; lines: string }> {
  const marked = cursors(`# Cells\n\n\`\`\`qmp\n${text}\n\`\`\`\n`);
  c.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text: marked.text } });
  const r = await c.request<{ items: Item[] }>('textDocument/completion', { textDocument: { uri }, position: marked.positions[0] });
  return { labels: r.result?.items.map((i) => i.label) ?? [], lines: marked.text };
}

async function runCell(c: LspTestClient, uri: string, text: string): Promise<RunResult> {
  c.notifyServer('textDocument/didOpen', { textDocument: { uri, languageId: 'markdown', version: 1, text: `# Run\n\n\`\`\`qmp\n${text}\n\`\`\`\n` } });
  const r = await c.request<RunResult>('workspace/executeCommand', { command: 'qmp.runCell', arguments: [uri, { line: 3, character: 1 }] }, 60_000);
  assert.ok(r.result, JSON.stringify(r.error));
  return r.result;
}

describe('qmp-notebook lsp on the family endpoints', () => {
  test('"storageDaemon": true: completion from the storage daemon\'s own schema, and qmp.runCell on it', async () => {
    const c = server();
    try {
      await c.initialize(null, { storageDaemon: true });
      await c.waitFor(logged(/schema from a qemu-storage-daemon/), 60_000, 'the storage daemon\'s schema');
      const { labels } = await completionLabels(c, 'file:///tmp/qsd-complete.qmp', '{"execute": "query-¦"}');
      assert.ok(labels.includes('query-named-block-nodes') && labels.includes('query-block-jobs'), `storage-daemon queries among ${labels.join(',')}`);
      // A storage daemon has no guest: QEMU's machine queries are not offered.
      for (const absent of ['query-status', 'query-cpus-fast', 'query-machines']) assert.ok(!labels.includes(absent), `${absent} is not a storage-daemon command`);
      const nbd = await completionLabels(c, 'file:///tmp/qsd-complete2.qmp', '{"execute": "nbd-¦"}');
      assert.ok(nbd.labels.includes('nbd-server-start'), nbd.labels.join(','));
      const ok = await runCell(c, 'file:///tmp/qsd-run.qmp', '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "lspnode"}}\n{"execute": "query-named-block-nodes"}');
      assert.equal(ok.status, 'ok', JSON.stringify(ok));
      assert.match(ok.transcript.join('\n'), /"node-name": ?"lspnode"/);
      const types = ok.records.map((r) => r.type);
      for (const t of ['cell-started', 'written', 'reply', 'cell-finished']) assert.ok(types.includes(t), `${t} in ${types.join(',')}`);
      // Live values: completion of a node name offers the node the cell made on this daemon.
      const del = '{"execute": "blockdev-del", "arguments": {"node-name": "¦"}}';
      const live = await completionLabels(c, 'file:///tmp/qsd-live.qmp', del);
      assert.ok(live.labels.includes('lspnode'), `lspnode among ${live.labels.join(',')}`);
      // The same daemon: the node added by the previous run is still there.
      const again = await runCell(c, 'file:///tmp/qsd-run2.qmp', '{"execute": "blockdev-del", "arguments": {"node-name": "lspnode"}}');
      assert.equal(again.status, 'ok', JSON.stringify(again));
      // The command the cell ran made the cached names stale: the deleted node is no longer offered.
      const gone = await completionLabels(c, 'file:///tmp/qsd-live2.qmp', del);
      assert.ok(!gone.labels.includes('lspnode'), `lspnode deleted, yet among ${gone.labels.join(',')}`);
      // It is the daemon that answers: it has no query-status.
      const failed = await runCell(c, 'file:///tmp/qsd-run3.qmp', '{"execute": "query-status"}');
      assert.equal(failed.status, 'failed', JSON.stringify(failed));
      assert.match(failed.transcript.join('\n'), /CommandNotFound/);
    } finally {
      assert.equal(await c.shutdown(), 0);
    }
  });

  test('"guestAgent" in a trusted workspace file (a relative socket path): completion from guest-info, and qmp.runCell', async () => {
    // The agent's directory is the workspace: "qga.sock" is resolved against it.
    writeFileSync(path.join(agent.dir, '.qmp-notebook.json'), JSON.stringify({ guestAgent: 'qga.sock' }));
    const untrusted = server();
    try {
      await untrusted.initialize(pathToFileURL(agent.dir).href, {});
      await untrusted.waitFor(logged(/its connection \(the guest agent at .*qga\.sock\) is not used: set "trustWorkspaceConnections"/), 20_000, 'the trust warning');
      const r = await runCell(untrusted, 'file:///tmp/ga-untrusted.qmp', '{"execute": "guest-ping"}');
      assert.equal(r.status, 'refused');
      assert.match(r.message ?? '', /no QEMU is configured/);
    } finally {
      assert.equal(await untrusted.shutdown(), 0);
    }
    const c = server();
    try {
      await c.initialize(pathToFileURL(agent.dir).href, { trustWorkspaceConnections: true });
      await c.waitFor(logged(new RegExp(`schema from the guest agent at ${agent.socketPath.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`)), 60_000, 'the guest agent\'s schema');
      const { labels } = await completionLabels(c, 'file:///tmp/ga-complete.qmp', '{"execute": "guest-¦"}');
      for (const name of ['guest-ping', 'guest-info', 'guest-get-time']) assert.ok(labels.includes(name), `${name} among ${labels.join(',')}`);
      assert.ok(!labels.includes('query-status'), 'QEMU\'s commands are not the guest agent\'s');
      const ok = await runCell(c, 'file:///tmp/ga-run.qmp', '{"execute": "guest-ping"}\n{"execute": "guest-get-time"}');
      assert.equal(ok.status, 'ok', JSON.stringify(ok));
      assert.ok(ok.records.filter((r) => r.type === 'reply').length === 2, JSON.stringify(ok.records));
      // A guest agent has no out-of-band execution: the cell is refused or fails, and guest-ping was never run OOB.
      const oob = await runCell(c, 'file:///tmp/ga-oob.qmp', '{"exec-oob": "guest-ping"}');
      assert.notEqual(oob.status, 'ok', JSON.stringify(oob));
      assert.match(oob.transcript.join('\n'), /out-of-band/);
    } finally {
      assert.equal(await c.shutdown(), 0);
    }
    assert.ok(agent.alive(), `qemu-ga still runs after the server closed: ${agent.log()}`);
  });
});

describe('qmp-notebook lsp on a libvirt domain', () => {
  const domain = `qmplsp-${process.pid}`;
  before(async () => {
    await ensureLibvirtd();
    createTestDomain(domain);
  });
  after(() => destroyTestDomain(domain));

  test('"libvirt" with "connect": completion from the domain\'s QEMU schema, and qmp.runCell through virsh', async () => {
    const c = server();
    try {
      await c.initialize(null, { libvirt: domain, connect: libvirtUri });
      await c.waitFor(logged(new RegExp(`schema from the libvirt domain ${domain} \\(qemu:///system\\)`)), 60_000, 'the domain\'s schema');
      const { labels } = await completionLabels(c, 'file:///tmp/lv-complete.qmp', '{"execute": "query-sta¦"}');
      assert.ok(labels.includes('query-status'), labels.join(','));
      const ok = await runCell(c, 'file:///tmp/lv-run.qmp', '{"execute": "query-name"}');
      assert.equal(ok.status, 'ok', JSON.stringify(ok));
      assert.match(ok.transcript.join('\n'), new RegExp(`"name": ?"${domain}"`));
    } finally {
      assert.equal(await c.shutdown(), 0);
    }
  });
});
