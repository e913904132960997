// `qmp-notebook run` opens a plain QMP socket while it reads and plans the notebook (connecting is part of a run's
// fixed cost): a socket named on the command line before the file is read, in the same turn (the handshake goes on
// while the file is read),
// and a malformed cell still means nothing is sent: the connection being opened is cancelled (or closed, unused,
// if it opened already), and the problems are reported exactly as before. A process the run would start (a
// sandbox), or a libvirt domain, is never opened for a notebook with a malformed cell.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { cliMain, type CliDeps, type CliSession } from '../../src/cli/cli';

const MALFORMED = '```qmp\n{"execute": "query-status"}\n```\n\n```qmp\n{"execute": "stop",}\n```\n';

function capture(): { out: string[]; err: string[]; io: { out(l: string): void; err(l: string): void } } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

describe('run opens a plain socket while it plans', () => {
  test('a malformed cell: the connection being opened is cancelled, nothing is sent, the problems as before', async () => {
    const signals: Array<AbortSignal | undefined> = [];
    const deps: CliDeps = {
      version: '0', readFile: () => MALFORMED,
      connect: (_c, o) => {
        signals.push(o.signal);
        // A connect in progress: it ends only when cancelled.
        return new Promise<CliSession>((_, reject) => { o.signal?.addEventListener('abort', () => reject(o.signal?.reason)); });
      },
    };
    for (const json of [false, true]) {
      const c = capture();
      const code = await cliMain(['run', 'x.qmp', '--socket', '/nonexistent/qmp.sock', ...(json ? ['--json'] : [])], deps, c.io);
      assert.equal(code, 1);
      assert.match(c.err.join('\n'), /1 problem in the notebook's cells; nothing was sent/);
      if (json) assert.match(c.out.join('\n'), /"file":"x\.qmp","cell":2,"line":6,.*"severity":"error"/);
      else assert.match(c.err.join('\n'), /x\.qmp:6:\d+: error: trailing comma/);
      assert.equal(signals.at(-1)?.aborted, true, 'the early connection was cancelled');
    }
    assert.equal(signals.length, 2);
  });

  test('a malformed cell: a sandbox is never started', async () => {
    const deps: CliDeps = { version: '0', readFile: () => MALFORMED, connect: () => { throw new Error('the CLI tried to connect'); } };
    const c = capture();
    assert.equal(await cliMain(['run', 'x.qmp', '--sandbox'], deps, c.io), 1);
    assert.match(c.err.join('\n'), /nothing was sent/);
    assert.doesNotMatch(c.err.join('\n'), /tried to connect/);
  });

  test('a good notebook whose socket cannot be reached: the connection error, as before', async () => {
    const deps: CliDeps = { version: '0', readFile: () => '```qmp\n{"execute": "query-status"}\n```\n', connect: async () => { throw new Error('ECONNREFUSED'); } };
    const c = capture();
    assert.equal(await cliMain(['run', 'x.qmp', '--socket', '/nonexistent/qmp.sock'], deps, c.io), 2);
    assert.match(c.err.join('\n'), /cannot connect to .*qmp\.sock: ECONNREFUSED/);
  });

  test('a socket named on the command line is connected before the file is read, in the same turn', async () => {
    const order: string[] = [];
    const deps: CliDeps = {
      version: '0',
      readFile: () => { order.push('read'); return MALFORMED; },
      connect: (_c, o) => {
        order.push('connect');
        return new Promise<CliSession>((_, reject) => { o.signal?.addEventListener('abort', () => reject(o.signal?.reason)); });
      },
    };
    assert.equal(await cliMain(['run', 'x.qmp', '--socket', '/nonexistent/qmp.sock'], deps, capture().io), 1);
    assert.deepEqual(order, ['connect', 'read']);
  });

  // A connection that opened already is closed without a command whenever nothing is run.
  for (const [what, readFile, args, code, said] of [
    ['a malformed cell', (): string => MALFORMED, ['--tcp', '127.0.0.1:4444'], 1, /nothing was sent/],
    ['a file that cannot be read', (): string => { throw new Error('ENOENT: no such file'); }, ['--socket', '/tmp/qmp.sock'], 2, /cannot read x\.qmp: ENOENT/],
    ['a notebook without code cells', (): string => '# Only prose\n', ['--socket', '/tmp/qmp.sock'], 0, /no code cells/],
  ] as const) {
    test(`${what}: a connection that opened already is closed without a command`, async () => {
      let closed = 0;
      let sent = 0;
      const session = {
        close: async () => { closed++; },
        run: () => { sent++; throw new Error('a cell was run'); },
        loadSchema: () => { sent++; throw new Error('the schema was read'); },
      } as unknown as CliSession;
      const deps: CliDeps = { version: '0', readFile, connect: async () => session };
      const c = capture();
      assert.equal(await cliMain(['run', 'x.qmp', ...args], deps, c.io), code);
      assert.equal(closed, 1, 'closed once');
      assert.equal(sent, 0, 'nothing sent');
      assert.match(c.err.join('\n'), said);
    });
  }
});
