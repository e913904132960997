// The status bar item of a session: what a screen reader hears is the state the item shows, in words, kept up
// to date on every change; a failed profile's item offers Retry and Dismiss.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { waitForListening } from '../support/net';
import { startQemu, type TestQemu } from '../support/qemu';
import { api, disconnectAll, waitFor, waitForState } from './hostHelpers';

/** A label is words: no `$(icon)` ids, no Markdown emphasis, links or escapes. */
function assertPlainWords(label: string | undefined): string {
  assert.ok(label, 'the item has an accessibility label');
  assert.doesNotMatch(label, /\$\(|\*\*|\]\(|\\|`/, `the label is plain words: ${label}`);
  return label;
}

suite('session status bar item', () => {
  const qemus: TestQemu[] = [];
  let dir: string | undefined;

  teardown(async () => {
    const qmp = await api();
    await disconnectAll(qmp);
    await vscode.workspace.getConfiguration('qmp').update('connections', undefined, vscode.ConfigurationTarget.Workspace);
    await Promise.all(qemus.splice(0).map((q) => q.stop()));
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  test('the accessibility label is the visible state in words, and follows every change', async () => {
    const qmp = await api();
    const labels: string[] = [];
    const sub = qmp.sessions.onDidChangeState((s) => {
      const label = qmp.statusBar.itemOf(s.name)?.label;
      if (s.name === 'sandbox' && label) labels.push(label);
    });
    try {
      assert.equal(await vscode.commands.executeCommand<boolean>('qmp.startSandbox'), true);
      const item = qmp.statusBar.itemOf('sandbox');
      const label = assertPlainWords(item?.label);
      const s = qmp.sessions.session('sandbox');
      assert.ok(s?.version);
      assert.equal(label, `QMP sandbox: connected to QEMU ${s.version.major}.${s.version.minor}.${s.version.micro}, out-of-band execution on`);
      // The label of the connecting state was replaced, not left behind (the stale-label bug).
      assert.ok(labels.some((l) => /: connecting$/.test(l)), `labels seen: ${labels.join(' | ')}`);
      assert.equal(item?.command?.command, 'qmp.showLog');
      // A restart: the new item speaks the new state.
      await vscode.commands.executeCommand('qmp.stopSandbox');
      assert.equal(qmp.statusBar.itemOf('sandbox'), undefined, 'a disconnected session has no item');
      assert.equal(await vscode.commands.executeCommand<boolean>('qmp.startSandbox'), true);
      assert.match(assertPlainWords(qmp.statusBar.itemOf('sandbox')?.label), /^QMP sandbox: connected to QEMU \d+\.\d+\.\d+/);
    } finally {
      sub.dispose();
    }
  });

  test('a wedged in-band queue is visible: the item says QEMU is busy, offers Reconnect, and recovers', async function () {
    this.timeout(90_000);
    const qmp = await api();
    assert.equal(await vscode.commands.executeCommand<boolean>('qmp.startSandbox'), true);
    const s = qmp.sessions.session('sandbox');
    const client = s?.liveClient;
    assert.ok(client);
    // The tour's recipe: an NBD disk on the sandbox's own QMP socket holds QEMU's main loop until open-timeout.
    const blocked = client.send({ execute: 'blockdev-add', arguments: {
      driver: 'nbd', 'node-name': 'stuck', server: { type: 'unix', path: 'qmp.sock' }, export: 'demo', 'open-timeout': 5,
    } }, { timeoutMs: 60_000 }).catch((err: unknown) => err);
    // Seven fill the window behind it; the last two wait in the client, unsent.
    const behind = Array.from({ length: 8 }, () => client.send({ execute: 'query-status' }, { timeoutMs: 60_000 }).catch((err: unknown) => err));
    await waitFor(qmp.sessions.onDidChangeWedged,
      () => (/QEMU has not answered \d+ in-band commands; \d+ more wait unsent/.test(qmp.statusBar.itemOf('sandbox')?.label ?? '') ? true : undefined),
      'the label says QEMU is busy', 20_000);
    const item = qmp.statusBar.itemOf('sandbox');
    assertPlainWords(item?.label);
    assert.equal(item?.command?.command, 'qmp.sessionActions', 'clicking offers Reconnect or waiting');
    assert.ok(s?.wedged && s.wedged.queued >= 1, `wedged: ${JSON.stringify(s?.wedged)}`);
    // The block ends (open-timeout): everything is answered and the item is back to normal.
    await blocked;
    await Promise.all(behind);
    await waitFor(qmp.sessions.onDidChangeWedged,
      () => (/connected to QEMU/.test(qmp.statusBar.itemOf('sandbox')?.label ?? '') ? true : undefined), 'the label recovers', 20_000);
    assert.equal(s?.wedged, undefined);
  });

  test('a failed profile says why, and its item offers Retry (which connects once QEMU is there) and Dismiss', async () => {
    const qmp = await api();
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'qmp-host-status-'));
    fs.chmodSync(dir, 0o700);
    const socket = path.join(dir, 'later.sock');
    await vscode.workspace.getConfiguration('qmp').update('connections',
      [{ name: 'later', socket }, { name: 'never', socket: path.join(dir, 'never.sock') }], vscode.ConfigurationTarget.Workspace);
    await waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.sessions.profile('never'), 'the two profiles');

    await assert.rejects(qmp.sessions.connect('later'));
    const failed = qmp.statusBar.itemOf('later');
    assert.match(assertPlainWords(failed?.label), /^QMP later: error: .+\. Activate to retry or dismiss\.$/);
    assert.equal(failed?.command?.command, 'qmp.sessionActions', 'clicking a failed item offers Retry and Dismiss');
    assert.deepEqual(failed?.command?.arguments, ['later']);

    // Retry, as the item's Retry does: once a QEMU listens there, the same profile connects.
    const qemu = await startQemu({ noUnixMonitor: true, args: ['-qmp', `unix:${socket},server=on,wait=off`] });
    qemus.push(qemu);
    await waitForListening(socket);
    assert.equal(await vscode.commands.executeCommand<boolean>('qmp.connect', 'later'), true);
    await waitForState(qmp, 'later', ['connected']);
    assert.match(assertPlainWords(qmp.statusBar.itemOf('later')?.label), /^QMP later: connected to QEMU /);

    // Dismiss: the failure is forgotten and the item goes away.
    await assert.rejects(qmp.sessions.connect('never'));
    assert.ok(qmp.statusBar.itemOf('never'));
    await vscode.commands.executeCommand('qmp.dismiss', 'never');
    assert.equal(qmp.sessions.session('never')?.state, 'disconnected');
    assert.equal(qmp.statusBar.itemOf('never'), undefined, 'a dismissed failure has no item');
  });
});
