// One kernel per open connection: the client, its ONE engine (QEMU's rules — in-band commands answered in
// order, the wedged window, which cell an event belongs to — belong to a connection, so every notebook and
// every call that runs cells on this connection goes through the same scheduler and each event is attributed
// once), the connection's schema and its live values (docs/live-values.md). Built either on a connection
// opened here (`openKernel`: the CLI, the test runner, the language server) or on a client the caller keeps
// (the extension's session manager, which reconnects by itself: `new Kernel({ client })`).
import { Schema, type SchemaInfo } from '../qmp/index';
import type { CommandInput, QmpClient } from '../qmp/client';
import { LiveValues } from '../qmp/liveValues';
import { SchemaError } from '../qmp/introspect';
import { ENDPOINTS, type EndpointKind } from '../endpoints/kinds';
import { RunEngine, type BatchOptions, type BatchResult, type CellJob, type EngineClient, type EngineOptions, type TranscriptSink } from '../run/index';
import { describeEndpoint, type Endpoint } from './endpoint';
import { openEndpoint, SCHEMA_TIMEOUT_MS, type OpenedConnection, type OpenOptions } from './open';

/** The client calls a kernel makes besides the engine's: the schema, live values. */
export type KernelClient = EngineClient & Pick<QmpClient, 'execute' | 'setSchema' | 'inBandBacklog'>;

export interface KernelOptions {
  /** The client to run on, connecting when needed (called when each cell starts and for each live query). */
  client(): KernelClient | Promise<KernelClient>;
  /** What is at the other end (default QEMU); a function when it is learnt later (a plain socket's schema). */
  kind?: EndpointKind | (() => EndpointKind);
  /** The engine's options besides the client. */
  engine?: Omit<EngineOptions, 'client'>;
  /** Reads the schema entities (default `query-qmp-schema`). */
  introspect?(options: { timeoutMs?: number; signal?: AbortSignal }): Promise<unknown[]>;
}

/** A schema that could not be read or used, with the words the doors print. */
export class KernelSchemaError extends Error {}

export class Kernel {
  /** The one engine of this connection. */
  readonly engine: RunEngine;
  /** The live values of the connection: fetched on demand, made stale by the commands the engine sends and by events. */
  readonly live: LiveValues;
  private schemaValue: Schema | undefined;
  private schemaLoading: Promise<Schema> | undefined;
  private eventSub: { dispose(): void } | undefined;
  private current: KernelClient | undefined;

  constructor(private readonly options: KernelOptions) {
    this.engine = new RunEngine({
      ...(options.engine ?? {}),
      // Synchronous when the client is there already (every cell asks): no promise on the path to each command.
      client: () => {
        const c = this.options.client();
        if ('then' in c) return c.then((got) => { this.attach(got); return this.port(got); });
        this.attach(c);
        return this.port(c);
      },
    });
    this.live = new LiveValues({
      execute: async (command, args, timeoutMs) => (await this.connectClient()).execute(command, args, { timeoutMs }),
      // A query would wait behind an unanswered in-band command in QEMU: then the cache answers.
      inBandBusy: () => {
        const b = this.current?.inBandBacklog();
        return b !== undefined && b.onWire + b.queued > 0;
      },
      hasCommand: (name) => this.schemaValue === undefined || this.schemaValue.command(name) !== undefined,
    });
  }

  /** What is at the other end. */
  get kind(): EndpointKind {
    const k = this.options.kind;
    return k === undefined ? 'qemu' : typeof k === 'function' ? k() : k;
  }

  /** Why an `exec-oob` cell can never run here (the guest agent, libvirt), or undefined when it depends on the negotiation. */
  get oobNever(): string | undefined {
    return ENDPOINTS[this.kind].oobNever;
  }

  get schema(): Schema | undefined {
    return this.schemaValue;
  }

  /** The client, connecting when needed; live values follow the events of the client it returns. */
  async connectClient(): Promise<KernelClient> {
    const c = await this.options.client();
    this.attach(c);
    return c;
  }

  /**
   * The client of the connection now (a caller that connects by itself, like the session manager, says so at
   * once): live values start afresh for a new client, and follow its events.
   */
  attach(c: KernelClient, followEvents = true): void {
    if (c === this.current) return;
    this.eventSub?.dispose();
    this.eventSub = undefined;
    this.current = c;
    this.live.clear();
    // A caller that forwards the client's events itself notes them (before its own listeners hear them).
    if (followEvents) this.eventSub = c.onEvent((e) => this.live.noteEvent(e.event));
  }

  /** The connection ended: live values are forgotten until the next client. */
  detach(): void {
    this.eventSub?.dispose();
    this.eventSub = undefined;
    this.current = undefined;
    this.live.clear();
  }

  /** The engine's view of a client: the commands it sends make the live values they change stale. */
  private readonly ports = new WeakMap<KernelClient, EngineClient>();
  private port(c: KernelClient): EngineClient {
    let p = this.ports.get(c);
    if (!p) {
      const live = this.live;
      const note = (input: CommandInput): void => {
        const name = input.execute ?? input['exec-oob'];
        if (name !== undefined && live.cached) live.noteCommand(name);
      };
      p = {
        send: (input, o) => {
          note(input);
          return c.send(input, o);
        },
        onEvent: (l) => c.onEvent(l),
        eventCursor: () => c.eventCursor(),
        waitForEvent: (n, o) => c.waitForEvent(n, o),
      };
      // The reply's callback in the turn that read it (the engine's path to the next command), when the client has it.
      const sendThen = c.sendThen?.bind(c);
      if (sendThen) p.sendThen = (input, o, onReply, onError) => { note(input); sendThen(input, o, onReply, onError); };
      this.ports.set(c, p);
    }
    return p;
  }

  /** Uses a schema read elsewhere (a cache, a file, the session manager's fetch). */
  useSchema(schema: Schema | undefined): void {
    this.schemaValue = schema;
    this.current?.setSchema(schema);
  }

  /**
   * Reads the schema once per kernel (again after `reloadSchema`) and hands it to the client; a schema read
   * elsewhere for this connection (`useSchema`: the session manager's fetch after connecting) is used as is.
   */
  loadSchema(options: { signal?: AbortSignal } = {}): Promise<Schema> {
    if (this.schemaLoading === undefined && this.schemaValue !== undefined) return Promise.resolve(this.schemaValue);
    this.schemaLoading ??= (async () => {
      const client = await this.connectClient();
      const what = this.options.introspect && this.kind === 'guest-agent' ? 'guest-info' : 'query-qmp-schema';
      let infos: unknown;
      try {
        infos = this.options.introspect
          ? await this.options.introspect({ timeoutMs: SCHEMA_TIMEOUT_MS, ...(options.signal ? { signal: options.signal } : {}) })
          : await client.execute('query-qmp-schema', undefined, { timeoutMs: SCHEMA_TIMEOUT_MS, ...(options.signal ? { signal: options.signal } : {}) });
      } catch (err) {
        const why = options.signal?.aborted && options.signal.reason instanceof Error ? options.signal.reason.message : err instanceof Error ? err.message : String(err);
        throw new KernelSchemaError(`${what} failed: ${why}`);
      }
      if (!Array.isArray(infos)) throw new KernelSchemaError(`the reply of ${what} is not a query-qmp-schema reply (expected a JSON array)`);
      let schema: Schema;
      try {
        schema = Schema.fromIntrospection(infos as SchemaInfo[]);
      } catch (err) {
        if (err instanceof SchemaError) throw new KernelSchemaError(`the reply of ${what}: ${err.message}`);
        throw err;
      }
      this.useSchema(schema);
      return schema;
    })();
    this.schemaLoading.catch(() => { this.schemaLoading = undefined; });
    return this.schemaLoading;
  }

  /** Forgets the schema: the next loadSchema reads it again. */
  reloadSchema(): void {
    this.schemaLoading = undefined;
    this.schemaValue = undefined;
  }

  /** Runs a batch of cells on the connection's one engine (see RunEngine.run). */
  run(jobs: readonly CellJob[], sink: TranscriptSink, options?: BatchOptions): Promise<BatchResult> {
    return this.engine.run(jobs, sink, options);
  }

  dispose(): void {
    this.eventSub?.dispose();
    this.eventSub = undefined;
    this.engine.dispose();
    this.live.clear();
  }
}

/** A kernel on a connection it opened: closing it disconnects and stops the process it started. */
export class OpenKernel extends Kernel {
  constructor(readonly connection: OpenedConnection, engine?: Omit<EngineOptions, 'client'>) {
    super({
      client: () => connection.client,
      kind: connection.kind,
      ...(engine ? { engine } : {}),
      introspect: (o) => connection.introspect(o),
    });
  }

  /** The connected client (for doors that call it directly: `schema`, the language server). */
  get client(): QmpClient {
    return this.connection.client;
  }

  get endpoint(): Endpoint {
    return this.connection.endpoint;
  }

  /** The private directory of the process this kernel started, if any (volatile paths). */
  get dir(): string | undefined {
    return this.connection.dir;
  }

  describe(): string {
    return describeEndpoint(this.connection.endpoint);
  }

  /** After a lost connection: how the process this kernel started died. */
  describeLoss(): Promise<string | undefined> {
    return this.connection.describeLoss();
  }

  async close(): Promise<void> {
    this.dispose();
    await this.connection.close();
  }
}

export interface OpenKernelOptions extends OpenOptions {
  engine?: Omit<EngineOptions, 'client'>;
}

/** Opens any endpoint and makes its kernel. */
export async function openKernel(endpoint: Endpoint, options: OpenKernelOptions = {}): Promise<OpenKernel> {
  const { engine, ...open } = options;
  return new OpenKernel(await openEndpoint(endpoint, open), engine);
}
