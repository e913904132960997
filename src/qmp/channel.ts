// The channel: the layer below the QMP session, as in QEMU's python/qemu/qmp (protocol.py below
// qmp_client.py). A channel moves whole messages: the session hands it the text of one JSON object to
// write, and it hands the session every message it receives as text plus parsed value. How the bytes
// travel (a unix/TCP socket, a child process's stdio, one `virsh qemu-monitor-command` per message) and
// how they are cut into messages is the channel's business; greeting, negotiation, ids, the in-band
// window and events are the session's (`client.ts`), and the session never looks below this interface.
//
// A dialect (QMP proper, or the guest agent's "no greeting, resync with guest-sync-delimited") is the
// session's handshake, plugged in through `QmpDialect` (see `dialect.ts`); it too only sees messages.
import net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { DisconnectedError, ProtocolError } from './errors';
import { MessageDecoder, DEFAULT_MAX_MESSAGE_BYTES } from './framing';
import { connectSocket, formatAddress, type QmpAddress } from './transport';

/** Where a channel delivers what it receives. The session installs one with `start()`. */
export interface ChannelSink {
  /** One whole message from the server: its exact text and `JSON.parse` of it. */
  message(text: string, value: unknown): void;
  /**
   * The channel ended by itself: `DisconnectedError` for EOF, a reset or a dead process, a
   * `ProtocolError` when the bytes could not be read as messages (bad framing, oversized, too deep).
   * Called at most once, and never after the session's own `close()`.
   */
  ended(err: Error): void;
}

/**
 * A bidirectional message pipe with its own lifecycle: open when handed to the session, `close()` once.
 * Implementations: `StreamChannel` (any byte stream with QMP's JSON framing: sockets, process stdio);
 * message-based transports (one reply text per command, e.g. libvirt's passthrough) implement it directly.
 */
export interface QmpChannel {
  /** A short human description for messages ("unix:/run/qmp.sock", "virsh qemu-monitor-command vm1"). */
  readonly description: string;
  /** Installs the receiver; called once, before any message can be delivered. */
  start(sink: ChannelSink): void;
  /** Writes the text of one JSON object. After the channel ended it does nothing. */
  send(text: string): void;
  /** Optional batching of several `send()`s into one write (a socket's cork/uncork). */
  cork?(): void;
  uncork?(): void;
  /** Closes the channel (idempotent); resolves when the underlying resource is released. */
  close(): Promise<void>;
}

export interface ChannelOpenOptions {
  /** The bound of the "connect" phase; the opener must reject with a ConnectError when it passes. */
  timeoutMs: number;
  signal: AbortSignal;
  /** Largest message the channel must accept; a larger one ends it with OversizedMessageError. */
  maxMessageBytes: number;
  /** Deepest nesting the channel must accept; a deeper message ends it with DeepMessageError. */
  maxMessageDepth: number;
}

/** Opens a channel: the "connect" phase of a session. Rejects with ConnectError. */
export type ChannelOpener = (options: ChannelOpenOptions) => Promise<QmpChannel>;

/** The two ends of a byte stream: a socket is both; a child process is (stdout, stdin). */
export interface ByteStream {
  readable: Readable;
  writable: Writable;
  /** Releases the resource (destroy the socket, kill the process); must lead to 'close' on `readable`. */
  destroy(): void;
  /** Optional batching (net.Socket has it). */
  cork?(): void;
  uncork?(): void;
}

/**
 * A channel over a byte stream with QMP's framing (`MessageDecoder`: JSON objects back to back, any
 * whitespace, split anywhere); with `guestAgent`, the 0xFF sentinel resynchronises as the guest agent needs.
 */
export class StreamChannel implements QmpChannel {
  private sink: ChannelSink | undefined;
  private readonly emit = (text: string, value: unknown): void => {
    if (!this.closing && !this.endedErr) this.sink?.message(text, value);
  };
  private closing = false;
  private endedErr: Error | undefined;
  private readonly decoder: MessageDecoder;
  private readonly closedPromise: Promise<void>;

  constructor(readonly description: string, private readonly stream: ByteStream,
    options: { maxMessageBytes?: number; maxMessageDepth?: number; guestAgent?: boolean } = {}) {
    this.decoder = new MessageDecoder({ maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES, maxDepth: options.maxMessageDepth,
      guestAgent: options.guestAgent });
    let resolveClosed!: () => void;
    this.closedPromise = new Promise<void>((r) => { resolveClosed = r; });
    const { readable, writable } = stream;
    readable.on('data', (chunk: Buffer) => this.onData(chunk));
    const onError = (err: Error): void => {
      this.fail(new DisconnectedError(`Connection to ${description} failed: ${err.message}`, { cause: err }));
    };
    readable.on('error', onError);
    if ((writable as unknown) !== readable) writable.on('error', onError);
    readable.on('close', () => {
      resolveClosed();
      this.finish(this.endedErr ?? new DisconnectedError(`The other side closed the connection (${description})`));
    });
    // A process's stdout may end without 'close' until the process exits; treat the end of input as EOF.
    readable.on('end', () => {
      if (!this.closing) this.fail(new DisconnectedError(`The other side closed the connection (${description})`));
    });
  }

  start(sink: ChannelSink): void {
    this.sink = sink;
  }

  send(text: string): void {
    if (this.closing || this.endedErr) return;
    this.stream.writable.write(text);
  }

  cork(): void { this.stream.cork?.(); }
  uncork(): void { this.stream.uncork?.(); }

  close(): Promise<void> {
    this.closing = true;
    this.stream.destroy();
    return this.closedPromise;
  }

  private onData(chunk: Buffer): void {
    if (this.closing || this.endedErr || !this.sink) return;
    try {
      this.decoder.push(chunk, this.emit);
    } catch (err) {
      this.fail(err instanceof ProtocolError ? err : new ProtocolError(String(err)));
    }
  }

  /** Ends the channel with `err` (delivered once) and releases the stream. */
  private fail(err: Error): void {
    if (this.closing) return;
    this.endedErr ??= err;
    this.stream.destroy();
  }

  private finish(err: Error): void {
    if (this.closing) return;
    this.closing = true;
    this.sink?.ended(err);
  }
}

/**
 * The default opener: a unix or TCP socket (`connectSocket`) wrapped in a StreamChannel; `guestAgent` selects
 * the guest agent's framing (skip to the 0xFF sentinel).
 */
export function socketChannelOpener(address: QmpAddress, framing: { guestAgent?: boolean } = {}): ChannelOpener {
  return async ({ timeoutMs, signal, maxMessageBytes, maxMessageDepth }) => {
    const socket = await connectSocket(address, { timeoutMs, signal });
    return new StreamChannel(formatAddress(address), socketStream(socket), { maxMessageBytes, maxMessageDepth, ...framing });
  };
}

export function socketStream(socket: net.Socket): ByteStream {
  return {
    readable: socket, writable: socket,
    destroy: () => socket.destroy(),
    cork: () => socket.cork(),
    uncork: () => socket.uncork(),
  };
}
