// Fault tier, real QEMU 7.2: SIGKILL, SIGSTOP/SIGCONT, a main loop blocked by a dump-guest-memory to a FIFO
// nobody reads, a second client on the same socket. Each test asserts the error, its message and a bound (on a
// frozen clock: QEMU is real, the client's timers are not, so a bound is exact whatever the machine's load).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient, type QmpClientOptions } from '../../src/qmp/client';
import {
  CommandTimeoutError, ConnectError, DisconnectedError, GreetingTimeoutError, NegotiationTimeoutError,
  QueuedCommandTimeoutError,
} from '../../src/qmp/errors';
import { startQemu, type TestQemu, drainFifo, makeFifo } from '../support/qemu';
import { freezeTimers, hasSettled, runClock, settled, turns, waitUntil } from '../support/clock';

const qemus: TestQemu[] = [];
const clients: QmpClient[] = [];
after(async () => {
  for (const c of clients) await c.disconnect();
  for (const q of qemus) {
    try { q.process.kill('SIGCONT'); } catch { /* already gone */ }
    await q.stop();
  }
});

async function qemu(machine?: string[]): Promise<TestQemu> {
  const q = await startQemu(machine ? { machine } : {});
  qemus.push(q);
  return q;
}

function newClient(options: QmpClientOptions = {}): QmpClient {
  const c = new QmpClient(options);
  clients.push(c);
  return c;
}

/**
 * The first connect to a fresh QEMU: its socket file appears at bind(), a moment before listen(), so a
 * refused connection is retried for a bounded time (this is the harness's race, not a fault under test).
 */
async function connectFresh(client: QmpClient, q: TestQemu): Promise<void> {
  const deadline = Date.now() + 5000;
  for (;;) {
    try {
      await client.connect({ kind: 'unix', path: q.socketPath });
      return;
    } catch (err) {
      if (!(err instanceof ConnectError && err.phase === 'connect') || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** How p ended: its error, if any (bounded by settled's hang guard). */
async function outcome<T>(p: Promise<T>): Promise<{ err: Error | undefined }> {
  const r = await settled(p);
  return { err: r.status === 'rejected' ? r.reason as Error : undefined };
}

/**
 * p on the frozen clock run forward a millisecond at a time: its error and the fake time it took, which must be
 * the bound `boundMs` (never before it; after it only by the event-loop turns a local socket's connect takes). Only
 * for waits where QEMU sends nothing (stopped, or another client holds it), so that real I/O cannot race the
 * fake clock.
 */
async function endsAtBound<T>(clock: Parameters<typeof runClock>[0], p: Promise<T>, boundMs: number): Promise<Error | undefined> {
  const { fakeMs, result } = await runClock(clock, p);
  assert.ok(fakeMs >= boundMs && fakeMs <= boundMs + 20, `ended after ${fakeMs} ms of fake time, the bound is ${boundMs} ms`);
  return result.status === 'rejected' ? result.reason as Error : undefined;
}

const fifoIn = makeFifo;
const drain = drainFifo;

describe('fault tier: real QEMU', () => {
  test('SIGKILL while commands wait: they fail at once with DisconnectedError, state idle', async (t) => {
    const q = await qemu(['-M', 'q35', '-m', '128M', '-accel', 'tcg']);
    const client = newClient();
    await connectFresh(client, q);
    const ended = new Promise<Error | undefined>((r) => client.onDisconnect(r));
    // A dump to a FIFO keeps a command certainly outstanding when the kill comes.
    const fifo = fifoIn(q, 'kill.fifo');
    const dump = outcome(client.execute('dump-guest-memory', { paging: false, protocol: `file:${fifo}` }, { timeoutMs: 60_000 }));
    const status = outcome(client.execute('query-status', undefined, { timeoutMs: 60_000 }));
    await new Promise((r) => setTimeout(r, 200));
    const exited = new Promise((r) => q.process.once('exit', r));
    freezeTimers(t); // from here no timer can fire: whatever ends now, the kill ended
    q.process.kill('SIGKILL');
    for (const r of await Promise.all([dump, status])) assert.ok(r.err instanceof DisconnectedError, String(r.err));
    assert.ok((await ended) instanceof DisconnectedError);
    assert.equal(client.state, 'idle');
    // and once the process is gone, a reconnect fails fast in the connect phase (refused, not timed out)
    await exited;
    const again = await outcome(client.connect({ kind: 'unix', path: q.socketPath }));
    assert.ok(again.err instanceof ConnectError);
    assert.equal((again.err as ConnectError).phase, 'connect');
  });

  test('SIGSTOP: connecting gives GreetingTimeoutError naming a stopped QEMU; a running command times out; SIGCONT recovers', async (t) => {
    const q = await qemu();
    const client = newClient({ greetingTimeoutMs: 1000 });
    await connectFresh(client, q);
    q.process.kill('SIGSTOP');
    try {
      const clock = freezeTimers(t);
      const slow = await endsAtBound(clock, client.execute('query-status', undefined, { timeoutMs: 800 }), 800);
      assert.ok(slow instanceof CommandTimeoutError, String(slow));
      const other = newClient({ greetingTimeoutMs: 1000 });
      const c = await endsAtBound(clock, other.connect({ kind: 'unix', path: q.socketPath }), 1000);
      assert.ok(c instanceof GreetingTimeoutError, String(c));
      assert.match(c.message, /SIGSTOP/);
      assert.equal(other.state, 'idle');
      t.mock.timers.reset();
    } finally {
      q.process.kill('SIGCONT');
    }
    // The late reply of the timed-out command is dropped; the session goes on.
    const after = await client.execute('query-status', undefined, { timeoutMs: 10_000 }) as { status: string };
    assert.equal(after.status, 'prelaunch');
  });

  test('a main loop blocked by a previous client: greeting comes, negotiation times out with the likely cause', async (t) => {
    const q = await qemu(['-M', 'q35', '-m', '128M', '-accel', 'tcg']);
    const first = newClient();
    await connectFresh(first, q);
    const fifo = fifoIn(q, 'block.fifo');
    const dump = first.send({ execute: 'dump-guest-memory', arguments: { paging: false, protocol: `file:${fifo}` } });
    void dump.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    await first.disconnect();
    // The greeting comes in real time (QEMU's monitor answers it outside the blocked main loop); the client's
    // timers are frozen meanwhile, so its negotiation bound starts when qmp_capabilities goes out and is exact.
    const clock = freezeTimers(t);
    const sent: string[] = [];
    const second = newClient({ negotiationTimeoutMs: 1500, greetingTimeoutMs: 3000, trace: (dir, text) => { if (dir === '->') sent.push(text); } });
    const connecting = second.connect({ kind: 'unix', path: q.socketPath });
    await waitUntil(() => sent.some((m) => m.includes('qmp_capabilities')), 'the client sends qmp_capabilities after the greeting');
    await turns();
    clock.tick(1499);
    assert.equal(await hasSettled(connecting), false, 'still negotiating 1 ms before the bound');
    clock.tick(1);
    const { err } = await outcome(connecting);
    assert.ok(err instanceof NegotiationTimeoutError, String(err));
    assert.match(err.message, /main loop is probably blocked/);
    assert.equal(second.state, 'idle');
    t.mock.timers.reset();
    // Unblock it: reading the FIFO lets the dump finish, and a new client negotiates.
    const bytes = drain(fifo);
    assert.ok((await bytes) > 1024 * 1024);
    const third = newClient({ negotiationTimeoutMs: 10_000 });
    await third.connect({ kind: 'unix', path: q.socketPath });
    assert.equal(third.state, 'running');
  });

  test('a wedged in-band window on real QEMU: the queued command says it was never sent; OOB still answers', async (t) => {
    const q = await qemu(['-M', 'q35', '-m', '128M', '-accel', 'tcg']);
    const client = newClient();
    await connectFresh(client, q);
    const fifo = fifoIn(q, 'wedge.fifo');
    const clock = freezeTimers(t, { date: true, now: 1_000_000 });
    const dump = client.send({ execute: 'dump-guest-memory', arguments: { paging: false, protocol: `file:${fifo}` } });
    const behind = Array.from({ length: 6 }, () => client.send({ execute: 'query-status' }, { timeoutMs: 60_000 }));
    const queuing = client.send({ execute: 'query-status' }, { timeoutMs: 1000 });
    assert.equal(client.inBandBacklog().queued, 1);
    await turns();
    clock.tick(999);
    assert.equal(await hasSettled(queuing), false, 'queued, 1 ms before its bound');
    clock.tick(1);
    const queued = await outcome(queuing);
    assert.ok(queued.err instanceof QueuedCommandTimeoutError, String(queued.err));
    assert.match(queued.err.message, /QEMU has not answered 7 earlier in-band commands \(the oldest was sent 1000 ms ago\)/);
    const b = client.inBandBacklog();
    assert.equal(b.onWire, 7);
    assert.equal(b.queued, 0);
    assert.equal(b.oldestSentAt, 1_000_000, 'the dump, sent at the frozen start');
    t.mock.timers.reset();
    const yank = await client.send({ 'exec-oob': 'query-yank' }, { timeoutMs: 10_000 });
    assert.equal(yank.ok, true, yank.raw);
    const bytes = drain(fifo);
    const replies = await Promise.all([dump, ...behind]);
    assert.ok(replies.every((r) => r.ok));
    assert.ok((await bytes) > 1024 * 1024);
    assert.deepEqual(client.inBandBacklog(), { onWire: 0, queued: 0, oldestSentAt: undefined });
  });

  test('a second client on the same socket: GreetingTimeoutError until the first leaves', async (t) => {
    const q = await qemu();
    const first = newClient();
    await connectFresh(first, q);
    const clock = freezeTimers(t);
    const second = newClient({ greetingTimeoutMs: 1000 });
    const err = await endsAtBound(clock, second.connect({ kind: 'unix', path: q.socketPath }), 1000);
    assert.ok(err instanceof GreetingTimeoutError, String(err));
    assert.match(err.message, /held by another client/);
    assert.equal(second.state, 'idle');
    t.mock.timers.reset();
    await first.disconnect();
    const third = newClient();
    await third.connect({ kind: 'unix', path: q.socketPath });
    assert.equal(third.state, 'running');
  });
});
