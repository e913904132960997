// The seam below and beside the session: a transport that is not a socket (a child process's stdio; a
// message-based passthrough like `virsh qemu-monitor-command`) and a dialect without greeting (the guest
// agent's `guest-sync-delimited` with its 0xFF sentinel), each as a test double plugged into the unchanged
// session (QmpClient).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { QmpClient } from '../../src/qmp/client';
import { StreamChannel, socketChannelOpener, type ChannelOpener, type ChannelSink, type QmpChannel } from '../../src/qmp/channel';
import { passthroughDialect, type QmpDialect } from '../../src/qmp/dialect';
import { DisconnectedError, ExecuteError, NegotiationTimeoutError, OobRefusedError } from '../../src/qmp/errors';
import { LibvirtClient } from '../../src/endpoints/libvirt';
import { GUEST_AGENT_NO_OOB, guestAgentDialect as realGuestAgentDialect } from '../../src/endpoints/guestAgent';
import { startFakeServer, type FakeServer } from '../support/fakeTransport';
import { freezeTimers, hasSettled, turns } from '../support/clock';

const servers: FakeServer[] = [];
const clients: QmpClient[] = [];
after(async () => {
  for (const c of clients) await c.disconnect();
  for (const s of servers) await s.close();
});

// A QMP server on stdin/stdout, written with its own line framing: greets, negotiates, answers
// query-status, exits on "quit" (after its reply), like `qemu -qmp stdio`.
const STDIO_SERVER = `
process.stdout.write('{"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}\\r\\n');
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  buf += d;
  let m;
  while ((m = /^\\s*(\\{[^{}]*(?:\\{[^{}]*\\}[^{}]*)*\\})/.exec(buf))) {
    buf = buf.slice(m[0].length);
    const cmd = JSON.parse(m[1]);
    const id = JSON.stringify(cmd.id);
    if (cmd.execute === 'die') process.exit(3);
    if (cmd.execute === 'query-status') process.stdout.write('{"return": {"status": "running"}, "id": ' + id + '}\\r\\n');
    else process.stdout.write('{"return": {}, "id": ' + id + '}\\r\\n');
  }
});
`;

function stdioOpener(): { opener: ChannelOpener; pid: () => number | undefined } {
  let pid: number | undefined;
  const opener: ChannelOpener = async () => {
    const child = spawn(process.execPath, ['-e', STDIO_SERVER], { stdio: ['pipe', 'pipe', 'inherit'] });
    pid = child.pid;
    return new StreamChannel(`process ${child.pid}`, {
      readable: child.stdout, writable: child.stdin,
      destroy: () => { child.kill('SIGKILL'); },
    });
  };
  return { opener, pid: () => pid };
}

/**
 * libvirt's passthrough, simulated: one "process" per command that gets the command without our id (libvirt
 * refuses a user id) and returns one reply text carrying libvirt's own id. The channel puts our id back, so
 * the session matches replies as usual. Replies come back after a per-command delay (out of order).
 */
class PassthroughChannel implements QmpChannel {
  readonly description = 'virsh qemu-monitor-command vm1 (simulated)';
  private sink: ChannelSink | undefined;
  private closed = false;
  private n = 0;
  readonly seen: string[] = [];
  constructor(private readonly run: (cmd: Record<string, unknown>) => { delayMs: number; reply: string }) {}
  start(sink: ChannelSink): void { this.sink = sink; }
  send(text: string): void {
    if (this.closed) return;
    const cmd = JSON.parse(text) as Record<string, unknown>;
    const idText = JSON.stringify(cmd['id']);
    delete cmd['id'];
    this.seen.push(JSON.stringify(cmd));
    const { delayMs, reply } = this.run(cmd);
    const libvirtId = `libvirt-${++this.n}`;
    setTimeout(() => {
      if (this.closed) return;
      const v = JSON.parse(reply.replace(/\}$/, `,"id":"${libvirtId}"}`)) as Record<string, unknown>;
      assert.equal(v['id'], libvirtId);
      delete v['id'];
      const text = JSON.stringify(v).replace(/\}$/, `,"id":${idText}}`);
      this.sink?.message(text, JSON.parse(text));
    }, delayMs);
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
  /** The simulated libvirt daemon goes away. */
  die(): void {
    this.closed = true;
    this.sink?.ended(new DisconnectedError(`${this.description}: virsh exited`));
  }
}

/** The guest agent's dialect as a test double: no greeting; resync with guest-sync-delimited and 0xFF. */
function guestAgentDialect(syncId: number): QmpDialect {
  return {
    name: 'qemu-ga',
    async handshake(ctx) {
      ctx.sendRaw(`{"execute":"guest-sync-delimited","arguments":{"id":${syncId}}}`);
      for (;;) {
        const { value } = await ctx.nextMessage('negotiation');
        if (typeof value === 'object' && value !== null && (value as { return?: unknown }).return === syncId) break;
      }
      return { oob: false };
    },
  };
}

describe('a transport that is not a socket', () => {
  test('a child process speaking QMP on stdio: greeting, negotiation, commands, and its death', async () => {
    const client = new QmpClient();
    clients.push(client);
    const { opener, pid } = stdioOpener();
    await client.connect(opener);
    assert.equal(client.state, 'running');
    assert.equal(client.version?.major, 7);
    assert.equal(client.oobEnabled, true);
    assert.deepEqual(await client.execute('query-status'), { status: 'running' });
    const results = await Promise.all(Array.from({ length: 20 }, () => client.execute('query-status')));
    assert.equal(results.length, 20);
    let lost: Error | undefined;
    client.onDisconnect((e) => { lost = e; });
    const pending = client.execute('die', undefined, { timeoutMs: 60_000 });
    // DisconnectedError, not CommandTimeoutError: the process's death ended the command, not its 60 s bound.
    await assert.rejects(pending, DisconnectedError);
    assert.ok(lost instanceof DisconnectedError);
    assert.equal(client.state, 'idle');
    assert.ok(pid() !== undefined);
  });

  test('disconnect() kills the process and closes the channel', async () => {
    const client = new QmpClient();
    clients.push(client);
    const { opener } = stdioOpener();
    await client.connect(opener);
    await client.disconnect();
    assert.equal(client.state, 'idle');
  });

  test('a message-based passthrough (libvirt-like): no handshake, one reply per command, ids restored by the channel', async () => {
    const channel = new PassthroughChannel((cmd) => {
      if (cmd['execute'] === 'slow') return { delayMs: 80, reply: '{"return":"slow"}' };
      if (cmd['execute'] === 'bad') return { delayMs: 1, reply: '{"error":{"class":"CommandNotFound","desc":"no bad"}}' };
      return { delayMs: 5, reply: '{"return":{"status":"paused"}}' };
    });
    const client = new QmpClient({ dialect: passthroughDialect });
    clients.push(client);
    await client.connect(() => Promise.resolve(channel));
    assert.equal(client.state, 'running');
    assert.equal(client.greeting, undefined);
    const slow = client.execute('slow');
    const fast = client.execute('query-status');
    assert.deepEqual(await fast, { status: 'paused' });
    assert.equal(await slow, 'slow');
    await assert.rejects(client.execute('bad'), (e: unknown) => e instanceof ExecuteError && e.errorClass === 'CommandNotFound');
    assert.ok(channel.seen.every((t) => !t.includes('"id"')), 'the id never reaches the passthrough');
    const pending = client.execute('slow');
    channel.die();
    await assert.rejects(pending, DisconnectedError);
    assert.equal(client.state, 'idle');
  });
});

describe('dialect properties instead of subclasses', () => {
  test('a dialect that says OOB can never run makes the plain client refuse every exec-oob with its reason, sending nothing', async () => {
    const channel = new PassthroughChannel(() => ({ delayMs: 1, reply: '{"return":{}}' }));
    const client = new QmpClient({ dialect: { ...passthroughDialect, name: 'no-oob', oobNever: 'this endpoint never runs OOB', greeting: false } });
    clients.push(client);
    await client.connect(() => Promise.resolve(channel));
    await assert.rejects(client.send({ 'exec-oob': 'x-oob' }), (e: unknown) => e instanceof OobRefusedError && /this endpoint never runs OOB/.test(e.message));
    await assert.rejects(client.send({ execute: 'x-oob', control: { 'run-oob': true } }), OobRefusedError);
    assert.deepEqual(channel.seen, [], 'nothing was sent');
    assert.deepEqual(await client.execute('in-band'), {});
  });

  test('the guest agent and libvirt clients take their refusal from their dialect (no send() override for OOB)', () => {
    assert.equal(realGuestAgentDialect().oobNever, GUEST_AGENT_NO_OOB);
    assert.equal(realGuestAgentDialect().greeting, false);
    assert.equal(Object.prototype.hasOwnProperty.call(LibvirtClient.prototype, 'send'), false);
  });
});

describe('a dialect without greeting: the guest agent', () => {
  test('resyncs past stale bytes with guest-sync-delimited and the 0xFF sentinel, then runs commands', async () => {
    const server = await startFakeServer();
    servers.push(server);
    const client = new QmpClient({ dialect: guestAgentDialect(4242) });
    clients.push(client);
    const connecting = client.connect(socketChannelOpener(server.address, { guestAgent: true }));
    const conn = await server.accept();
    // A previous client left a half-written reply and a whole stale one in the channel.
    conn.write('{"return": {"stale": [1, 2');
    const sync = await conn.next();
    assert.equal(sync.value['execute'], 'guest-sync-delimited');
    assert.deepEqual(sync.value['arguments'], { id: 4242 });
    conn.write(Buffer.from([0xff]));
    conn.write('{"return": 17}\n{"return": 4242}\n');
    await connecting;
    assert.equal(client.state, 'running');
    assert.equal(client.greeting, undefined);
    const info = client.execute('guest-info');
    const cmd = await conn.next();
    conn.write(`{"return": {"version": "7.2.22"}, "id": ${cmd.idText}}\n`);
    assert.deepEqual(await info, { version: '7.2.22' });
  });

  test('an agent that never answers the sync fails at the negotiation bound', async (t) => {
    const clock = freezeTimers(t);
    const server = await startFakeServer();
    servers.push(server);
    const client = new QmpClient({ dialect: guestAgentDialect(1), negotiationTimeoutMs: 300 });
    clients.push(client);
    const connecting = client.connect(server.address);
    await (await server.accept()).next();
    await turns();
    clock.tick(299);
    assert.equal(await hasSettled(connecting), false, 'still waiting 1 ms before the bound');
    clock.tick(1);
    await assert.rejects(connecting, NegotiationTimeoutError);
    assert.equal(client.state, 'idle');
  });
});
