// The one function that opens any endpoint (endpoint.ts): it starts the private process a sandbox or a storage
// daemon needs, makes the client of the endpoint's dialect (QMP, guest agent, libvirt passthrough), connects
// within the caller's deadline, and returns the connection with what every door needs besides the client:
// how the schema is read (query-qmp-schema, or guest-info for a guest agent), what a lost connection means
// (how the process we started died), and one close that disconnects and stops that process. The CLI (every
// subcommand), the test runner and the language server open their connections here.
import { QmpClient, type QmpAddress, type QmpClientOptions } from '../qmp/index';
import {
  GuestAgentClient, LAUNCHED_HANDSHAKE_TIMEOUTS, LibvirtClient, QemuNotFoundError, guestAgentSchemaInfos, startSandbox, startStorageDaemon,
  type FirstConnection, type LaunchedProcess,
} from '../endpoints/index';
import { ENDPOINTS, type EndpointKind } from '../endpoints/kinds';
import { endpointKind, type Endpoint } from './endpoint';

export interface OpenOptions {
  /** The QEMU binary of a sandbox. */
  qemuBinary?: string;
  /** Extra QEMU arguments for a sandbox (the tests use a q35 machine). */
  sandboxArgs?: string[];
  /** The qemu-storage-daemon binary and extra arguments (the tests add a null-co node). */
  storageDaemonBinary?: string;
  storageDaemonArgs?: string[];
  /** Bounds starting and connecting; a connection that opens after it fired is closed at once. */
  signal?: AbortSignal;
  /** Where a one-line note for the user goes (what libvirt records about the domain). Default: none. */
  note?: (line: string) => void;
  /** The client's own options (trace, log, window), for the doors that show them. */
  client?: Omit<QmpClientOptions, 'dialect'>;
}

/** An open connection to an endpoint. */
export interface OpenedConnection {
  readonly endpoint: Endpoint;
  /** What program is at the other end, by the description (kinds.ts). */
  readonly kind: EndpointKind;
  readonly client: QmpClient;
  /** The private directory of a process the connection started: paths under it are volatile (tests mask them). */
  readonly dir?: string;
  /** The process the connection started (a sandbox QEMU, a storage daemon), for a door that shows it (its pid). */
  readonly process?: LaunchedProcess;
  /** The schema entities of the endpoint: `query-qmp-schema`, or the guest agent's commands from guest-info. */
  introspect(options?: { timeoutMs?: number; signal?: AbortSignal }): Promise<unknown[]>;
  /** After the connection was lost: how the process the connection started died ("QEMU was killed by signal SIGABRT"). */
  describeLoss(): Promise<string | undefined>;
  /** Disconnects and stops a process the connection started. Idempotent. */
  close(): Promise<void>;
}

/** The longest wait for a schema (QEMU 10.0's is about 0.5 MB). */
export const SCHEMA_TIMEOUT_MS = 30_000;

/**
 * Starts the process of a sandbox or storage daemon; `connect` connects the connection's own client as the
 * launcher's readiness probe (it stays connected: launcher.ts, `connect`).
 */
async function startProcess(endpoint: Endpoint, options: OpenOptions, connect: FirstConnection): Promise<LaunchedProcess | undefined> {
  if (endpoint.kind === 'sandbox') {
    try {
      return await startSandbox({
        ...(options.qemuBinary !== undefined ? { binary: options.qemuBinary } : {}),
        ...(options.sandboxArgs ? { extraArgs: options.sandboxArgs } : {}),
        connect,
      });
    } catch (err) {
      // The sandbox's own advice names the editor setting; outside the editor the option is --qemu.
      if (err instanceof QemuNotFoundError) {
        throw new Error(`${err.binary} was not found${err.binary.includes('/') ? '' : ' on PATH'}; install QEMU or give --qemu BINARY`, { cause: err });
      }
      throw err;
    }
  }
  if (endpoint.kind === 'storage-daemon') {
    return startStorageDaemon({
      ...(options.storageDaemonBinary !== undefined ? { binary: options.storageDaemonBinary } : {}),
      ...(options.storageDaemonArgs ? { extraArgs: options.storageDaemonArgs } : {}),
      connect,
    });
  }
  return undefined;
}

function makeClient(endpoint: Endpoint, launched: boolean, options: OpenOptions): QmpClient {
  const own = { ...(launched ? LAUNCHED_HANDSHAKE_TIMEOUTS : {}), ...(options.client ?? {}) };
  if (endpoint.kind === 'guest-agent') {
    const { enableOob: _ignored, ...rest } = own;
    return new GuestAgentClient(rest);
  }
  if (endpoint.kind === 'libvirt') {
    const { enableOob: _ignored, ...rest } = own;
    return new LibvirtClient({ domain: endpoint.domain, ...(endpoint.uri !== undefined ? { uri: endpoint.uri } : {}) }, rest);
  }
  return new QmpClient(own);
}

/** Opens any endpoint. Rejects with the reason when starting or connecting fails (nothing is left running). */
export async function openEndpoint(endpoint: Endpoint, options: OpenOptions = {}): Promise<OpenedConnection> {
  const signal = options.signal;
  if (signal?.aborted) throw signal.reason;
  const launches = endpoint.kind === 'sandbox' || endpoint.kind === 'storage-daemon';
  const client = makeClient(endpoint, launches, options);
  // No await unless a process is started: a socket's connect() is then called in the caller's turn, so that the
  // handshake goes on while the caller works (the CLI reads and plans the notebook meanwhile). A process we start
  // is ready once this client connected to it (each attempt bounded by the launcher, and by the caller's signal).
  const connectFirst: FirstConnection = async (address, boundMs) => {
    // A cancelled open ends the launcher's attempts at once: it is abandoned below and the process stopped.
    if (signal?.aborted) return;
    await client.connect(address, { signal: signal ? AbortSignal.any([signal, AbortSignal.timeout(boundMs)]) : AbortSignal.timeout(boundMs) });
  };
  const process = launches ? await startProcess(endpoint, options, connectFirst) : undefined;
  if (process) {
    if (signal?.aborted) {
      await client.disconnect().catch(() => undefined);
      await process.dispose();
      throw signal.reason;
    }
  } else {
    let address: QmpAddress;
    if (endpoint.kind === 'guest-agent') address = endpoint.target;
    else if (endpoint.kind === 'unix' || endpoint.kind === 'tcp') address = endpoint;
    else address = { kind: 'unix', path: '' }; // libvirt: the client opens its own channel (virsh)
    if (signal?.aborted) throw signal.reason;
    await client.connect(address, signal ? { signal } : {});
  }
  if (endpoint.kind === 'libvirt') {
    // Scripted use never asks, but it says once what libvirt will record (only for a connection that was made).
    options.note?.(`note: QMP commands through libvirt mark the domain '${endpoint.domain}' as tainted (custom-monitor) in libvirt's log`);
  }
  let closing: Promise<void> | undefined;
  const kind = endpointKind(endpoint);
  return {
    endpoint, kind, client,
    ...(process ? { dir: process.dir, process } : {}),
    introspect: async (o = {}) => {
      if (ENDPOINTS[kind].commandSource === 'guest-info') return guestAgentSchemaInfos((await (client as GuestAgentClient).guestInfo(o.timeoutMs ?? SCHEMA_TIMEOUT_MS)).commands);
      const infos = await client.execute('query-qmp-schema', undefined, { timeoutMs: o.timeoutMs ?? SCHEMA_TIMEOUT_MS, ...(o.signal ? { signal: o.signal } : {}) });
      if (!Array.isArray(infos)) throw new Error('the reply of query-qmp-schema is not a JSON array');
      return infos;
    },
    describeLoss: async () => {
      if (!process) return undefined;
      // The socket closes a moment before the process is reaped; wait for it, boundedly.
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([process.exited, new Promise((r) => { timer = setTimeout(r, 2000); })]);
      clearTimeout(timer);
      return process.describeExit();
    },
    close: () => {
      closing ??= (async () => {
        try {
          await client.disconnect();
        } finally {
          await process?.dispose();
        }
      })();
      return closing;
    },
  };
}
