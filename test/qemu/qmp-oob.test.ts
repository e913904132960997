// Out-of-band overtaking and the in-band window against real QEMU 7.2 (-M q35 -m 128M -accel tcg).
// An in-band dump-guest-memory to a FIFO blocks QEMU's main loop until the test opens the FIFO for reading,
// which gives a command that is certainly still running without relying on timing.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient, type CommandReply } from '../../src/qmp/client';
import { DisconnectedError } from '../../src/qmp/errors';
import { startQemu, type TestQemu, drainFifo, makeFifo as makeQemuFifo } from '../support/qemu';

let qemu: TestQemu;
let fifoCount = 0;

before(async () => { qemu = await startQemu({ machine: ['-M', 'q35', '-m', '128M', '-accel', 'tcg'] }); });
after(async () => { await qemu.stop(); });

function makeFifo(target: TestQemu): string {
  return makeQemuFifo(target, `dump-${++fifoCount}.fifo`);
}

const drain = drainFifo;

/** Records when each promise settles, so the test can assert what was still pending at a given moment. */
function track<T>(p: Promise<T>): { promise: Promise<T>; settled: () => boolean } {
  let done = false;
  const promise = p.finally(() => { done = true; });
  return { promise, settled: () => done };
}

describe('out-of-band execution with real QEMU', () => {
  test('exec-oob query-yank overtakes a blocked in-band dump-guest-memory; replies match their commands', async () => {
    const client = new QmpClient();
    await client.connect({ kind: 'unix', path: qemu.socketPath });
    assert.equal(client.oobEnabled, true);
    const fifo = makeFifo(qemu);
    const dump = track(client.send({ execute: 'dump-guest-memory', arguments: { paging: false, protocol: `file:${fifo}` } }));
    const status = track(client.send({ execute: 'query-status' }));
    const yank = await client.send({ 'exec-oob': 'query-yank' });
    assert.equal(yank.ok, true, yank.raw);
    assert.ok(Array.isArray(yank.ok && yank.value));
    // Nobody has opened the FIFO, so the dump cannot have finished, nor the query-status queued behind it.
    assert.equal(dump.settled(), false);
    assert.equal(status.settled(), false);
    const bytes = drain(fifo);
    const [d, s] = await Promise.all([dump.promise, status.promise]);
    assert.ok((await bytes) > 100 * 1024 * 1024);
    assert.equal(d.ok && d.value !== undefined, true, d.raw);
    assert.deepEqual(d.ok && d.value, {});
    assert.equal((s.ok && (s.value as { status: string }).status), 'prelaunch');
    assert.notEqual(d.idText, s.idText);
    assert.match(d.sent, /dump-guest-memory/);
    assert.match(s.sent, /query-status/);
    await client.disconnect();
  });

  test('12 in-band commands behind the blocked one do not starve OOB: the client keeps 7 on the wire', async () => {
    const sent: string[] = [];
    const client = new QmpClient({ trace: (d, t) => { if (d === '->') sent.push(t); } });
    await client.connect({ kind: 'unix', path: qemu.socketPath });
    const fifo = makeFifo(qemu);
    const dump = track(client.send({ execute: 'dump-guest-memory', arguments: { paging: false, protocol: `file:${fifo}` } }));
    const queued: Array<ReturnType<typeof track<CommandReply>>> = [];
    for (let i = 0; i < 12; i++) queued.push(track(client.send({ execute: 'query-status' })));
    const before = sent.filter((t) => t.includes('"execute":"query-status"')).length;
    assert.equal(before, 6, 'dump + 6 query-status on the wire, 6 waiting in the client');
    const yank = await client.send({ 'exec-oob': 'query-yank' });
    assert.equal(yank.ok, true, yank.raw);
    assert.equal(dump.settled(), false);
    assert.ok(queued.every((q) => !q.settled()));
    const bytes = drain(fifo);
    const replies = await Promise.all(queued.map((q) => q.promise));
    await dump.promise;
    await bytes;
    assert.equal(new Set(replies.map((r) => r.idText)).size, 12);
    for (const r of replies) assert.equal(r.ok && (r.value as { status: string }).status, 'prelaunch');
    await client.disconnect();
  });

  test('QEMU killed mid-command rejects the pending command at once with DisconnectedError', async () => {
    const own = await startQemu({ machine: ['-M', 'q35', '-m', '128M', '-accel', 'tcg'] });
    try {
      const client = new QmpClient();
      await client.connect({ kind: 'unix', path: own.socketPath });
      const ended = new Promise<Error | undefined>((resolve) => client.onDisconnect(resolve));
      const fifo = makeFifo(own);
      const dump = client.send({ execute: 'dump-guest-memory', arguments: { paging: false, protocol: `file:${fifo}` } });
      const rejected = assert.rejects(dump, DisconnectedError);
      const queued = assert.rejects(client.send({ execute: 'query-status' }), DisconnectedError);
      // An OOB round trip proves QEMU has read the dump command before it is killed.
      await client.send({ 'exec-oob': 'query-yank' });
      own.process.kill('SIGKILL');
      await Promise.all([rejected, queued]);
      assert.ok((await ended) instanceof DisconnectedError);
      assert.equal(client.state, 'idle');
    } finally {
      await own.stop();
    }
  });
});
