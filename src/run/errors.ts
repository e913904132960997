// Which failure kind an error from the client is, decided by instanceof (never by a class name: the shipped
// bundle is minified) or by the caller's own StopRequest.
import {
  CommandCancelledError, CommandTimeoutError, DisconnectedError, EventTimeoutError, OobRefusedError, ProtocolError, StateError,
} from '../qmp/errors';
import type { FailureKind } from './transcript';

/**
 * The reason a caller stops a cell through its AbortSignal (`controller.abort(new StopRequest(...))`):
 * `interrupted` for the user's interrupt, `connection-lost` when the caller saw the session end.
 */
export class StopRequest extends Error {
  constructor(readonly kind: FailureKind, message: string) {
    super(message);
  }
}

export function failureKindOf(err: unknown): FailureKind {
  if (err instanceof StopRequest) return err.kind;
  if (err instanceof ProtocolError) return 'protocol';
  if (err instanceof DisconnectedError || err instanceof StateError) return 'connection-lost';
  if (err instanceof CommandTimeoutError || err instanceof EventTimeoutError) return 'timeout';
  if (err instanceof OobRefusedError || err instanceof TypeError || err instanceof RangeError) return 'not-sent-because-invalid';
  if (err instanceof CommandCancelledError) return 'interrupted';
  return 'protocol';
}

/** Whether a failure means the session is gone (the CLI exits 2 for these, 1 for the others). */
export function isSessionFailure(kind: FailureKind): boolean {
  return kind === 'protocol' || kind === 'connection-lost' || kind === 'not-connected';
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
