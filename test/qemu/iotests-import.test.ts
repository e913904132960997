// QEMU's own iotests `.out` files (tests/qemu-iotests of Debian's QEMU 7.2 source, test/support/qemuSource.ts):
// every one imports with no line unaccounted for and no problem line, linearly in its size; and the one whose
// exchange a `-machine none` sandbox can replay passes `qmp-notebook test` there.
//
// Which files are reproducible, by content: every QMP exchange of the 7.2 corpus acts on what the test gave its
// VM outside QMP (images in TEST_DIR, `-drive`/`vm.add_drive`, `-device`, a guest, NBD sockets, qemu-io writes
// through HMP that the .out logs as text). 236 (bitmap transactions) is the one that needs nothing but its
// drive: given a null-co node of that name (`drive0`) first, every cell replays. The others need an image
// format's features (persistent bitmaps, backing chains, qcow2), block jobs over real data, PCI or SCSI
// devices a `-machine none` QEMU lacks, or state set on QEMU's command line the .out does not show.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { importLines } from '../../src/import/import';
import { buildCli, runCliBundle } from '../support/cliBundle';
import { assertLinear } from '../support/linear';
import { startQemu, type TestQemu } from '../support/qemu';
import { qemuSource } from '../support/qemuSource';

function outFiles(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.out')) found.push(p);
    }
  };
  walk(dir);
  return found.sort();
}

/** The lines of a file as the CLI reads them (split at \n; a CR is the reader's to drop). */
function linesOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return lines;
}

describe('QEMU 7.2\'s iotests .out files', () => {
  let iotests = '';
  before(() => { iotests = qemuSource().iotests; });

  test('every .out file imports: no problem line, every line accounted for', (t) => {
    const files = outFiles(iotests);
    assert.ok(files.length > 300, `${files.length} .out files`);
    const totals = { files: files.length, withCells: 0, cells: 0, blank: 0, skipped: 0, read: 0, reported: 0, problems: 0 };
    const notes = new Map<string, number>();
    const problems: string[] = [];
    for (const file of files) {
      const lines = linesOf(file);
      const r = importLines(lines, { format: 'iotests' });
      const counts = r.report.lines;
      assert.ok(counts !== undefined);
      assert.equal(counts.blank + counts.skipped + counts.read + counts.reported, lines.length, `${file}: ${JSON.stringify(counts)}`);
      for (const p of r.report.problems) problems.push(`${path.relative(iotests, file)}:${p.line}: ${p.message}: ${lines[p.line - 1]?.slice(0, 80)}`);
      for (const n of r.report.notes) {
        const kind = n.replace(/\d+/g, 'N').replace(/ at .*/, '');
        notes.set(kind, (notes.get(kind) ?? 0) + 1);
      }
      totals.cells += r.cells;
      if (r.notebook.cells.some((c) => c.kind === 'code')) totals.withCells++;
      totals.blank += counts.blank; totals.skipped += counts.skipped; totals.read += counts.read; totals.reported += counts.reported;
      totals.problems += r.report.problems.length;
    }
    t.diagnostic(JSON.stringify(totals));
    for (const [kind, n] of [...notes].sort()) t.diagnostic(`${n} files: ${kind}`);
    assert.deepEqual(problems, []);
    assert.ok(totals.withCells >= 50 && totals.cells >= 1000, JSON.stringify(totals));
  });

  test('importing is linear in the size of a real .out file', () => {
    const lines = linesOf(path.join(iotests, '236.out'));
    assertLinear('236.out repeated', (n) => Array.from({ length: n }, () => lines).flat(), (input) => importLines(input, { format: 'iotests' }), 20);
  });
});

describe('an iotests exchange replayed on a -machine none sandbox', () => {
  const qemus: TestQemu[] = [];
  let dir = '';
  let cli = '';
  before(async () => {
    qemuSource();
    cli = await buildCli();
    dir = mkdtempSync(path.join(tmpdir(), 'qmp-iotests-'));
  });
  after(async () => {
    await Promise.all(qemus.map((q) => q.stop()));
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('236.out, given the drive its VM had, passes qmp-notebook test', async () => {
    const out = path.join(dir, '236.qmp');
    const imp = await runCliBundle(cli, ['import', path.join(qemuSource().iotests, '236.out'), '-o', out]);
    assert.equal(imp.code, 0, imp.stderr);
    assert.match(imp.stderr, /236\.out \(iotests\): \d+ cells/);
    // The qemu-io writes the .out logs as text have their replies left out, and said so.
    assert.match(imp.stderr, /left out 8 replies that follow no command/);
    const imported = readFileSync(out, 'utf8');
    const codeCells = (imported.match(/^```qmp$/gm) ?? []).length;
    assert.ok(codeCells >= 10, imported);
    // vm.add_drive(img_path) gave the VM the node drive0: a null-co node of that name stands in for it.
    const prelude = '```qmp\n{"execute": "blockdev-add", "arguments": {"driver": "null-co", "node-name": "drive0", "size": 67108864}}\n```\n\n'
      + '```qmp-output\n<- {"return": {}}\n```\n\n';
    const file = path.join(dir, '236-sandbox.qmp');
    writeFileSync(file, prelude + imported, { mode: 0o600 });
    const q = await startQemu();
    qemus.push(q);
    const t = await runCliBundle(cli, ['test', file, '--socket', q.socketPath]);
    assert.equal(t.code, 0, `${t.stdout}\n${t.stderr}`);
    assert.match(t.stdout, new RegExp(`\\b${codeCells + 1} passed, 0 failed`));
  });
});
