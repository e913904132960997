// "QMP: Add Connection…": validates, writes qmp.connections where asked, and selects the new profile's kernel for
// the active notebook; the checks behind its input boxes are tested as the functions they are.
import * as assert from 'node:assert/strict';
import * as vscode from 'vscode';
import { checkAddress, checkProfileName } from '../../src/session/addConnection';
import { parseProfiles } from '../../src/session/profiles';
import { startQemu, type TestQemu } from '../support/qemu';
import { QmpControllers } from '../../src/notebook/controller';
import { api, disconnectAll, extensionId, runCells, waitFor } from './hostHelpers';

suite('session: add connection', () => {
  const qemus: TestQemu[] = [];

  teardown(async () => {
    const qmp = await api();
    await disconnectAll(qmp);
    const config = vscode.workspace.getConfiguration('qmp');
    await config.update('connections', undefined, vscode.ConfigurationTarget.Workspace);
    await config.update('connections', undefined, vscode.ConfigurationTarget.Global);
    await Promise.all(qemus.splice(0).map((q) => q.stop()));
  });

  test('the input checks accept the three forms and say what is wrong with the rest', () => {
    assert.deepEqual(checkAddress('socket', '/run/qemu/vm.qmp'), { ok: true, entry: { socket: '/run/qemu/vm.qmp' } });
    assert.deepEqual(checkAddress('socket', 'unix:/run/q.sock,server=on'), { ok: true, entry: { socket: '/run/q.sock' } });
    assert.match(JSON.stringify(checkAddress('socket', 'vm.qmp')), /absolute path/);
    assert.match(JSON.stringify(checkAddress('socket', '  ')), /path of the QMP socket/);
    assert.deepEqual(checkAddress('tcp', '127.0.0.1:4444'), { ok: true, entry: { host: '127.0.0.1', port: 4444 } });
    assert.deepEqual(checkAddress('tcp', '[::1]:4444'), { ok: true, entry: { host: '::1', port: 4444 } });
    assert.deepEqual(checkAddress('tcp', 'tcp:localhost:5555'), { ok: true, entry: { host: 'localhost', port: 5555 } });
    // QEMU's own spelling `tcp::4444` means the local host; so does ':4444' here.
    assert.deepEqual(checkAddress('tcp', ':4444'), { ok: true, entry: { host: '127.0.0.1', port: 4444 } });
    for (const bad of ['localhost', 'localhost:0', 'localhost:70000', 'a:b', '/run/qmp.sock']) {
      assert.equal(checkAddress('tcp', bad).ok, false, bad);
    }
    assert.deepEqual(checkAddress('sandbox', undefined), { ok: true, entry: { sandbox: true } });
    assert.equal(checkProfileName('vm1', [{ name: 'sandbox' }]), undefined);
    assert.match(checkProfileName('sandbox', [{ name: 'sandbox' }]) ?? '', /exists already/);
    assert.match(checkProfileName('  ', []) ?? '', /needs a name/);
  });

  test('adds a socket profile to the workspace settings and selects its kernel for the active notebook', async () => {
    const qmp = await api();
    const qemu = await startQemu();
    qemus.push(qemu);
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook',
      new vscode.NotebookData([new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "query-status" }', 'qmp')]));
    await vscode.window.showNotebookDocument(nb);

    const name = await vscode.commands.executeCommand<string | undefined>('qmp.addConnection',
      { kind: 'socket', address: qemu.socketPath, name: 'added', target: 'workspace' });
    assert.equal(name, 'added');
    const written = vscode.workspace.getConfiguration('qmp').inspect<unknown[]>('connections')?.workspaceValue;
    assert.deepEqual(written, [{ name: 'added', socket: qemu.socketPath }]);
    assert.deepEqual(qmp.sessions.profile('added'), { name: 'added', kind: 'unix', socket: qemu.socketPath });
    await waitFor(qmp.controllers.onDidChangeNotebookProfile, () => (qmp.controllers.profileOf(nb) === 'added' ? true : undefined),
      'the new kernel to be selected for the notebook');

    // The selected kernel is the new profile: running the cell connects to that QEMU.
    const outcomes = await runCells(qmp, nb, [0]);
    assert.equal(outcomes.get(0), 'succeeded');
    assert.equal(qmp.sessions.session('added')?.state, 'connected');
  });

  test('the kernel picker offers "Add QMP Connection…"; cancelling it puts the notebook\'s kernel back', async () => {
    const qmp = await api();
    const nb = await vscode.workspace.openNotebookDocument('qmp-notebook',
      new vscode.NotebookData([new vscode.NotebookCellData(vscode.NotebookCellKind.Code, '{ "execute": "query-status" }', 'qmp')]));
    await vscode.window.showNotebookDocument(nb);
    const before = qmp.sessions.profiles.map((p) => p.name);
    // Two kernels (the sandbox and "Add QMP Connection…"): the sandbox is still selected without asking.
    await waitFor(qmp.controllers.onDidChangeNotebookProfile, () => (qmp.controllers.profileOf(nb) === 'sandbox' ? true : undefined),
      'the sandbox kernel to be selected by itself');

    // Picking the entry opens the Add Connection flow (its first quick pick); the sandbox is no longer selected.
    await vscode.commands.executeCommand('notebook.selectKernel', { id: QmpControllers.addConnectionId, extension: extensionId });
    await waitFor(qmp.controllers.onDidChangeNotebookProfile, () => (qmp.controllers.profileOf(nb) === undefined ? true : undefined),
      'the sandbox kernel to be deselected', 10_000);
    // Dismiss the flow's quick pick (it may take a moment to show): the notebook is back on the sandbox kernel.
    const deadline = Date.now() + 20_000;
    while (qmp.controllers.profileOf(nb) !== 'sandbox' && Date.now() < deadline) {
      await vscode.commands.executeCommand('workbench.action.closeQuickOpen');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    assert.equal(qmp.controllers.profileOf(nb), 'sandbox', 'the kernel the notebook had is selected again');
    assert.deepEqual(qmp.sessions.profiles.map((p) => p.name), before, 'nothing was added');
    const outcomes = await runCells(qmp, nb, [0]);
    assert.equal(outcomes.get(0), 'succeeded', 'the notebook still runs on the sandbox');
  });

  test('a TCP profile goes to the user settings when asked; bad input is refused and nothing is written', async () => {
    const qmp = await api();
    const added = await vscode.commands.executeCommand<string | undefined>('qmp.addConnection',
      { kind: 'tcp', address: '127.0.0.1:4444', name: 'remote', target: 'user' });
    assert.equal(added, 'remote');
    assert.deepEqual(vscode.workspace.getConfiguration('qmp').inspect<unknown[]>('connections')?.globalValue,
      [{ name: 'remote', host: '127.0.0.1', port: 4444 }]);
    assert.ok(qmp.sessions.profile('remote'));

    for (const bad of [
      { kind: 'tcp', address: 'no-port', name: 'bad1', target: 'user' },
      { kind: 'socket', address: 'relative.sock', name: 'bad2', target: 'user' },
      { kind: 'sandbox', name: 'remote', target: 'user' },
    ]) {
      assert.equal(await vscode.commands.executeCommand<string | undefined>('qmp.addConnection', bad), undefined, JSON.stringify(bad));
    }
    assert.deepEqual(vscode.workspace.getConfiguration('qmp').inspect<unknown[]>('connections')?.globalValue,
      [{ name: 'remote', host: '127.0.0.1', port: 4444 }], 'refused input wrote nothing');
  });

  test('a profile may declare the -compat policy its QEMU runs with; a non-string is refused with a reason', () => {
    const { profiles, problems } = parseProfiles([
      { name: 'strict', socket: '/run/strict.sock', compat: 'deprecated-input=reject,unstable-input=reject' },
      { name: 'odd', socket: '/run/odd.sock', compat: 1 },
    ]);
    assert.deepEqual(profiles.find((p) => p.name === 'strict'),
      { name: 'strict', kind: 'unix', socket: '/run/strict.sock', compat: 'deprecated-input=reject,unstable-input=reject' });
    assert.deepEqual(profiles.find((p) => p.name === 'odd'), { name: 'odd', kind: 'unix', socket: '/run/odd.sock' });
    assert.match(problems.join('\n'), /"compat" must be a -compat value/);
  });

  test('the walkthrough and the notebook toolbar offer it', () => {
    const extension = vscode.extensions.getExtension('qmp-notebook.qmp-notebook');
    const contributes = extension?.packageJSON.contributes as {
      walkthroughs: { steps: { description: string }[] }[]; menus: Record<string, { command: string }[]>;
    };
    assert.ok(contributes.walkthroughs[0]?.steps.some((s) => s.description.includes('command:qmp.addConnection')));
    assert.ok(contributes.menus['notebook/toolbar']?.some((m) => m.command === 'qmp.addConnection'));
  });
});
