// The guest agent (qemu-ga) on the client core: the same session, its own dialect and channel.
//
// qemu-ga speaks QMP's framing and commands but has no greeting, no capabilities negotiation and no
// schema. QEMU's documentation tells a client to resynchronise first: send `guest-sync-delimited` with a
// random id; the agent answers a 0xFF sentinel then `{"return": id}`; everything before the matching
// return is a stale reply to an earlier client and is skipped (the framing skips up to the 0xFF). After a
// command times out its late reply would be ambiguous without ids; the session's own ids already keep
// replies apart (qemu-ga echoes `id`), and the client resynchronises again anyway, as the docs ask.
//
// Two habits of qemu-ga shape the channel: it serves one client at a time (a second connection waits in
// the backlog, silent), so the handshake's timeout says so; and qemu-ga 7.2 exits when a client closes
// while a reply is still unread in its socket, so the channel drains (waits, boundedly, for a reply to
// every command it sent) before it closes.
import { randomInt } from 'node:crypto';
import {
  CommandTimeoutError, ConnectError, DISABLED_FEATURE, GreetingTimeoutError, QmpClient, socketChannelOpener, type ChannelOpener,
  type ChannelSink, type ConnectOptions, type CommandReply, type QmpAddress, type QmpChannel,
  type QmpClientOptions, type QmpDialect, type SchemaInfo,
} from '../qmp/index';
import { formatAddress } from '../qmp/transport';

/** Commands after whose success the agent's enabled commands change (guest-fsfreeze-freeze, -freeze-list, -thaw). */
const FREEZE_OR_THAW = /^guest-fsfreeze-(?:freeze|freeze-list|thaw)$/;
/** Most stale messages skipped while resynchronising before the agent is called broken. */
const maxStaleMessages = 10_000;
/** How long close() waits for the replies still owed before it closes anyway. */
export const GUEST_AGENT_DRAIN_MS = 2000;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The guest agent's "handshake": `guest-sync-delimited` with a random id, skipping everything stale. */
export function guestAgentDialect(random: () => number = () => randomInt(1, 2 ** 31 - 1)): QmpDialect {
  return {
    name: 'guest-agent',
    oobNever: GUEST_AGENT_NO_OOB,
    greeting: false,
    async handshake(ctx) {
      const id = random();
      ctx.sendRaw(JSON.stringify({ execute: 'guest-sync-delimited', arguments: { id } }));
      for (let skipped = 0; skipped <= maxStaleMessages; skipped++) {
        let message: { text: string; value: unknown };
        try {
          message = await ctx.nextMessage('greeting');
        } catch (err) {
          if (err instanceof GreetingTimeoutError) {
            throw new ConnectError(
              `The guest agent at ${ctx.description} did not answer guest-sync-delimited within ${err.timeoutMs} ms: ` +
                'it serves one client at a time, so another client probably holds it (a second connection waits ' +
                'silently until the first one closes), no agent runs in the guest, or what answered did not send the 0xFF ' +
                'sentinel that must come before the reply (everything before it is skipped).', { cause: err, phase: 'greeting' });
          }
          throw err;
        }
        if (isRecord(message.value) && message.value['return'] === id) return { oob: false };
      }
      throw new ConnectError(`The guest agent at ${ctx.description} sent more than ${maxStaleMessages} messages ` +
        'without answering guest-sync-delimited', { phase: 'greeting' });
    },
  };
}

/**
 * A channel that counts the replies it owes and, on close(), waits for them (at most drainMs) before it
 * closes the one below, because qemu-ga 7.2 exits when a client leaves a reply unread.
 */
export class DrainingChannel implements QmpChannel {
  private owed = 0;
  private drained: (() => void) | undefined;
  private ended = false;

  constructor(private readonly inner: QmpChannel, private readonly drainMs = GUEST_AGENT_DRAIN_MS) {}

  get description(): string { return this.inner.description; }

  start(sink: ChannelSink): void {
    this.inner.start({
      message: (text, value) => {
        // Replies (not events) settle a debt; the sync's reply too.
        if (isRecord(value) && ('return' in value || 'error' in value) && this.owed > 0) {
          this.owed--;
          if (this.owed === 0) this.drained?.();
        }
        sink.message(text, value);
      },
      ended: (err) => { this.ended = true; this.drained?.(); sink.ended(err); },
    });
  }

  send(text: string): void {
    this.owed++;
    this.inner.send(text);
  }

  /** The number of replies still owed (for tests and the log). */
  get outstanding(): number { return this.owed; }

  async close(): Promise<void> {
    if (this.owed > 0 && !this.ended) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, this.drainMs);
        this.drained = () => { clearTimeout(timer); resolve(); };
      });
    }
    await this.inner.close();
  }
}

/** Opens a guest agent's unix or TCP socket as a draining channel. */
export function guestAgentChannelOpener(address: QmpAddress, drainMs = GUEST_AGENT_DRAIN_MS): ChannelOpener {
  const open = socketChannelOpener(address, { guestAgent: true });
  return async (options) => new DrainingChannel(await open(options), drainMs);
}

/** A command of `guest-info`'s `supported_commands`. */
export interface GuestAgentCommand {
  name: string;
  enabled: boolean;
  'success-response'?: boolean;
}

/** Reads `guest-info`'s reply; throws a TypeError when it has no `supported_commands` list. */
export function parseGuestInfo(reply: unknown): { version: string; commands: GuestAgentCommand[] } {
  if (!isRecord(reply) || !Array.isArray(reply['supported_commands'])) {
    throw new TypeError('guest-info did not return supported_commands');
  }
  const commands: GuestAgentCommand[] = [];
  for (const c of reply['supported_commands']) {
    if (isRecord(c) && typeof c['name'] === 'string' && typeof c['enabled'] === 'boolean') {
      commands.push({ name: c['name'], enabled: c['enabled'],
        ...(typeof c['success-response'] === 'boolean' ? { 'success-response': c['success-response'] } : {}) });
    }
  }
  return { version: typeof reply['version'] === 'string' ? reply['version'] : 'unknown', commands };
}

/**
 * A schema for the language features, made from `guest-info`: one command per agent command. The agent
 * publishes no argument types, so every command is open (feature `json-cli`: any member accepted, none
 * required); hover and argument documentation come from qemu-ga-ref(7). Disabled commands carry
 * DISABLED_FEATURE: a cell that uses one is flagged as disabled in this agent (not as unknown), completion
 * leaves them out, and the client refuses them before sending.
 */
export function guestAgentSchemaInfos(commands: readonly GuestAgentCommand[]): SchemaInfo[] {
  const infos: SchemaInfo[] = [
    { 'name': '0', 'meta-type': 'object', 'members': [] },
    { 'name': 'any', 'meta-type': 'builtin', 'json-type': 'value' },
  ];
  const seen = new Set<string>();
  for (const c of commands) {
    if (seen.has(c.name)) continue;
    seen.add(c.name);
    infos.push({ 'name': c.name, 'meta-type': 'command', 'arg-type': '0', 'ret-type': 'any',
      'features': c.enabled ? ['json-cli'] : ['json-cli', DISABLED_FEATURE] });
  }
  return infos;
}

/** Why a disabled command is refused, in the words the editor, `check` and `run` use. */
export function guestAgentDisabledReason(name: string): string {
  return `${name} is disabled in this guest agent: its guest-info lists it with enabled: false (blocked by the ` +
    "agent's configuration, qemu-ga --block-rpcs/-b, or while the guest's filesystems are frozen)";
}

/**
 * A guest-agent command refused before sending because the agent disabled it. A TypeError like the
 * client's other refusals of input that cannot be sent (the run engine reports it as not sent).
 */
export class GuestAgentCommandDisabledError extends TypeError {
  readonly code = 'GUEST_AGENT_COMMAND_DISABLED';
  constructor(readonly command: string) {
    super(guestAgentDisabledReason(command));
  }
}

/** Why no command can run out of band on a guest agent. */
export const GUEST_AGENT_NO_OOB = 'the guest agent has no out-of-band execution';

/**
 * The QMP client for a guest agent: the guest-agent dialect (no greeting; OOB refused before sending, with
 * the reason) and the client's two command hooks, never an override of send(): a command guest-info lists as
 * disabled is refused before sending, and any command that timed out is followed by a resynchronisation.
 */
export class GuestAgentClient extends QmpClient {
  private resyncing: Promise<void> | undefined;
  /**
   * The commands guest-info listed as disabled, read after every connect and on every guestInfo(); undefined
   * while unknown (then nothing is refused: the agent's own error says it).
   */
  private disabled: ReadonlySet<string> | undefined;

  constructor(options: Omit<QmpClientOptions, 'dialect' | 'enableOob'> = {}) {
    super({ ...options, enableOob: false, dialect: guestAgentDialect() });
  }

  /** The agent's own data says it would refuse: say why, and send nothing. */
  protected override refuseCommand(name: string): Error | undefined {
    return this.disabled?.has(name) ? new GuestAgentCommandDisabledError(name) : undefined;
  }

  protected override commandEnded(name: string, outcome: CommandReply | Error): void {
    if (outcome instanceof Error) {
      // One resynchronisation at a time: an agent that answers nothing must not collect a chain of them.
      if (outcome instanceof CommandTimeoutError && !this.resyncing) {
        this.resyncing = this.resync().catch(() => undefined).finally(() => { this.resyncing = undefined; });
      }
    } else if (outcome.ok && FREEZE_OR_THAW.test(name)) {
      // Freezing the guest's filesystems disables most commands until the thaw: the list is stale until read again.
      this.disabled = undefined;
      void this.guestInfo().catch(() => undefined);
    }
  }

  /**
   * Connects to the agent's socket through a draining channel (or any opener given), then reads guest-info
   * once so that disabled commands are refused before sending (an agent that cannot answer it stays usable).
   */
  override async connect(target: QmpAddress | ChannelOpener, options: ConnectOptions = {}): Promise<void> {
    this.disabled = undefined;
    await super.connect(typeof target === 'function' ? target : guestAgentChannelOpener(target), options);
    await this.guestInfo().catch(() => undefined);
  }

  /** The commands this agent disabled, as last read from guest-info (undefined: not known). */
  get disabledCommands(): ReadonlySet<string> | undefined {
    return this.disabled;
  }

  /** Sends `guest-sync-delimited` with a fresh random id and checks the agent echoes it. */
  async resync(timeoutMs = 5000): Promise<void> {
    const id = randomInt(1, 2 ** 31 - 1);
    const value = await this.execute('guest-sync-delimited', { id }, { timeoutMs });
    if (value !== id) throw new ConnectError(`guest-sync-delimited answered ${JSON.stringify(value)}, not ${id}`);
  }

  /** `guest-info`: the agent's version and its commands (enabled or not). */
  async guestInfo(timeoutMs = 10_000): Promise<{ version: string; commands: GuestAgentCommand[] }> {
    const info = parseGuestInfo(await this.execute('guest-info', undefined, { timeoutMs }));
    this.disabled = new Set(info.commands.filter((c) => !c.enabled).map((c) => c.name));
    return info;
  }
}

export function describeGuestAgentAddress(address: QmpAddress): string {
  return `guest agent ${formatAddress(address)}`;
}
