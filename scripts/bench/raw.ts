// The baseline every client figure is compared with: the least a QMP client can do. It splits QEMU's
// output on newlines, JSON.parses each line and settles the waiter of the reply's id, with no schema, no
// window, no events history, no tracing. Anything ours does beyond this shows up as a ratio above 1.
import net from 'node:net';

export class RawQmp {
  private buffer = '';
  private nextId = 0;
  private readonly waiters = new Map<string, (reply: Record<string, unknown>) => void>();
  private greeted?: () => void;

  private constructor(private readonly socket: net.Socket) {
    socket.setEncoding('utf8');
    socket.setNoDelay(true);
    socket.on('data', (chunk: string) => this.onData(chunk));
  }

  static async connect(path: string): Promise<RawQmp> {
    const socket = net.createConnection(path);
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    const raw = new RawQmp(socket);
    await new Promise<void>((resolve) => { raw.greeted = resolve; });
    // The same session mode as ours: with OOB enabled QEMU queues in-band commands instead of reading one at a
    // time, which is what makes pipelining pay; a baseline without it would measure QEMU, not the client.
    await raw.call('qmp_capabilities', { enable: ['oob'] });
    return raw;
  }

  private onData(chunk: string): void {
    this.buffer += chunk;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      const msg = JSON.parse(line) as Record<string, unknown>;
      if ('QMP' in msg) { this.greeted?.(); continue; }
      if (typeof msg['id'] !== 'string') continue;
      const w = this.waiters.get(msg['id']);
      if (w) { this.waiters.delete(msg['id']); w(msg); }
    }
  }

  call(execute: string, args?: object): Promise<Record<string, unknown>> {
    const id = `r${this.nextId++}`;
    const p = new Promise<Record<string, unknown>>((resolve) => this.waiters.set(id, resolve));
    this.socket.write(JSON.stringify(args ? { execute, arguments: args, id } : { execute, id }));
    return p;
  }

  close(): void {
    this.socket.destroy();
  }

  /** Closes the connection and resolves once the socket is closed (as our client's disconnect() waits for). */
  closed(): Promise<void> {
    return new Promise<void>((resolve) => {
      if (this.socket.closed) { resolve(); return; }
      this.socket.once('close', () => resolve());
      this.socket.destroy();
    });
  }
}
