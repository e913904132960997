// Fault tier: framing that must not lose its place. A fake guest agent that left the tail of an earlier
// reply in the socket (bytes that do not start an object) before the 0xFF sentinel, one that answers the
// sync without the sentinel, and a fake QMP server whose reply holds invalid UTF-8 (0xFF included).
import { describe, test, after } from 'node:test';
import assert from 'node:assert/strict';
import { GuestAgentClient } from '../../src/endpoints/guestAgent';
import { QmpClient } from '../../src/qmp/client';
import { ConnectError } from '../../src/qmp/errors';
import { startNaiveServer, type NaivePeer, type NaiveServer } from '../support/naiveServer';
import { freezeTimers, runClock } from '../support/clock';

const servers: NaiveServer[] = [];
const clients: QmpClient[] = [];
after(async () => {
  for (const c of clients) await c.disconnect();
  for (const s of servers) await s.close();
});

async function server(): Promise<NaiveServer> {
  const s = await startNaiveServer('unix');
  servers.push(s);
  return s;
}

/** Answers every command like qemu-ga: the sync with 0xFF (when `sentinel`), guest-info, guest-ping. */
async function agent(peer: NaivePeer, sentinel: boolean): Promise<void> {
  for (;;) {
    let cmd;
    try { cmd = await peer.next(20_000); } catch { return; }
    const name = cmd.value['execute'];
    const id = cmd.id === 'null' ? '' : `, "id": ${cmd.id}`;
    if (name === 'guest-sync-delimited') {
      const syncId = (cmd.value['arguments'] as { id: number }).id;
      await peer.write(Buffer.concat([Buffer.from(sentinel ? [0xff] : []), Buffer.from(`{"return": ${syncId}}\n`)]));
    } else if (name === 'guest-info') {
      await peer.write(`{"return": {"version": "7.2.22", "supported_commands": [{"enabled": true, "name": "guest-ping", "success-response": true}]}${id}}\n`);
    } else {
      await peer.write(`{"return": {}${id}}\n`);
    }
  }
}

describe('the guest agent resynchronises past anything before 0xFF', () => {
  for (const stale of ['s": "x"}}\r\n', 'ue}, {"a": 1}]}\n{"return": 17}\n', 'garbage \u0001\u0002 without end', '}}}]]]"\\']) {
    test(`stale bytes ${JSON.stringify(stale.slice(0, 16))} before the sentinel: the session starts and runs commands`, async () => {
      const s = await server();
      const client = new GuestAgentClient({ greetingTimeoutMs: 5000 });
      clients.push(client);
      const connecting = client.connect(s.address);
      const peer = await s.accept();
      // What an earlier client left unread comes first, as the agent flushes it.
      await peer.write(stale);
      void agent(peer, true);
      await connecting;
      assert.deepEqual(await client.execute('guest-ping', undefined, { timeoutMs: 5000 }), {});
      await client.disconnect();
    });
  }

  test('a sync reply without the 0xFF sentinel is not accepted: connect fails at its bound and says why', async (t) => {
    const clock = freezeTimers(t);
    const s = await server();
    const client = new GuestAgentClient({ greetingTimeoutMs: 600 });
    clients.push(client);
    const connecting = client.connect(s.address);
    const peer = await s.accept();
    void agent(peer, false);
    const { fakeMs, result } = await runClock(clock, connecting);
    assert.ok(result.status === 'rejected' && result.reason instanceof ConnectError && /0xFF/.test((result.reason as Error).message), String(result.status === 'rejected' ? result.reason : 'connected'));
    assert.ok(fakeMs >= 600 && fakeMs <= 620, `ended after ${fakeMs} ms of fake time, the bound is 600 ms`);
  });
});

describe('QMP framing with invalid UTF-8 inside a string', () => {
  test('a reply holding 0xFF and broken sequences is one message, and the session keeps its place', async () => {
    const s = await server();
    const client = new QmpClient();
    clients.push(client);
    const connecting = client.connect(s.address);
    const peer = await s.accept();
    await peer.handshake();
    await connecting;
    for (const bad of [[0xff], [0xff, 0xfe], [0xc3], [0x80, 0x80], [0xe2, 0x82], [0xf0, 0x9f, 0xff]]) {
      const reply = client.execute('query-name', undefined, { timeoutMs: 5000 });
      const cmd = await peer.next();
      // Split in the middle of the string, right after the bad bytes, as a socket may.
      const head = Buffer.concat([Buffer.from('{"return": {"name": "a'), Buffer.from(bad)]);
      await peer.write(head);
      await new Promise((r) => setTimeout(r, 10));
      await peer.write(`b"}, "id": ${cmd.id}}\r\n`);
      const value = await reply as { name: string };
      assert.equal(value.name, Buffer.concat([Buffer.from('a'), Buffer.from(bad), Buffer.from('b')]).toString('utf8'));
      // The next command still gets its own reply.
      const next = client.execute('query-status', undefined, { timeoutMs: 5000 });
      const c2 = await peer.next();
      await peer.write(`{"return": {"status": "running"}, "id": ${c2.id}}\r\n`);
      assert.deepEqual(await next, { status: 'running' });
    }
    assert.equal(client.state, 'running');
  });
});
