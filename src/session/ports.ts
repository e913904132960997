// The parts of the protocol core (src/qmp/) that the glue uses.
//
// The glue depends on these narrowed shapes rather than on the concrete classes so that the session manager
// and the notebook controller say exactly which calls they make (and a fake could stand in); the shapes are
// derived from the core's own types, so they cannot drift from it. extension.ts passes the real QmpClient,
// Schema and startSandbox.
import type { QmpClient, QmpClientOptions, QmpVersion, Schema } from '../qmp';
import type { LaunchedProcess, SandboxOptions, StorageDaemonOptions } from '../endpoints';

export type QemuVersion = Pick<QmpVersion, 'major' | 'minor' | 'micro'> & { package?: string };

/** The calls the glue makes on a client (a QmpClient, or one of the family's clients built on it). */
export type SessionClient = Pick<QmpClient, 'version' | 'oobEnabled' | 'connect' | 'disconnect' | 'onDisconnect' | 'setSchema'
  | 'execute' | 'send' | 'onEvent' | 'eventCursor' | 'waitForEvent' | 'inBandBacklog' | 'onBacklogChange'>;

/** A running process the extension started: a sandbox QEMU or a qemu-storage-daemon. */
export type SessionProcess = Pick<LaunchedProcess, 'address' | 'pid' | 'dispose' | 'exited' | 'describeExit'>;

/** The concrete implementations the session manager is built with. */
/** Which client a profile needs: QMP proper (QEMU, the storage daemon), the guest agent, or libvirt's passthrough. */
export type ClientKind = { kind: 'qmp' } | { kind: 'guest-agent' } | { kind: 'libvirt'; domain: string; uri?: string };

export interface QmpPorts {
  createClient(options: QmpClientOptions, kind?: ClientKind): SessionClient;
  /** Builds the schema model from a `query-qmp-schema` reply. */
  schemaFromIntrospection(infos: unknown[], version?: QemuVersion): Schema;
  startSandbox(options: SandboxOptions): Promise<SessionProcess>;
  startStorageDaemon(options: StorageDaemonOptions): Promise<SessionProcess>;
}

export function formatVersion(v: QemuVersion | undefined): string {
  return v ? `${v.major}.${v.minor}.${v.micro}` : 'unknown';
}
