// `qmp-notebook check` and `schema` through the bundled bin: problems at file positions, exit codes, and a
// schema saved by `schema` read back by `check --schema`.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startQemu, type TestQemu } from '../support/qemu';
import { QmpClient } from '../../src/qmp/client';
import { buildCli, cliBundle } from '../support/cliBundle';

const root = path.resolve(__dirname, '..', '..', '..');
const bundle = cliBundle;
const fixture10 = path.join(root, 'test', 'fixtures', 'qemu-10.0', 'query-qmp-schema.json');

let dir: string;

function cli(args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [bundle, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, text, { mode: 0o600 });
  return file;
}

// Line 6 holds a misspelt command, line 10 a wrong argument type, line 13 a syntax error; line 16 is a
// deprecated command, which is a warning, not an error.
const BROKEN = [
  '# Broken',                                                             // 1
  '',                                                                     // 2
  'Prose that mentions {"execute": "nonsense"} is not checked.',          // 3
  '',                                                                     // 4
  '```qmp',                                                               // 5
  '{"execute": "query-statu"}',                                           // 6
  '```',                                                                  // 7
  '',                                                                     // 8
  '```qmp',                                                               // 9
  '{"execute": "stop"} {"execute": "cont", "arguments": {"x": 1}}',      // 10
  '```',                                                                  // 11
  '```qmp',                                                               // 12
  '-> {"execute": "query-status",, }',                                    // 13
  '```',                                                                  // 14
  '',                                                                     // 15
].join('\n') + '\n';

const CLEAN = '# Clean\n\n```qmp\n{"execute": "query-status"}\n{"wait-event": "STOP", "timeout": 100}\n```\n';

before(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'qmp-cli-check-'));
  chmodSync(dir, 0o700);
  await buildCli();
});

after(() => rmSync(dir, { recursive: true, force: true }));

describe('qmp-notebook check --schema (10.0 fixture)', () => {
  test('each problem is printed as FILE:LINE:COL: severity: message, exit 1', () => {
    const file = write('broken.qmp', BROKEN);
    const r = cli(['check', file, '--schema', fixture10]);
    assert.equal(r.code, 1, r.stderr);
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:6:13: error: .*query-statu`));
    assert.ok(lines.some((l) => /:10:\d+: error: /.test(l) && /\bx\b/.test(l)), r.stdout);
    assert.ok(lines.some((l) => /:13:\d+: error: /.test(l)), r.stdout);
    assert.equal(lines.some((l) => /:3:/.test(l)), false, 'markdown is not checked');
    assert.match(r.stderr, /\d+ errors?/);
  });

  test('--json gives one object per problem with file positions', () => {
    const file = write('broken-json.qmp', BROKEN);
    const r = cli(['check', file, '--schema', fixture10, '--json']);
    assert.equal(r.code, 1);
    const problems = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { file: string; line: number; col: number; severity: string; cell: number });
    assert.deepEqual(problems[0] && [problems[0].file, problems[0].line, problems[0].col, problems[0].severity, problems[0].cell], [file, 6, 13, 'error', 2]);
  });

  test('a clean notebook exits 0 and prints nothing; a CRLF copy gives the same positions', () => {
    const file = write('clean.qmp', CLEAN);
    const r = cli(['check', file, '--schema', fixture10]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.equal(r.stdout, '');
    const crlf = write('broken-crlf.qmp', BROKEN.replace(/\n/g, '\r\n'));
    const c = cli(['check', crlf, '--schema', fixture10]);
    assert.equal(c.code, 1);
    assert.match(c.stdout, /:6:13: error: /);
  });

  test('a schema file that is not a schema is a usage error', () => {
    const file = write('clean2.qmp', CLEAN);
    const bad = write('bad-schema.json', '{"not": "a schema"}');
    const r = cli(['check', file, '--schema', bad]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /not a query-qmp-schema reply/);
  });
});

describe('qmp-notebook check against a live QEMU', () => {
  let qemu: TestQemu;
  before(async () => { qemu = await startQemu(); });
  after(async () => { await qemu.stop(); });

  test('check --socket also checks the names the QEMU holds: unknown ones are warnings with did-you-mean', async () => {
    // The QEMU holds node n0 (made here); the notebook makes made0 itself before using it.
    const client = new QmpClient();
    await client.connect({ kind: 'unix', path: qemu.socketPath });
    await client.execute('blockdev-add', { driver: 'null-co', 'node-name': 'n0' });
    await client.disconnect();
    const file = write('names.qmp', [
      '```qmp', '{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "made0"}}', '```', '',
      '```qmp', '{"execute": "blockdev-del", "arguments": {"node-name": "made0"}}', '```', '',
      '```qmp-shell', 'blockdev-del node-name=n1', '```', '',
      '```qmp', '{"execute": "blockdev-del", "arguments": {"node-name": "n0"}}', '```', '',
    ].join('\n'));
    const live = cli(['check', file, '--socket', qemu.socketPath, '--json']);
    assert.equal(live.code, 0, `warnings only: ${live.stdout}${live.stderr}`);
    const unknown = live.stdout.split('\n').filter((l) => l.includes('unknown-live-value'));
    assert.equal(unknown.length, 1, live.stdout);
    assert.match(unknown[0] ?? '', /no block node 'n1' \(did you mean 'n0'\?\)/);
    assert.match(unknown[0] ?? '', /"line":\s*10/);
    // Offline (a schema file), nothing is known about names, so nothing is said about them.
    const saved = cli(['schema', '--socket', qemu.socketPath]);
    const offline = cli(['check', file, '--schema', write('names-schema.json', saved.stdout), '--json']);
    assert.doesNotMatch(offline.stdout, /unknown-live-value/);
  });

  test('check --socket uses the live schema; schema output read back by check --schema agrees', () => {
    const file = write('live.qmp', BROKEN);
    const live = cli(['check', file, '--socket', qemu.socketPath]);
    assert.equal(live.code, 1, live.stderr);
    const saved = cli(['schema', '--socket', qemu.socketPath]);
    assert.equal(saved.code, 0, saved.stderr);
    const schemaFile = write('live-schema.json', saved.stdout);
    const offline = cli(['check', file, '--schema', schemaFile]);
    assert.equal(offline.code, 1);
    assert.equal(offline.stdout, live.stdout);
  });
});
