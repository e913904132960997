// The export formats for the tools people paste into (src/export: virsh, a Python script on qemu.qmp, a
// socat one-liner). Each generated script is run, not just looked at: `sh` runs the virsh lines with a
// `virsh` function that prints its arguments (so the shell quoting of hostile text is checked, not assumed),
// and the printf of the socat line, which must give exactly the JSON lines; `python3` runs the Python script
// against a recording stand-in for qemu.qmp's QMPClient (the real library is not installed on this machine),
// which must receive every command with its exact arguments and every wait with its event and timeout.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { CellData } from '../../src/format';
import { toJsonLines, toPython, toSocat, toVirsh } from '../../src/export/export';

const cells: CellData[] = [
  { kind: 'markdown', language: 'markdown', source: '# hostile text' },
  { kind: 'code', language: 'qmp', source: [
    '{ "execute": "qom-set", "arguments": { "path": "/machine", "property": "it\'s", "value": "a \'quoted\' \\"x\\" $HOME `id` \\\\ ü" } }',
    '{ "execute": "qom-set", "arguments": { "path": "/m", "property": "n", "value": 18446744073709551615 } }',
    '{ "wait-event": "STOP", "data": { "reason": "x\'y" }, "timeout": 2500 }',
  ].join('\n') },
  { kind: 'code', language: 'hmp', source: 'info status \'quoted\'' },
  { kind: 'code', language: 'qmp-shell', source: 'device_del id=kbd0' },
];

function sh(script: string): string {
  const r = spawnSync('sh', ['-c', script], { encoding: 'utf8', timeout: 10_000 });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout;
}

describe('export: virsh', () => {
  test('each line gives virsh exactly the command JSON (or --hmp and the HMP text), whatever the quotes', () => {
    const script = toVirsh(cells, { domain: 'dom \'1\'' });
    const printed = sh(`virsh() { for a in "$@"; do printf '[%s]\\n' "$a"; done; echo ---; }\n${script}`);
    const calls = printed.split('---\n').filter((c) => c !== '').map((c) => c.trimEnd().split('\n').map((l) => l.slice(1, -1)));
    const json = toJsonLines(cells, { capabilities: false }).trimEnd().split('\n');
    assert.deepEqual(calls, [
      ['qemu-monitor-command', 'dom \'1\'', json[0]],
      ['qemu-monitor-command', 'dom \'1\'', json[1]],
      ['qemu-monitor-command', 'dom \'1\'', '--hmp', 'info status \'quoted\''],
      ['qemu-monitor-command', 'dom \'1\'', json[3]],
    ]);
    assert.match(script, /# then the event STOP/);
  });

  test('without --domain the script needs DOMAIN and says so', () => {
    const r = spawnSync('sh', ['-c', `virsh() { :; }\n${toVirsh(cells)}`], { encoding: 'utf8', timeout: 10_000, env: { PATH: process.env['PATH'] ?? '' } });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /set DOMAIN to the libvirt domain/);
  });
});

describe('export: socat', () => {
  test('the printf of the one-liner gives the handshake and the JSON lines, byte for byte; -t covers the longest wait', () => {
    const line = toSocat(cells, { socket: '/tmp/a b/qmp.sock' }).split('\n').find((l) => l.startsWith('printf')) ?? '';
    const [input, socat] = line.split(' | socat ');
    assert.equal(sh(input ?? ''), toJsonLines(cells));
    assert.equal(socat, '-t 4 - UNIX-CONNECT:\'/tmp/a b/qmp.sock\'');
  });
});

describe('export: Python on qemu.qmp', () => {
  test('the script sends every command with exact arguments and waits for each event, on a recording QMPClient', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-py-'));
    try {
      mkdirSync(path.join(dir, 'qemu', 'qmp'), { recursive: true });
      writeFileSync(path.join(dir, 'qemu', '__init__.py'), '');
      // A stand-in with the methods the script uses (qemu.qmp's QMPClient API: connect, execute(cmd, args,
      // oob=), listener(names) as a context manager whose get() is awaited, disconnect); it logs each call.
      writeFileSync(path.join(dir, 'qemu', 'qmp', '__init__.py'), [
        'import json, sys',
        'class ExecuteError(Exception):',
        '    error_class = "GenericError"',
        'class _Listener:',
        '    def __init__(self, names): self.names = names',
        '    def __enter__(self): print("LISTEN", json.dumps(list(self.names))); return self',
        '    def __exit__(self, *a): return False',
        '    async def get(self): return {"event": "STOP", "data": {"reason": "x\'y"}, "timestamp": {"seconds": 1, "microseconds": 2}}',
        'class QMPClient:',
        '    def __init__(self, name): pass',
        '    async def connect(self, address): print("CONNECT", json.dumps(address))',
        '    async def execute(self, cmd, args=None, oob=False):',
        '        print("EXECUTE", json.dumps([cmd, args, oob]))',
        '        if cmd == "device_del": raise ExecuteError("Device \'kbd0\' not found")',
        '        return {}',
        '    def listener(self, names): return _Listener(names)',
        '    async def disconnect(self): print("DISCONNECT")',
        '',
      ].join('\n'));
      const script = path.join(dir, 'run.py');
      writeFileSync(script, toPython(cells));
      const r = spawnSync('python3', [script, '/tmp/qmp.sock'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, PYTHONPATH: dir } });
      assert.equal(r.status, 0, r.stderr);
      assert.deepEqual(r.stdout.trimEnd().split('\n'), [
        'CONNECT "/tmp/qmp.sock"',
        'LISTEN ["STOP"]',
        // Python's json.dumps spacing; the text arrives whole (quotes, $, backquotes, backslash, non-ASCII).
        'EXECUTE ["qom-set", {"path": "/machine", "property": "it\'s", "value": "a \'quoted\' \\"x\\" $HOME `id` \\\\ \\u00fc"}, false]',
        '<- {"return": {}}',
        // Python's json keeps the integer exact (JavaScript's JSON.parse would round it).
        'EXECUTE ["qom-set", {"path": "/m", "property": "n", "value": 18446744073709551615}, false]',
        '<- {"return": {}}',
        '<- {"event": "STOP", "data": {"reason": "x\'y"}, "timestamp": {"seconds": 1, "microseconds": 2}}',
        'EXECUTE ["human-monitor-command", {"command-line": "info status \'quoted\'"}, false]',
        '<- {"return": {}}',
        'EXECUTE ["device_del", {"id": "kbd0"}, false]',
        '<- {"error": {"class": "GenericError", "desc": "Device \'kbd0\' not found"}}',
        'DISCONNECT',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
