// Starts the private processes the product talks QMP to (the sandbox QEMU, a qemu-storage-daemon): one
// launcher for every process we start, used by the session manager and the CLI alike.
//
// Each process gets a fresh private directory (0700) for its monitor socket, is spawned with an argument
// array (never a shell), and is reaped when we die, because a forgotten QEMU keeps running forever:
// - dispose() kills it (SIGTERM, then SIGKILL) and removes the directory;
// - a process 'exit' handler does the same synchronously on a normal exit or process.exit();
// - for deaths that run no JavaScript (SIGTERM/SIGKILL of the extension host, a crash), a tiny detached
//   reaper process holds the read end of a pipe from us: when we die, the kernel closes our end, the reaper
//   sees EOF, kills the process and removes the directory. The reaper exits by itself as soon as the process
//   is gone, which keeps the window in which a recycled pid could be hit to one poll interval.
// A signal handler in our process is deliberately not used: in the extension host it would change how the
// host itself reacts to SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, chmodSync, constants as fsConstants, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QmpClient } from '../qmp/client';
import type { QmpAddress } from '../qmp/transport';

/** Starting a private process failed; the message includes its stderr when it exited. */
export class LaunchError extends Error {
  readonly code: string = 'LAUNCH_FAILED';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** The binary was not found; `advice` says how to install it. */
export class BinaryNotFoundError extends LaunchError {
  override readonly code: string = 'BINARY_NOT_FOUND';
  constructor(readonly binary: string, advice: string) {
    super(`${binary} was not found${binary.includes('/') ? '' : ' on PATH'}. ${advice}`);
  }
}

/** Extra places to look when PATH is minimal (GUI-launched editors on macOS often lack Homebrew's bin). */
const FALLBACK_DIRS = ['/usr/bin', '/usr/local/bin', '/opt/homebrew/bin', '/opt/local/bin'];

/** Resolves a binary name or path to an executable file, or undefined. */
export function findBinary(binary: string): string | undefined {
  const isExecutable = (p: string): boolean => {
    try {
      accessSync(p, fsConstants.X_OK);
      return statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (binary.includes('/') || binary.includes(path.sep)) return isExecutable(binary) ? path.resolve(binary) : undefined;
  const dirs = (process.env['PATH'] ?? '').split(path.delimiter).filter(Boolean);
  for (const dir of [...dirs, ...FALLBACK_DIRS]) {
    const candidate = path.join(dir, binary);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** How a launched process ended: an exit code or the signal that killed it. */
export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** "exited with status 1" / "was killed by signal SIGABRT". */
export function describeExit(status: ExitStatus): string {
  return status.signal ? `was killed by signal ${status.signal}` : `exited with status ${status.code ?? '?'}`;
}

/**
 * The greeting and negotiation bounds for a process we started ourselves. The default bounds (4 s) are there to
 * say "another client holds this monitor" soon; a private monitor has no other client, so a late greeting only
 * means a slow start (a loaded machine): wait longer, still boundedly. A process that dies fails the connection
 * at once through its closed socket.
 */
export const LAUNCHED_HANDSHAKE_TIMEOUTS = { greetingTimeoutMs: 20_000, negotiationTimeoutMs: 20_000 } as const;

export interface LaunchSpec {
  /** What the messages call the process: "QEMU", "qemu-storage-daemon". */
  what: string;
  /** A path or a command name looked up on PATH. */
  binary: string;
  /** The error when the binary cannot be found. */
  notFound(binary: string): Error;
  /** The arguments, given the monitor socket path in the private directory. */
  args(socketPath: string): string[];
  /** The directory prefix under the temporary directory, e.g. 'qmp-sandbox-'. */
  dirPrefix: string;
  /**
   * How long the process may take to create its socket, and then its monitor to answer. Default 10 s for the
   * socket, LAUNCHED_HANDSHAKE_TIMEOUTS.greetingTimeoutMs for the answer.
   */
  startTimeoutMs?: number;
  /**
   * The caller's own client, connected as the readiness probe (bounded by `boundMs`): the connection that answered
   * stays open and is the caller's, so no second client ever meets the monitor right after a probe's close.
   * Without it the launcher probes with a client of its own and closes it.
   */
  connect?: FirstConnection;
}

/**
 * Connects the caller's client to the launched process within `boundMs` (rejecting leaves that client idle, to be
 * tried again); resolves once the monitor answered on it (greeting and negotiation).
 */
export type FirstConnection = (address: QmpAddress, boundMs: number) => Promise<void>;

export interface LaunchedProcess {
  address: QmpAddress;
  /** The private (0700) directory that holds the socket; removed by dispose(). */
  dir: string;
  pid: number;
  /** What the process wrote to stderr so far (the first 64 KiB). */
  stderr(): string;
  /** How it ended, once it has; undefined while it runs (also after dispose() asked it to stop). */
  exitStatus(): ExitStatus | undefined;
  /** Settles when the process has exited. */
  readonly exited: Promise<ExitStatus>;
  /**
   * One sentence for a user when the connection to it was lost: "QEMU was killed by signal SIGABRT: <last
   * stderr line>", or undefined while the process still runs.
   */
  describeExit(): string | undefined;
  /** Kills the process and removes the directory. Safe to call more than once. */
  dispose(): Promise<void>;
}

/** The reaper's whole program, run as `node -e REAPER pid dir` with its stdin a pipe from us. */
const REAPER = `
const pid = Number(process.argv[1]); const dir = process.argv[2];
const fs = require('fs');
const alive = () => { try { process.kill(pid, 0); return true; } catch { return false; } };
const finish = () => { try { fs.rmSync(dir, { recursive: true, force: true }); } catch {} process.exit(0); };
let reaping = false;
const reap = () => {
  if (reaping) return; reaping = true;
  try { process.kill(pid, 'SIGTERM'); } catch {}
  let n = 0;
  const t = setInterval(() => { if (!alive()) finish(); if (++n === 20) { try { process.kill(pid, 'SIGKILL'); } catch {} } if (n > 40) finish(); }, 100);
};
process.stdin.on('end', reap); process.stdin.on('error', reap); process.stdin.resume();
setInterval(() => { if (!alive() && !reaping) process.exit(0); }, 2000);
`;

const maxStderr = 64 * 1024;

/**
 * Starts the process with its QMP monitor on `<dir>/qmp.sock` and waits until the monitor has answered (a
 * greeting and a negotiation on a connection of ours, closed again). Rejects with spec.notFound(...) when the
 * binary cannot be found, LaunchError when the process exits before its monitor answers (with its stderr) or
 * takes longer than startTimeoutMs.
 */
export async function launch(spec: LaunchSpec): Promise<LaunchedProcess> {
  const binary = findBinary(spec.binary);
  if (!binary) throw spec.notFound(spec.binary);
  const timeoutMs = spec.startTimeoutMs ?? 10_000;

  const dir = mkdtempSync(path.join(tmpdir(), spec.dirPrefix));
  chmodSync(dir, 0o700);
  const socketPath = path.join(dir, 'qmp.sock');
  let child: ChildProcess;
  try {
    // The process runs in its private directory, so a relative path in a command (the tour's blocking demo
    // connects to `qmp.sock`, the monitor's own socket) names something in there and nowhere else.
    child = spawn(binary, spec.args(socketPath), { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new LaunchError(`Cannot start ${binary}: ${(err as Error).message}`, { cause: err });
  }
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => { if (stderr.length < maxStderr) stderr += d.slice(0, maxStderr - stderr.length); });
  let status: ExitStatus | undefined;
  let spawnError: Error | undefined;
  let disposing = false;
  const exited = new Promise<ExitStatus>((resolve) => {
    child.once('exit', (code, signal) => { status = { code, signal }; resolve(status); });
    child.once('error', (err) => { spawnError = err; status = { code: null, signal: null }; resolve(status); });
  });

  const pid = child.pid;
  const onParentExit = (): void => {
    try { if (pid !== undefined && !status) process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
    try { rmSync(dir, { recursive: true, force: true }); } catch { /* best effort while exiting */ }
  };
  process.on('exit', onParentExit);

  let reaper: ChildProcess | undefined;
  if (pid !== undefined) {
    try {
      reaper = spawn(process.execPath, ['-e', REAPER, String(pid), dir], {
        stdio: ['pipe', 'ignore', 'ignore'], detached: true,
        // In VS Code process.execPath is Electron; this makes it behave as plain Node.
        env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
      });
      reaper.on('error', () => { /* the exit handler still covers normal exits */ });
      reaper.unref();
      reaper.stdin?.on('error', () => { /* the reaper may exit first */ });
      // The pipe must not keep our event loop alive.
      (reaper.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    } catch {
      reaper = undefined;
    }
  }

  let disposed: Promise<void> | undefined;
  const dispose = (): Promise<void> => {
    disposing = true;
    disposed ??= (async () => {
      if (!status) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => { if (!status) child.kill('SIGKILL'); }, 3000);
        await exited;
        clearTimeout(timer);
      }
      reaper?.kill('SIGKILL');
      process.off('exit', onParentExit);
      rmSync(dir, { recursive: true, force: true });
    })();
    return disposed;
  };
  const lastLines = (): string => {
    const t = stderr.trim();
    return t ? `:\n${t}` : '';
  };
  const fail = async (message: string): Promise<never> => {
    await dispose();
    if (spawnError && (spawnError as NodeJS.ErrnoException).code === 'ENOENT') throw spec.notFound(spec.binary);
    throw new LaunchError(message + lastLines(), { cause: spawnError });
  };

  const deadline = Date.now() + timeoutMs;
  while (!existsSync(socketPath)) {
    if (status) {
      await fail(`${spec.what} ${spawnError ? `could not start: ${spawnError.message}` : describeExit(status)} before creating its monitor socket`);
    }
    if (Date.now() > deadline) await fail(`${spec.what} did not create ${socketPath} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
  // Ready means the monitor answered on a connection of ours: the caller's client (spec.connect), which stays
  // open, or a probe connection that reads the greeting, negotiates, and closes; retried while the process runs,
  // within the launch bound. Nothing less will do: qemu-storage-daemon (7.2) accepts connections before its
  // monitor has moved to its I/O thread, and a client that arrives in that window now and then gets the greeting
  // twice, has its first command lost, or is dropped. A probe that closes leaves a window of its own: QEMU still
  // taking that close now and then drops the next client after it negotiated (`write EPIPE` on its first command:
  // 1 first session in 1,500 with a probe that closed at once, and still seen in the host tier with the
  // answering probe). Hence the caller's own client as the probe: no second connection, no such window.
  // Bounded as the first client's greeting was before: startTimeoutMs when given, else the launched greeting bound.
  const answerMs = spec.startTimeoutMs ?? LAUNCHED_HANDSHAKE_TIMEOUTS.greetingTimeoutMs;
  const answerDeadline = Date.now() + answerMs;
  let lastFailure = '';
  // One attempt's bound: short, so that a lost first command is retried soon; doubled after each attempt, so
  // that a slow start (a loaded machine) is still waited out within the bound.
  let attemptMs = PROBE_ATTEMPT_MS;
  const address: QmpAddress = { kind: 'unix', path: socketPath };
  for (;;) {
    if (status) await fail(`${spec.what} ${describeExit(status)} before its monitor answered`);
    const remaining = answerDeadline - Date.now();
    if (remaining <= 0) await fail(`${spec.what}'s monitor ${socketPath} did not answer within ${answerMs} ms${lastFailure ? ` (${lastFailure})` : ''}`);
    const bound = Math.min(remaining, attemptMs);
    const failure = spec.connect ? await connectAnswers(spec.connect, address, bound) : await monitorAnswers(socketPath, bound);
    if (failure === undefined) break;
    lastFailure = failure;
    attemptMs *= 2;
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    address,
    dir,
    pid: pid as number,
    stderr: () => stderr,
    exitStatus: () => status,
    exited,
    describeExit: () => {
      if (!status || disposing) return undefined;
      const last = stderr.trim().split('\n').pop()?.trim();
      return `${spec.what} ${describeExit(status)}${last ? `: ${last}` : ''}`;
    },
    dispose,
  };
}

/** The bound of the first readiness attempt (a lost first command is retried, not waited out). */
const PROBE_ATTEMPT_MS = 3000;

/** The caller's client connected within the bound: undefined when it did (it stays connected), else why not. */
async function connectAnswers(connect: FirstConnection, address: QmpAddress, boundMs: number): Promise<string | undefined> {
  try {
    await connect(address, boundMs);
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  }
}

/**
 * Connects, takes the greeting, negotiates and disconnects: undefined when that worked, else why not. The probe
 * takes `oob` when offered, as our clients do: without it QEMU suspends the monitor for each in-band command and
 * resumes it after the reply, which a probe that closes right after its reply may race (measured: a probe
 * without `oob` left 1 first client in 1,500 reset after negotiating; with `oob`, none in 1,000).
 */
async function monitorAnswers(socketPath: string, boundMs: number): Promise<string | undefined> {
  const client = new QmpClient({ enableOob: true, connectTimeoutMs: boundMs, greetingTimeoutMs: boundMs, negotiationTimeoutMs: boundMs });
  try {
    await client.connect({ kind: 'unix', path: socketPath });
    return undefined;
  } catch (err) {
    return err instanceof Error ? err.message : String(err);
  } finally {
    await client.disconnect().catch(() => undefined);
  }
}
