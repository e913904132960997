// Opening the byte stream a QMP session runs over: a unix socket or a TCP connection, with a connect
// timeout and cancellation. The client above it owns everything QMP-specific.
import net from 'node:net';
import { ConnectError } from './errors';

export type QmpAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/** `unix:/path` or `tcp:host:port`, the spelling QEMU's `-qmp` option uses. */
export function formatAddress(address: QmpAddress): string {
  return address.kind === 'unix' ? `unix:${address.path}` : `tcp:${address.host}:${address.port}`;
}

/**
 * Reads `unix:/path`, `tcp:host:port`, `host:port`, `[v6]:port` or a bare path (anything with a `/`).
 * Throws a TypeError for anything else.
 */
export function parseAddress(text: string): QmpAddress {
  const s = text.trim();
  if (s.startsWith('unix:')) return { kind: 'unix', path: s.slice(5).split(',')[0] ?? '' };
  const hp = parseHostPort(s.startsWith('tcp:') ? s.slice(4).split(',')[0] ?? '' : s);
  if (hp) return { kind: 'tcp', host: hp.host || '127.0.0.1', port: hp.port };
  if (!s.startsWith('tcp:') && s.includes('/')) return { kind: 'unix', path: s };
  throw new TypeError(`Not a QMP address: ${JSON.stringify(text)} (expected unix:/path or tcp:host:port)`);
}

/**
 * `HOST:PORT` or `[IPv6]:PORT`, the port 1 to 65535; the host may be empty (callers choose a default or
 * refuse it). Undefined for anything else.
 */
export function parseHostPort(text: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:/]*)):(\d{1,5})$/.exec(text);
  if (!m) return undefined;
  const port = Number(m[3]);
  return port > 0 && port < 65536 ? { host: m[1] ?? m[2] ?? '', port } : undefined;
}

export interface ConnectSocketOptions {
  timeoutMs?: number;
  signal?: AbortSignal;
}

/**
 * Connects to the address. Resolves with the connected socket; rejects with ConnectError when the
 * connection is refused, the path does not exist, timeoutMs passes, or the signal fires.
 */
export function connectSocket(address: QmpAddress, options: ConnectSocketOptions = {}): Promise<net.Socket> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  const where = formatAddress(address);
  return new Promise<net.Socket>((resolve, reject) => {
    if (options.signal?.aborted) {
      reject(new ConnectError(`Connecting to ${where} was cancelled`, { cause: options.signal.reason }));
      return;
    }
    const socket = address.kind === 'unix'
      ? net.createConnection({ path: address.path })
      : net.createConnection({ host: address.host, port: address.port, noDelay: true });
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      socket.off('connect', onConnect);
      socket.off('error', onError);
      options.signal?.removeEventListener('abort', onAbort);
      if (err) {
        socket.destroy();
        reject(err);
      } else {
        resolve(socket);
      }
    };
    const onConnect = (): void => finish();
    const onError = (err: Error): void => finish(new ConnectError(
      `Cannot connect to ${where} (connect phase): ${err.message}${hint(err)}`, { cause: err, phase: 'connect' }));
    const onAbort = (): void => finish(new ConnectError(`Connecting to ${where} was cancelled`, { cause: options.signal?.reason }));
    const timer = setTimeout(() => finish(new ConnectError(
      `Connecting to ${where} timed out after ${timeoutMs} ms (connect phase): the host does not answer or the ` +
      'listening socket\'s backlog is full', { phase: 'connect' })), Math.min(Math.max(0, timeoutMs), 2 ** 31 - 1));
    socket.once('connect', onConnect);
    socket.once('error', onError);
    options.signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** What a socket error code likely means, for the connect phase's message. */
function hint(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return ' (no such socket: is QEMU running with this -qmp path?)';
  if (code === 'ECONNREFUSED') return ' (nothing is listening: QEMU exited or uses another address)';
  if (code === 'EACCES') return ' (permission denied on the socket)';
  return '';
}
