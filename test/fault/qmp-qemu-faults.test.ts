// Fault tier, real QEMU 7.2: SIGKILL, SIGSTOP/SIGCONT, a main loop blocked by a dump-guest-memory to a FIFO
// nobody reads, a second client on the same socket. Each test asserts the error, its message and a bound.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient, type QmpClientOptions } from '../../src/qmp/client';
import {
  CommandTimeoutError, ConnectError, DisconnectedError, GreetingTimeoutError, NegotiationTimeoutError,
  QueuedCommandTimeoutError,
} from '../../src/qmp/errors';
import { startQemu, type TestQemu, drainFifo, makeFifo } from '../support/qemu';

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

async function timed<T>(p: Promise<T>): Promise<{ ms: number; err: Error | undefined }> {
  const t0 = Date.now();
  try { await p; return { ms: Date.now() - t0, err: undefined }; } catch (err) { return { ms: Date.now() - t0, err: err as Error }; }
}

const fifoIn = makeFifo;
const drain = drainFifo;

describe('fault tier: real QEMU', () => {
  test('SIGKILL while commands wait: they fail at once with DisconnectedError, state idle', async () => {
    const q = await qemu(['-M', 'q35', '-m', '128M', '-accel', 'tcg']);
    const client = newClient();
    await connectFresh(client, q);
    const ended = new Promise<Error | undefined>((r) => client.onDisconnect(r));
    // A dump to a FIFO keeps a command certainly outstanding when the kill comes.
    const fifo = fifoIn(q, 'kill.fifo');
    const dump = timed(client.execute('dump-guest-memory', { paging: false, protocol: `file:${fifo}` }, { timeoutMs: 60_000 }));
    const status = timed(client.execute('query-status', undefined, { timeoutMs: 60_000 }));
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    const exited = new Promise((r) => q.process.once('exit', r));
    q.process.kill('SIGKILL');
    for (const r of await Promise.all([dump, status])) assert.ok(r.err instanceof DisconnectedError, String(r.err));
    assert.ok(Date.now() - t0 < 5000, `${Date.now() - t0} ms`);
    assert.ok((await ended) instanceof DisconnectedError);
    assert.equal(client.state, 'idle');
    // and once the process is gone, a reconnect fails fast in the connect phase
    await exited;
    const again = await timed(client.connect({ kind: 'unix', path: q.socketPath }));
    assert.ok(again.err instanceof ConnectError);
    assert.equal((again.err as ConnectError).phase, 'connect');
    assert.ok(again.ms < 6000);
  });

  test('SIGSTOP: connecting gives GreetingTimeoutError naming a stopped QEMU; a running command times out; SIGCONT recovers', async () => {
    const q = await qemu();
    const client = newClient({ greetingTimeoutMs: 1000 });
    await connectFresh(client, q);
    q.process.kill('SIGSTOP');
    try {
      const slow = await timed(client.execute('query-status', undefined, { timeoutMs: 800 }));
      assert.ok(slow.err instanceof CommandTimeoutError, String(slow.err));
      assert.ok(slow.ms >= 700 && slow.ms < 6000);
      const other = newClient({ greetingTimeoutMs: 1000 });
      const c = await timed(other.connect({ kind: 'unix', path: q.socketPath }));
      assert.ok(c.err instanceof GreetingTimeoutError, String(c.err));
      assert.match(c.err.message, /SIGSTOP/);
      assert.ok(c.ms >= 900 && c.ms < 6000, `${c.ms} ms`);
      assert.equal(other.state, 'idle');
    } finally {
      q.process.kill('SIGCONT');
    }
    // The late reply of the timed-out command is dropped; the session goes on.
    const after = await client.execute('query-status', undefined, { timeoutMs: 10_000 }) as { status: string };
    assert.equal(after.status, 'prelaunch');
  });

  test('a main loop blocked by a previous client: greeting comes, negotiation times out with the likely cause', async () => {
    const q = await qemu(['-M', 'q35', '-m', '128M', '-accel', 'tcg']);
    const first = newClient();
    await connectFresh(first, q);
    const fifo = fifoIn(q, 'block.fifo');
    const dump = first.send({ execute: 'dump-guest-memory', arguments: { paging: false, protocol: `file:${fifo}` } });
    void dump.catch(() => undefined);
    await new Promise((r) => setTimeout(r, 300));
    await first.disconnect();
    const second = newClient({ negotiationTimeoutMs: 1500, greetingTimeoutMs: 3000 });
    const { ms, err } = await timed(second.connect({ kind: 'unix', path: q.socketPath }));
    assert.ok(err instanceof NegotiationTimeoutError, String(err));
    assert.match(err.message, /main loop is probably blocked/);
    assert.ok(ms >= 1400 && ms < 8000, `${ms} ms`);
    assert.equal(second.state, 'idle');
    // Unblock it: reading the FIFO lets the dump finish, and a new client negotiates.
    const bytes = drain(fifo);
    assert.ok((await bytes) > 1024 * 1024);
    const third = newClient({ negotiationTimeoutMs: 10_000 });
    await third.connect({ kind: 'unix', path: q.socketPath });
    assert.equal(third.state, 'running');
  });

  test('a wedged in-band window on real QEMU: the queued command says it was never sent; OOB still answers', async () => {
    const q = await qemu(['-M', 'q35', '-m', '128M', '-accel', 'tcg']);
    const client = newClient();
    await connectFresh(client, q);
    const fifo = fifoIn(q, 'wedge.fifo');
    const dump = client.send({ execute: 'dump-guest-memory', arguments: { paging: false, protocol: `file:${fifo}` } });
    const behind = Array.from({ length: 6 }, () => client.send({ execute: 'query-status' }, { timeoutMs: 60_000 }));
    const t0 = Date.now();
    const queued = await timed(client.send({ execute: 'query-status' }, { timeoutMs: 1000 }));
    assert.ok(queued.err instanceof QueuedCommandTimeoutError, String(queued.err));
    assert.match(queued.err.message, /QEMU has not answered 7 earlier in-band commands \(the oldest was sent \d+ ms ago\)/);
    assert.ok(Date.now() - t0 < 6000);
    const b = client.inBandBacklog();
    assert.equal(b.onWire, 7);
    assert.equal(b.queued, 0);
    assert.ok(b.oldestSentAt !== undefined && b.oldestSentAt <= t0);
    const yank = await client.send({ 'exec-oob': 'query-yank' }, { timeoutMs: 10_000 });
    assert.equal(yank.ok, true, yank.raw);
    const bytes = drain(fifo);
    const replies = await Promise.all([dump, ...behind]);
    assert.ok(replies.every((r) => r.ok));
    assert.ok((await bytes) > 1024 * 1024);
    assert.deepEqual(client.inBandBacklog(), { onWire: 0, queued: 0, oldestSentAt: undefined });
  });

  test('a second client on the same socket: GreetingTimeoutError until the first leaves', async () => {
    const q = await qemu();
    const first = newClient();
    await connectFresh(first, q);
    const second = newClient({ greetingTimeoutMs: 1000 });
    const { ms, err } = await timed(second.connect({ kind: 'unix', path: q.socketPath }));
    assert.ok(err instanceof GreetingTimeoutError, String(err));
    assert.match(err.message, /held by another client/);
    assert.ok(ms >= 900 && ms < 6000);
    assert.equal(second.state, 'idle');
    await first.disconnect();
    const third = newClient();
    await third.connect({ kind: 'unix', path: q.socketPath });
    assert.equal(third.state, 'running');
  });
});
