// The parts of the protocol core (src/qmp/) that the glue uses.
//
// The glue depends on these narrowed shapes rather than on the concrete classes so that the session manager
// and the notebook controller say exactly which calls they make (and a fake could stand in); the shapes are
// derived from the core's own types, so they cannot drift from it. extension.ts passes the real QmpClient,
// Schema and startSandbox.
import type { QmpClient, QmpVersion, Schema } from '../qmp';
import type { LaunchedProcess } from '../endpoints';

export type QemuVersion = Pick<QmpVersion, 'major' | 'minor' | 'micro'> & { package?: string };

/** The calls the glue makes on a client (a QmpClient, or one of the family's clients built on it). */
export type SessionClient = Pick<QmpClient, 'version' | 'oobEnabled' | 'connect' | 'disconnect' | 'onDisconnect' | 'setSchema'
  | 'execute' | 'send' | 'onEvent' | 'eventCursor' | 'waitForEvent' | 'inBandBacklog' | 'onBacklogChange'>;

/** A running process the extension started: a sandbox QEMU or a qemu-storage-daemon. */
export type SessionProcess = Pick<LaunchedProcess, 'address' | 'pid' | 'dispose' | 'exited' | 'describeExit'>;

/**
 * The concrete implementations the session manager is built with. Connections (the process, the client of the
 * endpoint's dialect) are opened by the one opener of every door, src/kernel/open.ts.
 */
export interface QmpPorts {
  /** Builds the schema model from a `query-qmp-schema` reply. */
  schemaFromIntrospection(infos: unknown[], version?: QemuVersion): Schema;
}

export function formatVersion(v: QemuVersion | undefined): string {
  return v ? `${v.major}.${v.minor}.${v.micro}` : 'unknown';
}
