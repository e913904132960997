// `qmp-notebook import` on a real libvirtd log: monitor logging turned on at run time (virt-admin, as
// QMP-FACTS.md says), a paused domain driven through `virsh qemu-monitor-command` (QMP and --hmp), the log
// imported through the production CLI, and the imported notebook run again with `qmp-notebook test` on a
// sandbox QEMU of the same binary, where every exchange is reproducible. libvirtd's previous log settings are
// put back afterwards.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseNotebook } from '../../src/format';
import { createTestDomain, destroyTestDomain, ensureLibvirtd, libvirtUri, loggingSetting as setting, runCli, virsh, virtAdmin } from '../support/daemons';

const domain = `qmpimp-${process.pid}`;
const marker = `qmpimp-marker-${process.pid}`;
let dir = '';

before(async () => {
  await ensureLibvirtd();
  createTestDomain(domain);
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-import-lv-'));
});
after(() => {
  destroyTestDomain(domain);
  rmSync(dir, { recursive: true, force: true });
});

describe('import a libvirtd monitor log', () => {
  test('the log of a domain driven through virsh imports to cells that pass qmp-notebook test', async () => {
    const log = path.join(dir, 'libvirtd.log');
    const oldFilters = setting(virtAdmin(['daemon-log-filters']));
    const oldOutputs = setting(virtAdmin(['daemon-log-outputs']));
    try {
      virtAdmin(['daemon-log-filters', '1:qemu.qemu_monitor']);
      virtAdmin(['daemon-log-outputs', `1:file:${log}`]);
      const cmds: string[][] = [
        ['{"execute":"query-status"}'],
        [`{"execute":"${marker}"}`],
        ['{"execute":"cont"}'],
        ['{"execute":"stop"}'],
        ['--hmp', 'info status'],
        ['{"execute":"query-status"}'],
      ];
      for (const c of cmds) {
        const r = virsh(['qemu-monitor-command', domain, ...c]);
        if (c[0]?.includes(marker)) assert.match(r.out, /CommandNotFound|has not been found/);
        else assert.equal(r.code, 0, r.out);
      }
    } finally {
      virtAdmin(['daemon-log-outputs', oldOutputs === '' ? '3:file:/var/log/libvirt/libvirtd.log' : oldOutputs]);
      virtAdmin(['daemon-log-filters', oldFilters]);
    }
    const text = readFileSync(log, 'utf8');
    assert.match(text, /QEMU_MONITOR_SEND_MSG: mon=0x[0-9a-f]+ msg=/);
    // Our domain's monitor: the one the marker command went out on (other tests may share this libvirtd).
    const mon = new RegExp(`QEMU_MONITOR_SEND_MSG: mon=(0x[0-9a-f]+) msg=\\{"execute":"${marker}"`).exec(text)?.[1];
    assert.ok(mon, 'the marker command is in the log');

    const out = path.join(dir, 'imported.qmp');
    const r = await runCli(['import', log, '-o', out, '--mon', mon]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /\(libvirt\): 6 cells/);
    const nb = parseNotebook(readFileSync(out, 'utf8'));
    assert.deepEqual(nb.cells.map((c) => c.source), [
      '{"execute": "query-status"}',
      `{"execute": "${marker}"}`,
      '{"execute": "cont"}',
      '{"execute": "stop"}',
      '{"execute": "human-monitor-command", "arguments": {"command-line": "info status"}}',
      '{"execute": "query-status"}',
    ]);
    const outputs = nb.cells.map((c) => (c.outputs ?? []).map((o) => (o.kind === 'message' ? o.json : o.text)));
    assert.deepEqual(outputs[2], ['{"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "RESUME"}', '{"return": {}}']);
    assert.ok(outputs[3]?.includes('{"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "STOP"}'), String(outputs[3]));
    assert.deepEqual(outputs[4], ['{"return": "VM status: paused\\r\\n"}']);
    assert.ok(!readFileSync(out, 'utf8').includes('libvirt-'), 'libvirt\'s ids are elided');

    // The same exchanges on a fresh QEMU of the same binary give the same answers.
    const t = await runCli(['test', out, '--sandbox']);
    assert.equal(t.code, 0, `${t.stdout}\n${t.stderr}`);
    assert.match(t.stdout, /6 passed, 0 failed/);
  });
});

describe('export to virsh, run on libvirtd', () => {
  test('the exported script, run by sh with the real virsh, sends each cell\'s command whole and gets QEMU\'s replies', async () => {
    // A notebook whose replies do not depend on the domain's history (the domain is paused before and after).
    const nbFile = path.join(dir, 'roundtrip.qmp');
    writeFileSync(nbFile, [
      '```qmp', '{"execute": "query-name"}', '```', '',
      '```qmp-shell', 'qom-get path=/machine property=type', '```', '',
      '```hmp', 'info status', '```', '',
      '```qmp', `{"execute": "${marker}-x", "arguments": {"s": "it's"}}`, '```', '',
    ].join('\n'));
    const e = await runCli(['export', '--to', 'virsh', '--domain', domain, nbFile]);
    assert.equal(e.code, 0, e.stderr);
    const script = path.join(dir, 'roundtrip.sh');
    writeFileSync(script, e.stdout);
    const r = spawnSync('sh', [script], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, LC_ALL: 'C', LIBVIRT_DEFAULT_URI: libvirtUri } });
    const out = `${r.stdout}${r.stderr}`;
    // query-name: the name libvirt gave QEMU (the domain's); qom-get: the machine type; HMP: the status text; the unknown
    // command (with a quote in its argument, through sh's quoting): CommandNotFound, as QEMU says it.
    assert.ok(out.includes(`{"return":{"name":"${domain}"},"id":"libvirt-`), out);
    assert.match(out, /\{"return":"pc-i440fx-[\d.]+-machine","id":"libvirt-\d+"\}/);
    assert.match(out, /VM status: paused/);
    assert.match(out, new RegExp(`The command ${marker}-x has not been found`));
  });
});
