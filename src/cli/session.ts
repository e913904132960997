// Opens the connection a CLI subcommand works on: the kernel (src/kernel) of a socket the user named, a
// sandbox QEMU or storage daemon that lives exactly as long as the subcommand, a guest agent, or a libvirt
// domain through virsh. `signal` (the run's --timeout deadline) bounds starting and connecting. On the command
// line, the note about what libvirt records goes to stderr.
import { openKernel, type OpenKernelOptions } from '../kernel/index';
import type { CliSession, ResolvedConnection } from './cli';

export type OpenOptions = OpenKernelOptions;

export function openSession(connection: ResolvedConnection, options: OpenOptions = {}): Promise<CliSession> {
  return openKernel(connection, { note: (l: string) => process.stderr.write(`qmp-notebook: ${l}\n`), ...options });
}
