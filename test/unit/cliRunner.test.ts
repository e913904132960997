// The CLI runner's own rules, with a scripted stand-in for the client: which cells run and when, which
// command an event is given to, how waits match, and the file positions of problems. The client itself is
// tested against real QEMU in test/qemu.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LineIndex, findSourceOffsets } from '../../src/cli/locate';
import type { CommandInputLike, CommandReplyLike, EventRecord, RunnerClient } from '../../src/cli/ports';
import { isOobCell, runCells, type RunCell } from '../../src/cli/run';
import { eventDataMatches as dataMatches } from '../../src/notebook/format';
import { resolveConnection } from '../../src/cli/cli';

/** Answers each command after `delays[name]` ms (default 0) and emits the events scripted for it. */
class ScriptedClient implements RunnerClient {
  private seq = 0;
  private readonly history: EventRecord[] = [];
  private readonly listeners = new Set<(e: EventRecord) => void>();
  readonly sent: string[] = [];

  constructor(private readonly script: Record<string, { delayMs?: number; before?: string[]; after?: string[]; error?: string }>) {}

  private emit(name: string): void {
    const e: EventRecord = { seq: ++this.seq, event: name, timestamp: { seconds: 0, microseconds: 0 }, raw: `{"event": "${name}"}` };
    this.history.push(e);
    for (const l of this.listeners) l(e);
  }

  async send(command: CommandInputLike): Promise<CommandReplyLike> {
    const name = (command.execute ?? command['exec-oob']) as string;
    this.sent.push(name);
    const s = this.script[name] ?? {};
    await new Promise((r) => setTimeout(r, s.delayMs ?? 0));
    for (const e of s.before ?? []) this.emit(e);
    const idText = command.idText ?? '"x"';
    const sent = `{"execute":"${name}","id":${idText}}`;
    const reply: CommandReplyLike = s.error
      ? { idText, ok: false, error: { class: 'GenericError', desc: s.error }, raw: `{"error": {"class": "GenericError", "desc": "${s.error}"}, "id": ${idText}}`, sent }
      : { idText, ok: true, value: {}, raw: `{"return": {}, "id": ${idText}}`, sent };
    setTimeout(() => { for (const e of s.after ?? []) this.emit(e); }, 1);
    return reply;
  }

  onEvent(listener: (e: EventRecord) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  eventCursor(): number {
    return this.seq;
  }

  waitForEvent(predicate: (e: EventRecord) => boolean, options: { after?: number; timeoutMs: number }): Promise<EventRecord> {
    const found = this.history.find((e) => e.seq > (options.after ?? this.seq) && predicate(e));
    if (found) return Promise.resolve(found);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { sub.dispose(); reject(new Error('timeout')); }, options.timeoutMs);
      const sub = this.onEvent((e) => { if (predicate(e)) { clearTimeout(timer); sub.dispose(); resolve(e); } });
    });
  }
}

const cmd = (name: string, oob = false): RunCell['items'][number] =>
  ({ kind: 'command', name, input: oob ? { 'exec-oob': name, idText: `"${name}"` } : { execute: name, idText: `"${name}"` } });

function capture(): { out: string[]; err: string[]; io: { out(l: string): void; err(l: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

describe('cli runner', () => {
  test('an out-of-band cell does not wait behind a slow in-band cell; in-band cells keep their order', async () => {
    const client = new ScriptedClient({ slow: { delayMs: 200 } });
    const c = capture();
    const outcome = await runCells(client, [
      { index: 1, items: [cmd('slow')] },
      { index: 2, items: [cmd('query-yank', true)] },
      { index: 3, items: [cmd('after')] },
    ], { json: true, timeoutMs: 1000 }, c.io);
    assert.deepEqual(outcome, { status: 'ok' });
    assert.deepEqual(c.out.map((l) => (JSON.parse(l) as { command: string }).command), ['query-yank', 'slow', 'after']);
    assert.deepEqual(client.sent, ['slow', 'query-yank', 'after']);
  });

  test('the first failing in-band cell stops the cells after it', async () => {
    const client = new ScriptedClient({ bad: { error: 'nope' } });
    const c = capture();
    const outcome = await runCells(client, [
      { index: 1, items: [cmd('bad'), cmd('same-cell')] },
      { index: 2, items: [cmd('later')] },
    ], { json: false, timeoutMs: 1000 }, c.io);
    assert.equal(outcome.status, 'failed');
    assert.deepEqual(client.sent, ['bad']);
    assert.match(c.err.join('\n'), /cell 1: bad: GenericError: nope/);
  });

  test('events go to the command in flight, or after its reply to the last command sent', async () => {
    const client = new ScriptedClient({ cont: { before: ['RESUME'] }, device_del: { after: ['DEVICE_DELETED'] } });
    const c = capture();
    await runCells(client, [{
      index: 1,
      items: [cmd('cont'), cmd('device_del'), { kind: 'wait', event: 'DEVICE_DELETED', timeoutMs: 1000 }],
    }], { json: true, timeoutMs: 1000 }, c.io);
    const records = c.out.map((l) => JSON.parse(l) as { command?: string; events?: Array<{ event: string }>; 'wait-event'?: string });
    assert.deepEqual(records.map((r) => [r.command ?? r['wait-event'], (r.events ?? []).map((e) => e.event)]), [
      ['cont', ['RESUME']], ['device_del', ['DEVICE_DELETED']], ['DEVICE_DELETED', []],
    ]);
  });

  test('each event satisfies one wait; a wait with no event left times out', async () => {
    const client = new ScriptedClient({ stop: { before: ['STOP'] } });
    const c = capture();
    const outcome = await runCells(client, [{
      index: 4,
      line: 10,
      items: [cmd('stop'), { kind: 'wait', event: 'STOP', timeoutMs: 500 }, { kind: 'wait', event: 'STOP', timeoutMs: 50, line: 12 }],
    }], { json: false, timeoutMs: 1000 }, c.io);
    assert.deepEqual(outcome, { status: 'failed', cell: 4, message: 'cell 4 (line 10): no STOP event within 50 ms (line 12)' });
  });

  test('data subsets: objects member by member, arrays and scalars exactly', () => {
    assert.equal(dataMatches({ device: 'kbd0' }, { device: 'kbd0', path: '/machine/peripheral/kbd0' }), true);
    assert.equal(dataMatches({ device: 'kbd0' }, { device: 'kbd1' }), false);
    assert.equal(dataMatches({ a: { b: 1 } }, { a: { b: 1, c: 2 } }), true);
    assert.equal(dataMatches({ a: [1, 2] }, { a: [1, 2, 3] }), false);
    assert.equal(dataMatches({ a: null }, { a: null }), true);
    assert.equal(dataMatches({ a: 1 }, {}), false);
  });

  test('a cell is out-of-band only when every command is', () => {
    assert.equal(isOobCell({ index: 1, items: [cmd('a', true), cmd('b', true)] }), true);
    assert.equal(isOobCell({ index: 1, items: [cmd('a', true), cmd('b')] }), false);
    assert.equal(isOobCell({ index: 1, items: [{ kind: 'command', name: 'y', input: { execute: 'y', control: { 'run-oob': true } } }] }), true);
    assert.equal(isOobCell({ index: 1, items: [{ kind: 'wait', event: 'X' }] }), false);
  });
});

describe('cli positions and connections', () => {
  test('line index: LF, CRLF and lone CR line ends; 1-based columns', () => {
    const idx = new LineIndex('ab\ncd\r\nef\rgh');
    assert.deepEqual(idx.position(0), { line: 1, col: 1 });
    assert.deepEqual(idx.position(4), { line: 2, col: 2 });
    assert.deepEqual(idx.position(7), { line: 3, col: 1 });
    assert.deepEqual(idx.position(10), { line: 4, col: 1 });
  });

  test('sources are found in order, so a repeated source maps to its own cell', () => {
    const text = '# t\n```qmp\n{"execute": "stop"}\n```\n\n```qmp\n{"execute": "stop"}\n```\n';
    const [a, b, c] = findSourceOffsets(text, ['# t', '{"execute": "stop"}', '{"execute": "stop"}']);
    assert.equal(a, 0);
    assert.equal(b, text.indexOf('{'));
    assert.equal(c, text.lastIndexOf('{'));
    assert.deepEqual(findSourceOffsets(text, ['', 'missing']), [undefined, undefined]);
  });

  test('the default connection is a sandbox unless the notebook names another profile', () => {
    assert.deepEqual(resolveConnection({ kind: 'default' }, undefined, true), { kind: 'sandbox' });
    assert.deepEqual(resolveConnection({ kind: 'default' }, 'sandbox', true), { kind: 'sandbox' });
    assert.throws(() => resolveConnection({ kind: 'default' }, 'vm1', true), /profile 'vm1'/);
    assert.deepEqual(resolveConnection({ kind: 'default' }, 'vm1', false), { kind: 'sandbox' });
    assert.deepEqual(resolveConnection({ kind: 'unix', path: '/s' }, 'vm1', true), { kind: 'unix', path: '/s' });
  });
});
