// QmpClient: one QMP session, following QEMU's docs/interop/qmp-spec.rst and split the way QEMU's own
// Python library (python/qemu/qmp) is:
//   channel.ts   bytes or messages in and out, with their own lifecycle (a socket with JSON framing, a
//                process's stdio, a message-based passthrough); framing.ts holds the framing fast path.
//   protocol.ts  the protocol base (AsyncProtocol's part): run state and its transition table, the table of
//                which public call works in which state, connecting with bounded phases, the handshake's raw
//                reading, disconnecting and what a lost channel means.
//   dialect.ts   the handshake: QMP's greeting and capabilities negotiation, or none, or the guest agent's.
//   client.ts    (this file) the QMP layer on top (QMPClient's part): ids, routing of replies, the in-band
//                window, out-of-band commands; it fills in the base's hooks.
//   events.ts    events: bounded history, cursors, listeners, waits.
// Routing is in a fixed order (events, then replies by id, then a deliberate rule for what is left), and every
// message QEMU would never send ends the session with a ProtocolError rather than being guessed at.
import {
  CommandCancelledError, CommandTimeoutError, DisconnectedError, ExecuteError, MalformedMessageError,
  OobRefusedError, QueuedCommandTimeoutError, ServerParseError,
} from './errors';
import { qmpDialect, type HandshakeContext, type HandshakeResult, type QmpDialect } from './dialect';
import { EventLog, type QmpEventRecord, type WaitForEventOptions } from './events';
import { clampTimer, QmpProtocol, type Disposable, type QmpProtocolOptions } from './protocol';
import { canonicalJson, isObject, jsonNesting, OWN_ID_PREFIX, plainAscii, topLevelMemberText, type QmpGreeting } from './wire';

export type { QmpEventRecord, WaitForEventOptions } from './events';
export {
  QMP_ACCEPTS, QMP_TRANSITIONS, QmpProtocol, type ConnectOptions, type Disposable, type QmpCall, type QmpLogLevel,
  type QmpProtocolOptions, type QmpState, type TraceDirection,
} from './protocol';

export interface QmpClientOptions extends QmpProtocolOptions {
  /** Enable the `oob` capability when QEMU offers it. Default true. */
  enableOob?: boolean;
  /** Most in-band commands outstanding on the wire; more wait in the client. Default 7 (QEMU stops reading at 8). */
  inBandWindow?: number;
  /** How many events eventHistory() keeps. Default 1000. */
  eventHistory?: number;
  /** How many bytes of raw event text eventHistory() keeps. Default 4 MiB. */
  eventHistoryBytes?: number;
  /** The handshake; default QMP's greeting and capabilities negotiation. */
  dialect?: QmpDialect;
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

/** QEMU rejects input nested deeper than this (json-streamer.c MAX_NESTING) with an id-less error. */
const QEMU_MAX_NESTING = 1024;

/** A checked command: its id (and the key it is routed by), name and exact text. */
interface Prepared {
  key: string;
  idText: string;
  name: string;
  oob: boolean;
  sent: string;
}

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

export class QmpClient extends QmpProtocol {
  private readonly window: number;
  private readonly dialect: QmpDialect;

  private greetingValue: QmpGreeting | undefined;
  private oobEnabledValue = false;
  private schema: OobSchema | undefined;

  private idCounter = 0;
  /** The last command name sent and its JSON text (quotedName()). */
  private lastName = '';
  private lastQuoted = '""';
  /** Every command with an id that is reserved: queued, on the wire, or abandoned with its reply still due. */
  private readonly pending = new Map<string, Pending>();
  private readonly queue: Pending[] = [];
  /**
   * The timers of answered commands, cleared after the next command is written, or when the session ends. One
   * that fires before finds its command answered and does nothing (giveUp). Why: Node keeps one timer list per
   * duration; clearing the only timer of a list tears the list down and the next setTimeout builds it again,
   * so clearing the answered command's timer after the next one is set keeps both off the path from a reply to
   * the next command. At most one per command answered since the last send.
   */
  private spentTimers: Array<ReturnType<typeof setTimeout>> = [];
  private inBandOnWire = 0;
  /** The command an id-less error was last given to; further id-less errors before the next reply are its. */
  private idlessOwner: string | undefined;
  private idlessFollowUps = 0;

  private readonly events: EventLog;
  private readonly backlogListeners = new Set<(b: InBandBacklog) => void>();

  constructor(options: QmpClientOptions = {}) {
    super(options);
    this.window = Math.max(1, options.inBandWindow ?? 7);
    this.dialect = options.dialect ?? qmpDialect;
    this.events = new EventLog({
      maxEvents: Math.max(0, options.eventHistory ?? 1000),
      maxBytes: Math.max(0, options.eventHistoryBytes ?? 4 * 1024 * 1024),
    }, (err) => this.listenerThrew(err));
  }

  // ---- state -------------------------------------------------------------------------------------------

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

  /** Called whenever the in-band queue in the client grows or shrinks (the window is full). */
  onBacklogChange(listener: (backlog: InBandBacklog) => void): Disposable {
    this.guard('onBacklogChange');
    this.backlogListeners.add(listener);
    return { dispose: () => this.backlogListeners.delete(listener) };
  }

  /** Enables the allow-oob check before sending (`undefined` turns it off). */
  setSchema(schema: OobSchema | undefined): void {
    this.guard('setSchema');
    this.schema = schema;
  }

  /** How many in-band commands QEMU has not answered, how many wait in the client, and since when. */
  inBandBacklog(): InBandBacklog {
    this.guard('inBandBacklog');
    return this.backlog();
  }

  private backlog(): InBandBacklog {
    let oldest: number | undefined;
    for (const p of this.pending.values()) {
      if (!p.oob && p.where !== 'queued' && (oldest === undefined || p.sentAt < oldest)) oldest = p.sentAt;
    }
    return { onWire: this.inBandOnWire, queued: this.queue.length, oldestSentAt: oldest };
  }

  // ---- the base's hooks --------------------------------------------------------------------------------

  protected handshake(ctx: HandshakeContext): Promise<HandshakeResult> {
    this.greetingValue = undefined;
    return this.dialect.handshake(ctx);
  }

  protected started(result: HandshakeResult): void {
    this.greetingValue = result.greeting;
    this.oobEnabledValue = result.oob;
  }

  protected handshakeCommand(input: CommandInput, options: { timeoutMs: number; signal: AbortSignal }): Promise<CommandReply> {
    return this.dispatch(input, options);
  }

  protected describePeer(): string {
    const v = this.version;
    return v ? `QEMU ${v.major}.${v.minor}.${v.micro}` : `dialect ${this.dialect.name}`;
  }

  /**
   * Hook for an endpoint's own rule about which commands it would refuse (the guest agent's disabled
   * commands): an error refuses the command before anything is sent or reserved, in send() and sendThen()
   * alike. Called for every command, so it must be cheap. The client itself refuses nothing here.
   */
  protected refuseCommand(_name: string): Error | undefined {
    return undefined;
  }

  /**
   * Hook for an endpoint's rule that follows a command's end (the guest agent re-reads guest-info after a
   * freeze and resynchronises after a timeout): called once per command the client answered or gave up on,
   * with its reply or its error, in the turn it ended and before its caller hears of it. Not called when the
   * session ends (every command then fails with DisconnectedError). A throw is logged as a listener's.
   */
  protected commandEnded(_name: string, _outcome: CommandReply | Error): void {
    // The client has no rule of its own here.
  }

  /** Rejects everything outstanding (a command whose caller gave up has nobody to tell). */
  protected ended(err: DisconnectedError, cause: Error | undefined): void {
    this.oobEnabledValue = false;
    this.idlessOwner = undefined;
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
    this.clearSpentTimers();
    if (hadQueue) this.backlogChanged();
  }

  // ---- commands ----------------------------------------------------------------------------------------

  /**
   * Runs a command and resolves with its `return` value. QEMU's error replies reject with ExecuteError
   * (errorClass, desc, command, sent, received); see send() for every other rejection.
   */
  async execute(name: string, args?: object, options?: CommandOptions): Promise<unknown> {
    this.guard('execute');
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
    try {
      this.guard('send');
      return this.dispatch(input, options);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /**
   * send() with callbacks instead of a promise, for a caller whose next command follows from the reply (the
   * engine's step loop): `onReply` is called synchronously when the reply is read, in the same turn, so that
   * the next command can be written before anything else runs; `onError` is called for every rejection
   * send() would give, a microtask later, as a promise's rejection is (never synchronously from this call,
   * nor from inside a caller's abort() or the session's end). `onReply` must not throw (a throw is logged as
   * a listener's).
   */
  sendThen(input: CommandInput, options: CommandOptions, onReply: (reply: CommandReply) => void, onError: (err: unknown) => void): void {
    // Settled once, as a promise is (whatever happens after the first callback).
    let settled = false;
    const safeReply = (reply: CommandReply): void => {
      if (settled) return;
      settled = true;
      try {
        onReply(reply);
      } catch (err) {
        this.listenerThrew(err);
      }
    };
    const fail = (err: unknown): void => {
      if (settled) return;
      settled = true;
      queueMicrotask(() => onError(err));
    };
    try {
      this.guard('sendThen');
    } catch (err) {
      fail(err);
      return;
    }
    let command: Prepared;
    try {
      command = this.prepare(input);
    } catch (err) {
      fail(err);
      return;
    }
    try {
      this.enqueue(command, options, safeReply, fail);
    } catch (err) {
      // A throw while writing (as a promise's executor would turn it into its rejection).
      fail(err);
    }
  }

  /** send() without the state check, so that connect() can negotiate. Throws synchronously on bad input. */
  private dispatch(input: CommandInput, options: CommandOptions): Promise<CommandReply> {
    const command = this.prepare(input);
    return new Promise<CommandReply>((resolve, reject) => this.enqueue(command, options, resolve, reject));
  }

  /** Checks a command and makes its text and id; throws on bad input (nothing is sent or reserved). */
  private prepare(input: CommandInput): Prepared {
    const hasExecute = typeof input.execute === 'string';
    const hasOob = typeof input['exec-oob'] === 'string';
    if (hasExecute === hasOob) {
      throw new TypeError('A command needs exactly one of "execute" and "exec-oob"');
    }
    const name = (hasOob ? input['exec-oob'] : input.execute) as string;
    const oob = hasOob || input.control?.['run-oob'] === true;
    if (oob) this.checkOob(name);
    const refused = this.refuseCommand(name);
    if (refused) throw refused;

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
      // The prefix and the digits need no escaping: the same text as JSON.stringify, without its cost.
      key = idText = '"' + OWN_ID_PREFIX + String(++this.idCounter) + '"';
    }

    let sent = (oob ? '{"exec-oob":' : '{"execute":') + this.quotedName(name);
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
    return { key, idText, name, oob, sent };
  }

  /** Reserves a prepared command's id and writes it (or queues it behind the in-band window); settles it once. */
  private enqueue(command: Prepared, options: CommandOptions, resolve: (reply: CommandReply) => void, reject: (err: Error) => void): void {
    const { key, idText, name, oob, sent } = command;
    const signal = options.signal;
    if (signal?.aborted) {
      reject(new CommandCancelledError(`${name}: cancelled before it was sent`, { sent, cause: signal.reason }));
      return;
    }
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
    if (oob || this.inBandOnWire < this.window) {
      this.write(p);
    } else {
      this.queue.push(p);
      this.backlogChanged();
    }
    if (this.spentTimers.length > 0) this.clearSpentTimers();
  }

  private clearSpentTimers(): void {
    const spent = this.spentTimers;
    for (let i = 0; i < spent.length; i++) clearTimeout(spent[i]);
    spent.length = 0;
  }

  /** JSON.stringify(name), remembered for the last name (a run sends the same commands again and again). */
  private quotedName(name: string): string {
    if (name !== this.lastName) {
      this.lastQuoted = JSON.stringify(name);
      this.lastName = name;
    }
    return this.lastQuoted;
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
    const oldest = this.backlog().oldestSentAt;
    return oldest === undefined ? undefined : Date.now() - oldest;
  }

  private backlogChanged(): void {
    if (this.backlogListeners.size === 0) return;
    const b = this.backlog();
    for (const l of [...this.backlogListeners]) this.safeCall(() => l(b));
  }

  private write(p: Pending): void {
    p.where = 'wire';
    p.sentAt = Date.now();
    if (!p.oob) this.inBandOnWire++;
    // No delimiter: QEMU's streaming lexer ends a command at its closing brace, and each extra byte costs
    // round-trip time because QEMU reads one byte per recvmsg().
    this.writeMessage(p.sent);
    const onWritten = p.onWritten;
    if (onWritten) {
      // safeCall without a closure per command (the hot path of a run).
      try {
        onWritten({ sent: p.sent, idText: p.idText });
      } catch (err) {
        this.listenerThrew(err);
      }
    }
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
    this.ending(p.command, err);
    p.reject(err);
  }

  /** Tells the commandEnded hook, keeping its throw from the client's own bookkeeping. */
  private ending(name: string, outcome: CommandReply | Error): void {
    try {
      this.commandEnded(name, outcome);
    } catch (err) {
      this.listenerThrew(err);
    }
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
    if (p.timer) {
      // Cleared after the next command is written (see spentTimers).
      this.spentTimers.push(p.timer);
      p.timer = undefined;
    }
    this.clearPendingHooks(p);
    if (!p.oob) {
      this.inBandOnWire--;
      if (this.queue.length > 0 && this.inBandOnWire < this.window) {
        this.batched(() => {
          while (this.queue.length > 0 && this.inBandOnWire < this.window) {
            this.write(this.queue.shift() as Pending);
          }
        });
        this.backlogChanged();
      }
    }
  }

  // ---- receiving ---------------------------------------------------------------------------------------

  /** The base hands over every message of the session that the handshake does not read raw. */
  protected route(text: string, msg: unknown): void {
    if (!isObject(msg)) {
      this.failProtocol(new MalformedMessageError('The server sent a message that is not a JSON object', { received: clip(text) }));
      return;
    }
    // Routing order: events first, then replies by id, then the id-less rule. Anything QEMU would never
    // send (see docs/protocol.md, "Routing") ends the session: a client cannot know what it meant.
    const event = msg['event'];
    const hasReturn = 'return' in msg;
    const hasError = 'error' in msg;
    if (event !== undefined) {
      if (typeof event !== 'string') {
        this.failProtocol(new MalformedMessageError('The server sent an event whose name is not a string', { received: clip(text) }));
      } else if (hasReturn || hasError || 'id' in msg) {
        this.failProtocol(new MalformedMessageError('The server sent a message that is both an event and a reply', { received: clip(text) }));
      } else {
        this.events.add(text, msg);
      }
      return;
    }
    if (hasReturn === hasError) {
      this.failProtocol(new MalformedMessageError(hasReturn
        ? 'The server sent a reply with both "return" and "error"'
        : 'The server sent a message that is neither a reply nor an event', { received: clip(text) }));
      return;
    }
    if (hasError && !isErrorObject(msg['error'])) {
      this.failProtocol(new MalformedMessageError(
        'The server sent an "error" that is not an object with string "class" and "desc"', { received: clip(text) }));
      return;
    }
    if (!('id' in msg)) {
      this.onIdless(text, msg, hasError);
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
    const reply = toReply(p, text, msg);
    this.ending(p.command, reply);
    p.resolve(reply);
  }

  /**
   * A reply without id. The client always sends ids, so QEMU only does this for input it could not parse
   * (an `error`): given to the command that caused it when exactly one is on the wire, otherwise it cannot be
   * matched and ends the session (ServerParseError), as QEMU's own Python client does. A `return` without id
   * is never QEMU's answer to this client and ends the session too.
   */
  private onIdless(text: string, msg: Record<string, unknown>, isError: boolean): void {
    if (!isError) {
      this.failProtocol(new MalformedMessageError(
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
      if (!abandoned) {
        const reply = toReply(owner, text, msg);
        this.ending(owner.command, reply);
        owner.resolve(reply);
      }
      return;
    }
    this.failProtocol(new ServerParseError(
      `QEMU reported a parse error without id while ${onWire} commands were outstanding, so it cannot be ` +
      `matched to one; the session was closed: ${clip(text)}`, { received: clip(text) }));
  }

  // ---- events ------------------------------------------------------------------------------------------

  onEvent(listener: (event: QmpEventRecord) => void): Disposable {
    this.guard('onEvent');
    return this.events.onEvent(listener);
  }

  /** The events kept so far (at most eventHistory events and eventHistoryBytes bytes), oldest first. */
  eventHistory(): QmpEventRecord[] {
    this.guard('eventHistory');
    return this.events.history();
  }

  /** The seq of the last event seen (0 before any); pass it as `after` to waitForEvent. */
  eventCursor(): number {
    this.guard('eventCursor');
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
      () => this.refusal('waitForEvent'));
  }
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
  if (typeof id === 'string') return plainAscii(id) ? '"' + id + '"' : JSON.stringify(id);
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


