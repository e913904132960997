// One notebook, many QEMU versions (src/cli/compat.ts): the compatibility table of a hand-made notebook on the
// 7.2 and 10.0 fixture schemas lists exactly the differences it was written to hold, and nothing for the cell
// that reads the same in both; `schema diff` finds known changes both ways and none between a schema and
// itself. The CLI rows run the production bundle (`check --schema A --schema B`, `schema diff`, `import`).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseNotebook } from '../../src/format';
import { compatTable, diffSchemas, type NamedSchema } from '../../src/cli/compat';
import { fixturePath, fixtureSchema } from './schemaFixtures';
import { buildCli, repoRoot, runCliBundle } from '../support/cliBundle';

const v72: NamedSchema = { name: 'qemu-7.2', schema: fixtureSchema('7.2') };
const v100: NamedSchema = { name: 'qemu-10.0', schema: fixtureSchema('10.0') };
const sample = path.join(repoRoot, 'test', 'fixtures', 'compat', 'versions.qmp');

describe('check against several schemas', () => {
  test('the hand-made notebook gives exactly its five differences', () => {
    const rows = compatTable(parseNotebook(readFileSync(sample, 'utf8')).cells, [v72, v100]);
    assert.deepEqual(rows.map((r) => [r.cell, r.subject, ...r.status]), [
      [1, 'reply of query-status: return.singlestep', 'ok', 'unknown-member'],
      [2, 'query-audiodevs: "query-audiodevs"', 'unknown-command', 'ok'],
      [3, 'x-query-profile: "x-query-profile"', 'unstable', 'unknown-command'],
      [4, 'blockdev-add: "discard-no-unref"', 'unknown-member', 'ok'],
      [5, 'chardev-add: "reconnect"', 'ok', 'deprecated'],
    ]);
    assert.ok(rows.every((r) => r.messages.some((m) => m !== '')));
  });

  test('the same schema twice gives no rows; the order of the schemas is the order of the columns', () => {
    const cells = parseNotebook(readFileSync(sample, 'utf8')).cells;
    assert.deepEqual(compatTable(cells, [v100, v100]), []);
    assert.deepEqual(compatTable(cells, [v100, v72])[0]?.status, ['unknown-member', 'ok']);
  });
});

describe('schema diff', () => {
  const rows = diffSchemas(v72, v100);
  const has = (entity: string, p: string, change: string): boolean => rows.some((r) => r.entity === entity && r.path === p && r.change === change);

  test('known changes between 7.2 and 10.0 are listed', () => {
    assert.ok(has('command query-status', 'return.singlestep', 'only in qemu-7.2'));
    assert.ok(has('command query-audiodevs', '', 'only in qemu-10.0'));
    assert.ok(has('command x-query-profile', '', 'only in qemu-7.2'));
    assert.ok(has('command blockdev-add', 'arguments (driver=qcow2).discard-no-unref', 'only in qemu-10.0'));
    assert.ok(has('command chardev-add', 'arguments.backend (type=socket).data.reconnect', 'stable in qemu-7.2, deprecated in qemu-10.0'));
    assert.ok(has('command migrate', 'arguments.uri', 'required in qemu-7.2, optional in qemu-10.0'));
    // Nothing is reported for what did not change.
    assert.ok(!rows.some((r) => r.entity === 'command query-version'));
  });

  test('a schema against itself: no differences; swapped: the same rows, mirrored', () => {
    assert.deepEqual(diffSchemas(v100, v100), []);
    const back = diffSchemas(v100, v72);
    assert.equal(back.length, rows.length);
    assert.ok(back.some((r) => r.entity === 'command query-status' && r.path === 'return.singlestep' && r.change === 'only in qemu-7.2'));
  });
});

describe('the CLI (production bundle)', () => {
  const s72 = fixturePath('7.2', 'query-qmp-schema.json');
  const s100 = fixturePath('10.0', 'query-qmp-schema.json');

  test('check --schema A --schema B prints the table and exits 1; schema diff exits 1 and 0', async () => {
    const cli = await buildCli();
    const r = await runCliBundle(cli, ['check', sample, '--schema', s72, '--schema', s100]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^cell +subject +qemu-7\.2 +qemu-10\.0$/m);
    assert.match(r.stdout, /^1 +reply of query-status: return\.singlestep +ok +unknown-member$/m);
    assert.match(r.stdout, /5 differences between qemu-7\.2, qemu-10\.0/);
    const d = await runCliBundle(cli, ['schema', 'diff', s72, s100, '--json']);
    assert.equal(d.code, 1, d.stderr);
    const parsed = JSON.parse(d.stdout) as { differences: { entity: string; path: string }[] };
    assert.ok(parsed.differences.some((x) => x.entity === 'command query-status' && x.path === 'return.singlestep'));
    const same = await runCliBundle(cli, ['schema', 'diff', s100, s100]);
    assert.equal(same.code, 0, same.stderr);
    const bad = await runCliBundle(cli, ['schema', 'diff', s100]);
    assert.equal(bad.code, 2);
  });

  test('import writes the notebook atomically, private, and reports skipped lines by number', async () => {
    const cli = await buildCli();
    const dir = mkdtempSync(path.join(tmpdir(), 'qmp-import-'));
    try {
      const src = path.join(dir, 'doc.txt');
      writeFileSync(src, 'Example:\n-> { "execute": "query-status" }\n<- { "return": {"status": "running", "singlestep": false, "running": true} }\n-> nope\n');
      const out = path.join(dir, 'out.qmp');
      const r = await runCliBundle(cli, ['import', src, '-o', out]);
      assert.equal(r.code, 1, 'a line that could not be read makes the exit 1');
      assert.match(r.stderr, /doc\.txt:4: an arrow not followed by a JSON object/);
      assert.match(r.stderr, /skipped: 1\b/);
      assert.equal(statSync(out).mode & 0o777, 0o600);
      const nb = parseNotebook(readFileSync(out, 'utf8'));
      assert.deepEqual(nb.cells.map((c) => c.source), ['{"execute": "query-status"}']);
      const usage = await runCliBundle(cli, ['import', src]);
      assert.equal(usage.code, 2);
      assert.match(usage.stderr, /-o OUT\.qmp/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
