// Replacing a user's file under faults: a full disk (a small tmpfs) and SIGKILL at any moment leave the
// original intact or the new text complete, never a mix, never a truncated file; symlinks and modes are kept.
// The helper directly, and `qmp-notebook test --update` through the production bundle on a full disk.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { writeFileAtomicSync } from '../../src/format/atomicWrite';
import { buildCli, runCliBundle } from '../support/cliBundle';

let root = '';
let small = '';

before(() => {
  root = mkdtempSync(path.join(tmpdir(), 'qmp-atomic-'));
  small = path.join(root, 'small');
  mkdirSync(small);
  // A 1 MiB file system: full after a few writes.
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', small], { encoding: 'utf8' });
  assert.equal(r.status, 0, `mount tmpfs (the fault tier runs as root): ${r.stderr}`);
});

after(() => {
  spawnSync('umount', [small]);
  rmSync(root, { recursive: true, force: true });
});

/** Fills the small file system until fewer than `leave` bytes are free. */
function fill(leave: number): void {
  const filler = path.join(small, 'filler');
  rmSync(filler, { force: true });
  const st = spawnSync('df', ['-B1', '--output=avail', small], { encoding: 'utf8' });
  const avail = Number(st.stdout.trim().split('\n').pop());
  writeFileSync(filler, Buffer.alloc(Math.max(0, avail - leave)));
}

const leftovers = (dir: string): string[] => readdirSync(dir).filter((n) => n.endsWith('.tmp'));

describe('atomic replace: a full disk', () => {
  test('the write fails with ENOSPC, the original is byte for byte intact, no temporary file is left', () => {
    const file = path.join(small, 'nb.qmp');
    rmSync(path.join(small, 'filler'), { force: true });
    const original = `# notebook\n\n${'prose line\n'.repeat(10_000)}`;
    writeFileSync(file, original, { mode: 0o640 });
    fill(50 * 1024);
    assert.throws(() => writeFileAtomicSync(file, 'x'.repeat(256 * 1024)), (e: NodeJS.ErrnoException) => e.code === 'ENOSPC');
    assert.equal(readFileSync(file, 'utf8'), original);
    assert.equal(statSync(file).mode & 0o777, 0o640);
    assert.deepEqual(leftovers(small), []);
  });

  test('qmp-notebook test --update on a full disk: exit 2, "cannot write", the notebook unchanged', async () => {
    const cli = await buildCli();
    rmSync(path.join(small, 'filler'), { force: true });
    const file = path.join(small, 'update.qmp');
    // 100 KB of prose, then a cell whose new saved output (the whole schema) is larger than the free space.
    const original = `# A notebook\n\n${'Some prose that is kept as it is.\n'.repeat(3000)}\n\`\`\`qmp\n{"execute": "query-qmp-schema"}\n\`\`\`\n`;
    writeFileSync(file, original, { mode: 0o600 });
    fill(40 * 1024);
    const r = await runCliBundle(cli, ['test', file, '--update', '--sandbox'], { deadlineMs: 120_000 });
    assert.equal(r.code, 2, `${r.stdout}\n${r.stderr}`);
    assert.match(r.stderr, /cannot write .*update\.qmp.*ENOSPC/);
    assert.equal(readFileSync(file, 'utf8'), original);
    assert.deepEqual(leftovers(small), []);
    rmSync(path.join(small, 'filler'), { force: true });
  });
});

describe('atomic replace: links and modes', () => {
  test('a symlinked notebook: the target is replaced, the link stays a link; the mode is kept', () => {
    const dir = path.join(root, 'links');
    mkdirSync(path.join(dir, 'real'), { recursive: true });
    const target = path.join(dir, 'real', 'nb.qmp');
    writeFileSync(target, 'old\n');
    chmodSync(target, 0o640);
    const link = path.join(dir, 'nb.qmp');
    symlinkSync('real/nb.qmp', link);
    writeFileAtomicSync(link, 'new\n');
    assert.ok(lstatSync(link).isSymbolicLink());
    assert.equal(readlinkSync(link), 'real/nb.qmp');
    assert.equal(readFileSync(target, 'utf8'), 'new\n');
    assert.equal(statSync(target).mode & 0o777, 0o640);
    assert.deepEqual(leftovers(dir), []);
    assert.deepEqual(leftovers(path.join(dir, 'real')), []);
  });

  test('a new file is created private (0600); a file written in chunks reads back whole', () => {
    const file = path.join(root, 'fresh.xml');
    writeFileAtomicSync(file, (function* () { for (let i = 0; i < 1000; i++) yield `<line n="${i}"/>\n`; })());
    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(readFileSync(file, 'utf8').split('\n').length, 1001);
  });
});

describe('atomic replace: SIGKILL at any moment', () => {
  test('killed while replacing 4 MB again and again: every time the file is one whole version', async () => {
    const file = path.join(root, 'killed.qmp');
    const version = (tag: string): string => `BEGIN ${tag}\n${`${tag} `.repeat(1_000_000)}\nEND ${tag}\n`;
    writeFileSync(file, version('A'));
    const helper = path.join(__dirname, '..', '..', 'src', 'format', 'atomicWrite.js');
    const script = `const { writeFileAtomicSync } = require(${JSON.stringify(helper)});
      const v = (t) => 'BEGIN ' + t + '\\n' + (t + ' ').repeat(1000000) + '\\nEND ' + t + '\\n';
      process.stdout.write('ready\\n');
      for (let i = 0; ; i++) writeFileAtomicSync(${JSON.stringify(file)}, v(i % 2 ? 'A' : 'B'));`;
    for (let round = 0; round < 8; round++) {
      const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      await new Promise((r) => setTimeout(r, 20 + round * 37));
      const closed = new Promise((r) => child.once('close', r));
      child.kill('SIGKILL');
      await closed;
      const text = readFileSync(file, 'utf8');
      assert.ok(text === version('A') || text === version('B'), `round ${round}: ${text.length} bytes, starts ${JSON.stringify(text.slice(0, 12))}`);
    }
    // A kill can leave the temporary file (never the target) behind; it is ours, named as such.
    for (const n of leftovers(root)) assert.match(n, /^\.killed\.qmp\.\d+\.[0-9a-f]{12}\.tmp$/);
  });
});
