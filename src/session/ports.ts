// The parts of the protocol core (src/qmp/) that the glue uses.
//
// The glue depends on these narrowed shapes rather than on the concrete classes so that the session manager
// and the notebook controller say exactly which calls they make (and a fake could stand in); the shapes are
// derived from the core's own types, so they cannot drift from it. extension.ts passes the real QmpClient,
// Schema and startSandbox.
import type { CommandInput, CommandOptions, CommandReply, QmpAddress, QmpClient, QmpClientOptions, QmpEventRecord,
  QmpVersion, Schema } from '../qmp';
import type { LaunchedProcess, SandboxOptions, StorageDaemonOptions } from '../endpoints';

export type { QmpAddress };
export type QemuVersion = Pick<QmpVersion, 'major' | 'minor' | 'micro'> & { package?: string };
export type EventRecord = QmpEventRecord;
export type CommandInputLike = CommandInput;
export type CommandReplyLike = CommandReply;
export type SendOptions = CommandOptions;
export type ClientOptions = QmpClientOptions;
export type SchemaLike = Schema;

/** The subset of `QmpClient` the glue calls. */
export type ClientLike = Pick<QmpClient, 'version' | 'oobEnabled' | 'connect' | 'disconnect' | 'onDisconnect' | 'setSchema'
  | 'execute' | 'send' | 'onEvent' | 'eventCursor' | 'waitForEvent' | 'inBandBacklog' | 'onBacklogChange'>;

/** A running process the extension started: a sandbox QEMU or a qemu-storage-daemon. */
export type SandboxLike = Pick<LaunchedProcess, 'address' | 'pid' | 'dispose' | 'exited' | 'describeExit'>;

/** The concrete implementations the session manager is built with. */
/** Which client a profile needs: QMP proper (QEMU, the storage daemon), the guest agent, or libvirt's passthrough. */
export type ClientKind = { kind: 'qmp' } | { kind: 'guest-agent' } | { kind: 'libvirt'; domain: string; uri?: string };

export interface QmpPorts {
  createClient(options: ClientOptions, kind?: ClientKind): ClientLike;
  /** Builds the schema model from a `query-qmp-schema` reply. */
  schemaFromIntrospection(infos: unknown[], version?: QemuVersion): SchemaLike;
  startSandbox(options: SandboxOptions): Promise<SandboxLike>;
  startStorageDaemon(options: StorageDaemonOptions): Promise<SandboxLike>;
}

export function formatVersion(v: QemuVersion | undefined): string {
  return v ? `${v.major}.${v.minor}.${v.micro}` : 'unknown';
}
