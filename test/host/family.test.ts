// The QMP family in a real extension host: the profile kinds parse, a storage-daemon profile starts a
// private qemu-storage-daemon, the session knows it is one (status bar, man page), and it stops with the
// session.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { parseProfiles } from '../../src/session/profiles';
import { api, disconnectAll, waitFor } from './hostHelpers';

suite('the QMP family', () => {
  teardown(async () => {
    const qmp = await api();
    await disconnectAll(qmp);
    await vscode.workspace.getConfiguration('qmp').update('connections', undefined, vscode.ConfigurationTarget.Workspace);
  });

  test('profiles of every kind parse; malformed ones are skipped with a reason', () => {
    const { profiles, problems } = parseProfiles([
      { name: 'qsd', storageDaemon: true },
      { name: 'ga', guestAgent: '/run/qga.sock' },
      { name: 'ga-tcp', guestAgent: '127.0.0.1:4000' },
      { name: 'vm1', libvirt: { uri: 'qemu+ssh://host/system', domain: 'vm1' } },
      { name: 'vm2', libvirt: { domain: 'vm2' } },
      { name: 'bad-ga', guestAgent: 'not an address' },
      { name: 'bad-lv', libvirt: { uri: 'qemu:///system' } },
    ]);
    assert.deepEqual(profiles.slice(1), [
      { name: 'qsd', kind: 'storage-daemon' },
      { name: 'ga', kind: 'guest-agent', address: { kind: 'unix', path: '/run/qga.sock' } },
      { name: 'ga-tcp', kind: 'guest-agent', address: { kind: 'tcp', host: '127.0.0.1', port: 4000 } },
      { name: 'vm1', kind: 'libvirt', domain: 'vm1', uri: 'qemu+ssh://host/system' },
      { name: 'vm2', kind: 'libvirt', domain: 'vm2' },
    ]);
    assert.equal(problems.length, 2, problems.join('\n'));
    assert.match(problems[0] ?? '', /bad-ga.*neither a socket path nor HOST:PORT/);
  });

  test('a storageDaemon profile starts a private daemon; the session and status bar say "storage daemon"', async () => {
    const qmp = await api();
    await vscode.workspace.getConfiguration('qmp').update('connections', [{ name: 'qsd', storageDaemon: true }],
      vscode.ConfigurationTarget.Workspace);
    await waitFor(qmp.sessions.onDidChangeProfiles, () => qmp.sessions.profile('qsd'), 'the qsd profile');
    const s = await qmp.sessions.connect('qsd');
    assert.equal(s.state, 'connected');
    assert.equal(s.endpoint, 'storage-daemon');
    const names = s.schema?.schema.commands().map((c) => c.name) ?? [];
    assert.ok(names.includes('blockdev-add') && !names.includes('query-status'));
    assert.match(qmp.statusBar.textOf('qsd') ?? '', /qsd · storage daemon \d+\.\d+\.\d+/);
    assert.match(s.describeState(), /^connected to storage daemon/);
    const dir = s.sandbox?.address.kind === 'unix' ? s.sandbox.address.path.replace(/\/qmp\.sock$/, '') : '';
    assert.ok(dir && fs.existsSync(dir));
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    await qmp.sessions.disconnect('qsd');
    assert.equal(fs.existsSync(dir), false, 'the daemon and its directory are gone');
  });
});
