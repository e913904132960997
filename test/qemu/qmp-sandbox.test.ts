// The sandbox launcher against the real qemu-system-x86_64: start, talk QMP, dispose; clean-up when the
// process that started it exits or is killed.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { QmpClient } from '../../src/qmp/client';
import { QemuNotFoundError, SandboxError, findQemuBinary, startSandbox } from '../../src/endpoints/sandbox';
import { qemuBinary } from '../support/qemu';

/** True while the process exists and is not a zombie (a container's init may never reap it). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    if (existsSync('/proc/self')) return false;
    try { process.kill(pid, 0); return true; } catch { return false; }
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const sandboxModule = path.resolve(__dirname, '..', '..', 'src', 'endpoints', 'sandbox.js');

/** Runs a Node child that starts a sandbox, reports {pid, dir} on stdout, then does `then`. */
function childWithSandbox(then: 'exit' | 'wait'): Promise<{ child: ReturnType<typeof spawn>; pid: number; dir: string }> {
  const script = `
    const { startSandbox } = require(${JSON.stringify(sandboxModule)});
    startSandbox({ binary: ${JSON.stringify(qemuBinary)} }).then((s) => {
      process.stdout.write(JSON.stringify({ pid: s.pid, dir: s.dir }) + '\\n');
      ${then === 'exit' ? 'setTimeout(() => process.exit(0), 10);' : 'setInterval(() => {}, 1000);'}
    }, (e) => { console.error(e); process.exit(2); });`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) {
        const info = JSON.parse(out.slice(0, nl)) as { pid: number; dir: string };
        resolve({ child, ...info });
      }
    });
    child.on('exit', (code) => { if (!out.includes('\n')) reject(new Error(`child exited ${code}`)); });
  });
}

describe('startSandbox', () => {
  test('starts QEMU in a private directory, speaks QMP, and dispose() kills it and removes the directory', async () => {
    const sandbox = await startSandbox({ binary: qemuBinary });
    try {
      assert.equal(statSync(sandbox.dir).mode & 0o777, 0o700);
      assert.equal(sandbox.address.kind, 'unix');
      assert.ok(alive(sandbox.pid));
      const client = new QmpClient();
      await client.connect(sandbox.address);
      assert.equal((await client.execute('query-status') as { status: string }).status, 'prelaunch');
      const machines = await client.execute('query-machines') as unknown[];
      assert.ok(machines.length > 0);
      await client.disconnect();
    } finally {
      await sandbox.dispose();
    }
    assert.equal(existsSync(sandbox.dir), false);
    assert.equal(alive(sandbox.pid), false);
    await sandbox.dispose();
  });

  test('a missing binary is QemuNotFoundError that says how to install QEMU and names the setting', async () => {
    assert.equal(findQemuBinary('qemu-system-does-not-exist'), undefined);
    await assert.rejects(startSandbox({ binary: 'qemu-system-does-not-exist' }), (err: unknown) => {
      assert.ok(err instanceof QemuNotFoundError);
      assert.match(err.message, /sudo apt-get install qemu-system-x86/);
      assert.match(err.message, /dnf install qemu-system-x86/);
      assert.match(err.message, /brew install qemu/);
      assert.match(err.message, /qmp\.sandbox\.qemuPath/);
      return true;
    });
    await assert.rejects(startSandbox({ binary: '/nonexistent/qemu-system-x86_64' }), QemuNotFoundError);
  });

  test('QEMU exiting at start fails fast with its stderr', async () => {
    await assert.rejects(startSandbox({ binary: qemuBinary, extraArgs: ['-no-such-option'] }), (err: unknown) => {
      assert.ok(err instanceof SandboxError);
      assert.match(err.message, /no-such-option/);
      return true;
    });
  });

  test('when the starting process exits normally, QEMU is killed and the directory removed', async () => {
    const { child, pid, dir } = await childWithSandbox('exit');
    await new Promise((r) => child.once('exit', r));
    await until('QEMU is gone', () => !alive(pid));
    await until('the directory is removed', () => !existsSync(dir));
  });

  test('when the starting process is killed by SIGTERM (or SIGKILL), the reaper kills QEMU and removes the directory', async () => {
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const { child, pid, dir } = await childWithSandbox('wait');
      assert.ok(alive(pid));
      child.kill(signal);
      await until(`QEMU is gone after ${signal}`, () => !alive(pid));
      await until(`the directory is removed after ${signal}`, () => !existsSync(dir));
    }
  });
});
