// The cold baseline of `npm run bench`'s runner rows: what a script run as its own process does at the least
// (node raw-script.cjs SOCKET N): connect, read the greeting, negotiate, N query-status round trips, hang up.
// The same work as RawQmp (raw.ts), in a file of its own so that its process loads nothing else.
// CommonJS, not an ES module: a fresh process loads it a few milliseconds sooner, and the baseline is the least.
/* global require, process */
'use strict';
// eslint-disable-next-line @typescript-eslint/no-require-imports
const net = require('node:net');

const [socketPath, count] = process.argv.slice(2);
const n = Number(count ?? 1000);
const socket = net.createConnection(socketPath);
socket.setEncoding('utf8');
let buffer = '';
let nextId = 0;
const waiters = new Map();
let greeted;
socket.on('data', (chunk) => {
  buffer += chunk;
  let nl;
  while ((nl = buffer.indexOf('\n')) >= 0) {
    const msg = JSON.parse(buffer.slice(0, nl));
    buffer = buffer.slice(nl + 1);
    if ('QMP' in msg) { greeted(); continue; }
    const w = waiters.get(msg.id);
    if (w) { waiters.delete(msg.id); w(msg); }
  }
});
socket.on('error', (err) => { process.stderr.write(`${err.message}\n`); process.exit(2); });
const call = (execute, args) => {
  const id = `r${nextId++}`;
  const p = new Promise((resolve) => waiters.set(id, resolve));
  socket.write(JSON.stringify(args ? { execute, arguments: args, id } : { execute, id }));
  return p;
};
(async () => {
  await new Promise((resolve) => { greeted = resolve; });
  await call('qmp_capabilities', { enable: ['oob'] });
  for (let i = 0; i < n; i++) await call('query-status');
  socket.destroy();
})();
