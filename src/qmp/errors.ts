// The one error tree of the protocol core. Every error a caller can see from src/qmp is one of these, so a
// caller can catch `QmpError` for "anything QMP" and narrow with instanceof.
//
//   QmpError
//   ├── ConnectError                 could not open the channel or finish the handshake (`phase` says where)
//   │   ├── GreetingTimeoutError     the socket opened but no greeting came (busy monitor, not QMP, stopped QEMU)
//   │   └── NegotiationTimeoutError  greeted, but qmp_capabilities got no answer (main loop blocked, stopped QEMU)
//   ├── StateError                   the call needs another run state (e.g. execute() while idle)
//   ├── ExecuteError                 QEMU answered a command with an error (errorClass, desc, command)
//   ├── DisconnectedError            the session ended while the command was queued or in flight
//   ├── CommandTimeoutError          the caller's timeoutMs passed before the reply
//   │   └── QueuedCommandTimeoutError   ... and the command was never sent: the in-band window was full
//   ├── CommandCancelledError        the caller's AbortSignal fired before the reply
//   ├── EventTimeoutError            waitForEvent() saw no matching event in time
//   ├── EventsDroppedError           waitForEvent() from a cursor older than the bounded history keeps
//   ├── OobRefusedError              out-of-band asked where it cannot be; raised before anything is sent
//   └── ProtocolError                QEMU sent something a QMP client cannot accept; ends the session
//       ├── BadGreetingError         the first message was not a QMP greeting
//       ├── MalformedMessageError    a message was not a JSON object, or not a reply/event QEMU could send
//       │   └── DeepMessageError     a message nested deeper than the client accepts (1024)
//       ├── ServerParseError         an id-less error (QEMU could not parse our input) with no single owner
//       └── OversizedMessageError    a message grew beyond maxMessageBytes
//
// Each error carries, where there is one, the exact text that was sent (`sent`) and the text that came back
// (`received`), because a protocol log is the only way to understand most QMP failures after the fact.

export interface QmpErrorDetails {
  /** The exact text written to the socket for the command this error belongs to. */
  sent?: string;
  /** The exact text QEMU sent back (a reply, the greeting, or the offending message). */
  received?: string;
  cause?: unknown;
  /** For ConnectError: the phase of connect() that failed. */
  phase?: 'connect' | 'greeting' | 'negotiation';
}

export class QmpError extends Error {
  readonly sent: string | undefined;
  readonly received: string | undefined;

  constructor(message: string, details: QmpErrorDetails = {}) {
    super(message, details.cause !== undefined ? { cause: details.cause } : undefined);
    this.name = new.target.name;
    this.sent = details.sent;
    this.received = details.received;
  }
}

export class ConnectError extends QmpError {
  /** The phase of connect() that failed: opening the channel, waiting for the greeting, or negotiating. */
  readonly phase: 'connect' | 'greeting' | 'negotiation';
  constructor(message: string, details: QmpErrorDetails = {}) {
    super(message, details);
    this.phase = details.phase ?? 'connect';
  }
}

export class GreetingTimeoutError extends ConnectError {
  readonly timeoutMs: number;
  constructor(address: string, timeoutMs: number, details: QmpErrorDetails = {}) {
    super(
      `No QMP greeting from ${address} within ${timeoutMs} ms (greeting phase): the monitor is probably held by ` +
        'another client (QEMU accepts a second connection but stays silent until the first one disconnects), ' +
        'the socket is not a QMP service, or QEMU is stopped (SIGSTOP).',
      { ...details, phase: 'greeting' },
    );
    this.timeoutMs = timeoutMs;
  }
}

export class NegotiationTimeoutError extends ConnectError {
  readonly timeoutMs: number;
  constructor(address: string, timeoutMs: number, details: QmpErrorDetails = {}) {
    super(
      `${address} sent its greeting but did not answer qmp_capabilities within ${timeoutMs} ms (negotiation ` +
        'phase): its main loop is probably blocked (a previous client left an in-band command running, e.g. ' +
        'dump-guest-memory to a FIFO nobody reads) or QEMU is stopped (SIGSTOP).',
      { ...details, phase: 'negotiation' },
    );
    this.timeoutMs = timeoutMs;
  }
}

export class StateError extends QmpError {}

export class ExecuteError extends QmpError {
  readonly errorClass: string;
  readonly desc: string;
  readonly command: string;
  constructor(command: string, errorClass: string, desc: string, details: QmpErrorDetails = {}) {
    super(`${command}: ${errorClass}: ${desc}`, details);
    this.command = command;
    this.errorClass = errorClass;
    this.desc = desc;
  }
}

export class DisconnectedError extends QmpError {}

export class CommandTimeoutError extends QmpError {
  readonly timeoutMs: number;
  constructor(command: string, timeoutMs: number, details: QmpErrorDetails = {}) {
    super(`${command}: no reply within ${timeoutMs} ms`, details);
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A timed-out in-band command that never left the client: QEMU had not answered `onWire` earlier in-band
 * commands (the window of 7 was full), so this one was queued behind them. Reconnecting clears the wedge.
 */
export class QueuedCommandTimeoutError extends CommandTimeoutError {
  readonly code = 'QUEUED_NEVER_SENT';
  readonly onWire: number;
  constructor(command: string, timeoutMs: number, onWire: number, oldestSentAgoMs: number | undefined, details: QmpErrorDetails = {}) {
    super(command, timeoutMs, details);
    this.onWire = onWire;
    const age = oldestSentAgoMs === undefined ? '' : ` (the oldest was sent ${Math.round(oldestSentAgoMs)} ms ago)`;
    this.message = `${command}: no reply within ${timeoutMs} ms: QEMU has not answered ${onWire} earlier in-band ` +
      `commands${age}; this one was queued behind them and never sent. Reconnect to clear the backlog.`;
  }
}

export class CommandCancelledError extends QmpError {}

export class EventTimeoutError extends QmpError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`No matching event within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
  }
}

/** The events after the caller's cursor were partly dropped by the bounded history, so a wait cannot be answered truthfully. */
export class EventsDroppedError extends QmpError {
  readonly code = 'EVENTS_DROPPED';
  readonly dropped: number;
  constructor(after: number, dropped: number, cap: string) {
    super(`${dropped} events after cursor ${after} were dropped from the event history (kept at most ${cap}); ` +
      'waiting from that cursor could miss the event. Take a newer cursor.');
    this.dropped = dropped;
  }
}

export class OobRefusedError extends QmpError {
  readonly command: string;
  constructor(command: string, reason: string) {
    super(`${command} cannot run out-of-band: ${reason}`);
    this.command = command;
  }
}

export class ProtocolError extends QmpError {}
export class BadGreetingError extends ProtocolError {}
export class MalformedMessageError extends ProtocolError {}
export class ServerParseError extends ProtocolError {}

/** A message nested deeper than the client accepts (QEMU itself never emits deeper than 1024 levels). */
export class DeepMessageError extends MalformedMessageError {
  readonly limit: number;
  constructor(limit: number, details: QmpErrorDetails = {}) {
    super(`A message from the server is nested deeper than ${limit} levels (QEMU never sends that); the session was closed.`, details);
    this.limit = limit;
  }
}

export class OversizedMessageError extends ProtocolError {
  readonly limit: number;
  constructor(limit: number, size: number) {
    super(`A message from QEMU exceeded ${limit} bytes (at least ${size} bytes so far); the session was closed.`);
    this.limit = limit;
  }
}
