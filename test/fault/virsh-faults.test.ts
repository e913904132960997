// Fault tier: a fake virsh (a script first on PATH, or given as the binary) that misbehaves: it never
// answers, it stops answering commands, libvirtd dies under it ("End of file…" then "failed to get domain"),
// its event loop exits in the middle of a wait. Every virsh process must be gone when the CLI exits, however
// it exits; each failure must say what it is, at once.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { LibvirtClient, LibvirtDomainConnectError, libvirtPermanentFailure, liveVirshProcesses } from '../../src/endpoints/libvirt';
import { DisconnectedError } from '../../src/qmp/errors';
import { buildCli, runCliBundle } from '../support/cliBundle';

// FAKE_MODE: hang (prints nothing, ever) | cmd-hang (domstate answers, commands never) | eof (after the file
// FAKE_TRIGGER exists, commands fail as when libvirtd died) | events-exit (the event loop exits once FAKE_TRIGGER
// exists). Every process appends its pid to FAKE_PIDS.
const FAKE = `#!/usr/bin/env node
const fs = require('fs');
fs.appendFileSync(process.env.FAKE_PIDS, process.pid + '\\n');
const args = process.argv.slice(2);
const mode = process.env.FAKE_MODE;
const triggered = () => fs.existsSync(process.env.FAKE_TRIGGER);
if (args.includes('qemu-monitor-event')) {
  setInterval(() => {
    if (mode === 'events-exit' && triggered()) {
      process.stderr.write('error: Disconnected from qemu:///system due to end of file\\n');
      process.exit(1);
    }
  }, 20);
  return;
}
let buf = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => {
  if (mode === 'hang') return;
  buf += d;
  let nl;
  while ((nl = buf.indexOf('\\n')) >= 0) {
    const line = buf.slice(0, nl); buf = buf.slice(nl + 1);
    if (line.startsWith('echo ')) {
      if (mode === 'cmd-hang' && buf.length === 0 && global.stuck) return;
      process.stdout.write(line.slice(5).replace(/''/g, '') + '\\n');
    } else if (line.startsWith('domstate --domain ')) process.stdout.write('running\\n\\n');
    else if (line.startsWith('qemu-monitor-command --domain ')) {
      if (mode === 'cmd-hang') { global.stuck = true; continue; }
      if (mode === 'eof' && triggered()) process.stderr.write("error: End of file while reading data: Input/output error\\nerror: failed to get domain 'vm1'\\n");
      else process.stdout.write('{"return":{},"id":"libvirt-1"}\\n');
    }
  }
});
process.stdin.on('end', () => process.exit(0));
`;

let dir = '';
let bin = '';
let cli = '';

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-virsh-faults-'));
  bin = path.join(dir, 'bin');
  rmSync(bin, { recursive: true, force: true });
  mkdirSync(bin, { mode: 0o700 });
  writeFileSync(path.join(bin, 'virsh'), FAKE);
  chmodSync(path.join(bin, 'virsh'), 0o700);
  cli = await buildCli();
});
after(() => rmSync(dir, { recursive: true, force: true }));

function env(mode: string, name: string): { env: NodeJS.ProcessEnv; pids: string; trigger: string } {
  const pids = path.join(dir, `${name}.pids`);
  const trigger = path.join(dir, `${name}.trigger`);
  writeFileSync(pids, '');
  return { env: { ...process.env, PATH: `${bin}:${process.env['PATH'] ?? ''}`, FAKE_MODE: mode, FAKE_PIDS: pids, FAKE_TRIGGER: trigger }, pids, trigger };
}

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true; } catch { return false; }
};

/** The pids the fake recorded that are still running after at most `ms` (orphans are reaped by init). */
async function survivors(pidsFile: string, ms = 5000): Promise<number[]> {
  const pids = readFileSync(pidsFile, 'utf8').split('\n').filter(Boolean).map(Number);
  const until = Date.now() + ms;
  for (;;) {
    const left = pids.filter(alive);
    if (left.length === 0 || Date.now() > until) {
      for (const p of left) process.kill(p, 'SIGKILL');
      return left;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

function notebook(name: string, body: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `# n\n\n\`\`\`qmp\n${body}\n\`\`\`\n`);
  return file;
}

describe('virsh that never answers: the CLI exits and leaves no process', () => {
  test('virsh silent from the start: exit 2 after the connect bound, no virsh left, no taint note', async () => {
    const e = env('hang', 'hang');
    const r = await runCliBundle(cli, ['run', notebook('hang.qmp', '{"execute": "query-status"}'), '--libvirt', 'vm1'], { env: e.env, deadlineMs: 60_000 });
    assert.equal(r.code, 2, r.stderr);
    assert.doesNotMatch(r.stderr, /tainted/, 'no taint note for a connection that failed');
    assert.ok(readFileSync(e.pids, 'utf8').trim() !== '', 'virsh was started');
    assert.deepEqual(await survivors(e.pids), []);
  });

  test('virsh that stops answering commands (event loop running): the run deadline ends it, every virsh is gone', async () => {
    const e = env('cmd-hang', 'cmdhang');
    const r = await runCliBundle(cli, ['run', notebook('cmdhang.qmp', '{"execute": "query-status"}'), '--libvirt', 'vm1', '--timeout', '3000'],
      { env: e.env, deadlineMs: 60_000 });
    assert.notEqual(r.code, 0, r.stdout + r.stderr);
    const started = readFileSync(e.pids, 'utf8').split('\n').filter(Boolean);
    assert.equal(started.length, 2, 'the shell and the event loop were started');
    assert.deepEqual(await survivors(e.pids), []);
  });
});

describe('the CLI stopped by a signal leaves no virsh', () => {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(`${signal} while a command hangs: exit ${signal === 'SIGTERM' ? 143 : 130}, the shell and the event loop are gone`, async () => {
      const e = env('cmd-hang', `sig${signal}`);
      const child = spawn(process.execPath, [cli, 'run', notebook(`sig${signal}.qmp`, '{"execute": "query-status"}'), '--libvirt', 'vm1'],
        { env: e.env, stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
      // Both virsh processes (the command shell and the event loop) are running before the signal is sent.
      const until = Date.now() + 30_000;
      while (readFileSync(e.pids, 'utf8').split('\n').filter(Boolean).length < 2) {
        if (Date.now() > until) assert.fail('virsh was not started twice within 30 s (a hang guard)');
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 300));
      child.kill(signal);
      const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
      const code = await exited;
      clearTimeout(timer);
      assert.equal(code, signal === 'SIGTERM' ? 143 : 130);
      assert.deepEqual(await survivors(e.pids), []);
    });
  }
});

describe('domain names virsh would misread are refused before virsh runs', () => {
  for (const name of ['--domain=vm1', '--help', '-x', 'a/b']) {
    test(`--libvirt=${name}: exit 2 with why, no virsh started`, async () => {
      const e = env('cmd-hang', `name${name.length}`);
      const r = await runCliBundle(cli, ['schema', `--libvirt=${name}`], { env: e.env, deadlineMs: 30_000 });
      assert.equal(r.code, 2, r.stdout + r.stderr);
      assert.match(r.stderr, name.includes('/') ? /contains '\/'/ : /starts with '-', which virsh would read as an option/);
      assert.doesNotMatch(r.stdout + r.stderr, /Usage|NAME\s+domstate|tainted/);
      assert.equal(readFileSync(e.pids, 'utf8'), '');
    });
  }
});

describe('libvirtd dying and the event loop exiting', () => {
  test('"End of file" then "failed to get domain": the connection to libvirtd was lost (reconnectable), not "domain not found"', async () => {
    const e = env('eof', 'eof');
    const saved = { ...process.env };
    Object.assign(process.env, e.env);
    const c = new LibvirtClient({ domain: 'vm1' }, { connectTimeoutMs: 20_000 });
    try {
      await c.connect();
      const lost = new Promise<Error | undefined>((resolve) => c.onDisconnect(resolve));
      assert.deepEqual(await c.execute('query-status', undefined, { timeoutMs: 20_000 }), {});
      writeFileSync(e.trigger, '');
      await assert.rejects(c.execute('query-status', undefined, { timeoutMs: 60_000 }), (err: unknown) => err instanceof DisconnectedError);
      const why = await lost;
      assert.equal(libvirtPermanentFailure(why), undefined, String(why));
      assert.match(why?.message ?? '', /the connection to libvirtd was lost \(End of file while reading data.*\); QEMU itself may still be running/);
    } finally {
      await c.disconnect();
      process.env = saved;
    }
    assert.deepEqual(await survivors(e.pids), []);
  });

  test('the event loop exits during a wait: the wait ends at once with why, not at its timeout', async () => {
    const e = env('events-exit', 'evexit');
    const saved = { ...process.env };
    Object.assign(process.env, e.env);
    const c = new LibvirtClient({ domain: 'vm1' }, { connectTimeoutMs: 20_000 });
    try {
      await c.connect();
      const waiting = c.waitForEvent((ev) => ev.event === 'RESUME', { timeoutMs: 120_000 });
      writeFileSync(e.trigger, '');
      // The error says the event loop ended (its timeout would be an EventTimeoutError naming the 120 s).
      await assert.rejects(waiting, (err: Error) => /qemu-monitor-event .* exited .*due to end of file.*events can no longer be received/.test(
        `${err.message} ${err.cause instanceof Error ? err.cause.message : ''}`) || assert.fail(String(err)));
    } finally {
      await c.disconnect();
      process.env = saved;
    }
    assert.deepEqual(liveVirshProcesses(), []);
    assert.deepEqual(await survivors(e.pids), []);
  });

  test('a hostile name is a permanent connect error of its own code', async () => {
    const c = new LibvirtClient({ domain: '--help', virsh: path.join(bin, 'virsh') });
    await assert.rejects(c.connect(), (err: unknown) => err instanceof LibvirtDomainConnectError && err.code === 'LIBVIRT_BAD_NAME');
  });
});

describe('memory: a reply over the limit is refused in proportion to its size', () => {
  test('a 17 MiB virsh reply (limit 16 MiB): refused, and the peak RSS grows by at most 4x the reply', async () => {
    const e = env('huge', 'huge');
    // The fake prints a reply of FAKE_HUGE bytes, in 64 KiB writes, for every passthrough command.
    const fake = path.join(bin, 'virsh');
    const hugeFake = FAKE.replace("if (mode === 'cmd-hang') { global.stuck = true; continue; }",
      "if (mode === 'cmd-hang') { global.stuck = true; continue; }\n      if (mode === 'huge') { const n = Number(process.env.FAKE_HUGE); const piece = 'a'.repeat(65536); let s = '{\"return\": \"'; for (let k = 0; k < n; k += 65536) s += piece; process.stdout.write(s + '\"}\\n'); continue; }");
    writeFileSync(fake, hugeFake);
    const size = 17 * 1024 * 1024;
    const helper = path.join(__dirname, '..', '..', 'src', 'endpoints', 'libvirt.js');
    const script = `const { LibvirtClient } = require(${JSON.stringify(helper)});
      (async () => {
        const c = new LibvirtClient({ domain: 'vm1' }, { connectTimeoutMs: 20000 });
        await c.connect();
        global.gc?.();
        const before = process.resourceUsage().maxRSS;
        let why = '';
        await c.execute('query-status', undefined, { timeoutMs: 60000 }).catch((err) => { why = err.message + ' / ' + (err.cause?.message ?? ''); });
        const peak = process.resourceUsage().maxRSS;
        await c.disconnect();
        process.stdout.write(JSON.stringify({ before, peak, why }) + '\\n');
      })();`;
    try {
      const { spawnSync } = await import('node:child_process');
      const r = spawnSync(process.execPath, ['-e', script], { env: { ...e.env, FAKE_HUGE: String(size) }, encoding: 'utf8', timeout: 120_000 });
      assert.equal(r.status, 0, r.stderr);
      const m = JSON.parse(r.stdout.trim().split('\n').pop() as string) as { before: number; peak: number; why: string };
      assert.match(m.why, /virsh printed more than \d+ bytes for one command/);
      const grownKiB = m.peak - m.before;
      process.stderr.write(`virsh reply of ${size} bytes refused: peak RSS ${Math.round(m.peak / 1024)} MiB, grew ${Math.round(grownKiB / 1024)} MiB\n`);
      assert.ok(grownKiB * 1024 <= 4 * size, `peak RSS grew by ${grownKiB} KiB for a ${size}-byte reply`);
    } finally {
      writeFileSync(fake, FAKE);
    }
    assert.deepEqual(await survivors(e.pids), []);
  });
});
