// A fake QMP server on a private unix socket, driven step by step by a test: it reads what the client
// writes (as JSON object texts) and writes whatever bytes the test gives it. Only the transport is fake;
// the client under test runs its real socket, framing and routing code. The server frames what it reads
// with its own naive framer (not the production reader), so a framing bug cannot hide on both sides.
import net from 'node:net';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { QmpClient, type QmpClientOptions } from '../../src/qmp/client';
import { StringDecoder } from 'node:string_decoder';
import { NaiveFramer } from './naiveFraming';
import type { QmpAddress } from '../../src/qmp/transport';
import { topLevelMemberText } from '../../src/qmp/wire';

export const fixturesDir = path.resolve(__dirname, '..', '..', '..', 'test', 'fixtures');

/** QEMU 7.2's greeting line, exactly as recorded. */
export const GREETING_72 = readFileSync(path.join(fixturesDir, 'qemu-7.2', 'greeting.json'), 'utf8').trim() + '\r\n';

export interface ReceivedCommand {
  text: string;
  value: Record<string, unknown>;
  /** The raw text of the `id` member as the client wrote it. */
  idText: string | undefined;
}

export class FakeConnection {
  private readonly framer = new NaiveFramer();
  private readonly decoder = new StringDecoder('utf8');
  private readonly received: ReceivedCommand[] = [];
  private readonly waiters: Array<(c: ReceivedCommand) => void> = [];
  readonly closed: Promise<void>;
  private isClosed = false;

  constructor(readonly socket: net.Socket) {
    this.closed = new Promise((resolve) => socket.on('close', () => { this.isClosed = true; resolve(); }));
    socket.on('error', () => { /* the client may reset the connection */ });
    socket.on('data', (chunk: Buffer) => {
      for (const text of this.framer.push(this.decoder.write(chunk))) {
        const value = JSON.parse(text) as Record<string, unknown>;
        const cmd: ReceivedCommand = { text, value, idText: topLevelMemberText(text, 'id') };
        const w = this.waiters.shift();
        if (w) w(cmd); else this.received.push(cmd);
      }
    });
  }

  get closedYet(): boolean {
    return this.isClosed;
  }

  /** The next command the client wrote (waits for it). */
  next(timeoutMs = 5000): Promise<ReceivedCommand> {
    const ready = this.received.shift();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('fake server: no command from the client in time')), timeoutMs);
      this.waiters.push((c) => { clearTimeout(timer); resolve(c); });
    });
  }

  /** Commands already received and not taken by next(). */
  backlog(): number {
    return this.received.length;
  }

  write(bytes: string | Buffer): void {
    this.socket.write(bytes);
  }

  /** Writes a reply to `cmd` the way QEMU spells it: `{"return": …, "id": <id as sent>}\r\n`. */
  reply(cmd: ReceivedCommand, value: unknown = {}): void {
    this.write(`{"return": ${JSON.stringify(value)}, "id": ${cmd.idText ?? 'null'}}\r\n`);
  }

  replyError(cmd: ReceivedCommand, cls: string, desc: string): void {
    this.write(`{"id": ${cmd.idText ?? 'null'}, "error": {"class": ${JSON.stringify(cls)}, "desc": ${JSON.stringify(desc)}}}\r\n`);
  }

  event(name: string, data?: object): void {
    const d = data ? `, "data": ${JSON.stringify(data)}` : '';
    this.write(`{"timestamp": {"seconds": 1700000000, "microseconds": 1}, "event": ${JSON.stringify(name)}${d}}\r\n`);
  }

  /** Greets and answers qmp_capabilities; resolves with the negotiation command the client sent. */
  async handshake(greeting = GREETING_72): Promise<ReceivedCommand> {
    this.write(greeting);
    const neg = await this.next();
    this.reply(neg);
    return neg;
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export interface FakeServer {
  address: QmpAddress;
  dir: string;
  /** The next connection the client makes. */
  accept(timeoutMs?: number): Promise<FakeConnection>;
  close(): Promise<void>;
}

export async function startFakeServer(): Promise<FakeServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'qmp-fake-'));
  chmodSync(dir, 0o700);
  const socketPath = path.join(dir, 'qmp.sock');
  const pending: FakeConnection[] = [];
  const waiters: Array<(c: FakeConnection) => void> = [];
  const all: FakeConnection[] = [];
  const server = net.createServer((socket) => {
    const conn = new FakeConnection(socket);
    all.push(conn);
    const w = waiters.shift();
    if (w) w(conn); else pending.push(conn);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(socketPath, () => resolve());
  });
  return {
    address: { kind: 'unix', path: socketPath },
    dir,
    accept(timeoutMs = 5000): Promise<FakeConnection> {
      const ready = pending.shift();
      if (ready) return Promise.resolve(ready);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('fake server: no connection in time')), timeoutMs);
        waiters.push((c) => { clearTimeout(timer); resolve(c); });
      });
    },
    async close(): Promise<void> {
      for (const c of all) c.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A QmpClient connected (greeting and negotiation done) to a fresh fake server, for one test. */
export interface FakeSession {
  client: QmpClient;
  conn: FakeConnection;
  server: FakeServer;
  /** Disconnects the client and closes the server. */
  close(): Promise<void>;
}

export async function connectToFake(options: QmpClientOptions = {}, greeting = GREETING_72): Promise<FakeSession> {
  const server = await startFakeServer();
  const client = new QmpClient(options);
  const connecting = client.connect(server.address);
  const conn = await server.accept();
  await conn.handshake(greeting);
  await connecting;
  return { client, conn, server, close: async () => { await client.disconnect(); await server.close(); } };
}
