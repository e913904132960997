// `qmp-notebook mcp` (the production CLI bundle) driven by the official MCP SDK client over stdio, against real
// QEMU: the tools, the rails (validation before sending, the read-only policy), the screenshot, and the audit
// notebook passing `qmp-notebook test` on a fresh sandbox.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inflateSync } from 'node:zlib';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { parseNotebook } from '../../src/format/index';
import { QmpClient } from '../../src/qmp/index';
import { qemuBinary, startQemu, type TestQemu } from '../support/qemu';
import { buildCli, runCliBundle } from '../support/cliBundle';

interface Session {
  client: Client;
  stderr: () => string;
  close(): Promise<void>;
}

/** Starts the bundled `qmp-notebook mcp ARGS` and connects the SDK's client to it. */
async function startMcp(bundle: string, args: string[], capabilities: Record<string, unknown> = {}): Promise<Session> {
  // The whole environment (the SDK passes only a few variables by default): TMPDIR matters for QEMU 10.0's chroot.
  const transport = new StdioClientTransport({ command: process.execPath, args: [bundle, 'mcp', ...args], stderr: 'pipe', env: { ...process.env } as Record<string, string> });
  let err = '';
  transport.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const client = new Client({ name: 'qmp-notebook-test', version: '0' }, { capabilities });
  await client.connect(transport);
  return { client, stderr: () => err, close: () => client.close() };
}

type ToolOut = { isError?: boolean; content: Array<{ type: string; text?: string; data?: string; mimeType?: string }>; structuredContent?: Record<string, unknown> };

async function call(s: Session, name: string, args: Record<string, unknown> = {}): Promise<ToolOut> {
  return await s.client.callTool({ name, arguments: args }, undefined, { timeout: 60_000 }) as ToolOut;
}

function data(r: ToolOut): Record<string, unknown> {
  const text = r.content.find((c) => c.type === 'text')?.text ?? '{}';
  const parsed = JSON.parse(text) as Record<string, unknown>;
  assert.deepEqual(r.structuredContent, parsed, 'structured content and text say the same');
  return parsed;
}

let bundle: string;
let dir: string;

before(async () => {
  bundle = await buildCli();
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-mcp-test-'));
  chmodSync(dir, 0o700);
});
after(() => rmSync(dir, { recursive: true, force: true }));

describe('qmp-notebook mcp on a sandbox (SDK client over stdio)', () => {
  let s: Session;
  const record = (): string => path.join(dir, 'sandbox-rec');
  before(async () => { s = await startMcp(bundle, ['--sandbox', '--qemu', qemuBinary, '--record', record()]); });
  after(async () => { await s?.close(); });

  test('lists the tools and the sandbox session with its QEMU version, OOB and state', async () => {
    const tools = (await s.client.listTools()).tools.map((t) => t.name);
    for (const t of ['qmp_list_sessions', 'qmp_lookup', 'qmp_validate', 'qmp_execute', 'qmp_wait_event', 'qmp_read_events', 'qmp_hmp', 'qmp_screenshot', 'qmp_read_result']) {
      assert.ok(tools.includes(t), `${t} in ${tools.join(', ')}`);
    }
    const before = data(await call(s, 'qmp_list_sessions'));
    const sessions = before['sessions'] as Array<Record<string, unknown>>;
    assert.equal(sessions.length, 1);
    assert.equal(sessions[0]?.['name'], 'sandbox');
    assert.equal(sessions[0]?.['policy'], 'allow');
    assert.match(String(sessions[0]?.['state']), /not connected/);
    await call(s, 'qmp_execute', { text: '{"execute": "query-status"}' });
    const now = (data(await call(s, 'qmp_list_sessions'))['sessions'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    assert.equal(now['state'], 'connected');
    assert.match(String(now['qemu']), /^\d+\.\d+\.\d+/);
    assert.equal(now['oob'], true);
  });

  test('looks up a command (arguments with types, OOB, the manual) and searches by keyword', async () => {
    const c = data(await call(s, 'qmp_lookup', { name: 'migrate-set-capabilities' }));
    assert.equal(c['kind'], 'command');
    const argsList = c['arguments'] as Array<{ name: string; type: string; optional: boolean }>;
    assert.equal(argsList[0]?.name, 'capabilities');
    assert.equal(argsList[0]?.optional, false);
    assert.match(String(argsList[0]?.type), /array|\[/i);
    assert.match(String(c['manual']), /\*\*migrate-set-capabilities\*\* \(command\)/);
    assert.equal(data(await call(s, 'qmp_lookup', { name: 'migrate-recover' }))['allowOob'], true);
    const oob = data(await call(s, 'qmp_lookup', { oob: true }));
    const names = (oob['results'] as Array<{ name: string }>).map((r) => r.name);
    assert.ok(names.includes('migrate-recover') && !names.includes('query-status'), names.join(','));
    const k = data(await call(s, 'qmp_lookup', { keyword: 'snapshot' }));
    assert.ok((k['results'] as Array<{ name: string }>).some((r) => r.name === 'blockdev-snapshot-sync'));
    const e = data(await call(s, 'qmp_lookup', { name: 'STOP' }));
    assert.equal(e['kind'], 'event');
  });

  test('validates a misspelled command: the diagnostic and its fix, and nothing is sent', async () => {
    const eventsBefore = data(await call(s, 'qmp_read_events'))['cursor'];
    const v = data(await call(s, 'qmp_validate', { text: '{"execute": "query-verison"}' }));
    assert.equal(v['valid'], false);
    assert.equal(v['sent'], false);
    const d = (v['diagnostics'] as Array<Record<string, unknown>>)[0] as Record<string, unknown>;
    assert.equal(d['severity'], 'error');
    assert.match(String(d['message']), /query-verison/);
    assert.match(String(d['message']), /query-version/);
    assert.deepEqual([d['line'], d['column']], [1, 13]);
    const fixes = v['fixes'] as Array<{ fixedText: string }>;
    assert.ok(fixes.some((f) => f.fixedText === '{"execute": "query-version"}'), JSON.stringify(fixes));
    // Executing it is refused with the same diagnostics: QEMU never sees it (its own reply would be
    // CommandNotFound; the recording has no cell for it, and the engine made no cell).
    const x = await call(s, 'qmp_execute', { text: '{"execute": "query-verison"}' });
    assert.equal(x.isError, true);
    const xd = data(x);
    assert.equal(xd['sent'], false);
    assert.match(String(xd['next']), /fix/i);
    assert.equal((xd['diagnostics'] as unknown[]).length, 1);
    assert.equal(data(await call(s, 'qmp_read_events'))['cursor'], eventsBefore);
  });

  test('executes query-status and returns the reply as a transcript record', async () => {
    const r = data(await call(s, 'qmp_execute', { text: '{"execute": "query-status"}' }));
    const reply = (r['records'] as Array<Record<string, unknown>>).find((x) => x['type'] === 'reply') as Record<string, unknown>;
    assert.equal(reply['command'], 'query-status');
    assert.equal(reply['ok'], true);
    assert.equal((reply['return'] as { status: string }).status, 'prelaunch');
  });

  test('waits for STOP after stop, bounded; read_events shows it', async () => {
    data(await call(s, 'qmp_execute', { text: 'cont', language: 'qmp-shell' }));
    const stopped = data(await call(s, 'qmp_execute', { text: '{"execute": "stop"}' }));
    assert.equal(stopped['sent'], true);
    const w = data(await call(s, 'qmp_wait_event', { event: 'STOP', timeoutMs: 5000 }));
    assert.equal(w['event'], 'STOP');
    // The same STOP is not counted twice: a second wait times out at its own 300 ms bound, and says what to do.
    const again = await call(s, 'qmp_wait_event', { event: 'STOP', timeoutMs: 300 });
    assert.equal(again.isError, true);
    assert.match(JSON.stringify(data(again)), /300 ms/, JSON.stringify(data(again)));
    assert.match(String(data(again)['next']), /qmp_read_events/);
    const ev = data(await call(s, 'qmp_read_events', { names: ['STOP', 'RESUME'] }));
    assert.deepEqual((ev['events'] as Array<{ event: string }>).map((e) => e.event), ['RESUME', 'STOP']);
  });

  test('HMP through human-monitor-command', async () => {
    const r = data(await call(s, 'qmp_hmp', { command: 'info status' }));
    assert.match(String(r['output']), /VM status: paused/);
  });

  test('a long reply is cut with a note, and qmp_read_result pages through it', async () => {
    const r = data(await call(s, 'qmp_execute', { text: '{"execute": "query-qmp-schema"}' }));
    assert.equal(r['truncated'], true);
    const id = String(r['resultId']);
    const total = Number(r['totalChars']);
    let text = String(r['partial']);
    let offset: number | undefined = text.length;
    for (let pages = 0; offset !== undefined && pages < 200; pages++) {
      const page = data(await call(s, 'qmp_read_result', { id, offset }));
      text += String(page['text']);
      offset = page['nextOffset'] as number | undefined;
    }
    assert.equal(text.length, total);
    const full = JSON.parse(text) as { records: Array<{ type: string; return?: unknown[] }> };
    assert.ok(Array.isArray(full.records.find((x) => x.type === 'reply')?.return));
  });

  test('the recorded notebook has the cells and passes qmp-notebook test on a fresh sandbox', async () => {
    const files = readdirSync(record()).filter((f) => f.endsWith('.qmp'));
    assert.equal(files.length, 1, files.join(','));
    const file = path.join(record(), files[0] as string);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(record()).mode & 0o777, 0o700);
    const nb = parseNotebook(readFileSync(file, 'utf8'));
    assert.equal(nb.profile, 'sandbox');
    const code = nb.cells.filter((c) => c.kind === 'code');
    assert.deepEqual(code.map((c) => c.source), [
      '{"execute": "query-status"}', '{"execute": "query-status"}', 'cont', '{"execute": "stop"}', 'info status', '{"execute": "query-qmp-schema"}',
    ]);
    // The misspelled command is a note, not a cell.
    assert.ok(nb.cells.some((c) => c.kind === 'markdown' && c.source.includes('query-verison') && c.source.includes('Nothing was sent')));
    const stop = code[3];
    assert.ok(stop?.outputs?.some((o) => o.kind === 'message' && o.json.includes('"STOP"')), JSON.stringify(stop?.outputs));
    // No temp file left beside it.
    assert.deepEqual(readdirSync(record()).filter((f) => f.endsWith('.tmp')), []);
    const t = await runCliBundle(bundle, ['test', file, '--sandbox', '--qemu', qemuBinary], { deadlineMs: 90_000 });
    assert.equal(t.code, 0, `${t.stdout}\n${t.stderr}`);
    assert.match(t.stdout, /6 passed|passed: 6|6 cells? passed/i);
  });
});

describe('qmp-notebook mcp on a QEMU it did not start', () => {
  let qemu: TestQemu;
  let s: Session;
  /** A second monitor of the same QEMU, for the test's own look at it (QEMU serves one client per monitor). */
  let probeSocket: string;
  before(async () => {
    probeSocket = path.join(dir, 'probe.sock');
    qemu = await startQemu({ machine: ['-M', 'pc', '-m', '64M', '-accel', 'tcg'], args: ['-vga', 'std', '-qmp', `unix:${probeSocket},server=on,wait=off`, '-trace', 'handle_qmp_command'] });
    s = await startMcp(bundle, ['--socket', qemu.socketPath, '--no-sandbox', '--record', path.join(dir, 'vm-rec')]);
  });
  after(async () => { await s?.close(); await qemu?.stop(); });

  test('defaults to read-only: quit is refused, nothing is sent, and QEMU keeps running', async () => {
    const list = data(await call(s, 'qmp_list_sessions'));
    assert.deepEqual((list['sessions'] as Array<Record<string, unknown>>).map((x) => [x['name'], x['policy'], x['sandbox']]), [['vm', 'read-only', false]]);
    const r = await call(s, 'qmp_execute', { text: '{"execute": "quit"}' });
    assert.equal(r.isError, true);
    const d = data(r);
    assert.equal(d['sent'], false);
    assert.deepEqual(d['refused'], ['quit']);
    assert.match(String(d['error']), /read-only policy/);
    const hmp = await call(s, 'qmp_hmp', { command: 'quit' });
    assert.equal(hmp.isError, true);
    assert.deepEqual(data(hmp)['refused'], ['hmp: quit']);
    // QEMU is alive: a client of our own still gets an answer, and the process has not exited.
    const probe = new QmpClient();
    await probe.connect({ kind: 'unix', path: probeSocket });
    try {
      assert.equal((await probe.execute('query-status') as { status: string }).status, 'prelaunch');
    } finally {
      await probe.disconnect();
    }
    assert.equal(qemu.process.exitCode, null);
    // Reading is allowed.
    assert.equal(data(await call(s, 'qmp_execute', { text: 'query-name' }))['sent'], true);
  });

  test("QEMU's own trace proves what was sent: a misspelled command and a refused quit never reach it", async () => {
    assert.equal(data(await call(s, 'qmp_validate', { text: '{"execute": "query-verison"}' }))['valid'], false);
    assert.equal((await call(s, 'qmp_execute', { text: '{"execute": "query-verison"}' })).isError, true);
    assert.equal(data(await call(s, 'qmp_execute', { text: 'query-version' }))['sent'], true);
    // handle_qmp_command traces every command QEMU's monitor receives, ours and the probe's.
    const deadline = Date.now() + 5000;
    while (!qemu.stderr().includes('"query-version"') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const trace = qemu.stderr();
    assert.match(trace, /handle_qmp_command.*"query-version"/);
    assert.match(trace, /handle_qmp_command.*"query-name"/);
    assert.doesNotMatch(trace, /query-verison/);
    assert.doesNotMatch(trace, /"quit"/);
    assert.doesNotMatch(trace, /human-monitor-command/);
  });

  test('confirm without elicitation support refuses state changes with a message', async () => {
    const own = await startQemu();
    const c = await startMcp(bundle, ['--socket', own.socketPath, '--no-sandbox', '--policy', 'confirm', '--record', path.join(dir, 'vm-confirm')]);
    try {
      const r = await call(c, 'qmp_execute', { text: '{"execute": "stop"}' });
      assert.equal(r.isError, true);
      assert.match(String(data(r)['error']), /cannot ask/);
    } finally {
      await c.close();
      await own.stop();
    }
  });

  test('confirm with elicitation: the person declines, then approves', async () => {
    const own = await startQemu();
    const c = await startMcp(bundle, ['--socket', own.socketPath, '--no-sandbox', '--policy', 'confirm', '--record', path.join(dir, 'vm-elicit')], { elicitation: {} });
    const answers = [false, true];
    const asked: string[] = [];
    c.client.setRequestHandler(ElicitRequestSchema, (req) => {
      asked.push(String(req.params.message));
      return { action: 'accept', content: { send: answers.shift() ?? false } };
    });
    try {
      const no = await call(c, 'qmp_execute', { text: '{"execute": "cont"}' });
      assert.equal(no.isError, true);
      assert.match(String(data(no)['error']), /declined/);
      const yes = data(await call(c, 'qmp_execute', { text: '{"execute": "cont"}' }));
      assert.equal(yes['sent'], true);
      assert.equal(asked.length, 2);
      assert.match(asked[0] as string, /cont/);
      // query-status needs no approval.
      assert.equal(data(await call(c, 'qmp_execute', { text: 'query-status' }))['sent'], true);
      assert.equal(asked.length, 2);
    } finally {
      await c.close();
      await own.stop();
    }
  });

  test('a screenshot of the VGA display is a valid PNG', async () => {
    const r = await call(s, 'qmp_screenshot');
    assert.notEqual(r.isError, true, JSON.stringify(r.content[0]));
    const image = r.content.find((x) => x.type === 'image');
    assert.equal(image?.mimeType, 'image/png');
    const png = Buffer.from(String(image?.data), 'base64');
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
    assert.equal(png.toString('latin1', 12, 16), 'IHDR');
    const width = png.readUInt32BE(16);
    const height = png.readUInt32BE(20);
    assert.ok(width >= 320 && height >= 200, `${width}x${height}`);
    assert.deepEqual([data(r)['width'], data(r)['height']], [width, height]);
    // The IDAT data inflates to the size the header promises (filter byte + pixels per row).
    const idat: Buffer[] = [];
    for (let at = 8; at < png.length;) {
      const len = png.readUInt32BE(at);
      const type = png.toString('latin1', at + 4, at + 8);
      if (type === 'IDAT') idat.push(png.subarray(at + 8, at + 8 + len));
      at += 12 + len;
    }
    const bpp = png[25] === 6 ? 4 : 3;
    assert.equal(inflateSync(Buffer.concat(idat)).length, height * (1 + width * bpp));
  });
});

describe('qmp-notebook mcp arguments', () => {
  test('a bad policy is a usage error (exit 2) before anything starts', async () => {
    const r = await runCliBundle(bundle, ['mcp', '--policy', 'yolo'], { deadlineMs: 20_000 });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--policy expects read-only, confirm or allow, got 'yolo'/);
    const both = await runCliBundle(bundle, ['mcp', '--socket', '/x', '--tcp', 'h:1'], { deadlineMs: 20_000 });
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give only one of --socket, --tcp/);
  });
});
