// What the server does with one framed message body before the connection sees it (src/lsp/framing.ts frames).
// JSON-RPC 2.0 says a body that is not JSON gets a Parse error (-32700) and a request of the wrong shape an
// Invalid Request (-32600), both with id null when the id cannot be read. vscode-jsonrpc only logs them; the
// guard answers them and hands the connection nothing, so the server goes on with the next message.
// It also keeps the LSP lifecycle (3.17, "initialize" and "shutdown"): a request before `initialize` gets
// ServerNotInitialized (-32002) and a notification then is dropped (except `exit`); a request after `shutdown`
// gets InvalidRequest (-32600) and a notification then is dropped (except `exit`).
import type { Message } from 'vscode-languageserver/node';

export const SERVER_NOT_INITIALIZED = -32002;
export const INVALID_REQUEST = -32600;
export const PARSE_ERROR = -32700;

export type Reply = (id: number | string | null, code: number, message: string) => void;

export interface Guard {
  /** The message to hand to the connection, or undefined when the guard answered (or dropped) it. */
  check(body: Uint8Array): Message | undefined;
  /** The client sent `shutdown` (an `exit` or the end of input then ends the process with code 0). */
  readonly shutdownReceived: boolean;
}

export function jsonRpcGuard(reply: Reply): Guard {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let phase: 'new' | 'running' | 'shutdown' = 'new';
  return {
    get shutdownReceived() {
      return phase === 'shutdown';
    },
    check(body) {
      let value: unknown;
      try {
        value = JSON.parse(decoder.decode(body));
      } catch (err) {
        reply(null, PARSE_ERROR, `Parse error: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        reply(null, INVALID_REQUEST, 'Invalid Request: a message must be a JSON object (batches are not supported)');
        return undefined;
      }
      const o = value as Record<string, unknown>;
      const id = typeof o['id'] === 'number' || typeof o['id'] === 'string' ? o['id'] : null;
      const isResponse = 'result' in o || 'error' in o;
      if (isResponse) return value as Message;
      const method = o['method'];
      if (typeof method !== 'string') {
        reply(id, INVALID_REQUEST, 'Invalid Request: "method" must be a string');
        return undefined;
      }
      const isRequest = 'id' in o;
      if (method === 'exit') return value as Message;
      if (phase === 'new') {
        if (method === 'initialize' && isRequest) {
          phase = 'running';
          return value as Message;
        }
        if (isRequest) reply(id, SERVER_NOT_INITIALIZED, `Server not initialized: "${method.slice(0, 100)}" before "initialize"`);
        return undefined;
      }
      if (phase === 'shutdown') {
        if (isRequest) reply(id, INVALID_REQUEST, `Invalid Request: "${method.slice(0, 100)}" after "shutdown"`);
        return undefined;
      }
      if (method === 'shutdown' && isRequest) phase = 'shutdown';
      return value as Message;
    },
  };
}
