// The launcher's readiness: a launched process is ready when its monitor has answered (greeting and negotiation
// on a probe connection, retried within the launch bound), not when its socket merely accepts. qemu-storage-daemon
// 7.2 accepts connections before its monitor is set up; a client in that window now and then got the greeting
// twice, lost its first command, or was dropped (seen as `write EPIPE` on the CLI's first command). The process
// here is a tiny Node QMP server with that window made wide, so the hazard shows every time for a launcher that
// returns once the socket accepts, and never for one that waits for an answer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LaunchError, launch, type FirstConnection, type LaunchedProcess } from '../../src/endpoints/launcher';
import { QmpClient } from '../../src/qmp/client';

/**
 * A QMP server on argv[1]. For its first argv[2] ms after it listens, each client gets the greeting twice and no
 * answer (as qemu-storage-daemon's monitor before its I/O thread has it); later clients are served normally.
 * argv[3] = 'mute': never greets. argv[3] = 'exit': exits with status 3 on the first connection. argv[3] =
 * 'dropNext': every client after the first is dropped at its first command after negotiating (the window QEMU
 * now and then leaves right after a probe's close, made certain: `write EPIPE` on that command).
 */
const SERVER = `
const net = require('net');
const [path, windowArg, mode] = process.argv.slice(1);
const greeting = JSON.stringify({ QMP: { version: { qemu: { micro: 0, minor: 2, major: 7 }, package: '' }, capabilities: [] } }) + '\\r\\n';
let listeningAt = 0;
let served = 0;
net.createServer((s) => {
  s.on('error', () => {});
  if (mode === 'exit') process.exit(3);
  if (mode === 'mute') return;
  s.write(greeting);
  if (Date.now() - listeningAt < Number(windowArg)) { s.write(greeting); return; }
  const dropping = mode === 'dropNext' && served++ > 0;
  let answered = 0;
  let buf = '';
  s.on('data', (d) => {
    buf += d;
    let m; try { m = JSON.parse(buf); } catch { return; } // one command at a time; the client adds no newline
    buf = '';
    if (dropping && answered++ > 0) { s.destroy(); return; }
    s.write(JSON.stringify(m.id === undefined ? { return: {} } : { return: {}, id: m.id }) + '\\r\\n');
  });
}).listen(path, () => { listeningAt = Date.now(); });
`;

function fake(windowMs: number, mode = '', startTimeoutMs?: number, connect?: FirstConnection): Promise<LaunchedProcess> {
  return launch({
    what: 'fake-qmp', binary: process.execPath, notFound: () => new Error('no node'),
    args: (socketPath) => ['-e', SERVER, socketPath, String(windowMs), mode], dirPrefix: 'qmp-launch-test-',
    ...(startTimeoutMs !== undefined ? { startTimeoutMs } : {}),
    ...(connect ? { connect } : {}),
  });
}

/** The caller's client as the launcher's probe, each attempt bounded as the launcher asks; the attempts counted. */
function ownClient(): { client: QmpClient; connect: FirstConnection; attempts: () => number } {
  const client = new QmpClient({ greetingTimeoutMs: 5000, negotiationTimeoutMs: 5000 });
  let attempts = 0;
  return {
    client, attempts: () => attempts,
    connect: (address, boundMs) => { attempts++; return client.connect(address, { signal: AbortSignal.timeout(boundMs) }); },
  };
}

describe('launcher readiness', () => {
  test('the first client after launch is served, though the monitor mishandles every client of its first moments', async () => {
    for (let i = 0; i < 3; i++) {
      const p = await fake(400);
      const client = new QmpClient({ greetingTimeoutMs: 2000, negotiationTimeoutMs: 2000 });
      try {
        await client.connect(p.address);
        assert.deepEqual(await client.execute('query-version', undefined, { timeoutMs: 2000 }), {});
      } finally {
        await client.disconnect().catch(() => undefined);
        await p.dispose();
      }
    }
  });

  test('a client right after the probe\'s close may be dropped; the caller\'s own client as the probe is never that client', async () => {
    // The hazard, with the launcher's own probe: the caller's connection comes second and is dropped.
    const probed = await fake(0, 'dropNext');
    const second = new QmpClient({ greetingTimeoutMs: 2000, negotiationTimeoutMs: 2000 });
    try {
      await second.connect(probed.address);
      await assert.rejects(second.execute('query-version', undefined, { timeoutMs: 2000 }));
    } finally {
      await second.disconnect().catch(() => undefined);
      await probed.dispose();
    }
    // The caller's client connected by the launcher: one connection, kept, served.
    const own = ownClient();
    const p = await fake(0, 'dropNext', undefined, own.connect);
    try {
      assert.equal(own.client.state, 'running', 'connected when launch() returns');
      assert.equal(own.attempts(), 1);
      for (let i = 0; i < 3; i++) assert.deepEqual(await own.client.execute('query-version', undefined, { timeoutMs: 2000 }), {});
    } finally {
      await own.client.disconnect().catch(() => undefined);
      await p.dispose();
    }
  });

  test('the caller\'s client is tried again while the monitor mishandles its first moments, and is the one left connected', async () => {
    const own = ownClient();
    const p = await fake(400, '', undefined, own.connect);
    try {
      assert.ok(own.attempts() >= 1);
      assert.equal(own.client.state, 'running');
      assert.deepEqual(await own.client.execute('query-version', undefined, { timeoutMs: 2000 }), {});
    } finally {
      await own.client.disconnect().catch(() => undefined);
      await p.dispose();
    }
  });

  test('a monitor that never answers fails the launch within its bound, with a clear error', async () => {
    await assert.rejects(fake(0, 'mute', 1000), (err: unknown) => {
      assert.ok(err instanceof LaunchError);
      assert.match(err.message, /^fake-qmp's monitor \S+qmp\.sock did not answer within 1000 ms \(.*greeting/);
      return true;
    });
  });

  test('a process that exits before its monitor answers says how it ended', async () => {
    await assert.rejects(fake(0, 'exit'), (err: unknown) => {
      assert.ok(err instanceof LaunchError);
      assert.match(err.message, /^fake-qmp exited with status 3 before its monitor answered/);
      return true;
    });
  });
});
