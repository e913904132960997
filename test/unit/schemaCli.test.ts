// The CLI at the schema and encoding boundaries (issue 8, items 4 and 10): a schema file the model cannot use
// is one line on stderr and exit 2, never a stack trace; a notebook with invalid UTF-8 is checked with a
// warning that says where.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { cliMain, EXIT_OK, EXIT_USAGE, type CliDeps } from '../../src/cli/cli';
import { realDeps } from '../../src/cli/deps';

async function cli(argv: string[], extra: Partial<CliDeps> = {}): Promise<{ code: number; out: string[]; err: string[] }> {
  const out: string[] = [];
  const err: string[] = [];
  const deps: CliDeps = { ...realDeps(), connect: () => { throw new Error('the CLI tried to connect'); }, ...extra };
  const code = await cliMain(argv, deps, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err };
}

describe('qmp-notebook check with a bad schema file', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'qmp-schema-cli-'));
  const nb = path.join(dir, 'n.qmp');
  writeFileSync(nb, '```qmp\n{"execute": "query-status"}\n```\n', { mode: 0o600 });
  const cases: [string, string, RegExp][] = [
    ['null-entity', '[null]', /entity 0: expected an object/],
    ['number-name', '[{"name": 5, "meta-type": "builtin", "json-type": "int"}]', /entity 0: "name" must be a non-empty string, found the number 5/],
    ['numbers', '[1,2,3]', /entity 0: expected an object .* found the number 1/],
    ['dangling', '[{"name": "q", "meta-type": "command", "arg-type": "9", "ret-type": "9"}]', /entity 0 \("q"\): "arg-type" names the type "9", which the schema does not define/],
    ['cyclic', '[{"name": "[a]", "meta-type": "array", "element-type": "[a]"}]', /cyclic type/],
    ['wrapped', '{"return": [{"name": "x", "meta-type": "object", "members": 3}]}', /entity 0 \("x"\): "members" must be an array/],
  ];
  for (const [name, text, expected] of cases) {
    test(`${name}: one line, exit 2`, async () => {
      const file = path.join(dir, `${name}.json`);
      writeFileSync(file, text, { mode: 0o600 });
      const r = await cli(['check', nb, '--schema', file]);
      assert.equal(r.code, EXIT_USAGE, r.err.join('\n'));
      assert.equal(r.err.length, 1, r.err.join('\n'));
      assert.ok(r.err[0]?.startsWith(`qmp-notebook: ${file}: invalid query-qmp-schema`) || r.err[0]?.includes(file), r.err[0]);
      assert.match(r.err[0] ?? '', expected);
      assert.doesNotMatch(r.err[0] ?? '', /\n| {4}at /);
    });
  }
  test('an object that is not a reply stays the usage error it was', async () => {
    const file = path.join(dir, 'object.json');
    writeFileSync(file, '{}', { mode: 0o600 });
    const r = await cli(['check', nb, '--schema', file]);
    assert.equal(r.code, EXIT_USAGE);
    assert.match(r.err[0] ?? '', /expected a JSON array/);
  });
  test.after(() => rmSync(dir, { recursive: true, force: true }));
});

describe('qmp-notebook check on invalid UTF-8', () => {
  test('warns with the line and byte offset, and still checks the cells', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-utf8-cli-'));
    try {
      const file = path.join(dir, 'bad.qmp');
      const bytes = Buffer.concat([Buffer.from('# Notes \n\n'), Buffer.from([0xff]), Buffer.from('\n\n```qmp\n{"execute": "query-status"}\n```\n')]);
      writeFileSync(file, bytes, { mode: 0o600 });
      const schema = path.join(__dirname, '..', '..', '..', 'test', 'fixtures', 'qemu-7.2', 'query-qmp-schema.json');
      const r = await cli(['check', file, '--schema', schema]);
      assert.equal(r.code, EXIT_OK, r.err.join('\n'));
      const warning = r.err.find((l) => l.includes('UTF-8'));
      assert.ok(warning, r.err.join('\n'));
      assert.match(warning, /warning: .*bad\.qmp: not valid UTF-8: an invalid UTF-8 sequence, the first at line 3 \(byte offset 10\)/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
