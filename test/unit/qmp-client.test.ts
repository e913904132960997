import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { QmpClient, type QmpClientOptions, type QmpState, type CommandReply } from '../../src/qmp/client';
import {
  BadGreetingError, CommandCancelledError, CommandTimeoutError, ConnectError, DisconnectedError, EventTimeoutError,
  ExecuteError, GreetingTimeoutError, OobRefusedError, OversizedMessageError, ServerParseError, StateError,
} from '../../src/qmp/errors';
import { startFakeServer, GREETING_72, type FakeConnection, type FakeServer } from '../support/fakeTransport';
import { freezeTimers, hasSettled, turns } from '../support/clock';

const servers: FakeServer[] = [];
const clients: QmpClient[] = [];
after(async () => {
  for (const c of clients) await c.disconnect();
  for (const s of servers) await s.close();
});

interface Harness {
  client: QmpClient;
  conn: FakeConnection;
  server: FakeServer;
  logs: Array<[string, string]>;
  traces: Array<[string, string]>;
}

async function connected(options: QmpClientOptions = {}, greeting = GREETING_72): Promise<Harness> {
  const server = await startFakeServer();
  servers.push(server);
  const logs: Array<[string, string]> = [];
  const traces: Array<[string, string]> = [];
  const client = new QmpClient({
    log: (l, m) => logs.push([l, m]), trace: (d, t) => traces.push([d, t]), ...options,
  });
  clients.push(client);
  const connecting = client.connect(server.address);
  const conn = await server.accept();
  await conn.handshake(greeting);
  await connecting;
  return { client, conn, server, logs, traces };
}

/** Resolves once `n` commands are waiting at the fake server, without assuming any timing. */
async function take(conn: FakeConnection, n: number): Promise<Awaited<ReturnType<FakeConnection['next']>>[]> {
  const out = [];
  for (let i = 0; i < n; i++) out.push(await conn.next());
  return out;
}

describe('QmpClient connect and negotiation', () => {
  test('negotiates oob when offered, reports version, moves idle → connecting → running', async () => {
    const server = await startFakeServer();
    servers.push(server);
    const client = new QmpClient();
    clients.push(client);
    const states: QmpState[] = [];
    client.onStateChange((s) => states.push(s));
    const connecting = client.connect(server.address);
    const conn = await server.accept();
    const neg = await conn.handshake();
    await connecting;
    assert.deepEqual(neg.value['arguments'], { enable: ['oob'] });
    assert.equal(neg.value['execute'], 'qmp_capabilities');
    assert.equal(client.oobEnabled, true);
    assert.deepEqual(client.version, { major: 7, minor: 2, micro: 22, package: 'Debian 1:7.2+dfsg-7+deb12u18+b3' });
    assert.deepEqual(states, ['connecting', 'running']);
  });

  test('enableOob: false negotiates without arguments', async () => {
    const server = await startFakeServer();
    servers.push(server);
    const client = new QmpClient({ enableOob: false });
    clients.push(client);
    const connecting = client.connect(server.address);
    const conn = await server.accept();
    const neg = await conn.handshake();
    await connecting;
    assert.equal(neg.value['arguments'], undefined);
    assert.equal(client.oobEnabled, false);
    await assert.rejects(client.send({ 'exec-oob': 'query-yank' }), OobRefusedError);
  });

  test('a server that does not offer oob is negotiated without it', async () => {
    const { client } = await connected({}, GREETING_72.replace('["oob"]', '[]'));
    assert.equal(client.oobEnabled, false);
    await assert.rejects(client.send({ 'exec-oob': 'query-yank' }), /does not offer the oob capability/);
  });

  test('a first message that is not a greeting is BadGreetingError and rolls back to idle', async () => {
    const server = await startFakeServer();
    servers.push(server);
    const client = new QmpClient();
    const connecting = client.connect(server.address);
    const conn = await server.accept();
    conn.write('{"return": {}}\r\n');
    await assert.rejects(connecting, BadGreetingError);
    assert.equal(client.state, 'idle');
  });

  test('a silent server is GreetingTimeoutError saying the monitor is probably held by another client', async () => {
    const server = await startFakeServer();
    servers.push(server);
    const client = new QmpClient({ greetingTimeoutMs: 200 });
    const connecting = client.connect(server.address);
    await server.accept();
    await assert.rejects(connecting, (err: unknown) => {
      assert.ok(err instanceof GreetingTimeoutError);
      assert.ok(err instanceof ConnectError);
      assert.match(err.message, /probably held by another client/);
      return true;
    });
    assert.equal(client.state, 'idle');
  });

  test('a missing socket is ConnectError and rolls back to idle; connect while running is StateError', async () => {
    const client = new QmpClient();
    await assert.rejects(client.connect({ kind: 'unix', path: '/nonexistent/qmp.sock' }), ConnectError);
    assert.equal(client.state, 'idle');
    const h = await connected();
    await assert.rejects(h.client.connect(h.server.address), StateError);
  });

  test('refused negotiation is ConnectError carrying what was sent and received', async () => {
    const server = await startFakeServer();
    servers.push(server);
    const client = new QmpClient();
    const connecting = client.connect(server.address);
    const conn = await server.accept();
    conn.write(GREETING_72);
    const neg = await conn.next();
    conn.replyError(neg, 'GenericError', 'nope');
    await assert.rejects(connecting, (err: unknown) => {
      assert.ok(err instanceof ConnectError);
      assert.match(err.sent ?? '', /qmp_capabilities/);
      assert.match(err.received ?? '', /nope/);
      return true;
    });
    assert.equal(client.state, 'idle');
  });

  test('an aborted signal cancels connect() with ConnectError', async () => {
    const server = await startFakeServer();
    servers.push(server);
    const client = new QmpClient();
    await assert.rejects(client.connect(server.address, { signal: AbortSignal.abort() }), /cancelled/);
    const ac = new AbortController();
    const connecting = client.connect(server.address, { signal: ac.signal });
    await server.accept();
    ac.abort();
    await assert.rejects(connecting, ConnectError);
    assert.equal(client.state, 'idle');
  });

  test('send before connect is StateError', async () => {
    await assert.rejects(new QmpClient().send({ execute: 'query-status' }), StateError);
  });
});

describe('QmpClient routing', () => {
  test('out-of-order replies settle their own commands', async () => {
    const { client, conn } = await connected();
    const a = client.execute('query-status');
    const b = client.execute('query-name');
    const c = client.execute('query-version');
    const [ca, cb, cc] = await take(conn, 3);
    conn.reply(cc!, 'C');
    conn.reply(ca!, 'A');
    conn.reply(cb!, 'B');
    assert.deepEqual(await Promise.all([a, b, c]), ['A', 'B', 'C']);
  });

  test('our ids are strings with the reserved prefix and are given back as idText', async () => {
    const { client, conn } = await connected();
    const p = client.send({ execute: 'query-name' });
    const cmd = await conn.next();
    assert.match(cmd.idText ?? '', /^"#\d+"$/);
    conn.reply(cmd);
    const reply = await p;
    assert.equal(reply.idText, cmd.idText);
    assert.equal(reply.sent, cmd.text);
    assert.equal(reply.raw, `{"return": {}, "id": ${cmd.idText}}`);
  });

  test('a reply with an unknown id is logged and dropped', async () => {
    const { client, conn, logs } = await connected();
    conn.write('{"return": {}, "id": "stranger"}\r\n');
    const p = client.execute('query-name');
    const cmd = await conn.next();
    conn.reply(cmd, 'mine');
    assert.equal(await p, 'mine');
    assert.ok(logs.some(([l, m]) => l === 'warn' && m.includes('unknown id')));
  });

  test('events interleaved with replies are delivered in order and kept in history', async () => {
    const { client, conn } = await connected();
    const seen: string[] = [];
    client.onEvent((e) => seen.push(e.event));
    const cursor = client.eventCursor();
    const p = client.execute('cont');
    const cmd = await conn.next();
    conn.write('{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "RESUME"}\r\n' +
      `{"return": {}, "id": ${cmd.idText}}\r\n{"timestamp": {"seconds": 1, "microseconds": 3}, "event": "X", "data": {"k": 1}}\r\n`);
    await p;
    // RESUME came before the reply; a wait started after the reply must still see it.
    const resume = await client.waitForEvent((e) => e.event === 'RESUME', { after: cursor, timeoutMs: 5000 });
    assert.equal(resume.seq, cursor + 1);
    assert.deepEqual(resume.timestamp, { seconds: 1, microseconds: 2 });
    const x = await client.waitForEvent((e) => e.event === 'X', { after: cursor, timeoutMs: 5000 });
    assert.deepEqual(x.data, { k: 1 });
    assert.deepEqual(seen, ['RESUME', 'X']);
    assert.deepEqual(client.eventHistory().map((e) => e.event).slice(-2), ['RESUME', 'X']);
  });

  test('waitForEvent waits for a future event, times out, and can be cancelled', async () => {
    const { client, conn } = await connected({ eventHistory: 2 });
    const waiting = client.waitForEvent((e) => e.event === 'RESET', { timeoutMs: 5000 });
    conn.event('STOP');
    conn.event('RESET');
    assert.equal((await waiting).event, 'RESET');
    await assert.rejects(client.waitForEvent(() => false, { timeoutMs: 30 }), EventTimeoutError);
    const ac = new AbortController();
    const w = client.waitForEvent(() => false, { timeoutMs: 5000, signal: ac.signal });
    ac.abort();
    await assert.rejects(w, CommandCancelledError);
    conn.event('A');
    await client.waitForEvent((e) => e.event === 'A', { after: 0, timeoutMs: 5000 });
    assert.deepEqual(client.eventHistory().map((e) => e.event), ['RESET', 'A']);
  });

  test('an id-less error with exactly one command in flight is that command\'s reply', async () => {
    const { client, conn, logs } = await connected();
    const p = client.send({ execute: 'query-status' });
    await conn.next();
    // Recorded from QEMU 7.2 (wire-cases "malformed JSON (truncated then closing brace)"), two stray errors.
    conn.write('{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}\r\n' +
      '{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}\r\n');
    const reply = await p;
    assert.equal(reply.ok, false);
    assert.equal(!reply.ok && reply.error.class, 'GenericError');
    // The follow-up error is attributed to the same input, not lost and not given to the next command.
    const q = client.execute('query-name');
    const cmd = await conn.next();
    conn.reply(cmd, 'ok');
    assert.equal(await q, 'ok');
    assert.ok(logs.some(([l, m]) => l === 'warn' && m.includes('Another id-less error')));
    assert.equal(client.state, 'running');
  });

  test('an id-less error with several commands in flight is ServerParseError and ends the session', async () => {
    const { client, conn } = await connected();
    const ended = new Promise<Error | undefined>((resolve) => client.onDisconnect(resolve));
    const a = client.execute('query-status');
    const b = client.execute('query-name');
    const rejected = Promise.all([a, b].map((p) => assert.rejects(p, DisconnectedError)));
    await take(conn, 2);
    conn.write('{"error": {"class": "GenericError", "desc": "JSON parse error, expecting value"}}\r\n');
    assert.ok((await ended) instanceof ServerParseError);
    await rejected;
    assert.equal(client.state, 'idle');
  });

  test('execute() turns an error reply into ExecuteError with class, desc, sent and received', async () => {
    const { client, conn } = await connected();
    const p = client.execute('no-such-cmd');
    const cmd = await conn.next();
    conn.replyError(cmd, 'CommandNotFound', 'The command no-such-cmd has not been found');
    await assert.rejects(p, (err: unknown) => {
      assert.ok(err instanceof ExecuteError);
      assert.equal(err.errorClass, 'CommandNotFound');
      assert.equal(err.command, 'no-such-cmd');
      assert.equal(err.sent, cmd.text);
      assert.match(err.received ?? '', /has not been found/);
      return true;
    });
  });

  test('trace sees every line both ways with ids', async () => {
    const { client, conn, traces } = await connected();
    const p = client.execute('query-name');
    const cmd = await conn.next();
    conn.reply(cmd);
    await p;
    assert.deepEqual(traces.slice(-2), [['->', cmd.text], ['<-', `{"return": {}, "id": ${cmd.idText}}`]]);
    assert.equal(traces[0]?.[0], '<-');
    assert.match(traces[0]?.[1] ?? '', /^\{"QMP"/);
  });
});

describe('QmpClient ids given by the caller', () => {
  test('integer ids beyond 2^53 and re-serialised ids are matched and given back as written', async () => {
    const { client, conn } = await connected();
    const big = client.send({ execute: 'query-name', idText: '9007199254740993' });
    const near = client.send({ execute: 'query-name', idText: '9007199254740992' });
    const exp = client.send({ execute: 'query-name', idText: '1e3' });
    const str = client.send({ execute: 'query-name', idText: '"\\u00e9"' });
    const obj = client.send({ execute: 'query-name', idText: '{"k":"v","b":1}' });
    const [c1, c2, c3, c4, c5] = await take(conn, 5);
    assert.equal(c1?.idText, '9007199254740993');
    // Answer the way QEMU re-serialises each (fixtures: 1e3 → 1000, \u00e9 → \u00E9, members reordered).
    conn.write('{"return": 2, "id": 9007199254740992}\r\n{"return": 1, "id": 9007199254740993}\r\n' +
      '{"return": 3, "id": 1000}\r\n{"return": 4, "id": "\\u00E9"}\r\n{"return": 5, "id": {"b": 1, "k": "v"}}\r\n');
    const replies = await Promise.all([big, near, exp, str, obj]);
    assert.deepEqual(replies.map((r) => r.ok && r.value), [1, 2, 3, 4, 5]);
    assert.deepEqual(replies.map((r) => r.idText), ['9007199254740993', '9007199254740992', '1e3', '"\\u00e9"', '{"k":"v","b":1}']);
    assert.ok(c2 && c3 && c4 && c5);
  });

  test('caller ids are checked before sending: JSON, not the reserved prefix, not in flight', async () => {
    const { client, conn } = await connected();
    await assert.rejects(client.send({ execute: 'query-name', idText: "'x'" }), TypeError);
    await assert.rejects(client.send({ execute: 'query-name', idText: '"#1"' }), /reserved/);
    const first = client.send({ execute: 'query-name', idText: '7' });
    await assert.rejects(client.send({ execute: 'query-name', idText: '7.0' }), /already in flight/);
    const cmd = await conn.next();
    conn.reply(cmd);
    await first;
    // Once answered the id is free again.
    const again = client.send({ execute: 'query-name', idText: '7' });
    conn.reply(await conn.next());
    assert.equal((await again).idText, '7');
    assert.equal(conn.backlog(), 0);
  });
});

describe('QmpClient out-of-band and the in-band window', () => {
  test('malformed input is refused before sending: no command name, nesting beyond QEMU\'s 1024 levels', async () => {
    const { client, conn } = await connected();
    await assert.rejects(client.send({}), TypeError);
    const deep = JSON.parse('['.repeat(1023) + ']'.repeat(1023)) as unknown;
    await assert.rejects(client.send({ execute: 'x', arguments: { a: deep } }), RangeError);
    const p = client.execute('y');
    const cmd = await conn.next();
    assert.equal(cmd.value['execute'], 'y', 'nothing else was written');
    conn.reply(cmd);
    await p;
  });

  test('the 2018 control spelling is sent as exec-oob', async () => {
    const { client, conn } = await connected();
    const p = client.send({ execute: 'query-yank', control: { 'run-oob': true } });
    const cmd = await conn.next();
    assert.equal(cmd.value['exec-oob'], 'query-yank');
    assert.equal('execute' in cmd.value, false);
    assert.equal('control' in cmd.value, false);
    conn.reply(cmd, []);
    assert.equal((await p).ok, true);
  });

  test('with a schema, exec-oob of a command without allow-oob is OobRefusedError before sending', async () => {
    const { client, conn } = await connected();
    client.setSchema({ command: (n: string) => (n === 'query-yank' ? { allowOob: true } : n === 'query-status' ? { allowOob: false } : undefined) });
    await assert.rejects(client.send({ 'exec-oob': 'query-status' }), OobRefusedError);
    await assert.rejects(client.send({ execute: 'query-status', control: { 'run-oob': true } }), OobRefusedError);
    const ok = client.send({ 'exec-oob': 'query-yank' });
    const cmd = await conn.next();
    assert.equal(cmd.value['exec-oob'], 'query-yank');
    conn.reply(cmd, []);
    await ok;
    await assert.rejects(client.send({ execute: 'a', 'exec-oob': 'b' }), TypeError);
  });

  test('at most 7 in-band commands on the wire; the 8th waits; OOB passes; replies release the queue', async () => {
    const { client, conn } = await connected();
    const inband = Array.from({ length: 10 }, (_, i) => client.execute('query-status', undefined).then(() => i));
    const first7 = await take(conn, 7);
    const oob = client.send({ 'exec-oob': 'query-yank' });
    const oobCmd = await conn.next();
    assert.equal(oobCmd.value['exec-oob'], 'query-yank');
    assert.equal(conn.backlog(), 0, 'no 8th in-band command on the wire');
    conn.reply(oobCmd, []);
    await oob;
    assert.equal(conn.backlog(), 0);
    conn.reply(first7[0]!);
    const eighth = await conn.next();
    assert.equal(eighth.value['execute'], 'query-status');
    assert.equal(conn.backlog(), 0, 'one reply lets exactly one more through');
    for (const c of first7.slice(1)) conn.reply(c);
    const rest = await take(conn, 2);
    conn.reply(eighth);
    for (const c of rest) conn.reply(c);
    assert.deepEqual(await Promise.all(inband), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  test('inBandWindow is configurable', async () => {
    const { client, conn } = await connected({ inBandWindow: 2 });
    const all = [client.execute('a'), client.execute('b'), client.execute('c')];
    const [a, b] = await take(conn, 2);
    assert.equal(conn.backlog(), 0);
    conn.reply(a!);
    const c = await conn.next();
    conn.reply(b!);
    conn.reply(c);
    await Promise.all(all);
  });
});

describe('QmpClient timeouts, cancellation and disconnect', () => {
  test('an answered command\'s timer never fires on a later command: each times out at its own bound, on a frozen clock', async (t) => {
    const { client, conn, logs } = await connected();
    const clock = freezeTimers(t);
    // A is answered at once; its 100 ms timer is due at fake time 100.
    const a = client.send({ execute: 'query-status', idText: '"a"' }, { timeoutMs: 100 });
    conn.reply(await conn.next(), { status: 'running' });
    assert.equal((await a).ok, true);
    clock.tick(50);
    // B is sent at fake time 50 with the same bound: due at 150, not at A's 100.
    const b = client.send({ execute: 'query-name', idText: '"b"' }, { timeoutMs: 100 });
    const bCmd = await conn.next();
    clock.tick(50);
    assert.equal(await hasSettled(b), false, 'A\'s bound passing does not time B out');
    clock.tick(49);
    assert.equal(await hasSettled(b), false, 'still waiting 1 ms before its own bound');
    clock.tick(1);
    await assert.rejects(b, CommandTimeoutError);
    // A's id was freed when its reply came; B's stays reserved until its late reply.
    const again = client.send({ execute: 'query-status', idText: '"a"' }, { timeoutMs: 100 });
    conn.reply(await conn.next());
    assert.equal((await again).ok, true);
    conn.reply(bCmd, 'late');
    clock.tick(1000);
    await turns();
    assert.equal(client.state, 'running');
    assert.deepEqual(logs.filter(([l]) => l === 'warn' || l === 'error'), []);
  });

  test('a timed-out command rejects, its late reply is dropped quietly and its id stays reserved until then', async () => {
    const { client, conn, logs } = await connected({ inBandWindow: 1 });
    const slow = client.send({ execute: 'dump-guest-memory', idText: '"mine"' }, { timeoutMs: 20 });
    const cmd = await conn.next();
    await assert.rejects(slow, CommandTimeoutError);
    await assert.rejects(client.send({ execute: 'query-name', idText: '"mine"' }), /already in flight/);
    // The abandoned command still holds the only window slot.
    const next = client.execute('query-name');
    assert.equal(conn.backlog(), 0);
    conn.reply(cmd, 'late');
    const n = await conn.next();
    conn.reply(n, 'fresh');
    assert.equal(await next, 'fresh');
    assert.ok(logs.some(([l, m]) => l === 'debug' && m.includes('late reply')));
    assert.ok(!logs.some(([l]) => l === 'warn' || l === 'error'));
  });

  test('an aborted queued command is never sent; an aborted sent one rejects with CommandCancelledError', async () => {
    const { client, conn } = await connected({ inBandWindow: 1 });
    const ac1 = new AbortController();
    const ac2 = new AbortController();
    const first = client.execute('a', undefined, { signal: ac1.signal });
    const second = client.execute('b', undefined, { signal: ac2.signal });
    const a = await conn.next();
    ac2.abort();
    ac1.abort();
    await assert.rejects(first, CommandCancelledError);
    await assert.rejects(second, CommandCancelledError);
    const third = client.execute('c');
    conn.reply(a);
    const c = await conn.next();
    assert.equal(c.value['execute'], 'c');
    conn.reply(c, 3);
    assert.equal(await third, 3);
    await assert.rejects(client.execute('d', undefined, { signal: AbortSignal.abort() }), CommandCancelledError);
  });

  test('the server closing rejects every pending and queued command at once and fires onDisconnect', async () => {
    const { client, conn } = await connected({ inBandWindow: 2 });
    const reasons: Array<Error | undefined> = [];
    client.onDisconnect((e) => reasons.push(e));
    const all = [client.execute('a'), client.execute('b'), client.execute('c'), client.send({ 'exec-oob': 'query-yank' })];
    const waiting = client.waitForEvent(() => false, { timeoutMs: 60_000 });
    await take(conn, 3);
    conn.destroy();
    await Promise.all([...all, waiting].map((p) => assert.rejects(p, DisconnectedError)));
    assert.equal(client.state, 'idle');
    assert.equal(reasons.length, 1);
    assert.ok(reasons[0] instanceof DisconnectedError);
  });

  test('disconnect() rejects pending commands, fires onDisconnect without an error, and reconnect renegotiates', async () => {
    const { client, conn, server } = await connected();
    const reasons: Array<Error | undefined> = [];
    client.onDisconnect((e) => reasons.push(e));
    const p = client.execute('a');
    await conn.next();
    const states: QmpState[] = [];
    client.onStateChange((s) => states.push(s));
    const rejected = assert.rejects(p, DisconnectedError);
    await client.disconnect();
    await rejected;
    assert.deepEqual(reasons, [undefined]);
    assert.deepEqual(states, ['disconnecting', 'idle']);
    await conn.closed;
    const connecting = client.connect(server.address);
    const conn2 = await server.accept();
    const neg = await conn2.handshake();
    await connecting;
    assert.deepEqual(neg.value['arguments'], { enable: ['oob'] });
    assert.equal(client.state, 'running');
    const q = client.execute('query-name');
    conn2.reply(await conn2.next(), 'again');
    assert.equal(await q, 'again');
  });

  test('a message beyond maxMessageBytes ends the session with OversizedMessageError', async () => {
    const { client, conn } = await connected({ maxMessageBytes: 1000 });
    const ended = new Promise<Error | undefined>((resolve) => client.onDisconnect(resolve));
    const p = client.execute('query-qmp-schema');
    const rejected = assert.rejects(p, DisconnectedError);
    const cmd = await conn.next();
    conn.write(`{"return": "${'x'.repeat(600)}",`);
    conn.write(`"more": "${'y'.repeat(600)}", "id": ${cmd.idText}}\r\n`);
    assert.ok((await ended) instanceof OversizedMessageError);
    await rejected;
  });

  test('disconnect() during connect() cancels it and leaves the client idle', async () => {
    const server = await startFakeServer();
    servers.push(server);
    const client = new QmpClient({ greetingTimeoutMs: 60_000 });
    const connecting = client.connect(server.address);
    await server.accept();
    await client.disconnect();
    await assert.rejects(connecting, ConnectError);
    assert.equal(client.state, 'idle');
  });
});

export type { CommandReply };
