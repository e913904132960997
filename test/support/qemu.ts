// Starts and stops real QEMU processes for the qemu and host test tiers.
// Each QEMU gets a fresh private directory (mode 0700) with its QMP socket in it, is spawned with an
// argument array (never a shell), and is killed with its directory removed by stop().
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, createReadStream, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import net from 'node:net';
import path from 'node:path';

export interface TestQemu {
  /** The QMP unix socket (`-qmp unix:…,server=on,wait=off`). */
  readonly socketPath: string;
  /** The private directory that holds the socket; removed by stop(). */
  readonly dir: string;
  readonly process: ChildProcess;
  /** Everything QEMU wrote to stderr so far (for failure messages). */
  stderr(): string;
  /** Kills QEMU (SIGKILL after a grace period) and removes its directory. Safe to call twice. */
  stop(): Promise<void>;
}

export interface StartQemuOptions {
  /** Arguments after the defaults; the default machine is `-machine none`. */
  args?: string[];
  /** Replace `-machine none` (e.g. ['-M', 'q35', '-m', '128M', '-accel', 'tcg']). */
  machine?: string[];
  /** Use `-qmp-pretty` instead of `-qmp`. */
  pretty?: boolean;
  /** Also listen for QMP on this TCP port of 127.0.0.1. */
  tcpPort?: number;
  /** Do not add the unix QMP socket (the caller passes its own monitor arguments). */
  noUnixMonitor?: boolean;
  binary?: string;
  timeoutMs?: number;
}

export const qemuBinary = process.env['QMP_TEST_QEMU'] ?? 'qemu-system-x86_64';

export async function startQemu(options: StartQemuOptions = {}): Promise<TestQemu> {
  const dir = mkdtempSync(path.join(tmpdir(), 'qmp-test-'));
  chmodSync(dir, 0o700);
  const socketPath = path.join(dir, 'qmp.sock');
  const monitorFlag = options.pretty ? '-qmp-pretty' : '-qmp';
  const args = [
    '-nodefaults', '-display', 'none', '-S',
    ...(options.machine ?? ['-machine', 'none']),
    ...(options.noUnixMonitor ? [] : [monitorFlag, `unix:${socketPath},server=on,wait=off`]),
    ...(options.tcpPort !== undefined ? ['-qmp', `tcp:127.0.0.1:${options.tcpPort},server=on,wait=off`] : []),
    ...(options.args ?? []),
  ];
  const child = spawn(options.binary ?? qemuBinary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  let exited = false;
  child.on('exit', () => { exited = true; });
  const stop = async (): Promise<void> => {
    if (!exited) {
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 2000);
      await done;
      clearTimeout(t);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  while (!options.noUnixMonitor && !existsSync(socketPath)) {
    if (exited) { await stop(); throw new Error(`QEMU exited before creating its socket: ${err}`); }
    if (Date.now() > deadline) { await stop(); throw new Error(`QEMU did not create ${socketPath} in time: ${err}`); }
    await new Promise((r) => setTimeout(r, 20));
  }
  // The socket file appears a moment before QEMU listens on it (and a TCP monitor may come later still):
  // ready means each monitor accepted a connection. A client that connects and closes at once costs QEMU
  // nothing (it greets, reads EOF, and waits for the next client).
  const targets: net.NetConnectOpts[] = [
    ...(options.noUnixMonitor ? [] : [{ path: socketPath }]),
    ...(options.tcpPort !== undefined ? [{ host: '127.0.0.1', port: options.tcpPort }] : []),
  ];
  for (const target of targets) {
    while (!(await accepts(target))) {
      if (exited) { await stop(); throw new Error(`QEMU exited before its monitor accepted a connection: ${err}`); }
      if (Date.now() > deadline) { await stop(); throw new Error(`QEMU's monitor ${JSON.stringify(target)} did not accept a connection in time: ${err}`); }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { socketPath, dir, process: child, stderr: () => err, stop };
}

/** Whether a connection to `target` is accepted (closed again at once); bounded by 2 s. */
function accepts(target: net.NetConnectOpts): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect(target);
    const done = (ok: boolean): void => { clearTimeout(timer); sock.destroy(); resolve(ok); };
    const timer = setTimeout(() => done(false), 2000);
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * The version of the QEMU the tier runs against (QMP_TEST_QEMU), from `--version`, so that tests compare
 * with the QEMU they talk to instead of pinning one release.
 */
export function testQemuVersion(): { major: number; minor: number; micro: number; text: string } {
  const r = spawnSync(qemuBinary, ['--version'], { encoding: 'utf8', timeout: 30_000 });
  const m = /version (\d+)\.(\d+)\.(\d+)/.exec(r.stdout ?? '');
  if (!m) throw new Error(`cannot read the version of ${qemuBinary}: ${r.stdout}${r.stderr}`);
  return { major: Number(m[1]), minor: Number(m[2]), micro: Number(m[3]), text: `${m[1]}.${m[2]}.${m[3]}` };
}

/** Makes a FIFO (0600) named `name` in a test QEMU's private directory: a dump to it blocks QEMU's main loop. */
export function makeFifo(target: TestQemu, name: string): string {
  const fifo = path.join(target.dir, name);
  const r = spawnSync('mkfifo', ['-m', '600', fifo]);
  if (r.status !== 0) throw new Error(`mkfifo ${fifo}: ${r.stderr?.toString() ?? r.error?.message}`);
  return fifo;
}

/** Opens the FIFO for reading and throws the data away; resolves with the byte count at EOF. */
export function drainFifo(fifo: string): Promise<number> {
  return new Promise((resolve, reject) => {
    let n = 0;
    const s = createReadStream(fifo);
    s.on('data', (d) => { n += d.length; });
    s.on('end', () => resolve(n));
    s.on('error', reject);
  });
}

/** A QMP client as far as the set-ups below need one. */
interface Executes { execute(name: string, args?: Record<string, unknown>): Promise<unknown> }

/**
 * A qcow2 image formatted by QEMU itself (no qemu-img): a 64 MiB null-co node `base`, a file node `top-file` on
 * `<dir of q>/top.qcow2` (0600), and blockdev-create (job `create`) formatting it as qcow2, waited for until
 * concluded (bounded to 20 s). Returns the concluded job; the caller adds the qcow2 node over `top-file` and
 * dismisses the job if it wants to.
 */
export async function createQcow2OverNullBase(client: Executes, q: TestQemu): Promise<{ id: string; status: string; error?: string }> {
  const image = path.join(q.dir, 'top.qcow2');
  writeFileSync(image, '', { mode: 0o600 });
  await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'base', size: 64 * 1024 * 1024 });
  await client.execute('blockdev-add', { driver: 'file', 'node-name': 'top-file', filename: image });
  await client.execute('blockdev-create', { 'job-id': 'create', options: { driver: 'qcow2', file: 'top-file', size: 64 * 1024 * 1024 } });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const jobs = (await client.execute('query-jobs')) as { id: string; status: string; error?: string }[];
    const job = jobs.find((j) => j.id === 'create');
    if (job?.status === 'concluded') return job;
    if (Date.now() > deadline) throw new Error(`blockdev-create did not conclude: ${JSON.stringify(jobs)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
