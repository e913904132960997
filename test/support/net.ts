// Small waits and probes shared by the test tiers (host, qemu): a free TCP port, a file that appears, a process
// that lives. Every wait has a bound.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';

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

/** Resolves when `file` exists, watching its folder (QEMU creates its socket a moment after it starts). */
export function waitForFile(file: string, timeoutMs = 10_000): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const watcher = fs.watch(path.dirname(file), () => check());
    const timer = setTimeout(() => {
      watcher.close();
      reject(new Error(`${file} did not appear within ${timeoutMs} ms`));
    }, timeoutMs);
    const check = (): void => {
      if (!fs.existsSync(file)) return;
      clearTimeout(timer);
      watcher.close();
      resolve();
    };
    check();
  });
}
