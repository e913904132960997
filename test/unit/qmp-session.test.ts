// The session's transitions, phase bounds, routing decisions for replies QEMU would never send, the
// wedged in-band window, deep nesting and the bounded event history, against a fake server on a socket.
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient, QMP_TRANSITIONS, type QmpClientOptions, type QmpState, type InBandBacklog } from '../../src/qmp/client';
import {
  CommandCancelledError, CommandTimeoutError, ConnectError, DeepMessageError, DisconnectedError, EventsDroppedError,
  GreetingTimeoutError, MalformedMessageError, NegotiationTimeoutError, ProtocolError, QueuedCommandTimeoutError,
  ServerParseError, StateError, BadGreetingError,
} from '../../src/qmp/errors';
import type { ChannelOpener } from '../../src/qmp/channel';
import { freezeTimers, hasSettled, settled, turns } from '../support/clock';
import { startFakeServer, GREETING_72, type FakeConnection, type FakeServer } from '../support/fakeTransport';

const servers: FakeServer[] = [];
const clients: QmpClient[] = [];
after(async () => {
  for (const c of clients) await c.disconnect();
  for (const s of servers) await s.close();
});

async function server(): Promise<FakeServer> {
  const s = await startFakeServer();
  servers.push(s);
  return s;
}

function client(options: QmpClientOptions = {}): { client: QmpClient; states: QmpState[]; logs: string[] } {
  const logs: string[] = [];
  const c = new QmpClient({ log: (l, m) => logs.push(`${l}: ${m}`), ...options });
  clients.push(c);
  const states: QmpState[] = [];
  c.onStateChange((s) => states.push(s));
  return { client: c, states, logs };
}

async function running(options: QmpClientOptions = {}): Promise<{ client: QmpClient; conn: FakeConnection; states: QmpState[]; logs: string[] }> {
  const s = await server();
  const h = client(options);
  const connecting = h.client.connect(s.address);
  const conn = await s.accept();
  await conn.handshake();
  await connecting;
  return { ...h, conn };
}

function rejection(r: PromiseSettledResult<unknown>): Error {
  assert.equal(r.status, 'rejected', 'expected a rejection');
  return (r as PromiseRejectedResult).reason as Error;
}

/** Every consecutive pair of observed states must be a transition of the table. */
function assertLegal(states: QmpState[]): void {
  let from: QmpState = 'idle';
  for (const to of states) {
    assert.ok(QMP_TRANSITIONS[from].includes(to), `illegal transition ${from} → ${to} in ${states.join(',')}`);
    from = to;
  }
}

describe('session transitions', () => {
  test('EOF before the greeting: ConnectError (greeting phase), back to idle', async () => {
    const s = await server();
    const h = client();
    const connecting = h.client.connect(s.address);
    (await s.accept()).end();
    const err = rejection(await settled(connecting));
    assert.ok(err instanceof ConnectError);
    assert.equal((err as ConnectError).phase, 'greeting');
    assert.match(err.message, /before sending a greeting/);
    assert.equal(h.client.state, 'idle');
    assert.deepEqual(h.states, ['connecting', 'idle']);
  });

  test('EOF during negotiation: ConnectError (negotiation phase), back to idle', async () => {
    const s = await server();
    const h = client();
    const connecting = h.client.connect(s.address);
    const conn = await s.accept();
    conn.write(GREETING_72);
    await conn.next();
    conn.end();
    const err = rejection(await settled(connecting));
    assert.ok(err instanceof ConnectError);
    assert.equal((err as ConnectError).phase, 'negotiation');
    assert.equal(h.client.state, 'idle');
    assertLegal(h.states);
  });

  test('disconnect() during negotiation cancels connect() and rolls back to idle', async () => {
    const s = await server();
    const h = client();
    const connecting = h.client.connect(s.address);
    const conn = await s.accept();
    conn.write(GREETING_72);
    await conn.next();
    const cancelled = settled(connecting);
    await h.client.disconnect();
    const err = rejection(await cancelled);
    assert.ok(err instanceof ConnectError);
    assert.match(err.message, /cancelled \(negotiation phase\)/);
    assert.equal(h.client.state, 'idle');
    await conn.closed;
    assertLegal(h.states);
    // and the client can connect again
    const again = h.client.connect(s.address);
    await (await s.accept()).handshake();
    await again;
    assert.equal(h.client.state, 'running');
  });

  test('connect() while connecting is refused with StateError and does not disturb the first', async () => {
    const s = await server();
    const h = client();
    const first = h.client.connect(s.address);
    await assert.rejects(h.client.connect(s.address), (e: unknown) => e instanceof StateError && /needs state idle, not connecting/.test((e as Error).message));
    await (await s.accept()).handshake();
    await first;
    assert.equal(h.client.state, 'running');
    await assert.rejects(h.client.connect(s.address), StateError);
  });

  test('a malformed message ends a running session: pending commands fail at once, onDisconnect gets the ProtocolError', async (t) => {
    freezeTimers(t); // so the 60 s timeout cannot be what ends the command
    const h = await running();
    let cause: Error | undefined;
    h.client.onDisconnect((e) => { cause = e; });
    const cmd = h.client.send({ execute: 'query-status' }, { timeoutMs: 60_000 });
    await h.conn.next();
    h.conn.write('[1,2,3]\r\n');
    assert.ok(rejection(await settled(cmd)) instanceof DisconnectedError);
    assert.ok(cause instanceof MalformedMessageError);
    assert.equal(h.client.state, 'idle');
    assert.deepEqual(h.states.slice(-3), ['running', 'disconnecting', 'idle']);
    assertLegal(h.states);
  });

  test('a listener that throws is logged and routing goes on', async () => {
    const h = await running();
    h.client.onEvent(() => { throw new Error('listener boom'); });
    h.client.onStateChange(() => { throw new Error('state boom'); });
    let seen = 0;
    h.client.onEvent(() => { seen++; });
    h.conn.event('STOP');
    const cmd = h.client.execute('query-status');
    h.conn.reply(await h.conn.next(), { status: 'paused' });
    assert.deepEqual(await cmd, { status: 'paused' });
    assert.equal(seen, 1);
    assert.ok(h.logs.some((l) => /A listener threw: listener boom/.test(l)));
    await h.client.disconnect();
    assert.ok(h.logs.some((l) => /A listener threw: state boom/.test(l)));
    assert.equal(h.client.state, 'idle');
  });

  test('lost connection while running: running → disconnecting → idle, everything outstanding fails at once', async () => {
    const h = await running();
    const disconnects: Array<Error | undefined> = [];
    h.client.onDisconnect((e) => { disconnects.push(e); assert.equal(h.client.state, 'idle'); });
    const cmds = [h.client.execute('a', undefined, { timeoutMs: 60_000 }), h.client.execute('b')];
    const wait = h.client.waitForEvent(() => true, { timeoutMs: 60_000 });
    await h.conn.next();
    h.conn.destroy();
    for (const r of await Promise.allSettled([...cmds, wait])) assert.ok(rejection(r) instanceof DisconnectedError);
    assert.equal(disconnects.length, 1);
    assert.ok(disconnects[0] instanceof DisconnectedError);
    assert.deepEqual(h.states.slice(-3), ['running', 'disconnecting', 'idle']);
    await assert.rejects(h.client.send({ execute: 'x' }), StateError);
  });

  test('disconnect() from running passes through disconnecting and resolves idle', async () => {
    const h = await running();
    const d = h.client.disconnect();
    assert.equal(h.client.state, 'disconnecting');
    await assert.rejects(h.client.connect({ kind: 'unix', path: '/nonexistent' }), StateError);
    await d;
    assert.equal(h.client.state, 'idle');
    assertLegal(h.states);
  });
});

describe('every connect phase is bounded', () => {
  test('greeting then silence: NegotiationTimeoutError at the negotiation bound, not before', async (t) => {
    const clock = freezeTimers(t);
    const s = await server();
    const h = client({ negotiationTimeoutMs: 300 });
    const connecting = h.client.connect(s.address);
    const conn = await s.accept();
    conn.write(GREETING_72);
    assert.equal((await conn.next()).value['execute'], 'qmp_capabilities');
    await turns();
    clock.tick(299);
    assert.equal(await hasSettled(connecting), false, 'still negotiating 1 ms before the bound');
    clock.tick(1);
    assert.equal(await hasSettled(connecting), true, 'ended at the bound');
    const err = rejection(await settled(connecting));
    assert.ok(err instanceof NegotiationTimeoutError, String(err));
    assert.equal((err as ConnectError).phase, 'negotiation');
    assert.match(err.message, /did not answer qmp_capabilities within 300 ms.*main loop is probably blocked.*SIGSTOP/);
    assert.equal(h.client.state, 'idle');
  });

  test('silence before the greeting: GreetingTimeoutError naming the likely causes', async () => {
    const s = await server();
    const h = client({ greetingTimeoutMs: 300 });
    const connecting = h.client.connect(s.address);
    await s.accept();
    const err = rejection(await settled(connecting));
    assert.ok(err instanceof GreetingTimeoutError);
    assert.match(err.message, /greeting phase.*held by another client.*not a QMP service.*SIGSTOP/);
    assert.equal(h.client.state, 'idle');
  });

  test('an opener that never settles is cut at connectTimeoutMs', async (t) => {
    const clock = freezeTimers(t);
    const h = client({ connectTimeoutMs: 200 });
    const never: ChannelOpener = () => new Promise(() => undefined);
    const connecting = h.client.connect(never);
    await turns();
    clock.tick(199);
    assert.equal(await hasSettled(connecting), false, 'still connecting 1 ms before the bound');
    clock.tick(1);
    const err = rejection(await settled(connecting));
    assert.ok(err instanceof ConnectError);
    assert.equal((err as ConnectError).phase, 'connect');
    assert.match(err.message, /timed out after 200 ms \(connect phase\)/);
    assert.equal(h.client.state, 'idle');
  });

  test('a first message that is not a greeting is BadGreetingError', async () => {
    const s = await server();
    const h = client();
    const connecting = h.client.connect(s.address);
    (await s.accept()).write('{"hello": 1}\r\n');
    const err = rejection(await settled(connecting));
    assert.ok(err instanceof BadGreetingError);
    assert.match(err.message, /not a QMP greeting/);
    assert.equal(h.client.state, 'idle');
  });
});

describe('replies QEMU would never send end the session at once', () => {
  const cases: Array<[string, (id: string) => string, RegExp]> = [
    ['error that is not an object', (id) => `{"error": "boom", "id": ${id}}`, /"error" that is not an object/],
    ['error without desc', (id) => `{"error": {"class": "GenericError"}, "id": ${id}}`, /"error" that is not an object with string/],
    ['return and error together', (id) => `{"return": {}, "error": {"class": "X", "desc": "y"}, "id": ${id}}`, /both "return" and "error"/],
    ['both a reply and an event', (id) => `{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}, "return": {}, "id": ${id}}`, /both an event and a reply/],
    ['event with an id', (id) => `{"event": "STOP", "timestamp": {"seconds": 1, "microseconds": 2}, "id": ${id}}`, /both an event and a reply/],
    ['event name not a string', () => '{"event": 5, "timestamp": {"seconds": 1, "microseconds": 2}}', /event whose name is not a string/],
    ['neither reply nor event', () => '{"hello": "world"}', /neither a reply nor an event/],
    ['a second greeting', () => GREETING_72.trim(), /neither a reply nor an event/],
    ['non-object message (array)', () => '[{"return": {}}]', /not a JSON object|Expected "\{"/],
    ['non-object message (number)', () => '42', /not a JSON object|Expected "\{"/],
    ['return without id', () => '{"return": {}}', /successful reply without id/],
    ['invalid JSON', () => '{"return": {,}}', /invalid JSON/],
  ];
  for (const [name, make, why] of cases) {
    test(name, async (t) => {
      freezeTimers(t); // so the 60 s timeout cannot be what ends the command
      const h = await running();
      let cause: Error | undefined;
      h.client.onDisconnect((e) => { cause = e; });
      const cmd = h.client.send({ execute: 'query-status' }, { timeoutMs: 60_000 });
      const got = await h.conn.next();
      h.conn.write(make(got.idText ?? 'null') + '\r\n');
      const err = rejection(await settled(cmd));
      assert.ok(err instanceof DisconnectedError, String(err));
      assert.ok(cause instanceof ProtocolError, String(cause));
      assert.match(cause.message, why);
      assert.equal(h.client.state, 'idle');
    });
  }

  test('an id-less error while two commands are outstanding: ServerParseError', async () => {
    const h = await running();
    let cause: Error | undefined;
    h.client.onDisconnect((e) => { cause = e; });
    const a = h.client.send({ execute: 'a' });
    const b = h.client.send({ execute: 'b' });
    await h.conn.next(); await h.conn.next();
    h.conn.write('{"error": {"class": "GenericError", "desc": "JSON parse error"}}\r\n');
    for (const r of await Promise.allSettled([a, b])) assert.ok(rejection(r) instanceof DisconnectedError);
    assert.ok(cause instanceof ServerParseError);
  });

  test('a reply with an unknown id is dropped (qmp-spec) and the session goes on', async () => {
    const h = await running();
    const cmd = h.client.execute('query-status');
    const got = await h.conn.next();
    h.conn.write('{"return": {}, "id": "nobody"}\r\n');
    h.conn.reply(got, 7);
    assert.equal(await cmd, 7);
    assert.ok(h.logs.some((l) => /unknown id/.test(l)));
  });
});

describe('deep and oversized replies', () => {
  for (const depth of [2000, 100_000]) {
    test(`a reply nested ${depth} deep ends the session cleanly (DeepMessageError)`, async () => {
      const h = await running();
      let cause: Error | undefined;
      h.client.onDisconnect((e) => { cause = e; });
      const cmd = h.client.send({ execute: 'x' }, { timeoutMs: 60_000 });
      const got = await h.conn.next();
      h.conn.write(`{"return": ${'['.repeat(depth)}${']'.repeat(depth)}, "id": ${got.idText}}\r\n`);
      assert.ok(rejection(await settled(cmd)) instanceof DisconnectedError);
      assert.ok(cause instanceof DeepMessageError, String(cause));
      assert.match(cause.message, /nested deeper than 1024 levels/);
    });
  }

  test('a reply 1000 deep (within QEMU\'s own limit) is delivered', async () => {
    const h = await running();
    const cmd = h.client.send({ execute: 'x' });
    const got = await h.conn.next();
    h.conn.write(`{"return": ${'['.repeat(1000)}${']'.repeat(1000)}, "id": ${got.idText}}\r\n`);
    const reply = await cmd;
    assert.equal(reply.ok, true);
  });

  test('a deep event split over many chunks also ends the session', async () => {
    const h = await running();
    let cause: Error | undefined;
    const done = new Promise<void>((r) => h.client.onDisconnect((e) => { cause = e; r(); }));
    const text = `{"event": "X", "data": {"a": ${'['.repeat(5000)}`;
    for (let i = 0; i < text.length; i += 700) h.conn.write(text.slice(i, i + 700));
    await done;
    assert.ok(cause instanceof DeepMessageError);
  });

  test('a command with arguments nested too deep for JSON.stringify is refused before sending', async () => {
    const h = await running();
    let deep: unknown = 1;
    for (let i = 0; i < 100_000; i++) deep = [deep];
    await assert.rejects(h.client.send({ execute: 'x', arguments: { deep } }), (e: unknown) => e instanceof RangeError && /nested deeper than QEMU accepts/.test((e as Error).message));
    assert.equal(h.client.state, 'running');
  });
});

describe('a wedged in-band window is visible', () => {
  test('the 8th in-band command is queued, says so in its timeout, and the backlog is exposed', async (t) => {
    const clock = freezeTimers(t, { date: true, now: 1_000_000 });
    const h = await running();
    const backlogs: InBandBacklog[] = [];
    h.client.onBacklogChange((b) => backlogs.push(b));
    const wire = Array.from({ length: 7 }, (_, i) => h.client.send({ execute: `w${i}` }, { timeoutMs: 60_000 }));
    for (let i = 0; i < 7; i++) await h.conn.next();
    const queued = h.client.send({ execute: 'query-status' }, { timeoutMs: 300 });
    const b = h.client.inBandBacklog();
    assert.equal(b.onWire, 7);
    assert.equal(b.queued, 1);
    assert.equal(b.oldestSentAt, 1_000_000, 'the oldest was written at the (frozen) time it was sent');
    assert.deepEqual(backlogs.map((x) => x.queued), [1]);
    clock.tick(299);
    assert.equal(await hasSettled(queued), false, 'queued, and 1 ms before its bound');
    clock.tick(1);
    const err = rejection(await settled(queued));
    assert.ok(err instanceof QueuedCommandTimeoutError, String(err));
    assert.ok(err instanceof CommandTimeoutError, 'still a CommandTimeoutError for existing callers');
    assert.equal((err as QueuedCommandTimeoutError).code, 'QUEUED_NEVER_SENT');
    assert.equal((err as QueuedCommandTimeoutError).onWire, 7);
    assert.match(err.message, /QEMU has not answered 7 earlier in-band commands.*never sent/);
    assert.equal(h.client.inBandBacklog().queued, 0);
    assert.deepEqual(backlogs.map((x) => x.queued), [1, 0]);
    // nothing more reached the server
    await turns(10);
    assert.equal(h.conn.backlog(), 0);
    // an in-band command that timed out on the wire is a plain CommandTimeoutError
    for (const w of wire) void w.catch(() => undefined);
    await h.client.disconnect();
  });

  test('cancelling a queued command removes it without sending; the next free slot goes to the one behind it', async () => {
    const h = await running();
    const wire = Array.from({ length: 7 }, (_, i) => h.client.send({ execute: `w${i}` }));
    const got = [];
    for (let i = 0; i < 7; i++) got.push(await h.conn.next());
    const ac = new AbortController();
    const cancelled = h.client.send({ execute: 'cancel-me' }, { signal: ac.signal });
    const behind = h.client.send({ execute: 'behind' });
    assert.equal(h.client.inBandBacklog().queued, 2);
    ac.abort();
    assert.ok(rejection((await Promise.allSettled([cancelled]))[0]!) instanceof CommandCancelledError);
    assert.equal(h.client.inBandBacklog().queued, 1);
    h.conn.reply(got[0]!);
    const next = await h.conn.next();
    assert.equal(next.value['execute'], 'behind');
    h.conn.reply(next);
    assert.equal((await behind).ok, true);
    for (const g of got.slice(1)) h.conn.reply(g);
    await Promise.all(wire);
    assert.deepEqual(h.client.inBandBacklog(), { onWire: 0, queued: 0, oldestSentAt: undefined });
  });
});

describe('bounded event history', () => {
  test('capped by count; a wait from a cursor that fell behind the cap is told so', async () => {
    const h = await running({ eventHistory: 5 });
    const cursor = h.client.eventCursor();
    for (let i = 0; i < 8; i++) h.conn.event('E', { i });
    const cmd = h.client.execute('sync');
    h.conn.reply(await h.conn.next());
    await cmd;
    const hist = h.client.eventHistory();
    assert.equal(hist.length, 5);
    assert.deepEqual(hist.map((e) => (e.data as { i: number }).i), [3, 4, 5, 6, 7]);
    await assert.rejects(h.client.waitForEvent(() => true, { after: cursor, timeoutMs: 100 }),
      (e: unknown) => e instanceof EventsDroppedError && (e as EventsDroppedError).dropped === 3 && /Take a newer cursor/.test((e as Error).message));
    // a cursor inside the kept range still works
    const ev = await h.client.waitForEvent((e) => (e.data as { i: number }).i === 6, { after: cursor + 3, timeoutMs: 100 });
    assert.equal(ev.seq, cursor + 7);
  });

  test('capped by bytes', async () => {
    const h = await running({ eventHistory: 1000, eventHistoryBytes: 4096 });
    for (let i = 0; i < 50; i++) h.conn.event('BIG', { pad: 'x'.repeat(900) });
    const cmd = h.client.execute('sync');
    h.conn.reply(await h.conn.next());
    await cmd;
    const hist = h.client.eventHistory();
    const bytes = hist.reduce((n, e) => n + e.raw.length, 0);
    assert.ok(bytes <= 4096, `${bytes} bytes kept`);
    assert.ok(hist.length >= 3 && hist.length <= 4, `${hist.length} kept`);
    assert.equal(hist.at(-1)?.seq, h.client.eventCursor());
  });

  test('a live waiter never misses an event however many flow past the cap', async () => {
    const h = await running({ eventHistory: 2 });
    const wait = h.client.waitForEvent((e) => e.event === 'WANTED', { timeoutMs: 10_000 });
    for (let i = 0; i < 100; i++) h.conn.event('NOISE');
    h.conn.event('WANTED');
    for (let i = 0; i < 100; i++) h.conn.event('NOISE');
    assert.equal((await wait).event, 'WANTED');
  });
});

describe('each public call in the states it does not accept', () => {
  test('idle: send/execute/waitForEvent reject with StateError; disconnect is a no-op', async () => {
    const { client: c } = client();
    await assert.rejects(c.send({ execute: 'x' }), StateError);
    await assert.rejects(c.execute('x'), StateError);
    await assert.rejects(c.waitForEvent(() => true, { timeoutMs: 10 }), StateError);
    await c.disconnect();
    assert.equal(c.state, 'idle');
  });

  test('connecting: send and connect are refused; disconnect cancels', async () => {
    const s = await server();
    const { client: c, states } = client();
    const connecting = settled(c.connect(s.address));
    await s.accept();
    assert.equal(c.state, 'connecting');
    await assert.rejects(c.send({ execute: 'x' }), StateError);
    await assert.rejects(c.connect(s.address), StateError);
    await c.disconnect();
    assert.ok(rejection(await connecting) instanceof ConnectError);
    assert.deepEqual(states, ['connecting', 'idle']);
  });

  test('disconnecting: send and connect are refused; a second disconnect waits for the same close', async () => {
    const h = await running();
    const d1 = h.client.disconnect();
    assert.equal(h.client.state, 'disconnecting');
    await assert.rejects(h.client.send({ execute: 'x' }), StateError);
    await assert.rejects(h.client.connect({ kind: 'unix', path: '/nonexistent' }), StateError);
    await Promise.all([d1, h.client.disconnect()]);
    assert.equal(h.client.state, 'idle');
    assertLegal(h.states);
  });
});

describe('the connect phase with a custom opener', () => {
  test('disconnect() while an opener hangs settles connect() at once; a channel that arrives late is closed', async (t) => {
    freezeTimers(t); // so the 60 s connect bound cannot be what ends it
    const { client: c } = client({ connectTimeoutMs: 60_000 });
    let release!: (ch: import('../../src/qmp/channel').QmpChannel) => void;
    let closedLate = false;
    const opener: ChannelOpener = () => new Promise((r) => { release = r; });
    const connecting = settled(c.connect(opener));
    await new Promise((r) => setImmediate(r));
    await c.disconnect();
    const err = rejection(await connecting);
    assert.ok(err instanceof ConnectError);
    assert.match(err.message, /cancelled \(connect phase\)/);
    release({
      description: 'late', start: () => undefined, send: () => undefined,
      close: () => { closedLate = true; return Promise.resolve(); },
    });
    await new Promise((r) => setImmediate(r));
    assert.equal(closedLate, true);
    assert.equal(c.state, 'idle');
  });

  test('an opener that throws synchronously is a ConnectError in the connect phase', async () => {
    const { client: c } = client();
    const err = rejection(await settled(c.connect(() => { throw new Error('no such VM'); })));
    assert.ok(err instanceof ConnectError);
    assert.equal((err as ConnectError).phase, 'connect');
    assert.match(err.message, /no such VM/);
    assert.equal(c.state, 'idle');
  });
});
