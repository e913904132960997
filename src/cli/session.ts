// Opens the connection a CLI subcommand works on: a socket the user named, a sandbox QEMU or storage daemon
// that lives exactly as long as the subcommand, a guest agent, or a libvirt domain through virsh. `signal`
// (the run's --timeout deadline) bounds starting and connecting.
import { QmpClient, type QmpAddress } from '../qmp/index';
import {
  GuestAgentClient, LAUNCHED_HANDSHAKE_TIMEOUTS, LibvirtClient, QemuNotFoundError, guestAgentSchemaInfos, startSandbox, startStorageDaemon, type LaunchedProcess,
} from '../endpoints/index';
import type { CliSession, ResolvedConnection } from './cli';

export interface OpenOptions {
  qemuBinary?: string;
  /** Extra QEMU arguments for a sandbox (the tests use a q35 machine). */
  sandboxArgs?: string[];
  signal?: AbortSignal;
  /** Where a one-line note for the user goes (stderr). */
  note?: (line: string) => void;
}

export async function openSession(connection: ResolvedConnection, options: OpenOptions = {}): Promise<CliSession> {
  let sandbox: LaunchedProcess | undefined;
  let address: QmpAddress;
  if (connection.kind === 'sandbox') {
    try {
      sandbox = await startSandbox({
        ...(options.qemuBinary !== undefined ? { binary: options.qemuBinary } : {}),
        ...(options.sandboxArgs ? { extraArgs: options.sandboxArgs } : {}),
      });
    } catch (err) {
      // The sandbox's own advice names the editor setting; on the command line the option is --qemu.
      if (err instanceof QemuNotFoundError) {
        throw new Error(`${err.binary} was not found${err.binary.includes('/') ? '' : ' on PATH'}; install QEMU or give --qemu BINARY`, { cause: err });
      }
      throw err;
    }
    address = sandbox.address;
  } else if (connection.kind === 'storage-daemon') {
    sandbox = await startStorageDaemon();
    address = sandbox.address;
  } else if (connection.kind === 'guest-agent') {
    address = connection.target;
  } else if (connection.kind === 'libvirt') {
    address = { kind: 'unix', path: '' }; // unused: the libvirt client opens its own channel (virsh)
  } else {
    address = connection;
  }
  const agent = connection.kind === 'guest-agent' ? new GuestAgentClient() : undefined;
  const client = agent ?? (connection.kind === 'libvirt'
    ? new LibvirtClient({ domain: connection.domain, ...(connection.uri !== undefined ? { uri: connection.uri } : {}) })
    : new QmpClient(sandbox ? LAUNCHED_HANDSHAKE_TIMEOUTS : {}));
  try {
    if (options.signal?.aborted) throw options.signal.reason;
    await client.connect(address, options.signal ? { signal: options.signal } : {});
  } catch (err) {
    await sandbox?.dispose();
    throw err;
  }
  if (connection.kind === 'libvirt') {
    // Scripted use never asks, but it says once what libvirt will record (only for a connection that was made).
    (options.note ?? ((l: string) => process.stderr.write(`qmp-notebook: ${l}\n`)))(`note: QMP commands through libvirt mark the domain '${connection.domain}' as tainted (custom-monitor) in libvirt's log`);
  }
  return {
    client,
    // The sandbox's private directory: paths under it are volatile (qmp-notebook test masks them).
    ...(sandbox ? { dir: sandbox.dir } : {}),
    ...(agent ? { introspect: async () => guestAgentSchemaInfos((await agent.guestInfo()).commands) } : {}),
    describeLoss: async () => {
      if (!sandbox) return undefined;
      // The socket closes a moment before the process is reaped; wait for it, boundedly.
      await Promise.race([sandbox.exited, new Promise((r) => setTimeout(r, 2000))]);
      return sandbox.describeExit();
    },
    close: async () => {
      await client.disconnect();
      await sandbox?.dispose();
    },
  };
}
