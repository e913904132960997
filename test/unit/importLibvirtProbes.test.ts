// The libvirt import's connect-time probe filter and --domain, on lines in the form libvirt 9.0 writes
// (measured: QMP-FACTS.md; the family tier checks a real log: test/family/import-libvirt-domain.test.ts).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { importLines, ImportError, isProbeCommand } from '../../src/import/import';

const T = '2026-12-06 23:54:15.654+0000: 27384';
let id = 0;
function exchange(mon: string, command: string, reply = '{"return": {}}', caller?: string): string[] {
  const i = ++id;
  const msg = command.replace(/\}$/, `,"id":"libvirt-${i}"}`);
  const out = caller ? [`${T}: debug : ${caller}:100 : mon:${mon} vm:0x7fd74c002850 fd:32`] : [];
  out.push(`${T}: info : qemuMonitorSend:861 : QEMU_MONITOR_SEND_MSG: mon=${mon} msg=${msg}`, ' fd=-1');
  out.push(`${T}: info : qemuMonitorIOWrite:366 : QEMU_MONITOR_IO_WRITE: mon=${mon} buf=${msg}`, ' len=40 ret=40 errno=0');
  out.push(`${T}: info : qemuMonitorJSONIOProcessLine:208 : QEMU_MONITOR_RECV_REPLY: mon=${mon} reply=${reply.replace(/\}$/, `, "id": "libvirt-${i}"}`)}`);
  return out;
}
const opened = (mon: string): string => `${T}: info : qemuMonitorOpenInternal:647 : QEMU_MONITOR_NEW: mon=${mon} fd=32`;
const chardev = (name: string): string => `{"return": [{"frontend-open": true, "filename": "unix:/var/lib/libvirt/qemu/domain-1-${name}/monitor.sock,server=on", "label": "charmonitor"}]}`;

function start(mon: string, name: string, paused = true): string[] {
  return [
    opened(mon),
    ...exchange(mon, '{"execute":"qmp_capabilities"}', undefined, 'qemuMonitorSetCapabilities'),
    ...exchange(mon, '{"execute":"query-chardev"}', chardev(name), 'qemuMonitorGetChardevInfo'),
    ...exchange(mon, '{"execute":"qom-list","arguments":{"path":"/machine"}}', '{"return": []}', 'qemuMonitorGetGuestCPU'),
    ...exchange(mon, '{"execute":"qom-get","arguments":{"path":"/machine","property":"type"}}', '{"return": "pc"}'),
    ...exchange(mon, '{"execute":"balloon","arguments":{"value":1}}', undefined, 'qemuMonitorSetBalloon'),
    ...(paused ? [] : exchange(mon, '{"execute":"cont"}', undefined, 'qemuMonitorStartCPUs')),
  ];
}

const sources = (lines: string[], opts: object): string[] => importLines(lines, { format: 'libvirt', ...opts }).notebook.cells.map((c) => c.source);

describe('libvirt import: probes and --domain', () => {
  test('the probe burst after QEMU_MONITOR_NEW is left out and counted; a client\'s qemu-monitor-command ends it', () => {
    const lines = [...start('0xa', 'vm1'), ...exchange('0xa', '{"execute":"query-status"}', '{"return": {"status": "paused"}}', 'qemuMonitorArbitraryCommand')];
    const r = importLines(lines, { format: 'libvirt' });
    assert.deepEqual(r.notebook.cells.map((c) => c.source), ['{"execute": "query-status"}'], 'a query a client asked for is kept');
    assert.ok(r.report.notes.some((n) => /left out 5 commands libvirt sent to probe the monitor when it opened it \(and the 5 replies and events while they ran\); --all keeps them/.test(n)), r.report.notes.join('\n'));
    assert.equal(sources(lines, { all: true }).length, 5, 'all but qmp_capabilities');
  });

  test('a command that is not a probe ends the burst (cont of a domain started running); without the opening, nothing is a probe', () => {
    const lines = [...start('0xa', 'vm1', false), ...exchange('0xa', '{"execute":"query-status"}', undefined, 'qemuMonitorGetStatus')];
    assert.deepEqual(sources(lines, {}), ['{"execute": "cont"}', '{"execute": "query-status"}']);
    const later = lines.filter((l) => !l.includes('QEMU_MONITOR_NEW'));
    assert.equal(sources(later, {}).length, 6, 'logging turned on after the start: every command is kept');
  });

  test('--domain picks the monitor its start-up query-chardev names, by libvirt\'s 20-character short name', () => {
    const long = 'a-domain-with-a-long-name';
    const lines = [...start('0xa', 'vm1'), ...start('0xb', long.slice(0, 20)),
      ...exchange('0xa', '{"execute":"stop"}', undefined, 'qemuMonitorStopCPUs'),
      ...exchange('0xb', '{"execute":"query-name"}', undefined, 'qemuMonitorArbitraryCommand')];
    assert.deepEqual(sources(lines, { domain: 'vm1' }), ['{"execute": "stop"}']);
    assert.deepEqual(sources(lines, { domain: long }), ['{"execute": "query-name"}']);
    assert.throws(() => importLines(lines, { format: 'libvirt' }), (e: unknown) => e instanceof ImportError && /pick one with --domain or --mon:\n.*domain vm1\n.*domain a-domain-with-a-long/.test(e.message));
    assert.throws(() => importLines(lines, { format: 'libvirt', domain: 'vm2' }), (e: unknown) => e instanceof ImportError && /does not say which monitor is domain vm2/.test(e.message));
    assert.throws(() => importLines(lines, { format: 'libvirt', domain: 'vm1', monitor: '0xa' }), /not both/);
    const twice = [...start('0xa', 'vm1'), ...start('0xc', 'vm1')];
    assert.throws(() => importLines(twice, { format: 'libvirt', domain: 'vm1' }), /had 2 monitors/);
  });

  test('probe commands by name', () => {
    for (const n of ['query-status', 'qom-get', 'qom-list', 'qmp_capabilities', 'migrate-set-capabilities', 'balloon']) assert.ok(isProbeCommand(n), n);
    for (const n of ['cont', 'stop', 'device_add', 'blockdev-add', 'human-monitor-command']) assert.ok(!isProbeCommand(n), n);
  });
});
