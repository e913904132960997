// The parts of the protocol core (src/qmp/) that the glue uses, written as structural types.
//
// The glue depends on these shapes rather than on the concrete classes so that src/session and the notebook
// controller can be type-checked on their own and driven by a fake client in tests; extension.ts passes the
// real QmpClient, Schema and startSandbox, and the compiler checks there that they fit. The shapes follow
// docs/ARCHITECTURE.md ("Module contracts", src/qmp/).

/** Where a monitor listens (`src/qmp/transport.ts`). */
export type QmpAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** QEMU's version as the greeting gives it. */
export interface QemuVersion {
  major: number;
  minor: number;
  micro: number;
  package?: string;
}

export interface Disposable {
  dispose(): void;
}

/** One event as the client keeps it; `seq` orders events for `waitForEvent`'s cursor. */
export interface EventRecord {
  seq: number;
  event: string;
  data?: object;
  timestamp: { seconds: number; microseconds: number };
  raw: string;
}

/** What a notebook cell asks the client to send (`CommandInput` of the contract). */
export interface CommandInputLike {
  execute?: string;
  'exec-oob'?: string;
  arguments?: object;
  control?: { 'run-oob'?: boolean };
  idText?: string;
}

/** A reply; QEMU errors are replies here, transport problems throw. */
export type CommandReplyLike =
  | { idText: string; ok: true; value: unknown; raw: string; sent: string }
  | { idText: string; ok: false; error: { class: string; desc: string }; raw: string; sent: string };

export interface SendOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

export type TraceDirection = '->' | '<-';

export interface ClientOptions {
  enableOob?: boolean;
  trace?: (dir: TraceDirection, text: string) => void;
  log?: (level: 'trace' | 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

/** The subset of `QmpClient` the glue calls. */
export interface ClientLike {
  readonly version: QemuVersion | undefined;
  readonly oobEnabled: boolean;
  connect(address: QmpAddress, options?: { signal?: AbortSignal }): Promise<void>;
  disconnect(): Promise<void>;
  onDisconnect(listener: (err?: Error) => void): Disposable;
  setSchema(schema: SchemaLike | undefined): void;
  execute(name: string, args?: object, options?: SendOptions): Promise<unknown>;
  send(command: CommandInputLike, options?: SendOptions): Promise<CommandReplyLike>;
  onEvent(listener: (event: EventRecord) => void): Disposable;
  eventCursor(): number;
  waitForEvent(
    predicate: (event: EventRecord) => boolean,
    options: { after?: number; timeoutMs: number; signal?: AbortSignal },
  ): Promise<EventRecord>;
}

/** The schema model is opaque to the glue: it is handed to the client and to the language features. */
export type SchemaLike = object;

/** A running sandbox QEMU (`src/qmp/sandbox.ts`). */
export interface SandboxLike {
  readonly address: QmpAddress;
  readonly pid: number | undefined;
  dispose(): void | Promise<void>;
}

/** The concrete implementations the session manager is built with. */
export interface QmpPorts {
  createClient(options: ClientOptions): ClientLike;
  /** Builds the schema model from a `query-qmp-schema` reply. */
  schemaFromIntrospection(infos: unknown[], version?: QemuVersion): SchemaLike;
  startSandbox(options: { binary?: string; extraArgs?: string[] }): Promise<SandboxLike>;
}

export function formatVersion(v: QemuVersion | undefined): string {
  return v ? `${v.major}.${v.minor}.${v.micro}` : 'unknown';
}
