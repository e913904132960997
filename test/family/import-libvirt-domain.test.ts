// `qmp-notebook import --domain NAME` and the connect-time probe filter, on a real libvirtd log that holds a
// domain's start: monitor logging is turned on (virt-admin, QMP-FACTS.md) BEFORE the domain starts, so the log
// has libvirt's ~410 start-up probes and the query-chardev reply that names the domain's monitor. The domain's
// name is longer than libvirt's 20-character short name, so the match by its first 20 characters is what is
// tested. Without --all the probes are left out (and counted); with --all they are kept.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseNotebook } from '../../src/format';
import { createTestDomain, destroyTestDomain, ensureLibvirtd, loggingSetting as setting, runCli, virsh, virtAdmin } from '../support/daemons';

const domain = `qmp-import-named-domain-${process.pid}`;
let dir = '';
let log = '';

before(async () => {
  await ensureLibvirtd();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-import-dom-'));
  log = path.join(dir, 'libvirtd.log');
  const oldFilters = setting(virtAdmin(['daemon-log-filters']));
  const oldOutputs = setting(virtAdmin(['daemon-log-outputs']));
  try {
    virtAdmin(['daemon-log-filters', '1:qemu.qemu_monitor']);
    virtAdmin(['daemon-log-outputs', `1:file:${log}`]);
    createTestDomain(domain);
    for (const c of [['{"execute":"query-status"}'], ['{"execute":"query-name"}'], ['--hmp', 'info status']]) {
      const r = virsh(['qemu-monitor-command', domain, ...c]);
      assert.equal(r.code, 0, r.out);
    }
  } finally {
    virtAdmin(['daemon-log-outputs', oldOutputs === '' ? '3:file:/var/log/libvirt/libvirtd.log' : oldOutputs]);
    virtAdmin(['daemon-log-filters', oldFilters]);
  }
});
after(() => {
  destroyTestDomain(domain);
  rmSync(dir, { recursive: true, force: true });
});

describe('import --domain and the probe filter on a real libvirtd log', () => {
  test('--domain finds the monitor by the start-up query-chardev reply; the start-up probes are left out and counted', async () => {
    const text = readFileSync(log, 'utf8');
    assert.match(text, /QEMU_MONITOR_NEW: mon=0x[0-9a-f]+/, 'the monitor opened while logging was on');
    const out = path.join(dir, 'imported.qmp');
    const r = await runCli(['import', log, '-o', out, '--domain', domain]);
    assert.equal(r.code, 0, r.stderr);
    const probes = /left out (\d+) commands libvirt sent to probe the monitor when it opened it/.exec(r.stderr);
    assert.ok(probes, r.stderr);
    // QMP-FACTS.md: about 410 at the start of one paused domain.
    assert.ok(Number(probes[1]) > 100, `probes: ${probes[1]}`);
    const nb = parseNotebook(readFileSync(out, 'utf8'));
    assert.deepEqual(nb.cells.map((c) => c.source), [
      '{"execute": "query-status"}',
      '{"execute": "query-name"}',
      '{"execute": "human-monitor-command", "arguments": {"command-line": "info status"}}',
    ]);
    // The name QEMU was given is the domain's full name.
    const name = nb.cells[1]?.outputs?.[0];
    assert.ok(name?.kind === 'message' && name.json.includes(domain), JSON.stringify(name));
  });

  test('--all keeps the probes (one cell each, the handshake aside); an unknown domain says why it cannot be found', async () => {
    const out = path.join(dir, 'all.qmp');
    const r = await runCli(['import', log, '-o', out, '--domain', domain, '--all']);
    assert.equal(r.code, 0, r.stderr);
    const cells = parseNotebook(readFileSync(out, 'utf8')).cells;
    const probes = Number(/left out (\d+) commands libvirt sent/.exec((await runCli(['import', log, '-o', path.join(dir, 'x.qmp'), '--domain', domain])).stderr)?.[1]);
    assert.equal(cells.length, probes - 1 + 3, 'every probe but qmp_capabilities, then the three commands');
    assert.ok(cells.some((c) => c.source.includes('"query-chardev"')));

    const missing = await runCli(['import', log, '-o', path.join(dir, 'none.qmp'), '--domain', 'no-such-domain']);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /does not say which monitor is domain no-such-domain: libvirt names a domain's monitor only in the reply to the query-chardev/);
    assert.match(missing.stderr, new RegExp(`domain ${domain.slice(0, 20)}`), 'the listing shows the domains the log names');
  });
});
