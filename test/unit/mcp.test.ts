// The pure parts of the agents' door (src/mcp/): PPM→PNG, the policy, the MCP server's arguments, the audit
// recorder, long results and their pages, and package.json's language-model tools matching the MCP tools.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import fc from 'fast-check';
import { ImageFormatError, ppmToPng, pngSize } from '../../src/mcp/png';
import { isReadOnlyCommand, judge } from '../../src/mcp/policy';
import { parseMcpArgs, targetsOf } from '../../src/mcp/main';
import { AuditRecorder, MAX_RECORDED_CELLS, MAX_RECORDING_CHARS } from '../../src/mcp/record';
import { AgentKernel, MAX_RESULT_CHARS, agentRecord, guessLanguage, type AgentTarget } from '../../src/mcp/kernel';
import { AGENT_TOOLS } from '../../src/mcp/tools';
import { parseNotebook } from '../../src/format/index';
import { planCell } from '../../src/run/index';

function ppm(width: number, height: number, pixel: (x: number, y: number) => [number, number, number], maxval = 255): Buffer {
  const head = Buffer.from(`P6\n# made by a test\n${width} ${height}\n${maxval}\n`, 'latin1');
  const body = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) body.set(pixel(x, y), (y * width + x) * 3);
  return Buffer.concat([head, body]);
}

/** The RGB rows of an 8-bit RGB PNG with filter 0 (what ppmToPng writes). */
function pixels(png: Buffer): { width: number; height: number; rows: Buffer[] } {
  const size = pngSize(png);
  assert.ok(size);
  const idat: Buffer[] = [];
  for (let at = 8; at < png.length;) {
    const len = png.readUInt32BE(at);
    if (png.toString('latin1', at + 4, at + 8) === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + len));
    at += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const row = size.width * 3 + 1;
  assert.equal(raw.length, row * size.height);
  const rows: Buffer[] = [];
  for (let y = 0; y < size.height; y++) {
    assert.equal(raw[y * row], 0);
    rows.push(raw.subarray(y * row + 1, (y + 1) * row));
  }
  return { ...size, rows };
}

describe('ppmToPng', () => {
  test('keeps every pixel (any size, any content)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 17 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 2 ** 31 }), (w, h, seed) => {
      const color = (x: number, y: number): [number, number, number] => [(x * 31 + seed) & 255, (y * 17 + (seed >> 8)) & 255, (x * y + (seed >> 16)) & 255];
      const got = pixels(ppmToPng(ppm(w, h, color)));
      assert.deepEqual([got.width, got.height], [w, h]);
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) assert.deepEqual([...got.rows[y]!.subarray(x * 3, x * 3 + 3)], color(x, y));
    }), { numRuns: 50 });
  });

  test('scales a maxval below 255', () => {
    const got = pixels(ppmToPng(ppm(2, 1, (x) => (x === 0 ? [0, 15, 7] : [15, 15, 15]), 15)));
    assert.deepEqual([...got.rows[0]!], [0, 255, 119, 255, 255, 255]);
  });

  test('the chunks carry correct CRCs (checked with an independent CRC)', () => {
    const png = ppmToPng(ppm(3, 2, () => [1, 2, 3]));
    const crc = (b: Buffer): number => {
      let c = ~0;
      for (const byte of b) { c ^= byte; for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1)); }
      return ~c >>> 0;
    };
    let chunks = 0;
    for (let at = 8; at < png.length; chunks++) {
      const len = png.readUInt32BE(at);
      assert.equal(png.readUInt32BE(at + 8 + len), crc(png.subarray(at + 4, at + 8 + len)));
      at += 12 + len;
    }
    assert.equal(chunks, 3);
  });

  test('refuses what is not a whole P6 image, with a clear error', () => {
    assert.throws(() => ppmToPng(Buffer.from('P3\n1 1\n255\n0 0 0\n')), ImageFormatError);
    assert.throws(() => ppmToPng(ppm(4, 4, () => [0, 0, 0]).subarray(0, 40)), /truncated/);
    assert.throws(() => ppmToPng(Buffer.from('P6\n0 5\n255\n')), /size/);
    assert.throws(() => ppmToPng(Buffer.from('P6\n2 2\n65535\n')), /maxval/);
    assert.throws(() => ppmToPng(Buffer.from('P6\n2')), ImageFormatError);
    assert.equal(pngSize(Buffer.from('not a png at all, not at all, no')), undefined);
  });
});

describe('the agent policy', () => {
  const steps = (text: string, language: 'qmp' | 'qmp-shell' | 'hmp' = 'qmp') => planCell(text, language).steps;

  test('read-only sends queries and HMP info, refuses everything else by name', () => {
    assert.deepEqual(judge('read-only', steps('{"execute": "query-status"}\n{"execute": "qom-list", "arguments": {"path": "/"}}')), { verdict: 'send' });
    assert.deepEqual(judge('read-only', steps('info block', 'hmp')), { verdict: 'send' });
    const quit = judge('read-only', steps('{"execute": "query-status"}\n{"execute": "quit"}'));
    assert.equal(quit.verdict, 'refuse');
    assert.deepEqual(quit.verdict === 'refuse' ? quit.commands : [], ['quit']);
    const hmp = judge('read-only', steps('quit', 'hmp'));
    assert.deepEqual(hmp.verdict === 'refuse' ? hmp.commands : [], ['hmp: quit']);
    // Not on the state-change list, but not a read either: refused.
    assert.equal(judge('read-only', steps('{"execute": "screendump", "arguments": {"filename": "/tmp/x"}}')).verdict, 'refuse');
  });

  test('confirm asks for the state-changing commands only; allow sends all', () => {
    assert.deepEqual(judge('confirm', steps('{"execute": "query-status"}')), { verdict: 'send' });
    assert.deepEqual(judge('confirm', steps('{"execute": "stop"}\n{"execute": "cont"}\n{"execute": "stop"}')), { verdict: 'confirm', commands: ['stop', 'cont'] });
    assert.deepEqual(judge('confirm', steps('system_reset', 'hmp')), { verdict: 'confirm', commands: ['hmp: system_reset'] });
    assert.deepEqual(judge('allow', steps('{"execute": "quit"}')), { verdict: 'send' });
  });

  test('what counts as reading', () => {
    for (const name of ['query-status', 'x-query-numa', 'qom-get', 'guest-get-time', 'guest-info']) assert.ok(isReadOnlyCommand(name), name);
    for (const name of ['stop', 'qom-set', 'guest-exec', 'querystatus', 'human-monitor-command']) assert.ok(!isReadOnlyCommand(name), name);
    assert.ok(isReadOnlyCommand('human-monitor-command', { 'command-line': '  info  registers' }));
    assert.ok(!isReadOnlyCommand('human-monitor-command', { 'command-line': 'information' }));
  });
});

describe('qmp-notebook mcp arguments', () => {
  test('the CLI connection options, and the rails: read-only by default except on a sandbox', () => {
    const socket = parseMcpArgs(['--socket', '/run/vm.sock']);
    assert.ok(socket.ok);
    const targets = targetsOf(socket.request, () => undefined, tmpdir());
    assert.deepEqual(targets.map((t) => [t.name, t.policy, t.sandbox]), [['vm', 'read-only', false], ['sandbox', 'allow', true]]);
    const confirm = parseMcpArgs(['--tcp=127.0.0.1:4444', '--policy=confirm', '--name', 'prod', '--no-sandbox']);
    assert.ok(confirm.ok);
    assert.deepEqual(targetsOf(confirm.request, () => undefined, tmpdir()).map((t) => [t.name, t.policy, t.description]), [['prod', 'confirm', 'tcp 127.0.0.1:4444']]);
    const sandbox = parseMcpArgs(['--sandbox', '--qemu', 'qemu-x']);
    assert.ok(sandbox.ok);
    assert.deepEqual(targetsOf(sandbox.request, () => undefined, tmpdir()).map((t) => [t.name, t.policy]), [['sandbox', 'allow']]);
    const lv = parseMcpArgs(['--libvirt', 'dom', '--connect', 'qemu:///system', '--sandbox-policy', 'read-only']);
    assert.ok(lv.ok);
    assert.deepEqual(targetsOf(lv.request, () => undefined, tmpdir()).map((t) => [t.name, t.policy]), [['vm', 'read-only'], ['sandbox', 'read-only']]);
  });

  test('usage errors are one clear line', () => {
    const bad = (args: string[]): string => { const r = parseMcpArgs(args); assert.ok(!r.ok); return r.message; };
    assert.match(bad(['--policy', 'yolo']), /--policy expects read-only, confirm or allow/);
    assert.match(bad(['--policy']), /--policy needs a value/);
    assert.match(bad(['--socket', 'a', '--sandbox']), /give only one of --socket, --sandbox/);
    assert.match(bad(['--json']), /'mcp' does not take --json/);
    assert.match(bad(['--no-sandbox=1']), /takes no value/);
    assert.match(bad(['--record', 'a', '--record', 'b']), /given twice/);
    assert.match(bad(['--socket', 's', '--name', 'sandbox']), /sandbox's name/);
  });

  test('a workspace file names a connection only for a person who trusts workspace connections', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-mcp-ws-'));
    try {
      writeFileSync(path.join(dir, '.qmp-notebook.json'), JSON.stringify({ socket: 'vm.sock' }));
      const warnings: string[] = [];
      const req = parseMcpArgs([]);
      assert.ok(req.ok);
      assert.deepEqual(targetsOf(req.request, (w) => warnings.push(w), dir).map((t) => t.name), ['sandbox']);
      assert.match(warnings.join('\n'), /trustWorkspaceConnections/);
      const trusted = parseMcpArgs(['--trust-workspace-connections']);
      assert.ok(trusted.ok);
      const targets = targetsOf(trusted.request, () => undefined, dir);
      assert.deepEqual(targets.map((t) => [t.name, t.policy, t.description]), [['vm', 'read-only', `unix socket ${path.join(dir, 'vm.sock')}`], ['sandbox', 'allow', targets[1]?.description]]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the audit recorder', () => {
  test('writes a private notebook atomically after every change, masked, and starts a new file when full', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-mcp-rec-'));
    try {
      const file = path.join(dir, 'sub', 'session.qmp');
      const r = new AuditRecorder(file, { profile: 'sandbox', title: '# Agent session' });
      r.dirs = [{ path: '/tmp/qmp-sandbox-xyz', name: 'SANDBOX_DIR' }];
      const cell = r.cell('qmp', '{"execute": "query-status"}', [
        { kind: 'message', direction: '<-', json: '{"return": {"status": "running", "path": "/tmp/qmp-sandbox-xyz/a"}}' },
      ]);
      cell.append([{ kind: 'message', direction: '<-', json: '{"timestamp": {"seconds": 17, "microseconds": 4}, "event": "STOP"}' }]);
      r.note('a note');
      assert.equal(statSync(file).mode & 0o777, 0o600);
      assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
      assert.deepEqual(readdirSync(path.dirname(file)), ['session.qmp']);
      const nb = parseNotebook(readFileSync(file, 'utf8'));
      assert.equal(nb.profile, 'sandbox');
      assert.equal(nb.saveOutputs, true);
      assert.deepEqual(nb.cells.map((c) => c.kind), ['markdown', 'code', 'markdown']);
      const outs = nb.cells[1]?.outputs?.map((o) => (o.kind === 'message' ? o.json : o.text)).join('\n') ?? '';
      assert.match(outs, /SANDBOX_DIR\/a/);
      assert.doesNotMatch(outs, /qmp-sandbox-xyz|"seconds": 17/);
      assert.match(outs, /"event": "STOP"/);
      for (let i = nb.cells.length; i < MAX_RECORDED_CELLS + 2; i++) r.note(`note ${i}`);
      assert.equal(r.path, path.join(dir, 'sub', 'session-2.qmp'));
      assert.equal(parseNotebook(readFileSync(file, 'utf8')).cells.length, MAX_RECORDED_CELLS);
      assert.ok(parseNotebook(readFileSync(r.path, 'utf8')).cells.length >= 2);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a large recording goes on in a new file, so memory and each rewrite stay bounded', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-mcp-rec-'));
    try {
      const r = new AuditRecorder(path.join(dir, 'big.qmp'), { profile: 'sandbox', title: '# t' });
      const reply = `{"return": "${'x'.repeat(1024 * 1024)}"}`;
      for (let i = 0; i < 9; i++) r.cell('qmp', '{"execute": "query-name"}', [{ kind: 'message', direction: '<-', json: reply }]);
      assert.equal(r.path, path.join(dir, 'big-2.qmp'));
      assert.ok(statSync(path.join(dir, 'big.qmp')).size < MAX_RECORDING_CHARS + 2 * 1024 * 1024);
      assert.equal(parseNotebook(readFileSync(r.path, 'utf8')).cells.filter((c) => c.kind === 'code').length, 9 - parseNotebook(readFileSync(path.join(dir, 'big.qmp'), 'utf8')).cells.filter((c) => c.kind === 'code').length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a write that fails is reported, and the session goes on', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-mcp-rec-'));
    try {
      writeFileSync(path.join(dir, 'file'), 'x');
      const r = new AuditRecorder(path.join(dir, 'file', 'a.qmp'), { profile: 'p', title: '# t' });
      const errors: string[] = [];
      r.onError = (m) => errors.push(m);
      r.note('n');
      assert.equal(errors.length, 1);
      assert.match(errors[0] as string, /cannot write the recording/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('long results', () => {
  test('are cut with a note, and the pages give back exactly the whole text', () => {
    const kernel = new AgentKernel({ targets: () => [], confirm: () => Promise.resolve('unavailable') });
    fc.assert(fc.property(fc.string({ minLength: 0, maxLength: 40_000, unit: 'binary' }), (s) => {
      const full = { value: s };
      const out = kernel.finish({ ok: true, data: full });
      const text = JSON.stringify(full);
      if (text.length <= MAX_RESULT_CHARS) { assert.equal(out.text, text); return; }
      assert.equal(out.data['truncated'], true);
      let got = String(out.data['partial']);
      let offset = got.length;
      for (;;) {
        const page = kernel.finish(kernel.readResult({ id: String(out.data['resultId']), offset }));
        got += String(page.data['text']);
        if (page.data['done'] === true) break;
        offset = Number(page.data['nextOffset']);
      }
      assert.equal(got, text);
    }), { numRuns: 30 });
    assert.equal(kernel.readResult({ id: 'r999' }).ok, false);
  });

  test('the language of a text is guessed as the editor would run it', () => {
    assert.equal(guessLanguage('  {"execute": "stop"}'), 'qmp');
    assert.equal(guessLanguage('// a note\n{"execute": "stop"}'), 'qmp');
    assert.equal(guessLanguage('query-status'), 'qmp-shell');
  });
});

describe('the records an agent gets', () => {
  test('a job the cell followed: once, when it ended, with the line run prints; its progress is left out', () => {
    const end = { cell: 1, at: 5, job: 'm0', kind: 'block-job' as const, jobType: 'mirror', status: 'concluded', percent: 100, current: 1048576, total: 1048576,
      outcome: 'concluded' as const, ms: 512.4 };
    assert.deepEqual(agentRecord({ type: 'job-finished', ...end }), {
      type: 'job-finished', job: 'm0', kind: 'block-job', jobType: 'mirror', status: 'concluded', outcome: 'concluded', percent: 100, ms: 512,
      text: 'm0 (mirror): concluded, 100%, 1.0 MiB in 0.5 s',
    });
    assert.equal(agentRecord({ type: 'job-progress', cell: 1, at: 4, job: 'm0', kind: 'block-job', status: 'running', percent: 50 }), undefined);
  });
});

describe('what VS Code asks before invoking', () => {
  const target = (policy: 'read-only' | 'confirm' | 'allow'): AgentTarget => ({
    name: 'vm', description: 'unix socket /x', policy, sandbox: false, status: () => ({ state: 'not connected' }),
    open: () => Promise.reject(new Error('preview never connects')),
  });
  const kernel = (policy: 'read-only' | 'confirm' | 'allow'): AgentKernel => new AgentKernel({ targets: () => [target(policy)], confirm: () => Promise.resolve('declined') });

  test('confirm: the state-changing commands of the cell; other policies and readers: nothing to ask', async () => {
    assert.deepEqual(await kernel('confirm').preview({ text: '{"execute": "stop"}\n{"execute": "query-status"}' }), { session: 'vm', confirm: ['stop'] });
    assert.deepEqual(await kernel('confirm').preview({ text: 'quit', language: 'hmp' }), { session: 'vm', confirm: ['hmp: quit'] });
    assert.deepEqual(await kernel('confirm').preview({ text: 'query-status' }), { session: 'vm', confirm: [] });
    assert.deepEqual(await kernel('allow').preview({ text: '{"execute": "stop"}' }), { session: 'vm', confirm: [] });
    // read-only refuses when invoked: nothing to confirm first.
    assert.deepEqual(await kernel('read-only').preview({ text: '{"execute": "quit"}' }), { session: 'vm', confirm: [] });
    // A cell that does not parse is refused when invoked, with its diagnostics.
    assert.equal(await kernel('confirm').preview({ text: '{"execute": ' }), undefined);
    assert.equal(await kernel('confirm').preview({ session: 'nope', text: 'stop' }), undefined);
  });

  test('a session that cannot connect: the error says what to do next', async () => {
    const opened: string[] = [];
    const t = { ...target('confirm'), open: () => { opened.push('open'); return Promise.reject(new Error('QEMU is not there')); } };
    const k = new AgentKernel({ targets: () => [t], confirm: () => Promise.resolve('declined') });
    const r = await k.execute({ text: '{"execute": "stop"}' });
    assert.equal(r.ok, false);
    assert.match(String(r.data['error']), /cannot connect to vm/);
    assert.match(String(r.data['next']), /QEMU is running/);
  });
});

describe("package.json's language-model tools", () => {
  test('are the MCP tools: the same names, descriptions and input schemas, each with an activation event', () => {
    const pkg = JSON.parse(readFileSync(path.join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
      contributes: { languageModelTools: Array<{ name: string; modelDescription: string; inputSchema: unknown; displayName: string }> };
      activationEvents: string[];
    };
    const declared = pkg.contributes.languageModelTools;
    assert.deepEqual(declared.map((t) => t.name), AGENT_TOOLS.map((t) => t.name));
    for (const t of AGENT_TOOLS) {
      const d = declared.find((x) => x.name === t.name);
      assert.deepEqual(d?.inputSchema, t.input, t.name);
      assert.equal(d?.modelDescription, t.description, t.name);
      assert.equal(d?.displayName, t.title, t.name);
      assert.ok(pkg.activationEvents.includes(`onLanguageModelTool:${t.name}`), t.name);
    }
  });
});
