// Import of other tools' recordings (src/import): samples of each format written by hand from the shapes the
// tools document (libvirt 9.0's log lines as measured in QMP-FACTS.md, qmp-shell's `-l` log as
// python/qemu/qmp/qmp_shell.py writes it, an iotests .out with its placeholders, QEMU's `->`/`<-` notation).
// Each gives cells whose saved outputs are in the form `qmp-notebook test` reads: the notebook serialized and
// parsed again keeps them; unreadable lines are reported with their numbers; the reading is linear.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { parseNotebook, serializeNotebook } from '../../src/format';
import fc from 'fast-check';
import { detectFormat, importLines, ImportError, IMPORT_FORMATS } from '../../src/import/import';
import { assertLinear } from '../support/linear';

const T = '2026-12-06 21:36:18.154+0000: 26706: info : ';
const MON_A = '0x7f7134057460';
const MON_B = '0x7f71340aaaa0';

function libvirtLines(mon: string, id: number, command: string, reply: string, events: string[] = []): string[] {
  const send = command.replace(/}$/, `,"id":"libvirt-${id}"}`);
  return [
    `${T}qemuMonitorSend:861 : QEMU_MONITOR_SEND_MSG: mon=${mon} msg=${send}`,
    ' fd=-1',
    `${T}qemuMonitorIOWrite:366 : QEMU_MONITOR_IO_WRITE: mon=${mon} buf=${send}`,
    ` len=${send.length} ret=${send.length} errno=0`,
    `${T}qemuMonitorJSONIOProcessLine:189 : Line [${reply}]`,
    ...events.map((e) => `${T}qemuMonitorJSONIOProcessLine:203 : QEMU_MONITOR_RECV_EVENT: mon=${mon} event=${e}`),
    `${T}qemuMonitorJSONIOProcessLine:208 : QEMU_MONITOR_RECV_REPLY: mon=${mon} reply=${reply.replace(/}$/, `, "id": "libvirt-${id}"}`)}`,
  ];
}

/** The notebook text, and the same notebook read back: what `qmp-notebook test` will see. */
function roundTrip(nb: Parameters<typeof serializeNotebook>[0]): ReturnType<typeof parseNotebook> {
  const text = serializeNotebook(nb);
  const back = parseNotebook(text);
  assert.deepEqual(back.unreadOutputs ?? [], [], 'every output block reads back as outputs');
  return back;
}

describe('import: libvirt logs', () => {
  const log = [
    `${T}libvirt version: 9.0.0, package: 9.0.0-4+deb12u2 (Debian)`,
    ...libvirtLines(MON_A, 1, '{"execute":"qmp_capabilities"}', '{"return": {}}'),
    ...libvirtLines(MON_A, 412, '{"execute":"query-status"}', '{"return": {"status": "prelaunch", "singlestep": false, "running": false}}'),
    ...libvirtLines(MON_A, 413, '{"execute":"cont"}', '{"return": {}}', ['{"timestamp": {"seconds": 1796592978, "microseconds": 209951}, "event": "RESUME"}']),
    ...libvirtLines(MON_A, 414, '{"execute":"human-monitor-command","arguments":{"command-line":"info status"}}', '{"return": "VM status: running\\r\\n"}'),
  ];

  test('commands become cells, replies and events saved outputs, libvirt ids elided, the handshake left out', () => {
    const r = importLines(log, { format: 'libvirt' });
    const nb = roundTrip(r.notebook);
    assert.equal(nb.saveOutputs, true);
    assert.deepEqual(nb.cells.map((c) => c.source), [
      '{"execute": "query-status"}',
      '{"execute": "cont"}',
      '{"execute": "human-monitor-command", "arguments": {"command-line": "info status"}}',
    ]);
    assert.deepEqual(nb.cells.map((c) => (c.outputs ?? []).map((o) => (o.kind === 'message' ? o.json : o.text))), [
      ['{"return": {"status": "prelaunch", "singlestep": false, "running": false}}'],
      ['{"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "RESUME"}', '{"return": {}}'],
      ['{"return": "VM status: running\\r\\n"}'],
    ]);
    assert.ok(r.report.notes.some((n) => /qmp_capabilities/.test(n)));
    // The version line and the "Line [" debug lines are reported as skipped, by number; the IO_WRITE copies
    // and their ` len=` tails are recognised, not skipped.
    const skipped = r.report.skipped.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i));
    assert.deepEqual(skipped, [1, 6, 12, 18, 25]);
    assert.deepEqual(r.report.problems, []);
  });

  test('several monitors: without --mon the import refuses and lists them; with --mon it takes one', () => {
    const two = [...log, ...libvirtLines(MON_B, 7, '{"execute":"stop"}', '{"return": {}}')];
    assert.throws(() => importLines(two, { format: 'libvirt' }), (e: unknown) => e instanceof ImportError && e.message.includes(MON_A) && e.message.includes(MON_B) && /--mon/.test(e.message));
    const b = importLines(two, { format: 'libvirt', monitor: MON_B });
    assert.deepEqual(b.notebook.cells.map((c) => c.source), ['{"execute": "stop"}']);
    assert.throws(() => importLines(two, { format: 'libvirt', monitor: '0xdead' }), ImportError);
  });

  test('a monitor line whose JSON is cut is a problem with its line number, not dropped', () => {
    const r = importLines([...log.slice(0, 5), `${T}x : QEMU_MONITOR_RECV_REPLY: mon=${MON_A} reply={"return": {"status": `], { format: 'libvirt' });
    assert.deepEqual(r.report.problems.map((p) => p.line), [6]);
  });

  test('detectFormat knows a libvirt log by its monitor lines', () => {
    assert.equal(detectFormat(log), 'libvirt');
  });
});

describe('import: qmp-shell', () => {
  // qmp_shell.py writes json.dumps({**qmpcmd, **resp}) per command: one line, or indent=4/sort_keys with -p.
  const plain = [
    '{"execute": "query-status", "arguments": {}, "return": {"status": "running", "singlestep": false, "running": true}}',
    '{"execute": "device_del", "arguments": {"id": "nope"}, "error": {"class": "DeviceNotFound", "desc": "Device \'nope\' not found"}}',
  ];
  const pretty = [
    '{',
    '    "arguments": {},',
    '    "execute": "stop",',
    '    "return": {}',
    '}',
  ];

  test('a log, plain and pretty, becomes command cells with their replies', () => {
    assert.equal(detectFormat(plain), 'qmp-shell-log');
    const r = importLines([...plain, ...pretty], { format: 'qmp-shell-log' });
    const nb = roundTrip(r.notebook);
    assert.deepEqual(nb.cells.map((c) => c.source), [
      '{"execute": "query-status", "arguments": {}}',
      '{"execute": "device_del", "arguments": {"id": "nope"}}',
      '{"arguments": {}, "execute": "stop"}',
    ]);
    assert.deepEqual(nb.cells.map((c) => (c.outputs ?? []).map((o) => (o.kind === 'message' ? o.json : ''))), [
      ['{"return": {"status": "running", "singlestep": false, "running": true}}'],
      ['{"error": {"class": "DeviceNotFound", "desc": "Device \'nope\' not found"}}'],
      ['{"return": {}}'],
    ]);
    assert.deepEqual(r.report.problems, []);
  });

  test('a log whose last message is not closed is reported at the line it starts', () => {
    const r = importLines([...plain, '{', '    "execute": "stop",'], { format: 'qmp-shell-log' });
    assert.deepEqual(r.report.problems.map((p) => p.line), [3]);
    assert.equal(r.cells, 2);
  });

  test('a history gives qmp-shell cells, one per line', () => {
    assert.equal(detectFormat(['query-status', 'stop'], '.qmp-shell_history'), 'qmp-shell-history');
    const r = importLines(['_HiStOrY_V2_', 'query-status', '', 'device_del id=kbd0', 'device_del id="unclosed'], { format: 'qmp-shell-history' });
    assert.deepEqual(r.notebook.cells.map((c) => [c.language, c.source]), [['qmp-shell', 'query-status'], ['qmp-shell', 'device_del id=kbd0'], ['qmp-shell', 'device_del id="unclosed']]);
    // The line qmp-shell cannot read is kept, and reported by number.
    assert.deepEqual(r.report.problems.map((p) => p.line), [5]);
  });
});

describe('import: iotests .out', () => {
  const out = [
    'QA output created by 999',
    '{ \'execute\': \'qmp_capabilities\' }',
    '{"return": {}}',
    '=== Adding a node ===',
    '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "drv0"}}',
    '{"return": {}}',
    '{"execute": "query-named-block-nodes"}',
    '{"return": [{"node-name": "NODE_NAME", "file": "TEST_DIR/t.IMGFMT", "drv": "null-co"}]}',
    '{ \'execute\': \'stop\' }',
    '{"timestamp": {"seconds":  TIMESTAMP, "microseconds":  TIMESTAMP}, "event": "STOP"}',
    '{"return": {}}',
  ];

  test('filtered values become masks; bash-style single quotes and bare placeholders are read', () => {
    assert.equal(detectFormat(out, '999.out'), 'iotests');
    const r = importLines(out, { format: 'iotests' });
    const nb = roundTrip(r.notebook);
    assert.deepEqual(nb.masks, ['return.*.file', 'return.*.node-name']);
    assert.deepEqual(nb.cells.map((c) => c.source), [
      '### Adding a node',
      '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "drv0"}}',
      '{"execute": "query-named-block-nodes"}',
      '{"execute": "stop"}',
    ]);
    assert.equal(nb.cells[0]?.kind, 'markdown');
    assert.deepEqual((nb.cells[2]?.outputs ?? []).map((o) => (o.kind === 'message' ? o.json : '')),
      ['{"return": [{"node-name": "MASKED", "file": "MASKED", "drv": "null-co"}]}']);
    assert.deepEqual((nb.cells[3]?.outputs ?? []).map((o) => (o.kind === 'message' ? o.json : '')),
      ['{"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "STOP"}', '{"return": {}}']);
    // Prose lines are reported as skipped, by number; the header became a markdown cell.
    assert.deepEqual(r.report.skipped, [[1, 1]]);
  });

  // The classes of lines QEMU 7.2's tests/qemu-iotests/*.out hold (test/qemu/interop.test.ts reads all of them).
  test('real .out line classes: filtered greeting, any bare filtered word, wrapped JSON, tool output, event lists, unittest dots', () => {
    const lines = [
      'QA output created by 998',                                                       // 1 prose
      '{',                                                                              // 2 greeting, filtered
      '    QMP_VERSION',
      '}',
      '=== no QMP below ===',                                                           // 5 header of prose only: skipped
      'wrote 512/512 bytes at offset 0',                                                // 6
      '== Mirroring ==',                                                                // 7 header: markdown
      '{"execute": "block-job-complete", "arguments": {"device": "src"}}',             // 8
      '{',                                                                              // 9 wrapped reply
      '    "return": {',
      '    }',
      '}',
      '{"timestamp": {"seconds":  TIMESTAMP, "microseconds":  TIMESTAMP}, "event": "BLOCK_JOB_COMPLETED", "data": {"device": "src", "len": LEN, "offset": (filtered), "speed": 0}}',
      '[{ "start": 0, "length": 65536, "depth": 0, "present": true, "zero": false, "data": true, "offset": OFFSET},', // 14 qemu-img map
      '{ "start": 65536, "length": 1, "depth": 0, "present": false, "zero": true, "data": false}]',
      '                 [0]: auto',                                                     // 16 qemu-img info prose
      '..{"execute": "query-block-jobs"}',                                              // 17 unittest progress dots
      '{"return": {"sha256": HASH, "n": 1e3, "ok": true}}',
      '[{"data": {"id": "export0"}, "event": "BLOCK_EXPORT_DELETED", "timestamp": {"microseconds": "USECS", "seconds": "SECS"}}]',
    ];
    const r = importLines(lines, { format: 'iotests' });
    assert.deepEqual(r.report.problems, []);
    assert.deepEqual(r.report.skipped, [[1, 1], [5, 6], [14, 16]]);
    assert.deepEqual(r.report.lines, { blank: 0, skipped: 6, read: 13, reported: 0 });
    const nb = roundTrip(r.notebook);
    assert.deepEqual(nb.cells.map((c) => [c.kind, c.source]), [
      ['markdown', '### Mirroring'],
      ['code', '{"execute": "block-job-complete", "arguments": {"device": "src"}}'],
      ['code', '{"execute": "query-block-jobs"}'],
    ]);
    assert.deepEqual(nb.masks, ['data.len', 'data.offset', 'return.sha256']);
    const outputs = (i: number): unknown[] => (nb.cells[i]?.outputs ?? []).map((o) => (o.kind === 'message' ? JSON.parse(o.json) as unknown : o.text));
    assert.deepEqual(outputs(1), [
      { return: {} },
      { timestamp: { seconds: 'SECS', microseconds: 'USECS' }, event: 'BLOCK_JOB_COMPLETED', data: { device: 'src', len: 'MASKED', offset: 'MASKED', speed: 0 } },
    ]);
    assert.deepEqual(outputs(2), [
      { return: { sha256: 'MASKED', n: 1e3, ok: true } },
      { data: { id: 'export0' }, event: 'BLOCK_EXPORT_DELETED', timestamp: { microseconds: 'USECS', seconds: 'SECS' } },
    ]);
    assert.ok(r.report.notes.some((n) => /left out 1 QMP greeting/.test(n)), r.report.notes.join('\n'));
    assert.ok(r.report.notes.some((n) => /skipped a JSON value that is no QMP message/.test(n)), r.report.notes.join('\n'));
  });
});

describe('import: one reply per command', () => {
  test('a second reply answers a command the recording did not log (iotests\' qemu-io lines): left out, said', () => {
    const r = importLines([
      '{"execute": "block-dirty-bitmap-add", "arguments": {"name": "a", "node": "drive0"}}',
      '{"return": {}}',
      'write -P0x5d 0 64k',
      '{"return": ""}',
      '{"timestamp": {"seconds":  TIMESTAMP, "microseconds":  TIMESTAMP}, "event": "STOP"}',
    ], { format: 'iotests' });
    assert.deepEqual((r.notebook.cells[0]?.outputs ?? []).map((o) => (o.kind === 'message' ? o.json : '')),
      ['{"return": {}}', '{"timestamp": {"seconds": "SECS", "microseconds": "USECS"}, "event": "STOP"}']);
    assert.ok(r.report.notes.includes('left out 1 replies that follow no command'), r.report.notes.join('\n'));
  });
});

describe('import: -> / <- text', () => {
  const doc = [
    'Example:',
    '',
    '-> { "execute": "block-job-cancel",',
    '     "arguments": { "device": "virtio0" } }',
    '<- { "return": {} }',
    '<- { "event": "BLOCK_JOB_CANCELLED", "data": { "device": "virtio0" },',
    '     "timestamp": { "seconds": 1265044230, "microseconds": 450486 } }',
    '-> oops',
    '<- { "execute": "stop" }',
  ];

  test('multi-line messages are read; a bad arrow line is a problem with its number', () => {
    assert.equal(detectFormat(doc), 'arrows');
    const r = importLines(doc, { format: 'arrows' });
    const nb = roundTrip(r.notebook);
    assert.deepEqual(nb.cells.map((c) => c.source), ['{"execute": "block-job-cancel", "arguments": {"device": "virtio0"}}']);
    // A message wider than 100 columns reads back pretty-printed: compare values.
    assert.deepEqual((nb.cells[0]?.outputs ?? []).map((o) => (o.kind === 'message' ? JSON.parse(o.json) as unknown : '')), [
      { return: {} },
      { event: 'BLOCK_JOB_CANCELLED', data: { device: 'virtio0' }, timestamp: { seconds: 'SECS', microseconds: 'USECS' } },
    ]);
    assert.deepEqual(r.report.problems.map((p) => p.line), [8, 9]);
    assert.deepEqual(r.report.skipped, [[1, 1]]);
  });

  test('reading is linear: a long log, and one unclosed message swallowing the rest', () => {
    assertLinear('a long -> / <- log', (n) => {
      const lines: string[] = [];
      for (let i = 0; i < n; i++) lines.push('-> {"execute": "query-status"}', `<- {"return": {"status": "running", "n": ${i}}}`);
      return lines;
    }, (lines) => importLines(lines, { format: 'arrows' }), 500);
    assertLinear('an unclosed message', (n) => ['-> {"execute": "x", "arguments": {', ...Array.from({ length: n }, () => '"a": [[[[[[{"b": "}}}}"}]]]]]],')],
      (lines) => importLines(lines, { format: 'arrows' }), 500);
    assertLinear('a long libvirt log', (n) => Array.from({ length: n }, (_, i) => libvirtLines(MON_A, i, '{"execute":"query-status"}', '{"return": {"status": "running"}}')).flat(),
      (lines) => importLines(lines, { format: 'libvirt' }), 300);
  });
});

describe('import: hostile input', () => {
  // Lines built from the pieces the readers look for, in any order: arrows, braces, quotes, placeholders,
  // libvirt prefixes, CRs, U+2028. Whatever the lines, no format throws, every reported line is a line of
  // the input, and the notebook written reads back with every output block as outputs.
  const piece = fc.constantFrom('-> ', '<- ', '{', '}', '[', ']', '"', '\'', '\\', ':', ',', ' ', 'execute', 'return', 'event', 'error',
    '"execute": "stop"', '"return": {}', '"event": "STOP"', 'TIMESTAMP', 'NODE_NAME', '\r', '\u2028', 'ü', '0', '1e999',
    `${T}QEMU_MONITOR_SEND_MSG: mon=${MON_A} msg=`, `${T}QEMU_MONITOR_RECV_REPLY: mon=${MON_A} reply=`,
    `${T}QEMU_MONITOR_RECV_EVENT: mon=${MON_B} event=`, ' fd=-1', '"id": "libvirt-3"', '"id": "mine"');
  const line = fc.array(piece, { maxLength: 12 }).map((p) => p.join(''));
  test('no format throws; reports stay inside the input; outputs read back', () => {
    fc.assert(fc.property(fc.array(line, { maxLength: 30 }), fc.constantFrom(...IMPORT_FORMATS), (lines, format) => {
      let r;
      try {
        r = importLines(lines, { format, monitor: format === 'libvirt' ? MON_A : undefined });
      } catch (e) {
        // The one refusal: a libvirt log without the asked monitor, with a message that says so.
        assert.ok(e instanceof ImportError && format === 'libvirt', String(e));
        return;
      }
      for (const p of r.report.problems) assert.ok(p.line >= 1 && p.line <= lines.length, JSON.stringify(p));
      for (const [a, b] of r.report.skipped) assert.ok(a >= 1 && a <= b && b <= lines.length);
      // Every line is accounted for: blank, skipped, read into a message or header, or reported.
      if (r.report.lines) {
        const { blank, skipped, read, reported } = r.report.lines;
        assert.equal(blank + skipped + read + reported, lines.length, JSON.stringify({ lines, counts: r.report.lines }));
      }
      roundTrip(r.notebook);
    }), { numRuns: 400 });
  });
});
