// One notebook, many QEMU versions, with the schema of the QEMU this tier runs (7.2, or 10.0 in the qemu10
// tier) taken by `qmp-notebook schema --qemu BINARY` (a sandbox of that binary): it equals the captured fixture
// of its version (`schema diff` exits 0), and `check --schema 7.2 --schema LIVE` on the hand-made notebook
// lists exactly the differences of that version: none for 7.2, the five the notebook holds for 10.0.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { qemuBinary, testQemuVersion } from '../support/qemu';
import { buildCli, repoRoot, runCliBundle } from '../support/cliBundle';

let dir = '';
before(() => { dir = mkdtempSync(path.join(tmpdir(), 'qmp-compat-')); });
after(() => { rmSync(dir, { recursive: true, force: true }); });

describe('schemas from binaries, against each other', () => {
  test('schema --qemu gives the fixture of its version, and check lists that version\'s differences', async () => {
    const cli = await buildCli();
    const version = testQemuVersion();
    const fixtureVersion = version.major >= 10 ? '10.0' : '7.2';
    const live = path.join(dir, 'live', 'query-qmp-schema.json');
    const got = await runCliBundle(cli, ['schema', '--qemu', qemuBinary], { deadlineMs: 120_000 });
    assert.equal(got.code, 0, got.stderr);
    mkdirSync(path.dirname(live), { recursive: true });
    writeFileSync(live, got.stdout);
    const fixture = (v: string): string => path.join(repoRoot, 'test', 'fixtures', `qemu-${v}`, 'query-qmp-schema.json');

    const same = await runCliBundle(cli, ['schema', 'diff', fixture(fixtureVersion), live]);
    assert.equal(same.code, 0, `${version.text}: ${same.stdout}${same.stderr}`);

    const sample = path.join(repoRoot, 'test', 'fixtures', 'compat', 'versions.qmp');
    const r = await runCliBundle(cli, ['check', sample, '--schema', fixture('7.2'), '--schema', live, '--json']);
    const rows = (JSON.parse(r.stdout) as { rows: { cell: number; status: string[] }[] }).rows;
    if (fixtureVersion === '7.2') {
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(rows, []);
    } else {
      assert.equal(r.code, 1, r.stderr);
      assert.deepEqual(rows.map((x) => [x.cell, ...x.status]), [
        [1, 'ok', 'unknown-member'],
        [2, 'unknown-command', 'ok'],
        [3, 'unstable', 'unknown-command'],
        [4, 'unknown-member', 'ok'],
        [5, 'ok', 'deprecated'],
      ]);
    }
  });
});
