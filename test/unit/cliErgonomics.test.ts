// The command line's manners, without QEMU: a notebook with no code cells is reported (and fails `test`),
// `check` takes several files and `-` for standard input, every command has its own --help with the
// complete list of exit statuses, HMP replies print as text.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { cliMain, type CliDeps } from '../../src/cli/cli';
import { TranscriptPrinter } from '../../src/cli/run';
import { fixturePath } from './schemaFixtures';

function capture(): { io: { out(l: string): void; err(l: string): void }; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { io: { out: (l) => out.push(l), err: (l) => err.push(l) }, out, err };
}

const noConnect = (files: Record<string, string>): CliDeps => ({
  version: '0',
  readFile: (f) => files[f] ?? readFileSync(f, 'utf8'),
  connect: () => { throw new Error('the CLI tried to connect'); },
});

const BARE = '# Notes\n\nquery-status\n';

describe('a notebook without code cells', () => {
  test('run warns and starts nothing; check warns; test fails with "no cells to test"', async () => {
    const files = { 'bare.qmp': BARE };
    const r = capture();
    assert.equal(await cliMain(['run', 'bare.qmp'], noConnect(files), r.io), 0);
    assert.match(r.err.join('\n'), /warning: bare\.qmp: no code cells \(commands go in fenced blocks/);
    const c = capture();
    assert.equal(await cliMain(['check', 'bare.qmp', '--schema', fixturePath('7.2', 'query-qmp-schema.json')], noConnect(files), c.io), 0);
    assert.match(c.err.join('\n'), /warning: bare\.qmp: no code cells/);
    const t = capture();
    assert.equal(await cliMain(['test', 'bare.qmp'], noConnect(files), t.io), 1);
    assert.match(t.out.join('\n'), /^FAIL bare\.qmp: no cells to test/m);
    assert.match(t.out.join('\n'), /^0 passed, 1 failed$/m);
  });
});

describe('check takes several files', () => {
  test('problems of each file under its name, one total', async () => {
    const files = {
      'a.qmp': '```qmp\n{"execute": "query-stauts"}\n```\n',
      'b.qmp': '```qmp-shell\nquery-status\nblockdev-add driver=nope\n```\n',
    };
    const c = capture();
    const code = await cliMain(['check', 'a.qmp', 'b.qmp', '--schema', fixturePath('7.2', 'query-qmp-schema.json')], noConnect(files), c.io);
    assert.equal(code, 1);
    assert.match(c.out[0] ?? '', /^a\.qmp:2:13: error: /);
    assert.match(c.out[1] ?? '', /^b\.qmp:3:21: error: /);
    assert.match(c.err.join('\n'), /2 errors, 0 other problems in 2 notebooks/);
  });
});

describe('--help of each command', () => {
  for (const command of ['run', 'check', 'schema', 'shell', 'test']) {
    test(`${command} --help is its own and lists every exit status`, async () => {
      const c = capture();
      assert.equal(await cliMain([command, '--help'], noConnect({}), c.io), 0);
      const text = c.out.join('\n');
      assert.match(text, new RegExp(`^Usage:\\n?\\s*qmp-notebook ${command} `));
      for (const status of ['0', '1', '2', '70', '130', '143']) assert.match(text, new RegExp(`^  ${status} +\\S`, 'm'), `${command}: ${status}`);
      if (command !== 'test') assert.doesNotMatch(text, /--junit/);
    });
  }
});

describe('HMP replies in run', () => {
  test('print as their text, not as an escaped JSON string', () => {
    const c = capture();
    const plan = { steps: [], problems: [] };
    const printer = new TranscriptPrinter(c.io, false, [{ cell: 1, plan } as never]);
    printer.write({ type: 'reply', cell: 1, step: 0, command: 'human-monitor-command', idText: '"#1"', ok: true, raw: '{"return": "a: 1\\r\\nb: 2\\r\\n", "id": "#1"}', wire: '', ms: 1, at: 0 } as never);
    printer.write({ type: 'reply', cell: 1, step: 1, command: 'query-status', idText: '"#2"', ok: true, raw: '{"return": {}, "id": "#2"}', wire: '', ms: 1, at: 0 } as never);
    assert.deepEqual(c.out, ['a: 1', 'b: 2', '<- {"return": {}, "id": "#2"}']);
  });
});

describe('standard input', () => {
  test("check - reads the notebook from stdin (the built bin's reader)", () => {
    // The real file reader (no readFile in deps): through a child process, so stdin is a pipe.
    const script = `require(${JSON.stringify(path.resolve(__dirname, '..', '..', 'src', 'cli', 'cli.js'))}).cliMain(['check', '-', '--schema', ${JSON.stringify(fixturePath('7.2', 'query-qmp-schema.json'))}], { version: '0', connect() { throw new Error('no'); } }, { out: (l) => console.log(l), err: (l) => console.error(l) }).then((c) => { process.exitCode = c; });`;
    const r = spawnSync(process.execPath, ['-e', script], { input: '```qmp\n{"execute": "query-stauts"}\n```\n', encoding: 'utf8' });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /^-:2:13: error: .*query-stauts/m);
  });
});
