// diagnose() must agree with the real QEMU's own checks (7.2 and 10.0): each command below is sent to a real QEMU exactly as
// written, and QEMU's verdict (rejected before running, by the dispatcher or the argument visitor, or not)
// must equal ours (an error diagnostic, or none). The schema is the one this QEMU reports.
// A minimal raw socket exchange is used on purpose: the verdict must not depend on our client's own checks.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { startQemu, testQemuVersion, type TestQemu } from '../support/qemu';
import { diagnose } from '../../src/language/diagnostics';
import { languageService, type CompatPolicy } from '../../src/language/service';
import { parseCell } from '../../src/format';
import { Schema } from '../../src/qmp/schema';
import type { SchemaInfo } from '../../src/qmp/introspect';

interface Reply {
  id?: unknown;
  return?: unknown;
  error?: { class: string; desc: string };
}

/** One QMP connection that reads `\r\n`-ended replies and skips events. */
class RawQmp {
  private buffer = '';
  private readonly queue: Reply[] = [];
  private waiter: (() => void) | undefined;
  private closed = false;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Reply & { event?: string };
        if (msg.event === undefined) this.queue.push(msg);
      }
      this.waiter?.();
    });
    socket.on('close', () => { this.closed = true; this.waiter?.(); });
  }

  static async connect(path: string): Promise<RawQmp> {
    const socket = net.connect(path);
    await new Promise<void>((resolve, reject) => { socket.once('connect', resolve); socket.once('error', reject); });
    const q = new RawQmp(socket);
    await q.next(); // the greeting
    q.send('{"execute": "qmp_capabilities", "arguments": {"enable": ["oob"]}}');
    assert.deepEqual((await q.next()).return, {});
    return q;
  }

  send(text: string): void {
    this.socket.write(text);
  }

  async next(deadlineMs = 10_000): Promise<Reply> {
    const deadline = Date.now() + deadlineMs;
    while (this.queue.length === 0) {
      if (this.closed) throw new Error('QEMU closed the connection');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error('no reply from QEMU in time');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => { clearTimeout(t); resolve(); };
      });
      this.waiter = undefined;
    }
    return this.queue.shift() as Reply;
  }

  /**
   * Sends `text` as is, then a marker command; returns every reply before the marker's. A malformed input
   * can make QEMU answer more than once (or with no id), so the marker keeps the exchange in step.
   */
  async exchange(text: string, n: number): Promise<Reply[]> {
    this.send(text);
    const marker = `sync-${n}`;
    this.send(`{"execute": "query-version", "id": "${marker}"}`);
    const replies: Reply[] = [];
    for (;;) {
      const r = await this.next();
      if (r.id === marker) return replies;
      replies.push(r);
    }
  }

  close(): void {
    this.socket.destroy();
  }
}

/** QEMU's messages for input it rejects before the command runs (dispatcher, parser, argument visitor). */
const REJECTED_BEFORE_RUNNING =
  /^(Parameter '[^']*' (is missing|is unexpected|does not accept value|expects )|Invalid parameter type|QMP input |JSON parse error|JSON nesting depth|The command \S+ does not support OOB|The command \S+ has not been found|Deprecated |Unstable )/;

function qemuRejects(r: Reply): boolean {
  return r.error !== undefined && (r.error.class === 'CommandNotFound' || REJECTED_BEFORE_RUNNING.test(r.error.desc));
}

/**
 * [command text, whether QEMU rejects it before running]. Where releases differ beyond what their schemas
 * say, the verdict is a function of the major version, and ours must be the one the schema allows.
 */
type Verdict = boolean | ((major: number) => boolean);
const CASES: [string, Verdict][] = [
  // Accepted (some fail later for reasons of their own, which is not an argument error).
  ['{"execute": "query-status"}', false],
  ['{"execute": "query-status", "id": {"a": [1, null]}}', false],
  ['{"execute": "qom-list", "arguments": {"path": "/machine"}}', false],
  ['{"execute": "qom-get", "arguments": {"path": "/machine", "property": "type"}}', false],
  ['{"execute": "qom-set", "arguments": {"path": "/machine", "property": "no-such", "value": [1, {"x": null}]}}', false],
  // `props` is `any` in every schema; 7.2's handler takes 7, later ones insist on an object in their own
  // code, after the argument check that a schema-driven checker mirrors: so ours is "no error" on both.
  ['{"execute": "query-cpu-model-expansion", "arguments": {"type": "static", "model": {"name": "max", "props": 7}}}',
    (major) => major >= 10],
  ['{"execute": "migrate-set-parameters", "arguments": {"tls-creds": null}}', false],
  ['{"execute": "migrate-set-parameters", "arguments": {"max-bandwidth": -1}}', false],
  ['{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "ok0", "size": 1048576, "read-zeroes": true}}', false],
  ['{"execute": "blockdev-add", "arguments": {"driver": "qcow2", "node-name": "q0", "file": "no-such-node"}}', false],
  ['{"execute": "device_add", "arguments": {"driver": "usb-kbd", "id": 5, "port": "1"}}', false],
  ['{"execute": "block-dirty-bitmap-merge", "arguments": {"node": "x", "target": "y", "bitmaps": ["a", {"node": "n", "name": "b"}]}}', false],
  ['{"exec-oob": "query-yank", "id": "oob-1"}', false],
  ['{"execute": "query-command-line-options", "arguments": {"option": "no-such-option"}}', false],
  ['{"execute": "human-monitor-command", "arguments": {"command-line": "info version"}}', false],
  ['{"execute": "drive-backup", "arguments": {"device": "no-such-device", "target": "/nonexistent/x", "sync": "full"}}', false],
  ['{"execute": "query-status", "arguments": {}} // a comment is ours to strip, QEMU never sees it', false],
  // Rejected by the dispatcher.
  ['{"execute": "no-such-command"}', true],
  ['{"execute": "query-status", "foo": 1}', true],
  ['{"execute": "query-status", "arguments": []}', true],
  ['{"arguments": {}}', true],
  ['{"execute": 1}', true],
  ['{"exec-oob": "query-status"}', true],
  ['{"exec-oob": "query-yank", "execute": "query-yank"}', true],
  ['{"execute": "query-status", "arguments": {}, "arguments": {}}', true],
  ['{"execute": "query-status",}', true],
  // Rejected by the argument visitor.
  ['{"execute": "query-status", "arguments": {"a": 1}}', true],
  ['{"execute": "qom-list", "arguments": {"path": 1}}', true],
  ['{"execute": "qom-get", "arguments": {"path": "/machine"}}', true],
  ['{"execute": "query-cpu-model-expansion", "arguments": {"type": "bogus", "model": {"name": "max"}}}', true],
  ['{"execute": "query-cpu-model-expansion", "arguments": {"type": "static", "model": {"name": "max", "zz": 1}}}', true],
  ['{"execute": "blockdev-add", "arguments": {"node-name": "n1"}}', true],
  ['{"execute": "blockdev-add", "arguments": {"driver": "bogus", "node-name": "n2"}}', true],
  ['{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n3", "size": 1.0}}', true],
  ['{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n4", "size": 1e3}}', true],
  ['{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n5", "size": "1"}}', true],
  ['{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n6", "size": 18446744073709551616}}', true],
  ['{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n7", "read-only": null}}', true],
  ['{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "n8", "filename": "x"}}', true],
  ['{"execute": "query-command-line-options", "arguments": {"option": null}}', true],
  ['{"execute": "migrate-set-parameters", "arguments": {"tls-creds": 5}}', true],
  ['{"execute": "block-dirty-bitmap-merge", "arguments": {"node": "x", "target": "y", "bitmaps": [1]}}', true],
  ['{"execute": "block-dirty-bitmap-merge", "arguments": {"node": "x", "target": "y", "bitmaps": [{"node": "a"}]}}', true],
  ['{"execute": "block-dirty-bitmap-merge", "arguments": {"node": "x", "target": "y", "bitmaps": "a"}}', true],
  ['{"execute": "device_add", "arguments": {"id": "x"}}', true],
  ['{"execute": "stop", "arguments": {"x": 1}}', true],
];

/** A command whose `value` (type any: accepted, then failing later) is nested so that the input is `depth` deep. */
function nestedTo(depth: number): string {
  const k = depth - 2; // the command object and its arguments
  return `{"execute": "qom-set", "arguments": {"path": "/machine", "property": "no-such", "value": ${'['.repeat(k)}${']'.repeat(k)}}}`;
}

/** QEMU's nesting limit (MAX_NESTING 1024): the deepest input it takes, and one level more. */
const NESTING_CASES: [string, boolean][] = [[nestedTo(1024), false], [nestedTo(1025), true]];

/**
 * [qmp-shell line, whether QEMU 7.2 rejects the command the line sends before running it]. The shell parser
 * builds the JSON (typed by the schema); QEMU judges that JSON; the qmp-shell service must agree.
 */
const SHELL_CASES: [string, boolean][] = [
  ['query-status', false],
  ['qom-list path=/machine', false],
  ['blockdev-add driver=null-co node-name=s1 size=1048576 read-zeroes=true', false],
  ['blockdev-add driver=null-co node-name=s2 size=1_024', false],
  ["blockdev-add driver=null-co node-name=s3 cache={'direct':False,'no-flush':True}", false],
  ['blockdev-add driver=null-co node-name=s5 cache={"direct":false} cache.no-flush=true', false],
  ['query-yank --oob', false],
  ['nbd-server-remove name=x', false],
  ['qom-get path=/machine property=1.5', false],
  ['query-verison', true],
  ['blockdev-del', true],
  ['block_resize node-name=n1 sise=10 size=1', true],
  ['blockdev-add driver=nul-co node-name=x', true],
  ['blockdev-add driver=null-co node-name=s4 cache.direkt=true', true],
  ['query-status --oob', true],
  ['transaction(\n block-dirty-bitmap-add node=n1 nam=b0\n)', true],
];

/** The JSON a one-command shell cell sends (the test fails on a parse error: these lines are all valid shell). */
function shellJson(line: string, schema: Schema): string {
  const parsed = parseCell(line, 'qmp-shell', schema);
  assert.deepEqual(parsed.errors, [], line);
  const item = parsed.items[0];
  assert.ok(item?.kind === 'command', line);
  return item.json;
}

/** Cases whose verdict depends on more than the schema: ours must say "no error" there. */
const beyondSchema = new Set(CASES.filter(([, v]) => typeof v === 'function').map(([t]) => t));

describe(`diagnose agrees with QEMU ${testQemuVersion().text} on what it rejects before running`, () => {
  let qemu: TestQemu | undefined;
  let qmp: RawQmp | undefined;
  let schema: Schema | undefined;

  before(async () => {
    qemu = await startQemu();
    qmp = await RawQmp.connect(qemu.socketPath);
    const r = await qmp.exchange('{"execute": "query-qmp-schema", "id": "schema"}', 0);
    schema = Schema.fromIntrospection(r[0]?.return as SchemaInfo[]);
  });

  after(async () => {
    qmp?.close();
    await qemu?.stop();
  });

  test('the schema comes from this QEMU: the same commands as its query-commands', async () => {
    const r = await (qmp as RawQmp).exchange('{"execute": "query-commands", "id": "commands"}', 0);
    const names = (r[0]?.return as { name: string }[]).map((c) => c.name).sort();
    assert.ok(names.length > 150, `${names.length} commands`);
    assert.deepEqual(schema?.commands().map((c) => c.name).sort(), names);
  });

  test('each command: QEMU\'s verdict equals ours', async () => {
    const disagreements: string[] = [];
    let n = 1;
    const { major } = testQemuVersion();
    for (const [text, verdict] of CASES) {
      const expectedRejected = typeof verdict === 'function' ? verdict(major) : verdict;
      const replies = await (qmp as RawQmp).exchange(text.replace(/\s*\/\/.*$/, ''), n++);
      assert.ok(replies.length >= 1, `QEMU answered ${text}`);
      const first = replies[0] as Reply;
      const theirs = qemuRejects(first);
      const ours = diagnose(text, schema, { oobNegotiated: true }).filter((d) => d.severity === 'error');
      if (theirs !== expectedRejected) disagreements.push(`QEMU changed its mind on ${text}: ${JSON.stringify(first)}`);
      if (beyondSchema.has(text)) {
        if (ours.length > 0) disagreements.push(`${text}\n  ours rejects what the schema allows: ${ours.map((d) => d.message).join('; ')}`);
      } else if (theirs !== (ours.length > 0)) {
        disagreements.push(`${text}\n  QEMU: ${JSON.stringify(first)}\n  ours: ${ours.map((d) => `${d.code}: ${d.message}`).join('; ') || 'no error'}`);
      }
    }
    assert.deepEqual(disagreements, []);
  });

  test('nesting: QEMU\'s limit is ours (the cell parser refuses what QEMU would)', async () => {
    const disagreements: string[] = [];
    let n = 1000;
    for (const [text, expectedRejected] of NESTING_CASES) {
      const replies = await (qmp as RawQmp).exchange(text, n++);
      const first = replies[0] as Reply;
      const theirs = qemuRejects(first);
      const ours = parseCell(text, 'qmp').errors.length > 0;
      const depth = text.split('[').length - 1 + 2;
      if (theirs !== expectedRejected) disagreements.push(`QEMU at depth ${depth}: ${JSON.stringify(first)}`);
      if (theirs !== ours) disagreements.push(`depth ${depth}: QEMU ${JSON.stringify(first)}, ours ${String(ours)}`);
    }
    assert.deepEqual(disagreements, []);
  });

  test('qmp-shell lines: QEMU\'s verdict on the JSON they send equals the shell service\'s', async () => {
    const shell = languageService('qmp-shell');
    const disagreements: string[] = [];
    let n = 2000;
    for (const [line, expectedRejected] of SHELL_CASES) {
      const json = shellJson(line, schema as Schema);
      const replies = await (qmp as RawQmp).exchange(json, n++);
      const first = replies[0] as Reply;
      const theirs = qemuRejects(first);
      const ours = (shell?.diagnose(line, { schema, oobNegotiated: true }) ?? []).filter((d) => d.severity === 'error');
      if (theirs !== expectedRejected) disagreements.push(`QEMU changed its mind on ${line} (${json}): ${JSON.stringify(first)}`);
      if (theirs !== (ours.length > 0)) {
        disagreements.push(`${line}\n  sent: ${json}\n  QEMU: ${JSON.stringify(first)}\n  ours: ${ours.map((d) => `${d.code}: ${d.message}`).join('; ') || 'no error'}`);
      }
    }
    assert.deepEqual(disagreements, []);
  });
});

describe('diagnose agrees with QEMU 7.2 under -compat deprecated-input=reject,unstable-input=reject', () => {
  let qemu: TestQemu | undefined;
  let qmp: RawQmp | undefined;
  let schema: Schema | undefined;
  const policy: CompatPolicy = { deprecatedInput: 'reject', unstableInput: 'reject' };

  before(async () => {
    qemu = await startQemu({ args: ['-compat', 'deprecated-input=reject,unstable-input=reject'] });
    qmp = await RawQmp.connect(qemu.socketPath);
    const r = await qmp.exchange('{"execute": "query-qmp-schema", "id": "schema"}', 0);
    schema = Schema.fromIntrospection(r[0]?.return as SchemaInfo[]);
  });

  after(async () => {
    qmp?.close();
    await qemu?.stop();
  });

  test('what QEMU refuses by policy is an error for us too, in qmp and qmp-shell cells', async () => {
    const cases: ['qmp' | 'qmp-shell', string, boolean][] = [
      ['qmp', '{"execute": "nbd-server-remove", "arguments": {"name": "x"}}', true],
      ['qmp-shell', 'nbd-server-remove name=x', true],
      ['qmp', '{"execute": "x-colo-lost-heartbeat"}', true],
      ['qmp-shell', 'x-colo-lost-heartbeat', true],
      ['qmp', '{"execute": "query-status"}', false],
      ['qmp-shell', 'qom-list path=/machine', false],
    ];
    const disagreements: string[] = [];
    let n = 1;
    for (const [language, text, expectedRejected] of cases) {
      const json = language === 'qmp' ? text : shellJson(text, schema as Schema);
      const first = (await (qmp as RawQmp).exchange(json, n++))[0] as Reply;
      const theirs = qemuRejects(first);
      const ours = (languageService(language)?.diagnose(text, { schema, compat: policy, oobNegotiated: true }) ?? []).filter((d) => d.severity === 'error');
      if (theirs !== expectedRejected) disagreements.push(`QEMU changed its mind on ${text}: ${JSON.stringify(first)}`);
      if (theirs !== (ours.length > 0)) disagreements.push(`${text}\n  QEMU: ${JSON.stringify(first)}\n  ours: ${ours.map((d) => d.message).join('; ') || 'no error'}`);
    }
    assert.deepEqual(disagreements, []);
  });
});
