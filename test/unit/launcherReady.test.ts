// The launcher's readiness: a launched process is ready when its monitor has answered (greeting and negotiation
// on a probe connection, retried within the launch bound), not when its socket merely accepts. qemu-storage-daemon
// 7.2 accepts connections before its monitor is set up; a client in that window now and then got the greeting
// twice, lost its first command, or was dropped (seen as `write EPIPE` on the CLI's first command). The process
// here is a tiny Node QMP server with that window made wide, so the hazard shows every time for a launcher that
// returns once the socket accepts, and never for one that waits for an answer.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { LaunchError, launch, type LaunchedProcess } from '../../src/endpoints/launcher';
import { QmpClient } from '../../src/qmp/client';

/**
 * A QMP server on argv[1]. For its first argv[2] ms after it listens, each client gets the greeting twice and no
 * answer (as qemu-storage-daemon's monitor before its I/O thread has it); later clients are served normally.
 * argv[3] = 'mute': never greets. argv[3] = 'exit': exits with status 3 on the first connection.
 */
const SERVER = `
const net = require('net');
const [path, windowArg, mode] = process.argv.slice(1);
const greeting = JSON.stringify({ QMP: { version: { qemu: { micro: 0, minor: 2, major: 7 }, package: '' }, capabilities: [] } }) + '\\r\\n';
let listeningAt = 0;
net.createServer((s) => {
  s.on('error', () => {});
  if (mode === 'exit') process.exit(3);
  if (mode === 'mute') return;
  s.write(greeting);
  if (Date.now() - listeningAt < Number(windowArg)) { s.write(greeting); return; }
  let buf = '';
  s.on('data', (d) => {
    buf += d;
    let m; try { m = JSON.parse(buf); } catch { return; } // one command at a time; the client adds no newline
    buf = '';
    s.write(JSON.stringify(m.id === undefined ? { return: {} } : { return: {}, id: m.id }) + '\\r\\n');
  });
}).listen(path, () => { listeningAt = Date.now(); });
`;

function fake(windowMs: number, mode = '', startTimeoutMs?: number): Promise<LaunchedProcess> {
  return launch({
    what: 'fake-qmp', binary: process.execPath, notFound: () => new Error('no node'),
    args: (socketPath) => ['-e', SERVER, socketPath, String(windowMs), mode], dirPrefix: 'qmp-launch-test-',
    ...(startTimeoutMs !== undefined ? { startTimeoutMs } : {}),
  });
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
