// The qmp-notebook CLI against real QEMU, through the bundled bin (spawned as a user would run it).
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QmpClient } from '../../src/qmp/index';
import { startQemu, testQemuVersion, type TestQemu } from '../support/qemu';
import { buildCli, cliBundle, runCliBundle, type CliResult } from '../support/cliBundle';

const root = path.resolve(__dirname, '..', '..', '..');
/** The CLI bundled exactly like scripts/build.mjs does, into out/ so the test does not race a dist build. */
const bundle = cliBundle;


/** Spawns the CLI; `onLine` sees each stdout line as it comes; killed if not exited after `deadlineMs`. */
function runCli(args: string[], onLine?: (line: string) => void, deadlineMs = 60_000): Promise<CliResult> {
  return runCliBundle(bundle, args, { deadlineMs, ...(onLine ? { onLine } : {}) });
}

function jsonLines(stdout: string): Array<Record<string, unknown>> {
  return stdout.split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

/** The transcript records of one type from `run --json`. */
function records(stdout: string, type: string): Array<Record<string, unknown>> {
  return jsonLines(stdout).filter((o) => o['type'] === type);
}

let dir: string;

/** Writes a notebook file with these code cells (each a `qmp` cell unless given as [language, source]). */
function notebook(name: string, cells: Array<string | [string, string]>, profile?: string): string {
  const blocks: string[] = [];
  if (profile !== undefined) blocks.push(`---\nprofile: ${profile}\n---`);
  blocks.push(`# ${name}`);
  for (const c of cells) {
    const [language, source] = typeof c === 'string' ? ['qmp', c] : c;
    blocks.push('```' + language + '\n' + source + '\n```');
  }
  const file = path.join(dir, `${name}.qmp`);
  writeFileSync(file, blocks.join('\n\n') + '\n', { mode: 0o600 });
  return file;
}

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-cli-test-'));
  chmodSync(dir, 0o700);
  await buildCli();
});

after(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('qmp-notebook run (machine none)', () => {
  let qemu: TestQemu;
  before(async () => { qemu = await startQemu(); });
  after(async () => { await qemu.stop(); });

  test('replies are matched to their ids, one JSON record per reply', async () => {
    const file = notebook('ids', [
      '{"execute": "query-status", "id": "first"}\n-> {"execute": "query-version", "id": 7}',
      '{"execute": "query-name", "id": {"nested": [1, 2]}}',
    ]);
    const r = await runCli(['run', file, '--socket', qemu.socketPath, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const out = records(r.stdout, 'reply');
    assert.deepEqual(out.map((o) => [o['cell'], o['command'], o['id']]), [
      [2, 'query-status', 'first'], [2, 'query-version', 7], [3, 'query-name', { nested: [1, 2] }],
    ]);
    for (const o of out) {
      const reply = o['reply'] as Record<string, unknown>;
      assert.deepEqual(reply['id'], o['id'], 'the reply carries the id of its own command');
      assert.ok('return' in reply);
      assert.equal(typeof o['ms'], 'number');
    }
    const { major, minor, micro } = testQemuVersion();
    assert.deepEqual(((out[1]?.['reply'] as { return: { qemu: unknown } }).return.qemu), { major, minor, micro });
  });

  test('qmp-shell and hmp cells run too (qmp-shell values typed by the live schema)', async () => {
    const file = notebook('shell', [['qmp-shell', 'qom-get path=/machine property=type'], ['hmp', 'info version']]);
    const r = await runCli(['run', file, '--socket', qemu.socketPath, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [qom, hmp] = records(r.stdout, 'reply');
    assert.equal(qom?.['command'], 'qom-get');
    assert.equal((qom?.['reply'] as { return: string }).return, 'none-machine');
    assert.equal(hmp?.['command'], 'human-monitor-command');
    assert.ok((hmp?.['reply'] as { return: string }).return.startsWith(`${testQemuVersion().text}`), JSON.stringify(hmp));
  });

  test('text output shows each command and reply in -> / <- notation', async () => {
    const file = notebook('text', ['{"execute": "query-status"}']);
    const r = await runCli(['run', file, '--socket', qemu.socketPath]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0] ?? '', /^\/\/ cell 2 \(line 4\)$/);
    assert.match(lines[1] ?? '', /^-> \{"execute":"query-status","id":/);
    assert.match(lines[2] ?? '', /^<- \{"return": \{.*"status": "prelaunch"/);
  });

  test('events are given to the command that was waiting for its reply and printed as <- lines', async () => {
    const file = notebook('events', ['{"execute": "cont"}\n{"execute": "stop"}']);
    const r = await runCli(['run', file, '--socket', qemu.socketPath, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const events = records(r.stdout, 'event').map((o) => [o['cell'], o['step'], (o['event'] as { event: string }).event]);
    assert.deepEqual(events, [[2, 0, 'RESUME'], [2, 1, 'STOP']]);

    const t = await runCli(['run', file, '--socket', qemu.socketPath]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /^<- \{"timestamp": .*"event": "RESUME"/m);
    assert.match(t.stdout, /^<- \{"timestamp": .*"event": "STOP"/m);
  });

  test('an event wait succeeds on an event that came before the reply, and times out with exit 1', async () => {
    const ok = notebook('wait-ok', ['{"execute": "cont"}\n{"wait-event": "RESUME", "timeout": 5000}\n{"execute": "stop"}\n{"wait-event": "STOP"}']);
    const r = await runCli(['run', ok, '--socket', qemu.socketPath, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const waits = records(r.stdout, 'wait-satisfied');
    assert.deepEqual(waits.map((w) => [w['wait-event'], (w['event'] as { event: string }).event]), [['RESUME', 'RESUME'], ['STOP', 'STOP']]);

    // The wait rule: each wait looks at every event since its cell started, and uses each event once.
    // (QEMU sends STOP only for a running machine: the first cell sets it running.)
    const both = notebook('wait-both', ['{"execute": "cont"}', '{"execute": "stop"}\n{"execute": "cont"}\n{"wait-event": "RESUME", "timeout": 5000}\n{"wait-event": "STOP", "timeout": 5000}']);
    const b = await runCli(['run', both, '--socket', qemu.socketPath, '--json']);
    assert.equal(b.code, 0, b.stderr);
    assert.deepEqual(records(b.stdout, 'wait-satisfied').map((w) => w['wait-event']), ['RESUME', 'STOP']);
    const twice = notebook('wait-twice', ['{"execute": "stop"}\n{"execute": "cont"}\n{"wait-event": "RESUME", "timeout": 3000}\n{"wait-event": "RESUME", "timeout": 300}']);
    const t2 = await runCli(['run', twice, '--socket', qemu.socketPath, '--json']);
    assert.equal(t2.code, 1, 'one RESUME cannot satisfy two waits');
    assert.equal(records(t2.stdout, 'wait-timed-out').length, 1);
    await runCli(['run', notebook('stop-again', ['{"execute": "stop"}']), '--socket', qemu.socketPath]);

    const late = notebook('wait-timeout', [
      '{"execute": "query-status"}\n{"wait-event": "RESET", "timeout": 300}',
      '{"execute": "cont"}',
    ]);
    const t = await runCli(['run', late, '--socket', qemu.socketPath, '--json']);
    assert.equal(t.code, 1);
    assert.match(t.stderr, /no RESET within 300 ms/);
    const out = jsonLines(t.stdout);
    assert.equal(out.some((o) => o['command'] === 'cont'), false, 'the cell after the failing one is not run');
    assert.equal(records(t.stdout, 'wait-timed-out')[0]?.['event'], 'RESET');
    assert.deepEqual(records(t.stdout, 'cell-finished').map((o) => o['outcome']), ['failed', 'skipped']);
  });

  test('a QEMU error stops the run with exit 1', async () => {
    const file = notebook('qemu-error', ['{"execute": "device_del", "arguments": {"id": "nope"}}', '{"execute": "cont"}']);
    const r = await runCli(['run', file, '--socket', qemu.socketPath, '--json']);
    assert.equal(r.code, 1);
    const out = records(r.stdout, 'reply');
    assert.equal(out.length, 1);
    assert.equal((out[0]?.['reply'] as { error: { class: string } }).error.class, 'DeviceNotFound');
    assert.equal(records(r.stdout, 'failure')[0]?.['kind'], 'qemu-error');
    assert.match(r.stderr, /cell 2 \(line 4\): device_del: DeviceNotFound/);
  });

  test('a malformed cell is reported with its position and nothing is sent', async () => {
    const client = new QmpClient();
    const status = async (): Promise<{ status: string; running: boolean }> => {
      await client.connect({ kind: 'unix', path: qemu.socketPath });
      try {
        return (await client.execute('query-status')) as { status: string; running: boolean };
      } finally {
        await client.disconnect();
      }
    };
    const before = await status();
    assert.equal(before.running, false);
    const file = notebook('malformed', ['{"execute": "cont"}', '{"execute": "stop"}\n{"execute": "stop", "arguments": {]}']);
    const r = await runCli(['run', file, '--socket', qemu.socketPath, '--json']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nothing was sent/);
    const problems = jsonLines(r.stdout);
    assert.ok(problems.length >= 1);
    assert.ok(problems.every((p) => p['line'] === 9 && p['severity'] === 'error' && !('command' in p)), r.stdout);
    // Had anything gone out, `cont` would have set the machine running.
    assert.deepEqual(await status(), before);
  });

  test('connection and usage errors exit 2', async () => {
    const file = notebook('plain', ['{"execute": "query-status"}']);
    const noSocket = await runCli(['run', file, '--socket', path.join(dir, 'missing.sock')]);
    assert.equal(noSocket.code, 2);
    assert.match(noSocket.stderr, /cannot connect to .*missing\.sock/);
    const noQemu = await runCli(['run', file, '--sandbox', '--qemu', path.join(dir, 'no-such-qemu')]);
    assert.equal(noQemu.code, 2);
    assert.match(noQemu.stderr, /no-such-qemu was not found; install QEMU or give --qemu BINARY/);
    const usage = await runCli(['run', file, '--timeout', 'soon']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--timeout expects a positive number/);
    const missing = await runCli(['run', path.join(dir, 'nope.qmp'), '--socket', qemu.socketPath]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read .*nope\.qmp/);
    const profile = notebook('profile', ['{"execute": "query-status"}'], 'production-vm');
    const unresolved = await runCli(['run', profile]);
    assert.equal(unresolved.code, 2);
    assert.match(unresolved.stderr, /profile 'production-vm'.*--socket/);
  });

  test('schema prints the server\'s query-qmp-schema', async () => {
    const r = await runCli(['schema', '--socket', qemu.socketPath]);
    assert.equal(r.code, 0, r.stderr);
    const infos = JSON.parse(r.stdout) as Array<{ name: string; 'meta-type': string }>;
    assert.ok(infos.some((i) => i.name === 'query-status' && i['meta-type'] === 'command'));
    assert.ok(infos.some((i) => i.name === 'STOP' && i['meta-type'] === 'event'));
  });
});

describe('qmp-notebook run: QEMU goes away', () => {
  test('killing QEMU in the middle of a wait fails the run at once with exit 2', async () => {
    const qemu = await startQemu();
    try {
      const file = notebook('killed', ['{"execute": "query-status"}\n{"wait-event": "SHUTDOWN", "timeout": 60000}', '{"execute": "cont"}']);
      let killed = false;
      const r = await runCli(['run', file, '--socket', qemu.socketPath], (line) => {
        if (!killed && line.startsWith('<- {"return"')) { killed = true; qemu.process.kill('SIGKILL'); }
      });
      assert.equal(killed, true);
      assert.equal(r.code, 2);
      assert.match(r.stderr, /QEMU went away during cell 2 \(line 4\) while waiting for SHUTDOWN/);
      // The wait ended with the connection, not at its 60 s timeout (which would say the event did not arrive).
      assert.doesNotMatch(r.stdout + r.stderr, /did not arrive|timed out/);
    } finally {
      await qemu.stop();
    }
  });
});

describe('qmp-notebook run: out-of-band', () => {
  test('an OOB cell overtakes an in-band cell that QEMU is blocked in', async () => {
    const qemu = await startQemu({ machine: ['-M', 'q35', '-m', '128M', '-accel', 'tcg'] });
    try {
      const fifo = path.join(qemu.dir, 'dump.fifo');
      const mk = spawnSync('mkfifo', ['-m', '600', fifo]);
      assert.equal(mk.status, 0, String(mk.stderr));
      const file = notebook('oob', [
        `{"execute": "dump-guest-memory", "arguments": {"paging": false, "protocol": "file:${fifo}"}, "id": "dump"}`,
        '{"exec-oob": "query-yank", "id": "yank"}',
        '{"execute": "query-status", "id": "after"}',
      ]);
      const order: string[] = [];
      let drained: Promise<number> | undefined;
      const r = await runCli(['run', file, '--socket', qemu.socketPath, '--json'], (line) => {
        const o = JSON.parse(line) as { id: string; type: string };
        if (o.type === 'reply') order.push(o.id);
        // The output is in cell order, so the OOB reply is printed after the dump's: the FIFO is read a while
        // after the dump went out, and the records' times show which reply came first.
        if (o.type === 'written' && o.id === 'dump' && !drained) {
          drained = new Promise((resolve, reject) => setTimeout(() => {
            let bytes = 0;
            createReadStream(fifo).on('data', (d) => { bytes += d.length; }).on('end', () => resolve(bytes)).on('error', reject);
          }, 1000));
        }
      });
      assert.equal(r.code, 0, r.stderr);
      // Printed in cell order, the OOB reply held until the cell above ended; its arrival time tells.
      assert.deepEqual(order, ['dump', 'yank', 'after']);
      const at = Object.fromEntries(records(r.stdout, 'reply').map((o) => [o['id'], o['at'] as number]));
      assert.ok((at['yank'] ?? Infinity) < (at['dump'] ?? 0), 'the OOB reply came while the dump was blocked');
      assert.ok(((await drained) ?? 0) > 128 * 1024 * 1024, 'the dump went through the FIFO');
      const yank = records(r.stdout, 'reply').find((o) => o['id'] === 'yank');
      assert.ok(Array.isArray((yank?.['reply'] as { return: unknown }).return));
    } finally {
      await qemu.stop();
    }
  });
});

describe('qmp-notebook run: an OOB cell does not overtake a cell that was not sent', () => {
  test('an OOB yank of the chardev the in-band cell just above creates succeeds (5 runs)', async () => {
    const qemu = await startQemu();
    try {
      for (let i = 0; i < 5; i++) {
        const sock = path.join(qemu.dir, `yank${i}.sock`);
        const file = notebook(`yank-chardev-${i}`, [
          '{"execute": "query-status"}',
          `{"execute": "chardev-add", "arguments": {"id": "ch${i}", "backend": {"type": "socket", "data": {"addr": {"type": "unix", "data": {"path": "${sock}"}}, "server": true, "wait": false}}}}`,
          `{"exec-oob": "yank", "arguments": {"instances": [{"type": "chardev", "id": "ch${i}"}]}}`,
        ]);
        const r = await runCli(['run', file, '--socket', qemu.socketPath, '--json']);
        assert.equal(r.code, 0, `run ${i}: ${r.stderr}`);
        const replies = records(r.stdout, 'reply');
        assert.deepEqual(replies.map((o) => [o['command'], o['ok']]), [['query-status', true], ['chardev-add', true], ['yank', true]]);
        const started = records(r.stdout, 'cell-started').map((o) => [o['cell'], o['order']]);
        assert.deepEqual(started, [[2, 1], [3, 2], [4, 3]], 'execution order follows the cells');
      }
    } finally {
      await qemu.stop();
    }
  });

  test('run refuses an exec-oob of a command without allow-oob before sending, in a notebook without qmp-shell cells', async () => {
    const qemu = await startQemu();
    try {
      const file = notebook('oob-refused', ['{"exec-oob": "query-status"}']);
      const r = await runCli(['run', file, '--socket', qemu.socketPath, '--json']);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(records(r.stdout, 'written').length, 0, 'nothing was written');
      const f = records(r.stdout, 'failure')[0];
      assert.equal(f?.['kind'], 'not-sent-because-invalid');
      assert.match(String(f?.['message']), /allow-oob/);
    } finally {
      await qemu.stop();
    }
  });
});

describe('qmp-notebook run over TCP', () => {
  test('--tcp HOST:PORT reaches a QEMU listening on TCP', async () => {
    // A port the kernel just handed out and took back is free unless another process grabs it meanwhile.
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const address = server.address() as net.AddressInfo;
        server.close(() => resolve(address.port));
      });
    });
    const qemu = await startQemu({ tcpPort: port, noUnixMonitor: true });
    try {
      const file = notebook('tcp', ['{"execute": "query-status", "id": "over-tcp"}']);
      let r = await runCli(['run', file, '--tcp', `127.0.0.1:${port}`, '--json']);
      // QEMU may not be listening yet: it is started without a socket file to wait for.
      for (let i = 0; i < 50 && r.code === 2; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        r = await runCli(['run', file, '--tcp', `127.0.0.1:${port}`, '--json']);
      }
      assert.equal(r.code, 0, r.stderr);
      assert.equal(records(r.stdout, 'reply')[0]?.['id'], 'over-tcp');
    } finally {
      await qemu.stop();
    }
  });
});

describe('qmp-notebook run: default sandbox', () => {
  test('a notebook with profile sandbox (or none) runs on a fresh sandbox QEMU', async () => {
    const file = notebook('sandbox', ['{"execute": "query-status"}'], 'sandbox');
    const r = await runCli(['run', file, '--json']);
    assert.equal(r.code, 0, r.stderr);
    const [o] = records(r.stdout, 'reply');
    assert.equal((o?.['reply'] as { return: { status: string } }).return.status, 'prelaunch');
  });
});

describe('qmp-notebook bin', () => {
  test('scripts/build.mjs produces dist/cli.js, which answers --version and --help', () => {
    const build = spawnSync(process.execPath, [path.join(root, 'scripts', 'build.mjs')], { cwd: root, encoding: 'utf8' });
    assert.equal(build.status, 0, build.stderr);
    const version = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), '--version'], { encoding: 'utf8' });
    // A bundle that cannot load jsonc-parser's UMD build fails here; esbuild needs mainFields ['module', 'main'].
    assert.equal(version.status, 0, `dist/cli.js did not start: ${version.stderr.split('\n').slice(0, 6).join('\n')}`);
    assert.match(version.stdout, /^qmp-notebook \d+\.\d+\.\d+\n$/);
    const help = spawnSync(process.execPath, [path.join(root, 'dist', 'cli.js'), '--help'], { encoding: 'utf8' });
    assert.equal(help.status, 0);
    assert.match(help.stdout, /Usage:\n {2}qmp-notebook run FILE\.qmp/);
    assert.match(help.stdout, /Exit status:/);
  });
});
