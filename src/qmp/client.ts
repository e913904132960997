// QmpClient: one QMP session over a unix or TCP socket, following QEMU's docs/interop/qmp-spec.rst.
// The design follows QEMU's own Python client (python/qemu/qmp): an explicit run state, a greeting check,
// capabilities negotiation, client-made string ids with a reserved prefix, and routing in a fixed order
// (events, then replies by id, then a deliberate rule for what is left). On top of that it keeps QEMU's
// in-band queue below the depth at which QEMU stops reading the socket, so out-of-band commands stay usable.
import type net from 'node:net';
import {
  BadGreetingError, CommandCancelledError, CommandTimeoutError, ConnectError, DisconnectedError,
  EventTimeoutError, ExecuteError, GreetingTimeoutError, MalformedMessageError, OobRefusedError, ProtocolError,
  ServerParseError, StateError,
} from './errors';
import { DEFAULT_MAX_MESSAGE_BYTES, JsonObjectReader } from './framing';
import { connectSocket, DEFAULT_CONNECT_TIMEOUT_MS, formatAddress, type QmpAddress } from './transport';
import { canonicalJson, isGreeting, isObject, OWN_ID_PREFIX, topLevelMemberText, type QmpGreeting } from './wire';

export type QmpState = 'idle' | 'connecting' | 'running' | 'disconnecting';
export type QmpLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type TraceDirection = '->' | '<-';

export interface QmpClientOptions {
  /** Enable the `oob` capability when QEMU offers it. Default true. */
  enableOob?: boolean;
  /** How long to wait for the greeting after the socket opened. Default 4000 ms. */
  greetingTimeoutMs?: number;
  /** How long the socket connect may take. Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Largest message accepted from QEMU; a larger one ends the session. Default 16 MiB. */
  maxMessageBytes?: number;
  /** Most in-band commands outstanding on the wire; more wait in the client. Default 7 (QEMU stops reading at 8). */
  inBandWindow?: number;
  /** How many events eventHistory() keeps. Default 1000. */
  eventHistory?: number;
  /** Called with every message sent ('->') and received ('<-') as text, ids included. */
  trace?: (dir: TraceDirection, text: string) => void;
  log?: (level: QmpLogLevel, message: string) => void;
}

export interface QmpVersion {
  major: number;
  minor: number;
  micro: number;
  package: string;
}

/** What the allow-oob check needs from a schema; `Schema` from './schema' satisfies it. */
export interface OobSchema {
  command(name: string): { allowOob: boolean } | undefined;
}

/**
 * A command in the general form notebooks and the CLI use. Exactly one of `execute`, `exec-oob`.
 * `control: {'run-oob': true}` is the 2018 draft spelling of out-of-band and is sent as `exec-oob`.
 * `idText` is the caller's own id as raw JSON text; it is sent and given back exactly as written.
 */
export interface CommandInput {
  execute?: string;
  'exec-oob'?: string;
  arguments?: object;
  control?: { 'run-oob'?: boolean };
  idText?: string;
  /**
   * The arguments as compact JSON text of an object, sent instead of `JSON.stringify(arguments)` so that
   * literals JavaScript cannot hold exactly (integers beyond 2^53) reach QEMU as the author wrote them. The
   * notebook format produces it from the parsed source; it must be one JSON object with no comments.
   */
  argumentsText?: string;
}

export type CommandReply =
  | { idText: string; ok: true; value: unknown; raw: string; sent: string }
  | { idText: string; ok: false; error: { class: string; desc: string }; raw: string; sent: string };

export interface CommandOptions {
  /** Give up after this long (counted from the call, including time queued in the client). */
  timeoutMs?: number;
  signal?: AbortSignal;
  /**
   * Called once when the command is written to the socket (at once, or later when the in-band window has
   * room), with the exact text and id; never for a command that times out or is cancelled while queued.
   */
  onWritten?: (written: { sent: string; idText: string }) => void;
}

export interface QmpEventRecord {
  /** 1, 2, 3… for the lifetime of the client (across reconnects). */
  seq: number;
  event: string;
  data?: object;
  timestamp: { seconds: number; microseconds: number };
  raw: string;
}

export interface WaitForEventOptions {
  /** Only events with a seq greater than this cursor count; default: the current cursor (future events). */
  after?: number;
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface Disposable {
  dispose(): void;
}

export interface ConnectOptions {
  signal?: AbortSignal;
}

/** QEMU rejects input nested deeper than this (json-streamer.c MAX_NESTING) with an id-less error. */
const QEMU_MAX_NESTING = 1024;

interface Pending {
  key: string;
  idText: string;
  command: string;
  oob: boolean;
  sent: string;
  /** queued: waiting for the window; wire: written; abandoned: written, caller gave up, reply still due. */
  where: 'queued' | 'wire' | 'abandoned';
  resolve: (reply: CommandReply) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  onWritten: CommandOptions['onWritten'];
}

interface EventWaiter {
  predicate: (e: QmpEventRecord) => boolean;
  resolve: (e: QmpEventRecord) => void;
  reject: (err: Error) => void;
  cleanup: () => void;
}

interface Session {
  socket: net.Socket;
  reader: JsonObjectReader;
  address: string;
  greetingWaiter?: { resolve: (g: QmpGreeting, raw: string) => void; reject: (err: Error) => void };
  greeted: boolean;
  /** Why the session is ending, when it was not the client's own disconnect(). */
  endCause?: Error;
  closed: Promise<void>;
}

export class QmpClient {
  private readonly opts: Required<Omit<QmpClientOptions, 'trace' | 'log'>>;
  private readonly traceFn: QmpClientOptions['trace'];
  private readonly logFn: QmpClientOptions['log'];

  private stateValue: QmpState = 'idle';
  private session: Session | undefined;
  private greetingValue: QmpGreeting | undefined;
  private oobEnabledValue = false;
  private schema: OobSchema | undefined;
  private connectAbort: AbortController | undefined;

  private idCounter = 0;
  /** Every command with an id that is reserved: queued, on the wire, or abandoned with its reply still due. */
  private readonly pending = new Map<string, Pending>();
  private readonly queue: Pending[] = [];
  private inBandOnWire = 0;
  /** The command an id-less error was last given to; further id-less errors before the next reply are its. */
  private idlessOwner: string | undefined;
  private idlessFollowUps = 0;

  private seq = 0;
  private readonly history: QmpEventRecord[] = [];
  private readonly eventListeners = new Set<(e: QmpEventRecord) => void>();
  private readonly waiters = new Set<EventWaiter>();
  private readonly stateListeners = new Set<(s: QmpState) => void>();
  private readonly disconnectListeners = new Set<(err?: Error) => void>();

  constructor(options: QmpClientOptions = {}) {
    this.opts = {
      enableOob: options.enableOob ?? true,
      greetingTimeoutMs: options.greetingTimeoutMs ?? 4000,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      inBandWindow: Math.max(1, options.inBandWindow ?? 7),
      eventHistory: Math.max(0, options.eventHistory ?? 1000),
    };
    this.traceFn = options.trace;
    this.logFn = options.log;
  }

  // ---- state -------------------------------------------------------------------------------------------

  get state(): QmpState {
    return this.stateValue;
  }

  /** The greeting of the current (or last) session. */
  get greeting(): QmpGreeting | undefined {
    return this.greetingValue;
  }

  get version(): QmpVersion | undefined {
    const v = this.greetingValue?.QMP.version;
    return v ? { major: v.qemu.major, minor: v.qemu.minor, micro: v.qemu.micro, package: v.package } : undefined;
  }

  /** True when this session negotiated the `oob` capability. */
  get oobEnabled(): boolean {
    return this.oobEnabledValue;
  }

  onStateChange(listener: (state: QmpState) => void): Disposable {
    this.stateListeners.add(listener);
    return { dispose: () => this.stateListeners.delete(listener) };
  }

  /**
   * Called once when a running session ends: with no argument after disconnect(), with the reason
   * (DisconnectedError for EOF or a socket error, a ProtocolError when QEMU sent something unreadable) otherwise.
   */
  onDisconnect(listener: (err?: Error) => void): Disposable {
    this.disconnectListeners.add(listener);
    return { dispose: () => this.disconnectListeners.delete(listener) };
  }

  /** Enables the allow-oob check before sending (`undefined` turns it off). */
  setSchema(schema: OobSchema | undefined): void {
    this.schema = schema;
  }

  private setState(state: QmpState): void {
    if (this.stateValue === state) return;
    this.stateValue = state;
    for (const l of [...this.stateListeners]) this.safeCall(() => l(state));
  }

  // ---- connect / disconnect ----------------------------------------------------------------------------

  /**
   * Opens the socket, checks the greeting and negotiates capabilities (enabling `oob` when offered and
   * enableOob is set). Needs state 'idle' (else StateError). Rejects with ConnectError (socket, timeout,
   * cancelled, negotiation refused), GreetingTimeoutError (no greeting: monitor probably busy) or
   * BadGreetingError; every failure returns the client to 'idle'.
   */
  async connect(address: QmpAddress, options: ConnectOptions = {}): Promise<void> {
    if (this.stateValue !== 'idle') throw new StateError(`connect() needs state idle, not ${this.stateValue}`);
    this.setState('connecting');
    const abort = new AbortController();
    this.connectAbort = abort;
    const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
    const where = formatAddress(address);
    try {
      const socket = await connectSocket(address, { timeoutMs: this.opts.connectTimeoutMs, signal });
      if (signal.aborted) {
        socket.destroy();
        throw new ConnectError(`Connecting to ${where} was cancelled`, { cause: signal.reason });
      }
      const session = this.attach(socket, where);
      const greeting = await this.waitForGreeting(session, signal);
      this.greetingValue = greeting;
      const offered = greeting.QMP.capabilities.includes('oob');
      const enable = offered && this.opts.enableOob ? ['oob'] : [];
      const reply = await this.dispatch(
        { execute: 'qmp_capabilities', ...(enable.length ? { arguments: { enable } } : {}) }, { signal });
      if (!reply.ok) {
        throw new ConnectError(`Capabilities negotiation with ${where} failed: ${reply.error.class}: ${reply.error.desc}`,
          { sent: reply.sent, received: reply.raw });
      }
      this.oobEnabledValue = enable.length > 0;
      this.setState('running');
      this.log('info', `Connected to ${where} (QEMU ${this.describeVersion()}, oob ${this.oobEnabledValue ? 'on' : 'off'})`);
    } catch (err) {
      // Roll back to idle unless disconnect() already did (and a new connect() may have begun since).
      if (this.connectAbort === abort) this.endSession(undefined, false);
      if (err instanceof ConnectError || err instanceof ProtocolError) throw err;
      if (signal.aborted) throw new ConnectError(`Connecting to ${where} was cancelled`, { cause: signal.reason });
      const why = err instanceof Error ? err.message : String(err);
      throw new ConnectError(`Connecting to ${where} failed during the handshake: ${why}`, { cause: err });
    } finally {
      if (this.connectAbort === abort) this.connectAbort = undefined;
    }
  }

  /**
   * Ends the session: every queued and in-flight command is rejected at once with DisconnectedError and
   * onDisconnect listeners run. Cancels a connect() in progress. Resolves when the socket is closed.
   */
  async disconnect(): Promise<void> {
    if (this.stateValue === 'idle') return;
    if (this.stateValue === 'connecting') {
      this.connectAbort?.abort(new Error('disconnect() called'));
      const s = this.session;
      if (s) { this.endSession(undefined, false); await s.closed; }
      return;
    }
    const s = this.session;
    if (this.stateValue === 'disconnecting') { await s?.closed; return; }
    this.setState('disconnecting');
    this.endSession(undefined, true);
    await s?.closed;
  }

  private attach(socket: net.Socket, address: string): Session {
    let closedResolve!: () => void;
    const closed = new Promise<void>((r) => { closedResolve = r; });
    const session: Session = {
      socket, address, greeted: false, closed,
      reader: new JsonObjectReader({ maxMessageBytes: this.opts.maxMessageBytes }),
    };
    this.session = session;
    socket.on('data', (chunk: Buffer) => { if (this.session === session) this.onData(session, chunk); });
    socket.on('error', (err) => {
      if (this.session === session && !session.endCause) {
        session.endCause = new DisconnectedError(`Connection to ${address} failed: ${err.message}`, { cause: err });
      }
    });
    socket.on('close', () => {
      closedResolve();
      if (this.session === session) {
        const cause = session.endCause ?? new DisconnectedError(`QEMU closed the connection (${address})`);
        this.endSession(cause, true);
      }
    });
    return session;
  }

  private waitForGreeting(session: Session, signal: AbortSignal): Promise<QmpGreeting> {
    return new Promise<QmpGreeting>((resolve, reject) => {
      const timeoutMs = this.opts.greetingTimeoutMs;
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        session.greetingWaiter = undefined;
      };
      const onAbort = (): void => {
        done();
        reject(new ConnectError(`Connecting to ${session.address} was cancelled`, { cause: signal.reason }));
      };
      const timer = setTimeout(() => {
        done();
        reject(new GreetingTimeoutError(session.address, timeoutMs));
      }, timeoutMs);
      signal.addEventListener('abort', onAbort, { once: true });
      session.greetingWaiter = {
        resolve: (g) => { done(); resolve(g); },
        reject: (e) => { done(); reject(e); },
      };
    });
  }

  /**
   * Tears the session down: rejects everything outstanding, resets the reader, closes the socket and
   * returns to 'idle'. `cause` is the reason given to onDisconnect listeners (undefined after disconnect());
   * `notify` is false for a failed connect, which never was a running session.
   */
  private endSession(cause: Error | undefined, notify: boolean): void {
    const session = this.session;
    const wasRunning = this.stateValue === 'running' || this.stateValue === 'disconnecting';
    this.session = undefined;
    this.oobEnabledValue = false;
    this.idlessOwner = undefined;
    if (session) {
      session.reader.reset();
      session.socket.destroy();
      session.greetingWaiter?.reject(new ConnectError(
        `${session.address} closed the connection before sending a greeting`, { cause }));
    }
    const err = cause instanceof DisconnectedError
      ? cause
      : new DisconnectedError(cause ? `The QMP session ended: ${cause.message}` : 'Disconnected by the client',
        { cause });
    const pending = [...this.pending.values()];
    this.pending.clear();
    this.queue.length = 0;
    this.inBandOnWire = 0;
    for (const p of pending) {
      if (p.where === 'abandoned') continue;
      this.clearPendingHooks(p);
      p.reject(new DisconnectedError(`${p.command}: ${err.message}`, { sent: p.sent, cause: err.cause ?? cause }));
    }
    for (const w of [...this.waiters]) {
      this.waiters.delete(w);
      w.cleanup();
      w.reject(new DisconnectedError(`Waiting for an event: ${err.message}`, { cause: err.cause ?? cause }));
    }
    this.setState('idle');
    if (notify && wasRunning) {
      if (cause) this.log('warn', `Session ended: ${cause.message}`);
      for (const l of [...this.disconnectListeners]) this.safeCall(() => l(cause));
    }
  }

  /** Ends the session because QEMU sent something a client cannot accept. */
  private failProtocol(session: Session, err: ProtocolError): void {
    this.log('error', err.message);
    if (session.greetingWaiter) {
      session.greetingWaiter.reject(err);
    }
    session.endCause = err;
    this.endSession(err, true);
  }

  // ---- commands ----------------------------------------------------------------------------------------

  /**
   * Runs a command and resolves with its `return` value. QEMU's error replies reject with ExecuteError
   * (errorClass, desc, command, sent, received); see send() for every other rejection.
   */
  async execute(name: string, args?: object, options?: CommandOptions): Promise<unknown> {
    const reply = await this.send(args === undefined ? { execute: name } : { execute: name, arguments: args }, options);
    if (!reply.ok) {
      throw new ExecuteError(name, reply.error.class, reply.error.desc, { sent: reply.sent, received: reply.raw });
    }
    return reply.value;
  }

  /**
   * Sends a command and resolves with QEMU's reply, success or error alike. Rejects, before anything is
   * sent, with StateError (not running), TypeError (neither or both of execute/exec-oob, an idText that is
   * not JSON, uses the reserved prefix or is already in flight), RangeError (nested deeper than QEMU
   * accepts) or OobRefusedError (OOB not negotiated, or the schema says the command has no allow-oob);
   * later with CommandTimeoutError, CommandCancelledError or DisconnectedError.
   * In-band commands beyond inBandWindow wait in the client; out-of-band commands are written at once.
   */
  send(input: CommandInput, options: CommandOptions = {}): Promise<CommandReply> {
    if (this.stateValue !== 'running') {
      return Promise.reject(new StateError(`Cannot send a command while ${this.stateValue}; connect first`));
    }
    try {
      return this.dispatch(input, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** send() without the state check, so that connect() can negotiate. Throws synchronously on bad input. */
  private dispatch(input: CommandInput, options: CommandOptions): Promise<CommandReply> {
    const hasExecute = typeof input.execute === 'string';
    const hasOob = typeof input['exec-oob'] === 'string';
    if (hasExecute === hasOob) {
      throw new TypeError('A command needs exactly one of "execute" and "exec-oob"');
    }
    const name = (hasOob ? input['exec-oob'] : input.execute) as string;
    const oob = hasOob || input.control?.['run-oob'] === true;
    if (oob) this.checkOob(name);

    let idText: string;
    let key: string;
    if (input.idText !== undefined) {
      idText = input.idText;
      try {
        key = canonicalJson(idText);
      } catch (err) {
        throw new TypeError(`The id ${idText} is not a JSON value: ${(err as Error).message}`);
      }
      if (key.startsWith('"' + OWN_ID_PREFIX)) {
        throw new TypeError(`Ids starting with "${OWN_ID_PREFIX}" are reserved for the client's own commands`);
      }
      if (this.pending.has(key)) {
        throw new TypeError(`The id ${idText} is already in flight; wait for its reply or use another id`);
      }
    } else {
      key = idText = JSON.stringify(OWN_ID_PREFIX + String(++this.idCounter));
    }

    let sent = (oob ? '{"exec-oob":' : '{"execute":') + JSON.stringify(name);
    if (input.argumentsText !== undefined) sent += ',"arguments":' + input.argumentsText;
    else if (input.arguments !== undefined) sent += ',"arguments":' + JSON.stringify(input.arguments);
    sent += ',"id":' + idText + '}';
    if (sent.length > 2 * QEMU_MAX_NESTING && nestingDepth(sent) > QEMU_MAX_NESTING) {
      throw new RangeError(`${name}: the command is nested deeper than QEMU accepts (${QEMU_MAX_NESTING} levels)`);
    }

    const signal = options.signal;
    if (signal?.aborted) {
      return Promise.reject(new CommandCancelledError(`${name}: cancelled before it was sent`, { sent, cause: signal.reason }));
    }
    return new Promise<CommandReply>((resolve, reject) => {
      const p: Pending = {
        key, idText, command: name, oob, sent, where: 'queued', resolve, reject,
        timer: undefined, signal, onAbort: undefined, onWritten: options.onWritten,
      };
      this.pending.set(key, p);
      if (options.timeoutMs !== undefined) {
        const ms = options.timeoutMs;
        p.timer = setTimeout(() => this.giveUp(p, new CommandTimeoutError(name, ms, { sent })), ms);
      }
      if (signal) {
        p.onAbort = () => this.giveUp(p, new CommandCancelledError(`${name}: cancelled`, { sent, cause: signal.reason }));
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      if (oob || this.inBandOnWire < this.opts.inBandWindow) this.write(p);
      else this.queue.push(p);
    });
  }

  private checkOob(name: string): void {
    if (!this.oobEnabledValue) {
      const offered = this.greetingValue?.QMP.capabilities.includes('oob') ?? false;
      throw new OobRefusedError(name, offered
        ? 'out-of-band execution was not negotiated (enableOob is false)'
        : 'this QEMU does not offer the oob capability');
    }
    const def = this.schema?.command(name);
    if (def && !def.allowOob) throw new OobRefusedError(name, 'its schema does not have allow-oob');
  }

  private write(p: Pending): void {
    const session = this.session;
    if (!session) return;
    p.where = 'wire';
    if (!p.oob) this.inBandOnWire++;
    this.trace('->', p.sent);
    // No delimiter: QEMU's streaming lexer ends a command at its closing brace, and each extra byte costs
    // round-trip time because QEMU reads one byte per recvmsg().
    session.socket.write(p.sent);
    const onWritten = p.onWritten;
    if (onWritten) this.safeCall(() => onWritten({ sent: p.sent, idText: p.idText }));
  }

  /** Timeout or abort: a queued command is forgotten; a written one keeps its id until its reply comes. */
  private giveUp(p: Pending, err: Error): void {
    if (this.pending.get(p.key) !== p || p.where === 'abandoned') return;
    this.clearPendingHooks(p);
    if (p.where === 'queued') {
      this.pending.delete(p.key);
      const i = this.queue.indexOf(p);
      if (i >= 0) this.queue.splice(i, 1);
    } else {
      p.where = 'abandoned';
    }
    p.reject(err);
  }

  private clearPendingHooks(p: Pending): void {
    if (p.timer) clearTimeout(p.timer);
    if (p.onAbort) p.signal?.removeEventListener('abort', p.onAbort);
    p.timer = undefined;
    p.onAbort = undefined;
  }

  /** Removes a command whose reply has come and lets queued in-band commands onto the wire. */
  private retire(p: Pending): void {
    this.pending.delete(p.key);
    this.clearPendingHooks(p);
    if (!p.oob) {
      this.inBandOnWire--;
      if (this.queue.length > 0 && this.inBandOnWire < this.opts.inBandWindow) {
        const socket = this.session?.socket;
        socket?.cork();
        while (this.queue.length > 0 && this.inBandOnWire < this.opts.inBandWindow) {
          this.write(this.queue.shift() as Pending);
        }
        socket?.uncork();
      }
    }
  }

  // ---- receiving ---------------------------------------------------------------------------------------

  private onData(session: Session, chunk: Buffer): void {
    // Fast path: QEMU's compact output is one `{…}\r\n` per message, often several per read when commands
    // are pipelined. While no object is partly read, each line that starts with `{` and that JSON.parse
    // accepts is exactly one message, so the byte scan is only needed from the first line that is not
    // (a pretty-printed object, or a message cut by the read); the rest goes to the streaming reader.
    let from = 0;
    if (session.reader.idle) {
      const n = chunk.length;
      while (from < n && chunk[from] === 0x7b) {
        const nl = chunk.indexOf(0x0a, from);
        if (nl < 0 || nl - from > this.opts.maxMessageBytes) break;
        const end = chunk[nl - 1] === 0x0d ? nl - 1 : nl;
        if (chunk[end - 1] !== 0x7d) break;
        const text = chunk.toString('utf8', from, end);
        let value: unknown;
        try { value = JSON.parse(text); } catch { break; }
        this.onMessage(session, text, value);
        if (this.session !== session) return;
        from = nl + 1;
      }
      if (from >= n) return;
    }
    if (from > 0) chunk = chunk.subarray(from);
    let texts: string[];
    try {
      texts = session.reader.push(chunk);
    } catch (err) {
      this.failProtocol(session, err instanceof ProtocolError ? err : new MalformedMessageError(String(err)));
      return;
    }
    for (const text of texts) {
      if (this.session !== session) return;
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (err) {
        this.trace('<-', text);
        this.failProtocol(session, new MalformedMessageError(`QEMU sent invalid JSON: ${(err as Error).message}`, { received: text }));
        return;
      }
      this.onMessage(session, text, value);
    }
  }

  private onMessage(session: Session, text: string, msg: unknown): void {
    this.trace('<-', text);
    if (!isObject(msg)) {
      this.failProtocol(session, new MalformedMessageError('QEMU sent a message that is not a JSON object', { received: text }));
      return;
    }
    if (!session.greeted) {
      if (!isGreeting(msg)) {
        this.failProtocol(session, new BadGreetingError('The first message was not a QMP greeting', { received: text }));
        return;
      }
      session.greeted = true;
      session.greetingWaiter?.resolve(msg, text);
      return;
    }
    // Routing order: events first, then replies by id, then the id-less rule.
    if (typeof msg['event'] === 'string') {
      this.handleEvent(text, msg);
      return;
    }
    const isReturn = 'return' in msg;
    const isError = !isReturn && isObject(msg['error']);
    if (!isReturn && !isError) {
      this.log('warn', `Dropped a message that is neither event nor reply: ${text}`);
      return;
    }
    if (!('id' in msg)) {
      this.onIdless(session, text, msg, isError);
      return;
    }
    const key = replyKey(text, msg['id']);
    const p = key === undefined ? undefined : this.pending.get(key);
    this.idlessOwner = undefined;
    if (!p) {
      this.log('warn', `Dropped a reply with unknown id ${key ?? '(unreadable)'}: ${text}`);
      return;
    }
    if (p.where === 'queued') {
      // QEMU cannot answer what it was never sent; treat it as an unknown id.
      this.log('warn', `Dropped a reply for ${p.command} that has not been sent yet: ${text}`);
      return;
    }
    const abandoned = p.where === 'abandoned';
    this.retire(p);
    if (abandoned) {
      this.log('debug', `Dropped the late reply of cancelled ${p.command} (id ${p.idText})`);
      return;
    }
    p.resolve(toReply(p, text, msg));
  }

  /**
   * An error without id is QEMU's answer to input it could not parse as a command. The client only writes
   * well-formed JSON (and refuses nesting QEMU rejects), so this is rare; it is given to the command that
   * caused it when exactly one is on the wire, and otherwise cannot be matched and ends the session.
   */
  private onIdless(session: Session, text: string, msg: Record<string, unknown>, isError: boolean): void {
    if (!isError) {
      this.log('warn', `Dropped a reply without id (the client always sends ids): ${text}`);
      return;
    }
    if (this.idlessOwner !== undefined) {
      // One bad input can produce an error per stray token (over a thousand for deep nesting); only the
      // first follow-up is worth a warning.
      this.idlessFollowUps++;
      this.log(this.idlessFollowUps === 1 ? 'warn' : 'debug',
        `Another id-less error after the one given to ${this.idlessOwner} (QEMU resyncing): ${text}`);
      return;
    }
    const onWire = [...this.pending.values()].filter((p) => p.where !== 'queued');
    if (onWire.length === 0) {
      this.log('error', `QEMU reported an error without id while no command was outstanding: ${text}`);
      return;
    }
    if (onWire.length === 1) {
      const p = onWire[0] as Pending;
      const abandoned = p.where === 'abandoned';
      this.idlessOwner = p.command;
      this.idlessFollowUps = 0;
      this.retire(p);
      this.log('warn', `QEMU could not parse ${p.command} (error without id): ${text}`);
      if (!abandoned) p.resolve(toReply(p, text, msg));
      return;
    }
    this.failProtocol(session, new ServerParseError(
      `QEMU reported a parse error without id while ${onWire.length} commands were outstanding, so it cannot be ` +
      `matched to one; the session was closed: ${text}`, { received: text }));
  }

  // ---- events ------------------------------------------------------------------------------------------

  private handleEvent(text: string, msg: Record<string, unknown>): void {
    const ts = isObject(msg['timestamp']) ? msg['timestamp'] : {};
    const record: QmpEventRecord = {
      seq: ++this.seq,
      event: msg['event'] as string,
      timestamp: {
        seconds: typeof ts['seconds'] === 'number' ? ts['seconds'] : 0,
        microseconds: typeof ts['microseconds'] === 'number' ? ts['microseconds'] : 0,
      },
      raw: text,
    };
    if (isObject(msg['data'])) record.data = msg['data'];
    if (this.opts.eventHistory > 0) {
      this.history.push(record);
      if (this.history.length > this.opts.eventHistory) this.history.shift();
    }
    for (const l of [...this.eventListeners]) this.safeCall(() => l(record));
    for (const w of [...this.waiters]) {
      let match: boolean;
      try {
        match = w.predicate(record);
      } catch (err) {
        this.waiters.delete(w);
        w.cleanup();
        w.reject(err instanceof Error ? err : new Error(String(err)));
        continue;
      }
      if (match) {
        this.waiters.delete(w);
        w.cleanup();
        w.resolve(record);
      }
    }
  }

  onEvent(listener: (event: QmpEventRecord) => void): Disposable {
    this.eventListeners.add(listener);
    return { dispose: () => this.eventListeners.delete(listener) };
  }

  /** The events kept so far (at most eventHistory), oldest first. */
  eventHistory(): QmpEventRecord[] {
    return [...this.history];
  }

  /** The seq of the last event seen (0 before any); pass it as `after` to waitForEvent. */
  eventCursor(): number {
    return this.seq;
  }

  /**
   * Resolves with the first event after the cursor that matches. History is searched first, so an event
   * that arrived between eventCursor() and this call (e.g. before the reply of the command that caused it)
   * is not missed. Rejects with EventTimeoutError, CommandCancelledError (signal), DisconnectedError
   * (session ended while waiting) or StateError (not running and nothing in history).
   */
  waitForEvent(predicate: (event: QmpEventRecord) => boolean, options: WaitForEventOptions): Promise<QmpEventRecord> {
    const after = options.after ?? this.seq;
    for (const r of this.history) {
      if (r.seq > after && predicate(r)) return Promise.resolve(r);
    }
    if (this.stateValue !== 'running') {
      return Promise.reject(new StateError(`Cannot wait for an event while ${this.stateValue}`));
    }
    const signal = options.signal;
    if (signal?.aborted) return Promise.reject(new CommandCancelledError('Waiting for an event was cancelled', { cause: signal.reason }));
    return new Promise<QmpEventRecord>((resolve, reject) => {
      const onAbort = (): void => {
        this.waiters.delete(waiter);
        waiter.cleanup();
        reject(new CommandCancelledError('Waiting for an event was cancelled', { cause: signal?.reason }));
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        waiter.cleanup();
        reject(new EventTimeoutError(options.timeoutMs));
      }, options.timeoutMs);
      const waiter: EventWaiter = {
        predicate, resolve, reject,
        cleanup: () => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort); },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
    });
  }

  // ---- helpers -----------------------------------------------------------------------------------------

  private describeVersion(): string {
    const v = this.version;
    return v ? `${v.major}.${v.minor}.${v.micro}` : 'unknown';
  }

  private trace(dir: TraceDirection, text: string): void {
    if (this.traceFn) this.safeCall(() => this.traceFn?.(dir, text));
  }

  private log(level: QmpLogLevel, message: string): void {
    if (this.logFn) this.safeCall(() => this.logFn?.(level, message));
  }

  /** Listener errors must not break routing; they are logged instead. */
  private safeCall(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      if (this.logFn) {
        try { this.logFn('error', `A listener threw: ${err instanceof Error ? err.message : String(err)}`); } catch { /* nothing left to tell */ }
      }
    }
  }
}

/**
 * The canonical key of a reply's id. Strings and safe integers, the common cases, come straight from
 * JSON.parse; anything else is read from the raw text so that large integers keep every digit.
 */
function replyKey(text: string, id: unknown): string | undefined {
  if (typeof id === 'string') return JSON.stringify(id);
  if (typeof id === 'number' && Number.isSafeInteger(id)) return String(id);
  if (typeof id === 'boolean' || id === null) return String(id);
  const raw = topLevelMemberText(text, 'id');
  if (raw === undefined) return undefined;
  try {
    return canonicalJson(raw);
  } catch {
    return undefined;
  }
}

function toReply(p: Pending, raw: string, msg: Record<string, unknown>): CommandReply {
  if ('return' in msg) return { idText: p.idText, ok: true, value: msg['return'], raw, sent: p.sent };
  const e = isObject(msg['error']) ? msg['error'] : {};
  return {
    idText: p.idText, ok: false, raw, sent: p.sent,
    error: { class: typeof e['class'] === 'string' ? e['class'] : 'GenericError', desc: typeof e['desc'] === 'string' ? e['desc'] : '' },
  };
}

/** Deepest object/array nesting of a JSON text (strings skipped). */
function nestingDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) { if (++depth > max) max = depth; }
    else if (c === 0x7d || c === 0x5d) depth--;
  }
  return max;
}

