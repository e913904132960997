// The sandbox: a throwaway QEMU to explore QMP with, `qemu-system-x86_64 -machine none -S -nodefaults
// -display none` with its QMP socket in a fresh private directory. Started, watched and reaped by the
// launcher (launcher.ts), like every process we start.
import { BinaryNotFoundError, LaunchError, findBinary, launch, type FirstConnection, type LaunchedProcess } from './launcher';

export const DEFAULT_QEMU_BINARY = 'qemu-system-x86_64';

export interface SandboxOptions {
  /** A path or a command name looked up on PATH. Default `qemu-system-x86_64`. */
  binary?: string;
  /** Arguments appended after the defaults (e.g. ['-M', 'q35', '-accel', 'tcg']). */
  extraArgs?: string[];
  /** How long QEMU may take to create its socket, and then its monitor to answer (launcher.ts `startTimeoutMs`). */
  startTimeoutMs?: number;
  /** The caller's client, connected as the readiness probe and left connected (launcher.ts `connect`). */
  connect?: FirstConnection;
}

/** A running sandbox QEMU. */
export type Sandbox = LaunchedProcess;

/** Launching the sandbox failed; the message includes QEMU's stderr when it exited. */
export const SandboxError = LaunchError;
export type SandboxError = LaunchError;

export class QemuNotFoundError extends BinaryNotFoundError {
  constructor(binary: string) {
    super(binary,
      'Install QEMU (Debian/Ubuntu: `sudo apt-get install qemu-system-x86`; Fedora: `sudo dnf install qemu-system-x86`; ' +
        'macOS: `brew install qemu`) or set `qmp.sandbox.qemuPath` to the qemu-system-x86_64 binary.');
  }
}

/** Resolves a binary name or path to an executable file, or undefined. */
export function findQemuBinary(binary: string = DEFAULT_QEMU_BINARY): string | undefined {
  return findBinary(binary);
}

/**
 * Starts QEMU with QMP on `<dir>/qmp.sock`. Rejects with QemuNotFoundError when the binary cannot be
 * found, SandboxError when QEMU exits before its socket accepts (with its stderr) or takes too long.
 */
export function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  return launch({
    what: 'QEMU',
    binary: options.binary || DEFAULT_QEMU_BINARY,
    notFound: (b) => new QemuNotFoundError(b),
    dirPrefix: 'qmp-sandbox-',
    args: (socketPath) => [
      '-machine', 'none', '-S', '-nodefaults', '-display', 'none',
      '-qmp', `unix:${socketPath},server=on,wait=off`,
      ...(options.extraArgs ?? []),
    ],
    ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
    ...(options.connect ? { connect: options.connect } : {}),
  });
}
