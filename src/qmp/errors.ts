// The one error tree of the protocol core. Every error a caller can see from src/qmp is one of these, so a
// caller can catch `QmpError` for "anything QMP" and narrow with instanceof.
//
//   QmpError
//   ├── ConnectError                 could not open the socket or finish the handshake
//   │   └── GreetingTimeoutError     the socket opened but QEMU stayed silent (monitor held by another client)
//   ├── StateError                   the call needs another run state (e.g. execute() while idle)
//   ├── ExecuteError                 QEMU answered a command with an error (errorClass, desc, command)
//   ├── DisconnectedError            the session ended while the command was queued or in flight
//   ├── CommandTimeoutError          the caller's timeoutMs passed before the reply
//   ├── CommandCancelledError        the caller's AbortSignal fired before the reply
//   ├── EventTimeoutError            waitForEvent() saw no matching event in time
//   ├── OobRefusedError              out-of-band asked where it cannot be; raised before anything is sent
//   └── ProtocolError                QEMU sent something a QMP client cannot accept; ends the session
//       ├── BadGreetingError         the first message was not a QMP greeting
//       ├── MalformedMessageError    a message was not a JSON object
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

export class ConnectError extends QmpError {}

export class GreetingTimeoutError extends ConnectError {
  readonly timeoutMs: number;
  constructor(address: string, timeoutMs: number, details: QmpErrorDetails = {}) {
    super(
      `No QMP greeting from ${address} within ${timeoutMs} ms: the monitor is probably held by another client ` +
        '(QEMU accepts a second connection but stays silent until the first one disconnects).',
      details,
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

export class CommandCancelledError extends QmpError {}

export class EventTimeoutError extends QmpError {
  readonly timeoutMs: number;
  constructor(timeoutMs: number) {
    super(`No matching event within ${timeoutMs} ms`);
    this.timeoutMs = timeoutMs;
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

export class OversizedMessageError extends ProtocolError {
  readonly limit: number;
  constructor(limit: number, size: number) {
    super(`A message from QEMU exceeded ${limit} bytes (at least ${size} bytes so far); the session was closed.`);
    this.limit = limit;
  }
}
