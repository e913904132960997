// Sessions in a real extension host: the sandbox QEMU the extension starts, a QEMU the test starts on a unix
// socket and configures through workspace settings, and reconnection after that QEMU is killed and restarted.
// On the unix socket and on TCP a notebook runs, and Run as Test gives what the packaged `qmp-notebook test`
// gives on the same notebook and socket.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { parseProfiles } from '../../src/session/profiles';
import { freePort, processAlive, waitForListening } from '../support/net';
import { startQemu, type TestQemu } from '../support/qemu';
import { api, closeAndForget, disconnectAll, outputTexts, recordStates, runCells, sameTestVerdicts, showWithKernel, waitFor, waitForState } from './hostHelpers';

suite('sessions', () => {
  const qemus: TestQemu[] = [];
  let socketDir: string | undefined;
  const notebooks: vscode.NotebookDocument[] = [];

  /**
   * A notebook file of one cell with its reply written under it, on `profile`: the editor runs it, then Run as
   * Test and `qmp-notebook test` with `flags` agree on it (the session lets the monitor go before the CLI connects).
   */
  async function runAndTest(profile: string, flags: string[]): Promise<void> {
    const qmp = await api();
    socketDir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-host-'));
    const file = path.join(socketDir, `${profile}.qmp`);
    fs.writeFileSync(file, `---\nprofile: ${profile}\n---\n\n\`\`\`qmp\n{"execute": "query-name"}\n<- {"return": {}}\n\`\`\`\n`);
    const nb = await vscode.workspace.openNotebookDocument(vscode.Uri.file(file));
    notebooks.push(nb);
    await showWithKernel(nb, qmp, profile);
    const code = nb.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
    assert.equal((await runCells(qmp, nb, code.map((c) => c.index))).get(code[0]?.index ?? -1), 'succeeded', JSON.stringify(outputTexts(code[0] as vscode.NotebookCell)));
    await sameTestVerdicts(nb, file, flags, async () => { await qmp.sessions.disconnect(profile); });
  }

  teardown(async () => {
    const qmp = await api();
    await closeAndForget(qmp, notebooks);
    await disconnectAll(qmp);
    await vscode.workspace.getConfiguration('qmp').update('connections', undefined, vscode.ConfigurationTarget.Workspace);
    await Promise.all(qemus.splice(0).map((q) => q.stop()));
    if (socketDir) fs.rmSync(socketDir, { recursive: true, force: true });
    socketDir = undefined;
  });

  test('profiles: invalid entries are skipped with a reason, the first of two names wins, sandbox is added', () => {
    const { profiles, problems } = parseProfiles([
      { name: 'a', socket: '/run/a.sock' },
      { name: 'b', host: 'localhost', port: 4444 },
      { name: 'a', socket: '/run/other.sock' },
      { name: 'c', host: 'localhost' },
      { socket: '/run/nameless.sock' },
      { name: 'd', sandbox: true },
    ]);
    assert.deepEqual(profiles, [
      { name: 'sandbox', kind: 'sandbox' },
      { name: 'a', kind: 'unix', socket: '/run/a.sock' },
      { name: 'b', kind: 'tcp', host: 'localhost', port: 4444 },
      { name: 'd', kind: 'sandbox' },
    ]);
    assert.equal(problems.length, 3);
    assert.match(problems.join('\n'), /"a" already exists/);
    assert.deepEqual(parseProfiles([{ name: 'sandbox', socket: '/s' }]).profiles, [{ name: 'sandbox', kind: 'unix', socket: '/s' }]);
  });

  test('the sandbox profile exists without any configuration', async () => {
    const qmp = await api();
    const sandbox = qmp.sessions.profile('sandbox');
    assert.deepEqual(sandbox, { name: 'sandbox', kind: 'sandbox' });
    assert.ok(qmp.controllers.controllerFor('sandbox'), 'the kernel picker lists the sandbox');
  });

  test('starting the sandbox launches QEMU, loads the schema and shows the session in the status bar', async () => {
    const qmp = await api();
    const seen = recordStates(qmp, 'sandbox');
    try {
      const ok = await vscode.commands.executeCommand<boolean>('qmp.startSandbox');
      assert.equal(ok, true);
      const s = qmp.sessions.session('sandbox');
      assert.ok(s);
      assert.equal(s.state, 'connected');
      assert.deepEqual(seen.states, ['connecting', 'connected']);
      assert.ok(s.schema, 'the schema is loaded');
      assert.equal(s.schema.cached, false);
      assert.ok(s.version && s.version.major >= 7, `QEMU version ${JSON.stringify(s.version)}`);
      assert.equal(s.oobEnabled, true);
      assert.ok(qmp.schemaSource.current()?.schema, 'the language features see the schema');
      await s.cacheSaved;
      const cached = JSON.parse(new TextDecoder().decode(await vscode.workspace.fs.readFile(qmp.sessions.schemaCacheFile('sandbox')))) as
        { version?: { major?: number }; schema?: unknown[] };
      assert.equal(cached.version?.major, s.version.major, 'the cache names the QEMU version');
      assert.ok(Array.isArray(cached.schema) && cached.schema.length > 500, 'the whole schema is cached');
      const cacheFile = qmp.sessions.schemaCacheFile('sandbox').fsPath;
      assert.equal(fs.statSync(cacheFile).mode & 0o777, 0o600, 'the cached schema is private to the user');
      assert.equal(fs.statSync(path.dirname(cacheFile)).mode & 0o777, 0o700, 'so is its folder');
      const pid = s.sandbox?.pid;
      assert.ok(pid !== undefined && processAlive(pid), 'the sandbox QEMU runs');
      const text = qmp.statusBar.textOf('sandbox') ?? '';
      assert.match(text, /sandbox · QEMU \d+\.\d+\.\d+ · OOB/);

      await vscode.commands.executeCommand('qmp.stopSandbox');
      assert.equal(s.state, 'disconnected');
      assert.equal(qmp.statusBar.textOf('sandbox'), undefined, 'no status bar item for a disconnected session');
      assert.equal(qmp.schemaSource.current()?.cached, true, 'without a connection the schema is the cached one');
      assert.equal(processAlive(pid), false, 'stopping the sandbox kills its QEMU');
    } finally {
      seen.dispose();
    }
  });

  test('a profile from the workspace settings connects to a QEMU on a unix socket', async () => {
    const qmp = await api();
    const qemu = await startQemu();
    qemus.push(qemu);
    const changed = waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.sessions.profile('test-vm'), 'the test-vm profile');
    await vscode.workspace.getConfiguration('qmp').update('connections', [{ name: 'test-vm', socket: qemu.socketPath }],
      vscode.ConfigurationTarget.Workspace);
    assert.deepEqual(await changed, { name: 'test-vm', kind: 'unix', socket: qemu.socketPath });
    assert.ok(qmp.controllers.controllerFor('test-vm'), 'the kernel picker lists the new profile');
    const ok = await vscode.commands.executeCommand<boolean>('qmp.connect', 'test-vm');
    assert.equal(ok, true);
    const s = qmp.sessions.session('test-vm');
    assert.equal(s?.state, 'connected');
    assert.ok(s?.schema && !s.schema.cached);
    assert.equal(s?.sandbox, undefined, 'no sandbox for a socket profile');
    await runAndTest('test-vm', ['--socket', qemu.socketPath]);
  });

  test('a TCP profile connects to a QEMU listening on 127.0.0.1', async () => {
    const qmp = await api();
    const port = await freePort();
    const qemu = await startQemu({ tcpPort: port });
    qemus.push(qemu);
    await vscode.workspace.getConfiguration('qmp').update('connections', [{ name: 'tcp-vm', host: '127.0.0.1', port }],
      vscode.ConfigurationTarget.Workspace);
    await waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.sessions.profile('tcp-vm'), 'the tcp-vm profile');
    const s = await qmp.sessions.connect('tcp-vm');
    assert.equal(s.state, 'connected');
    assert.deepEqual(s.address, { kind: 'tcp', host: '127.0.0.1', port });
    assert.ok(s.schema && !s.schema.cached);
    await runAndTest('tcp-vm', ['--tcp', `127.0.0.1:${port}`]);
  });

  test('a QEMU that dies puts the session in error, and it reconnects when QEMU is back', async () => {
    const qmp = await api();
    socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-host-'));
    fs.chmodSync(socketDir, 0o700);
    const socket = path.join(socketDir, 'qmp.sock');
    const monitor = ['-qmp', `unix:${socket},server=on,wait=off`];
    const first = await startQemu({ noUnixMonitor: true, args: monitor });
    qemus.push(first);
    await vscode.workspace.getConfiguration('qmp').update('connections', [{ name: 'flaky', socket }],
      vscode.ConfigurationTarget.Workspace);
    await waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.sessions.profile('flaky'), 'the flaky profile');
    await waitForListening(socket);
    await qmp.sessions.connect('flaky');
    const s = qmp.sessions.session('flaky');
    assert.ok(s);
    const generation = s.generation;
    const seen = recordStates(qmp, 'flaky');
    try {
      first.process.kill('SIGKILL');
      await waitForState(qmp, 'flaky', ['reconnecting', 'error']);
      assert.match(s.lastError ?? '', /went away/);
      assert.match(qmp.statusBar.textOf('flaky') ?? '', /reconnecting|error/);
      const second = await startQemu({ noUnixMonitor: true, args: monitor });
      qemus.push(second);
      await waitForState(qmp, 'flaky', ['connected']);
      assert.ok(s.generation > generation, 'a new connection');
      assert.equal(seen.states[0], 'reconnecting');
      assert.equal(seen.states[seen.states.length - 1], 'connected');
      assert.ok(s.schema && !s.schema.cached, 'the schema is loaded again after reconnecting');
    } finally {
      seen.dispose();
    }
  });

  test('connecting to a profile whose monitor is not there fails with the reason and leaves the session in error', async () => {
    const qmp = await api();
    socketDir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-host-'));
    const socket = path.join(socketDir, 'nothing.sock');
    await vscode.workspace.getConfiguration('qmp').update('connections', [{ name: 'absent', socket }],
      vscode.ConfigurationTarget.Workspace);
    await waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.sessions.profile('absent'), 'the absent profile');
    await assert.rejects(qmp.sessions.connect('absent'));
    const s = qmp.sessions.session('absent');
    assert.equal(s?.state, 'error');
    assert.ok(s?.lastError, 'the error is kept for the status bar');
    assert.match(qmp.statusBar.textOf('absent') ?? '', /absent · error/);
  });
});
