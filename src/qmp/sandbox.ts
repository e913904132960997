// Starts a throwaway QEMU to explore QMP with: `qemu-system-x86_64 -machine none -S -nodefaults
// -display none` with its QMP socket in a fresh private directory, which is also QEMU's working directory.
//
// Cleaning up when our own process dies matters, because a forgotten QEMU keeps running forever:
// - dispose() kills QEMU (SIGTERM, then SIGKILL) and removes the directory;
// - a process 'exit' handler does the same synchronously on a normal exit or process.exit();
// - for deaths that run no JavaScript (SIGTERM/SIGKILL of the extension host, a crash), a tiny detached
//   reaper process holds the read end of a pipe from us: when we die, the kernel closes our end, the reaper
//   sees EOF, kills QEMU and removes the directory. The reaper exits by itself as soon as QEMU is gone,
//   which keeps the window in which a recycled pid could be hit to one poll interval.
// A signal handler in our process is deliberately not used: in the extension host it would change how the
// host itself reacts to SIGTERM.
import { spawn, type ChildProcess } from 'node:child_process';
import { createConnection } from 'node:net';
import { accessSync, chmodSync, constants as fsConstants, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { QmpAddress } from './transport';

export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';

export interface SandboxOptions {
  /** A path or a command name looked up on PATH. Default `qemu-system-x86_64`. */
  binary?: string;
  /** Arguments appended after the defaults (e.g. ['-M', 'q35', '-accel', 'tcg']). */
  extraArgs?: string[];
  /** How long QEMU may take to create its socket. Default 10 s. */
  startTimeoutMs?: number;
}

export interface Sandbox {
  address: QmpAddress;
  /** The private (0700) directory that holds the socket; removed by dispose(). */
  dir: string;
  pid: number;
  /** What QEMU wrote to stderr so far. */
  stderr(): string;
  /** Kills QEMU and removes the directory. Safe to call more than once. */
  dispose(): Promise<void>;
}

/** Launching the sandbox failed; the message includes QEMU's stderr when it exited. */
export class SandboxError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

export class QemuNotFoundError extends SandboxError {
  readonly binary: string;
  constructor(binary: string) {
    super(
      `${binary} was not found${binary.includes('/') ? '' : ' on PATH'}. Install QEMU ` +
        '(Debian/Ubuntu: `sudo apt-get install qemu-system-x86`; Fedora: `sudo dnf install qemu-system-x86`; ' +
        'macOS: `brew install qemu`) or set `qmp.sandbox.qemuPath` to the qemu-system-x86_64 binary.',
    );
    this.binary = binary;
  }
}

/** Extra places to look when PATH is minimal (GUI-launched editors on macOS often lack Homebrew's bin). */
const FALLBACK_DIRS = ['/usr/bin', '/usr/local/bin', '/opt/homebrew/bin', '/opt/local/bin'];

/** Resolves a binary name or path to an executable file, or undefined. */
export function findQemuBinary(binary: string = DEFAULT_QEMU_BINARY): string | undefined {
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

/** The reaper's whole program, run as `node -e REAPER qemuPid dir` with its stdin a pipe from us. */
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

/**
 * Starts QEMU with QMP on `<dir>/qmp.sock`. Rejects with QemuNotFoundError when the binary cannot be
 * found, SandboxError when QEMU exits before creating its socket (with its stderr) or takes too long.
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const wanted = options.binary || DEFAULT_QEMU_BINARY;
  const binary = findQemuBinary(wanted);
  if (!binary) throw new QemuNotFoundError(wanted);

  const dir = mkdtempSync(path.join(tmpdir(), 'qmp-sandbox-'));
  chmodSync(dir, 0o700);
  const socketPath = path.join(dir, 'qmp.sock');
  const args = [
    '-machine', 'none', '-S', '-nodefaults', '-display', 'none',
    '-qmp', `unix:${socketPath},server=on,wait=off`,
    ...(options.extraArgs ?? []),
  ];
  let child: ChildProcess;
  try {
    // QEMU runs in its private directory, so a relative path in a command (the tour's blocking demo connects
    // to `qmp.sock`, the monitor's own socket) names something in there and nowhere else.
    child = spawn(binary, args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw new SandboxError(`Cannot start ${binary}: ${(err as Error).message}`, { cause: err });
  }
  let stderr = '';
  child.stderr?.setEncoding('utf8');
  child.stderr?.on('data', (d: string) => { if (stderr.length < 64 * 1024) stderr += d; });
  let exited = false;
  let spawnError: Error | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', () => { exited = true; resolve(); });
    child.once('error', (err) => { spawnError = err; exited = true; resolve(); });
  });

  const pid = child.pid;
  const onParentExit = (): void => {
    try { if (pid !== undefined && !exited) process.kill(pid, 'SIGKILL'); } catch { /* already gone */ }
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
    disposed ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => { if (!exited) child.kill('SIGKILL'); }, 3000);
        await exitPromise;
        clearTimeout(timer);
      }
      reaper?.kill('SIGKILL');
      process.off('exit', onParentExit);
      rmSync(dir, { recursive: true, force: true });
    })();
    return disposed;
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 10_000);
  while (!existsSync(socketPath)) {
    if (exited) {
      await dispose();
      if (spawnError && (spawnError as NodeJS.ErrnoException).code === 'ENOENT') throw new QemuNotFoundError(wanted);
      throw new SandboxError(`QEMU exited before creating its QMP socket${spawnError ? `: ${spawnError.message}` : ''}` +
        (stderr.trim() ? `:\n${stderr.trim()}` : ''), { cause: spawnError });
    }
    if (Date.now() > deadline) {
      await dispose();
      throw new SandboxError(`QEMU did not create ${socketPath} within ${options.startTimeoutMs ?? 10_000} ms` +
        (stderr.trim() ? `:\n${stderr.trim()}` : ''));
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  // QEMU binds the socket (so the file exists) a moment before it listens on it; a client that connects
  // in between gets ECONNREFUSED. Wait until the socket accepts a connection. The probe connection is
  // closed at once; QEMU then serves the next client as usual.
  while (!(await socketAccepts(socketPath))) {
    if (exited || Date.now() > deadline) {
      await dispose();
      throw new SandboxError(`QEMU's QMP socket ${socketPath} never accepted a connection` +
        (stderr.trim() ? `:\n${stderr.trim()}` : ''));
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    address: { kind: 'unix', path: socketPath },
    dir,
    pid: pid as number,
    stderr: () => stderr,
    dispose,
  };
}

/** Whether a unix socket accepts a connection now; the connection is closed at once. */
function socketAccepts(socketPath: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection(socketPath);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { socket.destroy(); resolve(false); });
  });
}
