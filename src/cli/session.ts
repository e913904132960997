// Opens the connection a CLI subcommand works on: a socket the user named, or a sandbox QEMU that lives
// exactly as long as the subcommand. `signal` (the run's --timeout deadline) bounds starting and connecting.
import { QemuNotFoundError, QmpClient, startSandbox, type QmpAddress, type Sandbox } from '../qmp/index';
import type { CliSession, ResolvedConnection } from './cli';

export interface OpenOptions {
  qemuBinary?: string;
  /** Extra QEMU arguments for a sandbox (the tests use a q35 machine). */
  sandboxArgs?: string[];
  signal?: AbortSignal;
}

export async function openSession(connection: ResolvedConnection, options: OpenOptions = {}): Promise<CliSession> {
  let sandbox: Sandbox | undefined;
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
  } else {
    address = connection;
  }
  const client = new QmpClient();
  try {
    if (options.signal?.aborted) throw options.signal.reason;
    await client.connect(address, options.signal ? { signal: options.signal } : {});
  } catch (err) {
    await sandbox?.dispose();
    throw err;
  }
  return {
    client,
    // The sandbox's private directory: paths under it are volatile (qmp-notebook test masks them).
    ...(sandbox ? { dir: sandbox.dir } : {}),
    close: async () => {
      await client.disconnect();
      await sandbox?.dispose();
    },
  };
}
