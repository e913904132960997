// The language server in this process, for unit tests that speak LSP to it without a child process.
import { PassThrough } from 'node:stream';
import { createConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-languageserver/node';
import { startServer } from '../../src/lsp/server';
import { Framer, frame, type RpcMessage } from './lspClient';

/**
 * The language server started in this process on a pair of in-memory streams (no cache, no documents on disk):
 * `request` answers with the result (rejects on an error or after 30 s), `notify` sends a notification, `end`
 * closes the server's input. Requests the server makes of its client are answered with null.
 */
export function inProcessServer(): { request: (method: string, params: unknown) => Promise<unknown>; notify: (method: string, params: unknown) => void; end: () => void } {
  const toServer = new PassThrough();
  const fromServer = new PassThrough();
  const pending = new Map<number, (m: RpcMessage) => void>();
  let nextId = 1;
  const connection = createConnection(new StreamMessageReader(toServer), new StreamMessageWriter(fromServer));
  startServer(connection, { cacheDirs: [], docs: { load: () => Promise.resolve(undefined), current: () => undefined } });
  const framer = new Framer((m) => {
    if (m.id !== undefined && m.id !== null && m.method === undefined) {
      pending.get(m.id as number)?.(m);
      pending.delete(m.id as number);
    } else if (m.method !== undefined && m.id !== undefined) {
      toServer.write(frame(JSON.stringify({ jsonrpc: '2.0', id: m.id, result: null })));
    }
  });
  fromServer.on('data', (c: Buffer) => framer.push(c));
  const request = (method: string, params: unknown): Promise<unknown> => {
    const id = nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${method}: no reply`)), 30_000);
      pending.set(id, (m) => {
        clearTimeout(timer);
        if (m.error !== undefined) reject(new Error(m.error.message));
        else resolve(m.result);
      });
      toServer.write(frame(JSON.stringify({ jsonrpc: '2.0', id, method, params })));
    });
  };
  const notify = (method: string, params: unknown): void => { toServer.write(frame(JSON.stringify({ jsonrpc: '2.0', method, params }))); };
  return { request, notify, end: () => { toServer.end(); } };
}
