// Misbehaving fake QMP servers for the fault tier. They frame what the client writes with their own naive
// framer (test/support/naiveFraming.ts), never with the production reader, and write whatever bytes a test
// scripts: greeting then silence, drip-feeding, floods, deep nesting, closing mid-message, resets, never
// reading. Every server lives in a private 0700 directory (unix) or on 127.0.0.1 (TCP).
import net from 'node:net';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { NaiveFramer } from './naiveFraming';
import { GREETING_72 } from './fakeTransport';
import type { QmpAddress } from '../../src/qmp/transport';

export { GREETING_72 };

export interface NaiveCommand {
  text: string;
  value: Record<string, unknown>;
  /** The id as the client wrote it (JSON text), or 'null'. */
  id: string;
}

/** One accepted connection, scripted by the test. */
export class NaivePeer {
  private readonly framer = new NaiveFramer();
  private readonly decoder = new StringDecoder('utf8');
  private readonly inbox: NaiveCommand[] = [];
  private readonly waiters: Array<(c: NaiveCommand) => void> = [];
  readonly closed: Promise<void>;

  constructor(readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => socket.on('close', () => resolve()));
    socket.on('error', () => { /* resets are part of the game */ });
    socket.on('data', (d: Buffer) => {
      for (const text of this.framer.push(this.decoder.write(d))) {
        const value = JSON.parse(text) as Record<string, unknown>;
        const cmd = { text, value, id: value['id'] === undefined ? 'null' : JSON.stringify(value['id']) };
        const w = this.waiters.shift();
        if (w) w(cmd); else this.inbox.push(cmd);
      }
    });
  }

  next(timeoutMs = 10_000): Promise<NaiveCommand> {
    const ready = this.inbox.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => reject(new Error('naive server: nothing from the client in time')), timeoutMs);
      this.waiters.push((c) => { clearTimeout(t); resolve(c); });
    });
  }

  /** Writes and resolves once the bytes are handed to the kernel (backpressure respected). */
  write(bytes: string | Buffer): Promise<void> {
    return new Promise((resolve) => {
      if (this.socket.destroyed) { resolve(); return; }
      if (this.socket.write(bytes)) resolve();
      else {
        const onDrain = (): void => { this.socket.off('close', onDrain); resolve(); };
        this.socket.once('drain', onDrain);
        this.socket.once('close', onDrain);
      }
    });
  }

  /** Greets and answers the negotiation. */
  async handshake(): Promise<void> {
    await this.write(GREETING_72);
    const neg = await this.next();
    await this.write(`{"return": {}, "id": ${neg.id}}\r\n`);
  }

  /** Stops reading the socket: what the client writes piles up in the kernel buffers. */
  stopReading(): void {
    this.socket.pause();
  }
}

export interface NaiveServer {
  address: QmpAddress;
  accept(timeoutMs?: number): Promise<NaivePeer>;
  close(): Promise<void>;
}

export async function startNaiveServer(kind: 'unix' | 'tcp' = 'unix'): Promise<NaiveServer> {
  const dir = kind === 'unix' ? mkdtempSync(path.join(tmpdir(), 'qmp-fault-')) : undefined;
  if (dir) chmodSync(dir, 0o700);
  const ready: NaivePeer[] = [];
  const waiters: Array<(p: NaivePeer) => void> = [];
  const all: NaivePeer[] = [];
  const server = net.createServer((s) => {
    const p = new NaivePeer(s);
    all.push(p);
    const w = waiters.shift();
    if (w) w(p); else ready.push(p);
  });
  const socketPath = dir ? path.join(dir, 'qmp.sock') : undefined;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    if (socketPath) server.listen(socketPath, () => resolve());
    else server.listen(0, '127.0.0.1', () => resolve());
  });
  const address: QmpAddress = socketPath
    ? { kind: 'unix', path: socketPath }
    : { kind: 'tcp', host: '127.0.0.1', port: (server.address() as net.AddressInfo).port };
  return {
    address,
    accept(timeoutMs = 10_000): Promise<NaivePeer> {
      const p = ready.shift();
      if (p) return Promise.resolve(p);
      return new Promise((resolve, reject) => {
        const t = setTimeout(() => reject(new Error('naive server: no connection in time')), timeoutMs);
        waiters.push((c) => { clearTimeout(t); resolve(c); });
      });
    },
    async close(): Promise<void> {
      for (const p of all) p.socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      if (dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
