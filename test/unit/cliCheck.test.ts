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
