// The guest agent through the client core: Debian's qemu-ga runs on the host, started by the test with
// every command that could change anything blocked (test/support/daemons.ts), and restarted when it exits.
// A fake agent (a plain socket server with its own framing) shows the resynchronisation over stale input.
import { describe, test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import { mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CommandTimeoutError, ConnectError, OobRefusedError } from '../../src/qmp/errors';
import { DISABLED_FEATURE, Schema, isDisabledCommand } from '../../src/qmp/schema';
import { diagnose } from '../../src/language/diagnostics';
import { GuestAgentClient, GuestAgentCommandDisabledError, guestAgentSchemaInfos } from '../../src/endpoints/guestAgent';
import { runCli, startGuestAgent, type TestGuestAgent } from '../support/daemons';
import { freezeTimers, runClock } from '../support/clock';

let agent: TestGuestAgent;
const clients: GuestAgentClient[] = [];
before(async () => { agent = await startGuestAgent(); });
after(async () => {
  for (const c of clients) await c.disconnect();
  await agent.stop();
});
afterEach(async () => {
  for (const c of clients.splice(0)) await c.disconnect();
  // qemu-ga 7.2 exits when a client leaves a reply unread; a test that provokes it must not break the next.
  if (!agent.alive()) await agent.restart();
});

async function connect(options: ConstructorParameters<typeof GuestAgentClient>[0] = {}): Promise<GuestAgentClient> {
  const client = new GuestAgentClient(options);
  clients.push(client);
  await client.connect({ kind: 'unix', path: agent.socketPath });
  return client;
}

describe('qemu-ga on the host', () => {
  test('connects without greeting: resynchronises, then guest-info lists its commands, the blocked ones disabled', async () => {
    const traces: string[] = [];
    const client = await connect({ trace: (d, t) => traces.push(`${d} ${t}`) });
    assert.equal(client.state, 'running');
    assert.equal(client.oobEnabled, false);
    assert.match(traces[0] ?? '', /^-> \{"execute":"guest-sync-delimited","arguments":\{"id":\d+\}\}$/);
    const info = await client.guestInfo();
    assert.match(info.version, /^\d+\.\d+/);
    const byName = new Map(info.commands.map((c) => [c.name, c]));
    for (const name of agent.blocked) assert.equal(byName.get(name)?.enabled, false, `${name} is blocked`);
    assert.equal(byName.get('guest-ping')?.enabled, true);
    assert.ok(agent.blocked.includes('guest-shutdown') && agent.blocked.includes('guest-exec'));
    assert.deepEqual(await client.execute("guest-ping"), {});
    // The client read guest-info at connect: a blocked command is refused before it is sent, with the reason.
    assert.deepEqual([...client.disabledCommands ?? []].sort(), [...agent.blocked].sort());
    await assert.rejects(client.send({ execute: 'guest-shutdown' }), (err: unknown) => {
      assert.ok(err instanceof GuestAgentCommandDisabledError, String(err));
      assert.match(err.message, /guest-shutdown is disabled in this guest agent/);
      return true;
    });
    assert.ok(!traces.some((t) => t.startsWith('->') && t.includes('guest-shutdown')), 'guest-shutdown was never sent');
    await client.resync();
  });

  test('an exec-oob command fails before sending, with the reason', async () => {
    const traces: string[] = [];
    const client = await connect({ trace: (d, t) => traces.push(`${d} ${t}`) });
    await assert.rejects(client.send({ 'exec-oob': 'guest-ping' }), (err: unknown) => {
      assert.ok(err instanceof OobRefusedError);
      assert.match(err.message, /guest-ping cannot run out-of-band: the guest agent has no out-of-band execution/);
      return true;
    });
    assert.ok(!traces.some((t) => t.includes('exec-oob')));
  });

  test('disconnecting with a reply unread drains it first, so qemu-ga 7.2 stays alive', async () => {
    const client = await connect();
    const pending = client.send({ execute: 'guest-info' }).catch(() => undefined);
    await client.disconnect();
    await pending;
    await new Promise((r) => setTimeout(r, 300));
    assert.ok(agent.alive(), `qemu-ga is still running: ${agent.log()}`);
    const again = await connect();
    assert.equal(again.state, 'running');
  });

  test('a second client waits silently; its connect times out at its bound with a message that says why', async (t) => {
    await connect();
    // qemu-ga sends the second client nothing, so its bound runs on a frozen clock and is exact.
    const clock = freezeTimers(t);
    const second = new GuestAgentClient({ greetingTimeoutMs: 1500 });
    clients.push(second);
    const { fakeMs, result } = await runClock(clock, second.connect({ kind: 'unix', path: agent.socketPath }));
    const err = result.status === 'rejected' ? result.reason as Error : undefined;
    assert.ok(err instanceof ConnectError, String(err));
    assert.match(err.message, /serves one client at a time, so another client probably holds it/);
    assert.ok(fakeMs >= 1500 && fakeMs <= 1520, `ended after ${fakeMs} ms of fake time, the bound is 1500 ms`);
    t.mock.timers.reset();
    assert.equal(second.state, 'idle');
  });

  test('its command list becomes a schema: enabled commands take any arguments, disabled ones say so', async () => {
    const client = await connect();
    const schema = Schema.fromIntrospection(guestAgentSchemaInfos((await client.guestInfo()).commands));
    const names = schema.commands().filter((c) => !isDisabledCommand(c)).map((c) => c.name);
    for (const n of ['guest-ping', 'guest-info', 'guest-sync-delimited']) assert.ok(names.includes(n), n);
    assert.ok(!names.includes('guest-shutdown'));
    for (const n of agent.blocked) assert.ok(isDisabledCommand(schema.command(n) as NonNullable<ReturnType<Schema['command']>>), n);
    const errors = (text: string): string[] => diagnose(text, schema).filter((d) => d.severity === 'error').map((d) => d.code);
    assert.deepEqual(errors('{"execute": "guest-sync-delimited", "arguments": {"id": 5}}'), []);
    assert.deepEqual(errors('{"execute": "guest-shutdown"}'), ['command-disabled']);
    assert.deepEqual(errors('{"execute": "guest-no-such"}'), ['unknown-command']);
  });
});

describe('resynchronisation over stale input (a fake agent)', () => {
  let dir = '';
  before(() => { dir = mkdtempSync(path.join(tmpdir(), 'qmp-fakega-')); chmodSync(dir, 0o700); });
  after(() => { rmSync(dir, { recursive: true, force: true }); });

  test('stale replies and a torn object before the 0xFF sentinel are skipped; the matching id ends the sync', async () => {
    const sock = path.join(dir, 'fake.sock');
    let syncs = 0;
    const server = net.createServer((c) => {
      let buf = '';
      c.on('data', (d) => {
        buf += d.toString('latin1');
        const m = /"guest-sync-delimited","arguments":\{"id":(\d+)\}(?:,"id":("[^"]*"))?/.exec(buf);
        if (m) {
          buf = '';
          syncs++;
          // On connect: an earlier client's replies, a torn object, the sentinel, a wrong id and the right one.
          // Later (after a timeout): the sentinel and the reply, with the session's id.
          const stale = syncs === 1 ? '{"return": {}}\n{"return": 7}\n{"retu' : '';
          c.write(Buffer.concat([Buffer.from(stale), Buffer.from([0xff]),
            Buffer.from(`${syncs === 1 ? '{"return": 1}\n' : ''}{"return": ${m[1]}${m[2] ? `, "id": ${m[2]}` : ''}}\n`)]));
        } else if (buf.includes('guest-never')) {
          buf = ''; // never answered: the client times out and resynchronises
        } else if (buf.includes('guest-info')) {
          const id = /"id":("[^"]*")/.exec(buf)?.[1];
          buf = '';
          c.write(`{"return": {"version": "fake", "supported_commands": [{"name": "guest-ping", "enabled": true}]}, "id": ${id}}\n`);
        } else if (buf.includes('guest-ping')) {
          const id = /"id":("[^"]*")/.exec(buf)?.[1];
          buf = '';
          c.write(`{"return": {}, "id": ${id}}\n`);
        }
      });
    });
    await new Promise<void>((r) => server.listen(sock, r));
    const client = new GuestAgentClient();
    try {
      await client.connect({ kind: 'unix', path: sock });
      assert.deepEqual(await client.execute('guest-ping', undefined, { timeoutMs: 5000 }), {});
      assert.equal(syncs, 1);
      await assert.rejects(client.execute('guest-never', undefined, { timeoutMs: 300 }), CommandTimeoutError);
      const deadline = Date.now() + 10_000;
      while (syncs < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.equal(syncs, 2, 'a timeout is followed by a new guest-sync-delimited');
      assert.deepEqual(await client.execute('guest-ping', undefined, { timeoutMs: 5000 }), {});
    } finally {
      await client.disconnect();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('qmp-notebook --guest-agent', () => {
  test('runs guest-agent cells; a disabled command is refused before sending, with the reason', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-fam-'));
    try {
      const file = path.join(dir, 'ga.qmp');
      writeFileSync(file, '```qmp\n{"execute": "guest-ping"}\n{"execute": "guest-get-time"}\n```\n\n```qmp\n{"execute": "guest-shutdown"}\n```\n');
      const r = await runCli(['run', file, '--guest-agent', agent.socketPath, '--json']);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      // --json prints one transcript record per line: the replies carry the command they answer.
      const records = r.stdout.trim().split('\n')
        .map((l) => JSON.parse(l) as { type: string; command?: string; kind?: string; message?: string; reply?: { return?: unknown } });
      const replies = records.filter((rec) => rec.type === 'reply');
      assert.deepEqual(replies.map((l) => l.command), ['guest-ping', 'guest-get-time']);
      assert.equal(typeof replies[1]?.reply?.return, 'number');
      const failure = records.find((rec) => rec.type === 'failure');
      assert.equal(failure?.command, 'guest-shutdown');
      assert.equal(failure?.kind, 'not-sent-because-invalid');
      assert.match(failure?.message ?? '', /^guest-shutdown is disabled in this guest agent: .*blocked by the agent's configuration.*Nothing was sent\.$/);
      assert.ok(!records.some((rec) => rec.type === 'written' && rec.command === 'guest-shutdown'), 'never written');
      await new Promise((r2) => setTimeout(r2, 300));
      assert.ok(agent.alive(), 'the CLI drained before closing');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('check --guest-agent flags a command the agent does not offer, and one it disabled', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-fam-'));
    try {
      const file = path.join(dir, 'ga.qmp');
      writeFileSync(file, '```qmp\n{"execute": "guest-ping"}\n{"execute": "query-status"}\n{"execute": "guest-shutdown"}\n```\n');
      const r = await runCli(['check', file, '--guest-agent', agent.socketPath]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout, /query-status/);
      assert.match(r.stdout, /The command guest-shutdown is disabled in this guest agent/);
      assert.doesNotMatch(r.stdout, /guest-ping/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('schema --guest-agent: the agent has no query-qmp-schema, so its guest-info command list is printed, with a note', async () => {
    const r = await runCli(['schema', '--guest-agent', agent.socketPath]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stderr, /the guest agent has no query-qmp-schema; this is the command list of its guest-info/);
    assert.doesNotMatch(r.stderr, /CommandNotFound/);
    const infos = JSON.parse(r.stdout) as Array<{ name: string; 'meta-type': string; features?: string[] }>;
    const ping = infos.find((i) => i.name === 'guest-ping');
    assert.equal(ping?.['meta-type'], 'command');
    assert.ok(infos.find((i) => i.name === 'guest-shutdown')?.features?.includes(DISABLED_FEATURE), 'a blocked command is marked disabled');
  });
});
