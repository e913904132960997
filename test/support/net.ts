// Small waits and probes shared by the test tiers (host, qemu): a free TCP port, a socket that listens, a process
// that lives. Every wait has a bound.
import * as net from 'node:net';

/** A port nobody listens on right now (the kernel picks it; the caller binds it a moment later). */
export function freePort(): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/**
 * Waits until a unix socket accepts a connection (closed again at once), or rejects after `timeoutMs`. The
 * socket file appears a moment before its server listens, so a file alone does not mean a server is there.
 */
export async function waitForListening(socket: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(socket);
      const timer = setTimeout(() => { s.destroy(); resolve(false); }, 2000);
      s.once('connect', () => { clearTimeout(timer); s.destroy(); resolve(true); });
      s.once('error', () => { clearTimeout(timer); s.destroy(); resolve(false); });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing accepted connections on ${socket} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
