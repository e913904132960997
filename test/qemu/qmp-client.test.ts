// QmpClient against a real qemu-system-x86_64 (-machine none). One QEMU serves the file; tests that need a
// different monitor (pretty, TCP) or a second client start or share their own as noted.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { QmpClient, type QmpClientOptions } from '../../src/qmp/client';
import { ExecuteError, GreetingTimeoutError, OobRefusedError } from '../../src/qmp/errors';
import { Schema } from '../../src/qmp/schema';
import type { SchemaInfo } from '../../src/qmp/introspect';
import { startQemu, type TestQemu } from '../support/qemu';

let qemu: TestQemu;
const clients: QmpClient[] = [];

before(async () => { qemu = await startQemu(); });
after(async () => {
  for (const c of clients) await c.disconnect();
  await qemu.stop();
});

/** A connected client; the monitor allows one client at a time, so each test disconnects its own. */
async function connect(options: QmpClientOptions = {}, target: TestQemu = qemu): Promise<QmpClient> {
  const client = new QmpClient(options);
  clients.push(client);
  await client.connect({ kind: 'unix', path: target.socketPath });
  return client;
}

async function expectError(client: QmpClient, name: string, args: object | undefined, cls: string, desc: RegExp): Promise<void> {
  await assert.rejects(client.execute(name, args), (err: unknown) => {
    assert.ok(err instanceof ExecuteError, String(err));
    assert.equal(err.errorClass, cls);
    assert.match(err.desc, desc);
    assert.equal(err.command, name);
    assert.ok(err.sent?.includes(`"execute":"${name}"`));
    assert.ok(err.received?.includes(cls));
    return true;
  });
}

describe('QmpClient with real QEMU', () => {
  test('negotiates OOB by default and reports the version', async () => {
    const traces: string[] = [];
    const client = await connect({ trace: (d, t) => traces.push(`${d} ${t}`) });
    assert.equal(client.state, 'running');
    assert.equal(client.oobEnabled, true);
    assert.ok((client.version?.major ?? 0) >= 7);
    assert.ok(traces.some((t) => t === '-> {"execute":"qmp_capabilities","arguments":{"enable":["oob"]},"id":"#1"}'));
    const status = await client.execute('query-status') as { status: string };
    assert.equal(status.status, 'prelaunch');
    // exec-oob is accepted for an allow-oob command.
    const yank = await client.send({ 'exec-oob': 'query-yank' });
    assert.equal(yank.ok, true);
    await client.disconnect();
  });

  test('negotiates without OOB when enableOob is false; QEMU then rejects exec-oob, the client refuses it first', async () => {
    const client = await connect({ enableOob: false });
    assert.equal(client.oobEnabled, false);
    await assert.rejects(client.send({ 'exec-oob': 'query-yank' }), OobRefusedError);
    assert.equal((await client.send({ execute: 'query-yank' })).ok, true);
    await client.disconnect();
  });

  test('each error class QEMU reports reaches the caller as ExecuteError', async () => {
    const client = await connect();
    await expectError(client, 'no-such-cmd', undefined, 'CommandNotFound', /The command no-such-cmd has not been found/);
    await expectError(client, 'human-monitor-command', undefined, 'GenericError', /Parameter 'command-line' is missing/);
    await expectError(client, 'query-status', { bogus: 1 }, 'GenericError', /Parameter 'bogus' is unexpected/);
    await expectError(client, 'human-monitor-command', { 'command-line': 42 }, 'GenericError', /Invalid parameter type for 'command-line', expected: string/);
    await expectError(client, 'device_del', { id: 'nope' }, 'DeviceNotFound', /nope/);
    await expectError(client, 'qmp_capabilities', undefined, 'CommandNotFound', /already complete/);
    // send() gives QEMU's errors back as replies, not exceptions.
    const reply = await client.send({ execute: 'no-such-cmd' });
    assert.equal(reply.ok, false);
    assert.equal(!reply.ok && reply.error.class, 'CommandNotFound');
    await client.disconnect();
  });

  test('the 2018 control spelling is sent as exec-oob and QEMU accepts it', async () => {
    const traces: string[] = [];
    const client = await connect({ trace: (d, t) => traces.push(`${d} ${t}`) });
    const reply = await client.send({ execute: 'query-yank', control: { 'run-oob': true } });
    assert.equal(reply.ok, true, reply.raw);
    assert.match(reply.sent, /^\{"exec-oob":"query-yank"/);
    assert.ok(!traces.some((t) => t.includes('"control"')));
    await client.disconnect();
  });

  test('with the real schema, exec-oob is refused for commands without allow-oob and allowed for query-yank', async () => {
    const client = await connect();
    const infos = await client.execute('query-qmp-schema') as SchemaInfo[];
    client.setSchema(Schema.fromIntrospection(infos));
    await assert.rejects(client.send({ 'exec-oob': 'query-status' }), OobRefusedError);
    assert.equal((await client.send({ 'exec-oob': 'query-yank' })).ok, true);
    client.setSchema(undefined);
    // Without the schema QEMU itself refuses, as an error reply.
    const r = await client.send({ 'exec-oob': 'query-status' });
    assert.equal(!r.ok && r.error.desc, 'The command query-status does not support OOB');
    await client.disconnect();
  });

  test('events: stop/cont give STOP/RESUME, system_reset gives RESET, none missed around the reply', async () => {
    const client = await connect();
    let cursor = client.eventCursor();
    await client.execute('cont');
    const resume = await client.waitForEvent((e) => e.event === 'RESUME', { after: cursor, timeoutMs: 30_000 });
    assert.ok(resume.timestamp.seconds > 0);
    cursor = client.eventCursor();
    await client.execute('stop');
    await client.waitForEvent((e) => e.event === 'STOP', { after: cursor, timeoutMs: 30_000 });
    cursor = client.eventCursor();
    await client.execute('system_reset');
    const reset = await client.waitForEvent((e) => e.event === 'RESET', { after: cursor, timeoutMs: 30_000 });
    assert.equal((reset.data as { guest?: boolean } | undefined)?.guest, false);
    assert.deepEqual(client.eventHistory().map((e) => e.event).filter((n) => n !== 'RESET'), ['RESUME', 'STOP']);
    await client.disconnect();
  });

  test('caller ids beyond 2^53 (and 1e3, escapes, objects) are matched and given back exactly', async () => {
    const client = await connect();
    const ids = ['9007199254740993', '18446744073709551615', '-9223372036854775808', '1e3', '"a\\tb\\u00e9"', '{"x":[1,2],"a":null}'];
    const replies = await Promise.all(ids.map((idText) => client.send({ execute: 'query-name', idText })));
    assert.deepEqual(replies.map((r) => r.idText), ids);
    assert.ok(replies[0]?.raw.includes('"id": 9007199254740993'));
    assert.ok(replies[3]?.raw.includes('"id": 1000'));
    for (const r of replies) assert.equal(r.ok, true);
    await client.disconnect();
  });

  test('nesting: 1024 levels reach QEMU and get an id\'d reply; 1025 (QEMU\'s id-less error) is refused before sending', async () => {
    const client = await connect();
    // The command object and `arguments` are two levels; QEMU counts every brace and bracket.
    const nested = (depth: number): unknown => JSON.parse('['.repeat(depth - 2) + ']'.repeat(depth - 2)) as unknown;
    const ok = await client.send({ execute: 'query-status', arguments: { x: nested(1024) } });
    assert.equal(!ok.ok && ok.error.desc, "Parameter 'x' is unexpected");
    await assert.rejects(client.send({ execute: 'query-status', arguments: { x: nested(1025) } }), RangeError);
    assert.equal((await client.execute('query-status') as { status: string }).status, 'prelaunch');
    await client.disconnect();
  });

  test('reconnecting renegotiates capabilities', async () => {
    const client = await connect();
    await client.disconnect();
    await client.connect({ kind: 'unix', path: qemu.socketPath });
    assert.equal(client.oobEnabled, true);
    assert.equal((await client.send({ 'exec-oob': 'query-yank' })).ok, true);
    await client.disconnect();
  });

  test('a second client on a busy monitor gets GreetingTimeoutError saying it is probably held by another client', async () => {
    const first = await connect();
    const second = new QmpClient({ greetingTimeoutMs: 1500 });
    await assert.rejects(second.connect({ kind: 'unix', path: qemu.socketPath }), (err: unknown) => {
      assert.ok(err instanceof GreetingTimeoutError);
      assert.match(err.message, /probably held by another client/);
      return true;
    });
    assert.equal(second.state, 'idle');
    assert.equal((await first.execute('query-status') as { status: string }).status.length > 0, true);
    await first.disconnect();
  });

  test('quit: SHUTDOWN, the reply, then EOF ends the session', async () => {
    const own = await startQemu();
    try {
      const client = await connect({}, own);
      const ended = new Promise<Error | undefined>((resolve) => client.onDisconnect(resolve));
      const cursor = client.eventCursor();
      await client.execute('quit');
      await ended;
      assert.equal(client.state, 'idle');
      const shutdown = await client.waitForEvent((e) => e.event === 'SHUTDOWN', { after: cursor, timeoutMs: 1000 });
      assert.equal(shutdown.event, 'SHUTDOWN');
    } finally {
      await own.stop();
    }
  });
});

describe('QmpClient over other monitors', () => {
  test('-qmp-pretty output (objects over many lines) is read', async () => {
    const pretty = await startQemu({ pretty: true });
    try {
      const traces: string[] = [];
      const client = await connect({ trace: (d, t) => { if (d === '<-') traces.push(t); } }, pretty);
      assert.ok(traces[0]?.includes('\n'), 'the greeting really is pretty-printed');
      const status = await client.execute('query-status') as { status: string };
      assert.equal(status.status, 'prelaunch');
      const cursor = client.eventCursor();
      await client.execute('cont');
      await client.waitForEvent((e) => e.event === 'RESUME', { after: cursor, timeoutMs: 30_000 });
      const infos = await client.execute('query-qmp-schema') as unknown[];
      assert.ok(infos.length > 1000);
      await client.disconnect();
    } finally {
      await pretty.stop();
    }
  });

  test('TCP transport', async () => {
    const port = await freePort();
    const tcp = await startQemu({ tcpPort: port });
    try {
      const client = new QmpClient();
      clients.push(client);
      // QEMU opens the TCP listener before the unix socket, which startQemu waited for.
      await client.connect({ kind: 'tcp', host: '127.0.0.1', port });
      assert.equal(client.oobEnabled, true);
      assert.equal((await client.execute('query-status') as { status: string }).status, 'prelaunch');
      await client.disconnect();
    } finally {
      await tcp.stop();
    }
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}
