// "QMP: Add Connection…" for every kind of connection, against the real daemons: a private storage daemon (the
// shipped samples/storage-daemon.qmp opened, its profile added under the name the notebook asks for, and run),
// a storage daemon already listening on a socket, a qemu-ga socket, a libvirt domain. The checks made while
// typing are tested as the functions they are: the text, the machine (is it a socket?), the suggested name.
// On each kind, the editor's Run as Test gives the verdicts and problems the packaged `qmp-notebook test` gives
// on the same notebook and the same kind of connection.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { listDomains, startStorageDaemon, type StorageDaemon } from '../../src/endpoints/index';
import { checkAddress, checkSocketOnMachine, suggestName } from '../../src/session/addConnection';
import type { EndpointPrompter } from '../../src/session/endpointPrompts';
import { createTestDomain, destroyTestDomain, ensureLibvirtd, libvirtUri, startGuestAgent, type TestGuestAgent } from '../support/daemons';
import { api, closeAndForget, outputTexts, runCells, sameTestVerdicts, waitFor } from './hostHelpers';

const repoRoot = path.resolve(__dirname, '..', '..', '..');

suite('session: add connection, every kind', () => {
  const notebooks: vscode.NotebookDocument[] = [];
  let dir: string | undefined;
  let agent: TestGuestAgent | undefined;
  let daemon: StorageDaemon | undefined;
  let domain: string | undefined;
  let original: EndpointPrompter['warning'] | undefined;

  teardown(async function () {
    this.timeout(60_000);
    const qmp = await api();
    if (original) qmp.prompter.warning = original;
    original = undefined;
    await closeAndForget(qmp, notebooks);
    await agent?.stop();
    agent = undefined;
    await daemon?.dispose();
    daemon = undefined;
    if (domain) destroyTestDomain(domain);
    domain = undefined;
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  /** A notebook file with the cells of `openCells` (the same cells, the same profile), for the command line. */
  function fileOf(profile: string, sources: string[]): string {
    dir ??= fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-add-kinds-'));
    const file = path.join(dir, `${profile}.qmp`);
    fs.writeFileSync(file, `---\nprofile: ${profile}\n---\n\n${sources.map((s) => `\`\`\`qmp\n${s}\n\`\`\`\n`).join('\n')}`);
    return file;
  }

  async function add(given: Record<string, unknown>): Promise<string | undefined> {
    return vscode.commands.executeCommand<string | undefined>('qmp.addConnection', { target: 'workspace', ...given });
  }

  async function openCells(profile: string, sources: string[]): Promise<vscode.NotebookDocument> {
    const data = new vscode.NotebookData(sources.map((s) => new vscode.NotebookCellData(vscode.NotebookCellKind.Code, s, 'qmp')));
    data.metadata = { profile };
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook', data);
    notebooks.push(nb);
    await vscode.window.showNotebookDocument(nb);
    return nb;
  }

  test('the checks while typing: every kind\'s text, the machine (socket or not), the suggested name', async () => {
    assert.deepEqual(checkAddress('storage-daemon', undefined), { ok: true, entry: { storageDaemon: true } });
    assert.deepEqual(checkAddress('storage-daemon-socket', '/run/qsd/qmp.sock'), { ok: true, entry: { socket: '/run/qsd/qmp.sock' } });
    assert.deepEqual(checkAddress('guest-agent', '/run/qemu/vm1-qga.sock'), { ok: true, entry: { guestAgent: '/run/qemu/vm1-qga.sock' } });
    assert.deepEqual(checkAddress('guest-agent', 'unix:/run/qga.sock,server=on'), { ok: true, entry: { guestAgent: '/run/qga.sock' } });
    assert.deepEqual(checkAddress('guest-agent', '127.0.0.1:5555'), { ok: true, entry: { guestAgent: '127.0.0.1:5555' } });
    assert.equal(checkAddress('guest-agent', 'qga.sock').ok, false);
    assert.equal(checkAddress('guest-agent', '').ok, false);
    assert.deepEqual(checkAddress('libvirt', 'qemu:///system', 'vm1'), { ok: true, entry: { libvirt: { uri: 'qemu:///system', domain: 'vm1' } } });
    assert.deepEqual(checkAddress('libvirt', '', 'vm1'), { ok: true, entry: { libvirt: { domain: 'vm1' } } });
    assert.match(JSON.stringify(checkAddress('libvirt', 'qemu:///system', ' ')), /Pick a domain/);
    assert.equal(checkAddress('libvirt', 'qemu:// system', 'vm1').ok, false);

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-host-add-'));
    const missing = await checkSocketOnMachine(path.join(dir, 'none.sock'));
    assert.equal(missing?.severity, 'warning', 'nothing there yet: saved anyway, with a warning');
    fs.writeFileSync(path.join(dir, 'file'), '');
    assert.deepEqual(await checkSocketOnMachine(path.join(dir, 'file')), { severity: 'error', message: `${path.join(dir, 'file')} is a file, not a socket.` });
    assert.equal((await checkSocketOnMachine(dir))?.severity, 'error');
    const sock = path.join(dir, 'real.sock');
    const server = net.createServer().listen(sock);
    await new Promise((r) => server.once('listening', r));
    try {
      assert.equal(await checkSocketOnMachine(sock), undefined, 'a socket passes');
    } finally {
      server.close();
    }

    const existing = [{ name: 'sandbox' }, { name: 'vm1' }];
    assert.equal(suggestName('socket', '/run/qemu/vm1.qmp', undefined, existing), 'vm1-2');
    assert.equal(suggestName('socket', '/run/qemu/web.sock', undefined, existing), 'web');
    assert.equal(suggestName('tcp', '127.0.0.1:4444', undefined, existing), '127.0.0.1-4444');
    assert.equal(suggestName('guest-agent', '/run/qemu/web-qga.sock', undefined, existing), 'web-qga');
    assert.equal(suggestName('libvirt', 'qemu:///system', 'db', existing), 'db');
    assert.equal(suggestName('storage-daemon', undefined, undefined, existing), 'storage-daemon');
    assert.equal(suggestName('sandbox', undefined, undefined, existing, 'from-notebook'), 'from-notebook', 'the name the notebook asks for first');
    assert.equal(suggestName('sandbox', undefined, undefined, existing, 'vm1'), 'sandbox-2', 'unless a profile has it');
  });

  test('a private storage daemon: samples/storage-daemon.qmp opens, gets its profile from Add Connection, and runs', async function () {
    this.timeout(120_000);
    const qmp = await api();
    const nb = await vscode.workspace.openNotebookDocument(vscode.Uri.file(path.join(repoRoot, 'samples', 'storage-daemon.qmp')));
    notebooks.push(nb);
    await vscode.window.showNotebookDocument(nb);
    assert.equal(qmp.controllers.profileOf(nb), 'storage-daemon', 'the sample names its profile');
    assert.equal(qmp.sessions.profile('storage-daemon'), undefined, 'which does not exist yet');
    const suggested = suggestName('storage-daemon', undefined, undefined, qmp.sessions.profiles, 'storage-daemon');
    assert.equal(await add({ kind: 'storage-daemon', name: suggested }), 'storage-daemon');
    assert.deepEqual(vscode.workspace.getConfiguration('qmp').inspect<unknown[]>('connections')?.workspaceValue,
      [{ name: 'storage-daemon', storageDaemon: true }]);
    await waitFor(qmp.controllers.onDidChangeNotebookProfile, () => (qmp.controllers.profileOf(nb) === 'storage-daemon' ? true : undefined), 'its kernel');
    const code = nb.getCells().filter((c) => c.kind === vscode.NotebookCellKind.Code);
    const outcomes = await runCells(qmp, nb, code.map((c) => c.index));
    for (const c of code) {
      assert.equal(outcomes.get(c.index), 'succeeded', `${c.document.getText()}: ${JSON.stringify(outputTexts(c))}`);
    }
    assert.equal(qmp.sessions.session('storage-daemon')?.endpoint, 'storage-daemon');
    // Run as Test (a fresh private daemon) and `test --storage-daemon` on the sample: the same verdicts.
    await sameTestVerdicts(nb, path.join(repoRoot, 'samples', 'storage-daemon.qmp'), ['--storage-daemon']);
  });

  test('a storage daemon on a socket, and a guest agent socket', async function () {
    this.timeout(120_000);
    const qmp = await api();
    daemon = await startStorageDaemon();
    assert.equal(daemon.address.kind, 'unix');
    const qsdSocket = daemon.address.kind === 'unix' ? daemon.address.path : '';
    assert.equal(await checkSocketOnMachine(qsdSocket), undefined);
    const nb = await openCells('qsd', ['{ "execute": "query-named-block-nodes" }']);
    assert.equal(await add({ kind: 'storage-daemon-socket', address: qsdSocket, name: 'qsd' }), 'qsd');
    await waitFor(qmp.controllers.onDidChangeNotebookProfile, () => (qmp.controllers.profileOf(nb) === 'qsd' ? true : undefined), 'the qsd kernel');
    assert.equal((await runCells(qmp, nb, [0])).get(0), 'succeeded', JSON.stringify(outputTexts(nb.cellAt(0))));
    assert.equal(qmp.sessions.session('qsd')?.endpoint, 'storage-daemon', 'found from its schema');

    agent = await startGuestAgent();
    assert.equal(await checkSocketOnMachine(agent.socketPath), undefined);
    const gaCells = ['{ "execute": "guest-ping" }\n<- {"return": {}}'];
    const ga = await openCells('ga-added', gaCells);
    assert.equal(await add({ kind: 'guest-agent', address: agent.socketPath, name: 'ga-added' }), 'ga-added');
    assert.deepEqual(qmp.sessions.profile('ga-added'), { name: 'ga-added', kind: 'guest-agent', address: { kind: 'unix', path: agent.socketPath } });
    await waitFor(qmp.controllers.onDidChangeNotebookProfile, () => (qmp.controllers.profileOf(ga) === 'ga-added' ? true : undefined), 'the agent kernel');
    assert.equal((await runCells(qmp, ga, [0])).get(0), 'succeeded', JSON.stringify(outputTexts(ga.cellAt(0))));
    // Run as Test on the live agent session, then `test --guest-agent` once the session let the agent go.
    await sameTestVerdicts(ga, fileOf('ga-added', gaCells), ['--guest-agent', agent.socketPath], async () => {
      await qmp.sessions.disconnect('ga-added');
      if (agent && !agent.alive()) await agent.restart();
    });
  });

  test('a libvirt domain: its URI lists it, the profile is written, and a cell runs on it', async function () {
    this.timeout(180_000);
    const qmp = await api();
    await ensureLibvirtd();
    domain = `qmpadd-${process.pid}`;
    createTestDomain(domain);
    assert.ok((await listDomains({ uri: libvirtUri }, 10_000)).includes(domain), 'the URI answers and lists the domain');
    await assert.rejects(listDomains({ uri: 'qemu:///nowhere-at-all' }, 10_000));
    original = qmp.prompter.warning;
    qmp.prompter.warning = (_message, _options, ...items) => Promise.resolve(items[0]);
    const cells = [`{ "execute": "query-name" }\n<- {"return": {"name": "${domain}"}}`];
    const nb = await openCells(domain, cells);
    assert.equal(suggestName('libvirt', libvirtUri, domain, qmp.sessions.profiles, undefined), domain);
    assert.equal(await add({ kind: 'libvirt', address: libvirtUri, domain, name: domain }), domain);
    assert.deepEqual(qmp.sessions.profile(domain), { name: domain, kind: 'libvirt', domain, uri: libvirtUri });
    await waitFor(qmp.controllers.onDidChangeNotebookProfile, () => (qmp.controllers.profileOf(nb) === domain ? true : undefined), 'the domain kernel');
    assert.equal((await runCells(qmp, nb, [0])).get(0), 'succeeded', JSON.stringify(outputTexts(nb.cellAt(0))));
    await sameTestVerdicts(nb, fileOf(domain, cells), ['--libvirt', domain, '--connect', libvirtUri]);
  });
});
