// The dialect: what a session does between "the channel is open" and "commands may run". QMP proper
// (QEMU, qemu-storage-daemon) greets and negotiates capabilities; the guest agent has no greeting and
// resynchronises with `guest-sync-delimited`; a passthrough such as libvirt's has nothing to do. The
// session (`client.ts`) runs the dialect's handshake with every phase bounded, and the dialect only talks
// to it through `HandshakeContext`, so a new dialect never touches the session's routing or window.
import type { CommandInput, CommandReply } from './messages';
import { BadGreetingError, ConnectError } from './errors';
import { isGreeting, type QmpGreeting } from './wire';

/** The phases of connect(), each with its own time bound (see QmpClientOptions). */
export type ConnectPhase = 'connect' | 'greeting' | 'negotiation';

export interface HandshakeContext {
  /** The channel's description, for messages. */
  readonly description: string;
  /** Whether the caller wants out-of-band execution when the server offers it. */
  readonly enableOob: boolean;
  /**
   * The next message from the server, raw (nothing is routed while the handshake reads raw), within the
   * bound of `phase`; rejects with the phase's timeout error (GreetingTimeoutError, NegotiationTimeoutError)
   * or with the error that ended the channel.
   */
  nextMessage(phase: ConnectPhase): Promise<{ text: string; value: unknown }>;
  /** Writes one message as is (no id is added). */
  sendRaw(text: string): void;
  /**
   * Sends a command with the session's ids and routing and resolves with its reply, within the bound of
   * `phase`. From the first command() on, messages are routed as in a running session (no raw reading).
   */
  command(input: CommandInput, phase: ConnectPhase): Promise<CommandReply>;
}

export interface HandshakeResult {
  /** The greeting, for dialects that have one. */
  greeting?: QmpGreeting;
  /** True when out-of-band execution was negotiated. */
  oob: boolean;
}

export interface QmpDialect {
  readonly name: string;
  /**
   * Why an out-of-band command can never run on this endpoint (the guest agent, libvirt's passthrough): the
   * session refuses every `exec-oob` with it before sending. Undefined: it depends on the negotiation.
   */
  readonly oobNever?: string;
  /** False when the endpoint answers at once, without a greeting (the guest agent, libvirt). Default true. */
  readonly greeting?: boolean;
  /** Runs once per connect(); rejecting fails the connect (the session rolls back to idle). */
  handshake(ctx: HandshakeContext): Promise<HandshakeResult>;
}

/** QMP as QEMU and qemu-storage-daemon speak it: greeting, then `qmp_capabilities` (enabling `oob` if offered). */
export const qmpDialect: QmpDialect = {
  name: 'qmp',
  async handshake(ctx) {
    const { text, value } = await ctx.nextMessage('greeting');
    if (!isGreeting(value)) {
      throw new BadGreetingError(`The first message from ${ctx.description} was not a QMP greeting (not a QMP service?)`,
        { received: text.slice(0, 2000) });
    }
    const offered = value.QMP.capabilities.includes('oob');
    const enable = offered && ctx.enableOob ? ['oob'] : [];
    const reply = await ctx.command(
      { execute: 'qmp_capabilities', ...(enable.length ? { arguments: { enable } } : {}) }, 'negotiation');
    if (!reply.ok) {
      throw new ConnectError(`Capabilities negotiation with ${ctx.description} failed: ${reply.error.class}: ${reply.error.desc}`,
        { sent: reply.sent, received: reply.raw, phase: 'negotiation' });
    }
    return { greeting: value, oob: enable.length > 0 };
  },
};

/** No handshake at all: the channel is ready for commands as soon as it is open (e.g. libvirt's passthrough). */
export const passthroughDialect: QmpDialect = {
  name: 'passthrough',
  handshake: () => Promise.resolve({ oob: false }),
};
