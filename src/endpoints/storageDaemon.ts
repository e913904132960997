// A private qemu-storage-daemon (QSD), started like the sandbox: its QMP monitor on a socket in a fresh
// 0700 directory, `qemu-storage-daemon --chardev socket,path=…,server=on,wait=off,id=m0 --monitor chardev=m0`,
// reaped when we die (launcher.ts). It serves the same QMP as QEMU (greeting, negotiation, schema) with its
// own, smaller command set: no query-status, and no command that allows out-of-band execution.
import { BinaryNotFoundError, launch, type FirstConnection, type LaunchedProcess } from './launcher';

export const DEFAULT_STORAGE_DAEMON_BINARY = 'qemu-storage-daemon';

export interface StorageDaemonOptions {
  /** A path or a command name looked up on PATH. Default `qemu-storage-daemon`. */
  binary?: string;
  /** Arguments appended after the monitor (e.g. ['--blockdev', 'null-co,node-name=n0']). */
  extraArgs?: string[];
  startTimeoutMs?: number;
  /** The caller's client, connected as the readiness probe and left connected (launcher.ts `connect`). */
  connect?: FirstConnection;
}

export type StorageDaemon = LaunchedProcess;

export class StorageDaemonNotFoundError extends BinaryNotFoundError {
  constructor(binary: string) {
    super(binary,
      'It ships with QEMU (Debian/Ubuntu: `sudo apt-get install qemu-system-common`; Fedora: ' +
        '`sudo dnf install qemu-storage-daemon`) or set `qmp.storageDaemon.path` to the binary.');
  }
}

/** Starts qemu-storage-daemon with its QMP monitor on `<dir>/qmp.sock`. */
export function startStorageDaemon(options: StorageDaemonOptions = {}): Promise<StorageDaemon> {
  return launch({
    what: 'qemu-storage-daemon',
    binary: options.binary || DEFAULT_STORAGE_DAEMON_BINARY,
    notFound: (b) => new StorageDaemonNotFoundError(b),
    dirPrefix: 'qmp-qsd-',
    args: (socketPath) => [
      // QEMU's option syntax escapes a comma by doubling it.
      '--chardev', `socket,path=${socketPath.replace(/,/g, ',,')},server=on,wait=off,id=m0`,
      '--monitor', 'chardev=m0',
      ...(options.extraArgs ?? []),
    ],
    ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
    ...(options.connect ? { connect: options.connect } : {}),
  });
}
