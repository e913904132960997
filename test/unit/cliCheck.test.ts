// `qmp-notebook check` and the malformed-cell path of `run`, in-process with the real format and diagnostics
// and the 7.2 fixture schema: nothing here needs QEMU, and `run` must not even try to connect.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { cliMain, type CliDeps } from '../../src/cli/cli';
import { realDeps } from '../../src/cli/deps';

const root = path.resolve(__dirname, '..', '..', '..');
const schema72 = path.join(root, 'test', 'fixtures', 'qemu-7.2', 'query-qmp-schema.json');

/** Real deps reading `files` from memory; connecting fails the test. */
function deps(files: Record<string, string>): CliDeps {
  const real = realDeps();
  return {
    ...real,
    readFile: (p) => {
      if (p in files) return files[p] as string;
      if (p === schema72) return readFileSync(p, 'utf8');
      throw new Error(`ENOENT: ${p}`);
    },
    connect: () => { throw new Error('the CLI tried to connect'); },
  };
}

async function cli(argv: string[], files: Record<string, string>): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await cliMain(argv, deps(files), { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

const NOTEBOOK = [
  '---',                                                         // 1
  'profile: sandbox',                                            // 2
  '---',                                                         // 3
  '# Title',                                                     // 4
  '',                                                            // 5
  '```qmp',                                                      // 6
  '{"execute": "query-status"}',                                 // 7
  '```',                                                         // 8
  '',                                                            // 9
  '```qmp',                                                      // 10
  '  {"execute": "blockdev-add", "arguments": {"driver": 5}}',   // 11
  '```',                                                         // 12
  '',                                                            // 13
  '```qmp-shell',                                                // 14
  'query-status',                                                // 15
  'qom-get path=/machine = broken',                              // 16
  '```',                                                         // 17
].join('\n') + '\n';

describe('cli check in-process', () => {
  test('diagnostics and parse errors at file positions, sorted, with codes', async () => {
    const r = await cli(['check', 'n.qmp', '--schema', schema72], { 'n.qmp': NOTEBOOK });
    assert.equal(r.code, 1);
    assert.ok(r.out.length >= 2, r.out.join('\n'));
    assert.match(r.out[0] ?? '', /^n\.qmp:11:\d+: error: .*\[(wrong-type|bad-enum|bad-tag)\]$/);
    assert.match(r.out[r.out.length - 1] ?? '', /^n\.qmp:16:\d+: error: /);
    const lines = r.out.map((l) => Number(l.split(':')[1]));
    assert.deepEqual(lines, [...lines].sort((a, b) => a - b));
  });

  test('the same positions in a CRLF file with a byte order mark', async () => {
    const lf = await cli(['check', 'n.qmp', '--schema', schema72], { 'n.qmp': NOTEBOOK });
    const crlf = await cli(['check', 'n.qmp', '--schema', schema72], { 'n.qmp': '\uFEFF' + NOTEBOOK.replace(/\n/g, '\r\n') });
    assert.deepEqual(crlf.out, lf.out);
  });

  test('an unreadable notebook or schema is exit 2', async () => {
    const missing = await cli(['check', 'gone.qmp', '--schema', schema72], {});
    assert.equal(missing.code, 2);
    assert.match(missing.err[0] ?? '', /cannot read gone\.qmp/);
    const badSchema = await cli(['check', 'n.qmp', '--schema', 's.json'], { 'n.qmp': NOTEBOOK, 's.json': '[1, 2' });
    assert.equal(badSchema.code, 2);
    assert.match(badSchema.err[0] ?? '', /cannot read schema s\.json/);
  });

  test('a saved {"return": [...]} reply works as a schema file', async () => {
    const schema = readFileSync(schema72, 'utf8');
    const r = await cli(['check', 'n.qmp', '--schema', 'reply.json'], { 'n.qmp': NOTEBOOK, 'reply.json': `{"return": ${schema}}` });
    const direct = await cli(['check', 'n.qmp', '--schema', schema72], { 'n.qmp': NOTEBOOK });
    assert.deepEqual(r.out, direct.out);
  });
});

describe('cli check: one validator, shell cells, -compat', () => {
  const SHELL = [
    '```qmp-shell',              // 1
    'query-verison',             // 2
    'blockdev-del',              // 3
    'block_resize node-name=n1 sise=10 size=1', // 4
    'blockdev-add driver=nul-co node-name=x', // 5
    'nbd-server-remove name=x',  // 6
    '```',
  ].join('\n') + '\n';

  test('qmp-shell cells are checked against the schema, at the column of the shell text', async () => {
    const r = await cli(['check', 's.qmp', '--schema', schema72], { 's.qmp': SHELL });
    assert.equal(r.code, 1);
    assert.deepEqual(r.out.map((l) => l.replace(/: (error|warning): .*\[/, ': $1 [')), [
      's.qmp:2:1: error [unknown-command]',
      's.qmp:3:1: error [missing-member]',
      's.qmp:4:27: error [unknown-member]',
      's.qmp:5:21: error [bad-tag]',
      's.qmp:6:1: warning [deprecated]',
    ]);
    assert.match(r.out[0] ?? '', /did you mean 'query-version'/);
  });

  test('--compat deprecated-input=reject makes deprecated input an error; so does the front matter', async () => {
    const flag = await cli(['check', 's.qmp', '--schema', schema72, '--compat', 'deprecated-input=reject'], { 's.qmp': SHELL });
    assert.match(flag.out[4] ?? '', /^s\.qmp:6:1: error: .*deprecated-input=reject/);
    const front = await cli(['check', 'f.qmp', '--schema', schema72], { 'f.qmp': `---\ncompat: deprecated-input=reject\n---\n${SHELL}` });
    assert.match(front.out[4] ?? '', /^f\.qmp:9:1: error: /);
    const bad = await cli(['check', 's.qmp', '--schema', schema72, '--compat', 'deprecated-input=maybe'], { 's.qmp': SHELL });
    assert.equal(bad.code, 2);
    assert.match(bad.err[0] ?? '', /--compat: deprecated-input must be accept, reject or crash/);
  });

  test('one mistake is one problem: the parser and the diagnostics no longer both report it', async () => {
    const r = await cli(['check', 'j.qmp', '--schema', schema72], { 'j.qmp': '```qmp\n{"execute": "stop",}\n{"execute": "x", "arguments": {"a": [1 2]}}\n```\n' });
    const syntax = r.out.filter((l) => l.endsWith('[json-syntax]'));
    assert.equal(syntax.length, 2, r.out.join('\n'));
    assert.match(syntax[0] ?? '', /^j\.qmp:2:20: error: trailing comma/);
    assert.match(syntax[1] ?? '', /^j\.qmp:3:40: error: expected ',' or '\]'/);
  });
});

describe('cli run in-process: malformed cells', () => {
  test('a malformed qmp cell is reported at its file position before any connection is made', async () => {
    const text = '# t\n\n```qmp\n{"execute": "cont"}\n```\n\n```qmp\n{"execute": "stop",\n```\n';
    const r = await cli(['run', 't.qmp', '--json'], { 't.qmp': text });
    assert.equal(r.code, 1);
    const problems = r.out.map((l) => JSON.parse(l) as { file: string; line: number; severity: string; cell: number });
    assert.ok(problems.length >= 1);
    assert.ok(problems.every((p) => p.file === 't.qmp' && p.line === 8 && p.severity === 'error' && p.cell === 3), r.out.join('\n'));
    assert.match(r.err.join('\n'), /nothing was sent/);
  });
});
