// QmpClient: one QMP session, following QEMU's docs/interop/qmp-spec.rst and split the way QEMU's own
// Python library (python/qemu/qmp) is:
//   channel.ts  bytes or messages in and out, with their own lifecycle (a socket with JSON framing, a
//               process's stdio, a message-based passthrough); framing.ts holds the framing fast path.
//   dialect.ts  the handshake: QMP's greeting and capabilities negotiation, or none, or the guest agent's.
//   client.ts   (this file) the session: run state with an explicit transition table, ids, routing of
//               replies, the in-band window, out-of-band commands.
//   events.ts   events: bounded history, cursors, listeners, waits.
// Routing is in a fixed order (events, then replies by id, then a deliberate rule for what is left), and every
// message QEMU would never send ends the session with a ProtocolError rather than being guessed at.
import {
  CommandCancelledError, CommandTimeoutError, ConnectError, DisconnectedError, ExecuteError, GreetingTimeoutError,
  MalformedMessageError, NegotiationTimeoutError, OobRefusedError, ProtocolError, QueuedCommandTimeoutError,
  ServerParseError, StateError,
} from './errors';
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_MESSAGE_DEPTH } from './framing';
import { socketChannelOpener, type ChannelOpener, type QmpChannel } from './channel';
import { qmpDialect, type ConnectPhase, type HandshakeContext, type QmpDialect } from './dialect';
import { EventLog, type QmpEventRecord, type WaitForEventOptions } from './events';
import { DEFAULT_CONNECT_TIMEOUT_MS, formatAddress, type QmpAddress } from './transport';
import { canonicalJson, isObject, jsonNesting, OWN_ID_PREFIX, topLevelMemberText, type QmpGreeting } from './wire';

export type { QmpEventRecord, WaitForEventOptions } from './events';

export type QmpState = 'idle' | 'connecting' | 'running' | 'disconnecting';
export type QmpLogLevel = 'debug' | 'info' | 'warn' | 'error';
export type TraceDirection = '->' | '<-';

/**
 * The run states and the only transitions between them. A failed or cancelled connect goes back to idle;
 * a running session always passes through disconnecting (briefly, when the other side ended it).
 */
export const QMP_TRANSITIONS: Readonly<Record<QmpState, readonly QmpState[]>> = {
  idle: ['connecting'],
  connecting: ['running', 'idle'],
  running: ['disconnecting'],
  disconnecting: ['idle'],
};

/** The states in which each public call does its work; in any other it rejects with StateError. */
export const QMP_ACCEPTS = {
  connect: ['idle'],
  disconnect: ['idle', 'connecting', 'running', 'disconnecting'], // a no-op when idle
  send: ['running'],
  execute: ['running'],
  /** Outside running, only events already in the history can answer. */
  waitForEvent: ['running'],
} as const satisfies Record<string, readonly QmpState[]>;

export interface QmpClientOptions {
  /** Enable the `oob` capability when QEMU offers it. Default true. */
  enableOob?: boolean;
  /** Bound of the connect phase (opening the socket/channel). Default 5000 ms. */
  connectTimeoutMs?: number;
  /** Bound of the greeting phase (channel open → greeting). Default 4000 ms. */
  greetingTimeoutMs?: number;
  /** Bound of the negotiation phase (qmp_capabilities sent → reply). Default 4000 ms. */
  negotiationTimeoutMs?: number;
  /** Largest message accepted from QEMU; a larger one ends the session. Default 16 MiB. */
  maxMessageBytes?: number;
  /** Deepest nesting accepted from QEMU; a deeper message ends the session. Default 1024 (QEMU's own limit). */
  maxMessageDepth?: number;
  /** Most in-band commands outstanding on the wire; more wait in the client. Default 7 (QEMU stops reading at 8). */
  inBandWindow?: number;
  /** How many events eventHistory() keeps. Default 1000. */
  eventHistory?: number;
  /** How many bytes of raw event text eventHistory() keeps. Default 4 MiB. */
  eventHistoryBytes?: number;
  /** The handshake; default QMP's greeting and capabilities negotiation. */
  dialect?: QmpDialect;
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

export type { CommandInput, CommandReply } from './messages';
import type { CommandInput, CommandReply } from './messages';

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

/** The in-band queue as the client sees it (for a status bar: "QEMU has not answered N commands"). */
export interface InBandBacklog {
  /** In-band commands written and not answered yet (including ones whose caller gave up). */
  onWire: number;
  /** In-band commands waiting in the client because the window is full; none of them was sent. */
  queued: number;
  /** When the oldest unanswered in-band command was written (Date.now() ms), if any. */
  oldestSentAt: number | undefined;
}

export interface Disposable {
  dispose(): void;
}

export interface ConnectOptions {
  signal?: AbortSignal;
}

/** QEMU rejects input nested deeper than this (json-streamer.c MAX_NESTING) with an id-less error. */
const QEMU_MAX_NESTING = 1024;
/** Largest delay Node's timers honour; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Most messages a handshake may leave unread before it is a protocol error. */
const MAX_RAW_BACKLOG = 1000;

interface Pending {
  key: string;
  idText: string;
  command: string;
  oob: boolean;
  sent: string;
  /** queued: waiting for the window; wire: written; abandoned: written, caller gave up, reply still due. */
  where: 'queued' | 'wire' | 'abandoned';
  sentAt: number;
  resolve: (reply: CommandReply) => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout> | undefined;
  signal: AbortSignal | undefined;
  onAbort: (() => void) | undefined;
  onWritten: CommandOptions['onWritten'];
}

interface RawReader {
  queue: Array<{ text: string; value: unknown }>;
  waiter: { resolve: (m: { text: string; value: unknown }) => void; reject: (err: Error) => void } | undefined;
}

interface Session {
  description: string;
  channel: QmpChannel | undefined;
  /** Set while the handshake reads messages raw (before its first command). */
  raw: RawReader | undefined;
  /** The connect phase in progress (meaningful while connecting). */
  phase: ConnectPhase;
  /** Why the session ended, when it was not the client's own disconnect(). */
  endCause: Error | undefined;
  closed: Promise<void> | undefined;
}

export class QmpClient {
  private readonly opts: Required<Omit<QmpClientOptions, 'trace' | 'log' | 'dialect'>>;
  private readonly dialect: QmpDialect;
  private readonly traceFn: QmpClientOptions['trace'];
  private readonly logFn: QmpClientOptions['log'];

  private stateValue: QmpState = 'idle';
  private session: Session | undefined;
  private greetingValue: QmpGreeting | undefined;
  private oobEnabledValue = false;
  private schema: OobSchema | undefined;
  private connectAbort: AbortController | undefined;
  /** The channel close of the last session, while it is in progress. */
  private closing: Promise<void> | undefined;

  private idCounter = 0;
  /** Every command with an id that is reserved: queued, on the wire, or abandoned with its reply still due. */
  private readonly pending = new Map<string, Pending>();
  private readonly queue: Pending[] = [];
  private inBandOnWire = 0;
  /** The command an id-less error was last given to; further id-less errors before the next reply are its. */
  private idlessOwner: string | undefined;
  private idlessFollowUps = 0;

  private readonly events: EventLog;
  private readonly stateListeners = new Set<(s: QmpState) => void>();
  private readonly disconnectListeners = new Set<(err?: Error) => void>();
  private readonly backlogListeners = new Set<(b: InBandBacklog) => void>();

  constructor(options: QmpClientOptions = {}) {
    this.opts = {
      enableOob: options.enableOob ?? true,
      greetingTimeoutMs: options.greetingTimeoutMs ?? 4000,
      negotiationTimeoutMs: options.negotiationTimeoutMs ?? 4000,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      maxMessageDepth: options.maxMessageDepth ?? DEFAULT_MAX_MESSAGE_DEPTH,
      inBandWindow: Math.max(1, options.inBandWindow ?? 7),
      eventHistory: Math.max(0, options.eventHistory ?? 1000),
      eventHistoryBytes: Math.max(0, options.eventHistoryBytes ?? 4 * 1024 * 1024),
    };
    this.dialect = options.dialect ?? qmpDialect;
    this.traceFn = options.trace;
    this.logFn = options.log;
    this.events = new EventLog({ maxEvents: this.opts.eventHistory, maxBytes: this.opts.eventHistoryBytes },
      (err) => this.listenerThrew(err));
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
   * The client is idle again when it runs, so a listener may reconnect.
   */
  onDisconnect(listener: (err?: Error) => void): Disposable {
    this.disconnectListeners.add(listener);
    return { dispose: () => this.disconnectListeners.delete(listener) };
  }

  /** Called whenever the in-band queue in the client grows or shrinks (the window is full). */
  onBacklogChange(listener: (backlog: InBandBacklog) => void): Disposable {
    this.backlogListeners.add(listener);
    return { dispose: () => this.backlogListeners.delete(listener) };
  }

  /** Enables the allow-oob check before sending (`undefined` turns it off). */
  setSchema(schema: OobSchema | undefined): void {
    this.schema = schema;
  }

  /** How many in-band commands QEMU has not answered, how many wait in the client, and since when. */
  inBandBacklog(): InBandBacklog {
    let oldest: number | undefined;
    for (const p of this.pending.values()) {
      if (!p.oob && p.where !== 'queued' && (oldest === undefined || p.sentAt < oldest)) oldest = p.sentAt;
    }
    return { onWire: this.inBandOnWire, queued: this.queue.length, oldestSentAt: oldest };
  }

  private transition(to: QmpState): void {
    const from = this.stateValue;
    if (from === to) return;
    if (!QMP_TRANSITIONS[from].includes(to)) throw new Error(`QmpClient: internal error, no transition ${from} → ${to}`);
    this.stateValue = to;
    for (const l of [...this.stateListeners]) this.safeCall(() => l(to));
  }

  private requireState(call: keyof typeof QMP_ACCEPTS, what: string): StateError | undefined {
    const ok = QMP_ACCEPTS[call] as readonly QmpState[];
    if (ok.includes(this.stateValue)) return undefined;
    return new StateError(`${what} needs state ${ok.join(' or ')}, not ${this.stateValue}`);
  }

  // ---- connect / disconnect ----------------------------------------------------------------------------

  /**
   * Opens the channel (a socket for an address, or what `target` opens), runs the dialect's handshake (for
   * QMP: checks the greeting and negotiates capabilities, enabling `oob` when offered and enableOob is set).
   * Accepts state 'idle' only (else StateError). Every phase is bounded (connectTimeoutMs, greetingTimeoutMs,
   * negotiationTimeoutMs). Rejects with ConnectError (its `phase` says where: socket refused/timed out,
   * cancelled, negotiation refused, EOF during the handshake), GreetingTimeoutError, NegotiationTimeoutError,
   * or a ProtocolError (BadGreetingError, …); every failure returns the client to 'idle'.
   */
  async connect(target: QmpAddress | ChannelOpener, options: ConnectOptions = {}): Promise<void> {
    const refused = this.requireState('connect', 'connect()');
    if (refused) throw refused;
    this.transition('connecting');
    const abort = new AbortController();
    this.connectAbort = abort;
    const signal = options.signal ? AbortSignal.any([options.signal, abort.signal]) : abort.signal;
    const opener = typeof target === 'function' ? target : socketChannelOpener(target);
    const session: Session = {
      description: typeof target === 'function' ? 'the channel' : formatAddress(target),
      channel: undefined, raw: { queue: [], waiter: undefined }, phase: 'connect', endCause: undefined, closed: undefined,
    };
    this.session = session;
    this.greetingValue = undefined;
    try {
      const channel = await this.openChannel(opener, session, signal);
      if (this.session !== session || signal.aborted) {
        void channel.close().catch(() => undefined);
        throw this.cancelled(session, signal);
      }
      session.channel = channel;
      session.description = channel.description;
      channel.start({
        message: (text, value) => this.onMessage(session, text, value),
        ended: (err) => this.onChannelEnded(session, err),
      });
      const result = await this.dialect.handshake(this.handshakeContext(session, signal));
      if (this.session !== session) throw session.endCause ?? this.cancelled(session, signal);
      session.raw = undefined;
      this.greetingValue = result.greeting;
      this.oobEnabledValue = result.oob;
      this.transition('running');
      this.log('info', `Connected to ${session.description} (${this.describeVersion()}, oob ${this.oobEnabledValue ? 'on' : 'off'})`);
    } catch (err) {
      // Roll back to idle unless disconnect() or the channel's end already did.
      if (this.session === session) this.teardown(session, undefined, false);
      throw this.connectFailure(session, signal, err);
    } finally {
      if (this.connectAbort === abort) this.connectAbort = undefined;
    }
  }

  /** The connect phase: the opener, bounded by connectTimeoutMs even if the opener ignores its own timeout. */
  private openChannel(opener: ChannelOpener, session: Session, signal: AbortSignal): Promise<QmpChannel> {
    const timeoutMs = this.opts.connectTimeoutMs;
    return new Promise<QmpChannel>((resolve, reject) => {
      let settled = false;
      const stop = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        reject(err);
      };
      const onAbort = (): void => stop(this.cancelled(session, signal));
      const timer = setTimeout(() => stop(new ConnectError(
        `Connecting to ${session.description} timed out after ${timeoutMs} ms (connect phase)`, { phase: 'connect' })),
      clampTimer(timeoutMs));
      signal.addEventListener('abort', onAbort, { once: true });
      let opening: Promise<QmpChannel>;
      try {
        opening = opener({ timeoutMs, signal, maxMessageBytes: this.opts.maxMessageBytes, maxMessageDepth: this.opts.maxMessageDepth });
      } catch (err) {
        opening = Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      opening.then((channel) => {
        if (settled) { void channel.close().catch(() => undefined); return; }
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        resolve(channel);
      }, (err: unknown) => stop(err instanceof Error ? err : new Error(String(err))));
    });
  }

  private cancelled(session: Session, signal: AbortSignal): ConnectError {
    return new ConnectError(`Connecting to ${session.description} was cancelled (${session.phase} phase)`,
      { cause: signal.reason, phase: session.phase });
  }

  /** The error connect() rejects with, given what went wrong. */
  private connectFailure(session: Session, signal: AbortSignal, err: unknown): Error {
    if (err instanceof ConnectError || err instanceof ProtocolError) return err;
    const cause = session.endCause;
    if (cause instanceof ProtocolError) return cause;
    if (signal.aborted) return this.cancelled(session, signal);
    if (cause instanceof DisconnectedError) {
      const when = session.phase === 'greeting' ? 'before sending a greeting' : `during the ${session.phase} phase`;
      return new ConnectError(`${session.description} closed the connection ${when} (${cause.message})`,
        { cause, phase: session.phase });
    }
    const why = err instanceof Error ? err.message : String(err);
    return new ConnectError(`Connecting to ${session.description} failed during the ${session.phase} phase: ${why}`,
      { cause: err, phase: session.phase });
  }

  private handshakeContext(session: Session, signal: AbortSignal): HandshakeContext {
    return {
      description: session.description,
      enableOob: this.opts.enableOob,
      nextMessage: (phase) => this.nextRaw(session, phase, signal),
      sendRaw: (text) => {
        if (this.session !== session) return;
        this.trace('->', text);
        session.channel?.send(text);
      },
      command: async (input, phase) => {
        if (this.session !== session) throw session.endCause ?? this.cancelled(session, signal);
        session.phase = phase;
        if (session.raw && session.raw.queue.length > 0) {
          this.log('warn', `Dropped ${session.raw.queue.length} unread message(s) before the handshake's first command`);
        }
        session.raw = undefined;
        const ms = this.phaseBound(phase);
        try {
          return await this.dispatch(input, { timeoutMs: ms, signal });
        } catch (err) {
          if (err instanceof CommandTimeoutError) throw this.phaseTimeout(session, phase, ms);
          throw err;
        }
      },
    };
  }

  private phaseBound(phase: ConnectPhase): number {
    return phase === 'greeting' ? this.opts.greetingTimeoutMs
      : phase === 'negotiation' ? this.opts.negotiationTimeoutMs : this.opts.connectTimeoutMs;
  }

  private phaseTimeout(session: Session, phase: ConnectPhase, ms: number): ConnectError {
    if (phase === 'greeting') return new GreetingTimeoutError(session.description, ms);
    if (phase === 'negotiation') return new NegotiationTimeoutError(session.description, ms);
    return new ConnectError(`Connecting to ${session.description} timed out after ${ms} ms (connect phase)`, { phase });
  }

  private nextRaw(session: Session, phase: ConnectPhase, signal: AbortSignal): Promise<{ text: string; value: unknown }> {
    if (this.session !== session) return Promise.reject(session.endCause ?? this.cancelled(session, signal));
    session.phase = phase;
    const raw = session.raw ??= { queue: [], waiter: undefined };
    const ready = raw.queue.shift();
    if (ready) return Promise.resolve(ready);
    if (raw.waiter) return Promise.reject(new Error('nextMessage() called again before the previous one settled'));
    const ms = this.phaseBound(phase);
    return new Promise((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        raw.waiter = undefined;
      };
      const onAbort = (): void => { done(); reject(this.cancelled(session, signal)); };
      const timer = setTimeout(() => { done(); reject(this.phaseTimeout(session, phase, ms)); }, clampTimer(ms));
      signal.addEventListener('abort', onAbort, { once: true });
      raw.waiter = {
        resolve: (m) => { done(); resolve(m); },
        reject: (e) => { done(); reject(e); },
      };
    });
  }

  /**
   * Ends the session: every queued and in-flight command is rejected at once with DisconnectedError and
   * onDisconnect listeners run. Cancels a connect() in progress. Resolves when the channel is closed
   * (bounded: a channel that does not close within connectTimeoutMs is left behind).
   */
  async disconnect(): Promise<void> {
    const session = this.session;
    if (this.stateValue === 'disconnecting' || !session) {
      await this.bounded(this.closing);
      return;
    }
    if (this.stateValue === 'connecting') {
      this.connectAbort?.abort(new Error('disconnect() called'));
      if (this.session === session) this.teardown(session, undefined, false);
    } else if (this.stateValue === 'running') {
      this.teardown(session, undefined, true);
    }
    await this.bounded(session.closed);
    if (this.session === undefined && (this.stateValue as QmpState) === 'disconnecting') this.transition('idle');
  }

  private bounded(p: Promise<void> | undefined): Promise<void> {
    if (!p) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, clampTimer(this.opts.connectTimeoutMs));
      timer.unref?.();
      p.then(() => { clearTimeout(timer); resolve(); }, () => { clearTimeout(timer); resolve(); });
    });
  }

  /** The channel ended by itself (EOF, reset, framing error). */
  private onChannelEnded(session: Session, err: Error): void {
    if (this.session !== session) return;
    if (err instanceof ProtocolError) this.log('error', err.message);
    this.teardown(session, err, true);
  }

  /** Ends the session because the server sent something a client cannot accept. */
  private failProtocol(session: Session, err: ProtocolError): void {
    this.log('error', err.message);
    this.teardown(session, err, true);
  }

  /**
   * Tears the session down: rejects everything outstanding, closes the channel and returns to 'idle'
   * (through 'disconnecting' when it was running). `cause` is the reason given to onDisconnect listeners
   * (undefined after disconnect()). After disconnect() the state stays 'disconnecting' until the channel closed.
   */
  private teardown(session: Session, cause: Error | undefined, notify: boolean): void {
    if (this.session !== session) return;
    session.endCause ??= cause;
    const wasRunning = this.stateValue === 'running';
    if (wasRunning) this.transition('disconnecting');
    this.session = undefined;
    this.oobEnabledValue = false;
    this.idlessOwner = undefined;
    const channel = session.channel;
    session.closed = channel ? channel.close().catch(() => undefined) : undefined;
    this.closing = session.closed;
    const rawWaiter = session.raw?.waiter;
    session.raw = undefined;
    rawWaiter?.reject(cause ?? new DisconnectedError('Disconnected by the client'));

    const err = cause instanceof DisconnectedError
      ? cause
      : new DisconnectedError(cause ? `The QMP session ended: ${cause.message}` : 'Disconnected by the client', { cause });
    const pending = [...this.pending.values()];
    const hadQueue = this.queue.length > 0;
    this.pending.clear();
    this.queue.length = 0;
    this.inBandOnWire = 0;
    for (const p of pending) {
      if (p.where === 'abandoned') continue;
      this.clearPendingHooks(p);
      p.reject(new DisconnectedError(`${p.command}: ${err.message}`, { sent: p.sent, cause: err.cause ?? cause }));
    }
    this.events.failWaiters(err.message, err.cause ?? cause);
    if (hadQueue) this.backlogChanged();
    if (wasRunning && cause) {
      // The other side ended it: nothing is left to wait for.
      this.transition('idle');
    } else if (wasRunning) {
      void this.bounded(session.closed).then(() => { if (this.session === undefined && this.stateValue === 'disconnecting') this.transition('idle'); });
    } else {
      this.transition('idle');
    }
    if (notify && wasRunning) {
      if (cause) this.log('warn', `Session ended: ${cause.message}`);
      for (const l of [...this.disconnectListeners]) this.safeCall(() => l(cause));
    }
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
   * Sends a command and resolves with QEMU's reply, success or error alike. Accepts state 'running' only.
   * Rejects, before anything is sent, with StateError (not running), TypeError (neither or both of
   * execute/exec-oob, an idText that is not JSON, uses the reserved prefix or is already in flight),
   * RangeError (nested deeper than QEMU accepts) or OobRefusedError (OOB not negotiated, or the schema says
   * the command has no allow-oob); later with CommandTimeoutError (QueuedCommandTimeoutError when it was
   * never sent because QEMU had not answered the earlier in-band commands), CommandCancelledError or
   * DisconnectedError. In-band commands beyond inBandWindow wait in the client (see inBandBacklog());
   * out-of-band commands are written at once. Cancelling a queued command removes it without sending.
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
    else if (input.arguments !== undefined) {
      let args: string;
      try {
        args = JSON.stringify(input.arguments);
      } catch (err) {
        if (err instanceof RangeError) {
          throw new RangeError(`${name}: the command is nested deeper than QEMU accepts (${QEMU_MAX_NESTING} levels)`);
        }
        throw err;
      }
      sent += ',"arguments":' + args;
    }
    sent += ',"id":' + idText + '}';
    if (sent.length > 2 * QEMU_MAX_NESTING && jsonNesting(sent).max > QEMU_MAX_NESTING) {
      throw new RangeError(`${name}: the command is nested deeper than QEMU accepts (${QEMU_MAX_NESTING} levels)`);
    }

    const signal = options.signal;
    if (signal?.aborted) {
      return Promise.reject(new CommandCancelledError(`${name}: cancelled before it was sent`, { sent, cause: signal.reason }));
    }
    return new Promise<CommandReply>((resolve, reject) => {
      const p: Pending = {
        key, idText, command: name, oob, sent, where: 'queued', sentAt: 0, resolve, reject,
        timer: undefined, signal, onAbort: undefined, onWritten: options.onWritten,
      };
      this.pending.set(key, p);
      if (options.timeoutMs !== undefined) {
        const ms = options.timeoutMs;
        p.timer = setTimeout(() => this.giveUp(p, p.where === 'queued'
          ? new QueuedCommandTimeoutError(name, ms, this.inBandOnWire, this.oldestAge(), { sent })
          : new CommandTimeoutError(name, ms, { sent })), clampTimer(ms));
      }
      if (signal) {
        p.onAbort = () => this.giveUp(p, new CommandCancelledError(`${name}: cancelled`, { sent, cause: signal.reason }));
        signal.addEventListener('abort', p.onAbort, { once: true });
      }
      if (oob || this.inBandOnWire < this.opts.inBandWindow) {
        this.write(p);
      } else {
        this.queue.push(p);
        this.backlogChanged();
      }
    });
  }

  private checkOob(name: string): void {
    // A dialect property, not a subclass: the guest agent and libvirt never run OOB commands.
    if (this.dialect.oobNever !== undefined) throw new OobRefusedError(name, this.dialect.oobNever);
    if (!this.oobEnabledValue) {
      const offered = this.greetingValue?.QMP.capabilities.includes('oob') ?? false;
      throw new OobRefusedError(name, offered
        ? 'out-of-band execution was not negotiated (enableOob is false)'
        : 'this QEMU does not offer the oob capability');
    }
    const def = this.schema?.command(name);
    if (def && !def.allowOob) throw new OobRefusedError(name, 'its schema does not have allow-oob');
  }


  private oldestAge(): number | undefined {
    const oldest = this.inBandBacklog().oldestSentAt;
    return oldest === undefined ? undefined : Date.now() - oldest;
  }

  private backlogChanged(): void {
    if (this.backlogListeners.size === 0) return;
    const b = this.inBandBacklog();
    for (const l of [...this.backlogListeners]) this.safeCall(() => l(b));
  }

  private write(p: Pending): void {
    const channel = this.session?.channel;
    if (!channel) return;
    p.where = 'wire';
    p.sentAt = Date.now();
    if (!p.oob) this.inBandOnWire++;
    this.trace('->', p.sent);
    // No delimiter: QEMU's streaming lexer ends a command at its closing brace, and each extra byte costs
    // round-trip time because QEMU reads one byte per recvmsg().
    channel.send(p.sent);
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
      this.backlogChanged();
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
        const channel = this.session?.channel;
        channel?.cork?.();
        while (this.queue.length > 0 && this.inBandOnWire < this.opts.inBandWindow) {
          this.write(this.queue.shift() as Pending);
        }
        channel?.uncork?.();
        this.backlogChanged();
      }
    }
  }

  // ---- receiving ---------------------------------------------------------------------------------------

  private onMessage(session: Session, text: string, msg: unknown): void {
    if (this.session !== session) return;
    this.trace('<-', text);
    const raw = session.raw;
    if (raw) {
      // The handshake reads raw (e.g. the greeting): nothing is routed.
      if (raw.waiter) raw.waiter.resolve({ text, value: msg });
      else if (raw.queue.length < MAX_RAW_BACKLOG) raw.queue.push({ text, value: msg });
      else this.failProtocol(session, new MalformedMessageError(`${session.description} sent ${MAX_RAW_BACKLOG} messages during the handshake without being asked`, { received: text.slice(0, 2000) }));
      return;
    }
    if (!isObject(msg)) {
      this.failProtocol(session, new MalformedMessageError('The server sent a message that is not a JSON object', { received: clip(text) }));
      return;
    }
    // Routing order: events first, then replies by id, then the id-less rule. Anything QEMU would never
    // send (see docs/protocol.md, "Routing") ends the session: a client cannot know what it meant.
    const event = msg['event'];
    const hasReturn = 'return' in msg;
    const hasError = 'error' in msg;
    if (event !== undefined) {
      if (typeof event !== 'string') {
        this.failProtocol(session, new MalformedMessageError('The server sent an event whose name is not a string', { received: clip(text) }));
      } else if (hasReturn || hasError || 'id' in msg) {
        this.failProtocol(session, new MalformedMessageError('The server sent a message that is both an event and a reply', { received: clip(text) }));
      } else {
        this.events.add(text, msg);
      }
      return;
    }
    if (hasReturn === hasError) {
      this.failProtocol(session, new MalformedMessageError(hasReturn
        ? 'The server sent a reply with both "return" and "error"'
        : 'The server sent a message that is neither a reply nor an event', { received: clip(text) }));
      return;
    }
    if (hasError && !isErrorObject(msg['error'])) {
      this.failProtocol(session, new MalformedMessageError(
        'The server sent an "error" that is not an object with string "class" and "desc"', { received: clip(text) }));
      return;
    }
    if (!('id' in msg)) {
      this.onIdless(session, text, msg, hasError);
      return;
    }
    const key = replyKey(text, msg['id']);
    const p = key === undefined ? undefined : this.pending.get(key);
    this.idlessOwner = undefined;
    if (!p) {
      // qmp-spec: "Clients should drop all the responses that have an unknown id field."
      this.log('warn', `Dropped a reply with unknown id ${key ?? '(unreadable)'}: ${clip(text)}`);
      return;
    }
    if (p.where === 'queued') {
      // QEMU cannot answer what it was never sent: to the server this id is unknown.
      this.log('warn', `Dropped a reply for ${p.command} that has not been sent yet: ${clip(text)}`);
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
   * A reply without id. The client always sends ids, so QEMU only does this for input it could not parse
   * (an `error`): given to the command that caused it when exactly one is on the wire, otherwise it cannot be
   * matched and ends the session (ServerParseError), as QEMU's own Python client does. A `return` without id
   * is never QEMU's answer to this client and ends the session too.
   */
  private onIdless(session: Session, text: string, msg: Record<string, unknown>, isError: boolean): void {
    if (!isError) {
      this.failProtocol(session, new MalformedMessageError(
        'The server sent a successful reply without id, but every command of this client has one', { received: clip(text) }));
      return;
    }
    if (this.idlessOwner !== undefined) {
      // One bad input can produce an error per stray token (over a thousand for deep nesting); only the
      // first follow-up is worth a warning.
      this.idlessFollowUps++;
      this.log(this.idlessFollowUps === 1 ? 'warn' : 'debug',
        `Another id-less error after the one given to ${this.idlessOwner} (QEMU resyncing): ${clip(text)}`);
      return;
    }
    let onWire = 0;
    let owner: Pending | undefined;
    for (const p of this.pending.values()) {
      if (p.where !== 'queued') { onWire++; owner = p; }
    }
    if (onWire === 0 || !owner) {
      this.log('error', `QEMU reported an error without id while no command was outstanding: ${clip(text)}`);
      return;
    }
    if (onWire === 1) {
      const abandoned = owner.where === 'abandoned';
      this.idlessOwner = owner.command;
      this.idlessFollowUps = 0;
      this.retire(owner);
      this.log('warn', `QEMU could not parse ${owner.command} (error without id): ${clip(text)}`);
      if (!abandoned) owner.resolve(toReply(owner, text, msg));
      return;
    }
    this.failProtocol(session, new ServerParseError(
      `QEMU reported a parse error without id while ${onWire} commands were outstanding, so it cannot be ` +
      `matched to one; the session was closed: ${clip(text)}`, { received: clip(text) }));
  }

  // ---- events ------------------------------------------------------------------------------------------

  onEvent(listener: (event: QmpEventRecord) => void): Disposable {
    return this.events.onEvent(listener);
  }

  /** The events kept so far (at most eventHistory events and eventHistoryBytes bytes), oldest first. */
  eventHistory(): QmpEventRecord[] {
    return this.events.history();
  }

  /** The seq of the last event seen (0 before any); pass it as `after` to waitForEvent. */
  eventCursor(): number {
    return this.events.cursor();
  }

  /**
   * Resolves with the first event after the cursor that matches. History is searched first, so an event
   * that arrived between eventCursor() and this call (e.g. before the reply of the command that caused it)
   * is not missed. Rejects with EventsDroppedError (events after the cursor fell out of the bounded
   * history), EventTimeoutError, CommandCancelledError (signal), DisconnectedError (session ended while
   * waiting) or StateError (not running and nothing in history).
   */
  waitForEvent(predicate: (event: QmpEventRecord) => boolean, options: WaitForEventOptions): Promise<QmpEventRecord> {
    return this.events.wait(predicate, options,
      () => this.requireState('waitForEvent', 'Waiting for an event'));
  }

  // ---- helpers -----------------------------------------------------------------------------------------

  private describeVersion(): string {
    const v = this.version;
    return v ? `QEMU ${v.major}.${v.minor}.${v.micro}` : `dialect ${this.dialect.name}`;
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
      this.listenerThrew(err);
    }
  }

  private listenerThrew(err: unknown): void {
    if (this.logFn) {
      try { this.logFn('error', `A listener threw: ${err instanceof Error ? err.message : String(err)}`); } catch { /* nothing left to tell */ }
    }
  }
}

function clampTimer(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}

function clip(text: string): string {
  return text.length > 2000 ? text.slice(0, 2000) + '…' : text;
}

function isErrorObject(e: unknown): boolean {
  return isObject(e) && typeof e['class'] === 'string' && typeof e['desc'] === 'string';
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


