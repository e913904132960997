// The protocol base: the lifecycle of one session, below the QMP layer (`client.ts`), the way QEMU's Python
// library puts AsyncProtocol (protocol.py) below QMPClient (qmp_client.py). It owns the run state and its
// transition table, the table of which public call works in which state (every public call of the client
// consults it through `guard()`), connecting (the channel's connect phase, then the handshake with its own
// bounded phases, reading messages raw), disconnecting, what a lost channel means, and the listeners of state
// and disconnects. It knows nothing of ids, replies, the in-band window or events: those are the QMP layer's,
// which fills in the hooks (`handshake`, `started`, `route`, `ended`, `handshakeCommand`).
import {
  CommandTimeoutError, ConnectError, DisconnectedError, GreetingTimeoutError, MalformedMessageError,
  NegotiationTimeoutError, ProtocolError, StateError,
} from './errors';
import { DEFAULT_MAX_MESSAGE_BYTES, DEFAULT_MAX_MESSAGE_DEPTH } from './framing';
import { socketChannelOpener, type ChannelOpener, type QmpChannel } from './channel';
import type { ConnectPhase, HandshakeContext, HandshakeResult } from './dialect';
import type { CommandInput, CommandReply } from './messages';
import { DEFAULT_CONNECT_TIMEOUT_MS, formatAddress, type QmpAddress } from './transport';

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

const ANY_STATE = ['idle', 'connecting', 'running', 'disconnecting'] as const;

/**
 * The one table of the states in which each public call of the client does its work; in any other it
 * rejects (or throws) StateError and changes nothing. Every public method consults it through `guard()`;
 * test/unit/qmp-transitions.test.ts has a test for every (state, call) pair.
 */
export const QMP_ACCEPTS = {
  connect: ['idle'],
  /** Idle: a no-op. Connecting: cancels the connect. Disconnecting: waits for the same close. */
  disconnect: ANY_STATE,
  send: ['running'],
  sendThen: ['running'],
  execute: ['running'],
  /** Outside running, only events already in the history can answer (the guard is asked only then). */
  waitForEvent: ['running'],
  onStateChange: ANY_STATE,
  onDisconnect: ANY_STATE,
  onBacklogChange: ANY_STATE,
  onEvent: ANY_STATE,
  setSchema: ANY_STATE,
  inBandBacklog: ANY_STATE,
  eventHistory: ANY_STATE,
  eventCursor: ANY_STATE,
} as const satisfies Record<string, readonly QmpState[]>;

export type QmpCall = keyof typeof QMP_ACCEPTS;

/** The options of the protocol base (QmpClientOptions adds the QMP layer's). */
export interface QmpProtocolOptions {
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
  /** Whether the caller wants out-of-band execution when the server offers it (the handshake decides). */
  enableOob?: boolean;
  /** Called with every message sent ('->') and received ('<-') as text, ids included. */
  trace?: (dir: TraceDirection, text: string) => void;
  log?: (level: QmpLogLevel, message: string) => void;
}

export interface Disposable {
  dispose(): void;
}

export interface ConnectOptions {
  signal?: AbortSignal;
}

/** Largest delay Node's timers honour; a longer one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** Most messages a handshake may leave unread before it is a protocol error. */
const MAX_RAW_BACKLOG = 1000;

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

export abstract class QmpProtocol {
  protected readonly lifecycle: Required<Omit<QmpProtocolOptions, 'trace' | 'log'>>;
  private readonly traceFn: QmpProtocolOptions['trace'];
  private readonly logFn: QmpProtocolOptions['log'];

  private stateValue: QmpState = 'idle';
  private session: Session | undefined;
  private connectAbort: AbortController | undefined;
  /** The channel close of the last session, while it is in progress. */
  private closing: Promise<void> | undefined;
  private readonly stateListeners = new Set<(s: QmpState) => void>();
  private readonly disconnectListeners = new Set<(err?: Error) => void>();

  constructor(options: QmpProtocolOptions) {
    this.lifecycle = {
      enableOob: options.enableOob ?? true,
      greetingTimeoutMs: options.greetingTimeoutMs ?? 4000,
      negotiationTimeoutMs: options.negotiationTimeoutMs ?? 4000,
      connectTimeoutMs: options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES,
      maxMessageDepth: options.maxMessageDepth ?? DEFAULT_MAX_MESSAGE_DEPTH,
    };
    this.traceFn = options.trace;
    this.logFn = options.log;
  }

  // ---- the hooks the QMP layer fills in ----------------------------------------------------------------

  /** The handshake (the dialect's): greeting, negotiation. Rejecting fails connect(). */
  protected abstract handshake(ctx: HandshakeContext): Promise<HandshakeResult>;
  /** The handshake succeeded and the session is about to run. */
  protected abstract started(result: HandshakeResult): void;
  /** A message of the running session (or of the handshake after its first command). */
  protected abstract route(text: string, value: unknown): void;
  /** The session ended: fail everything outstanding with `err`. Runs before the state leaves 'running'. */
  protected abstract ended(err: DisconnectedError, cause: Error | undefined): void;
  /** A command of the handshake, with the session's ids and routing, bypassing the state guard. */
  protected abstract handshakeCommand(input: CommandInput, options: { timeoutMs: number; signal: AbortSignal }): Promise<CommandReply>;
  /** What connected, for the log ("QEMU 7.2.0"). */
  protected abstract describePeer(): string;

  // ---- state and the call guard ------------------------------------------------------------------------

  get state(): QmpState {
    return this.stateValue;
  }

  /** The StateError `call` gets in the current state, or undefined when the table accepts it. */
  protected refusal(call: QmpCall): StateError | undefined {
    const ok = QMP_ACCEPTS[call] as readonly QmpState[];
    if (ok.includes(this.stateValue)) return undefined;
    return new StateError(`${call}() needs state ${ok.join(' or ')}, not ${this.stateValue}${call === 'connect' ? '' : '; connect first'}`);
  }

  /** Throws the StateError of `call` when the table does not accept it in the current state. */
  protected guard(call: QmpCall): void {
    const refused = this.refusal(call);
    if (refused) throw refused;
  }

  onStateChange(listener: (state: QmpState) => void): Disposable {
    this.guard('onStateChange');
    this.stateListeners.add(listener);
    return { dispose: () => this.stateListeners.delete(listener) };
  }

  /**
   * Called once when a running session ends: with no argument after disconnect(), with the reason
   * (DisconnectedError for EOF or a socket error, a ProtocolError when QEMU sent something unreadable) otherwise.
   * The client is idle again when it runs, so a listener may reconnect.
   */
  onDisconnect(listener: (err?: Error) => void): Disposable {
    this.guard('onDisconnect');
    this.disconnectListeners.add(listener);
    return { dispose: () => this.disconnectListeners.delete(listener) };
  }

  private transition(to: QmpState): void {
    const from = this.stateValue;
    if (from === to) return;
    if (!QMP_TRANSITIONS[from].includes(to)) throw new Error(`QmpClient: internal error, no transition ${from} → ${to}`);
    this.stateValue = to;
    for (const l of [...this.stateListeners]) this.safeCall(() => l(to));
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
    this.guard('connect');
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
      const result = await this.handshake(this.handshakeContext(session, signal));
      if (this.session !== session) throw session.endCause ?? this.cancelled(session, signal);
      session.raw = undefined;
      this.started(result);
      this.transition('running');
      this.log('info', `Connected to ${session.description} (${this.describePeer()}, oob ${result.oob ? 'on' : 'off'})`);
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
    const timeoutMs = this.lifecycle.connectTimeoutMs;
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
        opening = opener({ timeoutMs, signal, maxMessageBytes: this.lifecycle.maxMessageBytes, maxMessageDepth: this.lifecycle.maxMessageDepth });
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
      enableOob: this.lifecycle.enableOob,
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
          return await this.handshakeCommand(input, { timeoutMs: ms, signal });
        } catch (err) {
          if (err instanceof CommandTimeoutError) throw this.phaseTimeout(session, phase, ms);
          throw err;
        }
      },
    };
  }

  private phaseBound(phase: ConnectPhase): number {
    return phase === 'greeting' ? this.lifecycle.greetingTimeoutMs
      : phase === 'negotiation' ? this.lifecycle.negotiationTimeoutMs : this.lifecycle.connectTimeoutMs;
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
   * (bounded: a channel that does not close within connectTimeoutMs is left behind). Idle: a no-op.
   */
  async disconnect(): Promise<void> {
    this.guard('disconnect');
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
      const timer = setTimeout(resolve, clampTimer(this.lifecycle.connectTimeoutMs));
      timer.unref?.();
      p.then(() => { clearTimeout(timer); resolve(); }, () => { clearTimeout(timer); resolve(); });
    });
  }

  // ---- the channel -------------------------------------------------------------------------------------

  private onMessage(session: Session, text: string, value: unknown): void {
    if (this.session !== session) return;
    this.trace('<-', text);
    const raw = session.raw;
    if (!raw) {
      this.route(text, value);
      return;
    }
    // The handshake reads raw (e.g. the greeting): nothing is routed.
    if (raw.waiter) raw.waiter.resolve({ text, value });
    else if (raw.queue.length < MAX_RAW_BACKLOG) raw.queue.push({ text, value });
    else this.failProtocol(new MalformedMessageError(`${session.description} sent ${MAX_RAW_BACKLOG} messages during the handshake without being asked`, { received: text.slice(0, 2000) }));
  }

  /** Writes one message of the current session (nothing when there is none). */
  protected writeMessage(text: string): boolean {
    const channel = this.session?.channel;
    if (!channel) return false;
    this.trace('->', text);
    channel.send(text);
    return true;
  }

  /** Runs `fn` with the channel's writes batched into one (a socket's cork/uncork). */
  protected batched(fn: () => void): void {
    const channel = this.session?.channel;
    channel?.cork?.();
    try {
      fn();
    } finally {
      channel?.uncork?.();
    }
  }

  /** The channel ended by itself (EOF, reset, framing error). */
  private onChannelEnded(session: Session, err: Error): void {
    if (this.session !== session) return;
    if (err instanceof ProtocolError) this.log('error', err.message);
    this.teardown(session, err, true);
  }

  /** Ends the current session because the server sent something a client cannot accept. */
  protected failProtocol(err: ProtocolError): void {
    const session = this.session;
    if (!session) return;
    this.log('error', err.message);
    this.teardown(session, err, true);
  }

  /**
   * Tears the session down: the QMP layer fails everything outstanding, the channel closes and the state
   * returns to 'idle' (through 'disconnecting' when it was running). `cause` is the reason given to
   * onDisconnect listeners (undefined after disconnect()). After disconnect() the state stays 'disconnecting'
   * until the channel closed.
   */
  private teardown(session: Session, cause: Error | undefined, notify: boolean): void {
    if (this.session !== session) return;
    session.endCause ??= cause;
    const wasRunning = this.stateValue === 'running';
    if (wasRunning) this.transition('disconnecting');
    this.session = undefined;
    const channel = session.channel;
    session.closed = channel ? channel.close().catch(() => undefined) : undefined;
    this.closing = session.closed;
    const rawWaiter = session.raw?.waiter;
    session.raw = undefined;
    rawWaiter?.reject(cause ?? new DisconnectedError('Disconnected by the client'));

    const err = cause instanceof DisconnectedError
      ? cause
      : new DisconnectedError(cause ? `The QMP session ended: ${cause.message}` : 'Disconnected by the client', { cause });
    try {
      this.ended(err, cause);
    } catch (e) {
      this.listenerThrew(e);
    }
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

  // ---- helpers -----------------------------------------------------------------------------------------

  protected trace(dir: TraceDirection, text: string): void {
    if (this.traceFn) this.safeCall(() => this.traceFn?.(dir, text));
  }

  protected log(level: QmpLogLevel, message: string): void {
    if (this.logFn) this.safeCall(() => this.logFn?.(level, message));
  }

  /** Listener errors must not break routing or teardown; they are logged instead. */
  protected safeCall(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.listenerThrew(err);
    }
  }

  protected listenerThrew(err: unknown): void {
    if (this.logFn) {
      try { this.logFn('error', `A listener threw: ${err instanceof Error ? err.message : String(err)}`); } catch { /* nothing left to tell */ }
    }
  }
}

export function clampTimer(ms: number): number {
  return Math.min(Math.max(0, ms), MAX_TIMER_MS);
}
