// Fault tier, fake servers: each misbehaves in one way, and each test asserts a bound (error type,
// message, the time on a frozen clock, memory). The servers frame with their own naive framer.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import v8 from 'node:v8';
import vm from 'node:vm';
import { QmpClient, type QmpClientOptions } from '../../src/qmp/client';
import {
  CommandTimeoutError, ConnectError, DeepMessageError, DisconnectedError, GreetingTimeoutError, MalformedMessageError,
  NegotiationTimeoutError, OversizedMessageError, QueuedCommandTimeoutError,
} from '../../src/qmp/errors';
import { startNaiveServer, GREETING_72, type NaivePeer, type NaiveServer } from '../support/naiveServer';
import { freezeTimers, runClock, settled } from '../support/clock';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const servers: NaiveServer[] = [];
const clients: QmpClient[] = [];
const children: ChildProcess[] = [];
after(async () => {
  for (const c of clients) await c.disconnect();
  for (const s of servers) await s.close();
  for (const ch of children) ch.kill('SIGKILL');
});

async function server(kind: 'unix' | 'tcp' = 'unix'): Promise<NaiveServer> {
  const s = await startNaiveServer(kind);
  servers.push(s);
  return s;
}

function newClient(options: QmpClientOptions = {}): QmpClient {
  const c = new QmpClient(options);
  clients.push(c);
  return c;
}

/** How p ended: its error, if any (bounded by settled's hang guard). */
async function outcome<T>(p: Promise<T>): Promise<{ err: Error | undefined }> {
  const r = await settled(p);
  return { err: r.status === 'rejected' ? r.reason as Error : undefined };
}

/** How p ended and when, on the frozen clock run forward a millisecond at a time. */
async function onClock<T>(clock: Parameters<typeof runClock>[0], p: Promise<T>): Promise<{ fakeMs: number; err: Error | undefined }> {
  const { fakeMs, result } = await runClock(clock, p);
  return { fakeMs, err: result.status === 'rejected' ? result.reason as Error : undefined };
}

/**
 * A bound of `boundMs` on the fake clock: never before it, and after it only by the few steps the client took to arm
 * it (a local socket's I/O, counted in event-loop turns, not in time).
 */
function atBound(fakeMs: number, boundMs: number): void {
  assert.ok(fakeMs >= boundMs && fakeMs <= boundMs + 20, `ended after ${fakeMs} ms of fake time, the bound is ${boundMs} ms`);
}

async function running(options: QmpClientOptions = {}, kind: 'unix' | 'tcp' = 'unix'): Promise<{ client: QmpClient; peer: NaivePeer }> {
  const s = await server(kind);
  const client = newClient(options);
  const connecting = client.connect(s.address);
  const peer = await s.accept();
  await peer.handshake();
  await connecting;
  return { client, peer };
}

describe('fault tier: misbehaving servers', () => {
  test('greeting, then silence: connect() fails in the negotiation phase at its bound', async (t) => {
    const clock = freezeTimers(t);
    const s = await server();
    const client = newClient({ negotiationTimeoutMs: 1000 });
    const connecting = client.connect(s.address);
    const peer = await s.accept();
    await peer.write(GREETING_72);
    const { fakeMs, err } = await onClock(clock, connecting);
    assert.ok(err instanceof NegotiationTimeoutError, String(err));
    assert.match(err.message, /did not answer qmp_capabilities within 1000 ms/);
    atBound(fakeMs, 1000);
    assert.equal(client.state, 'idle');
  });

  test('silence before the greeting: GreetingTimeoutError at its bound', async (t) => {
    const clock = freezeTimers(t);
    const s = await server();
    const client = newClient({ greetingTimeoutMs: 1000 });
    const connecting = client.connect(s.address);
    await s.accept();
    const { fakeMs, err } = await onClock(clock, connecting);
    assert.ok(err instanceof GreetingTimeoutError, String(err));
    atBound(fakeMs, 1000);
  });

  test('a full listen backlog: the connect phase times out with a ConnectError', async (t) => {
    // A TCP listener that never accepts (python3: Node's net.Server always accepts), with its backlog filled.
    const py = spawn('python3', ['-c',
      'import socket,sys,time\ns=socket.socket()\ns.bind(("127.0.0.1",0))\ns.listen(0)\nprint(s.getsockname()[1],flush=True)\ntime.sleep(120)'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(py);
    const port = await new Promise<number>((resolve, reject) => {
      py.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim())));
      py.once('error', reject);
    });
    const fillers: import('node:net').Socket[] = [];
    for (let i = 0; i < 4; i++) {
      const sock = (await import('node:net')).createConnection({ host: '127.0.0.1', port });
      sock.on('error', () => undefined);
      fillers.push(sock);
    }
    t.after(() => { for (const f of fillers) f.destroy(); });
    await new Promise((r) => setTimeout(r, 200));
    const clock = freezeTimers(t);
    const client = newClient({ connectTimeoutMs: 800 });
    const { fakeMs, err } = await onClock(clock, client.connect({ kind: 'tcp', host: '127.0.0.1', port }));
    assert.ok(err instanceof ConnectError, String(err));
    assert.ok(!(err instanceof GreetingTimeoutError), 'the socket must not have opened');
    assert.equal((err as ConnectError).phase, 'connect');
    assert.match(err.message, /timed out after 800 ms/);
    atBound(fakeMs, 800);
    assert.equal(client.state, 'idle');
  });

  test('not a QMP service (an HTTP banner): connect() fails at once with a protocol error', async (t) => {
    freezeTimers(t); // no timer can fire: the banner itself ends it, not the 20 s greeting bound
    const s = await server();
    const client = newClient({ greetingTimeoutMs: 20_000 });
    const connecting = outcome(client.connect(s.address));
    const peer = await s.accept();
    await peer.write('HTTP/1.1 400 Bad Request\r\n\r\n');
    const { err } = await connecting;
    assert.ok(err instanceof MalformedMessageError, String(err));
    assert.equal(client.state, 'idle');
  });

  test('drip-feed: greeting and replies one byte at a time are read exactly', async () => {
    const s = await server();
    const client = newClient();
    const connecting = client.connect(s.address);
    const peer = await s.accept();
    const drip = async (text: string): Promise<void> => {
      for (const b of Buffer.from(text)) {
        await peer.write(Buffer.from([b]));
        await new Promise((r) => setImmediate(r));
      }
    };
    await drip(GREETING_72);
    const neg = await peer.next();
    await drip(`{"return": {}, "id": ${neg.id}}\r\n`);
    await connecting;
    const reply = client.execute('query-status');
    const cmd = await peer.next();
    await drip(`{"return": {"status": "r\\u00e9unning \\"quoted\\" {not a brace}"}, "id": ${cmd.id}}\r\n`);
    assert.deepEqual(await settled(reply, 'the drip-fed reply'), { status: 'fulfilled', value: { status: 'réunning "quoted" {not a brace}' } });
  });

  test('a flood of 300,000 1 KB events while a command waits keeps the heap bounded', async () => {
    const { client, peer } = await running();
    let events = 0;
    client.onEvent(() => { events++; });
    const reply = client.execute('query-status', undefined, { timeoutMs: 600_000 });
    const cmd = await peer.next();
    gc();
    const base = process.memoryUsage().heapUsed;
    let peak = base;
    const sampler = setInterval(() => { peak = Math.max(peak, process.memoryUsage().heapUsed); }, 20);
    const pad = 'x'.repeat(1024 - 90);
    const one = `{"timestamp": {"seconds": 1700000000, "microseconds": 1}, "event": "FLOOD", "data": {"p": "${pad}"}}\r\n`;
    const batch = one.repeat(64);
    const t0 = Date.now();
    for (let i = 0; i < Math.floor(300_000 / 64); i++) await peer.write(batch);
    await peer.write(one.repeat(300_000 % 64));
    await peer.write(`{"return": {"status": "running"}, "id": ${cmd.id}}\r\n`);
    assert.deepEqual(await reply, { status: 'running' });
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().heapUsed);
    const growthMb = (peak - base) / 1024 / 1024;
    const hist = client.eventHistory();
    console.log(`flood: 300000 events in ${Date.now() - t0} ms, heap growth peak ${growthMb.toFixed(1)} MB, history ${hist.length}`);
    assert.equal(events, 300_000);
    assert.ok(hist.length <= 1000);
    assert.ok(hist.reduce((n, e) => n + e.raw.length, 0) <= 4 * 1024 * 1024);
    // 300 MB went through; unbounded history would hold all of it (and its parsed copies).
    assert.ok(growthMb < 150, `heap grew by ${growthMb.toFixed(1)} MB`);
  });

  test('a reply nested 100,000 deep ends the session cleanly, without recursion', async () => {
    const { client, peer } = await running();
    let cause: Error | undefined;
    client.onDisconnect((e) => { cause = e; });
    const reply = outcome(client.execute('x', undefined, { timeoutMs: 60_000 }));
    const cmd = await peer.next();
    await peer.write(`{"return": ${'['.repeat(100_000)}${']'.repeat(100_000)}, "id": ${cmd.id}}\r\n`);
    const { err } = await reply;
    // DisconnectedError, not CommandTimeoutError: the session's end failed the command, not its 60 s bound.
    assert.ok(err instanceof DisconnectedError, String(err));
    assert.ok(cause instanceof DeepMessageError);
  });

  test('an event nested 100,000 deep, drip-fed in 1 KB pieces, ends the session cleanly', async () => {
    const { client, peer } = await running();
    const ended = new Promise<Error | undefined>((r) => client.onDisconnect(r));
    const text = `{"event": "DEEP", "data": {"x": ${'['.repeat(100_000)}`;
    for (let i = 0; i < text.length; i += 1024) await peer.write(text.slice(i, i + 1024));
    assert.ok((await ended) instanceof DeepMessageError);
  });

  test('a message larger than maxMessageBytes ends the session with OversizedMessageError', async () => {
    const { client, peer } = await running({ maxMessageBytes: 64 * 1024 });
    const ended = new Promise<Error | undefined>((r) => client.onDisconnect(r));
    const reply = outcome(client.execute('x', undefined, { timeoutMs: 60_000 }));
    const cmd = await peer.next();
    void peer.write(`{"return": "${'y'.repeat(200 * 1024)}", "id": ${cmd.id}}\r\n`);
    assert.ok((await ended) instanceof OversizedMessageError);
    assert.ok((await reply).err instanceof DisconnectedError);
  });

  test('close in the middle of a message: the waiting command fails at once', async () => {
    const { client, peer } = await running();
    const reply = outcome(client.execute('x', undefined, { timeoutMs: 60_000 }));
    const cmd = await peer.next();
    await peer.write(`{"return": {"status": "run`);
    peer.socket.end();
    const { err } = await reply;
    // DisconnectedError, not CommandTimeoutError: the close failed the command, not its 60 s bound.
    assert.ok(err instanceof DisconnectedError, String(err));
    assert.equal(client.state, 'idle');
    void cmd;
  });

  test('a connection reset (TCP RST): everything outstanding fails at once with DisconnectedError', async () => {
    const { client, peer } = await running({}, 'tcp');
    const ended = new Promise<Error | undefined>((r) => client.onDisconnect(r));
    const replies = [outcome(client.execute('a', undefined, { timeoutMs: 60_000 })), outcome(client.execute('b'))];
    await peer.next();
    peer.socket.resetAndDestroy();
    // DisconnectedError for both: the reset ended them (one has a 60 s bound, the other none at all).
    for (const r of await Promise.all(replies)) assert.ok(r.err instanceof DisconnectedError, String(r.err));
    const cause = await ended;
    assert.ok(cause instanceof DisconnectedError);
    assert.match(cause.message, /ECONNRESET|closed the connection/);
  });

  test('a server that never reads: the window fills, later commands say they were never sent, disconnect() is prompt', async (t) => {
    const { client, peer } = await running();
    peer.stopReading();
    const big = { blob: 'z'.repeat(256 * 1024) };
    const onWire = Array.from({ length: 7 }, () => outcome(client.execute('x', big, { timeoutMs: 800 })));
    const queued = outcome(client.execute('query-status', undefined, { timeoutMs: 800 }));
    const q = await queued;
    assert.ok(q.err instanceof QueuedCommandTimeoutError, String(q.err));
    assert.match(q.err.message, /QEMU has not answered 7 earlier in-band commands/);
    for (const r of await Promise.all(onWire)) {
      assert.ok(r.err instanceof CommandTimeoutError && !(r.err instanceof QueuedCommandTimeoutError), String(r.err));
    }
    assert.equal(client.inBandBacklog().onWire, 7, 'abandoned commands still hold their slots');
    // Prompt: it ends while no timer can fire, so not by its bound on a channel that does not close.
    freezeTimers(t);
    assert.equal((await settled(client.disconnect(), 'disconnect()')).status, 'fulfilled');
    assert.equal(client.state, 'idle');
  });
});
