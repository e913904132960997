// The engine's rules (src/run) with a scripted stand-in for the client, and the CLI's printing of its
// transcript: which cells run and when (the scheduler), how waits match (the wait rule), which cell an event
// is given to (the attribution rule), the failure kinds, the event cap and the cell order of --json. The
// client itself is tested against real QEMU in test/qemu (test/qemu/cliRun.test.ts runs these rules there).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { LineIndex, findSourceOffsets } from '../../src/cli/locate';
import { jsonLine, runCells, type RunCell } from '../../src/cli/run';
import { resolveConnection } from '../../src/cli/cli';
import { runEngine, ScriptedClient, type Script } from '../support/scriptedClient';
import { freezeTimers, runClock } from '../support/clock';
import { assertLinearAsync } from '../support/linear';
import {
  Batcher, compareReply, planCell, RunEngine, StopRequest, type CellJob, type TranscriptRecord,
} from '../../src/run/index';

/** A planned cell from qmp source, keyed by `cell`. */
function cell(n: number, source: string, language: 'qmp' | 'qmp-shell' | 'hmp' = 'qmp'): RunCell {
  return { cell: n, plan: planCell(source, language) };
}

const exec = (name: string, id = name): string => `{"execute": "${name}", "id": "${id}"}`;
const oob = (name: string, id = name): string => `{"exec-oob": "${name}", "id": "${id}"}`;

function capture(): { out: string[]; err: string[]; io: { out(l: string): void; err(l: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (l) => out.push(l), err: (l) => err.push(l) } };
}

describe('engine: scheduler', () => {
  test('an out-of-band cell goes out once every cell above it is sent, not answered, and overtakes a slow one', async () => {
    const client = new ScriptedClient({ slow: { delayMs: 1500 } });
    const { records, outcomes } = await runEngine(client, [cell(1, exec('slow')), cell(2, oob('query-yank')), cell(3, exec('after'))], { busyMs: 20 });
    assert.deepEqual(outcomes, ['succeeded', 'succeeded', 'succeeded']);
    assert.deepEqual(client.sent, ['slow', 'query-yank', 'after'], 'commands leave in cell order');
    const replies = records.filter((r) => r.type === 'reply').map((r) => r.command);
    assert.deepEqual(replies, ['query-yank', 'slow', 'after'], 'the OOB reply comes while the slow one is busy');
    const started = records.filter((r) => r.type === 'cell-started').map((r) => r.cell);
    assert.deepEqual(started, [1, 2, 3], 'the OOB cell gets execution order 2, not 1');
  });

  test('an out-of-band cell does not overtake a quick in-band command QEMU is about to answer (busyMs)', async () => {
    const client = new ScriptedClient({ 'chardev-add': { delayMs: 30 } });
    const { records } = await runEngine(client, [cell(1, exec('chardev-add')), cell(2, oob('yank'))], { busyMs: 2000 });
    assert.deepEqual(records.filter((r) => r.type === 'reply').map((r) => r.command), ['chardev-add', 'yank']);
  });

  test('an out-of-band cell below an in-band cell that is still queued waits until that cell is sent', async () => {
    const client = new ScriptedClient({ first: { delayMs: 150 } });
    // Cell 2 waits behind cell 1 (in-band); cell 3 (OOB) must not overtake cell 2, which was not even sent.
    await runEngine(client, [cell(1, exec('first')), cell(2, exec('chardev-add')), cell(3, oob('yank'))]);
    assert.deepEqual(client.sent, ['first', 'chardev-add', 'yank']);
  });

  test('a batch stops at its first failure; the cells after it are skipped, even an out-of-band one', async () => {
    const client = new ScriptedClient({ bad: { error: 'nope' } });
    const { records, outcomes } = await runEngine(client, [cell(1, exec('bad')), cell(2, exec('next')), cell(3, oob('query-yank'))]);
    assert.deepEqual(outcomes, ['failed', 'skipped', 'skipped']);
    assert.deepEqual(client.sent, ['bad']);
    const failure = records.find((r) => r.type === 'failure');
    assert.equal(failure?.type === 'failure' && failure.kind, 'qemu-error');
  });

  test('a long batch of out-of-band cells behind a slow in-band one: all go out, after it (the wait for the cells above is linear)', async () => {
    const batch = (n: number): { client: ScriptedClient; jobs: CellJob[] } => ({
      client: new ScriptedClient({ slow: { delayMs: 30 } }),
      jobs: [cell(1, exec('slow')), ...Array.from({ length: n }, (_, i) => cell(i + 2, oob('query-yank', `y${i}`)))],
    });
    const { client, jobs } = batch(3000);
    const { outcomes } = await runEngine(client, jobs, { busyMs: 1 });
    assert.ok(outcomes.every((o) => o === 'succeeded'));
    assert.equal(client.sent.length, 3001);
    assert.equal(client.sent[0], 'slow');
    await assertLinearAsync('out-of-band cells behind a slow one', batch, (b) => runEngine(b.client, b.jobs, { busyMs: 1 }), 250);
  });

  test('in-band cells of two batches run one after another', async () => {
    const client = new ScriptedClient({ slow: { delayMs: 100 } });
    const engine = new RunEngine({ client: () => client });
    const order: string[] = [];
    const sink = (r: TranscriptRecord): void => { if (r.type === 'reply') order.push(r.command); };
    await Promise.all([engine.run([cell(1, exec('slow'))], sink), engine.run([cell(2, exec('fast'))], sink)]);
    assert.deepEqual(order, ['slow', 'fast']);
    engine.dispose();
  });

  test('every cell-started has exactly one cell-finished, last among its records (property)', async () => {
    await fc.assert(fc.asyncProperty(
      fc.array(fc.record({ oob: fc.boolean(), fail: fc.boolean(), delay: fc.integer({ min: 0, max: 5 }) }), { minLength: 1, maxLength: 6 }),
      async (specs) => {
        const script: Record<string, Script> = {};
        const cells = specs.map((s, i) => {
          script[`c${i}`] = { delayMs: s.delay, ...(s.fail ? { error: 'x' } : {}) };
          return cell(i + 1, s.oob ? oob(`c${i}`) : exec(`c${i}`));
        });
        const { records, outcomes } = await runEngine(new ScriptedClient(script), cells);
        for (const c of cells) {
          const mine = records.filter((r) => r.cell === c.cell);
          assert.equal(mine.filter((r) => r.type === 'cell-finished').length, 1);
          assert.equal(mine[mine.length - 1]?.type, 'cell-finished');
        }
        const firstFail = outcomes.indexOf('failed');
        if (firstFail >= 0) {
          // Nothing below a failed in-band cell starts after it failed... and nothing at all above is skipped.
          assert.ok(outcomes.slice(0, firstFail).every((o) => o !== 'skipped'));
        }
      },
    ), { numRuns: 40 });
  });
});

describe('engine: the wait rule', () => {
  test('stop, cont, wait RESUME, wait STOP passes: waits look at every event since the cell started', async () => {
    const client = new ScriptedClient({ stop: { before: ['STOP'] }, cont: { before: ['RESUME'] } });
    const { outcomes, records } = await runEngine(client, [cell(1,
      '{"execute": "stop"}\n{"execute": "cont"}\n{"wait-event": "RESUME", "timeout": 300}\n{"wait-event": "STOP", "timeout": 300}')]);
    assert.deepEqual(outcomes, ['succeeded']);
    assert.deepEqual(records.filter((r) => r.type === 'wait-satisfied').map((r) => r.type === 'wait-satisfied' && r.event), ['RESUME', 'STOP']);
  });

  test('two waits for the same event need two events', async () => {
    const client = new ScriptedClient({ stop: { before: ['STOP'] } });
    const { outcomes, records } = await runEngine(client, [cell(1,
      '{"execute": "stop"}\n{"wait-event": "STOP", "timeout": 100}\n{"wait-event": "STOP", "timeout": 100}')]);
    assert.deepEqual(outcomes, ['failed']);
    assert.ok(records.some((r) => r.type === 'wait-timed-out'));
    const f = records.find((r) => r.type === 'failure');
    assert.equal(f?.type === 'failure' && f.kind, 'timeout');
    assert.match(f?.type === 'failure' ? f.message : '', /no STOP within 100 ms/);
  });

  test('an event that came before the cell started does not satisfy its wait', async () => {
    const client = new ScriptedClient();
    client.emit('RESET');
    const { outcomes } = await runEngine(client, [cell(1, '{"wait-event": "RESET", "timeout": 50}')]);
    assert.deepEqual(outcomes, ['failed']);
  });

  test('a cell whose caller hands over its client late (the editor pacing its window) sees the events since it started, as the CLI does', async () => {
    // Cell 1's command starts something whose event comes a moment after its reply (a mirror job's READY);
    // cell 2 waits for it. Cell 2's caller takes 0, 10 or 40 ms to hand over the client after the cell
    // started; the event comes 5 ms after cell 2 started, so with 10 and 40 ms it comes before the client.
    for (const handOverMs of [0, 10, 40]) {
      const client = new ScriptedClient({ 'blockdev-mirror': {} });
      const engine = new RunEngine({ client: () => client });
      const records: TranscriptRecord[] = [];
      const late = (): Promise<typeof client> => new Promise((resolve) => setTimeout(() => resolve(client), handOverMs));
      const result = await engine.run([
        { cell: 1, plan: planCell('{"execute": "blockdev-mirror"}', 'qmp') },
        { cell: 2, plan: planCell('{"wait-event": "BLOCK_JOB_READY", "timeout": 300}', 'qmp'), client: late },
      ], (r) => {
        records.push(r);
        if (r.type === 'cell-started' && r.cell === 2) setTimeout(() => client.emit('BLOCK_JOB_READY'), 5);
      });
      engine.dispose();
      assert.deepEqual(result.outcomes, ['succeeded', 'succeeded'], `hand-over ${handOverMs} ms`);
      // The event is cell 2's in the transcript (attribution), not nobody's.
      assert.deepEqual(records.filter((r) => r.type === 'event').map((r) => r.cell), [2], `hand-over ${handOverMs} ms`);
    }
  });

  test('a wait with data matches members recursively', async () => {
    const client = new ScriptedClient();
    const p = runEngine(client, [cell(1, '{"wait-event": "DEVICE_DELETED", "data": {"device": "kbd0"}, "timeout": 500}')]);
    setTimeout(() => { client.emit('DEVICE_DELETED', { device: 'other' }); client.emit('DEVICE_DELETED', { device: 'kbd0', path: '/x' }); }, 20);
    const { records, outcomes } = await p;
    assert.deepEqual(outcomes, ['succeeded']);
    const w = records.find((r) => r.type === 'wait-satisfied');
    assert.match(w?.type === 'wait-satisfied' ? w.raw : '', /kbd0/);
  });
});

describe('engine: attribution of events', () => {
  test('an event goes to the cell of the oldest unanswered command, once', async () => {
    const client = new ScriptedClient({ slow: { delayMs: 1000, before: ['STOP'] }, 'query-yank': { before: ['X'] } });
    const { records } = await runEngine(client, [cell(1, exec('slow')), cell(2, oob('query-yank'))], { busyMs: 20 });
    const events = records.filter((r) => r.type === 'event').map((r) => [r.cell, r.type === 'event' && r.event.event]);
    // X comes while slow (cell 1) is still unanswered, so it is cell 1's; every event is given once.
    assert.deepEqual(events, [[1, 'X'], [1, 'STOP']]);
  });

  test('an event while a cell waits goes to the waiting cell', async () => {
    const client = new ScriptedClient();
    const p = runEngine(client, [cell(1, '{"wait-event": "RESET", "timeout": 500}')]);
    setTimeout(() => client.emit('RESET'), 20);
    const { records } = await p;
    assert.deepEqual(records.filter((r) => r.type === 'event').map((r) => r.cell), [1]);
  });

  test('a flood keeps at most eventsPerCell event records and reports the rest', async () => {
    const client = new ScriptedClient({ flood: { flood: 2500 } });
    const { records, outcomes } = await runEngine(client, [cell(1, exec('flood'))], { eventsPerCell: 100 });
    assert.deepEqual(outcomes, ['succeeded']);
    assert.equal(records.filter((r) => r.type === 'event').length, 100);
    const dropped = records.find((r) => r.type === 'events-dropped');
    assert.equal(dropped?.type === 'events-dropped' && dropped.count, 2400);
    assert.equal(records[records.length - 1]?.type, 'cell-finished');
  });
});

describe('engine: failure kinds', () => {
  const kindOf = (records: TranscriptRecord[]): string | undefined => {
    const f = records.find((r) => r.type === 'failure');
    return f?.type === 'failure' ? f.kind : undefined;
  };

  test('a lost connection is connection-lost (decided by instanceof), with the id the command went out with', async () => {
    const { records } = await runEngine(new ScriptedClient({ quit: { disconnect: true } }), [cell(1, '{"execute": "quit"}')]);
    assert.equal(kindOf(records), 'connection-lost');
    const f = records.find((r) => r.type === 'failure');
    assert.equal(f?.type === 'failure' && f.idText, '"#1"', 'a command sent but unanswered has its real id');
  });

  test('refused before sending is not-sent-because-invalid and nothing is sent', async () => {
    const client = new ScriptedClient({ 'query-status': { refuse: true } });
    const { records } = await runEngine(client, [cell(1, oob('query-status'))]);
    assert.equal(kindOf(records), 'not-sent-because-invalid');
    assert.deepEqual(client.sent, []);
  });

  test('a cell with problems is not sent', async () => {
    const client = new ScriptedClient();
    const { records } = await runEngine(client, [cell(1, '{"execute": ')]);
    assert.equal(kindOf(records), 'not-sent-because-invalid');
    assert.deepEqual(client.sent, []);
  });

  test('a command timing out in the client queue is queued-behind-wedged-window; a written one is timeout', async () => {
    const a = await runEngine(new ScriptedClient({ x: { queued: true } }), [cell(1, exec('x'))], { commandTimeoutMs: 30 });
    assert.equal(kindOf(a.records), 'queued-behind-wedged-window');
    assert.match(a.records.find((r) => r.type === 'failure')?.type === 'failure' ? (a.records.find((r) => r.type === 'failure') as { message: string }).message : '', /never sent/);
    const b = await runEngine(new ScriptedClient({ x: { hang: true } }), [cell(1, exec('x'))], { commandTimeoutMs: 30 });
    assert.equal(kindOf(b.records), 'timeout');
  });

  test('interrupting a command says QEMU may still be working on it; the next in-band command says it waits behind it', async () => {
    const client = new ScriptedClient({ dump: { hang: true } });
    const engine = new RunEngine({ client: () => client });
    const records: TranscriptRecord[] = [];
    const stop = new AbortController();
    const first = engine.run([{ ...cell(1, exec('dump')), signal: stop.signal }], (r) => records.push(r));
    setTimeout(() => stop.abort(new StopRequest('interrupted', 'Interrupted')), 20);
    assert.deepEqual((await first).outcomes, ['interrupted']);
    assert.match((records.find((r) => r.type === 'failure') as { message: string }).message, /QEMU may still be working on it/);
    await engine.run([cell(2, exec('query-status'))], (r) => records.push(r));
    const blocked = records.find((r) => r.type === 'blocked');
    assert.deepEqual(blocked?.type === 'blocked' && blocked.behind, [{ cell: 1, command: 'dump' }]);
    engine.dispose();
  });

  test('interrupting a wait says the wait was stopped', async () => {
    const stop = new AbortController();
    const p = runEngine(new ScriptedClient(), [{ ...cell(1, '{"wait-event": "RESET", "timeout": 5000}'), signal: stop.signal }]);
    setTimeout(() => stop.abort(new StopRequest('interrupted', 'Interrupted')), 20);
    const { records, outcomes } = await p;
    assert.deepEqual(outcomes, ['interrupted']);
    assert.match((records.find((r) => r.type === 'failure') as { message: string }).message, /the wait for RESET was stopped/);
  });

  test('a client that cannot connect is not-connected', async () => {
    const engine = new RunEngine({ client: () => { throw new Error('no QEMU here'); } });
    const records: TranscriptRecord[] = [];
    const r = await engine.run([cell(1, exec('x'))], (x) => records.push(x));
    assert.deepEqual(r.outcomes, ['failed']);
    assert.equal(r.failure?.kind, 'not-connected');
  });
});

describe('engine: expected replies', () => {
  test('a pasted <- reply is compared with QEMU\'s, ids left out unless the author wrote one', async () => {
    const { records } = await runEngine(new ScriptedClient(), [cell(1, '-> {"execute": "stop"}\n<- {"return": {}}\n-> {"execute": "cont"}\n<- {"return": {"x": 1}}')]);
    const cmp = records.filter((r) => r.type === 'expected-reply');
    assert.deepEqual(cmp.map((r) => r.type === 'expected-reply' && r.match), [true, false]);
    assert.deepEqual(cmp[1]?.type === 'expected-reply' && cmp[1].differences, ['return.x: expected 1, QEMU said nothing']);
  });

  test('compareReply: equal values match whatever the member order; deep values do not overflow', () => {
    assert.equal(compareReply({ return: { a: 1, b: [1, 2] } }, { return: { b: [1, 2], a: 1 }, id: 'x' }).match, true);
    assert.equal(compareReply({ return: {}, id: 'y' }, { return: {}, id: 'x' }).match, false);
    let deep: unknown = 1;
    let other: unknown = 2;
    for (let i = 0; i < 100_000; i++) { deep = [deep]; other = [other]; }
    const c = compareReply(deep, other);
    assert.equal(c.match, false);
    assert.equal(c.differences.length, 1);
  });
});

describe('cli printing', () => {
  test('--json is in cell order and each record is one JSON line; an overtaking OOB cell is held until the cells above end', async () => {
    const client = new ScriptedClient({ slow: { delayMs: 100 } });
    const c = capture();
    const outcome = await runCells(client, [cell(1, '{"execute": "slow"}'), cell(2, '{"exec-oob": "query-yank"}'), cell(3, '{"execute": "after"}')], { json: true }, c.io);
    assert.deepEqual(outcome, { status: 'ok' });
    const lines = c.out.map((l) => JSON.parse(l) as { type: string; cell: number; command?: string; id?: unknown });
    // The first record says what follows and its format version (schemas/transcript.schema.json).
    assert.deepEqual(lines[0], { type: 'transcript', format: 1 });
    const records = lines.slice(1);
    const cells = records.map((r) => r.cell);
    assert.deepEqual(cells, [...cells].sort((a, b) => a - b), 'records are in cell order');
    assert.deepEqual(records.filter((r) => r.type === 'reply').map((r) => [r.command, r.id]), [['slow', '#1'], ['query-yank', '#2'], ['after', '#3']]);
  });

  test('text shows the wire, replies, events and a failure on stderr; exit status kind by failure', async () => {
    const client = new ScriptedClient({ cont: { before: ['RESUME'] }, bad: { error: 'oops' } });
    const c = capture();
    const outcome = await runCells(client, [cell(2, exec('cont')), cell(4, exec('bad'))], { json: false }, c.io);
    assert.equal(outcome.status, 'failed');
    assert.deepEqual(c.out.slice(0, 4), ['// cell 2', '-> {"execute":"cont","id":"cont"}', '<- {"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}}', '<- {"return": {}, "id": "cont"}']);
    assert.match(c.err.join('\n'), /cell 4: bad: GenericError: oops/);
    const lost = await runCells(new ScriptedClient({ quit: { disconnect: true } }), [cell(1, exec('quit'))], { json: false }, capture().io);
    assert.equal(lost.status, 'disconnected');
  });

  test('a flood through the printer keeps memory bounded: at most eventsPerCell lines per cell', async () => {
    const client = new ScriptedClient({ flood: { flood: 5000 } });
    let lines = 0;
    const outcome = await runCells(client, [cell(1, exec('flood'))], { json: true, eventsPerCell: 1000 }, { out: () => { lines++; }, err: () => undefined });
    assert.deepEqual(outcome, { status: 'ok' });
    assert.ok(lines < 1100, `${lines} lines`);
  });
});

describe('json lines', () => {
  test('hand-written lines say what JSON.stringify would (property, hostile labels)', () => {
    const hostile = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('"', '\\', '\u0000', '\u001f', '\u007f', '\u2028', 'é', '\ud800'));
    fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.double({ min: 0, max: 1e7, noNaN: true }), hostile, fc.boolean(),
      fc.option(fc.integer({ min: 1, max: 1e6 }), { nil: undefined }), (cellNo, at, text, oob, line) => {
        const records: TranscriptRecord[] = [
          { type: 'cell-started', cell: cellNo, at, order: cellNo + 1, ...(line !== undefined ? { line } : {}) },
          { type: 'sent', cell: cellNo, at, step: 0, command: text, oob, label: `{"execute":${JSON.stringify(text)}}`, ...(line !== undefined ? { line } : {}) },
          { type: 'written', cell: cellNo, at, step: 0, command: text, idText: '"#1"', wire: text },
          { type: 'cell-finished', cell: cellNo, at, outcome: oob ? 'failed' : 'succeeded', ms: at },
        ];
        for (const r of records) {
          const { idText: _id, wire, ...rest } = r as TranscriptRecord & { idText?: string; wire?: string };
          const expected = r.type === 'written' ? { ...rest, id: '#1', sent: wire } : r;
          assert.deepEqual(JSON.parse(jsonLine(r)), JSON.parse(JSON.stringify(expected)));
        }
      }));
  });
});

describe('batcher', () => {
  test('coalesces many pushes into few flushes, in order, and settles', async () => {
    const batches: number[][] = [];
    const b = new Batcher<number>((items) => { batches.push(items); }, 20, 1000);
    for (let i = 0; i < 5000; i++) b.push(i);
    await b.settle();
    assert.ok(batches.length <= 6, `${batches.length} flushes`);
    assert.deepEqual(batches.flat(), Array.from({ length: 5000 }, (_, i) => i));
  });
});

describe('cli helpers', () => {
  test('line index and source offsets', () => {
    const idx = new LineIndex('a\nbc\n');
    assert.deepEqual(idx.position(3), { line: 2, col: 2 });
    assert.deepEqual(findSourceOffsets('x\n```qmp\nA\n```\n', ['A']), [9]);
  });

  test('resolveConnection keeps the choice and refuses a profile it cannot resolve', () => {
    assert.deepEqual(resolveConnection({ kind: 'default' }, 'sandbox', true), { kind: 'sandbox' });
    assert.throws(() => resolveConnection({ kind: 'default' }, 'prod', true), /lives in VS Code settings/);
  });
});

describe('cli --deadline bounds the whole run', () => {
  test('a server that greets and then never answers qmp_capabilities: run --deadline 800 exits 2 at the deadline', async (t) => {
    const { mkdtempSync, rmSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const path = await import('node:path');
    const net = await import('node:net');
    const { cliMain } = await import('../../src/cli/cli');
    const { realDeps } = await import('../../src/cli/deps');
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-timeout-'));
    const socket = path.join(dir, 'mute.sock');
    const sockets: import('node:net').Socket[] = [];
    const server = net.createServer((s) => {
      sockets.push(s);
      s.write('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\r\n');
      s.on('data', () => undefined); // reads, never answers
    });
    await new Promise<void>((resolve) => server.listen(socket, resolve));
    try {
      const notebookText = '```qmp\n{"execute": "query-status"}\n```\n';
      const c = capture();
      // The socket is real; the clock is not: the deadline (and the 4 s negotiation bound behind it) run on fake time.
      const clock = freezeTimers(t);
      const { fakeMs, result } = await runClock(clock, cliMain(['run', 'x.qmp', '--socket', socket, '--deadline', '800'], { ...realDeps(), readFile: () => notebookText }, c.io), { stepMs: 10 });
      assert.equal(result.status === 'fulfilled' && result.value, 2);
      assert.match(c.err.join('\n'), /cannot connect to .*mute\.sock: the run did not finish within 800 ms \(--deadline\)/);
      assert.ok(fakeMs >= 800 && fakeMs <= 820, `ended at the 800 ms deadline: ${fakeMs} ms of fake time`);
    } finally {
      for (const s of sockets) s.destroy();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a connection that never opens (and ignores the signal) still ends at the deadline', async (t) => {
    const { cliMain } = await import('../../src/cli/cli');
    const notebookText = '```qmp\n{"execute": "query-status"}\n```\n';
    const c = capture();
    const clock = freezeTimers(t);
    const { fakeMs, result } = await runClock(clock, cliMain(['run', 'x.qmp', '--sandbox', '--deadline', '300'], {
      version: '0', readFile: () => notebookText, connect: () => new Promise(() => undefined),
    }, c.io));
    assert.equal(result.status === 'fulfilled' && result.value, 2);
    assert.match(c.err.join('\n'), /cannot connect to a sandbox QEMU: the run did not finish within 300 ms/);
    assert.ok(fakeMs >= 300 && fakeMs <= 302, `ended at the 300 ms deadline: ${fakeMs} ms of fake time`);
  });
});
