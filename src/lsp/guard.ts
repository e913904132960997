// JSON-RPC 2.0 says a body that is not JSON gets a Parse error (-32700) and a request of the wrong shape an
// Invalid Request (-32600), both with id null when the id cannot be read. vscode-jsonrpc only logs them; this
// decoder answers them and hands the connection nothing, so the server goes on with the next message.
import type { Message, MessageWriter } from 'vscode-languageserver/node';

type Decoder = { name: string; decode(buffer: Uint8Array, options: { charset: string }): Promise<Message> };

function reply(writer: MessageWriter, id: number | string | null, code: number, message: string): void {
  void writer.write({ jsonrpc: '2.0', id, error: { code, message } } as Message).catch(() => undefined);
}

export function jsonRpcGuard(writer: MessageWriter): Decoder {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  return {
    name: 'application/json',
    decode(buffer) {
      let value: unknown;
      try {
        value = JSON.parse(decoder.decode(buffer));
      } catch (err) {
        reply(writer, null, -32700, `Parse error: ${err instanceof Error ? err.message : String(err)}`);
        return Promise.resolve(undefined as unknown as Message);
      }
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        reply(writer, null, -32600, 'Invalid Request: a message must be a JSON object (batches are not supported)');
        return Promise.resolve(undefined as unknown as Message);
      }
      const o = value as Record<string, unknown>;
      const id = typeof o['id'] === 'number' || typeof o['id'] === 'string' ? o['id'] : null;
      const isResponse = 'result' in o || 'error' in o;
      if (!isResponse && typeof o['method'] !== 'string') {
        reply(writer, id, -32600, 'Invalid Request: "method" must be a string');
        return Promise.resolve(undefined as unknown as Message);
      }
      return Promise.resolve(value as Message);
    },
  };
}
